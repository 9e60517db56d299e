"""The error hierarchy: every recast_ml error is a RecastError (input, configuration and model
errors also ValueErrors), carries file/line/column (and event) when known, and always has a
message, whichever bytes the offending text holds."""

from __future__ import annotations

import errno
import pickle

import awkward as ak
import pytest

import recast_ml
from recast_ml import ConfigError, DependencyError, InputError, ModelError, RecastError, _core, read_events
from recast_ml.analysis import Analysis, check_expression, load_yaml, table_from_arrays

HEAD = """format: recast_ml/analysis
format_version: 1
info: {id: ERR-1, experiment: toy, sqrt_s: 13, luminosity: 1}
"""


def test_hierarchy():
    for cls in (InputError, ConfigError, ModelError):
        assert issubclass(cls, RecastError)
        assert issubclass(cls, ValueError)
    assert issubclass(DependencyError, RecastError)
    assert issubclass(RecastError, RuntimeError)
    # the compiled core raises the very same classes
    for name in ("RecastError", "InputError", "ConfigError", "ModelError", "DependencyError"):
        assert getattr(_core, name) is getattr(recast_ml, name)


def test_constructor_and_attributes():
    e = ModelError("model.onnx: not an ONNX model")
    assert str(e) == "model.onnx: not an ONNX model"
    assert (e.message, e.file, e.line, e.column) == ("model.onnx: not an ONNX model", None, None, None)
    e = ConfigError("duplicate key 'cuts'", file="ana.yaml", line=12, column=5)
    assert str(e) == "ana.yaml:12:5: duplicate key 'cuts'"
    assert (e.message, e.file, e.line, e.column) == ("duplicate key 'cuts'", "ana.yaml", 12, 5)
    e = InputError("expected PDG id", file="a.hepmc", line=4, event=0)
    assert str(e) == "a.hepmc:4 (event 0): expected PDG id"
    assert (e.file, e.line, e.column, e.event) == ("a.hepmc", 4, None, 0)
    assert str(InputError("bad", file="<arrays>")) == "<arrays>: bad"
    # pickling (multiprocessing) keeps message and attributes
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is InputError
    assert (str(back), back.message, back.file, back.line, back.event) == (str(e), e.message, "a.hepmc", 4, 0)
    with pytest.raises(RecastError):
        raise DependencyError("libonnxruntime.so: not found")


def test_config_error_from_the_core_has_a_position():
    jets = ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}]])
    schema = _core.table_schema(table_from_arrays({"jets": jets}, {}))
    with pytest.raises(RecastError) as err:
        check_expression("count(jets) +\n  jets.ptt", schema)
    e = err.value
    assert isinstance(e, ConfigError)
    assert (e.file, e.line, e.column) == ("<expression>", 2, 8)
    assert e.message.startswith("'jets' has no field 'ptt'")
    assert str(e).startswith("<expression>:2:8: 'jets' has no field 'ptt'")


BAD_HEPMC = b"HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 1 1\nP 1 0 %s 0 0 1 1 0 1\n"


def test_input_error_from_the_core_has_file_line_and_event(tmp_path):
    bad = tmp_path / "bad.hepmc"
    bad.write_bytes(BAD_HEPMC % b"x")
    with pytest.raises(RecastError) as err:
        read_events(bad)
    e = err.value
    assert isinstance(e, InputError)
    assert (e.file, e.line, e.column, e.event) == (str(bad), 4, None, 0)
    assert str(e).startswith(f"{bad}:4 (event 0): ")
    assert "PDG id" in e.message


def test_non_utf8_bytes_never_lose_the_message(tmp_path):
    bad = tmp_path / "bad.hepmc"
    bad.write_bytes(BAD_HEPMC % b"\xff\xfe")
    with pytest.raises(InputError) as err:
        read_events(bad)
    msg = str(err.value)
    assert msg.startswith(f"{bad}:4 (event 0): ")
    assert "PDG id" in msg
    assert "\\xff" in msg
    assert (err.value.line, err.value.event) == (4, 0)


def test_missing_file_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.hepmc"
    with pytest.raises(FileNotFoundError) as err:
        read_events(missing)
    assert err.value.filename == str(missing)
    assert err.value.errno == errno.ENOENT
    # a full OSError: "[Errno 2] no such file: '<path>'", not "[Errno None] None: '<path>'"
    assert str(err.value) == f"[Errno 2] No such file or directory: {str(missing)!r}"


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "ana.yaml"
    # a duplicate key deep in the document
    path.write_text(HEAD + "regions:\n  - name: a\n    cuts:\n      - x: count(jets) > 1\n    name: b\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    e = err.value
    assert (e.file, e.line, e.column) == (str(path), 8, 5)
    assert str(e) == f"{path}:8:5: duplicate key 'name'"
    assert "<unicode string>" not in str(e)
    # invalid YAML
    path.write_text(HEAD + "regions: [\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert err.value.file == str(path)
    assert str(err.value).startswith(f"{path}:")
    # a control character YAML does not allow
    path.write_text(HEAD + "regions: []\n# bell \x07\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert (err.value.file, err.value.line, err.value.column) == (str(path), 5, 8)


def test_non_utf8_byte_in_a_yaml_comment(tmp_path):
    path = tmp_path / "ana.yaml"
    path.write_bytes(HEAD.encode() + b"# caf\xe9 \xff\nregions: []\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    e = err.value
    assert (e.file, e.line, e.column) == (str(path), 4, 6)
    assert str(e) == f"{path}:4:6: not UTF-8 text (byte 0xe9)"


def test_run_time_expression_errors_name_the_definition(tmp_path):
    path = tmp_path / "ana.yaml"
    path.write_text(
        HEAD
        + """variables:
  ok: count(jets)
  bad: count(jets.pt > electrons.pt)
regions:
  - name: a
    cuts:
      - "c": count(jets) >= 0
"""
    )
    obj = {"pt": 10.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}
    table = table_from_arrays(
        {"jets": ak.Array([[obj], [obj, obj]]), "electrons": ak.Array([[obj], [obj]])},
        {"met": ak.Array([{"pt": 1.0, "phi": 0.0}] * 2)},
    )
    ana = Analysis.for_arrays(path, table)
    with pytest.raises(InputError) as err:
        ana.run_table(table)
    e = err.value
    # the comparison `jets.pt > electrons.pt` (line 6, column 14 of the file) fails on event 1
    assert (e.file, e.line, e.column, e.event) == (str(path), 6, 14, 1)
    assert str(e).startswith(f"{path}:6:14 (event 1): variable 'bad' 'count(jets.pt > electrons.pt)': ")
    assert "lists of different lengths (2 and 1)" in e.message


# --- Python raise sites carry the location as attributes (issue 13 item 10) --------------------


def test_slha_error_has_file_and_line(tmp_path):
    from recast_ml import slha

    path = tmp_path / "bad.slha"
    path.write_text("BLOCK MASS\n  1000021 1400\n  1000022\n")
    with pytest.raises(InputError) as err:
        slha.read_slha(path)
    e = err.value
    assert (e.file, e.line, e.column) == (str(path), 3, None)
    assert e.message.startswith("malformed BLOCK MASS entry '1000022'")
    assert str(e) == f"{path}:3: {e.message}"
    # a file without a MASS block: the file, no line
    path.write_text("DECAY 1000021 0.1\n")
    with pytest.raises(InputError) as err:
        slha.checked_spectrum(path, "gluino")
    assert (err.value.file, err.value.line) == (str(path), None)
    assert str(err.value) == f"{path}: {err.value.message}"


def test_converter_error_has_file(tmp_path):
    from recast_ml.convert import convert_bytes
    from recast_ml.convert.tmva import tmva_to_onnx
    from test_model_errors import tmva_xml

    path = tmp_path / "bdt.xml"
    path.write_text(tmva_xml(cut="abc"))
    with pytest.raises(ModelError) as err:
        tmva_to_onnx(path)
    e = err.value
    assert (e.file, e.line) == (str(path), None)  # TMVA XML: the element, no line number
    assert e.message == "tree 0 node 0 (path root): Cut 'abc' is not a number"
    assert str(e) == f"{path}: {e.message}"
    with pytest.raises(ModelError) as err:
        convert_bytes(path.read_bytes(), "bdt.xml", source="orig/bdt.xml.gz")
    assert err.value.file == "orig/bdt.xml.gz"
    # lwtnn: the malformed() helper and the element checks name the file
    bad = tmp_path / "nn.json"
    bad.write_text('{"inputs": [{"name": "a"}], "layers": [{"architecture": "dense", "weights": [1], "bias": ["x"]}]}')
    with pytest.raises(ModelError) as err:
        convert_bytes(bad.read_bytes(), "nn.json", source=str(bad))
    assert err.value.file == str(bad)
    assert str(err.value) == f"{bad}: {err.value.message}"


def test_model_card_mismatch_has_the_analysis_file_and_line(tmp_path):
    import hashlib

    from test_model_errors import tmva_xml

    model = tmp_path / "bdt.xml"
    model.write_text(tmva_xml())
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    path = tmp_path / "ana.yaml"
    path.write_text(
        HEAD
        + f"""models:
  bdt:
    files:
      - {{file: {model}, sha256: {digest}}}
    inputs:
      - {{name: b, expr: met.pt}}
      - {{name: a, expr: count(jets)}}
    outputs:
      score: {{tensor: score}}
regions:
  - name: a
"""
    )
    obj = {"pt": 10.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}
    table = table_from_arrays({"jets": ak.Array([[obj]])}, {"met": ak.Array([{"pt": 1.0, "phi": 0.0}])})
    with pytest.raises(ModelError) as err:
        Analysis.for_arrays(path, table)
    e = err.value
    assert (e.file, e.line) == (str(path), 5)  # the line of `bdt:`
    assert e.message.startswith(f"model 'bdt': the card's inputs do not match {model}: input 0 is 'b' in the card")
    assert str(e) == f"{path}:5: {e.message}"


def test_definition_error_has_file_and_line(tmp_path):
    path = tmp_path / "ana.yaml"
    path.write_text(HEAD + "regions:\n  - name: a\n    inherit: nope\n")
    obj = {"pt": 10.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}
    table = table_from_arrays({"jets": ak.Array([[obj]])}, {"met": ak.Array([{"pt": 1.0, "phi": 0.0}])})
    with pytest.raises(ConfigError) as err:
        Analysis.for_arrays(path, table)
    e = err.value
    assert (e.file, e.line) == (str(path), 6)
    assert e.message == "region 'a' inherits from unknown region 'nope'"
    assert str(e) == f"{path}:6: region 'a' inherits from unknown region 'nope'"


def test_user_argument_errors_are_typed():
    from recast_ml import rng
    from recast_ml.jets import cluster
    from recast_ml.overlap import remove_overlaps

    with pytest.raises(ConfigError, match="stream id 0 outside"):
        rng.words(1, [1], 0, 0, [0])
    with pytest.raises(ConfigError, match="unknown jet algorithm"):
        cluster(None, algorithm="nope")
    obj = {"pt": 10.0, "eta": 0.0, "phi": 0.0}
    with pytest.raises(ConfigError, match="cone_pt"):
        remove_overlaps(ak.Array([[obj]]), ak.Array([[obj]]), cone_pt="c")
    with pytest.raises(InputError, match="the collections hold 1 and 2 events"):
        remove_overlaps(ak.Array([[obj]]), ak.Array([[obj], []]))
