"""Model cards whose file is not available (``unavailable_reason``): the analysis loads and runs
every region that does not depend on the model; the regions that do (through their cuts, inherited
cuts or variables) are reported unavailable with the reason (results, results.json, statistics,
`analyses show`, the run report), and run once the file is put in. Checked on a small definition
and on ATLAS-SUSY-2018-30, whose parametrised NN is not public, with a stand-in ONNX of the real
signature (input_1: [N, 87] -> dense_4: [N, 8]) built here with onnx.helper: the inputs the core
gives it must equal the normalised values computed by hand, and the NN SRs then follow its scores."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import golden
from recast_ml import _core
from recast_ml.analysis import Analysis, find_definition, load_definition, table_from_arrays
from recast_ml.errors import ConfigError

SCHEMAS = Path(__file__).resolve().parents[1] / "python" / "recast_ml" / "schemas"
ID = "ATLAS-SUSY-2018-30"


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def linear_sigmoid(n_in: int, weights: np.ndarray, bias: np.ndarray, *, echo: bool = False,
                   input_name: str = "input_1", output_name: str = "dense_4") -> bytes:  # fmt: skip
    """sigmoid(x @ W + b) as ONNX (batch dimension symbolic); with ``echo`` also an output `echo`
    that is the input itself (what the core fed the model)."""
    n_out = weights.shape[1]
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["z0"]),
        helper.make_node("Add", ["z0", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], [output_name]),
    ]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", n_out])]
    if echo:
        nodes.append(helper.make_node("Identity", [input_name], ["echo"]))
        outputs.append(helper.make_tensor_value_info("echo", TensorProto.FLOAT, ["N", n_in]))
    graph = helper.make_graph(
        nodes,
        "stand_in",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_in])],
        outputs,
        [
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ------------------------------------------------------------------------------------------------
# a small definition: a model used directly, through a variable (two levels), by inheritance
# ------------------------------------------------------------------------------------------------
SMALL = """\
format: recast_ml/analysis
format_version: 1
info: {id: SMALL, experiment: toy, sqrt_s: 13, luminosity: 100}
objects:
  - {name: good, from: jets, select: "pt > 20"}
variables:
  n: count(good)
  s: M.score
  s2: s * 2
  ht: HT(good)
models:
  M:
    files: [{file: models/m.onnx, unavailable_reason: "not public (test)"}]
    inputs:
      - {name: x0, expr: "good[0].pt", pad: 0}
      - {name: x1, expr: ht}
    outputs: {score: {tensor: dense_4, index: 0}}
regions:
  - name: presel
    cuts: ["n >= 1": n >= 1]
  - name: direct
    inherit: presel
    cuts: ["score > 0.5": M.score > 0.5]
  - name: via_variable
    inherit: presel
    cuts: ["2 s > 1": s2 > 1]
  - name: child
    inherit: direct
    cuts: ["ht > 100": ht > 100]
  - name: binned
    inherit: presel
    bins: {variable: s, edges: [0, 0.5, 1]}
  - name: hard
    inherit: presel
    cuts: ["ht > 100": ht > 100]
"""
PTS = [[150.0, 30.0], [50.0], [10.0], [300.0, 200.0, 25.0]]  # jets per event


def small_table():
    import awkward as ak

    jets = ak.Array([[{"pt": p, "eta": 0.0, "phi": 0.0, "mass": 0.0} for p in ev] for ev in PTS])
    return table_from_arrays({"jets": jets}, {"met": ak.Array([{"pt": 0.0, "phi": 0.0}] * len(PTS))})


def write_small(tmp_path, text=SMALL):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "analysis.yaml").write_text(text)
    return tmp_path / "analysis.yaml"


def test_dependent_regions_are_unavailable_the_others_run(tmp_path):
    path = write_small(tmp_path)
    ana = Analysis.for_arrays(path, small_table())
    reason = ana.unavailable["direct"]
    assert "not public (test)" in reason
    assert "models/m.onnx" in reason
    assert set(ana.unavailable) == {"direct", "via_variable", "child", "binned"}
    assert set(ana.unavailable.values()) == {reason}
    res = ana.run_table(small_table(), cross_section=2.0)
    assert list(res.cutflows) == ["presel", "hard"]
    assert "s" not in res.variable_names
    assert "s2" not in res.variable_names
    # the regions that ran, by hand: presel = events with a jet > 20 (0, 1, 3); hard: HT > 100 (0, 3)
    assert res.region_mask("presel").tolist() == [True, True, False, True]
    assert res.region_mask("hard").tolist() == [True, False, False, True]
    assert res.yield_("hard")[0] == pytest.approx(2.0 * 100 * 1000 * 2 / 4)
    with pytest.raises(ConfigError, match="did not run: not public"):
        res.cutflow("direct")
    doc = res.to_dict()
    assert doc["unavailable_regions"] == [
        {"name": r, "reason": reason} for r in ("direct", "via_variable", "child", "binned")
    ]
    assert [r["name"] for r in doc["regions"]] == ["presel", "hard"]  # no entry, no yield for the others
    jsonschema.validate(doc, json.loads((SCHEMAS / "results.schema.json").read_text()))
    merged = res.merge(res)  # survives combination of parts
    assert merged.unavailable == res.unavailable


def test_the_resolved_definition_lists_the_unavailable_regions(tmp_path):
    (tmp_path / "def").mkdir()
    path = write_small(tmp_path / "def")
    d = load_definition(path)
    out = d.resolve(tmp_path / "resolved")
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads((SCHEMAS / "resolved_definition.schema.json").read_text()))
    assert [u["region"] for u in doc["unavailable"]] == ["direct", "via_variable", "child", "binned"]
    assert [r["name"] for r in doc["regions"]] == ["presel", "hard"]
    assert doc["models"] == []
    core = _core.Analysis.from_json(out.read_text(), str(out), _core.table_schema(small_table()), {}, str(out.parent))
    assert list(core.run_table(small_table(), 1).region_names) == ["presel", "hard"]  # the C++ loader reads it
    bad = json.loads(out.read_text())
    bad["unavailable"] = [{"region": "x"}]  # no reason
    with pytest.raises(ConfigError, match="reason"):
        _core.Analysis.from_json(json.dumps(bad), str(out), _core.table_schema(small_table()), {}, str(out.parent))


def test_an_absent_file_without_a_declared_reason_is_still_an_error(tmp_path):
    text = SMALL.replace('unavailable_reason: "not public (test)"', f'sha256: "{"0" * 64}"')
    with pytest.raises(ConfigError, match=r"m\.onnx"):
        Analysis.for_arrays(write_small(tmp_path, text), small_table())


def test_the_model_file_dropped_in_makes_every_region_run(tmp_path):
    path = write_small(tmp_path)
    w = np.array([[0.02], [-0.01]])  # score = sigmoid(0.02 x0 - 0.01 HT - 1)
    data = linear_sigmoid(2, w, np.array([-1.0]))
    (tmp_path / "models" / "m.onnx").write_bytes(data)
    ana = Analysis.for_arrays(path, small_table())
    assert ana.unavailable == {}
    res = ana.run_table(small_table())
    assert res.to_dict()["unavailable_regions"] == []
    lead = np.array([150.0, 50.0, 0.0, 300.0])
    ht = np.array([180.0, 50.0, 0.0, 525.0])
    score = 1 / (1 + np.exp(-(0.02 * lead - 0.01 * ht - 1)))
    presel = np.array([True, True, False, True])
    got = res.variable("s")
    assert np.allclose(got[presel], score[presel], rtol=1e-6)
    assert res.region_mask("direct").tolist() == (presel & (score > 0.5)).tolist()
    assert res.region_mask("via_variable").tolist() == (presel & (2 * score > 1)).tolist()
    assert res.region_mask("child").tolist() == (presel & (score > 0.5) & (ht > 100)).tolist()
    assert res.region_mask("direct").any()
    assert not res.region_mask("direct").all()
    # a wrong checksum on a dropped-in file is an error (the card gives git_blob_sha1)
    text = SMALL.replace("unavailable_reason:", f"git_blob_sha1: '{'1' * 40}', unavailable_reason:")
    with pytest.raises(ConfigError, match="git blob id"):
        Analysis.for_arrays(write_small(tmp_path, text), small_table())
    text = SMALL.replace("unavailable_reason:", f"git_blob_sha1: '{blob_id(data)}', unavailable_reason:")
    assert Analysis.for_arrays(write_small(tmp_path, text), small_table()).unavailable == {}


def test_template_arguments_and_normalisation_file(tmp_path):
    text = SMALL.replace(
        """models:
  M:
    files: [{file: models/m.onnx, unavailable_reason: "not public (test)"}]
    inputs:
      - {name: x0, expr: "good[0].pt", pad: 0}
      - {name: x1, expr: ht}
    outputs: {score: {tensor: dense_4, index: 0}}""",
        """model_templates:
  t:
    files: [{file: models/m.onnx, unavailable_reason: "not public (test)"}]
    normalisation: {file: norm.csv}
    inputs:
      - {name: x0, expr: "good[0].pt", pad: 0}
      - {name: x1, expr: "{p}"}
    outputs: {score: {tensor: dense_4, index: 0}}
models:
  M: {template: t, arguments: {p: 7}}""",
    )
    (tmp_path / "norm.csv").write_text("# test\nname,mean,std\nx0,100,50\nx1,1,4\n")
    path = write_small(tmp_path, text)
    card = load_definition(path).doc["models"]["M"]
    assert [(str(i["name"]), str(i["expr"]), i["mean"], i["std"]) for i in card["inputs"]] == [
        ("x0", "good[0].pt", 100.0, 50.0),
        ("x1", "7", 1.0, 4.0),
    ]
    (tmp_path / "norm.csv").write_text("name,mean,std\nx0,100,50\n")
    with pytest.raises(ConfigError, match="input 'x1' is not in the normalisation file"):
        load_definition(path)


# ------------------------------------------------------------------------------------------------
# ATLAS-SUSY-2018-30 with a stand-in pNN
# ------------------------------------------------------------------------------------------------
NN_SRS = {
    # SR: (card, output index, threshold, common region, extra dphi cut)
    "SR-Gtt-2100-1": ("NN_Gtt_2100_1", 0, 0.9997, "NN-common-Gtt", None),
    "SR-Gtt-1800-1": ("NN_Gtt_1800_1", 0, 0.9997, "NN-common-Gtt", None),
    "SR-Gtt-2300-1200": ("NN_Gtt_2300_1200", 0, 0.9993, "NN-common-Gtt", None),
    "SR-Gtt-1900-1400": ("NN_Gtt_1900_1400", 0, 0.9987, "NN-common-Gtt", None),
    "SR-Gbb-2800-1400": ("NN_Gbb_2800_1400", 1, 0.999, "NN-common-Gbb", 0.6),
    "SR-Gbb-2300-1000": ("NN_Gbb_2300_1000", 1, 0.9994, "NN-common-Gbb", 0.6),
    "SR-Gbb-2100-1600": ("NN_Gbb_2100_1600", 1, 0.9993, "NN-common-Gbb", None),
    "SR-Gbb-2000-1800": ("NN_Gbb_2000_1800", 1, 0.997, "NN-common-Gbb", None),
}
POINTS = {"NN_Gtt_2100_1": (1, 2100, 1), "NN_Gtt_1800_1": (1, 1800, 1), "NN_Gtt_2300_1200": (1, 2300, 1200),
          "NN_Gtt_1900_1400": (1, 1900, 1400), "NN_Gbb_2800_1400": (0, 2800, 1400),
          "NN_Gbb_2300_1000": (0, 2300, 1000), "NN_Gbb_2100_1600": (0, 2100, 1600),
          "NN_Gbb_2000_1800": (0, 2000, 1800)}  # fmt: skip


def stand_in_weights():
    """output 0 = sigmoid(4 met' + 6 mGluino' + 3 isGtt' - 6), output 1 = sigmoid(4 met' + 3 mLSP' - 3 isGtt'
    - 2) (primes: normalised inputs), outputs 2-7 = sigmoid(0.1 x0'): the Gtt scores depend on the
    parameter point, so SRs sharing a threshold differ."""
    w = np.zeros((87, 8))
    b = np.zeros(8)
    w[82, 0], w[85, 0], w[84, 0], b[0] = 4.0, 6.0, 3.0, -6.0
    w[82, 1], w[86, 1], w[84, 1], b[1] = 4.0, 3.0, -3.0, -2.0
    w[0, 2:] = 0.1
    return w, b


@pytest.fixture(scope="module")
def with_stand_in(tmp_path_factory):
    """A copy of the bundled folder with the stand-in dropped in under the card's file name; the
    card's git blob id made the stand-in's, an `echo` output (the fed inputs) added to the template,
    and variables reading it for two cards."""
    src = find_definition(ID).parent
    dst = tmp_path_factory.mktemp("ana") / ID
    shutil.copytree(src, dst)
    w, b = stand_in_weights()
    data = linear_sigmoid(87, w, b, echo=True)
    (dst / "models" / "ThreeBjets_NN_2020_model.onnx").write_bytes(data)
    text = (dst / "analysis.yaml").read_text()
    text = text.replace("git_blob_sha1: 111abd3d2725ba22b7da1baa01689ad424d7bd1f", f"git_blob_sha1: {blob_id(data)}")
    echo = "".join(f"      echo_{k}: {{tensor: echo, index: {k}}}\n" for k in range(87))
    anchor = '      p_gbb: {tensor: dense_4, index: 1, meaning: "P(Gbb signal class)"}\n'
    assert anchor in text
    text = text.replace(anchor, anchor + echo)
    anchor = "  one_lep: n_sig_lep >= 1                                # 1L channel\n"
    assert anchor in text
    extra = "".join(
        f"  gtt_in_{k}: NN_Gtt_2100_1.echo_{k}\n  gbb_in_{k}: NN_Gbb_2800_1400.echo_{k}\n" for k in range(87)
    )
    text = text.replace(anchor, anchor + extra)
    (dst / "analysis.yaml").write_text(text)
    return dst, data


def events():
    from test_golden_susy_2018_30 import EVENTS

    evs = [EVENTS[k] for k in ("A", "A2", "A3", "A4", "A7", "L", "L2", "L4")]
    rotated = dict(EVENTS["L"], number=20, met={"pt": 900, "phi": -0.2})  # met_phi < 0 -> + 2 pi
    return [*evs, rotated]


def hand_inputs(ev, point):
    """The 87 raw inputs of spec 7.2, written out from the event (isolated objects: every
    object of these events is a signal object except where the golden test says otherwise)."""
    x: list[float] = []
    jets = []
    for j in ev["jets"]:
        # the golden events' overlap removal by hand: a non-b jet 0.1 from a tight electron goes
        near_e = any(math.hypot(j["eta"] - e["eta"], j["phi"] - e["phi"]) < 0.2 for e in ev.get("electrons", []))
        if near_e and not j["btag_MV2c10_77"]:
            continue
        jets.append(j)
    jets.sort(key=lambda j: -j["pt"])
    for k in range(10):
        if k < len(jets):
            j = jets[k]
            x += [j["pt"], j["eta"], j["phi"], 0.0, 1.0 if j["btag_MV2c10_77"] and abs(j["eta"]) < 2.5 else 0.0]
        else:
            x += [0.0] * 5
    # large-R: anti-kt 0.8 of the signal jets; in these events pairs closer than 0.8 merge and
    # nothing else does (checked in the golden test), so: merge the pairs with dR < 0.8
    used = [False] * len(jets)
    large = []
    for a in range(len(jets)):
        if used[a]:
            continue
        members = [a]
        for c in range(a + 1, len(jets)):
            dphi = (jets[a]["phi"] - jets[c]["phi"] + math.pi) % (2 * math.pi) - math.pi
            if not used[c] and math.hypot(jets[a]["eta"] - jets[c]["eta"], dphi) < 0.8:
                members.append(c)
        for m in members:
            used[m] = True
        px = sum(jets[m]["pt"] * math.cos(jets[m]["phi"]) for m in members)
        py = sum(jets[m]["pt"] * math.sin(jets[m]["phi"]) for m in members)
        pz = sum(jets[m]["pt"] * math.sinh(jets[m]["eta"]) for m in members)
        e = sum(jets[m]["pt"] * math.cosh(jets[m]["eta"]) for m in members)
        pt = math.hypot(px, py)
        large.append(
            (pt, math.asinh(pz / pt), math.atan2(py, px), math.sqrt(max(e * e - px * px - py * py - pz * pz, 0)))
        )
    large = sorted((j for j in large if j[0] > 100 and abs(j[1]) < 2.0), key=lambda j: -j[0])
    for k in range(4):
        x += list(large[k]) if k < len(large) else [0.0] * 4
    leptons = [(m["pt"], m["eta"], m["phi"], 0.10566) for m in ev.get("muons", []) if m["iso_ptvarcone30"] < 0.06]
    for e in ev.get("electrons", []):  # tight, isolated and not within min(0.4, 0.04 + 10/pT) of a kept jet
        cone = min(0.4, 0.04 + 10 / e["pt"])
        if e["wp_tight"] and not any(math.hypot(j["eta"] - e["eta"], j["phi"] - e["phi"]) < cone for j in jets):
            leptons.append((e["pt"], e["eta"], e["phi"], 0.000511))
    leptons.sort(key=lambda p: -p[0])
    for k in range(4):
        x += list(leptons[k]) if k < len(leptons) else [0.0] * 4
    met_phi = ev["met"]["phi"]
    x += [ev["met"]["pt"], met_phi + 2 * math.pi if met_phi < 0 else met_phi]
    x += [float(v) for v in point]
    return np.array(x)


def test_bundled_nn_srs_are_unavailable_with_the_reason():
    ana = golden.compile(ID)
    assert set(ana.unavailable) == set(NN_SRS)
    assert all("not public" in r and "ThreeBjets_NN_2020_model.onnx" in r for r in ana.unavailable.values())
    assert {r for r in ana.regions if r.startswith("SR-")} - set(ana.unavailable) == {
        "SR-Gtt-1L-B", "SR-Gtt-1L-M1", "SR-Gtt-1L-M2", "SR-Gtt-1L-C", "SR-Gtt-0L-B", "SR-Gtt-0L-M1",
        "SR-Gtt-0L-M2", "SR-Gtt-0L-C", "SR-Gbb-B", "SR-Gbb-M", "SR-Gbb-C", "SR-Gtb-B", "SR-Gtb-M", "SR-Gtb-C",
    }  # fmt: skip


def test_stand_in_receives_the_hand_normalised_inputs(with_stand_in):
    folder, _ = with_stand_in
    table = golden.reco_table(events())
    ana = Analysis.for_arrays(folder, table)
    assert ana.unavailable == {}
    res = ana.run_table(table)
    cfg = json.loads((folder / "nn_normalisation_config.json").read_text())
    mean = np.array(cfg["normalization"]["mean"])
    std = np.array(cfg["normalization"]["stddev"])
    fed = {p: np.stack([res.variable(f"{p}_in_{k}") for k in range(87)], axis=1) for p in ("gtt", "gbb")}
    common = res.region_mask("presel")  # the models run on every event; compare where all objects are as built
    n_checked = 0
    for k, ev in enumerate(events()):
        if not common[k]:
            continue
        for p, card in (("gtt", "NN_Gtt_2100_1"), ("gbb", "NN_Gbb_2800_1400")):
            want = ((hand_inputs(ev, POINTS[card]) - mean) / std).astype(np.float32)
            np.testing.assert_allclose(fed[p][k], want, rtol=2e-6, atol=2e-6, err_msg=f"event {k}, {card}")
            n_checked += 1
    assert n_checked >= 14
    # the parameter inputs (84-86) differ between the two cards: one evaluation per parameter point
    assert not np.allclose(fed["gtt"][:, 84:], fed["gbb"][:, 84:])


def test_nn_srs_follow_the_stand_in_scores(with_stand_in):
    folder, _ = with_stand_in
    table = golden.reco_table(events())
    ana = Analysis.for_arrays(folder, table)
    res = ana.run_table(table, cross_section=0.01)
    cfg = json.loads((folder / "nn_normalisation_config.json").read_text())
    mean = np.array(cfg["normalization"]["mean"])
    std = np.array(cfg["normalization"]["stddev"])
    w, b = stand_in_weights()
    outcomes = set()
    for sr, (card, index, cut, common, dphi) in NN_SRS.items():
        want = []
        for k, ev in enumerate(events()):
            x = ((hand_inputs(ev, POINTS[card]) - mean) / std).astype(np.float32).astype(np.float64)
            score = 1 / (1 + math.exp(-(x @ w[:, index] + b[index])))
            ok = bool(res.region_mask(common)[k]) and score > cut
            if dphi is not None:
                ok = ok and float(res.variable("dphi_min_4j")[k]) > dphi
            want.append(ok)
            outcomes.add((sr.split("-")[1], ok))
        assert res.region_mask(sr).tolist() == want, sr
        n_pass = sum(want)
        assert res.yield_(sr)[0] == pytest.approx(0.01 * 139 * 1000 * n_pass / len(want))
    assert {("Gtt", True), ("Gtt", False), ("Gbb", True), ("Gbb", False)} <= outcomes  # the scores decide
    # same threshold, different parameter point: different events
    assert res.region_mask("SR-Gtt-2100-1").tolist() != res.region_mask("SR-Gtt-1800-1").tolist()


def test_dropped_in_file_is_checked_against_the_known_blob(with_stand_in, tmp_path):
    _folder, data = with_stand_in
    copy = tmp_path / ID
    shutil.copytree(find_definition(ID).parent, copy)
    (copy / "models" / "ThreeBjets_NN_2020_model.onnx").write_bytes(data)  # not the ATLAS file
    with pytest.raises(ConfigError, match=r"git blob id .* the model card says 111abd3d"):
        Analysis.for_arrays(copy, golden.reco_table([{}]))


def test_statistics_show_and_report_name_the_unavailable_regions(capsys, tmp_path):
    from recast_ml.cli import main
    from recast_ml.report import run_report
    from recast_ml.run import analyse, format_summary

    ana = golden.compile(ID)
    from test_golden_susy_2018_30 import EVENTS

    res = ana.run_table(golden.reco_table(list(EVENTS.values())), cross_section=0.001)
    doc = analyse(ana, res)
    st = doc["statistics"]
    assert sorted(st["unavailable_regions"]) == sorted(NN_SRS)
    assert {r["region"] for r in st["regions"]} == {r for r in ana.regions if r.startswith("SR-")} - set(NN_SRS)
    jsonschema.validate(doc, json.loads((SCHEMAS / "results.schema.json").read_text()))
    summary = {"input": {"n_events": res.n_events, "cross_section_pb": 0.001, "cross_section_source": "test"},
               "analyses": [doc]}  # fmt: skip
    text = format_summary(summary)
    assert "UNAVAILABLE (8 regions, no yields): SR-Gtt-2100-1" in text
    assert "not public" in text
    assert "UNAVAILABLE (8 regions" in run_report(summary)
    assert main(["analyses", "show", ID]) == 0
    out = capsys.readouterr().out
    assert out.count("-- UNAVAILABLE: the ATLAS pNN is not public") == 8 + 8  # 8 cards, 8 regions
    assert "8 of " in out
    assert "regions unavailable" in out
    assert main(["definition", "resolve", ID, "-o", str(tmp_path / "r")]) == 0
    assert "(19 regions, 8 unavailable (model file absent), 0 model files in" in capsys.readouterr().out
