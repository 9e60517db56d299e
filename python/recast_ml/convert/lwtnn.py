"""lwtnn JSON networks (sequential and functional "graph" formats) -> ONNX.

Dense layers (weights stored (out, in) row-major, y = W x + b; empty weights = activation only)
with activations linear, rectified (ReLU), sigmoid, tanh, softmax, elu, leaky ReLU, swish and
hard sigmoid; graph nodes ``input``, ``feed_forward`` and ``concatenate`` (sources in listed
order). Input variables are normalised inside the graph as lwtnn does: (x + offset) * scale.
Recurrent layers and input sequences are refused with a clear error.

The ONNX model has one float32 input [N, n_variables] per lwtnn input node (named after it; the
sequential format: ``input``) and one output [N, n_labels] per lwtnn output (named after it;
sequential: ``output``). Variable and label names go to the model metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._core import ModelError


class _Builder:
    def __init__(self, source: str) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.source = source
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        n = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), n))
        return n

    def op(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def activation(self, x: str, act: Any, where: str) -> str:
        alpha = None
        if isinstance(act, dict):
            alpha = act.get("alpha")
            act = act.get("function")
        if act in (None, "linear"):
            return x
        if act == "rectified":
            return self.op("Relu", [x], "relu")
        if act == "sigmoid":
            return self.op("Sigmoid", [x], "sigmoid")
        if act == "tanh":
            return self.op("Tanh", [x], "tanh")
        if act == "softmax":
            return self.op("Softmax", [x], "softmax", axis=-1)
        if act == "elu":
            return self.op("Elu", [x], "elu", alpha=float(1.0 if alpha is None else alpha))
        if act in ("leakyrelu", "leaky_relu"):
            return self.op("LeakyRelu", [x], "leakyrelu", alpha=float(0.01 if alpha is None else alpha))
        if act == "swish":
            beta = float(1.0 if alpha is None else alpha)
            scaled = self.op("Mul", [x, self.const("beta", np.array(beta, np.float32))], "swish_in")
            return self.op("Mul", [x, self.op("Sigmoid", [scaled], "swish_gate")], "swish")
        if act == "hard_sigmoid":  # keras: clip(0.2 x + 0.5, 0, 1)
            return self.op("HardSigmoid", [x], "hard_sigmoid", alpha=0.2, beta=0.5)
        raise ModelError(f"{self.source}: {where}: activation {act!r} is not supported")

    def layer(self, x: str, layer: dict[str, Any], n_in: int, where: str) -> tuple[str, int]:
        arch = layer.get("architecture")
        if arch != "dense":
            raise ModelError(f"{self.source}: {where}: layer architecture {arch!r} is not supported (dense only)")
        w = np.asarray(layer.get("weights", []), dtype=np.float32)
        b = np.asarray(layer.get("bias", []), dtype=np.float32)
        n_out = n_in
        if w.size:
            if b.size == 0 or w.size % b.size:
                raise ModelError(f"{self.source}: {where}: {w.size} weights do not fit {b.size} biases")
            n_out = b.size
            if w.size // n_out != n_in:
                raise ModelError(
                    f"{self.source}: {where}: weights expect {w.size // n_out} inputs, the source gives {n_in}"
                )
            x = self.op("Gemm", [x, self.const("W", w.reshape(n_out, n_in)), self.const("b", b)], "dense", transB=1)
        return self.activation(x, layer.get("activation"), where), n_out

    def normalise(self, x: str, variables: list[dict[str, Any]]) -> str:
        offset = np.array([v.get("offset", 0.0) for v in variables], np.float32)
        scale = np.array([v.get("scale", 1.0) for v in variables], np.float32)
        if np.any(offset != 0):
            x = self.op("Add", [x, self.const("offset", offset)], "offset")
        if np.any(scale != 1):
            x = self.op("Mul", [x, self.const("scale", scale)], "scale")
        return x


def lwtnn_to_onnx(path: str | os.PathLike[str]) -> Any:
    """ONNX model for an lwtnn JSON file (sequential or graph format)."""
    import onnx
    from onnx import TensorProto, helper

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not a readable lwtnn JSON file: {e}") from e
    b = _Builder(str(path))
    graph_inputs, graph_outputs, meta = [], [], {}
    if "nodes" in doc:  # functional graph format
        if doc.get("input_sequences"):
            raise ModelError(f"{path}: input sequences (recurrent networks) are not supported")
        inputs = doc["inputs"]
        nodes, layers = doc["nodes"], doc["layers"]
        cache: dict[int, tuple[str, int]] = {}

        def build(k: int, depth: int = 0) -> tuple[str, int]:
            if k in cache:
                return cache[k]
            if depth > len(nodes):
                raise ModelError(f"{path}: the node graph has a cycle")
            node = nodes[k]
            kind = node["type"]
            if kind == "input":
                src = node["sources"][0]
                spec = inputs[src]
                name = spec["name"]
                graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", node["size"]]))
                meta[f"input:{name}"] = ",".join(v["name"] for v in spec["variables"])
                out = (b.normalise(name, spec["variables"]), int(node["size"]))
            elif kind == "feed_forward":
                x, n = build(node["sources"][0], depth + 1)
                out = b.layer(x, layers[node["layer_index"]], n, f"node {k} (layer {node['layer_index']})")
            elif kind == "concatenate":
                parts = [build(s, depth + 1) for s in node["sources"]]
                out = (b.op("Concat", [p[0] for p in parts], "concat", axis=1), sum(p[1] for p in parts))
            else:
                raise ModelError(f"{path}: node {k}: node type {kind!r} is not supported")
            cache[k] = out
            return out

        for out_name, spec in doc["outputs"].items():
            x, n = build(int(spec["node_index"]))
            if n != len(spec["labels"]):
                raise ModelError(f"{path}: output {out_name}: {n} values for {len(spec['labels'])} labels")
            b.nodes.append(helper.make_node("Identity", [x], [out_name]))
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", n]))
            meta[f"output:{out_name}"] = ",".join(spec["labels"])
        graph_inputs.sort(key=lambda v: [i["name"] for i in inputs].index(v.name))
    else:  # sequential format
        variables = doc.get("inputs")
        if not variables or "layers" not in doc:
            raise ModelError(f"{path}: neither an lwtnn graph (nodes) nor a sequential network (inputs, layers)")
        graph_inputs.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(variables)]))
        meta["input:input"] = ",".join(v["name"] for v in variables)
        x, n = b.normalise("input", variables), len(variables)
        for i, layer in enumerate(doc["layers"]):
            x, n = b.layer(x, layer, n, f"layer {i}")
        labels = doc.get("outputs", [])
        if labels and len(labels) != n:
            raise ModelError(f"{path}: {n} outputs for {len(labels)} labels")
        b.nodes.append(helper.make_node("Identity", [x], ["output"]))
        graph_outputs.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n]))
        meta["output:output"] = ",".join(labels)
    graph = helper.make_graph(b.nodes, f"lwtnn_{path.stem}", graph_inputs, graph_outputs, initializer=b.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="recast_ml.convert.lwtnn"
    )
    model.ir_version = 8
    meta["source"] = path.name
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    return model
