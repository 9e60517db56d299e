"""Event-file readers against pyhepmc (the HepMC3 library) as the independent reference."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pyhepmc
import pytest

from recast_ml import EventBatch, EventFile, InputError, iter_events, read_events


def reference_events(path):
    with pyhepmc.open(path) as f:
        return list(f)


def particle_table(momenta, pids, statuses, parent_lists):
    """Per particle: (pid, status, px, py, pz, e, m, sorted parent keys), order-independent."""
    keys = [(int(pid), int(st), *map(float, mom)) for mom, pid, st in zip(momenta, pids, statuses, strict=False)]
    return sorted((k, tuple(sorted(keys[q] for q in parents))) for k, parents in zip(keys, parent_lists, strict=False))


def assert_same_as_pyhepmc(batch: EventBatch, ref_events, scale=1.0, same_order=True):
    """Compare with pyhepmc event by event and particle by particle.

    HepMC3's HepMC2 reader re-orders particles vertex by vertex, whereas recast keeps the order of
    the file; for HepMC2 the particles are therefore matched by content (kinematics, ids and their
    parents' content) instead of by index.
    """
    assert len(batch) == len(ref_events)
    for i, ref in enumerate(ref_events):
        sl = batch.event_slice(i)
        parts = ref.particles
        assert sl.stop - sl.start == len(parts), f"event {i}: particle count"
        assert batch.event_number[i] == ref.event_number
        assert batch.weight[i] == (ref.weights[0] if len(ref.weights) else 1.0)
        mom = (
            np.array([[p.momentum.px, p.momentum.py, p.momentum.pz, p.momentum.e, p.generated_mass] for p in parts])
            * scale
        )
        ref_pid = [p.pid for p in parts]
        ref_status = [p.status for p in parts]
        ref_parents = [[q.id - 1 for q in p.parents] for p in parts]
        ours = np.stack([batch.px[sl], batch.py[sl], batch.pz[sl], batch.e[sl], batch.mass[sl]], axis=1)
        our_parents = [batch.parents_of(i, k).tolist() for k in range(len(parts))]
        if same_order:
            np.testing.assert_allclose(ours, mom, rtol=1e-15, atol=0)
            np.testing.assert_array_equal(batch.pid[sl], ref_pid)
            np.testing.assert_array_equal(batch.status[sl], ref_status)
            for k in range(len(parts)):
                assert sorted(our_parents[k]) == sorted(ref_parents[k]), f"event {i} particle {k}"
        else:
            assert particle_table(ours, batch.pid[sl], batch.status[sl], our_parents) == particle_table(
                mom, ref_pid, ref_status, ref_parents
            ), f"event {i}"


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("flavour", ["hepmc3", "hepmc3.gz", "hepmc2", "hepmc2.gz"])
def test_reader_equals_pyhepmc_particle_by_particle(hepmc_files, flavour, threads):
    path = hepmc_files[flavour]
    ref = reference_events(path)
    batch = read_events(path, threads=threads)  # 12 events of ~250 kB: several 1 MiB chunks
    assert_same_as_pyhepmc(batch, ref, same_order=flavour.startswith("hepmc3"))
    assert batch.cross_section_pb == pytest.approx(ref[-1].cross_section.xsec(0), rel=1e-12)
    assert batch.cross_section_error_pb == pytest.approx(ref[-1].cross_section.xsec_err(0), rel=1e-12)
    assert batch.n_particles > 12 * 300  # hadronised events with MPI


def test_formats_are_detected(hepmc_files):
    for flavour, fmt in [("hepmc3", "hepmc3"), ("hepmc2.gz", "hepmc2")]:
        with EventFile(hepmc_files[flavour]) as f:
            assert f.format == fmt
    with pytest.raises(InputError, match="expected a hepmc2 file, found hepmc3"):
        EventFile(hepmc_files["hepmc3"], format="hepmc2")


def test_mev_units_are_converted_to_gev(hepmc_files):
    ref = reference_events(hepmc_files["hepmc3-mev"])
    assert ref[0].momentum_unit == pyhepmc.Units.MEV
    batch = read_events(hepmc_files["hepmc3-mev"])
    assert_same_as_pyhepmc(batch, ref, scale=1e-3)
    gev = read_events(hepmc_files["hepmc3"])
    np.testing.assert_allclose(batch.e, gev.e, rtol=1e-12)


def test_weight_names_and_streaming(hepmc_files):
    with EventFile(hepmc_files["hepmc3"]) as f:
        sizes = [len(b) for b in f.batches(5)]
        assert f.weight_names == ["w0", "w1"]
        assert f.events_read == 12
    assert sizes == [5, 5, 2]
    whole = read_events(hepmc_files["hepmc2"])
    parts = EventBatch.concatenate(iter_events(hepmc_files["hepmc2"], batch_size=4))
    for col in ("px", "pid", "status", "parents", "parent_offsets", "particle_offsets", "weight"):
        np.testing.assert_array_equal(getattr(parts, col), getattr(whole, col))
    assert len(read_events(hepmc_files["hepmc3.gz"], max_events=3)) == 3


def test_charge_from_pdg_id(hepmc_files):
    batch = read_events(hepmc_files["hepmc3"])
    table = {
        11: -3,
        -11: 3,
        13: -3,
        22: 0,
        211: 3,
        -211: -3,
        111: 0,
        321: 3,
        2212: 3,
        -2212: -3,
        2112: 0,
        6: 2,
        -6: -2,
        5: -1,
        21: 0,
        24: 3,
        130: 0,
        310: 0,
        3122: 0,
        3222: 3,
        443: 0,
    }
    for pid, q3 in table.items():
        sel = batch.pid == pid
        if sel.any():
            assert set(batch.charge3[sel].tolist()) == {q3}, pid
    final = batch.status > 0  # the fixture keeps Pythia's raw status codes: > 0 is final
    per_event = [int(batch.charge3[batch.event_slice(i)][final[batch.event_slice(i)]].sum()) for i in range(len(batch))]
    assert per_event == [6] * len(batch)  # two protons in, charge conserved in the final state


LHE = """<LesHouchesEvents version="3.0">
<header>
<!-- hand-written test file -->
</header>
<init>
2212 2212 6.500000e+03 6.500000e+03 0 0 247000 247000 -4 2
1.20e+01 3.0e-01 1.0e+00 1
4.00e+00 4.0e-01 1.0e+00 2
</init>
<event>
 5 1 +2.5e-01 9.1e+01 7.8e-03 1.2e-01
       21 -1    0    0  501  502 +0.0e+00 +0.0e+00 +4.0e+02 4.0e+02 0.0e+00 0.0e+00 9.0e+00
       21 -1    0    0  502  503 -0.0e+00 -0.0e+00 -3.0e+02 3.0e+02 0.0e+00 0.0e+00 9.0e+00
        6  2    1    2  501    0 +1.0e+01 +2.0e+01 +1.0e+02 4.0e+02 1.73e+02 0.0e+00 9.0e+00
        5  1    3    3  501    0 +5.0e+00 +1.0e+01 +5.0e+01 6.0e+01 4.7e+00 0.0e+00 9.0e+00
       24  1    3    0    0    0 +5.0e+00 +1.0e+01 +5.0e+01 3.4e+02 8.0e+01 0.0e+00 9.0e+00
#aMCatNLO comment line
<rwgt>
<wgt id='1'> 0.3 </wgt>
</rwgt>
</event>
<event>
 2 2 -1.0e+00 9.1e+01 7.8e-03 1.2e-01
       -1 -1    0    0    0  501 0 0 1.0e+01 1.0e+01 0 0 9
        1  1    1    0  501    0 0 0 1.0e+01 1.0e+01 0 0 9
</event>
</LesHouchesEvents>
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_lhe_reader_hand_computed(tmp_path, compressed):
    path = tmp_path / ("events.lhe.gz" if compressed else "events.lhe")
    if compressed:
        with gzip.open(path, "wt") as fh:
            fh.write(LHE)
    else:
        path.write_text(LHE)
    batch = read_events(path)
    assert len(batch) == 2
    assert batch.n_particles == 7
    np.testing.assert_array_equal(batch.particle_offsets, [0, 5, 7])
    np.testing.assert_array_equal(batch.weight, [0.25, -1.0])
    np.testing.assert_array_equal(batch.pid, [21, 21, 6, 5, 24, -1, 1])
    np.testing.assert_array_equal(batch.status, [21, 21, 22, 1, 1, 21, 1])
    np.testing.assert_array_equal(batch.px, [0, 0, 10, 5, 5, 0, 0])
    np.testing.assert_array_equal(batch.mass, [0, 0, 173, 4.7, 80, 0, 0])
    assert batch.parents_of(0, 2).tolist() == [0, 1]  # MOTHUP 1..2
    assert batch.parents_of(0, 3).tolist() == [2]
    assert batch.parents_of(0, 4).tolist() == [2]
    assert batch.parents_of(1, 1).tolist() == [0]
    np.testing.assert_array_equal(batch.charge3, [0, 0, 2, -1, 3, 1, -1])
    assert batch.cross_section_pb == pytest.approx(16.0)
    assert batch.cross_section_error_pb == pytest.approx(math.hypot(0.3, 0.4))
    with EventFile(path) as f:
        assert f.format == "lhe"


# What MadGraph5_aMC@NLO writes into <header> (abridged): the run banner with embedded cards, and
# the <initrwgt> weight-group declarations of scale/PDF variations, which must not be taken for
# <init> (nor the card text for events).
MG5_HEADER = """<header>
<MGVersion>
3.5.1
</MGVersion>
<MG5ProcCard>
<![CDATA[
import model MSSM_SLHA2
generate p p > go go @0
add process p p > go go j @1
output gluino_pairs
]]>
</MG5ProcCard>
<slha>
BLOCK MASS
   1000021 1.400000e+03 # go
</slha>
<initrwgt>
<weightgroup name="Central scale variation" combine="envelope">
<weight id="1" MUR="0.5" MUF="0.5" PDF="247000" > MUR=0.5 MUF=0.5 </weight>
<weight id="2" MUR="2.0" MUF="2.0" PDF="247000" > MUR=2.0 MUF=2.0 </weight>
</weightgroup>
</initrwgt>
</header>
"""


def test_lhe_with_a_madgraph_header_reads_like_without(tmp_path):
    plain = tmp_path / "plain.lhe"
    plain.write_text(LHE)
    mg5 = tmp_path / "mg5.lhe"
    mg5.write_text(LHE.replace("<header>\n<!-- hand-written test file -->\n</header>\n", MG5_HEADER))
    assert "<initrwgt>" in mg5.read_text()
    a, b = read_events(plain), read_events(mg5)
    assert len(b) == 2
    for column in ("px", "py", "pz", "e", "mass", "pid", "status", "weight", "particle_offsets", "parents"):
        np.testing.assert_array_equal(getattr(b, column), getattr(a, column))
    assert b.cross_section_pb == pytest.approx(16.0)


# ---- bad input ---------------------------------------------------------------------------------


def hepmc3_lines(hepmc_files):
    return hepmc_files["hepmc3"].read_text().splitlines(keepends=True)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.hepmc"):
        read_events(tmp_path / "nope.hepmc")


def test_unknown_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello world\n")
    with pytest.raises(InputError, match=r"notes.txt:1: not a HepMC3, HepMC2 or LHE file"):
        read_events(path)


def first_line_index(lines, prefix, skip=0):
    found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    return found[skip]


def test_truncated_particle_line(hepmc_files, tmp_path):
    lines = hepmc3_lines(hepmc_files)
    k = first_line_index(lines, "P ", skip=40)
    lines[k] = " ".join(lines[k].split()[:5]) + "\n"
    bad = tmp_path / "cut.hepmc3"
    bad.write_text("".join(lines))
    with pytest.raises(InputError, match=rf"cut.hepmc3:{k + 1} \(event 0\): line ended early: expected py"):
        read_events(bad)


def test_garbled_number(hepmc_files, tmp_path):
    lines = hepmc3_lines(hepmc_files)
    k = first_line_index(lines, "E ", skip=3)
    k += 5  # a particle line of the fourth event
    assert lines[k].startswith(("P ", "V "))
    fields = lines[k].split()
    lines[k] = "P " + fields[1] + " " + fields[2] + " 21 1.0e+0x 2 3 4 5 1\n"
    bad = tmp_path / "garbled.hepmc3"
    bad.write_text("".join(lines))
    with pytest.raises(InputError, match=rf"garbled.hepmc3:{k + 1} \(event 3\): expected px, got '1.0e\+0x'"):
        read_events(bad)


def test_truncated_file_is_an_error_not_a_short_sample(hepmc_files, tmp_path):
    lines = hepmc3_lines(hepmc_files)
    e_last = first_line_index(lines, "E ", skip=11)
    bad = tmp_path / "short.hepmc3"
    bad.write_text("".join(lines[: e_last + 100]))
    expected = rf"short.hepmc3:{e_last + 100} \(event 11\): file ends without the HepMC::Asciiv3-END_EVENT_LISTING"
    with pytest.raises(InputError, match=expected):
        read_events(bad)
    # the complete events before the damage are still readable in batches
    with EventFile(bad) as f:
        assert len(f.read(11)) == 11
        with pytest.raises(InputError, match="event 11"):
            f.read(1)


def test_truncated_gzip_stream(hepmc_files, tmp_path):
    data = hepmc_files["hepmc2.gz"].read_bytes()
    bad = tmp_path / "cut.hepmc2.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.hepmc2.gz:\d+.*(truncated|corrupt)"):
        read_events(bad)


def test_hepmc2_bad_vertex_reference(hepmc_files, tmp_path):
    lines = hepmc_files["hepmc2"].read_text().splitlines(keepends=True)
    k = first_line_index(lines, "P ", skip=10)
    fields = lines[k].split()
    fields[11] = "-99999"  # end vertex barcode that does not exist
    lines[k] = " ".join(fields) + "\n"
    bad = tmp_path / "badvtx.hepmc2"
    bad.write_text("".join(lines))
    expected = r"badvtx.hepmc2:\d+ \(event 0\): particle \d+ ends in undefined vertex -99999"
    with pytest.raises(InputError, match=expected):
        read_events(bad)


def test_concatenated_listings_of_one_format_are_read_through(hepmc_files, tmp_path):
    # `cat a.hepmc3 b.hepmc3`: the first listing's footer ends its last event, the second header is skipped
    both = tmp_path / "both.hepmc3"
    both.write_text(hepmc_files["hepmc3"].read_text() * 2)
    one = read_events(hepmc_files["hepmc3"])
    twice = read_events(both)
    assert len(twice) == 2 * len(one) == 24
    np.testing.assert_array_equal(twice.event_number, np.tile(one.event_number, 2))
    np.testing.assert_array_equal(twice.particle_offsets[12:] - twice.particle_offsets[12], one.particle_offsets)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("hepmc3", "hepmc2", "HepMC2 listing inside a HepMC3 file"),
        ("hepmc2", "hepmc3", "HepMC3 listing inside a HepMC2 file"),
    ],
)
def test_listing_of_the_other_format_is_an_error(hepmc_files, tmp_path, first, second, message):
    head = hepmc_files[first].read_text()
    tail = hepmc_files[second].read_text().splitlines(keepends=True)
    header = next(i for i, text in enumerate(tail) if text.startswith(("HepMC::IO_GenEvent", "HepMC::Asciiv3")))
    mixed = tmp_path / f"mixed.{first}"
    mixed.write_text(head + "".join(tail))
    line = head.count("\n") + header + 1
    with pytest.raises(InputError, match=rf"mixed.{first}:{line} \(event 12\): {message}"):
        read_events(mixed)


def test_lhe_errors(tmp_path):
    bad = tmp_path / "bad.lhe"
    bad.write_text(LHE.replace("       24  1    3    0", "       24  7    3    0"))
    with pytest.raises(InputError, match=r"bad.lhe:16 \(event 0\): unknown ISTUP 7"):
        read_events(bad)
    short = tmp_path / "short.lhe"
    short.write_text(LHE[: LHE.index("       24  1")])
    with pytest.raises(InputError, match=r"short.lhe:\d+ \(event 0\): file ends inside an <event> block"):
        read_events(short)
    headless = tmp_path / "headless.lhe"
    headless.write_text(LHE[: LHE.index("</header>")])
    with pytest.raises(InputError, match=r"headless.lhe:3: file ends inside the <header> block"):
        read_events(headless)


@pytest.mark.parametrize("fmt", ["HepMC3", "HepMC2"])
def test_optional_lines_written_by_hepmc3_are_read(tmp_path, fmt):
    """The strict readers accept what the HepMC3 library writes beyond the basics: vertex
    positions ("@ x y z t" / HepMC2 vertex coordinates), particle, vertex and event attributes
    (A lines; HepMC2 flow entries), heavy-ion information (A GenHeavyIon / H line)."""
    from hepmc_samples import small_genevents

    events = small_genevents()
    for i, g in enumerate(events):
        g.vertices[0].position = pyhepmc.FourVector(0.1, 0.2, -0.3, 0.4 + i)
        g.particles[2].attributes["flow1"] = 501
        g.vertices[1].attributes["note"] = "hello world"
        g.attributes["signal_process_id"] = 5
        heavy_ion = pyhepmc.GenHeavyIon()
        heavy_ion.impact_parameter = 1.5
        g.heavy_ion = heavy_ion
    path = tmp_path / f"optional.{fmt.lower()}"
    with pyhepmc.open(path, "w", format=fmt) as f:
        for g in events:
            f.write(g)
    text = path.read_text()
    assert " @ " in text if fmt == "HepMC3" else "\nH " in text
    assert_same_as_pyhepmc(read_events(path), reference_events(path), same_order=fmt == "HepMC3")


@pytest.mark.parametrize("threads", [1, 2])
def test_unreadable_path_is_a_typed_error(tmp_path, threads):
    """A directory opens but cannot be read (plain input is read with fread, not through zlib)."""
    with pytest.raises(InputError, match=rf"{tmp_path}:1: read error: Is a directory"):
        read_events(tmp_path, threads=threads)


def _number_spellings(n: int, seed: int) -> list[str]:
    """Decimal spellings of doubles as generators and hand-written files have them: every printf
    precision in e/f/g style, shortest repr, 17 digits, very long significands, leading zeros,
    "1." and ".5", upper-case exponents, signed zeros, tiny, huge and subnormal magnitudes."""
    rng = np.random.default_rng(seed)
    out = ["0", "-0", "0.0", "-0.0", "1.", ".5", "-.5", "1E5", "1e+0", "1e-0", "5e-324"]
    out += ["2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993", "9007199254740992.0"]
    out += ["123456789012345678901234567890", "0.000000000000000000000000001", "1e22", "1e23", "1e-22", "1e-23"]
    out += ["4.35679e-1", "00000012.5000000"]
    for _ in range(n):
        x = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30))
        style = int(rng.integers(0, 6))
        if style == 0:
            out.append(f"{x:.{int(rng.integers(0, 18))}e}")
        elif style == 1:
            out.append(f"{x:.{int(rng.integers(1, 18))}g}")
        elif style == 2:
            out.append(repr(x))
        elif style == 3:
            out.append(f"{x:.{int(rng.integers(0, 25))}f}")
        elif style == 4:
            out.append(f"{x:.8e}".upper())
        else:
            out.append(f"{x:.30e}")
    return out


def test_numbers_read_bit_identical_to_correctly_rounded_parsing(tmp_path):
    """The reader gives exactly the correctly rounded double of every spelling (Python's float() is
    the reference), signed zeros and subnormals included."""
    texts = _number_spellings(6000, seed=7)
    lines = ["HepMC::Version 3.02.06", "HepMC::Asciiv3-START_EVENT_LISTING"]
    expected = []
    for n_ev, start in enumerate(range(0, len(texts) - 4, 5)):
        five = texts[start : start + 5]
        lines += [f"E {n_ev} 0 1", "U GEV MM", f"P 1 0 2212 {five[0]} {five[1]} {five[2]} {five[3]} {five[4]} 4"]
        expected.append([float(t) for t in five])
    lines.append("HepMC::Asciiv3-END_EVENT_LISTING")
    path = tmp_path / "numbers.hepmc3"
    path.write_text("\n".join(lines) + "\n")
    batch = read_events(path)
    ours = np.stack([batch.px, batch.py, batch.pz, batch.e, batch.mass], axis=1)
    ref = np.array(expected)
    assert ours.shape == ref.shape
    assert ours.view(np.uint64).tolist() == ref.view(np.uint64).tolist()  # bitwise, signed zeros included


@pytest.mark.parametrize("compressed", [False, True])
def test_standard_input_reads_like_the_file(hepmc_files, tmp_path, compressed):
    """'-' is standard input: a pipe (read once, never reopened), plain or gzip, detected from the
    content; the events equal those of the file."""
    import subprocess
    import sys

    src = hepmc_files["hepmc3"]
    data = src.read_bytes()
    if compressed:
        data = gzip.compress(data)
    code = (
        "import sys, numpy as np; from recast_ml import read_events; b = read_events('-', threads=2); "
        f"a = read_events({str(src)!r}); "
        "keys = ('px', 'py', 'pz', 'e', 'pid', 'status'); "
        "print(len(b), all(np.array_equal(getattr(a, k), getattr(b, k)) for k in keys))"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    n, same = out.stdout.decode().split()
    assert int(n) == len(read_events(src))
    assert same == "True"
    bad = subprocess.run(
        [
            sys.executable,
            "-c",
            "from recast_ml import read_events\ntry:\n read_events('-')\n"
            "except Exception as e: print(type(e).__name__, e)",
        ],
        input=b"not an event file\n",
        capture_output=True,
        check=True,
    )
    assert (
        bad.stdout.decode().strip()
        == "InputError <stdin>:1: not a HepMC3, HepMC2 or LHE file: unexpected first line 'not an event file'"
    )


def test_a_named_pipe_is_read_once_like_a_file(hepmc_files, tmp_path):
    """A FIFO (e.g. bash's <(generator ...)) is a stream: read once through the read-ahead thread,
    never reopened, gzip detected from the content."""
    import os
    import threading

    src = hepmc_files["hepmc3.gz"]
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(src.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    try:
        got = read_events(fifo)
    finally:
        writer.join(timeout=60)
    ref = read_events(src)
    assert len(got) == len(ref)
    np.testing.assert_array_equal(got.px, ref.px)
    np.testing.assert_array_equal(got.pid, ref.pid)
