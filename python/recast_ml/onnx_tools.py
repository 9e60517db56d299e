"""Small ONNX graph utilities (pure Python, ``onnx`` package)."""

from __future__ import annotations

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
