"""CLs against direct pyhf, r-values, and the analytic profiled log-likelihood against a numerical
profile."""

from __future__ import annotations

import math

import numpy as np
import pyhf
import pytest
from scipy import optimize, stats

from recast_ml import _core
from recast_ml.statistics import (
    MIN_MC_EVENTS,
    LogLikelihood,
    PublishedRegion,
    best_expected,
    cls,
    cls_result,
    read_signal_regions,
    region_statistics,
)


def test_cls_equals_direct_pyhf():
    obs, exp = cls(10, 8.0, 2.0, 5.0, method="pyhf")
    assert obs == pytest.approx(0.3165, abs=5e-5)  # the reference number
    nat_obs, nat_exp = cls(10, 8.0, 2.0, 5.0)  # native (default): the same model in closed form
    assert nat_obs == pytest.approx(obs, rel=1e-3)
    assert nat_exp == pytest.approx(exp, rel=1e-3)
    model = pyhf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[8.0], bkg_uncertainty=[2.0])
    ref_obs, ref_exp = pyhf.infer.hypotest(
        1.0, [10, *model.config.auxdata], model, test_stat="qtilde", return_expected=True
    )
    assert obs == pytest.approx(float(ref_obs), rel=1e-9)
    assert exp == pytest.approx(float(ref_exp), rel=1e-9)
    assert cls(10, 8.0, 2.0, 0.0) == (1.0, 1.0)
    assert cls(3, 8.0, 2.0, 30.0)[0] < 0.01  # a large signal in a deficit is excluded
    assert cls(3, 8.0, 2.0, 30.0, method="pyhf")[0] < 0.01
    with pytest.raises(ValueError, match="b must be"):
        cls(3, -1.0, 2.0, 1.0)


def numerical_profile(n, b, e, s):
    def nll(theta):
        lam = s + b + theta
        if lam <= 0:
            return 1e30
        return -(stats.poisson.logpmf(n, lam) + stats.norm.logpdf(theta, 0, e))

    res = optimize.minimize_scalar(
        nll, bounds=(-b + 1e-12, 10 * (e + b + s + n + 1)), method="bounded", options={"xatol": 1e-12}
    )
    return -res.fun


@pytest.mark.parametrize(
    ("n", "b", "e", "s"), [(10, 8.0, 2.0, 5.0), (0, 0.5, 0.3, 2.0), (120, 100.0, 15.0, 30.0), (3, 3.5, 0.6, 0.0)]
)
def test_profiled_log_likelihood_equals_a_numerical_profile(n, b, e, s):
    assert _core.log_likelihood(n, b, e, s) == pytest.approx(numerical_profile(n, b, e, s), abs=1e-6)


def test_r_values_best_region_and_fast_likelihood(tmp_path):
    csv = tmp_path / "sr.csv"
    csv.write_text(
        "# test\nSR,obs,bkg,bkg_err,S95_obs,S95_exp\nA,10,8,2,9.0,7.5\nB,120,100,15,40,35\nC,0,0.5,0.3,3.0,3.2\n"
    )
    published = read_signal_regions(csv)
    stats_ = region_statistics({"A": (5.0, 0.5), "C": (2.0, 0.2), "not-published": (1.0, 0.1)}, published)
    assert [s.region for s in stats_] == ["A", "C"]
    a, c = stats_
    assert a.r_obs == pytest.approx(5 / 9.0)
    assert a.r_exp == pytest.approx(5 / 7.5)
    assert c.r_exp == pytest.approx(2 / 3.2)
    assert best_expected(stats_).region == "A"
    assert a.cls_obs == pytest.approx(0.3165, abs=5e-5)
    ll = LogLikelihood([published[k] for k in ("A", "B", "C")])
    d, best = ll([5.0, 30.0, 2.0])
    for k, name in enumerate("ABC"):
        p = published[name]
        s = [5.0, 30.0, 2.0][k]
        assert d[k] == pytest.approx(
            _core.log_likelihood(p.n_obs, p.b, p.b_err, s) - _core.log_likelihood(p.n_obs, p.b, p.b_err, 0)
        )
    # best expected: most negative delta ln L on Asimov data n = b
    asimov = [
        _core.log_likelihood(p.b, p.b, p.b_err, s) - _core.log_likelihood(p.b, p.b, p.b_err, 0)
        for p, s in zip([published[k] for k in "ABC"], [5.0, 30.0, 2.0], strict=True)
    ]
    assert best == int(np.argmin(asimov))
    assert ll.best([5.0, 30.0, 2.0])[0] == "ABC"[best]
    with pytest.raises(ValueError, match="inputs must be finite"):
        _core.log_likelihood(1, -1, 1, 1)
    with pytest.raises(ValueError, match="3 regions, 2 signal yields"):
        ll([1.0, 2.0])
    assert PublishedRegion("x", 1, 1, 1).s95_obs is None
    assert math.isfinite(d[0])


def direct_pyhf(n, b, e, s, mu=1.0, poi_bounds=None):
    model = pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[b], bkg_uncertainty=[e])
    bounds = model.config.suggested_bounds()
    if poi_bounds is not None:
        bounds[model.config.poi_index] = poi_bounds
    res = pyhf.infer.hypotest(
        mu, [n, *model.config.auxdata], model, test_stat="qtilde", return_expected=True, par_bounds=bounds
    )
    return float(res[0]), float(res[1])


@pytest.mark.parametrize(
    ("n", "b", "e", "s"),
    [
        (536, 536.0, 30.0, 2.2e5),  # the run: pyhf with its default POI range returns CLs = 1
        (120, 100.0, 15.0, 5.9e5),  # pyhf's fit fails (FailedMinimization)
        (0, 2.0, 1.0, 8.5e4),  # pyhf returns CLs_obs = nan
    ],
)
def test_huge_signals_are_excluded_not_crashing_or_cls_one(n, b, e, s):
    nat = cls_result(n, b, e, s)
    assert nat.method == "native"
    assert nat.obs < 1e-10
    assert nat.exp < 1e-10
    res = cls_result(n, b, e, s, method="pyhf")
    assert res.obs < 1e-10
    assert res.exp < 1e-10
    assert res.method in ("pyhf-rescaled", "analytic")
    assert "sensitivity scale" in res.note
    assert cls(n, b, e, s, method="pyhf") == (res.obs, res.exp)


@pytest.mark.parametrize(("n", "b", "e"), [(3, 0.5, 0.3), (536, 536.0, 30.0), (0, 2.0, 1.0)])
def test_rescaled_cls_equals_direct_pyhf_where_that_is_defined(n, b, e):
    """Just above the switch to the rescaled template (20 x the sensitivity scale), CLs equals
    pyhf's own hypotest at mu = 1 with the signal as template."""
    scale = 2 * math.sqrt(b + e * e) + abs(n - b) + 3
    for k in (2.0, 25.0):
        s = k * scale
        res = cls_result(n, b, e, s, method="pyhf")
        assert res.method == ("pyhf" if k < 20 else "pyhf-rescaled")
        ref = direct_pyhf(n, b, e, s)
        for got, want in zip((res.obs, res.exp), ref, strict=True):
            if want > 1e-20:
                assert got == pytest.approx(want, rel=1e-4)
            else:  # far in the tail both fits only agree that CLs is negligible
                assert got < 1e-20
        if k < 20:
            assert (res.obs, res.exp) == ref  # bit for bit the direct call


def test_zero_signal_gives_cls_one_with_a_note_and_zero_r(tmp_path):
    res = cls_result(10, 8.0, 2.0, 0.0)
    assert (res.obs, res.exp, res.method) == (1.0, 1.0, "none")
    assert "no signal" in res.note
    csv = tmp_path / "sr.csv"
    csv.write_text("SR,obs,bkg,bkg_err,S95_obs,S95_exp\nA,10,8,2,9.0,7.5\n")
    (a,) = region_statistics({"A": (0.0, 0.0)}, read_signal_regions(csv), mc_events={"A": 0})
    assert (a.cls_obs, a.r_obs, a.r_cons_obs, a.low_mc_statistics) == (1.0, 0.0, 0.0, True)


def test_conservative_r_and_few_mc_event_regions(tmp_path):
    csv = tmp_path / "sr.csv"
    csv.write_text("SR,obs,bkg,bkg_err,S95_obs,S95_exp\nA,10,8,2,9.0,7.5\nB,120,100,15,40,35\nC,0,0.5,0.3,3.0,3.2\n")
    published = read_signal_regions(csv)
    yields = {"A": (5.0, 0.5), "B": (30.0, 20.0), "C": (12.0, 2.0)}
    stats_ = {s.region: s for s in region_statistics(yields, published, mc_events={"A": 400, "B": 10, "C": 1})}
    # r_cons = (s - 1.96 ds) / S95, by hand
    assert stats_["A"].r_cons_obs == pytest.approx((5.0 - 0.98) / 9.0)
    assert stats_["A"].r_cons_exp == pytest.approx((5.0 - 0.98) / 7.5)
    assert stats_["B"].r_cons_obs == pytest.approx(0.0)  # 30 - 39.2 < 0: no conservative signal left
    assert stats_["C"].r_obs == pytest.approx(4.0)
    assert stats_["C"].r_cons_obs == pytest.approx((12.0 - 1.96 * 2.0) / 3.0)
    assert [stats_[k].low_mc_statistics for k in "ABC"] == [False, False, True]  # fewer than 10
    assert MIN_MC_EVENTS == 10
    assert stats_["C"].mc_events == 1
    # CLs is pyhf's on the nominal yield (native closed form; method="pyhf" runs pyhf itself)
    assert stats_["A"].cls_obs == pytest.approx(direct_pyhf(10, 8.0, 2.0, 5.0)[0], rel=1e-3)
    assert stats_["A"].cls_method == "native"
    via_pyhf = {s.region: s for s in region_statistics(yields, published, method="pyhf")}
    assert via_pyhf["A"].cls_obs == pytest.approx(direct_pyhf(10, 8.0, 2.0, 5.0)[0], rel=1e-12)
    assert via_pyhf["A"].cls_method == "pyhf"


@pytest.mark.parametrize(
    ("n", "b", "e", "s"), [(10, 8.0, 2.0, 6.0), (20, 18.0, 3.0, 10.0), (50, 45.0, 6.0, 25.0), (100, 90.0, 8.0, 30.0)]
)
def test_any_pyhf_failure_falls_back_to_the_analytic_cls(monkeypatch, n, b, e, s):
    """Whatever pyhf raises, cls_result answers: the asymptotic CLs of the profiled likelihood
    (Gaussian background constraint), which agrees with pyhf's (Poisson auxiliary constraint)
    within 10 % where pyhf works and the counts are not tiny (at n = 3, b = 5 +- 1.5 the two
    constraints differ by ~30 %)."""
    import recast_ml.statistics as st

    want = cls_result(n, b, e, s, method="pyhf")
    assert want.method == "pyhf"

    def broken(*args, **kwargs):
        raise RuntimeError("scipy: the fit diverged")

    monkeypatch.setattr(st, "_pyhf_hypotest", broken)
    got = st.cls_result(n, b, e, s, method="pyhf")
    assert got.method == "analytic"
    assert "pyhf fit failed" in got.note
    assert got.obs == pytest.approx(want.obs, rel=0.1, abs=0.005)
    assert got.exp == pytest.approx(want.exp, rel=0.1, abs=0.005)
