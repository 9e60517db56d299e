"""Per-SR CLs with a signal-modelling uncertainty (issue 18: a normsys nuisance on the signal):
the native path with the systematic vs the plain native closed form vs pyhf on the same model,
side by side in one run, over the published SRs of ATLAS-SUSY-2018-22.

    .venv/bin/python benchmarks/bench_stats_signal_systematic.py [--pyhf-regions 20] \
        [--output benchmarks/results/stats_signal_systematic.md]

Signal yields around each SR's published expected limit (as bench_stats.py), relative
uncertainties up/down drawn in [0.05, 0.4]. pyhf (``pyhf.infer.hypotest`` on
``statistics.pyhf_model``, pyhf already imported) runs on the first --pyhf-regions SRs only: it
takes a fraction of a second per SR.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pyhf

from _published import published_regions
from _timing import markdown_table, per_call, publish
from recast_ml.statistics import cls_many, profile_log_likelihoods, pyhf_model

ANALYSIS = "ATLAS-SUSY-2018-22"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pyhf-regions", type=int, default=20)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    rng = np.random.default_rng(1)
    n, b, e, s = published_regions(ANALYSIS, rng)
    count = len(n)
    up = rng.uniform(0.05, 0.4, count)
    down = rng.uniform(0.05, 0.4, count)

    plain = per_call(lambda: cls_many(n, b, e, s), 2000)
    systematic = per_call(lambda: cls_many(n, b, e, s, signal_up=up, signal_down=down), 200)
    lnl_plain = per_call(lambda: profile_log_likelihoods(n, b, e, s), 2000)
    lnl_sys = per_call(lambda: profile_log_likelihoods(n, b, e, s, signal_up=up, signal_down=down), 200)

    k = min(args.pyhf_regions, count)
    models = [pyhf_model(b[i], e[i], s[i], up[i], down[i]) for i in range(k)]
    ref = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, model in enumerate(models):
            obs, exp = pyhf.infer.hypotest(
                1.0, [n[i], *model.config.auxdata], model, test_stat="qtilde", return_expected=True
            )
            ref.append((float(obs), float(exp)))
    with_pyhf = (time.perf_counter() - t0) / k
    obs, exp = cls_many(n[:k], b[:k], e[:k], s[:k], signal_up=up[:k], signal_down=down[:k])
    refs = np.array(ref)
    inside = (refs >= 0.01) & (refs <= 0.99)
    dev = np.abs(np.stack([obs, exp], axis=1)[inside] / refs[inside] - 1)

    def us(t: float) -> str:
        return f"{t * 1e3:.1f} ms" if t >= 1e-3 else f"{t * 1e6:.2f} µs"

    rows = [
        ["native CLs obs+exp, plain model (no signal uncertainty)", us(plain / count), "1", ""],
        [
            "native CLs obs+exp, signal normsys (theta profiled: grid + Brent)",
            us(systematic / count),
            f"{systematic / plain:.1f}",
            "",
        ],
        [
            f"pyhf hypotest CLs obs+exp, signal normsys ({k} SRs, pyhf imported, model built beforehand)",
            us(with_pyhf),
            f"{with_pyhf / (plain / count):.0f}",
            f"max |native/pyhf - 1| = {dev.max():.1e} over {int(inside.sum())} CLs values in [0.01, 0.99]",
        ],
        ["native ln L, plain model", us(lnl_plain / count), f"{lnl_plain / plain:.2f}", ""],
        ["native ln L, signal normsys", us(lnl_sys / count), f"{lnl_sys / plain:.1f}", ""],
    ]
    table = markdown_table(["per SR", "time", "ratio to plain CLs", "agreement"], rows, align="lrrl")
    load = os.getloadavg()
    summary = f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} cores)"
    publish(
        table,
        args.output,
        "CLs with a signal systematic: native vs pyhf",
        f"`python benchmarks/bench_stats_signal_systematic.py --pyhf-regions {k}`. {summary}. "
        f"All {count} published SRs of {ANALYSIS} per vectorised native call (time per SR = call / {count}); "
        "signal yields 0.3-2 x the published expected S95, relative signal uncertainties up, down in [0.05, 0.4]. "
        "Other helpers were building and testing on the same cores: only ratios within one run mean anything.",
        summary,
    )


if __name__ == "__main__":
    main()
