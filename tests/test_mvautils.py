"""ATLAS MVAUtils LightGBM forests (ROOT files, read with uproot) -> ONNX: the parse equals the spec's
parse checks (ATLAS-SUSY-2019-02 §7.2), the converted ONNX reproduces the spec's known-answer tests
(§7.7) through onnxruntime Python and through the C++ core (a model card with even/odd routing),
equals the independent reference evaluator (shared/specs/tools/mvautils_reference.py) on >= 10,000
inputs per file including inputs exactly on split thresholds and one float32 ulp either side, and
damaged or foreign files are ModelErrors naming the file and the element."""

from __future__ import annotations

import hashlib
import math
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from conftest import load_spec_tool
from recast_ml import ModelError
from recast_ml.analysis import Analysis, table_from_arrays
from recast_ml.convert import FORMATS, convert, convert_bytes, detect_format
from recast_ml.convert.mvautils import read_mvautils, right_children

FILES = ("DF0J_trained_even", "DF0J_trained_odd", "SF0J_trained_even", "SF0J_trained_odd")
FEATURES = ["lep1pT", "lep2pT", "MET", "MT2", "mll", "DPhib", "dPhiMETL1", "dPhiMETL2", "cosTstar", "METsig"]

# spec §7.7, verbatim: vector, file, raw0..raw3, P0..P3
KAT = """\
A,DF0J_trained_even,-1.568872,0.020159,-1.887185,-5.281754,0.150358,0.736605,0.109367,0.003670
A,DF0J_trained_odd,-1.535712,-0.102814,-1.746448,-5.490084,0.166113,0.696152,0.134550,0.003185
A,SF0J_trained_even,-1.380294,-0.094188,-2.254270,-4.504978,0.196854,0.712349,0.082145,0.008652
A,SF0J_trained_odd,-1.365121,-0.134415,-2.266052,-4.546692,0.205281,0.702812,0.083384,0.008523
B,DF0J_trained_even,-2.095756,0.083133,-2.203203,-5.021513,0.092694,0.819085,0.083250,0.004971
B,DF0J_trained_odd,-2.030556,-0.037617,-2.247555,-4.867333,0.108688,0.797454,0.087487,0.006371
B,SF0J_trained_even,-1.690670,-0.119648,-2.355517,-4.523331,0.156623,0.753600,0.080559,0.009218
B,SF0J_trained_odd,-1.539227,-0.114363,-2.314273,-4.542272,0.176441,0.733518,0.081283,0.008758
C,DF0J_trained_even,-1.160620,-1.294115,-0.502278,-5.294420,0.261599,0.228908,0.505302,0.004191
C,DF0J_trained_odd,-1.190573,-1.668067,-0.836171,-5.449473,0.326819,0.202737,0.465823,0.004621
C,SF0J_trained_even,-0.789676,-1.039598,-0.706380,-4.196519,0.344962,0.268677,0.374927,0.011434
C,SF0J_trained_odd,-0.838586,-1.369222,-0.993556,-4.273526,0.403731,0.237487,0.345771,0.013011
D,DF0J_trained_even,1.003691,-0.046805,-2.297281,-2.894731,0.710790,0.248609,0.026191,0.014410
D,DF0J_trained_odd,0.558152,-0.067422,-2.352862,-3.253573,0.620546,0.331964,0.033770,0.013720
D,SF0J_trained_even,0.657871,-1.037132,-2.944176,-4.076636,0.819905,0.150534,0.022357,0.007204
D,SF0J_trained_odd,0.633066,-0.965448,-2.836413,-4.190333,0.805562,0.162882,0.025080,0.006476
S,DF0J_trained_even,-2.002255,0.123276,-2.616289,-5.261674,0.100433,0.841359,0.054351,0.003858
S,DF0J_trained_odd,-1.915891,0.081402,-2.591906,-5.320228,0.112221,0.826969,0.057080,0.003729
S,SF0J_trained_even,-1.711380,-0.101806,-2.751186,-4.537677,0.155923,0.779719,0.055122,0.009236
S,SF0J_trained_odd,-1.716058,-0.065720,-2.788255,-4.542272,0.151281,0.787981,0.051777,0.008961
T,DF0J_trained_even,-1.263927,-0.529923,-1.271974,-4.185036,0.242174,0.504546,0.240233,0.013047
T,DF0J_trained_odd,-1.304069,-0.611929,-1.237349,-4.520420,0.243482,0.486473,0.260281,0.009764
T,SF0J_trained_even,-1.174415,-0.697269,-1.616851,-3.138575,0.294619,0.474770,0.189284,0.041327
T,SF0J_trained_odd,-1.203725,-0.743502,-1.558064,-3.082135,0.290791,0.460737,0.204030,0.044442
E1,DF0J_trained_even,-1.611730,-0.710119,-1.436075,-5.492135,0.213847,0.526827,0.254912,0.004414
E1,DF0J_trained_odd,-1.486869,-0.722001,-1.336754,-5.480189,0.230994,0.496339,0.268408,0.004259
E1,SF0J_trained_even,-1.324999,-0.440346,-1.525254,-4.409488,0.233295,0.565074,0.190957,0.010674
E1,SF0J_trained_odd,-1.315080,-0.611302,-1.614965,-4.564657,0.263084,0.531791,0.194920,0.010205
E2,DF0J_trained_even,-1.712287,-0.538353,-1.888052,-4.979968,0.195633,0.632814,0.164100,0.007453
E2,DF0J_trained_odd,-1.612065,-0.502750,-1.728475,-5.272045,0.202097,0.612814,0.179888,0.005201
E2,SF0J_trained_even,-1.546325,-0.382477,-1.809129,-4.171168,0.198272,0.634913,0.152450,0.014365
E2,SF0J_trained_odd,-1.634531,-0.353381,-1.896711,-4.543497,0.184343,0.663777,0.141828,0.010053
E3,DF0J_trained_even,-1.659071,-0.119456,-2.332134,-5.231059,0.161263,0.751938,0.082267,0.004531
E3,DF0J_trained_odd,-1.667984,-0.106114,-2.343481,-5.142741,0.158539,0.755870,0.080681,0.004910
E3,SF0J_trained_even,-1.669615,-0.137680,-2.450105,-4.520594,0.162785,0.753224,0.074585,0.009407
E3,SF0J_trained_odd,-1.646123,-0.082212,-2.461801,-4.542462,0.159362,0.761346,0.070492,0.008801
E4,DF0J_trained_even,-2.145021,0.150076,-2.187366,-4.946233,0.083719,0.830948,0.080248,0.005085
E4,DF0J_trained_odd,-2.028423,0.197897,-2.085370,-4.656610,0.088632,0.821241,0.083726,0.006400
E4,SF0J_trained_even,-1.706932,-0.109432,-2.403385,-4.523331,0.153874,0.760239,0.076683,0.009205
E4,SF0J_trained_odd,-1.740987,-0.095942,-2.300293,-4.542272,0.146766,0.760429,0.083892,0.008913
"""


def kat_rows() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    out = {}
    for line in KAT.splitlines():
        vec, file, *nums = line.split(",")
        v = np.array([float(x) for x in nums])
        out[(vec, file)] = (v[:4], v[4:])
    return out


@pytest.fixture(scope="module")
def ref():
    return load_spec_tool("mvautils_reference")


@pytest.fixture(scope="module")
def bdt_dir(shared_data):
    return shared_data / "ATLAS-SUSY-2019-02" / "bdt_root"


def path_of(bdt_dir, key):
    return bdt_dir / f"ANA-SUSY-2019-02_{key}.root"


@pytest.fixture(scope="module")
def sessions(bdt_dir):
    return {k: ort.InferenceSession(convert(path_of(bdt_dir, k)).SerializeToString()) for k in FILES}


@pytest.fixture(scope="module")
def kat_vectors(ref):
    """The spec's feature vectors: A, B, C, D, S, T as given, E1..E4 from the reference's
    event-level helper (m_T2 by convex minimisation)."""
    vectors = {k: list(v) for k, v in ref.KAT_VECTORS.items()}
    for name, (l1, l2, mx, my, sig) in ref.EVENT_KATS.items():
        vectors[name] = ref.features_from_event(l1, l2, mx, my, sig)
    # the derived values the spec tabulates (6 decimals), as a check of the helper itself
    np.testing.assert_allclose(
        vectors["E4"][3:9], [85.505036, 141.799470, 0.305173, 2.853185, 1.25, 0.230768], atol=2e-6
    )
    return vectors


def run_onnx(sess, x):
    raw, prob = sess.run(["raw_scores", "probabilities"], {"input": np.asarray(x, dtype=np.float32)})
    return raw, prob


# ---- parse ------------------------------------------------------------------------------------------

PARSE = {  # spec §7.2: total nodes, sum of all values, sum of leaf values per class (float64)
    "DF0J_trained_even": (18800, 359466.896531, (-11.376684, -32.534966, -31.929595, -45.971418)),
    "DF0J_trained_odd": (18800, 361920.273842, (-13.284189, -31.956484, -31.145629, -44.116689)),
    "SF0J_trained_even": (23400, 461030.833655, (-11.319188, -32.940511, -34.440722, -18.488136)),
    "SF0J_trained_odd": (23400, 469264.190015, (-10.862134, -34.465556, -33.483776, -19.116271)),
}


@pytest.mark.parametrize("key", FILES)
def test_parse_equals_the_spec_checks(bdt_dir, key):
    forest = read_mvautils(path_of(bdt_dir, key))
    nodes, total, per_class = PARSE[key]
    assert forest.n_nodes == nodes
    assert forest.n_classes == 4
    assert len(forest.trees) == (400 if key.startswith("DF") else 600)
    assert forest.feature_names == FEATURES
    assert forest.tree_name == ("lgbm_DF" if key.startswith("DF") else "lgbm_SF")
    assert sum(float(t.value.astype(np.float64).sum()) for t in forest.trees) == pytest.approx(total, abs=2e-6)
    leaf_sums = [
        sum(float(t.value[t.feature < 0].astype(np.float64).sum()) for t in forest.trees[c::4]) for c in range(4)
    ]
    np.testing.assert_allclose(leaf_sums, per_class, atol=2e-6)
    leaves = {len(t.feature) for t in forest.trees}
    assert leaves == ({47} if key.startswith("DF") else {39})
    assert min(t.depth for t in forest.trees) >= 6
    assert forest.max_depth <= 14


def test_first_tree_of_df_even(bdt_dir):
    tree = read_mvautils(path_of(bdt_dir, "DF0J_trained_even")).trees[0]
    vars_ = [9, 8, 0, 3, -1, 9, 4, 3, -1, -1, -1, 0, -1, -1, 8, 7, -1, 9, -1, -1, 6, -1, -1, 4, -1, 0, -1, -1]
    vars_ += [8, 9, 0, 8, -1, -1, 8, -1, -1, 3, -1, -1, 8, 9, 1, -1, -1, -1, -1]
    assert tree.feature.tolist() == vars_
    offsets = [28, 22, 12, 2, 0, 6, 4, 2, 0, 0, 0, 2, 0, 0, 6, 2, 0, 2, 0, 0, 2, 0, 0, 2, 0, 2, 0, 0, 12, 8, 4, 2, 0]
    offsets += [0, 2, 0, 0, 2, 0, 0, 6, 4, 2, 0, 0, 0, 0]
    got = [int(r - i) if r >= 0 else 0 for i, r in enumerate(tree.right)]
    assert got == offsets
    np.testing.assert_array_equal(
        tree.value[:5], np.array([6.62184238, 0.818901896, 49.5511436, 10.2220936, -1.04580522], np.float32)
    )


def test_right_children_rule():
    right, depth = right_children(np.array([2, 0, -1, -1, -1], np.int32), "x", "tree 0")
    assert right.tolist() == [4, 3, -1, -1, -1]  # offsets (4, 2, 0, 0, 0), spec §7.2
    assert depth == 2
    with pytest.raises(ModelError, match=r"^f.root: tree 3: 3 nodes end before the tree is complete"):
        right_children(np.array([0, 1, -1], np.int32), "f.root", "tree 3")
    with pytest.raises(ModelError, match=r"^f.root: tree 3: the tree is complete at node 2, but there are 4 nodes"):
        right_children(np.array([0, -1, -1, -1], np.int32), "f.root", "tree 3")


# ---- known-answer tests (spec §7.7) ---------------------------------------------------------------


def test_known_answers_through_onnxruntime(sessions, kat_vectors):
    expected = kat_rows()
    names = list(kat_vectors)
    worst_raw = worst_p = 0.0
    for key in FILES:
        raw, prob = run_onnx(sessions[key], [kat_vectors[n] for n in names])
        for k, n in enumerate(names):
            raw_ref, p_ref = expected[(n, key)]
            worst_raw = max(worst_raw, float(np.abs(raw[k] - raw_ref).max()))
            worst_p = max(worst_p, float(np.abs(prob[k] - p_ref).max()))
    assert len(expected) == 40
    # the table has 6 decimals: 5e-7 rounding + float32 sums
    assert worst_raw <= 1e-5, worst_raw
    assert worst_p <= 1e-5, worst_p


def test_equality_goes_left(sessions, kat_vectors):
    """KAT T: METsig exactly on the root threshold of tree 0 of DF even; '<' would give the
    spec's diagnostic values."""
    t = np.array(kat_vectors["T"], np.float32)
    assert t[9] == np.float32(6.62184238)
    raw, prob = run_onnx(sessions["DF0J_trained_even"], [t])
    np.testing.assert_allclose(raw[0], [-1.263927, -0.529923, -1.271974, -4.185036], atol=1e-5)
    assert abs(prob[0][1] - 0.530406) > 0.02  # the "<" evaluator's P1
    above = t.copy()
    above[9] = np.nextafter(t[9], np.float32(np.inf))
    raw_above, _ = run_onnx(sessions["DF0J_trained_even"], [above])
    assert raw_above[0][0] == pytest.approx(-1.307641, abs=1e-5)  # the right branch of tree 0


def test_metadata_and_cli(bdt_dir, tmp_path, capsys):
    from recast_ml.cli import main
    from recast_ml.models import describe

    src = path_of(bdt_dir, "SF0J_trained_odd")
    assert detect_format(src) == "mvautils"
    info = describe(str(src))
    assert info["format"] == FORMATS["mvautils"] == "MVAUtils ROOT"
    meta = info["metadata"]
    stored = {k: meta[k] for k in ("trees", "num_class", "features", "nodes", "node_type", "tree", "objective")}
    assert stored == {
        "trees": "600",
        "num_class": "4",
        "features": "10",
        "nodes": "23400",
        "node_type": "lgbm_simple",
        "tree": "lgbm_SF",
        "objective": "multiclass num_class:4",
    }
    assert 6 <= int(meta["max_depth"]) <= 14
    assert info["inputs"][0]["features"] == FEATURES
    assert [o["name"] for o in info["outputs"]] == ["raw_scores", "probabilities"]
    assert main(["models", "inspect", str(src)]) == 0
    text = capsys.readouterr().out
    assert "format: MVAUtils ROOT" in text
    assert "metadata trees: 600" in text
    out = tmp_path / "sf_odd.onnx"
    assert main(["models", "convert", str(src), str(out)]) == 0
    assert "(MVAUtils ROOT)" in capsys.readouterr().out
    sess = ort.InferenceSession(out.read_bytes())
    x = np.array([[134.7, 88.7, 120.1, 83.1, 137.5, 0.93, 3.13, 2.88, 0.32, 14.2]], np.float32)
    np.testing.assert_allclose(
        sess.run(["probabilities"], {"input": x})[0][0], [0.151281, 0.787981, 0.051777, 0.008961], atol=1e-5
    )


# ---- converted ONNX == reference evaluator on >= 10,000 inputs per file ---------------------------


def vectorised_reference(forest, x32):
    """The reference evaluator's rule (``tree_response`` / ``raw_scores``) over many rows at once,
    on the reference's own parse (its node arrays and right offsets): x <= threshold goes left in
    float32, float32 sums in tree order. Checked bit-exact against the row-by-row reference on a
    subset by the caller."""
    n = len(x32)
    rows = np.arange(n)
    acc = np.zeros((n, forest.num_class), np.float32)
    for k, (var, val, right) in enumerate(forest.trees):
        right = np.asarray(right)
        i = np.zeros(n, np.int64)
        while True:
            inner = var[i] >= 0
            if not inner.any():
                break
            v = np.where(inner, var[i], 0)
            left = x32[rows, v] <= val[i]
            i = np.where(inner, np.where(left, i + 1, i + right[i]), i)
        c = k % forest.num_class
        acc[:, c] = (acc[:, c] + val[i]).astype(np.float32)
    return acc


def inputs_for(forest, ranges, rng, n_random=4000, n_threshold=2000):
    """Random inputs in the training ranges, and inputs with one feature exactly on the threshold
    of a node the base input reaches (and one float32 ulp below and above it)."""
    lo, hi = ranges[:, 0], ranges[:, 1]
    base = rng.uniform(lo, hi * 0.3 + lo * 0.7, size=(n_random + n_threshold, len(lo))).astype(np.float32)
    x = [base[:n_random]]
    on, below, above = [], [], []
    for b in base[n_random:]:
        var, val, right = forest.trees[int(rng.integers(len(forest.trees)))]
        path, i = [], 0
        while var[i] >= 0:
            path.append(i)
            i = i + 1 if b[var[i]] <= val[i] else i + right[i]
        node = path[int(rng.integers(len(path)))]
        t = val[node]
        for out, value in (
            (on, t),
            (below, np.nextafter(t, np.float32(-np.inf))),
            (above, np.nextafter(t, np.float32(np.inf))),
        ):
            y = b.copy()
            y[var[node]] = value
            out.append(y)
    return np.concatenate([*x, np.array(on), np.array(below), np.array(above)]), n_random


@pytest.mark.parametrize("key", FILES)
def test_onnx_equals_the_reference_evaluator(ref, bdt_dir, sessions, key):
    import ast

    forest = ref.Forest(str(path_of(bdt_dir, key)))
    infos = ast.literal_eval(forest.meta["feature_infos"])
    ranges = np.array([[v["min_value"], v["max_value"]] for v in infos.values()])
    rng = np.random.default_rng(FILES.index(key) + 11)
    x, n_random = inputs_for(forest, ranges, rng)
    assert len(x) >= 10_000
    expected = vectorised_reference(forest, x)
    for k in (*range(0, 20), *range(n_random, n_random + 20), *range(len(x) - 20, len(x))):
        np.testing.assert_array_equal(expected[k], ref.Forest.raw_scores(forest, x[k]))  # the literal reference
    raw, prob = run_onnx(sessions[key], x)
    p_ref = np.exp(expected - expected.max(axis=1, keepdims=True))
    p_ref /= p_ref.sum(axis=1, keepdims=True)
    d_raw = float(np.abs(raw - expected).max())
    d_p = float(np.abs(prob - p_ref).max())
    print(f"{key}: {len(x)} inputs, max |raw diff| {d_raw:.2e}, max |P diff| {d_p:.2e}")
    assert d_raw <= 1e-5
    assert d_p <= 1e-5
    # the threshold inputs do change the decisions: on/below and above give different scores
    n = (len(x) - n_random) // 3
    on, above = expected[n_random : n_random + n], expected[n_random + 2 * n :]
    assert (on != above).any(axis=1).mean() > 0.5


# ---- the C++ core path: a model card with the two DF files routed by event-number parity ----------


def card_definition(bdt_dir, tmp_path, flavour="DF", cut=0.81):
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    sha = {}
    for half in ("even", "odd"):
        name = f"ANA-SUSY-2019-02_{flavour}0J_trained_{half}.root"
        shutil.copy(bdt_dir / name, models / name)
        sha[half] = hashlib.sha256((models / name).read_bytes()).hexdigest()
    inputs = "\n".join(f"      - {{name: {f}, expr: x.{f}}}" for f in FEATURES)
    text = f"""format: recast_ml/analysis
format_version: 1
info: {{id: MVAUTILS-1, experiment: toy, sqrt_s: 13, luminosity: 139}}
models:
  bdt:
    description: {flavour} BDT; event number even -> trained_odd, odd -> trained_even (spec 7.5)
    files:
      - {{file: models/ANA-SUSY-2019-02_{flavour}0J_trained_odd.root, sha256: {sha["odd"]}, route: 0}}
      - {{file: models/ANA-SUSY-2019-02_{flavour}0J_trained_even.root, sha256: {sha["even"]}, route: 1}}
    route: event.number % 2
    inputs:
{inputs}
    outputs:
      p0: {{tensor: probabilities, index: 0}}
      signal: {{tensor: probabilities, index: 1}}
      p2: {{tensor: probabilities, index: 2}}
      others: {{tensor: probabilities, index: 3}}
      raw1: {{tensor: raw_scores, index: 1}}
variables:
  p0: bdt.p0
  p1: bdt.signal
  p2: bdt.p2
  p3: bdt.others
  raw1: bdt.raw1
regions:
  - name: SR
    cuts:
      - "P1 > {cut}": bdt.signal > {cut}
"""
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("flavour", ["DF", "SF"])
def test_core_model_card_with_parity_routing(ref, bdt_dir, tmp_path, kat_vectors, flavour):
    import awkward as ak

    names = list(kat_vectors)
    rng = np.random.default_rng(5)
    random_rows = rng.uniform(
        [27, 9, 30, 0, 11, 0, 0, 0, 0, 3], [400, 200, 400, 200, 400, 3.1, 3.1, 3.1, 1, 30], (190, 10)
    )
    x = np.concatenate([np.array([kat_vectors[n] for n in names] * 2), random_rows])
    n = len(x)
    numbers = np.concatenate(
        [np.arange(len(names)) * 2, np.arange(len(names)) * 2 + 1, rng.integers(0, 10**9, n - 2 * len(names))]
    )
    table = table_from_arrays({}, {"x": ak.zip({f: x[:, k] for k, f in enumerate(FEATURES)})}, event_number=numbers)
    cut = {"DF": 0.81, "SF": 0.77}[flavour]  # the lowest SR-BDT-DF / -SF thresholds (spec §6)
    path = card_definition(bdt_dir, tmp_path, flavour, cut)
    res = Analysis.for_arrays(path, table).run_table(table)
    got = np.stack([res.variable(f"p{c}") for c in range(4)], axis=1)
    forests = {h: ref.Forest(str(path_of(bdt_dir, f"{flavour}0J_trained_{h}"))) for h in ("even", "odd")}
    expected = np.array(
        [forests["odd" if e % 2 == 0 else "even"].multi_response(row) for row, e in zip(x, numbers, strict=True)]
    )
    raw1 = np.array(
        [forests["odd" if e % 2 == 0 else "even"].raw_scores(row)[1] for row, e in zip(x, numbers, strict=True)]
    )
    d_p, d_raw = float(np.abs(got - expected).max()), float(np.abs(res.variable("raw1") - raw1).max())
    print(f"core, {flavour}: {n} events, max |P diff| {d_p:.2e}, max |raw1 diff| {d_raw:.2e}")
    assert d_p <= 1e-5
    assert d_raw <= 1e-5
    # the spec's table: even event numbers use trained_odd, odd ones trained_even
    kat = kat_rows()
    for k, name in enumerate(names):
        for row, half in ((k, "odd"), (k + len(names), "even")):
            np.testing.assert_allclose(got[row], kat[(name, f"{flavour}0J_trained_{half}")][1], atol=1e-5)
    np.testing.assert_array_equal(res.region_mask("SR"), got[:, 1] > cut)
    # `recast-ml models inspect DEFINITION:bdt`: the card beside the converted ROOT file
    from recast_ml.models import describe

    info = describe(f"{path}:bdt")
    assert info["format"] == "MVAUtils ROOT"
    assert [f["route"] for f in info["files"]] == [0, 1]
    assert info["files"][0]["file"].endswith(f"{flavour}0J_trained_odd.root")
    assert [(o["name"], o["tensor"], o["index"]) for o in info["card_outputs"]][:2] == [
        ("p0", "probabilities", 0),
        ("signal", "probabilities", 1),
    ]
    assert [i["name"] for i in info["card_inputs"]] == info["inputs"][0]["features"] == FEATURES
    assert 0 < res.region_mask("SR").sum() < n


# ---- bad files -------------------------------------------------------------------------------------


def write_forest(path, trees, title=None, name="lgbm_DF", default_left=None):
    """An MVAUtils-like forest written with uproot (jagged branches); ``trees`` = [(vars, values)]."""
    import awkward as ak
    import uproot

    title = title or (
        "creator=lgbm;node_type=lgbm_simple;name=tree;version=v3;num_class=2;num_tree_per_iteration=2;"
        "label_index=0;max_feature_idx=1;objective=multiclass num_class:2;average_output=False;"
        "feature_infos={'a': {'min_value': 0.0, 'max_value': 1.0, 'values': []}, "
        "'b': {'min_value': 0.0, 'max_value': 1.0, 'values': []}}"
    )
    columns = {
        "vars": ak.values_astype(ak.Array([list(v) for v, _ in trees]), np.int32),
        "values": ak.values_astype(ak.Array([[float(x) for x in w] for _, w in trees]), np.float32),
    }
    if default_left is not None:
        columns["default_left"] = ak.values_astype(ak.Array([list(d) for d in default_left]), np.bool_)
    with uproot.recreate(path) as f:
        f.mktree(name, {k: v.type.content for k, v in columns.items()}, title=title)
        f[name].extend(columns)
    return path


TOY = [  # class 0: a <= 0.5 ? -1 : (b <= 0.25 ? 0.5 : 2); class 1: stump on b at 0.75
    ([0, -1, 1, -1, -1], [0.5, -1.0, 0.25, 0.5, 2.0]),
    ([1, -1, -1], [0.75, 0.25, -0.25]),
]


def test_toy_forest_written_with_uproot(tmp_path):
    path = write_forest(tmp_path / "toy.root", TOY)
    sess = ort.InferenceSession(convert(path).SerializeToString())
    x = np.array([[0.5, 0.0], [0.6, 0.25], [0.6, 0.3], [0.1, 0.75], [0.1, 0.8], [np.nan, np.nan]], np.float32)
    raw, prob = run_onnx(sess, x)
    # NaN goes right for the simple node type (x <= t is false)
    np.testing.assert_array_equal(raw, [[-1, 0.25], [0.5, 0.25], [2, 0.25], [-1, 0.25], [-1, -0.25], [2, -0.25]])
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    np.testing.assert_allclose(prob, e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_default_left_routes_nan(tmp_path):
    title = (
        "creator=lgbm;node_type=lgbm;num_class=2;num_tree_per_iteration=2;max_feature_idx=1;"
        "objective=multiclass num_class:2"
    )
    path = write_forest(
        tmp_path / "dl.root", TOY, title=title, default_left=[[True, False, False, False, False], [False, False, False]]
    )
    sess = ort.InferenceSession(convert(path).SerializeToString())
    raw, _ = run_onnx(sess, np.array([[np.nan, 0.1], [0.9, np.nan], [np.nan, np.nan], [0.9, 0.1]], np.float32))
    np.testing.assert_array_equal(raw, [[-1, 0.25], [2, -0.25], [-1, -0.25], [0.5, 0.25]])
    assert read_mvautils(path).feature_names is None  # no feature_infos: no names, width 2


def test_a_truncated_file_names_the_file(bdt_dir, tmp_path):
    data = path_of(bdt_dir, "DF0J_trained_even").read_bytes()
    for cut in (100, 400, len(data) // 2, len(data) - 2000, len(data) - 100, len(data) - 1):
        path = tmp_path / f"cut{cut}.root"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=rf"^{path}: .*(truncated ROOT file: {cut} bytes|not a readable ROOT)"):
            convert(path)


def test_a_damaged_basket_names_the_file(bdt_dir, tmp_path):
    data = bytearray(path_of(bdt_dir, "DF0J_trained_even").read_bytes())
    for k in range(20_000, 20_100):
        data[k] ^= 0x5A
    path = tmp_path / "damaged.root"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=rf"^{path}: "):
        convert(path)


def test_root_files_of_other_content(tmp_path):
    import uproot

    hist = tmp_path / "hist.root"
    with uproot.recreate(hist) as f:
        f["h"] = np.histogram([1.0, 2.0, 2.5], bins=3)
    with pytest.raises(ModelError, match=rf"^{hist}: not an MVAUtils forest: the ROOT file holds no TTree.*h \(TH1D\)"):
        detect_format(hist)
    rntuple = tmp_path / "rntuple.root"
    with uproot.recreate(rntuple) as f:
        f["events"] = {"pt": np.array([1.0, 2.0])}  # uproot >= 5.6 writes an RNTuple
    with pytest.raises(ModelError, match=rf"^{rntuple}: not an MVAUtils forest: the ROOT file holds no TTree"):
        convert(rntuple)
    events = tmp_path / "events.root"
    with uproot.recreate(events) as f:
        f.mktree("events", {"pt": np.float64}, title="Delphes-like events").extend({"pt": np.array([1.0, 2.0])})
    with pytest.raises(
        ModelError, match=rf"^{events}: not an MVAUtils forest: the title of TTree 'events' has no creator="
    ):
        convert(events)
    two = tmp_path / "two.root"
    with uproot.recreate(two) as f:
        f.mktree("a", {"x": np.float64})
        f.mktree("b", {"x": np.float64})
    with pytest.raises(ModelError, match=rf"^{two}: not an MVAUtils forest: the ROOT file holds 2 TTrees"):
        convert(two)
    tmva = write_forest(tmp_path / "tmva.root", TOY, title="creator=TMVA;node_type=TMVA;num_class=2")
    with pytest.raises(ModelError, match=r"creator=TMVA node_type=TMVA is not supported"):
        convert(tmva)


def test_non_root_files(tmp_path):
    text = tmp_path / "notes.root"
    text.write_text("this is not a ROOT file\n")
    with pytest.raises(ModelError, match=rf"^{text}: unknown model format"):
        convert(text)
    fake = tmp_path / "fake.root"
    fake.write_bytes(b"root" + b"\x00" * 60)
    with pytest.raises(ModelError, match=rf"^{fake}: not an MVAUtils forest: the ROOT file holds no TTree.*nothing"):
        convert(fake)
    with pytest.raises(ModelError, match=r"^orig/f.root: not a readable ROOT file"):
        convert_bytes(b"root" + b"\xff" * 200, "f.root", source="orig/f.root")


@pytest.mark.parametrize(
    ("trees", "title_change", "message"),
    [
        (
            [TOY[0], ([1, -1, -1], [0.75, 0.25])],
            None,
            r"TTree 'lgbm_DF' entry 1 \(tree 1, class 1\): 'vars' has 3 nodes, 'values' 2",
        ),
        (
            [TOY[0], ([1, -1], [0.75, 0.25])],
            None,
            r"entry 1 \(tree 1, class 1\): 2 nodes end before the tree is complete",
        ),
        (
            [TOY[0], ([1, -1, -1, -1], [0.75, 0.25, 1, 1])],
            None,
            r"entry 1 .*: the tree is complete at node 2, but there are 4",
        ),
        (
            [TOY[0], ([2, -1, -1], [0.75, 0.25, 1])],
            None,
            r"entry 1 \(tree 1, class 1\) node 0: split feature 2, expected -1 \(leaf\) or 0..1",
        ),
        (
            [TOY[0], ([1, -1, -1], [math.nan, 0.25, 1])],
            None,
            r"entry 1 \(tree 1, class 1\) node 0: threshold nan is not a finite",
        ),
        ([TOY[0], ([], [])], None, r"entry 1 \(tree 1, class 1\): no nodes"),
        ([TOY[0]], None, r"1 trees is not a multiple of num_class=2"),
        (TOY, ("num_class=2", "num_class=x"), r"num_class='x' is not an integer"),
        (
            TOY,
            ("average_output=False", "average_output=True"),
            r"average_output=True \(random forest\) is not supported",
        ),
        (TOY, ("max_feature_idx=1", "max_feature_idx=4"), r"feature_infos names 2 features, max_feature_idx=4"),
        (TOY, ("max_feature_idx=1;", "max_feature_idx=2000000000;"), r"max_feature_idx=2000000000: expected 0"),
        (TOY, ("feature_infos={", "feature_infos={{"), r"feature_infos in the title is not a readable dict literal"),
    ],
)
def test_inconsistent_forests(tmp_path, trees, title_change, message):
    path = write_forest(tmp_path / "bad.root", trees)
    if title_change:
        import uproot

        with uproot.open(path) as f:
            title = f["lgbm_DF"].title
        path = write_forest(tmp_path / "bad2.root", trees, title=title.replace(*title_change))
    with pytest.raises(ModelError, match=rf"^{path}: .*{message}"):
        convert(path)


def test_missing_branch(tmp_path):
    import uproot

    path = tmp_path / "nobranch.root"
    with uproot.recreate(path) as f:
        f.mktree("lgbm_SF", {"vars": "int32"}, title="creator=lgbm;node_type=lgbm_simple;num_class=1;max_feature_idx=0")
    with pytest.raises(ModelError, match=rf"^{path}: TTree 'lgbm_SF': no branch values"):
        convert(path)


def test_swapped_card_inputs_are_refused(bdt_dir, tmp_path):
    """The card's input names are checked against the feature names the ROOT file records."""
    import awkward as ak

    path = card_definition(bdt_dir, tmp_path)
    text = path.read_text()
    text = text.replace("{name: lep1pT, expr: x.lep1pT}", "{name: TMP, expr: x.lep1pT}")
    text = text.replace("{name: lep2pT, expr: x.lep2pT}", "{name: lep1pT, expr: x.lep2pT}")
    path.write_text(text.replace("{name: TMP,", "{name: lep2pT,"))
    table = table_from_arrays({}, {"x": ak.zip({f: np.ones(3) for f in FEATURES})}, event_number=np.arange(3))
    with pytest.raises(ModelError, match=r"input 0 is 'lep2pT' in the card, 'lep1pT' in the model"):
        Analysis.for_arrays(path, table)


def test_one_class_forest_gives_a_sigmoid(tmp_path):
    """num_class=1 (binary objective): MVAUtils GetClassification = 1 / (1 + exp(-raw))."""
    title = "creator=lgbm;node_type=lgbm_simple;num_class=1;num_tree_per_iteration=1;max_feature_idx=1;objective=binary"
    path = write_forest(tmp_path / "binary.root", TOY, title=title)
    raw, prob = run_onnx(ort.InferenceSession(convert(path).SerializeToString()), np.array([[0.6, 0.3]], np.float32))
    assert raw.shape == (1, 1)
    assert raw[0, 0] == np.float32(2.0 + 0.25)  # both trees add to the one class
    np.testing.assert_allclose(prob[0, 0], 1 / (1 + math.exp(-2.25)), rtol=1e-6)
