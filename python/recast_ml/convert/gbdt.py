"""LightGBM and XGBoost models -> ONNX through the maintained ``onnxmltools`` converters (optional
dependencies: ``pip install onnxmltools lightgbm`` / ``xgboost``). ZipMap is disabled, so
classifiers give a float tensor ``probabilities`` [N, n_classes] next to ``label``; regressors
give ``variable`` [N, 1]."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._core import ModelError


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModelError(f"converting {what} needs the Python package '{module}' (pip install {module})") from e


def _convert(path: str | os.PathLike[str], package: str, what: str, input_name: str) -> Any:
    lib = _require(package, what)
    onnxmltools = _require("onnxmltools", what)
    from onnxmltools.convert.common.data_types import FloatTensorType

    try:
        booster = lib.Booster(model_file=str(path))
    except Exception as e:  # the libraries raise their own error types
        raise ModelError(f"{path}: {package} cannot read the model: {e}") from e
    n = booster.num_feature() if package == "lightgbm" else booster.num_features()
    types = [(input_name, FloatTensorType([None, n]))]
    try:
        if package == "lightgbm":
            return onnxmltools.convert_lightgbm(booster, initial_types=types, zipmap=False, target_opset=15)
        return onnxmltools.convert_xgboost(booster, initial_types=types, target_opset=15)
    except Exception as e:
        raise ModelError(f"{path}: onnxmltools cannot convert this {what}: {e}") from e


def lightgbm_to_onnx(path: str | os.PathLike[str], *, input_name: str = "input") -> Any:
    return _convert(path, "lightgbm", "LightGBM model", input_name)


def xgboost_to_onnx(path: str | os.PathLike[str], *, input_name: str = "input") -> Any:
    return _convert(path, "xgboost", "XGBoost model", input_name)


def sniff(path: Path, head: bytes) -> str | None:
    """ "lightgbm" / "xgboost" if the file looks like one, else None."""
    if head.startswith(b"tree\n") and b"version=" in head:
        return "lightgbm"
    if path.suffix == ".ubj":
        return "xgboost"
    if head.lstrip().startswith(b"{"):
        try:
            doc = json.loads(path.read_text())
        except (ValueError, OSError):
            return None
        if isinstance(doc, dict) and "learner" in doc:
            return "xgboost"
    return None
