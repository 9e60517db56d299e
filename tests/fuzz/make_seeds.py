"""Writes the valid seed inputs of the fuzz harness into tests/fuzz/seeds/ (committed; re-run
``python tests/fuzz/make_seeds.py`` only to change them). Each seed is small, so that a
truncation sweep at every line boundary and a mutation batch stay fast, and covers the
constructs of its format (vertices, weights, cross section, header blocks, both tree kinds ...)."""

from __future__ import annotations

import json
from pathlib import Path

SEEDS = Path(__file__).parent / "seeds"


def genevents():
    """Three small events: p p -> g g, one gluon 'decays' to q qbar, plus a final-state photon."""
    import pyhepmc

    run_info = pyhepmc.GenRunInfo()
    run_info.weight_names = ["nominal", "muR2"]
    out = []
    for i in range(3):
        g = pyhepmc.GenEvent()
        g.event_number = i
        g.run_info = run_info
        s = 1.0 + 0.1 * i
        p1 = pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, 6500, 6500), 2212, 4)
        p2 = pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, -6500, 6500), 2212, 4)
        g1 = pyhepmc.GenParticle(pyhepmc.FourVector(30 * s, 10, 200, 202.7 * s), 21, 2)
        g2 = pyhepmc.GenParticle(pyhepmc.FourVector(-30 * s, -10, -150, 153.3 * s), 21, 1)
        q = pyhepmc.GenParticle(pyhepmc.FourVector(20 * s, 5, 120, 121.8 * s), 1, 1)
        qb = pyhepmc.GenParticle(pyhepmc.FourVector(10 * s, 5, 80, 80.9 * s), -1, 1)
        gam = pyhepmc.GenParticle(pyhepmc.FourVector(0.5, 0.3, 1.0, 1.16), 22, 1)
        v1 = pyhepmc.GenVertex()
        for p in (p1, p2):
            v1.add_particle_in(p)
        for p in (g1, g2, gam):
            v1.add_particle_out(p)
        v2 = pyhepmc.GenVertex()
        v2.add_particle_in(g1)
        v2.add_particle_out(q)
        v2.add_particle_out(qb)
        g.add_vertex(v1)
        g.add_vertex(v2)
        g.weights = [1.0 + i, 0.5]
        cs = pyhepmc.GenCrossSection()
        cs.set_cross_section(12.5, 0.25, i + 1, i + 1)
        g.cross_section = cs
        out.append(g)
    return out


LHE = """<LesHouchesEvents version="3.0">
<header>
<!-- fuzz seed -->
</header>
<init>
2212 2212 6.500000e+03 6.500000e+03 0 0 247000 247000 -4 1
1.20e+01 3.0e-01 1.0e+00 1
</init>
<event>
 4 1 +2.5e-01 9.1e+01 7.8e-03 1.2e-01
       21 -1    0    0  501  502 +0.0e+00 +0.0e+00 +4.0e+02 4.0e+02 0.0e+00 0.0e+00 9.0e+00
       21 -1    0    0  502  503 -0.0e+00 -0.0e+00 -3.0e+02 3.0e+02 0.0e+00 0.0e+00 9.0e+00
        5  1    1    2  501    0 +5.0e+00 +1.0e+01 +5.0e+01 6.0e+01 4.7e+00 0.0e+00 9.0e+00
       24  1    1    2    0    0 -5.0e+00 -1.0e+01 +5.0e+01 6.4e+02 8.0e+01 0.0e+00 9.0e+00
</event>
<event>
 2 1 -1.0e+00 9.1e+01 7.8e-03 1.2e-01
       -1 -1    0    0    0  501 0 0 1.0e+01 1.0e+01 0 0 9
        1  1    1    0  501    0 0 0 1.0e+01 1.0e+01 0 0 9
</event>
</LesHouchesEvents>
"""

# A gradient-boosted TMVA forest on two variables: a depth-2 tree and a stump.
TMVA = """<?xml version="1.0"?>
<MethodSetup Method="BDT::BDTG">
  <Options>
    <Option name="BoostType" modified="Yes">Grad</Option>
    <Option name="VarTransform" modified="No">None</Option>
  </Options>
  <Variables NVar="2">
    <Variable VarIndex="0" Expression="met" Label="met" Title="met" Unit="" Internal="met" Type="F" Min="0" Max="1000"/>
    <Variable VarIndex="1" Expression="ht" Label="ht" Title="ht" Unit="" Internal="ht" Type="F" Min="0" Max="3000"/>
  </Variables>
  <Weights NTrees="2" AnalysisType="0">
    <BinaryTree type="DecisionTree" boostWeight="1" itree="0">
      <Node pos="s" depth="0" NCoef="0" IVar="0" Cut="2.5e+02" cType="1" res="0" rms="0" purity="0.5" nType="0">
        <Node pos="l" depth="1" NCoef="0" IVar="1" Cut="8.0e+02" cType="1" res="0" rms="0" purity="0.3" nType="0">
          <Node pos="l" depth="2" NCoef="0" IVar="-1" Cut="0" cType="1" res="-0.4" rms="0" purity="0.1" nType="-1"/>
          <Node pos="r" depth="2" NCoef="0" IVar="-1" Cut="0" cType="1" res="0.1" rms="0" purity="0.6" nType="1"/>
        </Node>
        <Node pos="r" depth="1" NCoef="0" IVar="-1" Cut="0" cType="1" res="0.3" rms="0" purity="0.8" nType="1"/>
      </Node>
    </BinaryTree>
    <BinaryTree type="DecisionTree" boostWeight="1" itree="1">
      <Node pos="s" depth="0" NCoef="0" IVar="1" Cut="1.2e+03" cType="0" res="0" rms="0" purity="0.5" nType="0">
        <Node pos="l" depth="1" NCoef="0" IVar="-1" Cut="0" cType="1" res="0.05" rms="0" purity="0.6" nType="1"/>
        <Node pos="r" depth="1" NCoef="0" IVar="-1" Cut="0" cType="1" res="-0.05" rms="0" purity="0.4" nType="-1"/>
      </Node>
    </BinaryTree>
  </Weights>
</MethodSetup>
"""

LWTNN_SEQ = {
    "inputs": [{"name": "a", "offset": 1.0, "scale": 0.5}, {"name": "b", "offset": -2.0, "scale": 2.0}],
    "layers": [
        {"architecture": "dense", "activation": "rectified", "weights": [0.5, -0.25, 1.0, 0.75, -1.5, 0.2],
         "bias": [0.1, 0.0, -0.3]},
        {"architecture": "dense", "activation": "softmax", "weights": [1.0, 2.0, -1.0, 0.5, -0.5, 0.25],
         "bias": [0.0, 0.1]},
    ],
    "outputs": ["p0", "p1"],
}  # fmt: skip

LWTNN_GRAPH = {
    "input_sequences": [],
    "inputs": [{"name": "node_0", "variables": [{"name": "x0", "offset": 0.0, "scale": 1.0},
                                                {"name": "x1", "offset": 1.0, "scale": 0.5}]}],
    "layers": [
        {"architecture": "dense", "activation": "rectified", "weights": [0.5, -0.25, 1.0, 0.75], "bias": [0.1, 0.0]},
        {"architecture": "dense", "activation": "sigmoid", "weights": [1.0, -2.0], "bias": [0.3]},
    ],
    "nodes": [
        {"type": "input", "sources": [0], "size": 2},
        {"type": "feed_forward", "sources": [0], "layer_index": 0},
        {"type": "feed_forward", "sources": [1], "layer_index": 1},
    ],
    "outputs": {"score": {"node_index": 2, "labels": ["sig"]}},
}  # fmt: skip

CARD = """schema = "recast_ml/detector-card"
schema_version = 1
extends = "ATLAS-Run2"

[btag]
default_wp = "paper_77"

[btag.wp.paper_77]
eff_b = 0.77
rej_c = 4.9
rej_tau = 15.0
rej_light = 110.0
source = "object definitions of the analysis paper"

[electron]
default_wp = "tight"

[muon.resolution]
kind = "curvature_quad"
sigma_max = 0.5
regions = [
  { abs_eta_min = 0.0, abs_eta_max = 1.5, a = 0.021, b = 1.0e-4 },
  { abs_eta_min = 1.5, abs_eta_max = 2.7, a = 0.026, b = 2.0e-4 },
]

[large_r_jet]
pt_resolution = 0.05
mass_resolution = 0.10

[electron.eta_factor]
kind = "expr"
expr = "(abs_eta<=1.37)*1.0 + (abs_eta>1.37)*(0.95 - 0.01*log(pt/20 + 1))"
"""


def onnx_model() -> bytes:
    """input [N, 3] float -> score [N, 1] = sigmoid(x @ w + b)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[0.5], [-1.0], [0.25]], np.float32), "w")
    b = numpy_helper.from_array(np.array([0.1], np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["z0"]),
        helper.make_node("Add", ["z0", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fuzz_seed",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


MVAUTILS_TITLE = (
    "creator=lgbm;node_type=lgbm_simple;name=tree;version=v3;num_class=2;num_tree_per_iteration=2;"
    "label_index=0;max_feature_idx=2;objective=multiclass num_class:2;average_output=False;"
    "feature_infos={'a': {'min_value': 0.0, 'max_value': 1.0, 'values': []}, "
    "'b': {'min_value': 0.0, 'max_value': 1.0, 'values': []}, "
    "'c': {'min_value': -1.0, 'max_value': 1.0, 'values': []}};"
    "feature_importances={'a': 2, 'b': 2, 'c': 1}"
)


def mvautils_model(path: Path) -> None:
    """An ATLAS MVAUtils LightGBM forest (ROOT, written with uproot): 2 classes x 2 iterations,
    features a, b, c; the layout of ATLAS-SUSY-2019-02's BDT files (pre-order nodes, -1 = leaf)."""
    import awkward as ak
    import numpy as np
    import uproot

    trees = [
        ([0, -1, 1, -1, -1], [0.5, -1.0, 0.25, 0.5, 2.0]),
        ([1, -1, -1], [0.75, 0.25, -0.25]),
        ([2, 0, -1, -1, -1], [0.0, 0.3, 0.125, -0.125, 0.0625]),
        ([1, -1, 0, -1, -1], [0.5, 0.1, 0.9, -0.1, 0.2]),
    ]
    columns = {
        "vars": ak.values_astype(ak.Array([v for v, _ in trees]), np.int32),
        "values": ak.values_astype(ak.Array([w for _, w in trees]), np.float32),
    }
    with uproot.recreate(path) as f:
        f.mktree("lgbm_DF", {k: v.type.content for k, v in columns.items()}, title=MVAUTILS_TITLE)
        f["lgbm_DF"].extend(columns)


def main() -> None:
    import pyhepmc

    from recast_ml.slha import gluino_direct

    SEEDS.mkdir(exist_ok=True)
    for fmt, name in (("HepMC3", "events.hepmc3"), ("HepMC2", "events.hepmc2")):
        with pyhepmc.open(SEEDS / name, "w", format=fmt) as f:
            for g in genevents():
                f.write(g)
    (SEEDS / "events.lhe").write_text(LHE)
    (SEEDS / "model.xml").write_text(TMVA)
    (SEEDS / "model_seq.json").write_text(json.dumps(LWTNN_SEQ, indent=1) + "\n")
    (SEEDS / "model_graph.json").write_text(json.dumps(LWTNN_GRAPH, indent=1) + "\n")
    (SEEDS / "model.onnx").write_bytes(onnx_model())
    mvautils_model(SEEDS / "model_mvautils.root")
    (SEEDS / "card.toml").write_text(CARD)
    (SEEDS / "spectrum.slha").write_text(gluino_direct(1400.0, 1000.0).to_slha())


if __name__ == "__main__":
    main()
