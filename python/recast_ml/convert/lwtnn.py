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


def _floats(value: Any, src: str, where: str, what: str) -> np.ndarray:
    """A list of finite numbers (float32, as lwtnn evaluates) or a ModelError: JSON null, strings,
    booleans, nan and values beyond float32 (1e400 reads as inf) are refused."""
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        if isinstance(value, list):
            bad = next(x for x in value if not isinstance(x, (int, float)) or isinstance(x, bool))
            raise ModelError(f"{where}: {what} must be numbers, found {json.dumps(bad)}", file=src)
        raise ModelError(f"{where}: {what} must be a list of numbers, found {json.dumps(value)[:40]}", file=src)
    with np.errstate(over="ignore"):
        array = np.asarray(value, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        k = int(np.nonzero(~np.isfinite(array))[0][0])
        raise ModelError(f"{where}: {what}[{k}] = {value[k]!r} is not a finite float32 number", file=src)
    return array


def _number(value: Any, src: str, where: str, what: str) -> float:
    return float(_floats([value], src, where, what)[0])


def _index(value: Any, size: int, src: str, where: str, what: str) -> int:
    """An index into a list of ``size``: an integer 0 <= value < size (no Python negative indexing)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
        raise ModelError(f"{where}: {what} {json.dumps(value)} is not an index 0..{size - 1}", file=src)
    return value


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
            if alpha is not None:
                alpha = _number(alpha, self.source, where, "activation alpha")
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
        raise ModelError(f"{where}: activation {act!r} is not supported", file=self.source)

    def layer(self, x: str, layer: dict[str, Any], n_in: int, where: str) -> tuple[str, int]:
        arch = layer.get("architecture")
        if arch != "dense":
            raise ModelError(f"{where}: layer architecture {arch!r} is not supported (dense only)", file=self.source)
        w = _floats(layer.get("weights", []), self.source, where, "weights")
        b = _floats(layer.get("bias", []), self.source, where, "bias")
        n_out = n_in
        if w.size:
            if b.size == 0 or w.size % b.size:
                raise ModelError(f"{where}: {w.size} weights do not fit {b.size} biases", file=self.source)
            n_out = b.size
            if w.size // n_out != n_in:
                raise ModelError(
                    f"{where}: weights expect {w.size // n_out} inputs, the source gives {n_in}", file=self.source
                )
            x = self.op("Gemm", [x, self.const("W", w.reshape(n_out, n_in)), self.const("b", b)], "dense", transB=1)
        return self.activation(x, layer.get("activation"), where), n_out

    def normalise(self, x: str, variables: list[dict[str, Any]], where: str) -> str:
        if not isinstance(variables, list) or not variables:
            raise ModelError(f"{where}: no variables", file=self.source)
        for k, v in enumerate(variables):
            if not isinstance(v, dict) or not isinstance(v.get("name"), str):
                raise ModelError(f"{where}: variable {k} has no name", file=self.source)
        offset = _floats([v.get("offset", 0.0) for v in variables], self.source, where, "variable offsets")
        scale = _floats([v.get("scale", 1.0) for v in variables], self.source, where, "variable scales")
        if np.any(offset != 0):
            x = self.op("Add", [x, self.const("offset", offset)], "offset")
        if np.any(scale != 1):
            x = self.op("Mul", [x, self.const("scale", scale)], "scale")
        return x


def lwtnn_to_onnx(path: str | os.PathLike[str], *, source: str | None = None) -> Any:
    """ONNX model for an lwtnn JSON file (sequential or graph format); ``source`` is the name
    errors report (default ``path``). The variable names of each input are the metadata
    ``input:<input name>`` (a JSON list), the labels of each output ``output:<output name>``."""
    from . import malformed

    with malformed("lwtnn", source or str(path)):
        return _lwtnn_to_onnx(path, source)


def _lwtnn_to_onnx(path: str | os.PathLike[str], source: str | None) -> Any:
    import onnx
    from onnx import TensorProto, helper

    path = Path(path)
    src = source or str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelError(f"not a readable lwtnn JSON file: {e}", file=src) from e
    if not isinstance(doc, dict):
        raise ModelError("not an lwtnn network (the JSON document is not an object)", file=src)
    b = _Builder(src)
    graph_inputs, graph_outputs, meta = [], [], {}
    if "nodes" in doc:  # functional graph format
        if doc.get("input_sequences"):
            raise ModelError("input sequences (recurrent networks) are not supported", file=src)
        inputs, nodes, layers, outputs = (doc.get(k) for k in ("inputs", "nodes", "layers", "outputs"))
        for key, value in (("inputs", inputs), ("nodes", nodes), ("layers", layers)):
            if not isinstance(value, list) or not value:
                raise ModelError(f"graph format without a list of {key}", file=src)
        if not isinstance(outputs, dict) or not outputs:
            raise ModelError("graph format without outputs", file=src)
        assert isinstance(inputs, list)
        assert isinstance(nodes, list)
        assert isinstance(layers, list)
        cache: dict[int, tuple[str, int]] = {}
        used: set[str] = set()

        def build(k: int, depth: int = 0) -> tuple[str, int]:
            if k in cache:
                return cache[k]
            if depth > len(nodes):
                raise ModelError("the node graph has a cycle", file=src)
            node = nodes[k]
            where = f"node {k}"
            if not isinstance(node, dict) or not isinstance(node.get("sources"), list) or not node["sources"]:
                raise ModelError(f"{where}: a node needs a type and a list of sources", file=src)
            kind = node.get("type")
            if kind == "input":
                spec = inputs[_index(node["sources"][0], len(inputs), src, where, "input source")]
                name = spec["name"]
                if name in used:
                    raise ModelError(f"{where}: input {name!r} is used by two input nodes", file=src)
                used.add(name)
                size = _index(node.get("size"), 1 << 30, src, where, "size")
                if size != len(spec["variables"]):
                    raise ModelError(
                        f"{where}: size {size}, but input {name!r} has {len(spec['variables'])} variables", file=src
                    )
                graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", size]))
                meta[f"input:{name}"] = json.dumps([v["name"] for v in spec["variables"]])
                out = (b.normalise(name, spec["variables"], f"{where} (input {name!r})"), size)
            elif kind == "feed_forward":
                x, n = build(_index(node["sources"][0], len(nodes), src, where, "source"), depth + 1)
                index = _index(node.get("layer_index"), len(layers), src, where, "layer_index")
                out = b.layer(x, layers[index], n, f"{where} (layer {index})")
            elif kind == "concatenate":
                parts = [build(_index(s, len(nodes), src, where, "source"), depth + 1) for s in node["sources"]]
                out = (b.op("Concat", [p[0] for p in parts], "concat", axis=1), sum(p[1] for p in parts))
            else:
                raise ModelError(f"{where}: node type {kind!r} is not supported", file=src)
            cache[k] = out
            return out

        for out_name, spec in outputs.items():
            where = f"output {out_name}"
            if not isinstance(spec, dict) or not isinstance(spec.get("labels"), list):
                raise ModelError(f"{where}: needs node_index and a list of labels", file=src)
            x, n = build(_index(spec.get("node_index"), len(nodes), src, where, "node_index"))
            if n != len(spec["labels"]):
                raise ModelError(f"{where}: {n} values for {len(spec['labels'])} labels", file=src)
            b.nodes.append(helper.make_node("Identity", [x], [out_name]))
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", n]))
            meta[f"output:{out_name}"] = json.dumps(spec["labels"])
        order = [i["name"] for i in inputs]
        graph_inputs.sort(key=lambda v: order.index(v.name))
    else:  # sequential format
        variables = doc.get("inputs")
        if not variables or not isinstance(doc.get("layers"), list):
            raise ModelError("neither an lwtnn graph (nodes) nor a sequential network (inputs, layers)", file=src)
        graph_inputs.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(variables)]))
        x, n = b.normalise("input", variables, "inputs"), len(variables)
        meta["input:input"] = json.dumps([v["name"] for v in variables])
        for i, layer in enumerate(doc["layers"]):
            if not isinstance(layer, dict):
                raise ModelError(f"layer {i}: not an object", file=src)
            x, n = b.layer(x, layer, n, f"layer {i}")
        labels = doc.get("outputs", [])
        if not isinstance(labels, list):
            raise ModelError("outputs must be a list of labels", file=src)
        if labels and len(labels) != n:
            raise ModelError(f"{n} outputs for {len(labels)} labels", file=src)
        b.nodes.append(helper.make_node("Identity", [x], ["output"]))
        graph_outputs.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n]))
        meta["output:output"] = json.dumps(labels)
    graph = helper.make_graph(b.nodes, f"lwtnn_{path.stem}", graph_inputs, graph_outputs, initializer=b.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="recast_ml.convert.lwtnn"
    )
    model.ir_version = 8
    meta["source"] = Path(src).name
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    return model
