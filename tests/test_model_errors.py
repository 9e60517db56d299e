"""Malformed model files are refused with a ModelError naming the file and the element at fault
(TMVA tree/node, lwtnn node/layer), never converted into a model that scores nonsense; files of
no known format are refused, not guessed to be ONNX."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from recast_ml import ModelError
from recast_ml.convert import convert, convert_bytes, detect_format, load_onnx
from recast_ml.convert.lwtnn import lwtnn_to_onnx
from recast_ml.convert.tmva import tmva_to_onnx

LEAF = '<Node pos="{pos}" depth="{depth}" NCoef="0" IVar="-1" Cut="0" cType="1" res="{res}" nType="-99"/>'


def tmva_xml(cut="0.5", ctype="1", inner_ivar="1", res="0.3", var1_index="1", boost="1", ntrees="2"):
    """Two variables (a, b), two trees: tree 0 cuts a at `cut` (root), then b at 0.5 (node 2,
    path r); tree 1 is a stump on a at 0.2. Breadth-first node numbers: root 0, l 1, r 2, rl 3,
    rr 4."""
    return f"""<?xml version="1.0"?>
<MethodSetup Method="BDT::BDTG">
  <Options><Option name="BoostType" modified="Yes">Grad</Option></Options>
  <Variables NVar="2">
    <Variable VarIndex="0" Expression="a" Label="a" Min="0" Max="1"/>
    <Variable VarIndex="{var1_index}" Expression="b" Label="b" Min="0" Max="1"/>
  </Variables>
  <Weights NTrees="{ntrees}" AnalysisType="1">
    <BinaryTree type="DecisionTree" boostWeight="{boost}" itree="0">
      <Node pos="s" depth="0" NCoef="0" IVar="0" Cut="{cut}" cType="{ctype}" res="0" nType="0">
        {LEAF.format(pos="l", depth=1, res="-0.2")}
        <Node pos="r" depth="1" NCoef="0" IVar="{inner_ivar}" Cut="0.5" cType="1" res="0" nType="0">
          {LEAF.format(pos="l", depth=2, res="0.1")}
          {LEAF.format(pos="r", depth=2, res=res)}
        </Node>
      </Node>
    </BinaryTree>
    <BinaryTree type="DecisionTree" boostWeight="1" itree="1">
      <Node pos="s" depth="0" NCoef="0" IVar="0" Cut="0.2" cType="1" res="0" nType="0">
        {LEAF.format(pos="l", depth=1, res="-0.05")}
        {LEAF.format(pos="r", depth=1, res="0.05")}
      </Node>
    </BinaryTree>
  </Weights>
</MethodSetup>
"""


def test_valid_toy_tmva_forest(tmp_path):
    path = tmp_path / "bdt.xml"
    path.write_text(tmva_xml())
    model = tmva_to_onnx(path)
    x = np.array([[0.7, 0.7], [0.7, 0.1], [0.1, 0.9], [0.6, 0.5]], np.float32)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})[0][:, 0]
    np.testing.assert_allclose(got, np.tanh([0.35, 0.15, -0.25, 0.35]), rtol=1e-6)
    assert {p.key: p.value for p in model.metadata_props}["input:input"] == '["a", "b"]'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cut": "nan"}, r"tree 0 node 0 \(path root\): Cut is 'nan' \(nan as float32\), not a finite number"),
        ({"cut": "inf"}, r"tree 0 node 0 \(path root\): Cut is 'inf'"),
        ({"cut": "1e400"}, r"tree 0 node 0 \(path root\): Cut is '1e400' \(inf as float32\)"),
        ({"cut": "1e39"}, r"tree 0 node 0 \(path root\): Cut is '1e39' \(inf as float32\)"),
        ({"cut": "abc"}, r"tree 0 node 0 \(path root\): Cut 'abc' is not a number"),
        ({"ctype": "x"}, r"tree 0 node 0 \(path root\): cType 'x' is neither 1 \(right if >= cut\) nor 0"),
        ({"inner_ivar": "-1"}, r"tree 0 node 2 \(path r\): internal node with IVar -1, not one of the 2 variables"),
        ({"inner_ivar": "2"}, r"tree 0 node 2 \(path r\): internal node with IVar 2, not one of the 2 variables"),
        ({"inner_ivar": "b"}, r"tree 0 node 2 \(path r\): IVar 'b' is not an integer"),
        ({"res": "nan"}, r"tree 0 node 4 \(path rr\): leaf response res is 'nan'"),
        ({"res": "1e400"}, r"tree 0 node 4 \(path rr\): leaf response res is '1e400'"),
        ({"var1_index": "0"}, r"<Variables>: duplicate VarIndex \[0\]; expected each of 0..1 once"),
        ({"var1_index": "5"}, r"<Variables>: VarIndex \[0, 5\]; expected each of 0..1 once"),
        ({"boost": "0.5"}, r"tree 0: gradient-boosted trees must have boostWeight 1, not 0.5"),
        # a tree lost from a well-formed file (or one too many) changes every score
        ({"ntrees": "3"}, r"<Weights NTrees=3> holds 2 <BinaryTree> entries"),
        ({"ntrees": "1"}, r"<Weights NTrees=1> holds 2 <BinaryTree> entries"),
    ],
)
def test_tmva_nonsense_is_refused(tmp_path, change, message):
    path = tmp_path / "bdt.xml"
    path.write_text(tmva_xml(**change))
    with pytest.raises(ModelError, match=rf"^{path}: {message}"):
        tmva_to_onnx(path)
    # the same through convert() of a decompressed copy: the error names the original file
    with pytest.raises(ModelError, match=rf"^orig/bdt.xml.gz: {message}"):
        convert_bytes(path.read_bytes(), "bdt.xml", source="orig/bdt.xml.gz")


def test_tmva_missing_children_and_values(tmp_path):
    path = tmp_path / "bdt.xml"
    one_child = tmva_xml().replace(LEAF.format(pos="r", depth=2, res="0.3"), "")
    path.write_text(one_child)
    with pytest.raises(ModelError, match=r"tree 0 node 2 \(path r\): an internal node needs one child pos='l' and one"):
        tmva_to_onnx(path)
    path.write_text(tmva_xml().replace('res="0.3"', ""))
    with pytest.raises(ModelError, match=r"tree 0 node 4 \(path rr\): no leaf response res"):
        tmva_to_onnx(path)


def lwtnn_graph(weights="[0.5, -0.25]", bias="[0.1]", layer_index="0", offsets="0"):
    return f"""{{
  "inputs": [{{"name": "node_0", "variables": [
      {{"name": "x", "offset": {offsets}, "scale": 1}}, {{"name": "y", "offset": 0, "scale": 2}}]}}],
  "input_sequences": [],
  "nodes": [{{"type": "input", "sources": [0], "size": 2}},
            {{"type": "feed_forward", "sources": [0], "layer_index": {layer_index}}},
            {{"type": "feed_forward", "sources": [1], "layer_index": 1}}],
  "layers": [{{"architecture": "dense", "activation": "linear", "weights": {weights}, "bias": {bias}}},
             {{"architecture": "dense", "activation": "sigmoid", "weights": [], "bias": []}}],
  "outputs": {{"out": {{"node_index": 2, "labels": ["p"]}}}}
}}"""


def test_valid_toy_lwtnn_graph(tmp_path):
    path = tmp_path / "nn.json"
    path.write_text(lwtnn_graph())
    model = lwtnn_to_onnx(path)
    x = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"node_0": x})[0][:, 0]
    z = 0.5 * x[:, 0] - 0.25 * 2 * x[:, 1] + 0.1
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-z)), rtol=1e-6)
    assert {p.key: p.value for p in model.metadata_props}["input:node_0"] == '["x", "y"]'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": "[null, -0.25]"}, r"node 1 \(layer 0\): weights must be numbers, found null"),
        ({"weights": "[1e400, -0.25]"}, r"node 1 \(layer 0\): weights\[0\] = inf is not a finite float32 number"),
        ({"weights": '[0.5, "x"]'}, r"node 1 \(layer 0\): weights must be numbers, found \"x\""),
        ({"bias": "[null]"}, r"node 1 \(layer 0\): bias must be numbers, found null"),
        ({"bias": "[1e39]"}, r"node 1 \(layer 0\): bias\[0\] = 1e\+39 is not a finite float32 number"),
        ({"layer_index": "-1"}, r"node 1: layer_index -1 is not an index 0..1"),
        ({"layer_index": "2"}, r"node 1: layer_index 2 is not an index 0..1"),
        ({"layer_index": "null"}, r"node 1: layer_index null is not an index 0..1"),
        ({"offsets": "null"}, r"node 0 \(input 'node_0'\): variable offsets must be numbers, found null"),
    ],
)
def test_lwtnn_nonsense_is_refused(tmp_path, change, message):
    path = tmp_path / "nn.json"
    path.write_text(lwtnn_graph(**change))
    with pytest.raises(ModelError, match=rf"^{path}: {message}"):
        lwtnn_to_onnx(path)
    with pytest.raises(ModelError, match=rf"^{path}: {message}"):
        convert(path)


def test_lwtnn_malformed_structure_names_the_file(tmp_path):
    path = tmp_path / "nn.json"
    doc = json.loads(lwtnn_graph())
    del doc["inputs"][0]["variables"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=rf"^{path}: malformed lwtnn JSON file: missing field 'variables'"):
        lwtnn_to_onnx(path)
    doc = json.loads(lwtnn_graph())
    doc["nodes"][2]["sources"] = [-1]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=rf"^{path}: node 2: source -1 is not an index 0..2"):
        lwtnn_to_onnx(path)
    doc = json.loads(lwtnn_graph())
    doc["layers"] = "dense"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=rf"^{path}: graph format without a list of layers"):
        convert(path)
    path.write_bytes(b'{"inputs": [{"name": "\xff"}]}')
    with pytest.raises(ModelError, match=rf"^{path}: not a readable lwtnn JSON file"):
        convert(path)
    path.write_text("[1, 2]")
    with pytest.raises(ModelError, match=rf"^{path}: "):
        convert(path)


def test_unknown_and_broken_files_are_not_guessed_to_be_onnx(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match=rf"^{empty}: empty file, not a model"):
        convert(empty)
    slha = tmp_path / "model.slha"
    slha.write_text("BLOCK MASS\n  1000021  1.4E+03\n")
    with pytest.raises(ModelError, match=rf"^{slha}: unknown model format \(not TMVA XML, lwtnn JSON"):
        detect_format(slha)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match=rf"^{junk}: not a readable ONNX model"):
        convert(junk)
    with pytest.raises(ModelError, match=r"^cache.onnx: not a readable ONNX model"):
        load_onnx(b"\x08\x07\xff\xff", "cache.onnx")
    with pytest.raises(ModelError, match=r"^x.onnx: not an ONNX model \(no IR version, graph or graph outputs\)"):
        load_onnx(b"\x08\x07", "x.onnx")


def test_lightgbm_feature_names_are_recorded(tmp_path):
    """Feature names a LightGBM model was trained with become the metadata the card check reads;
    LightGBM's defaults (Column_0, ...) are no names."""
    lgb = pytest.importorskip("lightgbm")
    from recast_ml.onnx_tools import input_names

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 3)), rng.integers(0, 2, 400)
    for names, expected in ((["met", "meff", "ht"], ["met", "meff", "ht"]), (None, None)):
        booster = lgb.train(
            {"objective": "binary", "verbose": -1},
            lgb.Dataset(x, y, feature_name=names or "auto"),
            5,
        )
        path = tmp_path / "model.txt"
        booster.save_model(str(path))
        assert input_names(convert(path)) == {"input": expected}
