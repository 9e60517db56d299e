"""HepMC3 export (recast_ml.io.write_hepmc3): read back by recast_ml's reader and by pyhepmc (the
HepMC3 library) as the independent reference."""

from __future__ import annotations

import numpy as np
import pytest

from recast_ml.detector import Detector
from recast_ml.io import read_events, write_hepmc3
from recast_ml.pythia import PythiaGenerator


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=29).generate(15)


def parent_sets(batch):
    po, par, off = batch.parent_offsets, batch.parents, batch.particle_offsets
    out = []
    for ev in range(len(batch)):
        for g in range(off[ev], off[ev + 1]):
            out.append(tuple(sorted(set(par[po[g] : po[g + 1]].tolist()))))
    return out


@pytest.mark.parametrize("name", ["sample.hepmc3", "sample.hepmc3.gz"])
def test_round_trip_through_recast_reader(ttbar, tmp_path, name):
    path = tmp_path / name
    dropped = write_hepmc3(ttbar, path, cross_section_pb=511.0, cross_section_error_pb=2.5)
    back = read_events(path)
    assert back.cross_section_pb == 511.0
    assert back.cross_section_error_pb == 2.5
    for col in ("event_number", "weight", "particle_offsets", "px", "py", "pz", "e", "mass", "pid", "status"):
        np.testing.assert_array_equal(getattr(back, col), getattr(ttbar, col), err_msg=col)
    before, after = parent_sets(ttbar), parent_sets(back)
    kept = sum(a == b for a, b in zip(before, after, strict=True))
    lost = sum(b != () and a == () for a, b in zip(after, before, strict=True))
    assert kept + lost == len(before)  # a link is either kept exactly or dropped entirely
    assert lost == dropped
    assert 0 < dropped < 0.2 * len(before)  # Pythia's initial-state history; decays are kept


def test_hepmc3_library_reads_the_same_graph(ttbar, tmp_path):
    pyhepmc = pytest.importorskip("pyhepmc")
    path = tmp_path / "sample.hepmc3"
    write_hepmc3(ttbar, path)
    ours = parent_sets(read_events(path))
    off = ttbar.particle_offsets
    with pyhepmc.open(path) as f:
        events = list(f)
    assert len(events) == len(ttbar)
    k = 0
    for ev, g in enumerate(events):
        assert g.event_number == ttbar.event_number[ev]
        assert len(g.particles) == off[ev + 1] - off[ev]
        for i, p in enumerate(g.particles):
            gi = off[ev] + i
            assert p.pid == ttbar.pid[gi]
            assert p.status == ttbar.status[gi]
            assert p.momentum.px == ttbar.px[gi]
            assert p.momentum.e == ttbar.e[gi]
            parents = tuple(sorted(q.id - 1 for q in p.parents))
            assert parents == ours[k]
            k += 1


def test_detector_objects_unchanged_after_export(ttbar, tmp_path):
    path = tmp_path / "sample.hepmc3.gz"
    write_hepmc3(ttbar, path)
    det = Detector("atlas_run2")
    a, b = det.reconstruct(ttbar), det.reconstruct(read_events(path))
    for coll in ("jets", "electrons", "muons", "taus", "photons"):
        assert a[coll].pt.tolist() == b[coll].pt.tolist(), coll
    assert a.met.pt.tolist() == b.met.pt.tolist()


def test_unwritable_path_is_an_error(ttbar, tmp_path):
    with pytest.raises(RuntimeError, match="cannot open for writing"):
        write_hepmc3(ttbar, tmp_path / "no" / "such" / "dir.hepmc3")
    # written under a temporary name and renamed at the end: nothing else is left behind
    write_hepmc3(ttbar, tmp_path / "ok.hepmc3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.hepmc3"]


def test_writer_in_batches_writes_the_one_batch_file(ttbar, tmp_path):
    import gzip

    from recast_ml import EventBatch
    from recast_ml.io import HepMC3Writer
    from recast_ml.pythia import PythiaGenerator

    parts = list(PythiaGenerator("ttbar", seed=29).batches(15, chunk_size=6))  # the events of `ttbar`
    once = tmp_path / "once.hepmc3.gz"
    write_hepmc3(ttbar, once, cross_section_pb=1.5, cross_section_error_pb=0.5)
    chunked = tmp_path / "chunked.hepmc3.gz"
    with HepMC3Writer(chunked, cross_section_pb=1.5, cross_section_error_pb=0.5) as out:
        for p in parts:
            out.write(p)
        assert out.events_written == 15
        assert not chunked.exists()
        assert (tmp_path / "chunked.hepmc3.gz.part").exists()
    assert gzip.decompress(chunked.read_bytes()) == gzip.decompress(once.read_bytes())
    with pytest.raises(ValueError, match="closed"):
        out.write(parts[0])

    # an error while writing: the partial file is removed, nothing carries the final name
    def fail_midway() -> None:
        with HepMC3Writer(tmp_path / "failed.hepmc3") as out:
            out.write(EventBatch.concatenate(parts[:1]))
            raise KeyError("analysis failed")

    with pytest.raises(KeyError):
        fail_midway()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.hepmc3.gz", "once.hepmc3.gz"]


def line_counts(path):
    """Lines of a HepMC3 file by their first character (E, V, P, ...)."""
    counts: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            counts[line[:1]] = counts.get(line[:1], 0) + 1
    return counts


def hepmc3_library_copy(src, dst):
    """The HepMC3 library's WriterAscii output for the events of `src` (read by the library)."""
    pyhepmc = pytest.importorskip("pyhepmc")
    with pyhepmc.open(src) as f:
        events = list(f)
    with pyhepmc.open(dst, "w", format="HepMC3") as out:
        for g in events:
            out.write(g)
    return events


def assert_same_graph(ours, ref):
    """pyhepmc events equal particle by particle: id, pid, status, momentum, generated mass, the
    ids of parents and children, and the number of vertices (the topology)."""
    assert len(ours) == len(ref)
    for g, h in zip(ours, ref, strict=True):
        assert g.event_number == h.event_number
        assert len(g.particles) == len(h.particles)
        assert len(g.vertices) == len(h.vertices)
        for p, q in zip(g.particles, h.particles, strict=True):
            assert (p.id, p.pid, p.status) == (q.id, q.pid, q.status)
            assert (p.momentum.px, p.momentum.py, p.momentum.pz, p.momentum.e) == (
                q.momentum.px,
                q.momentum.py,
                q.momentum.pz,
                q.momentum.e,
            )
            assert p.generated_mass == q.generated_mass
            assert sorted(x.id for x in p.parents) == sorted(x.id for x in q.parents), (g.event_number, p.id)
            assert sorted(x.id for x in p.children) == sorted(x.id for x in q.children), (g.event_number, p.id)


def test_file_of_the_hepmc3_library_written_back_equal_particle_by_particle(hepmc_files, tmp_path):
    """A file written by the HepMC3 library (12 hadronised Pythia events), read by recast and
    written by recast: pyhepmc reads the same particles and graph from both, recast reads back the
    same columns, and the vertex lines are those the library writes (one per vertex with several
    incoming particles; decays name their parent particle)."""
    pyhepmc = pytest.importorskip("pyhepmc")
    src = hepmc_files["hepmc3"]
    batch = read_events(src)
    ours = tmp_path / "ours.hepmc3"
    assert write_hepmc3(batch, ours) == 0  # a HepMC graph: every link is kept
    with pyhepmc.open(src) as f:
        ref = list(f)
    with pyhepmc.open(ours) as f:
        back = list(f)
    assert_same_graph(back, ref)
    again = read_events(ours)
    for col in ("particle_offsets", "px", "py", "pz", "e", "mass", "pid", "status", "parent_offsets", "parents"):
        np.testing.assert_array_equal(getattr(again, col), getattr(batch, col), err_msg=col)
    n_ours, n_src = line_counts(ours), line_counts(src)
    assert n_ours["P"] == n_src["P"]
    assert n_ours.get("V", 0) == n_src.get("V", 0)
    assert n_ours.get("V", 0) < sum(len(g.vertices) for g in ref) // 5


def test_vertex_lines_as_the_hepmc3_library_writes_them(ttbar, tmp_path):
    """Events from recast's own Pythia interface (string fragmentation: vertices with many
    incoming partons; decays: one): recast's file has the V lines the library writes for the same
    events (the old writer wrote one per vertex, ~20 times as many), and the library's copy of
    it is the same graph."""
    ours = tmp_path / "ours.hepmc3"
    write_hepmc3(ttbar, ours)
    lib = tmp_path / "lib.hepmc3"
    events = hepmc3_library_copy(ours, lib)
    pyhepmc = pytest.importorskip("pyhepmc")
    with pyhepmc.open(lib) as f:
        assert_same_graph(list(f), events)
    n_ours, n_lib = line_counts(ours), line_counts(lib)
    n_vertices = sum(len(g.vertices) for g in events)
    assert n_ours["V"] == n_lib["V"]
    assert 0 < n_ours["V"] < n_vertices // 5
    assert abs(sum(n_ours.values()) - sum(n_lib.values())) <= 5  # header lines may differ
    # recast's reader takes both files to the same columns
    a, b = read_events(ours), read_events(lib)
    for col in ("particle_offsets", "px", "pz", "e", "pid", "status", "parent_offsets", "parents"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col), err_msg=col)
