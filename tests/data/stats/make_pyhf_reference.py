"""Regenerates the pyhf reference values of ``tests/test_stats_native.py``.

    .venv/bin/python tests/data/stats/make_pyhf_reference.py

writes ``pyhf_cls_grid.csv`` (observed and expected CLs of pyhf's uncorrelated-background model,
q~_mu, asymptotic, mu = 1 with the signal yield as template: exactly the call
``recast_ml.statistics._pyhf_hypotest`` makes) and ``pyhf_upper_limits.csv`` (pyhf's own
upper-limit root finding, ``pyhf.infer.intervals.upper_limits.toms748_scan``, on a few SRs).

Grid: b in 0.1..100, Delta b / b in 0..0.5, n around b (0 included), and for each SR signal yields
spanning the exclusion boundary (0.3..3 x a rough S95, 2 sqrt(b + Delta b^2) + 3). Points where
pyhf fails are stored with status 'failed' and empty values. For Delta b = 0 (the floor 1e-9 makes
the Poisson constraint tau ~ 1e18) pyhf fails or returns CLs ~ 1 whatever the signal: the test
compares those points with the hand-computed fixed-background limit instead.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pyhf

HERE = Path(__file__).parent
B = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
REL = [0.0, 0.05, 0.15, 0.3, 0.5]
N_FACTOR = [0.0, 0.6, 1.0, 1.5]
S_FACTOR = [0.3, 0.6, 1.0, 1.6, 3.0]
UL_POINTS = [(0, 0.5, 0.1), (3, 2.8, 0.6), (10, 8.0, 2.0), (27, 31.0, 5.0), (120, 100.0, 15.0), (5, 9.0, 0.0)]


def hypotest(n: float, b: float, e: float, s: float) -> tuple[float, float]:
    model = pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[b], bkg_uncertainty=[max(e, 1e-9)])
    obs, exp = pyhf.infer.hypotest(1.0, [n, *model.config.auxdata], model, test_stat="qtilde", return_expected=True)
    return float(obs), float(exp)


def grid() -> list[tuple[float, float, float, float]]:
    pts = []
    for b in B:
        for rel in REL:
            e = round(b * rel, 6)
            for f in N_FACTOR:
                n = float(round(b * f))
                if f > 0 and n == 0:
                    continue
                guess = 2 * math.sqrt(b + e * e) + 3
                for k in S_FACTOR:
                    pts.append((n, b, e, round(k * guess, 6)))
    return sorted(set(pts))


def main() -> int:
    warnings.filterwarnings("ignore")
    pyhf.set_backend("numpy")
    rows = []
    for n, b, e, s in grid():
        try:
            obs, exp = hypotest(n, b, e, s)
            status = "ok" if math.isfinite(obs) and math.isfinite(exp) else "failed"
        except Exception:
            obs = exp = float("nan")
            status = "failed"
        rows.append([n, b, e, s, "" if status != "ok" else repr(obs), "" if status != "ok" else repr(exp), status])
    with (HERE / "pyhf_cls_grid.csv").open("w", newline="") as fh:
        fh.write(f"# pyhf {pyhf.__version__}, numpy {np.__version__}: regenerate with {Path(__file__).name}\n")
        w = csv.writer(fh)
        w.writerow(["n", "b", "b_err", "s", "cls_obs", "cls_exp", "status"])
        w.writerows(rows)
    ul = []
    for n, b, e in UL_POINTS:
        template = 2 * math.sqrt(b + e * e) + 3  # the POI is s / template; bounds far beyond S95
        model = pyhf.simplemodels.uncorrelated_background(signal=[template], bkg=[b], bkg_uncertainty=[max(e, 1e-9)])
        bounds = model.config.suggested_bounds()
        bounds[model.config.poi_index] = (0.0, 20.0)
        try:
            obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(
                [n, *model.config.auxdata],
                model,
                0.0,
                5.0,
                level=0.05,
                atol=1e-12,
                rtol=1e-10,
                par_bounds=bounds,
                test_stat="qtilde",
            )
            ul.append([n, b, e, repr(float(obs) * template), repr(float(exp[2]) * template), "ok"])
        except Exception:
            ul.append([n, b, e, "", "", "failed"])
    with (HERE / "pyhf_upper_limits.csv").open("w", newline="") as fh:
        fh.write(f"# pyhf {pyhf.__version__} toms748_scan (level 0.05): regenerate with {Path(__file__).name}\n")
        w = csv.writer(fh)
        w.writerow(["n", "b", "b_err", "s95_obs", "s95_exp", "status"])
        w.writerows(ul)
    print(f"{len(rows)} CLs points ({sum(r[-1] == 'ok' for r in rows)} ok), {len(ul)} upper limits", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
