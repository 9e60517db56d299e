"""Model converters against independent references: the 16 ATLAS TMVA BDTs (a direct tree walk of
the XML written here, and the spec's regression values) and the five lwtnn graphs (the real ATLAS
ONNX networks); model cards in analyses with batched inference."""

from __future__ import annotations

import csv
import hashlib
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from recast_ml.convert import convert, detect_format
from recast_ml.convert.lwtnn import lwtnn_to_onnx
from recast_ml.convert.tmva import tmva_to_onnx
from recast_ml.onnx_tools import dynamic_batch

BDTS = [f"{kind}{k}" for kind in ("GGd", "GGo") for k in (1, 2, 3, 4)]

# ATLAS-SUSY-2018-22 spec §7.4: synthetic events A and B, scores per file (weight1, weight2)
EVENT_A = dict(met=600, meff=2400, Ap=0.08, **{f"jetPt{i}": v for i, v in enumerate((600, 450, 300, 200, 150, 100))},
               **{f"jetEta{i}": v for i, v in enumerate((0.3, -0.8, 1.2, -0.2, 0.5, -1.5))})  # fmt: skip
EVENT_B = dict(met=350, meff=1500, Ap=0.03, **{f"jetPt{i}": v for i, v in enumerate((400, 300, 200, 100, 80, 60))},
               **{f"jetEta{i}": v for i, v in enumerate((1.0, -1.5, 0.2, 2.0, -0.7, 0.9))})  # fmt: skip
SPEC_SCORES = {
    "GGd1": ((0.806155, -0.979931), (0.805257, -0.968806)),
    "GGd2": ((0.957513, -0.360694), (0.951878, -0.887010)),
    "GGd3": ((0.958012, -0.376315), (0.959182, -0.423080)),
    "GGd4": ((0.814239, -0.356371), (0.804499, -0.534359)),
    "GGo1": ((0.815393, -0.998752), (0.640653, -0.996142)),
    "GGo2": ((0.895067, -0.996518), (0.871103, -0.992047)),
    "GGo3": ((0.921112, -0.736332), (0.918390, -0.808398)),
    "GGo4": ((0.226544, -0.825096), (0.348207, -0.938757)),
}


class DirectBDT:
    """Independent TMVA BDTG evaluation (spec §7.3), vectorised over events, double precision
    sums; inputs and cuts as float32 like TMVA."""

    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.variables = [
            v.get("Expression") for v in sorted(root.iter("Variable"), key=lambda v: int(v.get("VarIndex")))
        ]
        self.ranges = [
            (float(v.get("Min")), float(v.get("Max")))
            for v in sorted(root.iter("Variable"), key=lambda v: int(v.get("VarIndex")))
        ]
        self.trees = [tree.find("Node") for tree in root.find("Weights").iter("BinaryTree")]

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float32)
        total = np.zeros(len(x))
        for top in self.trees:
            self._walk(top, x, np.arange(len(x)), total)
        return np.tanh(total)

    def _walk(self, node, x, rows, total):
        ivar = int(node.get("IVar"))
        if node.get("nType") == "-99":  # a leaf (one GGo1 leaf carries IVar 0)
            total[rows] += float(np.float32(float(node.get("res"))))
            return
        cut = np.float32(float(node.get("Cut")))
        ge = x[rows, ivar] >= cut
        right = ge if node.get("cType") == "1" else ~ge
        kids = {k.get("pos"): k for k in node.findall("Node")}
        if right.any():
            self._walk(kids["r"], x, rows[right], total)
        if (~right).any():
            self._walk(kids["l"], x, rows[~right], total)


@pytest.fixture(scope="module")
def xml_dir(shared_data):
    return shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml"


@pytest.mark.parametrize("bdt", BDTS)
def test_tmva_bdts_convert_exactly(xml_dir, bdt):
    rng = np.random.default_rng(abs(hash(bdt)) % 2**32)
    for fold in (1, 2):
        path = xml_dir / f"ZeroLepton2018-SRBDT-{bdt}_weight{fold}.xml"
        assert detect_format(path) == "tmva"
        direct = DirectBDT(path)
        session = ort.InferenceSession(tmva_to_onnx(path).SerializeToString())
        lo, hi = np.array(direct.ranges).T
        x = rng.uniform(lo, hi, size=(10_000, len(lo))).astype(np.float32)
        ours = session.run(None, {"input": x})[0][:, 0]
        np.testing.assert_allclose(ours, direct(x), rtol=0, atol=1e-6)
        assert 0.05 < np.mean(ours > 0) < 0.95 or np.ptp(ours) > 0.5  # the ranges exercise the trees
        # the spec's regression values (events A and B)
        ab = np.array([[ev[v] for v in direct.variables] for ev in (EVENT_A, EVENT_B)], dtype=np.float32)
        np.testing.assert_allclose(session.run(None, {"input": ab})[0][:, 0], SPEC_SCORES[bdt][fold - 1], atol=2e-6)


def test_tmva_errors(tmp_path):
    bad = tmp_path / "ada.xml"
    bad.write_text(
        '<?xml version="1.0"?><MethodSetup Method="BDT::BDT"><Options>'
        '<Option name="BoostType">AdaBoost</Option></Options></MethodSetup>'
    )
    with pytest.raises(Exception, match="only gradient boosting"):
        tmva_to_onnx(bad)
    broken = tmp_path / "broken.xml"
    broken.write_text('<?xml version="1.0"?><MethodSetup Method="BDT::BDTG"><Variables>')
    with pytest.raises(Exception, match="not a readable TMVA XML"):
        tmva_to_onnx(broken)


@pytest.mark.parametrize("n_jets", [4, 5, 6, 7, 8])
def test_lwtnn_graphs_equal_the_atlas_onnx_networks(shared_data, n_jets):
    base = shared_data / "ATLAS-SUSY-2019-04"
    ours = ort.InferenceSession(
        lwtnn_to_onnx(base / "lwtnn" / f"ATLAS_13TeV_1LEPJets_139invfb_{n_jets}j.json").SerializeToString()
    )
    atlas_model = onnx.load(str(base / "onnx" / f"OneLeptonMultiJets2018_{n_jets}jets.onnx"))
    atlas = ort.InferenceSession(atlas_model.SerializeToString())
    with open(base / "lwtnn_reference_scores_selfeval.csv") as fh:
        rows = list(csv.reader(line for line in fh if not line.startswith("#")))[1:]
    ref = next(r for r in rows if int(r[0]) == n_jets)
    x0 = np.array([[float(v) for v in ref[1].split()]], dtype=np.float32)
    assert ours.run(None, {"node_0": x0})[0][0, 0] == pytest.approx(float(ref[2]), abs=1e-6)
    # 10,000 inputs around the reference vector (the ATLAS file has a fixed batch of 1: row by row)
    rng = np.random.default_rng(n_jets)
    x = (x0 * rng.uniform(0.5, 1.5, size=(10_000, 65)) + rng.normal(0, 0.3, size=(10_000, 65))).astype(np.float32)
    mine = ours.run(None, {"node_0": x})[0][:, 0]
    theirs = np.array([atlas.run(None, {"input.1": x[i : i + 1]})[0][0, 0] for i in range(len(x))])
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5)
    assert np.ptp(theirs) > 0.5
    # the same network made batchable gives the row-by-row values
    batched = ort.InferenceSession(dynamic_batch(atlas_model).SerializeToString())
    np.testing.assert_allclose(batched.run(None, {"input.1": x})[0][:, 0], theirs, rtol=0, atol=1e-6)
    assert detect_format(base / "onnx" / f"OneLeptonMultiJets2018_{n_jets}jets.onnx") == "onnx"
    conv = convert(base / "onnx" / f"OneLeptonMultiJets2018_{n_jets}jets.onnx")
    assert conv.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_lwtnn_sequential_format(tmp_path):
    import json

    rng = np.random.default_rng(4)
    w1, b1 = rng.normal(size=(3, 2)), rng.normal(size=3)
    w2, b2 = rng.normal(size=(2, 3)), rng.normal(size=2)
    doc = {
        "inputs": [{"name": "a", "offset": 1.0, "scale": 0.5}, {"name": "b", "offset": -2.0, "scale": 2.0}],
        "layers": [
            {"architecture": "dense", "activation": "rectified", "weights": w1.ravel().tolist(), "bias": b1.tolist()},
            {"architecture": "dense", "activation": "softmax", "weights": w2.ravel().tolist(), "bias": b2.tolist()},
        ],
        "outputs": ["p0", "p1"],
    }
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(doc))
    x = rng.normal(size=(50, 2)).astype(np.float32)
    got = ort.InferenceSession(lwtnn_to_onnx(path).SerializeToString()).run(None, {"input": x})[0]
    z = (x + np.array([1.0, -2.0])) * np.array([0.5, 2.0])
    h = np.maximum(z @ w1.T + b1, 0) @ w2.T + b2
    expected = np.exp(h) / np.exp(h).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    doc["layers"][0]["architecture"] = "lstm"
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="'lstm' is not supported"):
        lwtnn_to_onnx(path)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_models_check_cli_on_a_bundled_card(xml_dir, tmp_path, capsys):
    """`recast-ml models check ATLAS-SUSY-2018-22:GGd2`: the core's model path (card inputs,
    routing by event number) against the direct XML evaluation."""
    from recast_ml.cli import main

    direct = [DirectBDT(xml_dir / f"ZeroLepton2018-SRBDT-GGd2_weight{k}.xml") for k in (1, 2)]
    rng = np.random.default_rng(8)
    lo, hi = np.array(direct[0].ranges).T
    x = rng.uniform(lo, hi, size=(500, len(lo))).astype(np.float32)
    numbers = rng.integers(0, 1000, 500)
    expected = np.where(numbers % 2 == 0, direct[0](x), direct[1](x))
    features = tmp_path / "x.csv"
    with features.open("w") as f:
        f.write(",".join([*direct[0].variables, "event_number"]) + "\n")
        for row, num in zip(x, numbers, strict=True):
            f.write(",".join([*(repr(float(v)) for v in row), str(num)]) + "\n")
    good = tmp_path / "y.csv"
    good.write_text("score\n" + "\n".join(repr(float(v)) for v in expected) + "\n")
    assert (
        main(
            [
                "models",
                "check",
                "ATLAS-SUSY-2018-22:GGd2",
                "--features",
                str(features),
                "--expected",
                str(good),
                "--tolerance",
                "1e-6",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "500 feature vectors" in out
    assert "PASS" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "score\n" + "\n".join(repr(float(v) + (0.01 if i == 7 else 0)) for i, v in enumerate(expected)) + "\n"
    )
    assert (
        main(["models", "check", "ATLAS-SUSY-2018-22:GGd2", "--features", str(features), "--expected", str(bad)]) == 1
    )
    assert f"(line 9 of {bad}; features: line 9 of {features})" in capsys.readouterr().out
    assert main(["models", "check", "ATLAS-SUSY-2018-22:nope", "--features", str(features)]) == 2


def test_models_convert_cli(xml_dir, tmp_path):
    from recast_ml.cli import main

    out = tmp_path / "ggd1.onnx"
    assert main(["models", "convert", str(xml_dir / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"), str(out)]) == 0
    sess = ort.InferenceSession(str(out))
    ab = np.array(
        [[EVENT_A[v] for v in DirectBDT(xml_dir / "ZeroLepton2018-SRBDT-GGd1_weight1.xml").variables]], dtype=np.float32
    )
    assert sess.run(None, {"input": ab})[0][0, 0] == pytest.approx(0.806155, abs=2e-6)


def test_lightgbm_through_onnxmltools(tmp_path):
    lgb = pytest.importorskip("lightgbm")  # a test extra; installed by scripts/bootstrap.sh
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 6))
    y = (x[:, 0] + x[:, 1] ** 2 - x[:, 2] > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15}, lgb.Dataset(x, y), 40)
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    assert detect_format(path) == "lightgbm"
    sess = ort.InferenceSession(convert(path).SerializeToString())
    test = rng.normal(size=(1000, 6)).astype(np.float32)
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": test}), strict=True))
    np.testing.assert_allclose(got["probabilities"][:, 1], booster.predict(test.astype(np.float64)), atol=1e-5)
