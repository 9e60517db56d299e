"""Converters to ONNX, so that one inference path (ONNX Runtime in the C++ core) serves every
model format: TMVA XML BDTs (:mod:`.tmva`), lwtnn JSON networks (:mod:`.lwtnn`), LightGBM and
XGBoost models through onnxmltools (:mod:`.gbdt`, optional packages), ATLAS MVAUtils LightGBM
forests in ROOT files read with uproot (:mod:`.mvautils`), and fixed batch-size ONNX files made
batchable (:func:`recast_ml.onnx_tools.dynamic_batch`).

``convert(path)`` picks the converter by content; ``recast-ml models convert IN OUT`` is the CLI.
Every problem with a model file is a :class:`recast_ml.ModelError` whose message starts with the
file (``source``: the name to report, e.g. the original of a decompressed copy) and names the
element at fault (tree and node, layer, ...); a file of no known format is refused, not guessed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._core import ModelError

FORMATS = {
    "tmva": "TMVA XML",
    "lwtnn": "lwtnn JSON",
    "lightgbm": "LightGBM",
    "xgboost": "XGBoost",
    "onnx": "ONNX",
    "mvautils": "MVAUtils ROOT",
}
KNOWN = "TMVA XML, lwtnn JSON, LightGBM, XGBoost (JSON/UBJ), MVAUtils ROOT or ONNX"


def detect_format(path: str | os.PathLike[str], *, source: str | None = None) -> str:
    """One of "tmva", "lwtnn", "lightgbm", "xgboost", "mvautils", "onnx", from the file's content;
    any other file is a ModelError. (An ONNX file is recognised by its first protobuf field,
    ir_version, or its .onnx suffix; :func:`load_onnx` checks the whole file. A ROOT file, magic
    bytes ``root``, must hold an MVAUtils forest: any other ROOT file is a ModelError saying what
    it holds.)"""
    from .gbdt import sniff

    p = Path(path)
    src = source or str(p)
    try:
        with p.open("rb") as f:  # the head only (a model may be many MB; convert() detects again)
            head = f.read(4096)
    except OSError as e:
        raise ModelError(f"cannot read model file: {e.strerror}", file=src) from e
    if not head.strip():
        raise ModelError(f"empty file, not a model ({KNOWN})", file=src)
    if head.startswith(b"root"):
        from .mvautils import sniff as sniff_root

        return sniff_root(p, source=src)
    gbdt = sniff(p, head)
    if gbdt:
        return gbdt
    text = head.lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<MethodSetup"):
        if b"<MethodSetup" in head:
            return "tmva"
        raise ModelError("XML file but not a TMVA weight file (no <MethodSetup>)", file=src)
    if text.startswith(b"{"):
        return "lwtnn"
    if head.startswith(b"\x08") or p.suffix.lower() == ".onnx":  # ModelProto field 1 (ir_version) first
        return "onnx"
    raise ModelError(f"unknown model format (not {KNOWN})", file=src)


def load_onnx(data: bytes, source: str, *, check: bool = True) -> Any:
    """An ``onnx.ModelProto`` from serialized bytes, checked (a graph with outputs, the ONNX
    checker); anything else is a ModelError naming ``source``. ``check=False`` skips the ONNX
    checker (for bytes this package converted and checked before, e.g. the conversion cache: the
    checker costs ~50x the parsing on a 800-tree BDT)."""
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelError("empty file, not an ONNX model", file=source)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as e:
        raise ModelError(f"not a readable ONNX model (protobuf: {e})", file=source) from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.output:
        raise ModelError("not an ONNX model (no IR version, graph or graph outputs)", file=source)
    if not check:
        return proto
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"invalid ONNX model: {first}", file=source) from None
    return proto


def _describe(e: BaseException) -> str:
    if isinstance(e, KeyError):
        return f"missing field {e.args[0]!r}" if e.args else "missing field"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text (byte {e.start})"
    return f"{type(e).__name__}: {e}"


@contextmanager
def malformed(fmt: str, source: str) -> Iterator[None]:
    """Turns the Python errors of reading a malformed ``fmt`` file (a missing key, a list too
    short, a string where a number belongs, bad UTF-8, ...) into a ModelError naming the file."""
    try:
        yield
    except ModelError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise ModelError(f"malformed {FORMATS[fmt]} file: {_describe(e)}", file=source) from e


def convert(path: str | os.PathLike[str], *, source: str | None = None, **options: Any) -> Any:
    """An ``onnx.ModelProto`` for a TMVA XML, lwtnn JSON, LightGBM, XGBoost, MVAUtils ROOT or ONNX
    file.
    ``source``: the name errors report (default: ``path``)."""
    src = source or str(path)
    fmt = detect_format(path, source=src)
    with malformed(fmt, src):
        if fmt == "tmva":
            from .tmva import tmva_to_onnx

            return tmva_to_onnx(path, source=src, **options)
        if fmt == "lwtnn":
            from .lwtnn import lwtnn_to_onnx

            return lwtnn_to_onnx(path, source=src, **options)
        if fmt == "lightgbm":
            from .gbdt import lightgbm_to_onnx

            return lightgbm_to_onnx(path, source=src, **options)
        if fmt == "xgboost":
            from .gbdt import xgboost_to_onnx

            return xgboost_to_onnx(path, source=src, **options)
        if fmt == "mvautils":
            from .mvautils import mvautils_to_onnx

            return mvautils_to_onnx(path, source=src, **options)
        from ..onnx_tools import dynamic_batch

        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read model file: {e.strerror}", file=src) from e
        return dynamic_batch(load_onnx(data, src))


def convert_bytes(data: bytes, name: str, *, source: str | None = None) -> Any:
    """``convert`` for a model held in memory (e.g. decompressed); ``name`` is its file name,
    ``source`` the name errors report (default ``name``)."""
    import logging
    import tempfile

    src = source or name
    with tempfile.TemporaryDirectory(prefix="recast_ml_model_") as tmp:
        plain = Path(tmp) / Path(name).name
        plain.write_bytes(data)
        fmt = detect_format(plain, source=src)
        logging.getLogger(__name__).info("converting %s model %s to ONNX", fmt, src)
        return convert(plain, source=src)


__all__ = ["FORMATS", "convert", "convert_bytes", "detect_format", "load_onnx", "malformed"]
