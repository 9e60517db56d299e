"""Re-weighting an analysis result with per-event alternative weights (generator variations):
``AnalysisResult.reweighted(w)`` (C++ ``Result::reweighted``) gives the cutflows and bins of the
same events with weights ``w`` without running the analysis again. References: the analysis run
again through the normal event loop with the events' weights replaced by ``w``; the nominal
result itself (bit for bit) for the nominal weights."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from recast_ml import ConfigError, EventBatch, InputError, _core
from recast_ml.analysis import Analysis, AnalysisResult, run_batches, table_from_arrays
from recast_ml.pythia import simplified_model_generator
from toy_events import random_jets, random_met

TOY = Path(__file__).parent / "data" / "toy_analysis.yaml"
# the toy analysis plus binned regions with values below, between and above the edges and missing
# values (fourth_pt is NaN for events with fewer than four jets): bin_index -1 and `outside`
EXTRA_REGIONS = """
  - name: MB-narrow
    inherit: presel
    bins: {variable: meff, edges: [250, 400, 600]}
  - name: MB-4th
    inherit: presel
    bins: {variable: fourth_pt, edges: [40, 60, 100]}
"""


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def assert_sums_equal(got: AnalysisResult, ref: AnalysisResult, *, exact: bool = True) -> None:
    """Cutflows (n, sumw, sumw2) and bins (n, sumw, sumw2, outside) equal: bit for bit, or to
    1e-12 relative (raw counts always exactly)."""
    assert list(got.cutflows) == list(ref.cutflows)
    assert list(got.bins) == list(ref.bins)

    def same(a: np.ndarray, b: np.ndarray) -> None:
        if exact:
            assert a.tolist() == b.tolist()
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)

    for name, cf in ref.cutflows.items():
        g = got.cutflows[name]
        assert g.names == cf.names
        assert g.n.tolist() == cf.n.tolist(), name
        same(g.sumw, cf.sumw)
        same(g.sumw2, cf.sumw2)
    for name, b in ref.bins.items():
        g = got.bins[name]
        assert g.edges.tolist() == b.edges.tolist()
        assert g.n.tolist() == b.n.tolist(), name
        assert g.outside == b.outside, name
        same(g.sumw, b.sumw)
        same(g.sumw2, b.sumw2)


def steep_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Positive weights spanning many orders of magnitude: their sums depend on the order of the
    additions, so that only the same order reproduces a result bit for bit."""
    return rng.lognormal(0.0, 3.0, n)


def toy_arrays(n: int, seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    jets = random_jets(rng, n, n_min=0, n_max=6, pt_mean=80, pt_min=20, abs_eta_max=3)
    tight = rng.uniform(size=n) < 0.1  # a few events with one tight electron (fail "no lepton")
    counts = tight.astype(np.int64)
    k = int(counts.sum())
    electrons = ak.unflatten(
        ak.zip(
            {
                "pt": rng.uniform(20, 100, k),
                "eta": rng.uniform(-2, 2, k),
                "phi": rng.uniform(-3, 3, k),
                "mass": np.zeros(k),
                "tight": np.ones(k, bool),
            }
        ),
        counts,
    )
    met = random_met(rng, n, pt_mean=80)
    return {"jets": jets, "electrons": electrons}, {"met": met}


@pytest.fixture(scope="module")
def toy_definition(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy_binned.yaml"
    path.write_text(TOY.read_text() + EXTRA_REGIONS)
    return path


N_TOY = 1000  # four blocks of 256 events, the last one partial


@pytest.fixture(scope="module")
def toy(toy_definition):
    """(analysis, collections, records, nominal weights, nominal result)."""
    collections, records = toy_arrays(N_TOY, seed=3)
    w0 = steep_weights(np.random.default_rng(4), N_TOY)
    table = table_from_arrays(collections, records, weight=w0)
    ana = Analysis.for_arrays(toy_definition, table)
    return ana, collections, records, w0, ana.run_table(table, cross_section=2.0)


def table_slice(collections: dict, records: dict, weights: np.ndarray, sl: slice) -> dict:
    return table_from_arrays(
        {k: v[sl] for k, v in collections.items()}, {k: v[sl] for k, v in records.items()}, weight=weights[sl]
    )


# ------------------------------------------------------------------------------------------------
# toy analysis: bins, outside, independent reference
# ------------------------------------------------------------------------------------------------
def test_the_nominal_weights_reproduce_the_toy_result_bit_for_bit(toy):
    _ana, _, _, w0, nominal = toy
    again = nominal.reweighted(w0)
    assert_sums_equal(again, nominal, exact=True)
    assert again.to_dict() == nominal.to_dict()
    # the test can fail: one sum over all events in order (not in blocks of 256) differs
    flat = 0.0
    for x in w0[nominal.passed[:, 0]].tolist():  # left to right, not in blocks
        flat += x
    assert flat == pytest.approx(nominal.cutflows["presel"].sumw[-1], rel=1e-12)
    assert flat != nominal.cutflows["presel"].sumw[-1]


@pytest.mark.parametrize("threads", [1, 2])
def test_reweighted_equals_the_analysis_run_with_those_weights(toy, threads):
    ana, collections, records, w0, _ = toy
    nominal = ana.run_table(table_from_arrays(collections, records, weight=w0), threads=threads)
    w = steep_weights(np.random.default_rng(11), N_TOY)
    ref = ana.run_table(table_from_arrays(collections, records, weight=w), threads=threads)
    got = nominal.reweighted(w)
    assert_sums_equal(got, ref, exact=True)  # the same additions in the same order
    assert_sums_equal(got, ref, exact=False)
    # the regions and bins are not trivially empty or full
    for name in ("MB", "MB-narrow", "MB-4th"):
        b = got.bins[name]
        assert (b.n > 0).sum() >= 2, name
    assert got.bins["MB-narrow"].outside > 0
    assert got.bins["MB-4th"].outside > 0
    assert 0 < got.cutflows["presel"].n[-1] < N_TOY


def test_per_event_columns_agree_with_passed_cutflows_and_bins(toy):
    _, _, _, _, r = toy
    core = r._core
    nr = len(r.cutflows)
    steps, bins = core.steps_passed, core.bin_index
    assert steps.dtype == np.uint16
    assert bins.dtype == np.int32
    assert steps.shape == bins.shape == (r.n_events, nr)
    assert not steps.flags.writeable
    assert not bins.flags.writeable
    for k, (name, cf) in enumerate(r.cutflows.items()):
        n_steps = len(cf.names)
        s = steps[:, k].astype(np.int64)
        assert s.min() >= 1
        assert s.max() <= n_steps
        np.testing.assert_array_equal(r.passed[:, k], s == n_steps)
        assert [int((s > j).sum()) for j in range(n_steps)] == cf.n.tolist(), name
        bi = bins[:, k]
        if name not in r.bins:
            assert (bi == -1).all(), name
            continue
        b = r.bins[name]
        assert (bi[~r.passed[:, k]] == -1).all()
        assert np.bincount(bi[bi >= 0], minlength=len(b.n)).tolist() == b.n.tolist(), name
        assert int((r.passed[:, k] & (bi == -1)).sum()) == b.outside
        # the bin is the one of the binned value (edges [lo, hi)), -1 outside or missing
        x = r.variable("meff" if name != "MB-4th" else "fourth_pt")
        expect = np.searchsorted(b.edges, x, side="right") - 1
        expect[~np.isfinite(x) | (x < b.edges[0]) | (x >= b.edges[-1]) | ~r.passed[:, k]] = -1
        np.testing.assert_array_equal(bi, expect)


def test_reweighted_combined_parts_follow_the_order_of_the_combination(toy):
    ana, collections, records, w0, whole = toy
    cut = 300  # not a multiple of the block size: the halves' blocks differ from the whole's
    first = ana.run_table(table_slice(collections, records, w0, slice(0, cut)))
    second = ana.run_table(table_slice(collections, records, w0, slice(cut, None)))
    both = AnalysisResult.combine([first, second])
    np.testing.assert_array_equal(both._core.steps_passed, whole._core.steps_passed)
    np.testing.assert_array_equal(both._core.bin_index, whole._core.bin_index)
    # the nominal weights give the combined result bit for bit (sums in the combination's order,
    # which differ from the whole's in the last bits: summing as the whole does would fail here)
    assert any(both.cutflows[k].sumw.tolist() != whole.cutflows[k].sumw.tolist() for k in whole.cutflows)
    assert_sums_equal(both.reweighted(w0), both, exact=True)
    w = steep_weights(np.random.default_rng(12), N_TOY)
    got = both.reweighted(w)
    # = the halves reweighted, then combined (bit for bit) ...
    halves = AnalysisResult.combine([first.reweighted(w[:cut]), second.reweighted(w[cut:])])
    assert_sums_equal(got, halves, exact=True)
    # ... = the whole reweighted, up to the order of the additions
    assert_sums_equal(got, whole.reweighted(w), exact=False)
    # three parts, combined in two steps: ((a + b) + c) kept as well
    a, b, c = (
        ana.run_table(table_slice(collections, records, w0, s))
        for s in (slice(0, 100), slice(100, 700), slice(700, None))
    )
    nested = AnalysisResult.combine([a, b]).merge(c)
    assert_sums_equal(nested.reweighted(w0), nested, exact=True)


def test_the_reweighted_result_is_a_result_of_the_variation(toy, tmp_path):
    _, _, _, w0, nominal = toy
    w = steep_weights(np.random.default_rng(13), N_TOY)
    var = nominal.reweighted(w)
    assert var.n_events == nominal.n_events
    assert var.sum_weights == pytest.approx(float(np.sum(w)), rel=1e-12)
    assert var.sum_weights == var.cutflows["presel"].sumw[0]
    assert var.cross_section_pb == nominal.cross_section_pb == 2.0
    assert var.luminosity_fb == nominal.luminosity_fb
    # normalised to the variation's own sum of weights: sigma x L x (its efficiency)
    assert var.scale == pytest.approx(2.0 * 100 * 1000 / np.sum(w), rel=1e-12)
    cf = var.cutflows["SR-high"]
    assert var.yield_("SR-high")[0] == pytest.approx(2.0 * 100 * 1000 * cf.sumw[-1] / np.sum(w), rel=1e-12)
    assert var.bins["MB"].names == nominal.bins["MB"].names == ["low", "mid", "high"]
    # the same events: the nominal's per-event views
    assert var.variables is nominal.variables
    assert var.passed is nominal.passed
    np.testing.assert_array_equal(var.region_mask("SR-4j"), nominal.region_mask("SR-4j"))
    # the C++ result of a variation holds no per-event columns
    assert var._core.steps_passed.shape == (0, len(var.cutflows))
    assert var._core.variables.shape == (0, len(var.variable_names))
    # a variation of a variation is a variation of the nominal
    w2 = steep_weights(np.random.default_rng(14), N_TOY)
    assert_sums_equal(var.reweighted(w2), nominal.reweighted(w2), exact=True)
    assert_sums_equal(var.reweighted(w0), nominal, exact=True)
    # results document
    doc = var.to_dict()
    assert doc["sample"]["sum_weights"] == var.sum_weights
    assert doc["regions"][0]["cutflow"][0]["sumw"] == var.sum_weights
    assert var.save(tmp_path / "var.json").is_file()
    var.metadata["variation"] = "fsr_up"  # its own metadata
    assert "variation" not in nominal.metadata


def test_bad_weights_raise_typed_errors_naming_the_problem(toy):
    _, _, _, w0, r = toy
    with pytest.raises(ConfigError, match=rf"expected {N_TOY} weights \(one per event\), got {N_TOY - 1}"):
        r.reweighted(w0[:-1])
    bad = w0.copy()
    bad[417] = np.nan
    bad[500] = np.inf
    with pytest.raises(ConfigError, match=r"expected finite weights, event 417 has nan \(2 not finite\)"):
        r.reweighted(bad)
    with pytest.raises(ConfigError, match=r"expected a 1-D array .* shape \(1000, 1\)"):
        r.reweighted(w0[:, None])
    with pytest.raises(ConfigError, match=r"1-D array"):
        r.reweighted(np.array(["a"] * N_TOY))
    # the core itself (C++ Result::reweighted through the bindings)
    with pytest.raises(InputError, match=r"weight of event 417 is not finite") as err:
        r._core.reweighted(bad)
    assert err.value.event == 417
    with pytest.raises(ConfigError, match=r"expected one weight per event \(1000\), got 3"):
        r._core.reweighted(np.ones(3))
    with pytest.raises(ConfigError, match=r"1-D array of per-event weights, got 2 dimensions"):
        r._core.reweighted(np.ones((N_TOY, 1)))
    var_core = r._core.reweighted(w0)
    with pytest.raises(ConfigError, match=r"no per-event columns"):
        var_core.reweighted(w0)
    # a result with per-event columns and one without do not merge
    with pytest.raises(ValueError, match=r"per-event columns"):
        _core.Result.combine([r._core, var_core])


# ------------------------------------------------------------------------------------------------
# ATLAS-SUSY-2018-22 on Pythia events
# ------------------------------------------------------------------------------------------------
N_GLUINO = 300


@pytest.fixture(scope="module")
def gluino_chunks() -> list[EventBatch]:
    """Three chunks of one sample: the same events (and numbers) as one generate() call."""
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=5)
    return list(gen.batches(N_GLUINO, chunk_size=110))


def with_weights(events: EventBatch, w: np.ndarray) -> EventBatch:
    """The same particles with other event weights (the detector emulation does not read them)."""
    return EventBatch.from_arrays(
        events.particle_offsets,
        events.px,
        events.py,
        events.pz,
        events.e,
        events.pid,
        events.status,
        mass=events.mass,
        parent_offsets=events.parent_offsets,
        parents=events.parents,
        weight=w,
        event_number=events.event_number,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_susy_2018_22_reweighted_matches_a_run_with_the_weights(gluino_chunks, threads):
    ana = Analysis.load("ATLAS-SUSY-2018-22")
    events = EventBatch.concatenate(gluino_chunks)
    assert len(events) == N_GLUINO
    nominal = ana.run(events, cross_section=0.1, threads=threads)
    # the generator's own (unit) weights, and the copy of the events the references run on
    assert_sums_equal(nominal.reweighted(events.weight), nominal, exact=True)
    same = ana.run(with_weights(events, events.weight), cross_section=0.1, threads=threads)
    assert_sums_equal(same, nominal, exact=True)
    np.testing.assert_array_equal(same.passed, nominal.passed)
    # other weights: reweighted = the analysis run again on the events with those weights
    for seed in (21, 22):
        w = steep_weights(np.random.default_rng(seed), N_GLUINO)
        ref = ana.run(with_weights(events, w), cross_section=0.1, threads=threads)
        got = nominal.reweighted(w)
        assert_sums_equal(got, ref, exact=True)
        assert_sums_equal(got, ref, exact=False)
        # ... and that run's result reweighted by its own weights is itself, bit for bit
        assert_sums_equal(ref.reweighted(w), ref, exact=True)
        assert got.to_dict()["regions"] == ref.to_dict()["regions"]
    # the per-event columns say how far each event got
    steps = nominal._core.steps_passed
    for k, (name, cf) in enumerate(nominal.cutflows.items()):
        assert [int((steps[:, k] > j).sum()) for j in range(len(cf.names))] == cf.n.tolist(), name
        np.testing.assert_array_equal(nominal.passed[:, k], steps[:, k] == len(cf.names))
    assert (nominal._core.bin_index == -1).all()  # no `bins:` regions (its multi-bin SRs are split regions)
    pre = nominal.cutflows["presel"]
    assert 0 < pre.n[-1] < N_GLUINO  # not a comparison of empty or full selections


@pytest.mark.parametrize("threads", [1, 2])
def test_susy_2018_22_in_chunks_reweighted(gluino_chunks, threads):
    ana = Analysis.load("ATLAS-SUSY-2018-22")
    w0 = steep_weights(np.random.default_rng(31), N_GLUINO)
    bounds = np.cumsum([0, *(len(c) for c in gluino_chunks)])
    parts = [with_weights(c, w0[a:b]) for c, a, b in zip(gluino_chunks, bounds[:-1], bounds[1:], strict=True)]
    combined = run_batches([ana], parts, cross_section=0.1, threads=threads)[0]
    assert len(parts) == 3
    assert combined.n_events == N_GLUINO
    # per-chunk results combined: the nominal weights reproduce them bit for bit
    assert_sums_equal(combined.reweighted(w0), combined, exact=True)
    assert combined.reweighted(w0).to_dict() == combined.to_dict()
    # other weights: the chunks run with them and combined (the same additions)
    w = steep_weights(np.random.default_rng(32), N_GLUINO)
    varied = [with_weights(c, w[a:b]) for c, a, b in zip(gluino_chunks, bounds[:-1], bounds[1:], strict=True)]
    ref = run_batches([ana], varied, cross_section=0.1, threads=threads)[0]
    assert_sums_equal(combined.reweighted(w), ref, exact=True)
    # and the whole sample as one batch reweighted: equal up to the order of the additions
    whole = ana.run(with_weights(EventBatch.concatenate(gluino_chunks), w0), cross_section=0.1, threads=threads)
    np.testing.assert_array_equal(whole._core.steps_passed, combined._core.steps_passed)
    assert_sums_equal(combined.reweighted(w), whole.reweighted(w), exact=False)


def test_a_region_with_more_steps_than_steps_passed_holds_is_refused(toy):
    """steps_passed is 16 bits: at most 65535 steps ("all events" + 65534 cuts) per region."""
    import json

    ana, collections, records, w0, _ = toy
    text, blobs = ana.definition.resolved()
    doc = json.loads(text)
    cut = {"name": "c", "expr": {"text": "n_jets >= 0", "line": 7, "col": 3}}
    table = table_from_arrays(collections, records, weight=w0)
    schema = _core.table_schema(table)
    doc["regions"] = [{"name": "long", "cuts": [cut] * 65534}]
    longest = _core.Analysis.from_json(json.dumps(doc), "long.json", schema, blobs)  # the most there can be
    small = table_slice(collections, records, w0, slice(0, 3))
    r = longest.run_table(small, 1, {})
    assert r.steps_passed[:, 0].tolist() == [65535] * 3  # every cut passes: no wrap-around
    assert r.cutflow(0)[1][-1] == 3
    assert r.reweighted(np.array([1.0, 2.0, 4.0])).cutflow(0)[2][-1] == 7.0
    doc["regions"] = [{"name": "long", "cuts": [cut] * 65535}]
    with pytest.raises(ConfigError, match=r"region 'long' has 65535 cuts; at most 65534 are supported"):
        _core.Analysis.from_json(json.dumps(doc), "long.json", schema, blobs)
