"""The `models` command line: `convert` refuses files of no known format in one line (no
traceback, no output file), `inspect` shows ONNX, TMVA XML(.gz), lwtnn JSON and model cards
ANALYSIS:MODEL."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from recast_ml.cli import main
from test_model_errors import tmva_xml


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast_ml", *args], capture_output=True, text=True)


def test_models_convert_refuses_unknown_files_in_one_line(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    slha = tmp_path / "model.slha"
    slha.write_text("BLOCK MASS\n  1000021  1.4E+03\n")
    for source, words in ((empty, "empty file"), (slha, "unknown model format")):
        out = tmp_path / "x.onnx"
        res = run_cli("models", "convert", str(source), str(out))
        assert res.returncode != 0
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert str(source) in res.stderr
        assert words in res.stderr
        assert not out.exists()


def test_models_convert_gz_names_the_original(tmp_path, capsys):
    path = tmp_path / "bdt.xml.gz"
    path.write_bytes(gzip.compress(tmva_xml(cut="nan").encode()))
    assert main(["models", "convert", str(path), str(tmp_path / "x.onnx")]) != 0
    err = capsys.readouterr().err
    assert f"{path}: tree 0 node 0 (path root): Cut is 'nan'" in err
    assert "recast_ml_model_" not in err  # not the temporary decompressed copy


def test_models_inspect_a_card(capsys):
    assert main(["models", "inspect", "ATLAS-SUSY-2018-22:GGd1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    names = ["met", "meff", "Ap", *(f"jetPt{k}" for k in range(4)), *(f"jetEta{k}" for k in range(4))]
    assert [i["name"] for i in info["card_inputs"]] == names
    assert info["inputs"][0]["features"] == names
    assert info["inputs"][0]["shape"] == ["N", 11]
    assert info["format"] == "TMVA XML"
    assert [f["route"] for f in info["files"]] == [0, 1]
    assert info["files"][0]["file"].endswith("ZeroLepton2018-SRBDT-GGd1_weight1.xml.gz")
    assert info["card_outputs"] == [{"name": "score", "tensor": "score", "index": 0}]
    definition, line = info["definition"].rsplit(":", 1)
    with open(definition) as fh:
        assert fh.read().splitlines()[int(line) - 1] == "  GGd1:"
    assert main(["models", "inspect", "ATLAS-SUSY-2018-22:GGd1"]) == 0
    out = capsys.readouterr().out
    assert "card inputs:" in out
    assert "met.pt" in out
    assert "features: met, meff, Ap, jetPt0" in out
    assert main(["models", "inspect", "ATLAS-SUSY-2018-22:nope"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_models_inspect_tmva_gz_and_lwtnn(capsys, shared_data):
    from recast_ml.analysis import find_definition

    gz = find_definition("ATLAS-SUSY-2018-22").parent / "models" / "ZeroLepton2018-SRBDT-GGd2_weight1.xml.gz"
    assert main(["models", "inspect", str(gz), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "TMVA XML"
    assert info["inputs"][0]["features"][:3] == ["meff", "Ap", "jetPt0"]
    assert info["outputs"][0]["name"] == "score"
    assert info["metadata"]["method"] == "BDT::BDTG"
    nn = shared_data / "ATLAS-SUSY-2019-04" / "lwtnn" / "ATLAS_13TeV_1LEPJets_139invfb_4j.json"
    assert main(["models", "inspect", str(nn)]) == 0
    out = capsys.readouterr().out
    assert "format: lwtnn JSON" in out
    assert "node_0" in out
    assert "features: n_jet, n_bcat, n_bjet" in out


def test_models_inspect_unknown_file(tmp_path):
    slha = tmp_path / "model.slha"
    slha.write_text("BLOCK MASS\n")
    res = run_cli("models", "inspect", str(slha))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert f"{slha}: unknown model format" in res.stderr


def test_models_convert_decompresses_a_gz_model_once(tmp_path, capsys, monkeypatch):
    """The format printed and the conversion come from one decompressed copy."""
    from recast_ml import analysis

    path = tmp_path / "bdt.xml.gz"
    path.write_bytes(gzip.compress(tmva_xml().encode()))
    calls = []
    real = analysis.read_model_file
    monkeypatch.setattr(analysis, "read_model_file", lambda p: calls.append(p) or real(p))
    assert main(["models", "convert", str(path), str(tmp_path / "x.onnx")]) == 0
    assert f"{path} (TMVA XML) -> {tmp_path / 'x.onnx'}" in capsys.readouterr().out
    assert len(calls) == 1
