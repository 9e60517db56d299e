"""CLs and ln L with a signal-modelling uncertainty (issue 18): one normsys nuisance on the signal
(hi = 1 + up, lo = 1 - down, pyhf's default code4 interpolation, unit-Gaussian constraint), native
(``recast/stats.hpp``) against pyhf on the same model (``statistics.pyhf_model``).

The pyhf reference is ``pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde",
return_expected=True)``; CLs must agree within 1 % relative wherever pyhf's CLs is in [0.01, 0.99].
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pyhf
import pytest
from scipy import optimize

from recast_ml import _core
from recast_ml._data import analyses_dir
from recast_ml.errors import ConfigError
from recast_ml.statistics import (
    cls_many,
    cls_result,
    profile_log_likelihoods,
    pyhf_model,
    pyhf_signal_systematic_spec,
    read_signal_regions,
    upper_limits,
)

WINDOW = (0.01, 0.99)
TOLERANCE = 0.01


def hypotest(model: Any, n: float) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obs, exp = pyhf.infer.hypotest(1.0, [n, *model.config.auxdata], model, test_stat="qtilde", return_expected=True)
    return float(obs), float(exp)


def histosys_model(b: float, b_err: float, s: float, up: float, down: float) -> Any:
    """The same SR with the signal variation as a single-bin histosys (pyhf default: code4p)."""
    spec = pyhf_signal_systematic_spec(b, b_err, s, up, down)
    signal = spec["channels"][0]["samples"][0]
    signal["modifiers"][1] = {
        "name": "signal_uncertainty",
        "type": "histosys",
        "data": {"hi_data": [s * (1 + up)], "lo_data": [s * (1 - down)]},
    }
    return pyhf.Model(spec, poi_name="mu")


# SRs (n, b, b_err) from empty to large counts, under- and over-fluctuating, small to large Δb
REGIONS = [
    (0.0, 0.6, 0.3),
    (2.0, 1.5, 0.7),
    (5.0, 4.0, 1.0),
    (10.0, 12.0, 3.0),
    (3.0, 5.0, 2.5),
    (25.0, 20.0, 5.0),
    (60.0, 55.0, 10.0),
    (120.0, 100.0, 15.0),
    (8.0, 3.0, 1.2),
    (15.0, 10.0, 4.0),
    (1.0, 0.3, 0.15),
    (40.0, 45.0, 6.0),
]
# signal yields as multiples of the SR's expected S95 (without the systematic)
FACTORS = (0.4, 0.7, 1.0, 1.4, 1.9)
# (up, down): symmetric, asymmetric both ways, one-sided (code4 is not monotone there), large
VARIATIONS = [(0.2, 0.2), (0.3, 0.1), (0.1, 0.3), (0.0, 0.2), (0.25, 0.0), (0.5, 0.4), (0.05, 0.05)]


def grid_points() -> list[tuple[float, float, float, float, float, float]]:
    points = []
    k = 0
    for n, b, e in REGIONS:
        s95_exp = float(upper_limits(n, b, e)[1][0])
        for f in FACTORS:
            up, down = VARIATIONS[k % len(VARIATIONS)]
            k += 1
            points.append((n, b, e, round(f * s95_exp, 4), up, down))
    return points


@pytest.fixture(scope="module")
def grid() -> dict[str, np.ndarray]:
    points = np.array(grid_points())
    ref = np.array([hypotest(pyhf_model(b, e, s, up, down), n) for n, b, e, s, up, down in points])
    return {"points": points, "ref": ref}


def test_spec_is_the_uncorrelated_background_model_plus_a_signal_normsys():
    spec = pyhf_signal_systematic_spec(4.0, 1.0, 5.0, 0.3, 0.1)
    plain = pyhf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[4.0], bkg_uncertainty=[1.0]).spec
    samples = spec["channels"][0]["samples"]
    assert samples[1] == plain["channels"][0]["samples"][1]
    assert samples[0]["modifiers"][0] == plain["channels"][0]["samples"][0]["modifiers"][0]
    assert samples[0]["modifiers"][1] == {
        "name": "signal_uncertainty",
        "type": "normsys",
        "data": {"hi": 1.3, "lo": 0.9},
    }
    model = pyhf_model(4.0, 1.0, 5.0, 0.3, 0.1)
    # the interpolation the native path implements is pyhf's default for normsys
    assert model.config.modifier_settings["normsys"] == {"interpcode": "code4"}
    assert model.config.suggested_bounds()[model.config.par_slice("signal_uncertainty")][0] == (-5.0, 5.0)
    # no systematic: exactly pyhf's simplified model (what the pyhf path always used)
    assert pyhf_model(4.0, 1.0, 5.0).spec == plain


def test_cls_agrees_with_pyhf_normsys_within_1_percent(grid):
    points, ref = grid["points"], grid["ref"]
    n, b, e, s, up, down = points.T
    obs, exp = cls_many(n, b, e, s, signal_up=up, signal_down=down)
    got = np.stack([obs, exp], axis=1)
    inside = (ref >= WINDOW[0]) & (ref <= WINDOW[1])
    assert inside[:, 0].sum() >= 40, f"only {inside[:, 0].sum()} observed CLs in the window"
    assert inside[:, 1].sum() >= 40, f"only {inside[:, 1].sum()} expected CLs in the window"
    rel = np.abs(got[inside] / ref[inside] - 1)
    worst = int(np.argmax(rel))
    assert rel.max() < TOLERANCE, f"worst {rel.max():.2e} at {points[np.nonzero(inside)[0][worst]]}"
    # and the systematic matters on this grid: without it the numbers differ by more than that
    plain = np.stack(cls_many(n, b, e, s), axis=1)
    assert np.abs(plain[inside] / ref[inside] - 1).max() > 5 * TOLERANCE


def test_signal_variation_of_20_percent_shifts_cls_as_pyhf_does():
    """The issue's must-show: generator variations with a ±20 % envelope, per SR of
    ATLAS-SUSY-2018-22 (published n, b, Δb; signal at the published expected S95)."""
    published = read_signal_regions(analyses_dir() / "ATLAS-SUSY-2018-22" / "signal_regions.csv")
    names = sorted(published)[:: max(len(published) // 4, 1)][:4]
    checked = 0
    for name in names:
        p = published[name]
        s = p.s95_exp or float(upper_limits(p.n_obs, p.b, p.b_err)[1][0])
        variations = {"nominal": s, "scale_up": 1.2 * s, "scale_down": 0.8 * s, "pdf": 1.05 * s}
        up = max(variations.values()) / s - 1
        down = 1 - min(variations.values()) / s
        assert up == pytest.approx(0.2)
        assert down == pytest.approx(0.2)
        without = np.array(cls_many(p.n_obs, p.b, p.b_err, s)).ravel()
        with_sys = np.array(cls_many(p.n_obs, p.b, p.b_err, s, signal_up=up, signal_down=down)).ravel()
        ref_without = np.array(hypotest(pyhf_model(p.b, p.b_err, s), p.n_obs))
        ref_with = np.array(hypotest(pyhf_model(p.b, p.b_err, s, up, down), p.n_obs))
        if not ((ref_with >= WINDOW[0]) & (ref_with <= WINDOW[1])).all():
            continue
        checked += 1
        shift, ref_shift = with_sys - without, ref_with - ref_without
        # the shift agrees with pyhf's within 1 % of CLs (obs and exp)
        assert np.abs(shift - ref_shift).max() < TOLERANCE * ref_with.min(), (name, shift, ref_shift)
        # a signal uncertainty weakens the exclusion, visibly
        assert (shift > 0).all(), (name, shift)
        assert (ref_shift > 0).all(), (name, ref_shift)
        assert (shift / without > 0.02).all(), (name, shift, without)
    assert checked >= 3


@pytest.mark.parametrize(
    ("n", "b", "e", "s"),
    [(5.0, 4.0, 1.0, 7.0), (10.0, 12.0, 3.0, 9.0), (60.0, 55.0, 10.0, 30.0), (2.0, 4.0, 2.0, 6.0)],
)
def test_normsys_and_histosys_differ_by_little_for_20_percent(n, b, e, s):
    """Native = normsys (pyhf's default code4: polynomial inside |theta| < 1, exponential outside);
    a histosys (code4p, linear extrapolation in the signal) with the same ±20 % is a slightly
    different model: its CLs are 0.8-1.6 % lower at these points (pyhf 0.7.6), obs and exp."""
    up = down = 0.2
    native = np.array(cls_many(n, b, e, s, signal_up=up, signal_down=down)).ravel()
    normsys = np.array(hypotest(pyhf_model(b, e, s, up, down), n))
    histosys = np.array(hypotest(histosys_model(b, e, s, up, down), n))
    assert np.abs(native / normsys - 1).max() < TOLERANCE
    differ = np.abs(native / histosys - 1)
    assert differ.max() < 0.02, (native, normsys, histosys)
    assert differ.min() > 0.002, (native, normsys, histosys)  # really the other model


def test_uncertainty_only_weakens_the_exclusion_and_stays_finite():
    """Random SRs incl. n = 0, b = 0, Δb = 0, huge s, up up to 3, down up to 0.999: CLs in [0, 1],
    never below the value without the systematic (theta = 0 is one of the fits), ln L finite."""
    rng = np.random.default_rng(7)
    size = 3000
    n = np.floor(rng.exponential(20, size))
    n[::7] = 0
    b = rng.exponential(20, size)
    b[::11] = 0
    e = b * rng.uniform(0, 1.5, size)
    e[::13] = 0
    s = rng.exponential(20, size) * rng.choice([0.01, 1.0, 100.0], size)
    s[::17] = 0
    up, down = rng.uniform(0, 3, size), rng.uniform(0, 0.999, size)
    obs, exp = cls_many(n, b, e, s, signal_up=up, signal_down=down)
    plain_obs, plain_exp = cls_many(n, b, e, s)
    for got, plain in ((obs, plain_obs), (exp, plain_exp)):
        assert np.isfinite(got).all()
        assert ((got >= 0) & (got <= 1)).all()
        assert (got >= plain - 1e-12).all()
    assert (obs[s == 0] == 1).all()
    lnl = profile_log_likelihoods(n, b, e, s, signal_up=up, signal_down=down)
    assert not np.isnan(lnl).any()
    assert (lnl < np.inf).all()


def test_no_uncertainty_is_bit_identical_to_the_plain_model():
    rng = np.random.default_rng(18)
    n = rng.poisson(10, 200).astype(float)
    b = rng.uniform(0.2, 30, 200)
    e = b * rng.uniform(0.05, 0.6, 200)
    s = rng.uniform(0.0, 25, 200)
    zeros = np.zeros(200)
    plain = _core.cls_values(n, b, e, s)
    # explicit zeros go through the 6-argument C++ functions
    assert np.array_equal(_core.cls_values(n, b, e, s, zeros, zeros)[0], plain[0])
    assert np.array_equal(_core.cls_values(n, b, e, s, zeros, zeros)[1], plain[1])
    assert np.array_equal(
        _core.profile_log_likelihoods(n, b, e, s, zeros, zeros), _core.profile_log_likelihoods(n, b, e, s)
    )
    assert _core.qtilde_values(5.0, 4.0, 1.0, 6.0, 0.0, 0.0) == _core.qtilde_values(5.0, 4.0, 1.0, 6.0)
    # mixed: the SRs without an uncertainty keep their values exactly, the others change
    up = np.where(np.arange(200) % 2 == 0, 0.0, 0.2)
    obs, exp = cls_many(n, b, e, s, signal_up=up, signal_down=up)
    assert np.array_equal(obs[::2], plain[0][::2])
    assert np.array_equal(exp[::2], plain[1][::2])
    changed = (s[1::2] > 0) & (plain[0][1::2] < 0.99) & (plain[0][1::2] > 1e-6)
    assert (obs[1::2][changed] > plain[0][1::2][changed]).all()
    assert cls_result(5.0, 4.0, 1.0, 6.0, signal_up=0.0, signal_down=0.0) == cls_result(5.0, 4.0, 1.0, 6.0)


def test_vanishing_uncertainty_tends_to_the_plain_model():
    """The minimisation path at up = down -> 0 reproduces the closed form (continuity)."""
    n, b, e, s = (
        np.array([0.0, 5.0, 30.0]),
        np.array([1.0, 4.0, 25.0]),
        np.array([0.5, 1.0, 5.0]),
        np.array([3.0, 6.0, 15.0]),
    )
    tiny = np.full(3, 1e-9)
    obs, exp = cls_many(n, b, e, s, signal_up=tiny, signal_down=tiny)
    ref_obs, ref_exp = cls_many(n, b, e, s)
    np.testing.assert_allclose(obs, ref_obs, rtol=1e-7)
    np.testing.assert_allclose(exp, ref_exp, rtol=1e-7)
    # ln L: the same up to the Gaussian constraint's normalisation -0.5 ln(2 pi) at theta = 0
    lnl = profile_log_likelihoods(n, b, e, s, signal_up=tiny, signal_down=tiny)
    np.testing.assert_allclose(lnl, profile_log_likelihoods(n, b, e, s) - 0.5 * math.log(2 * math.pi), atol=1e-7)


def pyhf_conditional_logl(model: Any, n: float) -> tuple[float, float]:
    """(pyhf's logpdf at its own conditional fit at mu = 1, the same maximum polished by scipy)."""
    data = np.array([n, *model.config.auxdata])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pars = np.asarray(pyhf.infer.mle.fixed_poi_fit(1.0, data, model))
    fitted = float(model.logpdf(pars, data)[0])
    free = [i for i in range(len(pars)) if i != model.config.poi_index]
    bounds = [model.config.suggested_bounds()[i] for i in free]

    def nll(x: np.ndarray) -> float:
        p = pars.copy()
        p[free] = x
        return -float(model.logpdf(p, data)[0])

    best = optimize.minimize(
        nll, pars[free], method="Nelder-Mead", bounds=bounds, options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 20000}
    )
    return fitted, max(-float(best.fun), fitted)


@pytest.mark.parametrize(
    ("n", "b", "e", "s", "up", "down"),
    [
        (5.0, 4.0, 1.0, 6.0, 0.2, 0.2),
        (10.0, 12.0, 3.0, 12.0, 0.3, 0.1),
        (0.0, 1.0, 0.5, 5.0, 0.5, 0.4),  # theta beyond -1: the exponential part
        (3.0, 5.0, 1.0, 4.0, 0.0, 0.2),
        (40.0, 30.0, 6.0, 5.0, 0.25, 0.0),  # excess: theta > 0
        (40.0, 10.0, 1.0, 3.0, 0.3, 0.2),  # large excess: theta = 1.8, beyond +1
        (60.0, 10.0, 1.0, 5.0, 0.3, 0.2),  # theta = 4.97, next to its bound 5
    ],
)
def test_log_likelihood_matches_pyhf_logpdf_at_the_conditional_fit(n, b, e, s, up, down):
    native = float(profile_log_likelihoods(n, b, e, s, signal_up=up, signal_down=down)[0])
    fitted, polished = pyhf_conditional_logl(pyhf_model(b, e, s, up, down), n)
    assert native >= fitted - 1e-9  # never worse than pyhf's own fit
    assert native == pytest.approx(polished, abs=1e-6)


@pytest.mark.parametrize(
    ("up", "down", "what"),
    [
        (0.2, 1.0, "down"),
        (0.2, 1.5, "down"),
        (-0.1, 0.2, "up"),
        (0.2, -0.1, "down"),
        (math.nan, 0.2, "up"),
        (0.2, math.nan, "down"),
        (math.inf, 0.2, "up"),
    ],
)
def test_invalid_uncertainties_raise_typed_errors(up, down, what):
    with pytest.raises(ConfigError, match=f"signal_{what}"):
        cls_many(5.0, 4.0, 1.0, 6.0, signal_up=up, signal_down=down)
    with pytest.raises(ConfigError, match=f"signal_{what}"):
        profile_log_likelihoods(5.0, 4.0, 1.0, 6.0, signal_up=up, signal_down=down)
    with pytest.raises(ConfigError, match="up >= 0 and 0 <= down < 1"):
        cls_result(5.0, 4.0, 1.0, 6.0, signal_up=up, signal_down=down)
    # the C++ layer checks on its own (std::invalid_argument -> ValueError naming the entry)
    with pytest.raises(ValueError, match="entry 1: cls: the relative signal uncertainties"):
        _core.cls_values([5.0, 5.0], [4.0, 4.0], [1.0, 1.0], [6.0, 6.0], [0.1, up], [0.1, down])
    with pytest.raises(ValueError, match="profile_log_likelihood: the relative signal uncertainties"):
        _core.profile_log_likelihoods([5.0], [4.0], [1.0], [6.0], [up], [down])
    with pytest.raises(ValueError, match="test_statistics: the relative signal uncertainties"):
        _core.qtilde_values(5.0, 4.0, 1.0, 6.0, up, down)


def test_uncertainty_arrays_must_match_the_regions():
    with pytest.raises(ConfigError, match="cls_many"):
        cls_many([5.0, 6.0], [4.0, 4.0], [1.0, 1.0], [6.0, 6.0], signal_up=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="s_up/s_down have 3 entries, expected 2"):
        _core.cls_values([5.0, 6.0], [4.0, 4.0], [1.0, 1.0], [6.0, 6.0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    # None for one of them means 0; a scalar applies to every SR
    a = cls_many([5.0, 6.0], [4.0, 4.0], [1.0, 1.0], [6.0, 6.0], signal_up=0.2)
    b = cls_many([5.0, 6.0], [4.0, 4.0], [1.0, 1.0], [6.0, 6.0], signal_up=[0.2, 0.2], signal_down=[0.0, 0.0])
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_pyhf_method_uses_the_same_model():
    native = cls_result(5.0, 4.0, 1.0, 7.0, signal_up=0.3, signal_down=0.1)
    via_pyhf = cls_result(5.0, 4.0, 1.0, 7.0, "pyhf", signal_up=0.3, signal_down=0.1)
    assert via_pyhf.method == "pyhf"
    assert via_pyhf.obs == pytest.approx(native.obs, rel=TOLERANCE)
    assert via_pyhf.exp == pytest.approx(native.exp, rel=TOLERANCE)
    # a huge signal takes the rescaled-POI path, with the normsys on the rescaled template
    big = cls_result(0.0, 1.0, 0.5, 400.0, "pyhf", signal_up=0.2, signal_down=0.2)
    assert big.method in ("pyhf-rescaled", "native")
    assert big.note
    assert big.obs < 1e-3
