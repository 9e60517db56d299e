"""Statistics of signal regions: CLs, S95, r-values, and the fast log-likelihood for global fits.

* :func:`cls` — observed and expected CLs of one counting SR in pyhf's uncorrelated-background
  simplified model (``pyhf.simplemodels.uncorrelated_background``: Poisson auxiliary constraint,
  q̃_μ test statistic, asymptotic formulae) for signal strength 1. By default the native fast path
  (``recast/stats.hpp``: the same model solved in closed form, ~1 µs per SR, no pyhf import;
  within 1 % of pyhf, ``tests/test_stats_native.py``); ``method="pyhf"`` runs pyhf itself.
  :func:`cls_many` / :func:`upper_limits` / :func:`profile_log_likelihoods` are the vectorised
  calls over arrays of SRs (or of signal yields, for scans).
* A signal-modelling uncertainty (relative up/down per SR, e.g. the envelope of generator
  variations) enters as one nuisance on the signal, pyhf's ``normsys`` with hi = 1 + up and
  lo = 1 − down (default code4 interpolation, unit-Gaussian constraint): the ``signal_up`` /
  ``signal_down`` arguments of :func:`cls_many`, :func:`profile_log_likelihoods` and
  :func:`cls_result`; natively in C++ (the nuisance profiled by a 1-D minimisation), or in pyhf
  with the model of :func:`pyhf_model` (``tests/test_stats_signal_systematic.py``).
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
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

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


#: Signal regions whose signal rests on fewer unweighted MC events than this are marked: their
#: yield (and so CLs and r) is not a reliable estimate.
MIN_MC_EVENTS = 10


@dataclass(frozen=True)
class ClsResult:
    """Observed and expected CLs and how they were computed (``note`` when not by a plain pyhf
    hypotest at μ = 1)."""

    obs: float
    exp: float
    method: str
    note: str | None = None


def _signal_scale(n_obs: float, b: float, b_err: float) -> float:
    """A signal yield of the order of the SR's sensitivity (a few times S95 at most)."""
    return 2.0 * math.sqrt(b + b_err**2) + abs(n_obs - b) + 3.0


def pyhf_signal_systematic_spec(b: float, b_err: float, s: float, up: float, down: float) -> dict[str, Any]:
    """The pyhf model spec of one SR: pyhf's uncorrelated-background simplified model (signal
    ``s`` with POI ``mu``, background ``b`` with a shapesys of max(``b_err``, 1e-9)) plus a normsys
    ``signal_uncertainty`` on the signal with hi = 1 + ``up``, lo = 1 − ``down`` (relative
    uncertainties). ``pyhf.Model(spec, poi_name="mu")``; data ``[n, *model.config.auxdata]``."""
    return {
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    {
                        "name": "signal",
                        "data": [float(s)],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {
                                "name": "signal_uncertainty",
                                "type": "normsys",
                                "data": {"hi": 1.0 + up, "lo": 1.0 - down},
                            },
                        ],
                    },
                    {
                        "name": "background",
                        "data": [float(b)],
                        "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [max(b_err, 1e-9)]}],
                    },
                ],
            }
        ]
    }


def pyhf_model(b: float, b_err: float, s: float, signal_up: float = 0.0, signal_down: float = 0.0) -> Any:
    """The pyhf model that the native path reproduces (the reference of the tests and of
    ``method="pyhf"``): ``pyhf.simplemodels.uncorrelated_background`` without a signal uncertainty,
    else :func:`pyhf_signal_systematic_spec` with pyhf's default interpolation (normsys: code4)."""
    import pyhf

    if signal_up == 0 and signal_down == 0:
        return pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[b], bkg_uncertainty=[max(b_err, 1e-9)])
    return pyhf.Model(pyhf_signal_systematic_spec(b, b_err, s, signal_up, signal_down), poi_name="mu")


def _pyhf_hypotest(
    n_obs: float, b: float, b_err: float, template: float, mu: float, up: float = 0.0, down: float = 0.0
) -> tuple[float, float]:
    import pyhf

    model = pyhf_model(b, b_err, template, up, down)
    data = [n_obs, *model.config.auxdata]
    if mu == 1.0:  # exactly what a direct pyhf call does
        obs, exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected=True)
    else:
        bounds = model.config.suggested_bounds()
        bounds[model.config.poi_index] = (0.0, max(10.0, 2.0 * mu))
        obs, exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected=True, par_bounds=bounds)
    return float(obs), float(exp)


def _analytic_cls(n_obs: float, b: float, b_err: float, s: float) -> tuple[float, float]:
    """Asymptotic CLs (q_μ, Wald) from the analytically profiled likelihood of the C++ core
    (Gaussian background constraint): the fallback where the pyhf fit fails."""
    from scipy import optimize, stats

    def q(n: float) -> float:
        res = optimize.minimize_scalar(
            lambda x: -_core.log_likelihood(n, b, b_err, x), bounds=(0.0, s), method="bounded"
        )
        best = max(-float(res.fun), _core.log_likelihood(n, b, b_err, 0.0))
        return max(2.0 * (best - _core.log_likelihood(n, b, b_err, s)), 0.0)

    sq_obs, sq_a = math.sqrt(q(n_obs)), math.sqrt(q(b))
    clsb = float(stats.norm.sf(sq_obs))
    clb = float(stats.norm.cdf(sq_a - sq_obs))
    obs = clsb / clb if clb > 0 else 0.0
    exp = float(stats.norm.sf(sq_a)) / 0.5
    return min(obs, 1.0), min(exp, 1.0)


Method = Literal["native", "pyhf"]


def _check_inputs(**values: float) -> None:
    for name, v in values.items():
        if not (v >= 0 and math.isfinite(v)):
            raise ConfigError(f"cls: {name} must be a finite number >= 0, got {v}")


def _check_signal_uncertainty(what: str, up: float, down: float) -> None:
    if not (math.isfinite(up) and up >= 0 and 0 <= down < 1):
        raise ConfigError(
            f"{what}: the relative signal uncertainties must be finite with up >= 0 and 0 <= down < 1, "
            f"got up={up}, down={down}"
        )


def _sr_arrays(
    what: str,
    n_obs: npt.ArrayLike,
    b: npt.ArrayLike,
    b_err: npt.ArrayLike,
    s: npt.ArrayLike,
    signal_up: npt.ArrayLike | None,
    signal_down: npt.ArrayLike | None,
) -> tuple[list[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None]:
    """The SR arrays (n, b, b_err, s), checked and broadcast together with the relative signal
    uncertainties (None = 0), and those as (up, down), or None where all are 0 (the model without
    the signal nuisance)."""
    if signal_up is None and signal_down is None:
        return _as_arrays(what, n_obs=n_obs, b=b, b_err=b_err, s=s), None
    *sr, up, down = _as_arrays(
        what,
        n_obs=n_obs,
        b=b,
        b_err=b_err,
        s=s,
        signal_up=0.0 if signal_up is None else signal_up,
        signal_down=0.0 if signal_down is None else signal_down,
    )
    bad = down >= 1
    if bad.any():
        k = int(np.argmax(bad))
        raise ConfigError(f"{what}: signal_down must be < 1 (a relative uncertainty), got {down[k]} at index {k}")
    return sr, ((up, down) if up.any() or down.any() else None)


def _as_arrays(what: str, **values: Any) -> list[npt.NDArray[np.float64]]:
    """Broadcast SR inputs to equally long 1-D float64 arrays, checked finite and >= 0."""
    try:
        arrays = [np.ascontiguousarray(a, dtype=np.float64).ravel() for a in np.broadcast_arrays(*values.values())]
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: {', '.join(values)} must be numbers or equally long arrays ({e})") from e
    for name, a in zip(values, arrays, strict=True):
        bad = ~(np.isfinite(a) & (a >= 0))
        if bad.any():
            k = int(np.argmax(bad))
            raise ConfigError(f"{what}: {name} must be finite numbers >= 0, got {a[k]} at index {k}")
    return arrays


def cls_many(
    n_obs: npt.ArrayLike,
    b: npt.ArrayLike,
    b_err: npt.ArrayLike,
    s: npt.ArrayLike,
    *,
    signal_up: npt.ArrayLike | None = None,
    signal_down: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(CLs_obs, CLs_exp) arrays for many SRs or signal yields at once (inputs broadcast; the
    native closed form of pyhf's uncorrelated-background model, GIL released): the per-SR numbers of
    ``recast-ml run`` and scans over s. ``signal_up``/``signal_down``: relative signal
    uncertainties per SR (None = 0; 0 <= down < 1), a normsys nuisance on the signal as in
    :func:`pyhf_model`; where both are 0 the result is that of the model without it."""
    (n_, b_, e_, s_), unc = _sr_arrays("cls_many", n_obs, b, b_err, s, signal_up, signal_down)
    if unc is None:
        obs, exp = _core.cls_values(n_, b_, e_, s_)
    else:
        obs, exp = _core.cls_values(n_, b_, e_, s_, unc[0], unc[1])
    return obs, exp


def upper_limits(
    n_obs: npt.ArrayLike, b: npt.ArrayLike, b_err: npt.ArrayLike, cl: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Model-independent upper limits on the visible signal yield (S95 for ``cl`` = 0.95),
    observed and expected: the s where CLs_obs(s) (CLs_exp(s)) = 1 − cl in the same model."""
    if not 0 < cl < 1:
        raise ConfigError(f"upper_limits: cl must be in (0, 1), got {cl}")
    n_, b_, e_ = _as_arrays("upper_limits", n_obs=n_obs, b=b, b_err=b_err)
    obs, exp = _core.upper_limits(n_, b_, e_, cl)
    return obs, exp


def s95(n_obs: float, b: float, b_err: float) -> tuple[float, float]:
    """(S95_obs, S95_exp) of one SR (see :func:`upper_limits`)."""
    obs, exp = upper_limits(n_obs, b, b_err)
    return float(obs[0]), float(exp[0])


def profile_log_likelihoods(
    n_obs: npt.ArrayLike,
    b: npt.ArrayLike,
    b_err: npt.ArrayLike,
    s: npt.ArrayLike,
    *,
    signal_up: npt.ArrayLike | None = None,
    signal_down: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """ln L per SR in the same model with the background nuisance profiled within pyhf's bounds
    (pyhf's ``model.logpdf`` at the conditional fit). With ``signal_up``/``signal_down`` (see
    :func:`cls_many`) the signal nuisance is profiled too and ln L includes its Gaussian
    constraint, -0.5 ln(2π) at θ = 0; SRs where both are 0 get the value without the nuisance,
    which lacks that constant: compare ln L only between signal yields of one SR."""
    (n_, b_, e_, s_), unc = _sr_arrays("profile_log_likelihoods", n_obs, b, b_err, s, signal_up, signal_down)
    if unc is None:
        return _core.profile_log_likelihoods(n_, b_, e_, s_)
    return _core.profile_log_likelihoods(n_, b_, e_, s_, unc[0], unc[1])


def cls_result(
    n_obs: float,
    b: float,
    b_err: float,
    s: float,
    method: Method = "native",
    *,
    signal_up: float = 0.0,
    signal_down: float = 0.0,
) -> ClsResult:
    """CLs of one SR for signal yield ``s`` (pyhf uncorrelated-background model, q̃_μ, asymptotic)
    for any s ≥ 0, without failing: s = 0 gives CLs = 1.

    ``method="native"`` (default): the closed-form C++ path (:func:`cls_many`), any s.
    ``method="pyhf"``: pyhf itself — up to 20 x the SR's sensitivity scale
    (2 sqrt(b + Δb²) + |n − b| + 3) a plain pyhf hypotest at μ = 1; beyond, the same model with
    that scale as signal template, tested at μ = s / scale with the POI range [0, 2μ] (the same
    likelihood: pyhf's default range [0, 10] fails or returns CLs = 1 for huge s/b); if pyhf still
    fails, the asymptotic formula on the analytically profiled likelihood (with a signal
    uncertainty: the native closed form of the same model). Results other than the plain pyhf one
    carry a note.

    ``signal_up``/``signal_down``: relative signal uncertainty (0 <= down < 1), a normsys
    nuisance on the signal (:func:`pyhf_model`); 0, 0 is the model without it."""
    _check_inputs(n_obs=n_obs, b=b, b_err=b_err, s=s)
    _check_signal_uncertainty("cls", signal_up, signal_down)
    up, down = float(signal_up), float(signal_down)
    systematic = up != 0 or down != 0
    if s <= 0:
        return ClsResult(1.0, 1.0, "none", "no signal in this region: CLs = 1")
    if method == "native":
        if systematic:
            nat_obs, nat_exp = _core.cls_values([float(n_obs)], [float(b)], [float(b_err)], [float(s)], [up], [down])
        else:
            nat_obs, nat_exp = _core.cls_values([float(n_obs)], [float(b)], [float(b_err)], [float(s)])
        return ClsResult(float(nat_obs[0]), float(nat_exp[0]), "native")
    if method != "pyhf":
        raise ConfigError(f"cls: method must be 'native' or 'pyhf', got {method!r}")
    scale = _signal_scale(n_obs, b, b_err)
    if s <= 20.0 * scale:
        try:
            obs, exp = _pyhf_hypotest(n_obs, b, b_err, s, 1.0, up, down)
            if math.isfinite(obs) and math.isfinite(exp):
                return ClsResult(obs, exp, "pyhf")
        except Exception as err:  # any fit failure falls through to the rescaled fit
            log.debug("pyhf failed for n=%g b=%g+-%g s=%g (%s); rescaled POI next", n_obs, b, b_err, s, err)
    mu = s / scale
    note = f"s = {s:.4g} is {mu:.3g} x the region's sensitivity scale {scale:.3g}"
    try:
        obs, exp = _pyhf_hypotest(n_obs, b, b_err, scale, mu, up, down)
        if math.isfinite(obs) and math.isfinite(exp):
            return ClsResult(obs, exp, "pyhf-rescaled", f"{note}: pyhf at mu = {mu:.4g} for a signal of {scale:.4g}")
    except Exception as err:  # the analytic limit below never fails
        log.debug("rescaled pyhf fit failed (%s); analytic CLs", err)
    if systematic:
        nat_obs, nat_exp = _core.cls_values([float(n_obs)], [float(b)], [float(b_err)], [float(s)], [up], [down])
        return ClsResult(
            float(nat_obs[0]),
            float(nat_exp[0]),
            "native",
            f"{note}: pyhf fit failed; native closed form of the same model",
        )
    obs, exp = _analytic_cls(n_obs, b, b_err, s)
    return ClsResult(obs, exp, "analytic", f"{note}: pyhf fit failed; asymptotic CLs of the profiled likelihood")


def cls(
    n_obs: float,
    b: float,
    b_err: float,
    s: float,
    method: Method = "native",
    *,
    signal_up: float = 0.0,
    signal_down: float = 0.0,
) -> tuple[float, float]:
    """(CLs_obs, CLs_exp) for signal yield ``s`` in one SR (see :func:`cls_result`)."""
    r = cls_result(n_obs, b, b_err, s, method, signal_up=signal_up, signal_down=signal_down)
    return r.obs, r.exp


def conservative_signal(s: float, s_err: float) -> float:
    """s − 1.96 Δs, at least 0: the signal at the lower end of its 95 % MC interval (CheckMATE)."""
    return max(s - 1.96 * s_err, 0.0)


def unreliable(mc_events: int | None) -> str | None:
    """The warning for a verdict whose SR rests on fewer than :data:`MIN_MC_EVENTS` MC events
    (what ``low_mc_statistics`` flags), None otherwise: one text for ``recast-ml run`` and scans."""
    if mc_events is None or mc_events >= MIN_MC_EVENTS:
        return None
    return f"UNRELIABLE: its signal rests on {mc_events} MC event(s) (fewer than {MIN_MC_EVENTS}), generate more events"


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
    r_cons_obs: float | None = None
    r_cons_exp: float | None = None
    mc_events: int | None = None
    low_mc_statistics: bool = False
    cls_method: str = "native"
    note: str | None = None
    s95_obs_model: float | None = None
    s95_exp_model: float | None = None

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
    mc_events: Mapping[str, int] | None = None,
    method: Method = "native",
) -> list[RegionStatistics]:
    """CLs, r-values (r = s/S95 and the conservative r_cons = (s − 1.96 Δs)/S95, with the published
    S95) and Δln L for every region with a yield and published numbers (``names`` maps region names
    to their names in the published table, where they differ), plus the model's own S95
    (``s95_obs_model``/``s95_exp_model``, :func:`upper_limits`). ``mc_events``: unweighted MC events
    passing each region; regions with fewer than :data:`MIN_MC_EVENTS` are marked
    ``low_mc_statistics``. ``method``: CLs by the native path (one vectorised call for all SRs) or
    by pyhf (:func:`cls_result`)."""
    matched = [
        (name, key, published[key], s, s_err)
        for name, (s, s_err) in yields.items()
        if (key := (names or {}).get(name, name)) in published
    ]
    if not matched:
        return []
    delta, _ = LogLikelihood([m[2] for m in matched])([m[3] for m in matched])
    n_obs = [m[2].n_obs for m in matched]
    b = [m[2].b for m in matched]
    b_err = [m[2].b_err for m in matched]
    signal = [m[3] for m in matched]
    if method == "native":
        obs, exp = cls_many(n_obs, b, b_err, signal)
        results = [
            ClsResult(float(o), float(x), "native") if s > 0 else cls_result(0.0, 0.0, 0.0, 0.0)
            for o, x, s in zip(obs, exp, signal, strict=True)
        ]
    else:
        results = [cls_result(m[2].n_obs, m[2].b, m[2].b_err, m[3], method) for m in matched]
    s95_obs, s95_exp = upper_limits(n_obs, b, b_err)
    out = []
    for (name, key, p, s, s_err), d, c, u_obs, u_exp in zip(matched, delta, results, s95_obs, s95_exp, strict=True):
        n_mc = None if mc_events is None else mc_events.get(name)
        s_cons = conservative_signal(s, s_err)
        out.append(
            RegionStatistics(
                region=name,
                published_name=key,
                signal=s,
                signal_error=s_err,
                n_obs=p.n_obs,
                b=p.b,
                b_err=p.b_err,
                cls_obs=c.obs,
                cls_exp=c.exp,
                r_obs=s / p.s95_obs if p.s95_obs else None,
                r_exp=s / p.s95_exp if p.s95_exp else None,
                delta_log_likelihood=d,
                r_cons_obs=s_cons / p.s95_obs if p.s95_obs else None,
                r_cons_exp=s_cons / p.s95_exp if p.s95_exp else None,
                mc_events=n_mc,
                low_mc_statistics=n_mc is not None and n_mc < MIN_MC_EVENTS,
                cls_method=c.method,
                note=c.note,
                s95_obs_model=float(u_obs) if math.isfinite(u_obs) else None,
                s95_exp_model=float(u_exp) if math.isfinite(u_exp) else None,
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
    "MIN_MC_EVENTS",
    "ClsResult",
    "LogLikelihood",
    "PublishedRegion",
    "RegionStatistics",
    "best_expected",
    "cls",
    "cls_many",
    "cls_result",
    "conservative_signal",
    "profile_log_likelihoods",
    "pyhf_model",
    "pyhf_signal_systematic_spec",
    "read_signal_regions",
    "region_statistics",
    "s95",
    "upper_limits",
]
