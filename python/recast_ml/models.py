"""Model-card tools: technical validation of a model card on feature vectors (the path the event
loop uses: ONNX Runtime in the C++ core, with the card's normalisation, padding and routing)."""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError, ModelError

log = logging.getLogger(__name__)


def read_csv_columns(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[np.float64]]:
    """Numeric CSV with a header row ('#' lines skipped) -> columns."""
    return read_csv_table(path)[0]


def read_csv_table(path: str | os.PathLike[str]) -> tuple[dict[str, npt.NDArray[np.float64]], list[int]]:
    """:func:`read_csv_columns` and the file line number (from 1) of each row of numbers: errors
    and deviations name lines of the file, comment and blank lines counted."""
    path = Path(path)
    try:
        with path.open() as fh:
            numbered = [(k, line) for k, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    rows = list(csv.reader(line for _, line in numbered))
    lines = [k for k, _ in numbered]
    if len(rows) < 2:
        raise ConfigError("expected a header row and at least one row of numbers", file=str(path))
    header = [h.strip() for h in rows[0]]
    cols: dict[str, list[float]] = {h: [] for h in header}
    for k, row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise ConfigError(f"line {k} has {len(row)} values, the header {len(header)}", file=str(path))
        for h, v in zip(header, row, strict=True):
            try:
                cols[h].append(float(v))
            except ValueError:
                raise ConfigError(f"line {k}, column {h!r}: {v!r} is not a number", file=str(path)) from None
    return {h: np.array(v) for h, v in cols.items()}, lines[1:]


@dataclass
class CheckResult:
    model: str
    n_rows: int
    max_deviation: dict[str, float]
    worst_row: dict[str, int]
    values: dict[str, npt.NDArray[np.float64]]
    #: the file line number (from 1) of each row of the features and of the expected values
    feature_lines: list[int] | None = None
    expected_lines: list[int] | None = None

    def passed(self, tolerance: float) -> bool:
        return all(d <= tolerance for d in self.max_deviation.values())


def check_model(
    card: str,
    features: str | os.PathLike[str],
    expected: str | os.PathLike[str] | None = None,
    *,
    normalised: bool = False,
) -> CheckResult:
    """Runs the model card ``ANALYSIS:MODEL`` (bundled ID or definition path) on the feature
    vectors of a CSV (one column per card input, raw values unless ``normalised``; optional
    ``route`` or ``event_number`` columns choose the file) and compares with ``expected`` (one
    column per card output, or a single column)."""
    from .analysis import Definition, compile_spec, find_definition, load_definition

    if ":" not in card:
        raise ConfigError(f"model card {card!r}: expected ANALYSIS:MODEL (e.g. ATLAS-SUSY-2018-22:GGd1)")
    ana_name, model_name = card.rsplit(":", 1)
    definition: Definition = load_definition(find_definition(ana_name))
    models = definition.doc.get("models", {})
    if model_name not in models:
        raise ConfigError(f"no model {model_name!r}; models: {', '.join(models) or 'none'}", file=str(definition.path))
    spec = definition._model_spec(model_name, models[model_name])
    cols, feature_lines = read_csv_table(features)
    n = len(next(iter(cols.values())))
    names = [i["name"] for t in spec["tensors"] for i in t["inputs"]]
    missing = [x for x in names if x not in cols]
    if missing:
        raise ConfigError(f"no column for the inputs {missing} of {card}", file=str(features))
    for t in spec["tensors"]:
        for i in t["inputs"]:
            i["expr"] = {"text": f"features.{i['name']}", "line": 1, "col": 1}
            if normalised:
                i["add"], i["multiply"] = 0.0, 1.0
    record: dict[str, Any] = {"fields": {x: cols[x] for x in names}}
    if "route" in cols:
        record["fields"]["route"] = cols["route"]
        spec["route"] = {"text": "features.route", "line": 1, "col": 1}
    elif "route" in spec and not ("event_number" in cols and "event." in spec["route"]["text"]):
        if len(spec["files"]) > 1:
            raise ConfigError(f"{card} routes by {spec['route']['text']!r}: give a 'route' column", file=str(features))
        spec.pop("route")
    event_number = cols["event_number"].astype(np.int64) if "event_number" in cols else np.zeros(n, np.int64)
    table = {"n_events": n, "collections": {}, "records": {"features": record}, "event_number": event_number}
    outputs = [o["name"] for o in spec["outputs"]]
    core_spec = {
        "id": f"check {card}",
        "source": str(definition.path),
        "objects": [],
        "variables": [],
        "models": [spec],
        "parameters": {},
        "regions": [],
    }
    # the model outputs as variables, so that they come back per row
    core_spec["variables"] = [
        {"name": f"out_{o}", "expr": {"text": f"{model_name}.{o}", "line": 1, "col": 1}} for o in outputs
    ]
    core = compile_spec(core_spec, _core.table_schema(table))
    values = core.run_table(table, 1, {}).variables
    got = {o: values[:, k] for k, o in enumerate(outputs)}
    deviation: dict[str, float] = {}
    worst: dict[str, int] = {}
    expected_lines = None
    if expected is not None:
        ref, expected_lines = read_csv_table(expected)
        for o in outputs:
            col = (
                ref.get(o) if o in ref else (next(iter(ref.values())) if len(ref) == 1 and len(outputs) == 1 else None)
            )
            if col is None:
                raise ConfigError(f"no column {o!r} (columns: {', '.join(ref)})", file=str(expected))
            if len(col) != n:
                raise ConfigError(f"{len(col)} rows, the features have {n}", file=str(expected))
            diff = np.abs(got[o] - col)
            if np.any(np.isnan(diff)):
                k = int(np.nonzero(np.isnan(diff))[0][0])
                raise ConfigError(
                    f"line {feature_lines[k]}: the model gave no value (missing input without pad?)", file=str(features)
                )
            worst[o] = int(np.argmax(diff))
            deviation[o] = float(diff[worst[o]])
    return CheckResult(
        model=card,
        n_rows=n,
        max_deviation=deviation,
        worst_row=worst,
        values=got,
        feature_lines=feature_lines,
        expected_lines=expected_lines,
    )


def _short(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


def check_card_inputs(
    card: dict[str, list[str]],
    proto: Any,
    *,
    model: str,
    model_file: str,
    file: str | None = None,
    line: int | None = None,
    where: str = "",
) -> None:
    """The inputs a model card declares (per ONNX input tensor: the feature names in order) must
    be the model file's: the same tensors, per tensor as many features as the file takes (the
    last axis of its shape) and, where the file records feature names (TMVA variable expressions,
    lwtnn variable names, LightGBM/XGBoost feature names, ONNX metadata), the same names in the
    same order. A swapped or missing input is otherwise silent: the model scores the wrong
    numbers. ``file`` and ``line`` locate the card (the analysis.yaml and the line of the model's
    key; ``where``, a ``file:line`` text, is the older form); a mismatch is a ModelError naming
    both lists, with ``file``/``line`` set."""
    from .onnx_tools import ModelInterface

    interface = proto if isinstance(proto, ModelInterface) else ModelInterface.from_proto(proto)
    recorded = interface.recorded
    head = f"{where}: " if where and file is None else ""
    head += f"model {model!r}: the card's inputs do not match {model_file}"

    def mismatch(detail: str) -> ModelError:
        return ModelError(f"{head}: {detail}", file=file, line=line)

    if set(card) != set(recorded):
        raise mismatch(f"the card fills tensors {sorted(card)}, the model takes {sorted(recorded)}")
    for tensor, names in card.items():
        label = "" if len(card) == 1 else f" of tensor {tensor!r}"
        model_names = recorded[tensor]
        width = interface.widths.get(tensor)
        if model_names is None:
            if width is not None and width != len(names):
                raise mismatch(
                    f"the card gives {len(names)} inputs{label}, the model takes {width} "
                    f"(the file records no names); card: {_short(names)}"
                )
            continue
        if names == model_names:
            continue
        if len(names) != len(model_names):
            missing = [x for x in model_names if x not in names]
            extra = [x for x in names if x not in model_names]
            detail = f"the card gives {len(names)} inputs{label}, the model takes {len(model_names)}"
            detail += f" (missing {_short(missing)})" if missing else ""
            detail += f" (not in the model {_short(extra)})" if extra else ""
        else:
            k = next(k for k, (a, b) in enumerate(zip(names, model_names, strict=True)) if a != b)
            detail = f"input {k}{label} is {names[k]!r} in the card, {model_names[k]!r} in the model"
        raise mismatch(f"{detail}; card: {_short(names)}; model: {_short(model_names)}")


def _tensor(value: Any) -> dict[str, Any]:
    import onnx

    t = value.type.tensor_type
    try:
        dtype = str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)))
    except (KeyError, TypeError, ValueError):
        dtype = "unknown"
    shape: list[int | str | None] = []
    for d in t.shape.dim:
        shape.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None))
    return {
        "name": value.name,
        "dtype": dtype,
        "shape": shape,
        "onnx_type": onnx.TensorProto.DataType.Name(t.elem_type).lower(),
    }


def _model_info(proto: Any) -> dict[str, Any]:
    """Inputs (with the feature names the file records), outputs and metadata of an ONNX model."""
    from .onnx_tools import graph_inputs, input_names

    names = input_names(proto)
    inputs = []
    for value in graph_inputs(proto):
        info = _tensor(value)
        if names.get(value.name) is not None:
            info["features"] = names[value.name]
        inputs.append(info)
    return {
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "metadata": {p.key: p.value for p in proto.metadata_props},
        "inputs": inputs,
        "outputs": [_tensor(v) for v in proto.graph.output],
    }


def _plain_model_file(path: Path, tmp: str) -> Path:
    """The model file itself or, where it is gzip-compressed (by its magic bytes, as the event
    readers decide, whatever its suffix), its decompressed copy in the folder ``tmp`` (a damaged
    gzip file is a ConfigError naming it); plain content named ``.gz`` is read as it is."""
    from .analysis import read_model_file
    from .io import GZIP_MAGIC

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with path.open("rb") as fh:
            gzipped = fh.read(2) == GZIP_MAGIC
    except OSError as e:
        raise ConfigError(f"cannot read model file {path}: {e.strerror}") from e
    if not gzipped:
        return path
    plain = Path(tmp) / path.name.removesuffix(".gz")
    plain.write_bytes(read_model_file(path))
    return plain


def read_model(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """(format, ONNX model) of a model file of any supported format (gzip-compressed allowed); an
    ONNX file as it is (not made batchable), the others converted."""
    import tempfile

    from .convert import convert, detect_format, load_onnx

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="recast_ml_model_") as tmp:
        plain = _plain_model_file(path, tmp)
        fmt = detect_format(plain, source=str(path))
        if fmt == "onnx":
            return fmt, load_onnx(plain.read_bytes(), str(path))
        return fmt, convert(plain, source=str(path))


def describe(target: str) -> dict[str, Any]:
    """What ``recast-ml models inspect`` shows: for a model file (ONNX, TMVA XML, lwtnn JSON,
    LightGBM, XGBoost, MVAUtils ROOT; .gz allowed) its format, inputs (with feature names), outputs
    and metadata (for an MVAUtils forest: trees, classes, features, nodes, depth, objective); for
    a model card ``ANALYSIS:MODEL`` also the card's inputs (name, expression, normalisation,
    padding), outputs, routing and files (the card loaded as a run loads it, so with its checks
    against the files)."""
    from .convert import FORMATS

    path = Path(target)
    if path.is_file() or ":" not in target:
        fmt, proto = read_model(path)
        return {"file": str(path), "format": FORMATS[fmt], **_model_info(proto)}
    from .analysis import Definition, find_definition, load_definition

    ana_name, model_name = target.rsplit(":", 1)
    definition: Definition = load_definition(find_definition(ana_name))
    cards = definition.doc.get("models", {})
    if model_name not in cards:
        raise ConfigError(f"no model {model_name!r}; models: {', '.join(cards) or 'none'}", file=str(definition.path))
    card = cards[model_name]
    key = next(k for k in cards if k == model_name)  # a Located string: the line of `NAME:`
    absent = definition.unavailable_models()
    if model_name in absent:  # declared, file not shipped (e.g. a non-public net): say why
        raise ConfigError(f"model {model_name} is unavailable: {absent[model_name]}", file=str(definition.path))
    spec = definition._model_spec(model_name, card)
    fmt, proto = read_model(spec["files"][0]["path"])
    inputs = [
        {
            "tensor": t["name"],
            "name": i["name"],
            "expr": i["expr"]["text"],
            "add": i["add"],
            "multiply": i["multiply"],
            "pad": i["pad"],
        }
        for t in spec["tensors"]
        for i in t["inputs"]
    ]
    return {
        "card": target,
        "definition": f"{definition.path}:{getattr(key, 'line', spec['line'])}",
        "description": str(card.get("description", "")),
        "route": spec["route"]["text"] if "route" in spec else None,
        "files": [{"route": f["route"], "file": f["path"]} for f in spec["files"]],
        "format": FORMATS[fmt],
        "card_inputs": inputs,
        "card_outputs": [{"name": o["name"], "tensor": o["tensor"], "index": o["index"]} for o in spec["outputs"]],
        **_model_info(proto),
    }


def format_description(info: dict[str, Any]) -> str:
    """The text form of :func:`describe` (``recast-ml models inspect``)."""
    lines = []
    for key, value in info.items():
        if key == "metadata":
            for k, v in value.items():
                lines.append(f"metadata {k}: {v if len(v) <= 100 else v[:97] + '...'}")
        elif key == "files":
            lines += [f"file (route {f['route']}): {f['file']}" for f in value]
        elif key == "card_inputs":
            lines.append("card inputs:")
            for n, i in enumerate(value):
                norm = "" if (i["add"], i["multiply"]) == (0.0, 1.0) else f"  (x + {i['add']:g}) * {i['multiply']:g}"
                pad = "" if i["pad"] is None else f"  pad {i['pad']:g}"
                lines.append(f"  {n:>3} {i['tensor']}: {i['name']:<24} = {i['expr']}{norm}{pad}")
        elif key == "card_outputs":
            lines.append("card outputs:")
            lines += [f"  {o['name']:<24} = {o['tensor']}[{o['index']}]" for o in value]
        elif key not in ("inputs", "outputs") and value not in (None, ""):
            lines.append(f"{key}: {value}")
    for kind in ("inputs", "outputs"):
        lines.append(f"{kind}:")
        for t in info[kind]:
            shape = ", ".join(str(d) if isinstance(d, int) else "N" for d in t["shape"])
            lines.append(f"  {t['name']:<24} {t['dtype']:<8} ({shape})")
            if "features" in t:
                lines.append(f"    features: {', '.join(t['features'])}")
    return "\n".join(lines)


def convert_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Writes the ONNX conversion of a TMVA XML / lwtnn JSON / LightGBM / XGBoost / MVAUtils ROOT /
    ONNX (made batchable) file (gzip-compressed allowed). A target that cannot be written (a file
    where its folder belongs, no permission) is a ConfigError naming it."""
    return _convert_file(source, target)[0]


def _convert_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> tuple[Path, str]:
    """convert_file, and the source's format (a key of FORMATS): the file is decompressed once."""
    import tempfile

    from .convert import convert, detect_format

    source, target = Path(source), Path(target)
    with tempfile.TemporaryDirectory(prefix="recast_ml_model_") as tmp:
        plain = _plain_model_file(source, tmp)
        fmt = detect_format(plain, source=str(source))
        model = convert(plain, source=str(source))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(model.SerializeToString())
    except OSError as e:
        from .export.outputs import output_path_problem

        raise ConfigError(f"cannot write {target}: {output_path_problem(target, e, folder=False)}") from e
    return target, fmt


__all__ = [
    "CheckResult",
    "check_card_inputs",
    "check_model",
    "convert_file",
    "describe",
    "format_description",
    "read_csv_table",
]
