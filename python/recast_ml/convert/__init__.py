"""Converters to ONNX, so that one inference path (ONNX Runtime in the C++ core) serves every
model format: TMVA XML BDTs (:mod:`.tmva`), lwtnn JSON networks (:mod:`.lwtnn`), LightGBM and
XGBoost models through onnxmltools (:mod:`.gbdt`, optional packages), and fixed batch-size ONNX
files made batchable (:func:`recast_ml.onnx_tools.dynamic_batch`).

``convert(path)`` picks the converter by content; ``recast-ml models convert IN OUT`` is the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._core import ModelError


def detect_format(path: str | os.PathLike[str]) -> str:
    """One of "tmva", "lwtnn", "lightgbm", "xgboost", "onnx", from the file's content."""
    from .gbdt import sniff

    p = Path(path)
    try:
        head = p.read_bytes()[:4096]
    except OSError as e:
        raise ModelError(f"{p}: cannot read model file: {e.strerror}") from e
    gbdt = sniff(p, head)
    if gbdt:
        return gbdt
    text = head.lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<MethodSetup"):
        if b"<MethodSetup" in head:
            return "tmva"
        raise ModelError(f"{p}: XML file but not a TMVA weight file (no <MethodSetup>)")
    if text.startswith(b"{"):
        return "lwtnn"
    return "onnx"


def convert(path: str | os.PathLike[str], **options: Any) -> Any:
    """An ``onnx.ModelProto`` for a TMVA XML, lwtnn JSON, LightGBM, XGBoost or ONNX file."""
    import onnx

    fmt = detect_format(path)
    if fmt == "tmva":
        from .tmva import tmva_to_onnx

        return tmva_to_onnx(path, **options)
    if fmt == "lwtnn":
        from .lwtnn import lwtnn_to_onnx

        return lwtnn_to_onnx(path, **options)
    if fmt == "lightgbm":
        from .gbdt import lightgbm_to_onnx

        return lightgbm_to_onnx(path, **options)
    if fmt == "xgboost":
        from .gbdt import xgboost_to_onnx

        return xgboost_to_onnx(path, **options)
    from ..onnx_tools import dynamic_batch

    return dynamic_batch(onnx.load(str(path)))


def convert_bytes(data: bytes, name: str) -> Any:
    """``convert`` for a model held in memory (e.g. decompressed); ``name`` is its file name."""
    import logging
    import tempfile

    with tempfile.TemporaryDirectory(prefix="recast_ml_model_") as tmp:
        plain = Path(tmp) / name
        plain.write_bytes(data)
        logging.getLogger(__name__).info("converting %s model %s to ONNX", detect_format(plain), name)
        return convert(plain)


__all__ = ["convert", "convert_bytes", "detect_format"]
