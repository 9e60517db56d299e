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


def _feature_names(booster: Any, package: str, n: int) -> list[str] | None:
    """The feature names the model was trained with; None where it has none (LightGBM's
    defaults Column_0, Column_1, ... are no names)."""
    names = booster.feature_name() if package == "lightgbm" else booster.feature_names
    if not names or len(names) != n:
        return None
    names = [str(x) for x in names]
    if names == [f"Column_{k}" for k in range(n)]:
        return None
    return names


def _convert(path: str | os.PathLike[str], package: str, what: str, input_name: str, source: str | None) -> Any:
    import json

    src = source or str(path)
    lib = _require(package, what)
    onnxmltools = _require("onnxmltools", what)
    from onnxmltools.convert.common.data_types import FloatTensorType

    try:
        booster = lib.Booster(model_file=str(path))
    except Exception as e:  # the libraries raise their own error types
        raise ModelError(f"{package} cannot read the model: {e}", file=src) from e
    n = booster.num_feature() if package == "lightgbm" else booster.num_features()
    types = [(input_name, FloatTensorType([None, n]))]
    try:
        if package == "lightgbm":
            model = onnxmltools.convert_lightgbm(booster, initial_types=types, zipmap=False, target_opset=15)
        else:
            model = onnxmltools.convert_xgboost(booster, initial_types=types, target_opset=15)
    except Exception as e:
        raise ModelError(f"onnxmltools cannot convert this {what}: {e}", file=src) from e
    names = _feature_names(booster, package, n)
    if names is not None:  # checked against model cards like the other formats' variable names
        entry = model.metadata_props.add()
        entry.key, entry.value = f"input:{input_name}", json.dumps(names)
    return model


def lightgbm_to_onnx(path: str | os.PathLike[str], *, input_name: str = "input", source: str | None = None) -> Any:
    return _convert(path, "lightgbm", "LightGBM model", input_name, source)


def xgboost_to_onnx(path: str | os.PathLike[str], *, input_name: str = "input", source: str | None = None) -> Any:
    return _convert(path, "xgboost", "XGBoost model", input_name, source)


def sniff(path: Path, head: bytes) -> str | None:
    """ "lightgbm" / "xgboost" if the file looks like one, else None."""
    if head.startswith(b"tree\n") and b"version=" in head:
        return "lightgbm"
    if path.suffix == ".ubj":
        return "xgboost"
    if head.lstrip().startswith(b"{"):
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, OSError):
            return None
        if isinstance(doc, dict) and "learner" in doc:
            return "xgboost"
    return None
