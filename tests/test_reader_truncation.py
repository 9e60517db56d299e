"""Truncated event files are errors, never shorter samples or changed values.

A small file of each format (HepMC3, HepMC2, LHE; plain and gzip) is cut at every line boundary
and at several points inside every line; each cut must raise InputError. The complete file reads
fully and equals pyhepmc's reading of it (HepMC) or the hand-written numbers (LHE).
"""

from __future__ import annotations

import gzip

import numpy as np
import pyhepmc
import pytest

from hepmc_samples import SMALL_LHE, small_texts
from recast_ml import InputError, read_events

FOOTERS = {
    "hepmc3": "HepMC::Asciiv3-END_EVENT_LISTING",
    "hepmc2": "HepMC::IO_GenEvent-END_EVENT_LISTING",
    "lhe": "</LesHouchesEvents>",
}


@pytest.fixture(scope="module")
def small_files():
    """format -> the text of a small complete file."""
    return small_texts()


def cut_points(text: str, footer: str) -> list[int]:
    """Every line boundary and, in every line, in the middle, inside its last field and just
    before its newline, up to (not including) the end of the footer: a file cut at any of these
    lacks data."""
    end = text.index(footer) + len(footer)
    points = set()
    start = 0
    for line in text[:end].splitlines(keepends=True):
        stop = start + len(line.rstrip("\n"))
        points.update({start, (start + stop) // 2, stop - 1, stop})
        start += len(line)
    return sorted(p for p in points if 0 <= p < end)


def write(path, text: str, compressed: bool):
    if compressed:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2", "lhe"])
def test_every_cut_is_an_error(small_files, tmp_path, fmt, compressed):
    text = small_files[fmt]
    points = cut_points(text, FOOTERS[fmt])
    assert len(points) > 40
    accepted, silent = [], []
    for c in points:
        path = write(tmp_path / f"cut{c}.{fmt}{'.gz' if compressed else ''}", text[:c], compressed)
        try:
            batch = read_events(path)
        except InputError as e:
            if not str(e).startswith(f"{path}:"):
                silent.append((c, str(e)))
        else:
            accepted.append((c, len(batch)))
        path.unlink()
    assert accepted == [], f"{fmt}: truncated files read without error (cut, events)"
    assert silent == [], "messages without file:line"


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2", "lhe"])
def test_every_cut_of_the_gzip_stream_is_an_error(small_files, tmp_path, fmt):
    data = gzip.compress(small_files[fmt].encode())
    accepted = []
    for c in range(0, len(data), max(1, len(data) // 80)):
        path = tmp_path / f"cut{c}.{fmt}.gz"
        path.write_bytes(data[:c])
        try:
            read_events(path)
        except InputError:
            pass
        else:
            accepted.append(c)
    assert accepted == []


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_complete_small_hepmc_file_reads_fully(small_files, tmp_path, fmt, compressed):
    text = small_files[fmt]
    path = write(tmp_path / f"small.{fmt}{'.gz' if compressed else ''}", text, compressed)
    with pyhepmc.open(path) as f:
        ref = list(f)
    batch = read_events(path)
    assert len(batch) == len(ref) == 3
    for i, g in enumerate(ref):
        sl = batch.event_slice(i)
        # HepMC3's HepMC2 reader orders particles vertex by vertex: compare as sorted rows
        ours = sorted(
            zip(
                batch.pid[sl].tolist(),
                batch.status[sl].tolist(),
                batch.px[sl].tolist(),
                batch.pz[sl].tolist(),
                batch.e[sl].tolist(),
                batch.mass[sl].tolist(),
                strict=True,
            )
        )
        theirs = sorted(
            (p.pid, p.status, p.momentum.px, p.momentum.pz, p.momentum.e, p.generated_mass) for p in g.particles
        )
        assert ours == theirs
        assert batch.weight[i] == g.weights[0]
        assert batch.event_number[i] == g.event_number
    assert 11 in batch.status.tolist()  # the last particle of the file (status 11) is intact
    assert batch.cross_section_pb == 42.5


def test_complete_small_lhe_file_reads_fully(tmp_path):
    batch = read_events(write(tmp_path / "small.lhe", SMALL_LHE, False))
    np.testing.assert_array_equal(batch.particle_offsets, [0, 4, 6])
    np.testing.assert_array_equal(batch.pid, [21, 21, 6, 24, -1, 1])
    np.testing.assert_array_equal(batch.weight, [0.25, -1.0])
    assert batch.cross_section_pb == 12.0


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2", "lhe"])
def test_footer_without_final_newline_is_complete(small_files, tmp_path, fmt):
    """Only the newline after the footer is missing: no data is, the file reads fully."""
    text = small_files[fmt]
    end = text.index(FOOTERS[fmt]) + len(FOOTERS[fmt])
    full = len(read_events(write(tmp_path / f"full.{fmt}", text, False)))
    assert len(read_events(write(tmp_path / f"nonl.{fmt}", text[:end], False))) == full
    assert len(read_events(write(tmp_path / f"blank.{fmt}", text[:end] + "\n  \n\t", False))) == full


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_truncated_listing_followed_by_another_is_an_error(small_files, tmp_path, fmt):
    """`cat cut.hepmc3 whole.hepmc3`: the first listing has no footer, its last event is incomplete."""
    text = small_files[fmt]
    cut = text[: text.rindex("\nP ")] + "\n"
    path = write(tmp_path / f"cat.{fmt}", cut + text, False)
    line = cut.count("\n") + 1
    expected = rf"cat\.{fmt}:{line} \(event 2\): 'HepMC::Version .*' inside an event listing"
    with pytest.raises(InputError, match=expected):
        read_events(path)


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_events_after_the_footer_are_an_error(small_files, tmp_path, fmt):
    text = small_files[fmt]
    event = text[text.index("E ") : text.index("E ", text.index("E ") + 1)]
    path = write(tmp_path / f"after.{fmt}", text + event, False)
    line = text.count("\n") + 1
    expected = rf"after\.{fmt}:{line}: 'E 100 .*' after the HepMC::\S+-END_EVENT_LISTING footer"
    with pytest.raises(InputError, match=expected):
        read_events(path)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("hepmc3", r"file ends without the HepMC::Asciiv3-END_EVENT_LISTING footer \(truncated\?\)"),
        ("hepmc2", r"file ends without the HepMC::IO_GenEvent-END_EVENT_LISTING footer \(truncated\?\)"),
        ("lhe", r"file ends without </LesHouchesEvents> \(truncated\?\)"),
    ],
)
def test_cut_between_events_names_the_missing_footer(small_files, tmp_path, fmt, message):
    text = small_files[fmt]
    lines = text.splitlines(keepends=True)
    # cut just before the second event: a file that looks like a complete 1-event sample
    marker = "<event>" if fmt == "lhe" else "E "
    k = [i for i, line in enumerate(lines) if line.startswith(marker)][1]
    path = write(tmp_path / f"short.{fmt}", "".join(lines[:k]), False)
    with pytest.raises(InputError, match=rf"short\.{fmt}:{k}(?: \(event \d+\))?: {message}"):
        read_events(path)


@pytest.mark.parametrize("fmt", ["hepmc3", "hepmc2"])
def test_header_only_file_is_an_error(small_files, tmp_path, fmt):
    lines = small_files[fmt].splitlines(keepends=True)
    path = write(tmp_path / f"head.{fmt}", "".join(lines[:2]), False)
    with pytest.raises(InputError, match=r"head\.\w+:2: file ends without the HepMC::"):
        read_events(path)


def test_cut_inside_the_last_field_of_the_last_line(small_files, tmp_path):
    """'... 11' cut to '... 1' (status 11 -> 1) is an error, not a changed value."""
    text = small_files["hepmc3"]
    last = text[: text.index(FOOTERS["hepmc3"])].rstrip("\n")
    assert last.endswith(" 11")
    path = write(tmp_path / "cut.hepmc3", last[:-1], False)
    n_lines = last.count("\n") + 1
    with pytest.raises(InputError, match=rf"cut\.hepmc3:{n_lines} \(event 2\): file ends inside this line"):
        read_events(path)
