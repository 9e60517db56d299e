"""One detector pass per chunk and card, shared by every analysis (run_batches): the objects stay
in C++ (an ObjectTable with awkward views) and each analysis runs on them with exactly the result
of running alone."""

from __future__ import annotations

import threading

import awkward as ak
import numpy as np
import pytest

from recast_ml import ConfigError, EventBatch, InputError
from recast_ml.analysis import Analysis, prefetched, run_batches, run_files
from recast_ml.detector import Detector
from recast_ml.objects import ObjectTable
from recast_ml.pythia import simplified_model_generator


@pytest.fixture(scope="module")
def parts() -> list[EventBatch]:
    """Three chunks of 12 events of one sample."""
    return [simplified_model_generator("gluino_direct", 2000, 800, seed=7 + k).generate(12) for k in range(3)]


@pytest.fixture(scope="module")
def gluinos(parts) -> EventBatch:
    return EventBatch.concatenate(parts)


def assert_same(got, ref):
    assert got.n_events == ref.n_events
    assert list(got.cutflows) == list(ref.cutflows)
    for name, cf in ref.cutflows.items():
        g = got.cutflow(name)
        assert g.names == cf.names
        assert g.n.tolist() == cf.n.tolist()
        assert g.sumw.tolist() == cf.sumw.tolist()  # bitwise
        assert g.sumw2.tolist() == cf.sumw2.tolist()
    for name, b in ref.bins.items():
        assert got.bins[name].n.tolist() == b.n.tolist()
        assert got.bins[name].sumw.tolist() == b.sumw.tolist()
    np.testing.assert_array_equal(got.variables, ref.variables)  # NaN == NaN here
    np.testing.assert_array_equal(got.passed, ref.passed)
    assert got.to_dict() == ref.to_dict()


def test_two_analyses_share_one_pass_and_give_each_ones_result(parts):
    analyses = [Analysis.load("ATLAS-SUSY-2018-22"), Analysis.load("ATLAS-SUSY-2019-04")]
    both = run_batches(analyses, parts, cross_section=0.1)
    for ana, got in zip(analyses, both, strict=True):
        alone = run_batches([ana], parts, cross_section=0.1)[0]
        assert_same(got, alone)
        # ... and Analysis.run per chunk (its own detector pass), combined: today's path
        key, pieces = 0, []
        for c in parts:
            pieces.append(ana.run(c, cross_section=0.1, first_event_key=key))
            key += len(c)
        assert_same(got, pieces[0].combine(pieces))
    assert both[0].passed.any()  # not a comparison of empty selections
    assert np.isfinite(both[0].variables).any()


def reseeded_card(tmp_path) -> Detector:
    """A second card: atlas_run2 with another run seed (same schema, other smearing)."""
    from recast_ml._data import cards_dir

    text = (cards_dir() / "atlas_run2.toml").read_text()
    assert "run_seed = 1\n" in text
    path = tmp_path / "atlas_seed2.toml"
    path.write_text(text.replace("run_seed = 1\n", "run_seed = 2\n", 1))
    return Detector(path)


def test_the_detector_runs_once_per_chunk_and_card(parts, monkeypatch, tmp_path):
    passes: list[tuple[int, ObjectTable]] = []
    seen: list[tuple[str, str, int]] = []
    reconstruct = Detector.reconstruct_table
    run_objects = Analysis.run_objects

    def counting_reconstruct(self, events, **kw):
        table = reconstruct(self, events, **kw)
        passes.append((kw["first_event_key"], table))
        return table

    def recording_run(self, table, **kw):
        seen.append((self.id, self.detector.card.hash, id(table)))
        return run_objects(self, table, **kw)

    monkeypatch.setattr(Detector, "reconstruct_table", counting_reconstruct)
    monkeypatch.setattr(Analysis, "run_objects", recording_run)
    atlas = [Analysis.load("ATLAS-SUSY-2018-22"), Analysis.load("ATLAS-SUSY-2019-04")]
    other = Analysis.load("ATLAS-SUSY-2018-22", detector=reseeded_card(tmp_path))
    assert other.detector.card.hash != atlas[0].detector.card.hash
    run_batches([atlas[0], other, atlas[1]], parts)
    # 3 chunks x 2 cards, not 3 chunks x 3 analyses
    assert [k for k, _ in passes] == [0, 0, 12, 12, 24, 24]
    assert len(seen) == 9
    atlas_card = atlas[0].detector.card.hash
    for c in range(3):
        chunk = seen[3 * c : 3 * c + 3]
        # per chunk: two tables, one per card; the two analyses of the ATLAS card got the same one
        same = {t for _, card, t in chunk if card == atlas_card}
        assert sorted(a for a, card, _ in chunk if card == atlas_card) == ["ATLAS-SUSY-2018-22", "ATLAS-SUSY-2019-04"]
        assert len(same) == 1
        assert same == {id(passes[2 * c][1])} or same == {id(passes[2 * c + 1][1])}
        assert len({t for _, _, t in chunk}) == 2
    assert all(t.large_r is False for _, t in passes)  # neither analysis reads large-R jets


LARGE_R = """format: recast_ml/analysis
format_version: 1
info: {id: FATJET-1, experiment: toy, sqrt_s: 13, luminosity: 1}
variables:
  n_fat: count(large_r_jets)
regions:
  - name: SR
    cuts:
      - ">= 1 fat jet": n_fat >= 1
"""


def test_large_r_jets_only_when_an_analysis_of_the_card_reads_them(parts, gluinos, tmp_path, monkeypatch):
    path = tmp_path / "fat.yaml"
    path.write_text(LARGE_R)
    fat = Analysis.load(path)
    det = fat.detector
    without = det.reconstruct_table(gluinos, large_r=False)
    with pytest.raises(ConfigError, match="uses large_r_jets, but the object table was reconstructed without them"):
        fat.run_objects(without)
    flags = []
    reconstruct = Detector.reconstruct_table

    def spy(self, events, **kw):
        flags.append(kw["large_r"])
        return reconstruct(self, events, **kw)

    monkeypatch.setattr(Detector, "reconstruct_table", spy)
    got = run_batches([Analysis.load("ATLAS-SUSY-2018-22"), fat], parts)
    assert flags == [True, True, True]
    assert_same(got[1], fat.run(gluinos))
    assert got[1].cutflow("SR").n[-1] > 0


def test_object_table_awkward_view_is_the_detector_output_without_copies(gluinos, tmp_path):
    det = Detector("atlas_run2")
    table = det.reconstruct_table(gluinos, first_event_key=5, large_r=True)
    assert len(table) == len(gluinos)
    assert table.first_event_key == 5
    assert table.large_r
    reco = det.reconstruct(gluinos, first_event_key=5, large_r=True)
    jets = table.collection("jets")
    assert ak.num(jets).tolist() == ak.num(reco.jets).tolist()
    for field in ("pt", "eta", "phi", "mass", "truth_pt"):
        assert ak.flatten(jets[field]).to_numpy().tolist() == ak.flatten(reco.jets[field]).to_numpy().tolist()
    assert ak.flatten(table.collection("large_r_jets").tau2).to_numpy().tolist() == (
        ak.flatten(reco.large_r_jets.tau2).to_numpy().tolist()
    )
    met = table.collection("met")
    np.testing.assert_array_equal(met.x.to_numpy(), reco.met.x.to_numpy())
    # zero copy: the awkward buffers are the table's columns
    flat_pt = table.core.fields("jets")["pt"]
    assert np.shares_memory(ak.to_numpy(ak.flatten(jets.pt)), flat_pt)
    assert not flat_pt.flags.writeable
    everything = table.to_awkward()
    assert set(ak.fields(everything)) == set(table.collections) | set(table.records)
    assert ak.flatten(everything.muons.pt).to_numpy().tolist() == ak.flatten(reco.muons.pt).to_numpy().tolist()
    np.testing.assert_array_equal(table.weight, gluinos.weight)
    assert "jvt" in table.bool_fields("jets")
    with pytest.raises(KeyError, match="no collection or record 'nope'"):
        table.collection("nope")
    # a table of another card is refused
    with pytest.raises(ConfigError, match="reconstructed with card"):
        Analysis.load("ATLAS-SUSY-2018-22", detector=reseeded_card(tmp_path)).run_objects(table)


# ------------------------------------------------------------------------------------------------
# reading ahead: with threads >= 2 run_files parses the next chunk while the current one runs
# ------------------------------------------------------------------------------------------------
def test_run_files_reading_ahead_gives_the_same_results(gluinos, tmp_path):
    from recast_ml.io import HepMC3Writer

    path = tmp_path / "g.hepmc3"
    with HepMC3Writer(path) as w:
        w.write(gluinos)
    ana = [Analysis.load("ATLAS-SUSY-2018-22"), Analysis.load("ATLAS-SUSY-2019-04")]
    ref = run_files(ana, [path, path], chunk_size=5, threads=1)  # 2 x 36 events in chunks of 5
    got = run_files(ana, [path, path], chunk_size=5, threads=2)
    for g, r in zip(got, ref, strict=True):
        assert_same(g, r)
        np.testing.assert_array_equal(g.variables, r.variables)  # NaN at the same places
        np.testing.assert_array_equal(g.passed, r.passed)


def test_prefetched_keeps_order_and_raises_where_the_producer_failed():
    def items():
        yield from (1, 2, 3)
        raise ValueError("bad chunk 4")

    stream = prefetched(items())
    assert [next(stream), next(stream), next(stream)] == [1, 2, 3]
    with pytest.raises(ValueError, match="bad chunk 4"):
        next(stream)


def test_prefetched_stops_and_closes_the_producer_when_the_consumer_stops():
    closed = threading.Event()

    def endless():
        try:
            k = 0
            while True:
                yield k
                k += 1
        finally:
            closed.set()

    stream = prefetched(endless())
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()  # e.g. an analysis error in run_batches: no hang, the file is closed
    assert closed.is_set()


def test_run_files_reading_ahead_reports_a_damaged_chunk_like_one_thread(gluinos, tmp_path):
    from recast_ml.io import HepMC3Writer

    path = tmp_path / "g.hepmc3"
    with HepMC3Writer(path) as w:
        w.write(gluinos)
    lines = path.read_text().splitlines(keepends=True)
    p_lines = [i for i, line in enumerate(lines) if line.startswith("P ")]
    k = p_lines[len(p_lines) * 3 // 4]  # a particle line in a late chunk
    lines[k] = lines[k].replace("P ", "P x", 1)
    path.write_text("".join(lines))
    ana = [Analysis.load("ATLAS-SUSY-2018-22")]
    errors = []
    for threads in (1, 2):
        with pytest.raises(InputError) as err:
            run_files(ana, [path], chunk_size=5, threads=threads)
        errors.append((str(err.value), err.value.line, err.value.event))
    assert errors[0] == errors[1]
    assert errors[0][1] == k + 1


def test_one_analysis_and_detector_used_from_several_threads_at_once(parts):
    """A scan worker with several threads (or a C++ program) shares one loaded Analysis and its
    detector between threads: calls made at the same time (the GIL is released in them) give the
    results of the same calls made one after the other, bit for bit."""
    analyses = [Analysis.load("ATLAS-SUSY-2018-22"), Analysis.load("ATLAS-SUSY-2019-04")]
    keys = [0, len(parts[0]), len(parts[0]) + len(parts[1])]
    jobs = [(a, k) for a in range(len(analyses)) for k in range(len(parts))] * 2

    def one(job: tuple[int, int]):
        a, k = job
        return analyses[a].run(parts[k], cross_section=0.1, first_event_key=keys[k])

    ref = [one(j) for j in jobs]

    def at_once() -> list:
        got: list = [None] * len(jobs)
        errors: list[BaseException] = []
        start = threading.Barrier(len(jobs))

        def work(i: int) -> None:
            try:
                start.wait()
                got[i] = one(jobs[i])
            except BaseException as e:  # re-raised below, in the test's thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        return got

    for _ in range(2):
        for g, r in zip(at_once(), ref, strict=True):
            assert_same(g, r)
    assert any(r.passed.any() for r in ref)  # not a comparison of empty selections
