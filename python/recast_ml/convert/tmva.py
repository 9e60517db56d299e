"""TMVA XML boosted decision trees -> ONNX (ai.onnx.ml ``TreeEnsembleRegressor``).

Supported: ``Method="BDT::..."`` with ``BoostType=Grad`` (BDTG), no variable transformation and no
Fisher cuts — the form of the ATLAS files (ATLAS-SUSY-2018-22 spec §7.3). TMVA's evaluation:
at an internal node go right if ``x[IVar] >= Cut`` (cut type 1; inverted for cut type 0), sum the
leaf responses ``res`` of all trees (F) and return ``2 / (1 + exp(-2F)) - 1 = tanh(F)``.

Numerics follow TMVA: inputs are float32; TMVA stores cuts and responses as ``Float_t`` and sums in
double. The ONNX graph casts the float32 input to double and keeps the thresholds and leaf values
as double tensors holding the float32 values (``nodes_values_as_tensor``,
``target_weights_as_tensor``; ONNX Runtime takes the threshold type from the input type), so the
comparisons are exactly TMVA's and the sum is accumulated in double; ``Tanh`` runs on its float32
result.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._core import ModelError


@dataclass
class TmvaVariable:
    index: int
    expression: str
    label: str
    unit: str
    minimum: float
    maximum: float


@dataclass
class TmvaForest:
    variables: list[TmvaVariable]
    # per tree: arrays over nodes (breadth-first ids); leaves have feature -1
    trees: list[dict[str, np.ndarray]]
    boost_weights: list[float]
    method: str
    source: str


def _f32(x: str) -> float:
    return float(np.float32(float(x)))


def read_tmva_xml(path: str | os.PathLike[str]) -> TmvaForest:
    """Parses a TMVA BDT weight file (checks that it is a gradient-boosted forest we can convert)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ModelError(f"{path}: not a readable TMVA XML file: {e}") from e
    method = root.get("Method", "")
    if not method.startswith("BDT"):
        raise ModelError(f"{path}: TMVA method {method!r} is not a BDT")
    options = {o.get("name"): (o.text or "").strip() for o in root.iter("Option")}
    if options.get("BoostType", "Grad") != "Grad":
        raise ModelError(f"{path}: BoostType={options.get('BoostType')!r}: only gradient boosting (BDTG) is supported")
    if options.get("VarTransform", "None") not in ("None", ""):
        raise ModelError(f"{path}: VarTransform={options['VarTransform']!r} is not supported (only None)")
    if options.get("UseFisherCuts", "False") == "True":
        raise ModelError(f"{path}: Fisher cuts are not supported")
    variables: list[TmvaVariable] = []
    for v in root.iter("Variable"):
        variables.append(
            TmvaVariable(
                index=int(v.get("VarIndex", len(variables))),
                expression=v.get("Expression", ""),
                label=v.get("Label", ""),
                unit=v.get("Unit", ""),
                minimum=float(v.get("Min", "nan")),
                maximum=float(v.get("Max", "nan")),
            )
        )
    if not variables:
        raise ModelError(f"{path}: no <Variable> entries")
    variables.sort(key=lambda v: v.index)
    weights = root.find("Weights")
    if weights is None:
        raise ModelError(f"{path}: no <Weights> block")
    trees, boost = [], []
    for t, tree in enumerate(weights.iter("BinaryTree")):
        top = tree.find("Node")
        if top is None:
            raise ModelError(f"{path}: tree {t} has no nodes")
        feature: list[int] = []
        cut: list[float] = []
        right_if_ge: list[bool] = []
        response: list[float] = []
        left: list[int] = []
        right: list[int] = []
        queue = [top]
        ids: dict[int, int] = {id(top): 0}
        while queue:
            node = queue.pop(0)
            if node.get("NCoef", "0") != "0":
                raise ModelError(f"{path}: tree {t} uses Fisher cuts (NCoef > 0)")
            kids = {k.get("pos"): k for k in node.findall("Node")}
            ivar = int(node.get("IVar", "-1"))
            k = ids[id(node)]
            assert k == len(feature)
            if ivar < 0 or not kids:
                feature.append(-1)
                cut.append(0.0)
                right_if_ge.append(True)
                response.append(_f32(node.get("res", "nan")))
                left.append(-1)
                right.append(-1)
                continue
            if "l" not in kids or "r" not in kids:
                raise ModelError(f"{path}: tree {t}: internal node without both children")
            if ivar >= len(variables):
                raise ModelError(f"{path}: tree {t}: IVar {ivar} beyond the {len(variables)} variables")
            feature.append(ivar)
            cut.append(_f32(node.get("Cut", "nan")))
            right_if_ge.append(node.get("cType", "1") == "1")
            response.append(0.0)
            for pos, store in (("l", left), ("r", right)):
                ids[id(kids[pos])] = len(ids)
                store.append(ids[id(kids[pos])])
                queue.append(kids[pos])
        trees.append(
            {
                "feature": np.array(feature),
                "cut": np.array(cut),
                "right_if_ge": np.array(right_if_ge),
                "response": np.array(response),
                "left": np.array(left),
                "right": np.array(right),
            }
        )
        boost.append(float(tree.get("boostWeight", "1")))
    if not trees:
        raise ModelError(f"{path}: no <BinaryTree> in <Weights>")
    if any(b != 1.0 for b in boost):
        raise ModelError(f"{path}: gradient-boosted trees must have boostWeight 1")
    return TmvaForest(variables, trees, boost, method, str(path))


def tmva_to_onnx(path: str | os.PathLike[str], *, input_name: str = "input", output_name: str = "score") -> Any:
    """ONNX model: ``input`` float32 [N, n_variables] (TMVA variable order) -> ``score`` float32
    [N, 1] = tanh(sum of leaf responses)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    forest = read_tmva_xml(path)
    n_vars = len(forest.variables)
    attrs: dict[str, list[Any]] = {
        k: []
        for k in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_values",
            "nodes_modes",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        )
    }
    for t, tree in enumerate(forest.trees):
        for k in range(len(tree["feature"])):
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(k)
            if tree["feature"][k] < 0:
                attrs["nodes_featureids"].append(0)
                attrs["nodes_values"].append(0.0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["target_treeids"].append(t)
                attrs["target_nodeids"].append(k)
                attrs["target_ids"].append(0)
                attrs["target_weights"].append(float(tree["response"][k]))
            else:
                ge, lt = (
                    (tree["right"][k], tree["left"][k])
                    if tree["right_if_ge"][k]
                    else (tree["left"][k], tree["right"][k])
                )
                attrs["nodes_featureids"].append(int(tree["feature"][k]))
                attrs["nodes_values"].append(float(tree["cut"][k]))
                attrs["nodes_modes"].append("BRANCH_GTE")
                attrs["nodes_truenodeids"].append(int(ge))
                attrs["nodes_falsenodeids"].append(int(lt))
    values = numpy_helper.from_array(np.array(attrs.pop("nodes_values"), dtype=np.float64), "nodes_values")
    weights = numpy_helper.from_array(np.array(attrs.pop("target_weights"), dtype=np.float64), "target_weights")
    cast = helper.make_node("Cast", [input_name], ["input_f64"], to=TensorProto.DOUBLE)
    extra: dict[str, Any] = attrs
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["input_f64"],
        ["sum"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_values_as_tensor=values,
        target_weights_as_tensor=weights,
        nodes_missing_value_tracks_true=[0] * len(attrs["nodes_treeids"]),
        **extra,
    )
    tanh = helper.make_node("Tanh", ["sum"], [output_name])
    names = ", ".join(v.expression for v in forest.variables)
    graph = helper.make_graph(
        [cast, ensemble, tanh],
        f"tmva_{Path(path).stem}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_vars])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1])],
        doc_string=f"TMVA {forest.method} ({len(forest.trees)} trees) from {Path(path).name}; inputs: {names}",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="recast_ml.convert.tmva",
    )
    model.ir_version = 8
    for key, value in {"source": Path(path).name, "inputs": names, "method": forest.method}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model
