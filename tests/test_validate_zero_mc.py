"""A step or yield at which the sample has no raw MC event (k = 0) has a symmetric MC error of 0,
although the sample simply cannot resolve it: validate gives it a one-sided upper MC error, the
Gehrels 1σ upper error for n = 0 (1.841 events) times what one MC event weighs, and uses it in the
status (MC-limited rather than failed) and in the upper edge of the coverage band. Steps with
k ≥ 1 keep their symmetric error and results. Numbers by hand in the comments."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from recast_ml.analysis import AnalysisResult, Cutflow
from recast_ml.validate import Comparison, _efficiency, _yield


def _cutflow(n: list[int], weight: float = 1.0, scale: float | None = None) -> Cutflow:
    w = np.array(n, dtype=float) * weight  # equal weights
    return Cutflow("NN-4j", ["all events", "1l", ">= 4b", "NN4j > 0.73"], np.array(n), w, w * weight, scale)


def _zero_mc(published: float, members: dict[str, float] | None = None) -> Comparison:
    """The NN4j bin of 12,000 events with no event left: 0 ± 0, upper error 1.841 / 12000."""
    eff, err, up = _efficiency(_cutflow([12000, 2251, 40, 0]), 3, 0)
    c = Comparison("cutflow", "higgsino_385", "NN-4j", "NN4j > 0.73", published, eff, err, 0.15, ours_error_up=up)
    for m, v in (members or {}).items():
        c.variations[m] = Comparison(c.kind, c.benchmark, c.region, c.step, published, v, 0.0, 0.15)
    return c


def test_efficiency_upper_error_of_a_step_without_mc_events():
    cf = _cutflow([12000, 2251, 40, 0])
    # 0 of 12,000: 0 ± 0, upper 1.841 / 12000 = 1.5341667e-4
    assert _efficiency(cf, 3, 0) == (0.0, 0.0, pytest.approx(1.5341667e-4, rel=1e-7))
    # relative to the 2251 events of the "1l" step: 1.841 / 2251 = 8.178587e-4
    assert _efficiency(cf, 3, 1)[2] == pytest.approx(8.178587e-4, rel=1e-6)
    # 40 events: 3.3333e-3 ± sqrt(eff (1 - eff) / 12000) = 5.261671e-4, symmetric as before (None)
    eff, err, up = _efficiency(cf, 2, 0)
    assert (eff, err, up) == (pytest.approx(40 / 12000), pytest.approx(5.261671e-4, rel=1e-6), None)
    # weighted the same (weight 2.5 each): the same numbers, the binomial unit is 1 / N_norm
    assert _efficiency(_cutflow([12000, 2251, 40, 0], weight=2.5), 3, 0)[2] == pytest.approx(1.5341667e-4, rel=1e-7)
    # no event at the normalisation step either: no efficiency, no upper error
    assert _efficiency(_cutflow([0, 0, 0, 0]), 3, 0)[2] is None


def test_zero_mc_step_status_uses_the_upper_error():
    # ratio 0, upper ratio error 1.5341667e-4 / published; MC-limited when > 0.15 and 1 <= twice it,
    # i.e. published <= 3.0683e-4 (the old code: error 0, always "failed")
    assert _zero_mc(1.0e-4).status == "mc-limited"  # within the upper error itself (ratio error 1.534)
    assert _zero_mc(2.0e-4).status == "mc-limited"  # ratio error 0.767: 1.30 σ
    assert _zero_mc(3.0e-4).status == "mc-limited"  # ratio error 0.511: 1.96 σ
    assert _zero_mc(3.2e-4).status == "failed"  # ratio error 0.479: 2.09 σ
    c = _zero_mc(2.0e-4)
    assert c.ratio_error == 0.0
    assert c.ratio_error_up == pytest.approx(0.76708333, rel=1e-7)
    d = c.to_dict()
    assert (d["status"], d["ours_error"]) == ("mc-limited", 0.0)
    assert d["ours_error_up"] == pytest.approx(1.5341667e-4, rel=1e-7)
    assert d["ratio_error_up"] == pytest.approx(0.76708333, rel=1e-7)


def test_zero_mc_step_coverage_uses_the_upper_error():
    # weight members ride on the same events: also 0, Δ↑ = Δ↓ = 0; band [0, 1.5341667e-4]
    shower = {"isr_up": 0.0, "isr_down": 0.0}
    c = _zero_mc(1.5e-4, shower)
    assert c.interval == (0.0, pytest.approx(1.5341667e-4, rel=1e-7))
    assert c.covered is True  # the old code: [0, 0], not covered
    assert _zero_mc(1.6e-4, shower).covered is False
    assert _zero_mc(3.0e-4, shower).covered is False  # MC-limited, but not covered
    # a separate sample with 1e-4 there: Δ↑ = 1e-4, upper edge sqrt(1e-4² + 1.5341667e-4²) = 1.831302e-4
    damped = {"isr_damped": 1.0e-4}
    assert _zero_mc(1.8e-4, damped).interval[1] == pytest.approx(1.831302e-4, rel=1e-6)
    assert _zero_mc(1.8e-4, damped).covered is True  # the old code: [0, 1e-4]
    assert _zero_mc(1.85e-4, damped).covered is False
    # a published 0 lies at the lower edge (0 - 0): covered, as before
    assert _zero_mc(0.0, shower).covered is True


def _result(cf: Cutflow, scale: float) -> SimpleNamespace:
    """What _yield reads of an AnalysisResult (its own yield_ on these numbers)."""
    cf.scale = scale
    res = SimpleNamespace(scale=scale, cutflow=lambda region: cf)
    res.yield_ = lambda region: AnalysisResult.yield_(res, region)  # type: ignore[arg-type]
    return res


def test_zero_mc_yield_upper_error_and_status():
    # 12,000 events at sigma x L = 0.10466 pb x 139 fb^-1 = 14547.7 events: 1.2123107 events each;
    # upper error 1.841 x 1.2123107 = 2.2318641 events
    scale = 0.10465991961470217 * 139 * 1000 / 12000
    y, e, up = _yield(_result(_cutflow([12000, 2251, 40, 0]), scale), "SR1")
    assert (y, e) == (0.0, 0.0)
    assert up == pytest.approx(2.2318641, rel=1e-7)
    # weights 2 each (sum 24,000): the scale halves, one event still weighs sigma x L / N
    y2, _, up2 = _yield(_result(_cutflow([12000, 2251, 40, 0], weight=2.0), scale / 2), "SR1")
    assert (y2, up2) == (0.0, pytest.approx(2.2318641, rel=1e-7))

    def status(published: float) -> str:
        return Comparison("yield", "b", "SR1", "final yield", published, y, e, 0.25, ours_error_up=up).status

    assert status(2.0) == "mc-limited"  # within the upper error
    assert status(4.4) == "mc-limited"  # 4.4 <= 2 x 2.2318641 = 4.4637
    assert status(4.5) == "failed"
    cov = Comparison("yield", "b", "SR1", "final yield", 2.2, y, e, 0.25, ours_error_up=up)
    cov.variations["fsr_up"] = Comparison("yield", "b", "SR1", "final yield", 2.2, 0.0, 0.0, 0.25)
    assert cov.covered is True  # 2.2 <= 2.2318641
    # 40 events left: 48.49 ± sqrt(40) x 1.2123107 = 7.6673 events, no upper error: as before
    y40, e40, up40 = _yield(_result(_cutflow([12000, 2251, 100, 40]), scale), "SR1")
    assert (y40, e40, up40) == (pytest.approx(48.492429, rel=1e-7), pytest.approx(7.6673263, rel=1e-7), None)


def test_steps_with_mc_events_unchanged():
    # 40 of 12,000: 3.3333e-3 ± 5.261671e-4 against published 4.5e-3: ratio 0.74074 ± 0.11693;
    # the error is below the tolerance: failed; band 3.3333e-3 ± hypot(Δ, 5.261671e-4)
    eff, err, up = _efficiency(_cutflow([12000, 2251, 40, 0]), 2, 0)
    assert up is None
    c = Comparison("cutflow", "b", "NN-4j", ">= 4b", 4.5e-3, eff, err, 0.15, ours_error_up=up)
    c.variations["isr_up"] = Comparison("cutflow", "b", "NN-4j", ">= 4b", 4.5e-3, 3.5e-3, err, 0.15)
    assert (c.ratio, c.ratio_error) == (pytest.approx(0.7407407), pytest.approx(0.1169260, rel=1e-6))
    assert c.error_up == c.ours_error
    assert c.ratio_error_up == c.ratio_error
    assert c.status == "failed"
    lo, hi = c.interval
    assert lo == pytest.approx(40 / 12000 - 5.261671e-4, rel=1e-6)  # Δ↓ = 0
    assert hi == pytest.approx(40 / 12000 + math.hypot(3.5e-3 - 40 / 12000, 5.261671e-4), rel=1e-6)
    assert hi == pytest.approx(3.8852660e-3, rel=1e-6)
    assert c.covered is False
    assert "ours_error_up" not in c.to_dict()
    assert "ratio_error_up" not in c.to_dict()
    # a step the sample resolves keeps the existing rule, with the same error both ways
    near = Comparison("cutflow", "b", "NN-4j", ">= 4b", 4.5e-3, eff, 1.2e-3, 0.15)
    assert near.status == "mc-limited"  # 0.741 ± 0.267 (> 0.15), 0.97 σ
