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
    LogLikelihood,
    PublishedRegion,
    best_expected,
    cls,
    read_signal_regions,
    region_statistics,
)


def test_cls_equals_direct_pyhf():
    obs, exp = cls(10, 8.0, 2.0, 5.0)
    assert obs == pytest.approx(0.3165, abs=5e-5)  # the reference number
    model = pyhf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[8.0], bkg_uncertainty=[2.0])
    ref_obs, ref_exp = pyhf.infer.hypotest(
        1.0, [10, *model.config.auxdata], model, test_stat="qtilde", return_expected=True
    )
    assert obs == pytest.approx(float(ref_obs), rel=1e-9)
    assert exp == pytest.approx(float(ref_exp), rel=1e-9)
    assert cls(10, 8.0, 2.0, 0.0) == (1.0, 1.0)
    assert cls(3, 8.0, 2.0, 30.0)[0] < 0.01  # a large signal in a deficit is excluded
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
