"""Small ONNX graph utilities (pure Python, ``onnx`` package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def dynamic_batch(model: Any, name: str = "N") -> Any:
    """Returns a copy of ``model`` whose graph inputs and outputs have a symbolic first dimension
    where it was fixed to 1 (e.g. PyTorch exports with batch size 1), so that ONNX Runtime can
    evaluate many events in one call. Nodes that hard-code the batch size (a Reshape to [1, ...])
    are not rewritten: the caller must check batched == per-event results (the model loader does).
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    for value in [*out.graph.input, *out.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) >= 1 and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].Clear()
            dims[0].dim_param = name
    # shapes inferred for intermediate values would keep the fixed batch: drop them
    del out.graph.value_info[:]
    return out


def graph_inputs(model: Any) -> list[Any]:
    """The graph inputs a caller feeds (``ValueInfoProto``; initializers listed as inputs, as
    older exporters do, excluded)."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _names(text: str) -> list[str] | None:
    import json

    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return [str(x) for x in value] if isinstance(value, list) else None
    return text.split(",") if text else []  # the comma-separated form of early lwtnn conversions


def input_names(model: Any) -> dict[str, list[str] | None]:
    """Per graph input, the names of its features (the last axis) as the model file records
    them, or None where it records none. Read from the metadata: ``input:<tensor>`` (a JSON
    list, written by the TMVA, lwtnn, LightGBM and XGBoost converters) or, for a model with one
    input, ``input_0``, ``input_1``, ... (one name each, as in the ATLAS-HIGP-2024-32 files)."""
    meta = {p.key: p.value for p in model.metadata_props}
    inputs = [i.name for i in graph_inputs(model)]
    out: dict[str, list[str] | None] = {}
    for name in inputs:
        text = meta.get(f"input:{name}")
        out[name] = _names(text) if text is not None else None
    if len(inputs) == 1 and out[inputs[0]] is None and "input_0" in meta:
        names: list[str] = []
        while f"input_{len(names)}" in meta:
            names.append(meta[f"input_{len(names)}"])
        out[inputs[0]] = names
    return out


def input_width(model: Any, name: str) -> int | None:
    """The fixed size of the last axis of graph input ``name`` (the number of features of a
    [batch, features] input), or None where it is symbolic or the input is no such matrix."""
    for value in graph_inputs(model):
        if value.name == name:
            dims = value.type.tensor_type.shape.dim
            if len(dims) >= 2 and dims[-1].HasField("dim_value") and dims[-1].dim_value > 0:
                return int(dims[-1].dim_value)
            return None
    return None


@dataclass(frozen=True)
class ModelInterface:
    """What a model card is checked against, from the ONNX graph: the graph inputs a caller feeds
    (:func:`graph_inputs`), the outputs, the feature names the file records per input
    (:func:`input_names`) and the width of each input's last axis (:func:`input_width`). Small
    and JSON-serialisable, so that a cached model is checked without parsing its graph again
    (:func:`model_interface`)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    recorded: dict[str, list[str] | None]
    widths: dict[str, int | None]

    @classmethod
    def from_proto(cls, model: Any) -> ModelInterface:
        inputs = tuple(i.name for i in graph_inputs(model))
        return cls(
            inputs,
            tuple(o.name for o in model.graph.output),
            input_names(model),
            {name: input_width(model, name) for name in inputs},
        )

    def to_json(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "outputs": list(self.outputs), "recorded": self.recorded,
                "widths": self.widths}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelInterface:
        return cls(
            tuple(str(x) for x in doc["inputs"]),
            tuple(str(x) for x in doc["outputs"]),
            {str(k): None if v is None else [str(x) for x in v] for k, v in doc["recorded"].items()},
            {str(k): None if v is None else int(v) for k, v in doc["widths"].items()},
        )


def model_interface(data: bytes, source: str) -> ModelInterface:
    """The :class:`ModelInterface` of serialized ONNX ``data`` (``source`` names it in errors),
    cached by the bytes' SHA-256 in the conversion cache: importing and running the ``onnx``
    parser costs ~1 s of a ``recast-ml run``, a cached interface a hash of the bytes."""
    import hashlib
    import json

    from .analysis import cache_dir

    path = cache_dir() / "models" / f"interface-{hashlib.sha256(data).hexdigest()}-{_INTERFACE_VERSION}.json"
    try:
        return ModelInterface.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # not cached yet, or unreadable: parse the model
    from .convert import load_onnx

    found = ModelInterface.from_proto(load_onnx(data, source, check=False))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".tmp")
        part.write_text(json.dumps(found.to_json()))
        part.replace(path)
    except OSError:  # a read-only cache is not an error
        pass
    return found


_INTERFACE_VERSION = 1
