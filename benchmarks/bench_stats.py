"""Per-SR statistics of `recast-ml run`: the native fast path (C++ closed form of pyhf's
uncorrelated-background model) vs pyhf itself, for the 59 signal regions of ATLAS-SUSY-2018-22,
and what the CLI spends outside the event loop before/after (imports, the statistics step).

    .venv/bin/python benchmarks/bench_stats.py [--events FILE] [--repeat 3] [--output results/stats.md]

Table 1 (in process): CLs (observed + expected) of all 59 SRs per call, native vs pyhf (the
previous path, ``method="pyhf"``), with their largest relative difference; native S95 of all SRs.
Table 2 (fresh processes, best of --repeat, interleaved): ``import recast_ml.cli, recast_ml.run``;
the same plus ``import pyhf`` (paid by the old statistics step); and with --events a whole
``recast-ml run`` of SUSY-2018-22 on that file, after (native) vs before (the same CLI with
``region_statistics(method="pyhf")``, i.e. pyhf imported and fitted per SR as before).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _published import published_regions
from _timing import markdown_table, per_call, publish
from recast_ml.statistics import cls_many, cls_result, upper_limits

ANALYSIS = "ATLAS-SUSY-2018-22"

RUN = """
import functools, sys
import recast_ml.run as run
if sys.argv[1] == "pyhf":
    run.region_statistics = functools.partial(run.region_statistics, method="pyhf")
from recast_ml.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def fresh(code: str, *args: str) -> float:
    """Wall time of a fresh interpreter running `code`."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=Path, help="a HepMC file for the end-to-end recast-ml run rows")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    # signal yields around each SR's published expected limit: CLs from ~1e-3 to ~0.8
    n, b, e, s = published_regions(ANALYSIS, np.random.default_rng(1))

    native = per_call(lambda: cls_many(n, b, e, s), 2000)
    limits = per_call(lambda: upper_limits(n, b, e), 50)
    cls_many(n, b, e, s)
    t0 = time.perf_counter()
    ref = np.array([[*(lambda r: (r.obs, r.exp))(cls_result(*x, method="pyhf"))] for x in zip(n, b, e, s, strict=True)])
    with_pyhf = time.perf_counter() - t0
    obs, exp = cls_many(n, b, e, s)
    inside = (ref >= 0.01) & (ref <= 0.99)
    dev = np.abs(np.stack([obs, exp], axis=1)[inside] / ref[inside] - 1)
    rows = [
        [
            f"native CLs obs+exp, all {len(n)} published SRs (one vectorised call; a run matches 59)",
            f"{native * 1e3:.3f} ms",
            "1",
            "",
        ],
        [f"native S95 obs+exp, {len(n)} SRs", f"{limits * 1e3:.2f} ms", f"{limits / native:.0f}", ""],
        [
            f"pyhf hypotest CLs obs+exp, {len(n)} SRs (previous path, pyhf already imported)",
            f"{with_pyhf * 1e3:.0f} ms",
            f"{with_pyhf / native:.0f}",
            f"max |native/pyhf - 1| = {dev.max():.1e} over {int(inside.sum())} CLs values in [0.01, 0.99]",
        ],
    ]
    table1 = markdown_table(["what", "time", "ratio", "agreement"], rows, align="lrrl")

    imports = "import recast_ml.cli, recast_ml.run"
    t_imp, t_pyhf, t_load = [], [], []
    for _ in range(args.repeat):
        t_imp.append(fresh(imports))
        t_pyhf.append(fresh(imports + "; import pyhf"))
        t_load.append(fresh(imports + "; import onnx, jsonschema"))
    rows2 = [
        ["`import recast_ml.cli, recast_ml.run` (fresh process)", f"{min(t_imp):.2f} s", "1"],
        [
            "the same + `import pyhf` (the old statistics step's import)",
            f"{min(t_pyhf):.2f} s",
            f"{min(t_pyhf) / min(t_imp):.2f}",
        ],
        [
            "the same + `import onnx, jsonschema` (still paid by `Analysis.load` in every run)",
            f"{min(t_load):.2f} s",
            f"{min(t_load) / min(t_imp):.2f}",
        ],
    ]
    if args.events:
        after, before = [], []
        with tempfile.TemporaryDirectory() as tmp:
            cli = [
                "run",
                "--analysis",
                ANALYSIS,
                "--events",
                str(args.events),
                "--cross-section",
                "0.01",
                "--no-progress",
            ]
            for k in range(args.repeat):
                after.append(fresh(RUN, "native", *cli, "-o", os.path.join(tmp, f"a{k}")))
                before.append(fresh(RUN, "pyhf", *cli, "-o", os.path.join(tmp, f"b{k}")))
        rows2 += [
            [
                f"`recast-ml run` {ANALYSIS} on {args.events.name}, native statistics (after)",
                f"{min(after):.2f} s",
                "1",
            ],
            ["the same with pyhf statistics (before)", f"{min(before):.2f} s", f"{min(before) / min(after):.2f}"],
        ]
    table2 = markdown_table(["start-up / end to end", "wall time (best)", "ratio"], rows2, align="lrr")
    load = os.getloadavg()
    summary = f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} cores)"
    publish(
        table1 + "\n\n" + table2,
        args.output,
        "Native statistics fast path",
        "`python benchmarks/bench_stats.py"
        + (f" --events {args.events.name}" if args.events else "")
        + "`. "
        + summary
        + '. Before = the same code with `region_statistics(method="pyhf")` (pyhf imported and one hypotest '
        "per SR, as `recast-ml run` did); after = the native closed form (no pyhf import). Other helpers were "
        "building and testing on the same 2 cores: only ratios within one run mean anything.",
        summary,
    )


if __name__ == "__main__":
    main()
