"""Reading HepMC files on worker threads (``EventFile(..., threads=N)``) gives exactly what one
thread gives: the same events in the same order, cross section and weight names, and for damaged or
truncated files the same error (file, line, event and text: the first in file order), after the
same batches. The reference is the one-thread reader, itself checked against pyhepmc
(tests/test_readers.py) and by the damage and truncation suites whose files are reused here. Chunks
of one event each (``chunk_bytes=1``) make every event boundary a boundary between worker tasks.
"""

from __future__ import annotations

import gzip
import math

import pytest

from hepmc_samples import small_texts
from recast_ml import ConfigError, EventFile, InputError, _core, read_events
from test_reader_damage import HEPMC_FIELD_CASES, NON_FINITE_CASES, damaged, replace
from test_reader_truncation import FOOTERS, cut_points, write

COLUMNS = (
    "event_number",
    "weight",
    "particle_offsets",
    "px",
    "py",
    "pz",
    "e",
    "mass",
    "pid",
    "status",
    "charge3",
    "parent_offsets",
    "parents",
)


def outcome(path, threads: int, batch: int = 1000, chunk_bytes: int = 1):
    """Everything a caller sees: the batches (all columns), then the end state or the error."""
    got = []
    try:
        reader = _core.open_events(str(path), "auto", threads, chunk_bytes)
        while True:
            b = reader.read(batch)
            if b.n_events == 0:
                break
            xs = (repr(b.cross_section_pb), repr(b.cross_section_error_pb))
            got.append((*(getattr(b, c).tolist() for c in COLUMNS), xs))
        end = ("ok", list(reader.weight_names), repr(reader.cross_section_pb), reader.events_read)
    except InputError as e:
        end = ("InputError", str(e), e.line, e.event)
    except FileNotFoundError as e:  # pragma: no cover - the files exist
        end = ("FileNotFoundError", str(e))
    return got, end


def assert_threads_agree(path, batches=(1000,), threads=(2, 3)):
    for batch in batches:
        ref = outcome(path, 1, batch)
        for n in threads:
            assert outcome(path, n, batch) == ref, f"{path.name}: threads={n}, batch={batch}"
    return ref


@pytest.fixture(scope="module")
def texts():
    return small_texts()


def test_outcome_sees_what_it_compares(texts, tmp_path):
    """The comparison is not vacuous: events are there, and an error's text and line too."""
    path = write(tmp_path / "ok.hepmc3", texts["hepmc3"], False)
    got, end = assert_threads_agree(path, batches=(1, 1000))
    assert sum(len(g[0]) for g in got) == 3
    assert end[0] == "ok"
    assert end[1] == ["nominal", "muR2"]
    bad, line = damaged(tmp_path, "bad.hepmc3", texts["hepmc3"], "P ", lambda f: replace(f, 4, "x"), 8)
    got, end = assert_threads_agree(bad, batches=(1,))
    assert end[0] == "InputError"
    assert end[2] == line
    assert f"bad.hepmc3:{line}" in end[1]
    assert len(got) == 1  # the event before the damaged one was returned first


@pytest.mark.parametrize(("fmt", "prefix", "skip", "edit", "message"), HEPMC_FIELD_CASES)
def test_damaged_field_counts(texts, tmp_path, fmt, prefix, skip, edit, message):
    path, line = damaged(tmp_path, f"bad.{fmt}", texts[fmt], prefix, edit, skip)
    _, end = assert_threads_agree(path, batches=(1, 2, 1000))
    assert end[0] == "InputError"
    assert message in end[1]
    assert end[2] == line


@pytest.mark.parametrize(("fmt", "prefix", "skip", "pos", "text", "bad", "what"), NON_FINITE_CASES[:12])
def test_non_finite_numbers(texts, tmp_path, fmt, prefix, skip, pos, text, bad, what):
    assert fmt in ("hepmc3", "hepmc2")
    path, line = damaged(tmp_path, f"nan.{fmt}", texts[fmt], prefix, lambda f: replace(f, pos, text), skip)
    _, end = assert_threads_agree(path, batches=(1, 1000))
    assert end[0] == "InputError"
    assert "not a finite number" in end[1]
    assert end[2] == line


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_every_cut(texts, tmp_path, fmt, compressed):
    """Every truncation of the small files: the same error (or, for the few cuts that leave the
    whole file, the same events) with 1, 2 and 3 threads, in one batch and in batches of 2."""
    text = texts[fmt]
    points = cut_points(text, FOOTERS[fmt])
    errors = 0
    for c in points:
        path = write(tmp_path / f"cut{c}.{fmt}{'.gz' if compressed else ''}", text[:c], compressed)
        _, end = assert_threads_agree(path, batches=(2, 1000))
        errors += end[0] == "InputError"
        path.unlink()
    assert errors == len(points)


def test_first_error_in_file_order_wins(texts, tmp_path):
    """A damaged particle in the second event and, later, a missing footer and a stray line: the
    particle is reported, as by one thread (the framing errors are found first by the splitting
    thread, but raised only after the events before them were parsed)."""
    lines = texts["hepmc3"].splitlines(keepends=True)
    k = [i for i, t in enumerate(lines) if t.startswith("P ")][7]
    lines[k] = replace(lines[k].split(), 4, "1.0.0") + "\n"
    body = "".join(lines).replace(FOOTERS["hepmc3"] + "\n", "")
    for tail, name in (("", "nofooter"), ("X stray\n", "stray"), ("HepMC::Asciiv3-START_EVENT_LISTING\n", "restart")):
        path = tmp_path / f"{name}.hepmc3"
        path.write_text(body + tail)
        _, end = assert_threads_agree(path, batches=(1, 1000), threads=(2, 4))
        assert end[0] == "InputError", end
        assert end[2] == k + 1, end
        assert "expected px, got '1.0.0'" in end[1], end
        # without the damaged particle, the framing error is the one reported, by every thread count
        path.write_text("".join(texts["hepmc3"]).replace(FOOTERS["hepmc3"] + "\n", "") + tail)
        _, end = assert_threads_agree(path, batches=(1, 1000), threads=(2, 4))
        assert end[0] == "InputError"
        assert end[2] != k + 1


def test_event_count_check_at_a_chunk_end(texts, tmp_path):
    """A particle line removed from the last event of a chunk: the count check that runs when the
    next 'E' line (the next chunk's first line) arrives names the event line, as with one thread."""
    lines = texts["hepmc3"].splitlines(keepends=True)
    k = [i for i, t in enumerate(lines) if t.startswith("P ")][5]  # last particle of event 0
    path = tmp_path / "short.hepmc3"
    path.write_text("".join(lines[:k] + lines[k + 1 :]))
    _, end = assert_threads_agree(path, batches=(1, 1000))
    assert end[0] == "InputError"
    assert "particles but 5 were found" in end[1]


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_concatenated_listings_and_changing_cross_section(texts, tmp_path, fmt):
    """Three listings one after the other (`cat`), the second with other weight names and cross
    sections: weight names, the running cross section and all events agree, batch by batch."""
    text = texts[fmt]
    other = text.replace("nominal", "central").replace("511", "612")
    path = tmp_path / f"cat.{fmt}.gz"
    path.write_bytes(gzip.compress((text + "\n" + other + text).encode()))
    got, end = assert_threads_agree(path, batches=(1, 2, 4, 1000), threads=(2, 5))
    assert end[0] == "ok"
    assert end[3] == 9
    assert len({g[-1] for g in got}) >= 1


def test_large_file_default_chunks(tmp_path):
    """A few MB (many 1 MiB chunks, several in flight per worker) read in the batch sizes
    recast-ml uses: identical to one thread, also through the public API."""
    from recast_ml.io import write_hepmc3
    from recast_ml.pythia import PythiaGenerator

    events = PythiaGenerator("ttbar", seed=5).generate(40)
    path = tmp_path / "ttbar.hepmc3"
    write_hepmc3(events, path, cross_section_pb=7.5)
    assert path.stat().st_size > 4 * (1 << 20)
    for batch in (7, 1000):
        ref = outcome(path, 1, batch, chunk_bytes=0)
        assert outcome(path, 4, batch, chunk_bytes=0) == ref
    one, four = read_events(path), read_events(path, threads=4)
    for col in COLUMNS:
        assert getattr(one, col).tolist() == getattr(four, col).tolist(), col
    assert math.isclose(four.cross_section_pb, 7.5)


def test_lhe_is_read_on_one_thread_with_the_same_result(texts, tmp_path):
    path = write(tmp_path / "s.lhe", texts["lhe"], False)
    got, end = assert_threads_agree(path, batches=(1, 1000))
    assert end[0] == "ok"
    assert sum(len(g[0]) for g in got) > 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_thread_count_is_checked(texts, tmp_path, bad):
    path = write(tmp_path / "ok.hepmc3", texts["hepmc3"], False)
    with pytest.raises(ConfigError, match="threads must be"):
        EventFile(path, threads=bad)
    with EventFile(path, threads=2) as f:
        assert f.threads == 2
        assert len(f.read(10)) == 3


def test_error_is_raised_again_by_later_reads(texts, tmp_path):
    """After an error a threaded reader stays failed (no event after the damage is returned)."""
    path, line = damaged(tmp_path, "bad.hepmc3", texts["hepmc3"], "P ", lambda f: replace(f, 4, "x"), 8)
    reader = _core.open_events(str(path), "auto", 2, 1)
    assert reader.read(1).n_events == 1
    with pytest.raises(InputError, match=f"bad.hepmc3:{line}"):
        reader.read(1)
    with pytest.raises(InputError, match=f"bad.hepmc3:{line}"):
        reader.read(1)
