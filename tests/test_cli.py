"""The recast-ml command line."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxruntime as ort

import recast_ml
from recast_ml.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast_ml", *args], capture_output=True, text=True)


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"recast-ml {recast_ml.__version__} (core {recast_ml._core.version()})"


def test_info_reports_versions(capsys):
    from importlib.metadata import version

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ONNX Runtime"].startswith(ort.__version__)
    assert info["FastJet (linked)"] == ".".join(version("fastjet").split(".")[:3])  # wheel 3.5.2.0
    assert info["ONNX Runtime headers"] == "C API v21"


def test_models_inspect(shared_data, capsys):
    path = shared_data / "ATLAS-SUSY-2019-04" / "onnx" / "OneLeptonMultiJets2018_6jets.onnx"
    assert main(["models", "inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"] == [{"name": "input.1", "dtype": "float32", "shape": [1, 65], "onnx_type": "float"}]
    assert info["outputs"][0]["name"] == "39"
    assert info["producer"].startswith("pytorch")
    assert main(["models", "inspect", str(path)]) == 0
    assert "input.1                  float32  (1, 65)" in capsys.readouterr().out


def test_events_summary(hepmc_files, capsys):
    assert main(["events", "summary", str(hepmc_files["hepmc3.gz"])]) == 0
    out = capsys.readouterr().out
    assert "events:          12" in out
    assert "(hepmc3)" in out


def test_errors_are_reported_without_traceback(tmp_path):
    res = run_cli("models", "inspect", str(tmp_path / "missing.onnx"))
    assert res.returncode == 2
    assert "recast-ml: error:" in res.stderr
    assert "missing.onnx" in res.stderr
    assert "Traceback" not in res.stderr


def test_demo_runs_and_matches_the_published_scores():
    res = run_cli("demo", "-n", "20", "--no-progress")
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    scores = {w[0]: (float(w[2]), float(w[5])) for w in lines if w and w[0].startswith("normalised_")}
    assert set(scores) == {"normalised_zeros", "normalised_ones"}
    for ours, published in scores.values():
        assert abs(ours - published) < 1e-6
    assert "20 events" in res.stdout


def test_analyses_list_and_show(capsys):
    from recast_ml.cli import main

    assert main(["analyses", "list"]) == 0
    out = capsys.readouterr().out
    assert "ATLAS-SUSY-2018-22" in out
    assert "ATLAS-SUSY-2019-04" in out
    assert main(["analyses", "show", "ATLAS-SUSY-2018-22"]) == 0
    out = capsys.readouterr().out
    assert "model GGd1: 2 file(s), outputs GGd1.score" in out
    assert "region SR4j-1000 (published as SR-4j-1000): 12 cuts, last: meff > 1000" in out
    assert main(["analyses", "show", "NOPE"]) == 2


def test_a_closed_pipe_ends_the_cli_quietly():
    """`recast-ml analyses list | head -1`: the reader goes away; no 'error: [Errno 32] Broken
    pipe' (exit 2 before), exit 141 as a process ended by SIGPIPE."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "recast_ml", "analyses", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before the interpreter has started: its first write fails
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_analyses_show_without_a_title(tmp_path, capsys):
    """A definition without info.title: its info.description, else the id alone (was 'ID: ')."""
    head = (
        "format: recast_ml/analysis\nformat_version: 1\ninfo: {id: MY-1, experiment: toy, sqrt_s: 13, luminosity: 1}\n"
    )
    path = tmp_path / "a.yaml"
    path.write_text(head + "regions:\n  - name: A\n")
    assert main(["analyses", "show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "MY-1"
    path.write_text(
        head.replace("luminosity: 1}", "luminosity: 1, description: my search}") + "regions:\n  - name: A\n"
    )
    assert main(["analyses", "show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "MY-1: my search"


def test_a_one_line_expression_error_has_no_stray_caret(tmp_path, capsys):
    """The core's message shows the expression and a caret line under the bad token; on the CLI's
    one line the caret pointed nowhere ('... HTT(jets) ^'): it is left out, file:line:column say where."""
    path = tmp_path / "a.yaml"
    path.write_text(
        "format: recast_ml/analysis\nformat_version: 1\ninfo: {id: MY-1, experiment: toy, sqrt_s: 13, luminosity: 1}\n"
        "variables:\n  ht: HTT(jets)\nregions:\n  - name: A\n"
    )
    assert main(["definition", "resolve", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"recast-ml: error: {path}:5:7: unknown function 'HTT' (did you mean 'HT'?) HTT(jets)\n"
