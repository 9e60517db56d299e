"""ONNX models evaluated by ONNX Runtime through the C++ core (not the onnxruntime Python API)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and shape (``None`` or a symbolic name for dynamic axes) of a tensor."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]
    onnx_type: str

    @classmethod
    def _from_core(cls, d: Mapping[str, Any]) -> TensorInfo:
        return cls(name=d["name"], dtype=d["dtype"], shape=tuple(d["shape"]), onnx_type=d["onnx_type"])


class OnnxModel:
    """An ONNX model; ``run`` is thread-safe and releases the GIL.

    >>> model = OnnxModel("net.onnx")
    >>> model.inputs[0]
    TensorInfo(name='input', dtype='float32', shape=(None, 10), onnx_type='float')
    >>> scores = model.run({"input": x.astype(np.float32)})["dense_3"]

    Inputs must match the model exactly (names, dtype, rank and fixed dimensions); otherwise
    :class:`recast_ml.ModelError` says what was expected. Nothing is converted silently.
    """

    def __init__(self, path: str | os.PathLike[str], *, intra_op_threads: int = 1) -> None:
        self.path = os.fspath(path)
        self._model = _core.OnnxModel(self.path, intra_op_threads)
        self.inputs = [TensorInfo._from_core(d) for d in self._model.inputs]
        self.outputs = [TensorInfo._from_core(d) for d in self._model.outputs]

    @property
    def intra_op_threads(self) -> int:
        return int(self._model.intra_op_threads)

    def run(
        self, feeds: Mapping[str, npt.ArrayLike], outputs: Sequence[str] | None = None
    ) -> dict[str, npt.NDArray[Any]]:
        """Evaluate the model; returns ``{output name: array}`` (all outputs by default)."""
        arrays = {name: np.asarray(value) for name, value in feeds.items()}
        return dict(self._model.run(arrays, list(outputs) if outputs is not None else []))

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}:{t.dtype}{list(t.shape)}" for t in self.inputs)
        outs = ", ".join(f"{t.name}:{t.dtype}{list(t.shape)}" for t in self.outputs)
        return f"<OnnxModel {self.path!r} inputs=[{ins}] outputs=[{outs}]>"
