"""Statistics of signal regions: CLs (pyhf), r-values, and the fast log-likelihood for global fits.

* :func:`cls` — observed and expected CLs of one counting SR with pyhf's uncorrelated-background
  simplified model (``pyhf.simplemodels.uncorrelated_background``, q̃_μ test statistic,
  asymptotic formulae), for signal strength 1.
* r-values: r = s / S95 with the experiment's published 95 % CL upper limits on signal events
  (observed and expected), as SModelS/CheckMATE define them; r ≥ 1 means excluded.
* :class:`LogLikelihood` — ln L per SR with the background nuisance profiled analytically in the
  C++ core (``recast/stats.hpp``: a few flops per SR, callable from C++), and for the SR with the
  best expected sensitivity.

Published numbers come from the analysis folder's ``signal_regions.csv`` (obs, bkg, bkg_err,
S95_obs, S95_exp).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _core
from ._core import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedRegion:
    name: str
    n_obs: float
    b: float
    b_err: float
    s95_obs: float | None = None
    s95_exp: float | None = None


def read_signal_regions(path: str | os.PathLike[str]) -> dict[str, PublishedRegion]:
    """``signal_regions.csv``: SR, obs, bkg, bkg_err[, S95_obs, S95_exp] ('#' lines = provenance)."""
    path = Path(path)
    out: dict[str, PublishedRegion] = {}
    with path.open() as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        for k, row in enumerate(reader, start=2):
            try:
                out[row["SR"].strip()] = PublishedRegion(
                    name=row["SR"].strip(),
                    n_obs=float(row["obs"]),
                    b=float(row["bkg"]),
                    b_err=float(row["bkg_err"]),
                    s95_obs=float(row["S95_obs"]) if row.get("S95_obs") not in (None, "") else None,
                    s95_exp=float(row["S95_exp"]) if row.get("S95_exp") not in (None, "") else None,
                )
            except (KeyError, ValueError) as e:
                raise ConfigError(
                    f"{path}: data row {k}: expected SR, obs, bkg, bkg_err, S95_obs, S95_exp ({e})"
                ) from e
    return out


def cls(n_obs: float, b: float, b_err: float, s: float) -> tuple[float, float]:
    """(CLs_obs, CLs_exp) for signal yield ``s`` in one SR (pyhf, uncorrelated background)."""
    import pyhf

    for name, v in (("n_obs", n_obs), ("b", b), ("b_err", b_err), ("s", s)):
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"cls: {name} must be a finite number >= 0, got {v}")
    if s <= 0:
        return 1.0, 1.0
    model = pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[b], bkg_uncertainty=[max(b_err, 1e-9)])
    data = [n_obs, *model.config.auxdata]
    obs, exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected=True)
    return float(obs), float(exp)


@dataclass
class RegionStatistics:
    region: str
    published_name: str
    signal: float
    signal_error: float
    n_obs: float
    b: float
    b_err: float
    cls_obs: float
    cls_exp: float
    r_obs: float | None
    r_exp: float | None
    delta_log_likelihood: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LogLikelihood:
    """ln L of an analysis' signal regions for signal yields, for global fits.

    ``LogLikelihood(regions)(s)`` returns (Δln L per SR, index of the best expected SR); one call
    takes ~1 µs for tens of SRs (the C++ core; ``recast::stats`` for C++ callers).
    """

    def __init__(self, regions: Sequence[PublishedRegion]) -> None:
        self.regions = list(regions)
        self._n = [r.n_obs for r in self.regions]
        self._b = [r.b for r in self.regions]
        self._e = [r.b_err for r in self.regions]

    def __call__(self, s: Sequence[float]) -> tuple[list[float], int]:
        return _core.delta_log_likelihoods(self._n, self._b, self._e, [float(x) for x in s])

    def best(self, s: Sequence[float]) -> tuple[str, float]:
        """(name, Δln L) of the SR with the best expected sensitivity."""
        d, k = self(s)
        return self.regions[k].name, d[k]


def region_statistics(
    yields: Mapping[str, tuple[float, float]],
    published: Mapping[str, PublishedRegion],
    names: Mapping[str, str] | None = None,
) -> list[RegionStatistics]:
    """CLs, r-values and Δln L for every region with a yield and published numbers (``names``
    maps region names to their names in the published table, where they differ)."""
    matched = [
        (name, key, published[key], s, s_err)
        for name, (s, s_err) in yields.items()
        if (key := (names or {}).get(name, name)) in published
    ]
    if not matched:
        return []
    delta, _ = LogLikelihood([m[2] for m in matched])([m[3] for m in matched])
    out = []
    for (name, key, p, s, s_err), d in zip(matched, delta, strict=True):
        cls_obs, cls_exp = cls(p.n_obs, p.b, p.b_err, s)
        out.append(
            RegionStatistics(
                region=name,
                published_name=key,
                signal=s,
                signal_error=s_err,
                n_obs=p.n_obs,
                b=p.b,
                b_err=p.b_err,
                cls_obs=cls_obs,
                cls_exp=cls_exp,
                r_obs=s / p.s95_obs if p.s95_obs else None,
                r_exp=s / p.s95_exp if p.s95_exp else None,
                delta_log_likelihood=d,
            )
        )
    return out


def best_expected(stats: Sequence[RegionStatistics]) -> RegionStatistics | None:
    """The SR with the largest expected r (published S95_exp), else the smallest expected CLs."""
    if not stats:
        return None
    with_r = [s for s in stats if s.r_exp is not None]
    if with_r:
        return max(with_r, key=lambda s: s.r_exp or 0.0)
    return min(stats, key=lambda s: s.cls_exp)


__all__ = [
    "LogLikelihood",
    "PublishedRegion",
    "RegionStatistics",
    "best_expected",
    "cls",
    "read_signal_regions",
    "region_statistics",
]
