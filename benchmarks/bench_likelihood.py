"""Log-likelihood for global fits: time per call of the native profiled likelihood of all
ATLAS-SUSY-2018-22 signal regions (C++ core) vs a cached pyhf model of one region.

    .venv/bin/python benchmarks/bench_likelihood.py [--output results/likelihood.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyhf

from _timing import markdown_table, per_call, publish
from recast_ml._data import analyses_dir
from recast_ml.statistics import LogLikelihood, read_signal_regions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    published = list(read_signal_regions(analyses_dir() / "ATLAS-SUSY-2018-22" / "signal_regions.csv").values())
    ll = LogLikelihood(published)
    s = list(np.random.default_rng(1).uniform(0, 20, len(published)))
    native = per_call(lambda: ll(s), 20000)
    p = published[0]
    model = pyhf.simplemodels.uncorrelated_background(signal=[s[0]], bkg=[p.b], bkg_uncertainty=[p.b_err])
    data = np.array([p.n_obs, *model.config.auxdata])
    init = model.config.suggested_init()
    pyhf_one = per_call(lambda: pyhf.infer.mle.fixed_poi_fit(1.0, data, model, init_pars=init), 20)
    rows = [
        [f"native profiled ln L, all {len(published)} SRs + best SR (C++ via Python)", f"{native * 1e6:.2f} µs", "1"],
        ["pyhf fixed-POI fit, cached model, 1 SR", f"{pyhf_one * 1e6:.0f} µs", f"{pyhf_one / native:.0f}"],
    ]
    table = markdown_table(["what", "time per call", "ratio"], rows, align="lrr")
    publish(table, args.output, "Log-likelihood for global fits", "`python benchmarks/bench_likelihood.py`")


if __name__ == "__main__":
    main()
