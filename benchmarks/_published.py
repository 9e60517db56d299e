"""The published signal regions of an analysis as arrays, with signal yields around each SR's
published expected limit: the inputs of the statistics benchmarks (bench_stats.py,
bench_stats_signal_systematic.py)."""

from __future__ import annotations

import numpy as np

from recast_ml._data import analyses_dir
from recast_ml.statistics import read_signal_regions


def published_regions(analysis: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n_obs, b, b_err, s) of the SRs of ``analysis``' signal_regions.csv, in its order; s = the
    published expected S95 (10 where none) x U(0.3, 2.0) drawn from ``rng`` (CLs from ~1e-3 to
    ~0.8)."""
    published = list(read_signal_regions(analyses_dir() / analysis / "signal_regions.csv").values())
    n = np.array([p.n_obs for p in published])
    b = np.array([p.b for p in published])
    e = np.array([p.b_err for p in published])
    s95_exp = np.array([p.s95_exp or 10.0 for p in published])
    return n, b, e, s95_exp * rng.uniform(0.3, 2.0, len(published))
