"""The core is a plain C++ library: a C++ program finds it with find_package(recast) and runs an
event loop (and ONNX inference) without Python."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpp_examples import build_examples
from recast_ml import _core, _ort, read_events

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example_binary(tmp_path_factory):
    return build_examples(tmp_path_factory.mktemp("cpp-example")) / "event_loop"


@pytest.fixture(scope="module")
def analysis_binary(example_binary):
    return example_binary.parent / "analysis_loop"


def test_cpp_analysis_with_a_custom_function_equals_python(analysis_binary, tmp_path):
    """events -> detector -> analysis in C++ alone, with `ht_central` registered in C++; the same
    analysis written in YAML (the built-in language instead of the custom function) in Python."""
    import pyhepmc

    from hepmc_samples import pythia_records, to_genevents
    from recast_ml import Detector
    from recast_ml._data import cards_dir
    from recast_ml.analysis import Analysis

    _, records = pythia_records(20, seed=17)
    events_file = tmp_path / "ttbar.hepmc3"
    with pyhepmc.open(events_file, "w", format="HepMC3") as f:
        for g in to_genevents(records, hepmc_status=True):
            f.write(g)
    card = cards_dir() / "atlas_run2.toml"
    res = subprocess.run([analysis_binary, events_file, card], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    per_event = [tuple(float(x) for x in line.split()[2:]) for line in lines if line.startswith("event ")]
    cuts = [line[4:].split("|") for line in lines if line.startswith("cut ")]

    definition = tmp_path / "same.yaml"
    definition.write_text(
        """format: recast_ml/analysis
format_version: 1
info: {id: EXAMPLE, experiment: toy, sqrt_s: 13, luminosity: 1}
objects:
  - {name: jets30, from: jets, select: pt > 30}
variables:
  n30: count(jets30)
  htc: HT(select(jets30, abs(eta) < 2.5))
regions:
  - name: SR
    cuts:
      - ">= 2 jets": n30 >= 2
      - "htc > 100": htc > 100
"""
    )
    ana = Analysis.load(definition, detector=Detector(card))
    result = ana.run(read_events(events_file))
    assert len(per_event) == 20
    np.testing.assert_array_equal(np.array(per_event), result.variables)
    cf = result.cutflow("SR")
    assert cuts == [[name, str(n), repr(float(w))] for name, n, w in zip(cf.names, cf.n, cf.sumw, strict=True)]
    assert int(cf.n[1]) > 10
    # the native log-likelihood, called from C++
    (line,) = [line for line in lines if line.startswith("dloglike ")]
    s, dll = (float(x) for x in line.split()[1:])
    assert s == pytest.approx(cf.sumw[-1] / cf.sumw[0] * 1000.0)
    assert dll == pytest.approx(
        _core.log_likelihood(5, 4.0, 1.0, s) - _core.log_likelihood(5, 4.0, 1.0, 0.0), rel=1e-12
    )


def hand_made_events(path):
    """Three events with hand-computable status-1 charged sums: beam protons (status 4) and a
    decayed pion (status 2) are charged but not final; photons and neutrons are final but neutral.
    Final charged per event: (pi+ 5 GeV, pi- 10 GeV, K+ 20 GeV), (p 13 GeV), ()."""
    import pyhepmc

    def event(number, finals):
        ev = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
        ev.event_number = number
        beams = [pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, z, 6500), 2212, 4) for z in (6500, -6500)]
        v = pyhepmc.GenVertex()
        for b in beams:
            v.add_particle_in(b)
        for px, py, pid, status in finals:
            v.add_particle_out(pyhepmc.GenParticle(pyhepmc.FourVector(px, py, 0, 100), pid, status))
        ev.add_vertex(v)
        return ev

    events = [
        event(0, [(3, 4, 211, 1), (6, -8, -211, 1), (0, -20, 321, 1), (1, 0, 22, 1), (30, 40, 211, 2)]),
        event(1, [(5, 12, 2212, 1), (7, 7, 2112, 1)]),
        event(2, [(2, 0, 22, 1)]),
    ]
    with pyhepmc.open(path, "w", format="HepMC3") as f:
        for ev in events:
            f.write(ev)
    return [(3, 35.0), (1, 13.0), (0, 0.0)]  # (count, pT sum) of the final charged particles


def test_cpp_event_loop_and_onnx(example_binary, tmp_path, shared_data):
    import onnxruntime

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["RECAST_ONNXRUNTIME_LIBRARY"] = str(_ort.wheel_library())
    model = shared_data / "ATLAS-HIGP-2024-32" / "onnx" / "ANA-HIGP-2024-32_nonresDNN_model_even.onnx"
    events = tmp_path / "hand.hepmc3"
    expected = hand_made_events(events)
    out = subprocess.run(
        [example_binary, events, model], check=True, capture_output=True, text=True, env=env
    ).stdout.split()
    batch = read_events(events)
    final_charged = (batch.status == 1) & (batch.charge3 != 0)
    assert int(np.count_nonzero(final_charged)) == 4
    assert out[:8] == ["format", "hepmc3", "events", "3", "charged_final", "4", "charged_pt", "48.000000"]
    assert out[8:12] == ["onnx", _ort.info()["version"], "outputs", "3"]
    assert out[12] == "scores"
    scores = np.array([float(x) for x in out[13:]])
    # the same input through onnxruntime in Python
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.zeros((3, inp.shape[1]), dtype=np.float32)
    x[:, :2] = np.array(expected, dtype=np.float32) / np.float32(100)
    reference = session.run(None, {inp.name: x})[0].reshape(3, -1)[:, 0]
    np.testing.assert_allclose(scores, reference, rtol=1e-6, atol=1e-7)
    assert len(set(scores.tolist())) == 3  # three different inputs, three different scores


def test_cpp_errors_are_reported(example_binary, tmp_path):
    bad = tmp_path / "bad.hepmc"
    bad.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 1 1\nP 1 0 x\n")
    res = subprocess.run([example_binary, bad], capture_output=True, text=True)
    assert res.returncode == 1
    assert f"error: {bad}:4 (event 0): expected PDG id, got 'x'" in res.stderr


def test_cpp_runs_a_resolved_bundled_analysis_like_python(example_binary, tmp_path):
    """ATLAS-SUSY-2018-22 with its 16 BDTs from C++ alone (resolved folder written by the CLI,
    detector card, HepMC file, chunked): every cutflow entry, bin and SR yield equals the Python run
    of the same events (printed with %.17g, so exactly)."""
    from recast_ml import write_hepmc3
    from recast_ml._data import cards_dir
    from recast_ml.analysis import Analysis, run_files
    from recast_ml.cli import main
    from recast_ml.pythia import simplified_model_generator

    resolved = tmp_path / "resolved"
    assert main(["definition", "resolve", "ATLAS-SUSY-2018-22", "-o", str(resolved)]) == 0
    assert len(list((resolved / "models").glob("*.onnx"))) == 16
    events = tmp_path / "gluino.hepmc3"
    write_hepmc3(simplified_model_generator("gluino_direct", 1800, 600, seed=3).generate(40), events)
    card = cards_dir() / "atlas_run2.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["RECAST_ONNXRUNTIME_LIBRARY"] = str(_ort.wheel_library())
    xs, chunk = 0.0284, 16
    res = subprocess.run(
        [example_binary.parent / "run_analysis", resolved, card, events, repr(xs), str(chunk)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()

    ana = Analysis.load("ATLAS-SUSY-2018-22")
    (py,) = run_files([ana], [events], cross_section=xs, chunk_size=chunk)
    head = lines[0].split()
    assert head[:5] == ["analysis", "ATLAS-SUSY-2018-22", "events", "40", "sumw"]
    assert float(head[5]) == py.sum_weights
    cuts = [line.split("\t")[1:] for line in lines if line.startswith("cut\t")]
    expected = [
        [region, step, str(n), repr(float(w)), repr(float(w2))]
        for region, cf in py.cutflows.items()
        for step, n, w, w2 in zip(cf.names, cf.n, cf.sumw, cf.sumw2, strict=True)
    ]
    assert [[c[0], c[1], c[2], repr(float(c[3])), repr(float(c[4]))] for c in cuts] == expected
    bins = [line.split()[1:] for line in lines if line.startswith("bin ")]
    assert [(r, int(k), int(n), float(w)) for r, k, n, w, _ in bins] == [
        (region, k, int(b.n[k]), float(b.sumw[k])) for region, b in py.bins.items() for k in range(len(b.n))
    ]
    yields = {}
    for line in lines:
        if line.startswith("yield "):
            _, region, value, error = line.split()
            yields[region] = (float(value), float(error))
    assert set(yields) == set(py.cutflows)
    for region in py.cutflows:
        assert yields[region] == py.yield_(region)  # exact
    # the BDT regions are exercised: the scores of events reaching a BDT cut decide it
    bdt = [r for r in py.cutflows if "BDT" in r]
    assert bdt
    assert any(py.cutflow(r).n[-2] > 0 for r in bdt)


def test_cpp_run_analysis_refuses_malformed_arguments(example_binary, tmp_path):
    """run_analysis reads CROSS_SECTION_PB, CHUNK_SIZE and THREADS whole: '28.4fb' (recast-ml's
    --cross-section form) is refused, not read as 28.4 pb (1000 times the cross section); a cross
    section with a definition that has no luminosity is refused, not a run without yields."""
    from recast_ml._data import cards_dir

    definition = tmp_path / "resolved" / "definition.json"
    definition.parent.mkdir()
    doc = {
        "format": "recast_ml/resolved_definition",
        "format_version": 1,
        "id": "TINY",
        "source": "tiny.yaml",
        "info": {"luminosity": 139},
        "objects": [],
        "variables": [],
        "regions": [{"name": "all", "cuts": []}],
    }
    definition.write_text(json.dumps(doc))
    events = tmp_path / "hand.hepmc3"
    hand_made_events(events)
    card = cards_dir() / "atlas_run2.toml"

    def run(resolved, *args):
        return subprocess.run(
            [example_binary.parent / "run_analysis", resolved, card, events, *args], capture_output=True, text=True
        )

    ok = run(definition.parent, "0.5", "2", "2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "analysis TINY events 3 sumw 3"
    (line,) = [line.split() for line in ok.stdout.splitlines() if line.startswith("yield ")]
    # 0.5 pb x 139 fb-1 x 1000 per 3 unit weights: 69500 events, MC error 69500 / sqrt(3)
    assert line[:2] == ["yield", "all"]
    assert float(line[2]) == pytest.approx(69500, rel=1e-14)
    assert float(line[3]) == pytest.approx(69500 / np.sqrt(3), rel=1e-14)
    for args, message in [
        (["28.4fb"], "CROSS_SECTION_PB (in pb, without a unit): expected a number, got '28.4fb'"),
        (["abc"], "CROSS_SECTION_PB (in pb, without a unit): expected a number, got 'abc'"),
        (["-1"], "CROSS_SECTION_PB must be >= 0"),
        (["1e-400"], "CROSS_SECTION_PB (in pb, without a unit): expected a number, got '1e-400'"),  # underflow
        ([" 0.5"], "CROSS_SECTION_PB (in pb, without a unit): expected a number, got ' 0.5'"),
        (["0.5", "0"], "CHUNK_SIZE: expected an integer in [1, 2147483647], got '0'"),
        (["0.5", "10x"], "CHUNK_SIZE: expected an integer in [1, 2147483647], got '10x'"),
        (["0.5", "10", "two"], "THREADS: expected an integer in [1, 2147483647], got 'two'"),
        (["0.5", "10", "4294967297"], "THREADS: expected an integer in [1, 2147483647], got '4294967297'"),  # was 1
    ]:
        res = run(definition.parent, *args)
        assert (res.returncode, res.stdout) == (1, ""), args
        assert res.stderr == f"error: <command line>: {message}\n"
    del doc["info"]
    definition.write_text(json.dumps(doc))
    res = run(definition.parent, "0.5")
    assert res.returncode == 1
    assert res.stderr == (
        f"error: {definition.parent}: /info/luminosity: needed to turn a cross section into yields; "
        "the definition has none\n"
    )
    assert run(definition.parent).returncode == 0  # without a cross section: cutflows only
