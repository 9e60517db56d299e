"""Generator variation weights in event files: `recast-ml run --write-events` writes every weight of
the sample (the nominal, then each weight member by name) and the readers give them back as
EventBatch.variation_weights, so that `run --events FILE --variations isr,fsr` re-runs a stored
sample with its shower variations. Checked against pyhepmc (the HepMC3 library) as the reference
reader and writer of named weights, and against the files the writer wrote before weights were
added (one weight: byte-identical)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recast_ml import ConfigError, InputError, __version__, _core
from recast_ml.events import EventBatch
from recast_ml.io import EventFile, HepMC3Writer, read_events, write_hepmc3

MEMBERS = ("isr_up", "isr_down", "fsr_up", "fsr_down")


def toy_batch(first: int, *, weighted: bool = True) -> EventBatch:
    """Two events (a top decay with a two-parent vertex, a Z) with awkward doubles; ``first``
    shifts the numbers. With ``weighted``: one weight per member, values %.17g must keep."""
    s = 1.0 + first / 7.0
    px = np.array([17.279209603239302, 41.080907175057916, 16.521853809169357, -65.157861580218039,
                   45.267793333655888, 22.318728618200563, -26.847661768014259]) * s  # fmt: skip
    py = np.array([29.055905209817656, 18.228619809303787, 14.706624832776299, 1.4211120657898395,
                   27.335649330622346, -36.822704350083349, -8.1454973996526387]) * s  # fmt: skip
    pz = np.array([-24.105965633998913, 29.942310631731377, 1.9861053740829495, -14.622837548254431,
                   -39.095423117842103, -12.859612030943534, 0.4071090259171754]) * s  # fmt: skip
    m = np.array([0, 0, 173.1, 4.7, 0, 0, 91.1876])
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    batch = EventBatch.from_arrays(
        [0, 4, 7], px, py, pz, e, [2212, 2212, 6, 5, 21, 21, 23], [4, 4, 2, 1, 4, 4, 1], mass=m,
        parent_offsets=[0, 0, 0, 2, 3, 3, 3, 5], parents=[0, 1, 2, 0, 1],
        weight=[0.1 * first + 1 / 3, -2.5e-7], event_number=[first, first + 1],
    )  # fmt: skip
    if weighted:
        batch.variation_weights = {
            mem: np.array([(k + 1) / 3.0 + first * 1e-17, -(0.1 + 0.2) * 1e-300 * (k + first)])
            for k, mem in enumerate(MEMBERS)
        }
    return batch


def write_toy(path: Path, *, weighted: bool) -> None:
    with HepMC3Writer(path, cross_section_pb=0.028435791, cross_section_error_pb=1 / 7) as out:
        out.write(toy_batch(1, weighted=weighted))
        out.write(toy_batch(3, weighted=weighted))


def expected_weights() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    a, b = toy_batch(1), toy_batch(3)
    return np.concatenate([a.weight, b.weight]), {
        m: np.concatenate([a.variation_weights[m], b.variation_weights[m]]) for m in MEMBERS
    }


# ---- (a) written and read back: recast's reader and the HepMC3 library agree ------------------------------
@pytest.mark.parametrize("name", ["w.hepmc3", "w.hepmc3.gz"])
def test_all_weights_written_and_read_back_exactly(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_toy(path, weighted=True)
    nominal, varied = expected_weights()
    for threads in (1, 3):
        back = read_events(path, threads=threads)
        np.testing.assert_array_equal(back.weight, nominal)
        assert list(back.variation_weights) == list(MEMBERS)
        for m in MEMBERS:
            np.testing.assert_array_equal(back.variation_weights[m], varied[m], err_msg=m)
    # one event per worker chunk (the C++ reader's threads merge the chunks' weights)
    core = _core.open_events(str(path), "auto", 3, 64).read(100)
    assert list(core.extra_weight_names) == list(MEMBERS)
    np.testing.assert_array_equal(core.extra_weights, np.column_stack([varied[m] for m in MEMBERS]))
    # read in chunks of one event, as run_files reads: the weights stay with their events
    with EventFile(path) as f:
        parts = list(f.batches(1))
    assert len(parts) == 4
    for m in MEMBERS:
        np.testing.assert_array_equal(np.concatenate([p.variation_weights[m] for p in parts]), varied[m])
    assert list(EventBatch.concatenate(parts).variation_weights) == list(MEMBERS)


def test_the_hepmc3_library_reads_the_same_names_and_values(tmp_path: Path) -> None:
    pyhepmc = pytest.importorskip("pyhepmc")
    path = tmp_path / "w.hepmc3"
    write_toy(path, weighted=True)
    ours = read_events(path)
    with pyhepmc.open(path) as f:
        events = list(f)
    assert len(events) == len(ours) == 4
    for ev, g in enumerate(events):
        assert g.weight_names == ["Default", *MEMBERS]
        assert g.weights[0] == ours.weight[ev]
        assert g.weights[1:] == [ours.variation_weights[m][ev] for m in MEMBERS]
        for m in MEMBERS:
            assert g.weight(m) == ours.variation_weights[m][ev]


def test_weights_the_hepmc3_library_wrote_are_read_by_name(tmp_path: Path) -> None:
    """Files of the HepMC3 library: HepMC3 ("\\|"-separated run-info names, a name with a blank)
    and HepMC2 (the 'N' line; without names HepMC3 names the weights by index)."""
    pyhepmc = pytest.importorskip("pyhepmc")
    names = ["Weight", "isr_up", "muR 0.5"]
    values = [[1.25, 0.5, 3.0 / 7.0], [-2.0, 1e-300, 2.0 / 3.0]]
    run_info = pyhepmc.GenRunInfo()
    run_info.weight_names = names
    for fmt in ("hepmc3", "hepmc2"):
        path = tmp_path / f"lib.{fmt}"
        with pyhepmc.open(path, "w", format=fmt) as f:
            for k, w in enumerate(values):
                ev = pyhepmc.GenEvent()
                ev.run_info = run_info
                ev.event_number = k
                p1, p2 = pyhepmc.GenParticle((0, 0, 7, 7), 2212, 4), pyhepmc.GenParticle((1, 2, 3, 9), 22, 1)
                v = pyhepmc.GenVertex()
                v.add_particle_in(p1)
                v.add_particle_out(p2)
                ev.add_vertex(v)
                ev.weights = w
                f.write(ev)
        back = read_events(path)
        np.testing.assert_array_equal(back.weight, [1.25, -2.0])
        assert list(back.variation_weights) == names[1:], fmt
        np.testing.assert_array_equal(back.variation_weights["isr_up"], [0.5, 1e-300])
        np.testing.assert_array_equal(back.variation_weights["muR 0.5"], [3.0 / 7.0, 2.0 / 3.0])


def test_a_hepmc2_file_without_names_gives_the_weights_by_index(tmp_path: Path) -> None:
    path = tmp_path / "n.hepmc2"
    path.write_text(
        "HepMC::Version 2.06.09\nHepMC::IO_GenEvent-START_EVENT_LISTING\n"
        "E 1 0 -1 -1 -1 0 -1 1 0 0 0 3 0.5 0.25 2\nU GEV MM\n"
        "V -1 0 0 0 0 0 1 1 0\nP 1 2212 0 0 7 7 0 4 0 0 -1 0\nP 2 22 1 2 3 9 0 1 0 0 0 0\n"
        "HepMC::IO_GenEvent-END_EVENT_LISTING\n"
    )
    back = read_events(path)
    assert back.weight.tolist() == [0.5]
    assert {k: v.tolist() for k, v in back.variation_weights.items()} == {"1": [0.25], "2": [2.0]}


def test_a_wrong_number_of_weights_is_still_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "w.hepmc3"
    write_toy(path, weighted=True)
    lines = path.read_text().splitlines(keepends=True)
    k = [i for i, line in enumerate(lines) if line.startswith("W ")][3]  # the 3rd event's weights
    lines[k] = " ".join(lines[k].split()[:-1]) + "\n"  # one value too few
    bad = tmp_path / "bad.hepmc3"
    bad.write_text("".join(lines))
    for threads in (1, 2):
        with pytest.raises(InputError, match=r"4 event weights, but the run info declares 5 weight names") as e:
            read_events(bad, threads=threads)
        assert e.value.line == k + 1
        assert e.value.event == 2


def test_events_with_other_weights_in_one_batch_keep_only_the_nominal(tmp_path: Path, caplog) -> None:
    """Two listings (`cat`) with and without the weights: a batch holding events of both keeps the
    nominal weights only (a warning); batches within one listing keep theirs."""
    a, b = tmp_path / "a.hepmc3", tmp_path / "b.hepmc3"
    write_toy(a, weighted=True)
    write_toy(b, weighted=False)
    both = tmp_path / "both.hepmc3"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    for threads in (1, 2):
        whole = read_events(both, threads=threads)
        assert len(whole) == 8
        assert whole.variation_weights == {}
        assert "do not all carry the same weights" in caplog.text
        with EventFile(both, threads=threads) as f:
            first, second = f.read(4), f.read(4)
        assert list(first.variation_weights) == list(MEMBERS)
        assert second.variation_weights == {}
        np.testing.assert_array_equal(second.weight, whole.weight[4:])


def test_batches_with_other_weight_names_are_refused(tmp_path: Path) -> None:
    out = HepMC3Writer(tmp_path / "x.hepmc3")
    out.write(toy_batch(1, weighted=False))
    with pytest.raises(
        _core.RecastError, match=r"these events carry the weights Default, isr_up, .* started with Default$"
    ):
        out.write(toy_batch(3))
    out.discard()
    assert not (tmp_path / "x.hepmc3").exists()
    assert not (tmp_path / "x.hepmc3.part").exists()


# ---- (b) one weight: the file is the one written before weights were added -------------------------------
#: sha256 of write_toy(weighted=False) written by the writer before this change (recast_ml at
#: 6f57cdf), the version in the tool line replaced by "VERSION"
ONE_WEIGHT_SHA256 = "f033860319269f40384d6d3cd6f68d6b3491aeaf5fbed070ac8f0ec63c9973d7"


def normalised_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes().replace(f"|{__version__}|".encode(), b"|VERSION|")).hexdigest()


def test_a_file_with_one_weight_is_byte_identical_to_before(tmp_path: Path) -> None:
    path = tmp_path / "one.hepmc3"
    write_toy(path, weighted=False)
    assert normalised_sha(path) == ONE_WEIGHT_SHA256
    back = read_events(path)
    assert back.variation_weights == {}


def test_weights_only_add_names_and_values(tmp_path: Path) -> None:
    """The file with weights is the one-weight file plus the names on the run-info 'W' line and the
    values on each event's 'W' line, as the HepMC3 library (>= 3.2.6) writes them."""
    one, many = tmp_path / "one.hepmc3", tmp_path / "many.hepmc3"
    write_toy(one, weighted=False)
    write_toy(many, weighted=True)
    a, b = one.read_text().splitlines(), many.read_text().splitlines()
    assert len(a) == len(b)
    nominal, varied = expected_weights()
    ev = 0
    for x, y in zip(a, b, strict=True):
        if x == "W Default":
            assert y == "W Default\\|isr_up\\|isr_down\\|fsr_up\\|fsr_down"
        elif x.startswith("W "):
            assert y == x + "".join(f" {varied[m][ev]:.17g}" for m in MEMBERS)
            assert float(x.split()[1]) == nominal[ev]
            ev += 1
        else:
            assert y == x
    assert ev == 4
    write_hepmc3(toy_batch(1), tmp_path / "one_call.hepmc3")  # the one-call form writes them as well
    assert list(read_events(tmp_path / "one_call.hepmc3").variation_weights) == list(MEMBERS)


# ---- (c) run --write-events, then run --events: the same per-member yields and envelopes -----------------
def _variation_numbers(doc: dict) -> list:
    st = doc["analyses"][0]["statistics"]
    rows = [*st["regions"], st["best"]]
    keys = ("region", "signal", "signal_variations", "signal_envelope_rel_up", "signal_envelope_rel_down")
    return [{k: r.get(k) for k in keys} for r in rows] + [
        {k: v for k, v in st["variations"].items() if k != "definitions"}
    ]


def test_a_written_sample_is_run_again_with_its_variation_weights(tmp_path: Path) -> None:
    from recast_ml.run import run_job

    sample = tmp_path / "sample.hepmc3.gz"
    a = run_job(
        ["ATLAS-SUSY-2018-22"],
        generate="gluino_direct:1400,1000",
        n_events=60,
        variations="isr,fsr",
        write_events=sample,
        output=tmp_path / "a",
    )
    b = run_job(["ATLAS-SUSY-2018-22"], events=sample, variations="isr,fsr", output=tmp_path / "b", threads=2)
    assert b["input"]["cross_section_pb"] == a["input"]["cross_section_pb"]
    na, nb = _variation_numbers(a), _variation_numbers(b)
    assert json.dumps(na, sort_keys=True) == json.dumps(nb, sort_keys=True)  # bit-identical (repr of floats)
    members = na[-1]["members"]
    assert members == list(MEMBERS)
    best = na[-2]
    assert set(best["signal_variations"]) == set(MEMBERS)
    # the members really differ from the nominal: the weights were read, not ones
    assert any(best["signal_variations"][m]["signal"] != best["signal"] for m in MEMBERS)

    # the same sample on standard input (peeked for its cross section and its weights, read once)
    import subprocess
    import sys

    cli = [sys.executable, "-m", "recast_ml", "run", "--analysis", "ATLAS-SUSY-2018-22", "--no-progress"]
    proc = subprocess.run(
        [*cli, "--events", "-", "--variations", "isr,fsr", "-o", str(tmp_path / "c")],
        input=sample.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    c = json.loads((tmp_path / "c" / "results.json").read_text())
    assert c["input"]["cross_section_pb"] == a["input"]["cross_section_pb"]
    assert json.dumps(_variation_numbers(c), sort_keys=True) == json.dumps(na, sort_keys=True)

    # run_files: the weights follow their events through chunks, reader threads and prefetching
    from recast_ml.analysis import Analysis, run_files

    plain = tmp_path / "sample.hepmc3"
    plain.write_bytes(gzip.decompress(sample.read_bytes()))
    ana = [Analysis.load("ATLAS-SUSY-2018-22")]
    one = run_files(ana, [sample], cross_section=1.0, variations=MEMBERS)[0]
    many = run_files(ana, [plain], cross_section=1.0, variations=MEMBERS, threads=3, chunk_size=7)[0]
    for m in MEMBERS:
        for region in one.cutflows:
            assert many.variations[m].yield_(region) == pytest.approx(one.variations[m].yield_(region), rel=1e-12)
    with pytest.raises(ConfigError, match=r"carry no weight for the variation 'nope'"):
        run_files(ana, [plain], cross_section=1.0, variations=["nope"], chunk_size=7)


# ---- (d) files without the weights, sample members ----------------------------------------------------
def test_a_file_without_the_weights_is_refused_naming_what_it_has(tmp_path: Path) -> None:
    from recast_ml.run import run_job

    one = tmp_path / "one.hepmc3"
    write_toy(one, weighted=False)
    with pytest.raises(ConfigError, match=r"one.hepmc3 carries no weight isr_up, isr_down \(its further weights: "
                       r"none besides the nominal weight\)"):  # fmt: skip
        run_job(["ATLAS-SUSY-2018-22"], events=one, variations="isr", output=tmp_path / "o")
    fsr_only = tmp_path / "fsr.hepmc3"
    batch = toy_batch(1)
    batch.variation_weights = {m: batch.variation_weights[m] for m in ("fsr_up", "fsr_down")}
    write_hepmc3(batch, fsr_only, cross_section_pb=1.0)
    with pytest.raises(ConfigError, match=r"fsr.hepmc3 carries no weight isr_up, isr_down \(its further weights: "
                       r"fsr_up, fsr_down\)"):  # fmt: skip
        run_job(["ATLAS-SUSY-2018-22"], events=fsr_only, variations="fsr,isr", output=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_sample_members_still_need_a_generated_sample(tmp_path: Path) -> None:
    from recast_ml.run import run_job

    path = tmp_path / "w.hepmc3"
    write_toy(path, weighted=True)
    with pytest.raises(ConfigError, match=r"--variations isr_damped: sample variations \(isr_damped\) generate a "
                       r"sample of their own"):  # fmt: skip
        run_job(["ATLAS-SUSY-2018-22"], events=path, variations="isr,isr_damped", output=tmp_path / "o")
