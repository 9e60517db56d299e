"""`recast-ml run` / `events summary` with inputs that do not fit the options: an analysis on another
experiment's detector card, --delphes with non-Delphes input, a Delphes ROOT file in `events
summary`, and the cross section of a recast-written sample on standard input."""

from __future__ import annotations

import gzip
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recast_ml import ConfigError, __version__, read_events
from recast_ml.cli import main
from recast_ml.io import EventFile, write_hepmc3
from recast_ml.run import run_job


@pytest.fixture(scope="module")
def delphes_file(shared_data):
    path = shared_data / "delphes" / "delphes.root"
    if not path.is_file():
        pytest.skip(f"no Delphes file at {path}")
    return path


@pytest.fixture(scope="module")
def recast_sample(hepmc_files, tmp_path_factory):
    """12 ttbar events written by recast's HepMC3 writer with σ = 0.0284 pb ± 0.00284 pb."""
    path = tmp_path_factory.mktemp("recast") / "sample.hepmc3"
    write_hepmc3(read_events(hepmc_files["hepmc3"]), path, cross_section_pb=0.0284, cross_section_error_pb=0.00284)
    return path


# ------------------------------------------------------------------------------------------------
# 1. an analysis on another card: which field the card lacks, and the card it is written for
# ------------------------------------------------------------------------------------------------
CARD_MESSAGE = (
    "objects.yaml:8:85: the detector card 'cms_run2' gives 'electrons' no field 'wp_loose' "
    "(its wp_* fields: wp_delphes, wp_medium, wp_tight, wp_SUS16039, wp_SUS19008); "
    "ATLAS-SUSY-2018-22 is written for the card 'atlas_run2'"
)


def test_analysis_on_another_experiments_card_names_the_missing_field(tmp_path, capsys, hepmc_files):
    """ATLAS-SUSY-2018-22 (base_electrons: `... and wp_loose`, objects.yaml line 8) on the CMS card,
    whose electrons have the WPs delphes, medium, tight, SUS16039, SUS19008 (cms_run2.toml): one
    line, exit status 2, the same text from the Python API."""
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--events", str(hepmc_files["hepmc3"])]
    assert main([*args, "--detector", "cms_run2", "-o", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("recast-ml: error: ")
    assert err.rstrip("\n").endswith(CARD_MESSAGE)
    assert "^" not in err
    assert "Traceback" not in err
    with pytest.raises(ConfigError) as api:
        run_job(["ATLAS-SUSY-2018-22"], events=hepmc_files["hepmc3"], detector="cms_run2", output=tmp_path / "p")
    assert str(api.value).endswith(CARD_MESSAGE)
    assert api.value.line == 8
    assert api.value.column == 85
    assert str(api.value) == err.rstrip("\n").removeprefix("recast-ml: error: ")


@pytest.mark.parametrize("analysis", ["ATLAS-SUSY-2019-04", "ATLAS-SUSY-2018-30", "ATLAS-SUSY-2016-07"])
def test_every_bundled_atlas_analysis_on_the_cms_card_says_which_field_is_missing(analysis):
    """Also where the missing field is in an overlap condition (2019-04: `only: not btag_MV2c10_70`
    on jets, analysis.yaml line 22), not an object selection: one line, no caret."""
    from recast_ml.analysis import Analysis

    with pytest.raises(ConfigError) as err:
        Analysis.load(analysis, detector="cms_run2")
    msg = str(err.value)
    assert "\n" not in msg
    assert "^" not in msg
    assert re.search(r"the detector card 'cms_run2' gives '(jets|electrons)' no field '(btag_MV2c10_70|wp_loose)'", msg)
    assert msg.endswith(f"{analysis} is written for the card 'atlas_run2'")
    if analysis == "ATLAS-SUSY-2019-04":
        assert "analysis.yaml:22:" in msg
        assert "gives 'jets' no field 'btag_MV2c10_70' (its btag_* fields: btag_CSVv2_L," in msg


def test_a_misspelt_name_on_another_card_stays_an_unknown_name(tmp_path):
    """A name that the analysis' own card lacks too is a mistake in the definition: the core's
    message (with its suggestion) is kept."""
    from recast_ml.analysis import Analysis

    path = tmp_path / "analysis.yaml"
    path.write_text(
        "format: recast_ml/analysis\nformat_version: 1\n"
        "info: {id: TOY-1, experiment: toy, sqrt_s: 13, luminosity: 100, detector: atlas_run2}\n"
        "objects:\n  - {name: el, from: electrons, select: pt > 7 and wp_tigth}\n"
        "regions:\n  - name: A\n    cuts: [count(el) >= 1]\n"
    )
    with pytest.raises(ConfigError, match=r"unknown name 'wp_tigth'") as e:
        Analysis.load(path, detector="cms_run2")
    assert "detector card" not in str(e.value)


# ------------------------------------------------------------------------------------------------
# 2. --delphes only with Delphes ROOT input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truth", "objects"])
def test_delphes_option_with_a_hepmc_file_is_an_error(tmp_path, capsys, hepmc_files, how):
    src = hepmc_files["hepmc3"]
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(src), "--cross-section", "1pb"]
    out = tmp_path / "o"
    assert main([*args, "--delphes", how, "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == f"recast-ml: error: --delphes {how} applies to Delphes ROOT files; {src} is a HepMC3 file\n"
    assert not out.exists()
    with pytest.raises(ConfigError, match=f"--delphes {how} applies to Delphes ROOT files; {src} is a HepMC3 file"):
        run_job(["ATLAS-SUSY-2019-04"], events=src, cross_section="1pb", delphes=how, output=tmp_path / "p")
    with pytest.raises(ConfigError, match=f"--delphes {how} applies to Delphes ROOT files in --events"):
        run_job(["ATLAS-SUSY-2019-04"], generate="gluino_direct:1400,1000", delphes=how, output=tmp_path / "q")
    with pytest.raises(ConfigError, match="is a HepMC2 file"):
        run_job(["ATLAS-SUSY-2019-04"], events=hepmc_files["hepmc2.gz"], cross_section=1, delphes=how)


def test_delphes_option_with_standard_input_is_an_error(tmp_path):
    cmd = [sys.executable, "-m", "recast_ml", "run", "--analysis", "ATLAS-SUSY-2019-04", "--events", "-"]
    proc = subprocess.run(
        [*cmd, "--cross-section", "1pb", "--delphes", "truth", "-o", str(tmp_path / "o")],
        input=b"",
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("recast-ml: error: --delphes truth applies to Delphes ROOT files; standard")


def test_delphes_default_is_objects_for_root_input(tmp_path, delphes_file):
    """Without --delphes a Delphes ROOT file is still read through its objects (as before)."""
    doc = run_job(["ATLAS-SUSY-2019-04"], events=delphes_file, cross_section="1pb", output=tmp_path / "o")
    assert doc["analyses"][0]["sample"]["object_source"].startswith("Delphes objects: ")
    with pytest.raises(ConfigError, match="--delphes 'both': expected one of objects, truth"):
        run_job(["ATLAS-SUSY-2019-04"], events=delphes_file, cross_section="1pb", delphes="both")


# ------------------------------------------------------------------------------------------------
# 3. events summary of a Delphes ROOT file
# ------------------------------------------------------------------------------------------------
def test_events_summary_of_a_delphes_file(capsys, delphes_file):
    """The counts against uproot read directly (the whole file at once)."""
    import awkward as ak
    import uproot

    with uproot.open(delphes_file) as f:
        tree = f["Delphes"]
        n = tree.num_entries
        status = tree["Particle/Particle.Status"].array()
        counts = {
            k: ak.sum(ak.num(tree[f"{b}/{b}.PT"].array())) for k, b in (("jets", "Jet"), ("electrons", "Electron"))
        }
        weights = ak.to_numpy(ak.firsts(tree["Event/Event.Weight"].array()))
    assert main(["events", "summary", str(delphes_file)]) == 0
    out = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert out["file"].strip() == f"{delphes_file} (Delphes ROOT, tree 'Delphes')"
    assert int(out["events"]) == n == 25
    particles = out["particles/event"].split()
    assert float(particles[0]) == pytest.approx(ak.sum(ak.num(status)) / n, abs=0.05)
    assert float(particles[1].lstrip("(")) == pytest.approx(ak.sum(status == 1) / n, abs=0.05)
    objects = dict(reversed(x.split()) for x in out["objects/event"].split(","))
    assert float(objects["jets"]) == pytest.approx(counts["jets"] / n, abs=0.005)
    assert float(objects["electrons"]) == pytest.approx(counts["electrons"] / n, abs=0.005)
    assert set(objects) == {"jets", "electrons", "muons", "photons"}
    assert float(out["sum of weights"]) == pytest.approx(float(np.sum(weights)), rel=1e-5)
    assert "recast-ml run" in out["read by"]


def test_events_summary_format_option_with_a_delphes_file(capsys, delphes_file):
    assert main(["events", "summary", str(delphes_file), "--format", "hepmc3"]) == 2
    err = capsys.readouterr().err
    assert err == f"recast-ml: error: --format hepmc3 is for HepMC/LHE files; {delphes_file} is a Delphes ROOT file\n"


# ------------------------------------------------------------------------------------------------
# 4. standard input: the GenCrossSection of a recast-written stream, as from the file
# ------------------------------------------------------------------------------------------------
def test_event_file_tools_and_peek(recast_sample, hepmc_files):
    """The reader keeps the run information's tool lines; peek() leaves its events to the next read."""
    with EventFile(recast_sample) as f:
        first = f.peek(5)
        assert f.tools == [f"recast_ml|{__version__}|HepMC3Writer"]
        assert first.cross_section_pb == 0.0284
        again = f.read(7)  # the 5 peeked events and 2 more
        rest = f.read(1000)
    whole = read_events(recast_sample)
    assert len(first) == 5
    assert len(again) == 7
    assert again.source == whole.source == str(recast_sample)
    assert np.array_equal(again.px[: len(first.px)], first.px)
    assert len(rest) == len(whole) - 7
    assert np.array_equal(np.concatenate([again.px, rest.px]), whole.px)
    with EventFile(hepmc_files["hepmc2"]) as f:
        f.peek(1)
        assert f.tools == []


def _pipe(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "recast_ml", *args], input=data, capture_output=True, check=False)


@pytest.mark.parametrize("compressed", [False, True])
def test_standard_input_takes_the_cross_section_of_a_recast_written_stream(tmp_path, recast_sample, compressed):
    """`recast-ml run --events - < FILE`: σ (and its error) from the stream's GenCrossSection as
    with `--events FILE`; the same yields."""
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--no-progress", "--threads", "2"]
    assert main([*args, "--events", str(recast_sample), "-o", str(tmp_path / "file")]) == 0
    data = recast_sample.read_bytes()
    proc = _pipe([*args, "--events", "-", "-o", str(tmp_path / "pipe")], gzip.compress(data) if compressed else data)
    assert proc.returncode == 0, proc.stderr.decode()
    a = json.loads((tmp_path / "file" / "results.json").read_text())
    b = json.loads((tmp_path / "pipe" / "results.json").read_text())
    assert b["input"]["cross_section_pb"] == a["input"]["cross_section_pb"] == 0.0284
    assert math.isclose(b["input"]["cross_section_rel_error"], 0.1, rel_tol=1e-12)
    assert (
        b["input"]["cross_section_source"] == f"GenCrossSection of standard input (written by recast_ml {__version__})"
    )
    assert b["input"]["cross_section_rel_error_source"] == "GenCrossSection error of standard input"
    assert b["input"]["n_events"] == a["input"]["n_events"] == 12
    (ra,), (rb,) = a["analyses"], b["analyses"]
    assert [r["cutflow"] for r in ra["regions"]] == [r["cutflow"] for r in rb["regions"]]
    # a given --cross-section still wins
    proc = _pipe([*args, "--events", "-", "--cross-section", "5fb", "-o", str(tmp_path / "given")], data)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads((tmp_path / "given" / "results.json").read_text())["input"]["cross_section_pb"] == 0.005


def test_standard_input_from_another_writer_needs_a_cross_section(tmp_path, hepmc_files):
    """pyhepmc's file carries a GenCrossSection (511 pb, the 'generator's'): not used, by path or
    on standard input; the message says what to give and why."""
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--no-progress"]
    proc = _pipe([*args, "--events", "-", "-o", str(tmp_path / "o")], hepmc_files["hepmc3"].read_bytes())
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1
    assert err.startswith(
        "recast-ml: error: standard input (--events -): a cross section is needed to compute yields: pass "
        "--cross-section with a unit (e.g. 28.4fb); only a stream written by recast-ml"
    )
    assert not (tmp_path / "o").exists()


def _varying_cross_section(src: Path, dst: Path) -> None:
    """A copy of a recast-written file whose GenCrossSection grows event by event (as a file
    written without a fixed σ carries Pythia's running estimate): 0.01 pb after the first event."""
    k = 0
    out = []
    for line in src.read_text().splitlines():
        if line.startswith("A 0 GenCrossSection "):
            k += 1
            fields = line.split()
            fields[3] = repr(0.01 * k)
            line = " ".join(fields)
        out.append(line)
    assert k > 3
    dst.write_text("\n".join(out) + "\n")


def test_standard_input_and_a_path_take_the_same_cross_section_when_it_varies(tmp_path, recast_sample):
    """By path σ is the GenCrossSection after the first event; the stream takes the same one
    (it took the last of its first chunk)."""
    from recast_ml.io import EventFile
    from recast_ml.run import file_cross_section, stream_cross_section

    varying = tmp_path / "varying.hepmc3"
    _varying_cross_section(recast_sample, varying)
    by_path = file_cross_section([varying])
    with EventFile(varying) as stream:
        by_stream = stream_cross_section(stream)
        rest = stream.read(2000)
    assert by_path is not None
    assert by_stream is not None
    assert by_path.pb == by_stream.pb == 0.01
    assert len(rest) == len(read_events(varying))  # the peeked event is read again, nothing lost


def test_a_sample_in_parts_takes_no_file_cross_section_if_one_part_has_none(tmp_path, recast_sample):
    """Two parts, one without a GenCrossSection: no σ from the files, whatever their order."""
    from recast_ml.run import file_cross_section

    bare = tmp_path / "bare.hepmc3"
    bare.write_text("".join(x for x in recast_sample.read_text().splitlines(True) if "GenCrossSection" not in x))
    assert file_cross_section([recast_sample]) is not None
    assert file_cross_section([recast_sample, bare]) is None
    assert file_cross_section([bare, recast_sample]) is None


def test_a_peek_does_not_change_how_a_file_is_chunked(recast_sample):
    """After peek(k) the next read(n) returns n events (the k peeked first): the chunks, and so
    the order of every sum, are those of a file read without a peek."""
    from recast_ml.io import EventFile

    with EventFile(recast_sample) as f:
        plain = [len(b) for b in f.batches(5)]
    with EventFile(recast_sample) as f:
        first = f.peek(1)
        assert len(first) == 1
        peeked = [len(b) for b in f.batches(5)]
    assert peeked == plain
    with EventFile(recast_sample) as f:
        whole = f.read(100)
    with EventFile(recast_sample) as f:
        f.peek(3)
        again = f.read(100)
    np.testing.assert_array_equal(again.px, whole.px)
    np.testing.assert_array_equal(again.event_number, whole.event_number)


def test_events_summary_lists_the_further_weights(capsys, hepmc_files):
    """A file's named further weights (e.g. the shower variations `run --write-events --variations`
    writes) are listed with their sums (the ttbar sample's second weight, named w1)."""
    from recast_ml.io import read_events

    events = read_events(hepmc_files["hepmc3"])
    assert list(events.variation_weights) == ["w1"]
    w1 = float(events.variation_weights["w1"].sum())
    for fmt in ("hepmc3", "hepmc2"):
        assert main(["events", "summary", str(hepmc_files[fmt])]) == 0
        out = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
        assert float(out["sum of weights"]) == pytest.approx(float(events.weight.sum()))
        assert out["further weights"].strip() == f"1, sum of each: w1 ({w1:.6g})"
