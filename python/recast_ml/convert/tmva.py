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

import json
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


def _number(text: str | None, src: str, where: str, what: str) -> float:
    """A finite float32 value of the XML (TMVA stores cuts and responses as Float_t)."""
    if text is None:
        raise ModelError(f"{where}: no {what}", file=src)
    try:
        value = float(text)
    except ValueError:
        raise ModelError(f"{where}: {what} {text!r} is not a number", file=src) from None
    with np.errstate(over="ignore"):
        single = float(np.float32(value))
    if not np.isfinite(single):
        raise ModelError(f"{where}: {what} is {text!r} ({single} as float32), not a finite number", file=src)
    return single


def _integer(text: str | None, src: str, where: str, what: str) -> int:
    if text is None:
        raise ModelError(f"{where}: no {what}", file=src)
    try:
        return int(text)
    except ValueError:
        raise ModelError(f"{where}: {what} {text!r} is not an integer", file=src) from None


def read_tmva_xml(path: str | os.PathLike[str], *, source: str | None = None) -> TmvaForest:
    """Parses a TMVA BDT weight file (checks that it is a gradient-boosted forest we can convert).
    Every malformed element is a ModelError naming ``source`` (default ``path``) and the element:
    ``tree T node N (path P)``, N the breadth-first node number and P the l/r steps from the root."""
    path = Path(path)
    src = source or str(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError, UnicodeDecodeError) as e:
        raise ModelError(f"not a readable TMVA XML file: {e}", file=src) from e
    method = root.get("Method", "")
    if not method.startswith("BDT"):
        raise ModelError(f"TMVA method {method!r} is not a BDT", file=src)
    options = {o.get("name"): (o.text or "").strip() for o in root.iter("Option")}
    if options.get("BoostType", "Grad") != "Grad":
        raise ModelError(
            f"BoostType={options.get('BoostType')!r}: only gradient boosting (BDTG) is supported", file=src
        )
    if options.get("VarTransform", "None") not in ("None", ""):
        raise ModelError(f"VarTransform={options['VarTransform']!r} is not supported (only None)", file=src)
    if options.get("UseFisherCuts", "False") == "True":
        raise ModelError("Fisher cuts are not supported", file=src)
    variables: list[TmvaVariable] = []
    for v in root.iter("Variable"):
        where = f"<Variable> {len(variables)}"
        variables.append(
            TmvaVariable(
                index=_integer(v.get("VarIndex", str(len(variables))), src, where, "VarIndex"),
                expression=v.get("Expression", ""),
                label=v.get("Label", ""),
                unit=v.get("Unit", ""),
                minimum=_float_or_nan(v.get("Min"), src, where, "Min"),
                maximum=_float_or_nan(v.get("Max"), src, where, "Max"),
            )
        )
    if not variables:
        raise ModelError("no <Variable> entries", file=src)
    indices = [v.index for v in variables]
    if sorted(indices) != list(range(len(variables))):
        dup = sorted({i for i in indices if indices.count(i) > 1})
        detail = f"duplicate VarIndex {dup}" if dup else f"VarIndex {sorted(indices)}"
        raise ModelError(f"<Variables>: {detail}; expected each of 0..{len(variables) - 1} once", file=src)
    nvar = root.find("Variables")
    if nvar is not None and nvar.get("NVar") is not None:
        declared = _integer(nvar.get("NVar"), src, "<Variables>", "NVar")
        if declared != len(variables):
            raise ModelError(f"<Variables NVar={declared}> lists {len(variables)} <Variable> entries", file=src)
    variables.sort(key=lambda v: v.index)
    for var in variables:
        if not var.expression:
            raise ModelError(f"<Variable VarIndex={var.index}> has no Expression", file=src)
    weights = root.find("Weights")
    if weights is None:
        raise ModelError("no <Weights> block", file=src)
    trees, boost = [], []
    for t, tree in enumerate(weights.iter("BinaryTree")):
        top = tree.find("Node")
        if top is None:
            raise ModelError(f"tree {t} has no nodes", file=src)
        feature: list[int] = []
        cut: list[float] = []
        right_if_ge: list[bool] = []
        response: list[float] = []
        left: list[int] = []
        right: list[int] = []
        queue = [(top, "root")]
        while queue:
            node, trail = queue.pop(0)
            k = len(feature)
            where = f"tree {t} node {k} (path {trail})"
            if node.get("NCoef", "0") != "0":
                raise ModelError(f"{where}: Fisher cuts (NCoef > 0) are not supported", file=src)
            children = node.findall("Node")
            kids = {c.get("pos"): c for c in children}
            if children and (set(kids) != {"l", "r"} or len(children) != 2):
                positions = [c.get("pos") for c in children]
                raise ModelError(
                    f"{where}: an internal node needs one child pos='l' and one pos='r', has {positions}", file=src
                )
            ivar = _integer(node.get("IVar", "-1"), src, where, "IVar")
            if not children:  # a leaf (its IVar, sometimes 0, is not used)
                feature.append(-1)
                cut.append(0.0)
                right_if_ge.append(True)
                response.append(_number(node.get("res"), src, where, "leaf response res"))
                left.append(-1)
                right.append(-1)
                continue
            if not 0 <= ivar < len(variables):
                raise ModelError(
                    f"{where}: internal node with IVar {ivar}, not one of the {len(variables)} variables", file=src
                )
            ctype = node.get("cType", "1")
            if ctype not in ("0", "1"):
                raise ModelError(f"{where}: cType {ctype!r} is neither 1 (right if >= cut) nor 0", file=src)
            feature.append(ivar)
            cut.append(_number(node.get("Cut"), src, where, "Cut"))
            right_if_ge.append(ctype == "1")
            response.append(0.0)
            for pos, store in (("l", left), ("r", right)):
                store.append(k + len(queue) + 1)
                queue.append((kids[pos], pos if trail == "root" else trail + pos))
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
        boost.append(_number(tree.get("boostWeight", "1"), src, f"tree {t}", "boostWeight"))
    if not trees:
        raise ModelError("no <BinaryTree> in <Weights>", file=src)
    if weights.get("NTrees") is not None:  # a tree lost from a well-formed file changes every score
        declared = _integer(weights.get("NTrees"), src, "<Weights>", "NTrees")
        if declared != len(trees):
            raise ModelError(f"<Weights NTrees={declared}> holds {len(trees)} <BinaryTree> entries", file=src)
    bad = [t for t, b in enumerate(boost) if b != 1.0]
    if bad:
        raise ModelError(
            f"tree {bad[0]}: gradient-boosted trees must have boostWeight 1, not {boost[bad[0]]}", file=src
        )
    return TmvaForest(variables, trees, boost, method, src)


def _float_or_nan(text: str | None, src: str, where: str, what: str) -> float:
    """Variable ranges are informative only: missing is nan, but text must be a number."""
    if text is None:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise ModelError(f"{where}: {what} {text!r} is not a number", file=src) from None


def tmva_to_onnx(
    path: str | os.PathLike[str],
    *,
    input_name: str = "input",
    output_name: str = "score",
    source: str | None = None,
) -> Any:
    """ONNX model: ``input`` float32 [N, n_variables] (TMVA variable order) -> ``score`` float32
    [N, 1] = tanh(sum of leaf responses). The variable expressions (the names TMVA's Reader
    matches) are the metadata ``input:<input_name>`` (a JSON list), ``source`` the name errors
    report."""
    from . import malformed

    with malformed("tmva", source or str(path)):
        return _tmva_to_onnx(path, input_name, output_name, source)


def _tmva_to_onnx(path: str | os.PathLike[str], input_name: str, output_name: str, source: str | None) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    forest = read_tmva_xml(path, source=source)
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
    meta = {
        "source": Path(source or path).name,
        "inputs": names,
        f"input:{input_name}": json.dumps([v.expression for v in forest.variables]),
        "method": forest.method,
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model
