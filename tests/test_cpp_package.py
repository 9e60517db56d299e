"""The core is a plain C++ library: a C++ program finds it with find_package(recast) and runs an
event loop (and ONNX inference) without Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import recast_ml
from recast_ml import _core, _ort, read_events

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example_binary(tmp_path_factory):
    # the venv's cmake (a test requirement installed by the bootstrap), else the system's
    cmake = shutil.which("cmake", path=str(Path(sys.executable).parent)) or shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("cmake not found")
    build = tmp_path_factory.mktemp("cpp-example")
    cmake_dir = Path(recast_ml.__file__).parent / "cmake" / "recast"
    assert (cmake_dir / "recastConfig.cmake").is_file()
    subprocess.run(
        [
            cmake,
            "-S",
            REPO / "examples" / "cpp",
            "-B",
            build,
            f"-Drecast_DIR={cmake_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run([cmake, "--build", build, "-j2"], check=True, capture_output=True)
    return build / "event_loop"


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


def test_cpp_event_loop_and_onnx(example_binary, hepmc_files, shared_data):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["RECAST_ONNXRUNTIME_LIBRARY"] = str(_ort.wheel_library())
    model = shared_data / "ATLAS-HIGP-2024-32" / "onnx" / "ANA-HIGP-2024-32_nonresDNN_model_even.onnx"
    out = subprocess.run(
        [example_binary, hepmc_files["hepmc2.gz"], model], check=True, capture_output=True, text=True, env=env
    ).stdout.split()
    batch = read_events(hepmc_files["hepmc2.gz"])
    final_charged = int(np.count_nonzero((batch.status > 0) & (batch.charge3 != 0)))
    # the fixture keeps Pythia's raw statuses, so status == 1 selects nothing there
    assert out[:6] == [
        "format",
        "hepmc2",
        "events",
        "12",
        "charged_final",
        str(int(np.count_nonzero((batch.status == 1) & (batch.charge3 != 0)))),
    ]
    assert final_charged > 0
    assert out[6:8] == ["onnx", _ort.info()["version"]]
    assert out[8:10] == ["outputs", "12"]
    assert 0.0 < float(out[11]) < 1.0


def test_cpp_errors_are_reported(example_binary, tmp_path):
    bad = tmp_path / "bad.hepmc"
    bad.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 1 1\nP 1 0 x\n")
    res = subprocess.run([example_binary, bad], capture_output=True, text=True)
    assert res.returncode == 1
    assert f"error: {bad}:4 (event 0): expected PDG id, got 'x'" in res.stderr
