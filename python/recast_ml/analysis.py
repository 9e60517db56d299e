"""Declarative analyses: load a definition (YAML, validated against a JSON Schema, expressions
compiled by the C++ core with file:line:column errors) and run it on events or arrays.

    ana = Analysis.load("ATLAS-SUSY-2018-22")          # bundled ID, a directory or a YAML file
    result = ana.run(events, cross_section=0.0284)      # pb; detector from the definition
    result.cutflow("SR4j-2200").table()
    result.save("out/results.json")

The format is documented in ``analyses/README.md``; the results JSON in ``results.schema.json``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError, ModelError
from ._data import analyses_dir
from .events import EventBatch
from .io import GZIP_MAGIC, EventFile
from .objects import ObjectTable

log = logging.getLogger(__name__)

FORMAT = "recast_ml/analysis"
FORMAT_VERSION = 1
RESULTS_FORMAT = "recast_ml/results"
RESULTS_FORMAT_VERSION = 1
_SCHEMAS = Path(__file__).parent / "schemas"
_FB_PER_PB = 1000.0  # sigma [pb] x L [fb^-1] x 1000 = events


# ------------------------------------------------------------------------------------------------
# YAML with positions
# ------------------------------------------------------------------------------------------------
class Located(str):
    """A string from a definition file that remembers where its text starts (1-based). ``file`` is
    set on the strings of an included file (``include:``), ``None`` for the definition's own."""

    line: int
    col: int
    file: str | None = None

    def __new__(cls, value: str, line: int = 1, col: int = 1) -> Located:
        s = super().__new__(cls, value)
        s.line, s.col = line, col
        return s


def _construct(node: Any, lines: list[str], loader: Any = None) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _construct(k, lines, loader)
            if key in out:
                raise ConfigError(
                    f"duplicate key {key!r}",
                    file=k.start_mark.name,
                    line=k.start_mark.line + 1,
                    column=k.start_mark.column + 1,
                )
            out[key] = _construct(v, lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, lines, loader) for v in node.value]
    if node.tag == "tag:yaml.org,2002:str":
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if node.style in ("'", '"'):
            col += 1
        elif node.style in ("|", ">"):
            line += 1
            text = lines[line - 1] if line - 1 < len(lines) else ""
            col = len(text) - len(text.lstrip(" ")) + 1
        return Located(node.value, line, col)
    return (loader or _loader()("")).construct_object(node, deep=True)


@functools.cache
def _loader() -> Any:
    """PyYAML's safe loader, with YAML 1.2 floats (PyYAML reads ``1e-7`` as a string)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return Loader


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """YAML -> Python containers; strings are :class:`Located` (file positions kept). Errors
    (unreadable file, bytes that are not UTF-8, invalid YAML, duplicate keys) are ConfigErrors
    naming the file, line and column."""
    import yaml

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}", file=str(path)) from e
    cached = _yaml_cache(data)
    if cached is not None:
        return cached
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[e.start]:02x})", file=str(path), line=line, column=column
        ) from None
    try:
        loader = _loader()(text)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise ConfigError(
            f"invalid YAML: unacceptable character #x{char:04x}: {e.reason}", file=str(path), line=line, column=column
        ) from None
    loader.name = str(path)  # marks (positions of errors and nodes) name the file
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("empty file", file=str(path))
        doc = _construct(node, text.splitlines(), loader)
        _yaml_cache(data, doc)
        return doc
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(
            f"invalid YAML: {e.problem or e.context}",
            file=str(path),
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=str(path)) from None
    finally:
        loader.dispose()


#: version of the parsed-YAML cache entries (the structure _construct returns, and its encoding);
#: the key also holds recast_ml's and PyYAML's versions, so that a cache shared between
#: installations never hands one the parse of another's loader
_YAML_CACHE_VERSION = "1"


class _Uncacheable(Exception):
    """A parsed value the cache's JSON encoding does not hold (a YAML date, binary, ...)."""


def _yaml_encode(x: Any) -> Any:
    """A parsed document as JSON: every container and located string becomes a one-key object
    (``d``: mapping as key/value pairs, ``l``: list, ``L``: located string), plain scalars stay."""
    if isinstance(x, Located):
        return {"L": [str(x), x.line, x.col, x.file]}
    if isinstance(x, dict):
        return {"d": [[_yaml_encode(k), _yaml_encode(v)] for k, v in x.items()]}
    if isinstance(x, list):
        return {"l": [_yaml_encode(v) for v in x]}
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise _Uncacheable(type(x).__name__)


def _yaml_decode(obj: dict[str, Any]) -> Any:
    ((tag, value),) = obj.items()
    if tag == "L":
        s = Located(value[0], value[1], value[2])
        s.file = value[3]
        return s
    if tag == "d":
        return dict(value)
    if tag == "l":
        return value
    raise ValueError(f"unknown tag {tag!r}")


def _yaml_cache(data: bytes, doc: Any = None) -> Any:
    """The parsed document of the YAML text ``data`` from the cache (None where there is none), or,
    with ``doc``, stores it. Parsing with positions (PyYAML's composer in pure Python) costs ~50 ms
    per definition file, a quarter of a short ``recast-ml run``. An entry is keyed by the text's
    SHA-256 and holds what :func:`load_yaml` returns for it as JSON (never pickle: the cache folder
    may be shared), decoded afresh on every hit (callers mark the strings of included files). Only
    documents that parsed are stored; a damaged or unreadable entry is parsed again, and a
    read-only cache is not an error."""
    import hashlib

    import yaml

    from . import __version__

    tag = f"{_YAML_CACHE_VERSION}\0{__version__}\0{yaml.__version__}\0".encode()
    digest = hashlib.sha256(tag + data).hexdigest()
    entry = cache_dir() / "yaml" / f"{digest}.json"
    if doc is not None:
        try:
            _write_atomic(entry, json.dumps(_yaml_encode(doc), separators=(",", ":")).encode())
        except _Uncacheable as e:
            log.debug("not caching the YAML parse of %s: it holds a %s", entry.name, e)
        return doc
    try:
        blob = entry.read_bytes()
    except OSError:
        return None
    try:
        return json.loads(blob, object_hook=_yaml_decode)
    except (ValueError, TypeError, IndexError) as e:  # a damaged entry: parse the text again
        log.warning("ignoring the cached YAML parse %s: %s", entry, e)
        return None


def _schema() -> Any:
    return json.loads((_SCHEMAS / "analysis.schema.json").read_text())


def _validate(doc: Any, path: Path, schema: Any = None) -> None:
    """Checks ``doc`` against the definition schema (or ``schema``); a ConfigError names the
    failing element and its line. A document that passed once is remembered in the cache by the
    digest of its content and of the schema (validating and importing jsonschema took ~0.13 s of
    every run); only a pass is remembered, so errors are always found and reported afresh."""
    import hashlib

    schema = _schema() if schema is None else schema
    try:
        content = json.dumps([schema, _yaml_encode(doc)], sort_keys=True, separators=(",", ":"))
        passed = cache_dir() / "valid" / hashlib.sha256(content.encode()).hexdigest()
    except (_Uncacheable, ValueError, TypeError):  # a value JSON cannot hold (a date): always validate
        passed = None
    if passed is not None and _is_file(passed):
        return
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: len(e.absolute_path))
    if not errors:
        if passed is not None:
            _write_atomic(passed, b"")
        return
    err, message = _most_relevant(errors)
    loc = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    raise ConfigError(f"{loc}: {message}", file=str(path), line=_line_of(doc, err.absolute_path))


def _line_of(doc: Any, where: Sequence[Any]) -> int | None:
    """The line of the element at path ``where``: its own first located text (a mapping's first
    key, a string), else the line of its key in the enclosing mapping (a number, a list of
    numbers), else that of the nearest enclosing element that has one."""
    line, node = None, doc
    for p in where:
        if isinstance(node, Mapping):
            key = next((k for k in node if k == p), None)
            line = key.line if isinstance(key, Located) else (_first_line(node[p]) or line)
        else:
            line = _first_line(node[p]) or line
        node = node[p]
    return _first_line(node) or line


def _most_relevant(errors: Sequence[Any]) -> tuple[Any, str]:
    """The error to report, and its message. jsonschema's choice (best_match), except for an element
    valid under none of the alternatives (oneOf/anyOf) of its schema where the choice is clear:
    exactly one alternative has no complaint about the element itself but unknown keys (e.g. an
    object entry with a misspelt key, not an `overlap:` or `merge:` step): that alternative's
    error; every alternative only lacks keys: "needs one of the keys ..."."""
    import jsonschema

    relevance = jsonschema.exceptions.relevance
    err = max(errors, key=relevance)
    chosen = False
    while err.context:
        own = [e for e in err.context if not e.relative_path]  # about the element itself
        if own and len(own) == len(err.context) and all(e.validator == "required" for e in own):
            missing = [m for e in own for m in e.validator_value if m not in e.instance]
            return err, "needs one of the keys " + ", ".join(repr(m) for m in dict.fromkeys(missing))
        branches: dict[Any, list[Any]] = {}
        for e in err.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        fitting = [  # about the element itself at most an unknown key (deeper errors are fine)
            errs
            for errs in branches.values()
            if all(e.validator == "additionalProperties" for e in errs if not e.relative_path)
        ]
        if len(branches) < 2 or len(fitting) != 1:
            break
        err, chosen = max(fitting[0], key=relevance), True
    if not chosen:
        err = jsonschema.exceptions.best_match(errors)
    elif err.context:
        err = jsonschema.exceptions.best_match([err])
    return err, err.message


def _first_line(x: Any) -> int | None:
    if isinstance(x, Located):
        return x.line
    if isinstance(x, Mapping):
        for k, v in x.items():
            line = _first_line(k) or _first_line(v)
            if line:
                return line
    if isinstance(x, list):
        for v in x:
            line = _first_line(v)
            if line:
                return line
    return None


def _empty_at(entry: Mapping[Any, Any], key: str) -> dict[str, Any]:
    """An empty located text at the position of ``entry``'s ``key`` (or of its value)."""
    at = next((k for k in entry if k == key), None)
    if not isinstance(at, Located):
        at = entry[key] if isinstance(entry.get(key), Located) else None
    return {"text": "", "line": at.line if at else 1, "col": at.col if at else 1}


def _loc(s: Any) -> dict[str, Any] | None:
    if s is None:
        return None
    if isinstance(s, Located):
        return {"text": str(s), "line": s.line, "col": s.col}
    return {"text": str(s), "line": 1, "col": 1}


# ------------------------------------------------------------------------------------------------
# model files
# ------------------------------------------------------------------------------------------------
# 2: feature names in the metadata (input:<tensor>), checked against cards; 3: a TMVA file whose
# NTrees disagrees with its trees is refused (a conversion cached before would be served)
CONVERTER_VERSION = "3"


def cache_dir() -> Path:
    """Where converted models are cached ($RECAST_CACHE_DIR, else ~/.cache/recast_ml)."""
    env = os.environ.get("RECAST_CACHE_DIR")
    if env:
        return Path(env)
    home = os.environ.get("HOME")
    if home:
        return Path(home) / ".cache" / "recast_ml"
    import tempfile

    return Path(tempfile.gettempdir()) / "recast_ml-cache"


def read_model_file(path: Path) -> bytes:
    """The bytes of a model file, decompressed if it is gzip (by content, :func:`_decompressed`)."""
    return _decompressed(path, _read_model_bytes(path))


def _read_model_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read model file {path}: {e.strerror}") from e


def _decompressed(path: Path, raw: bytes) -> bytes:
    """The content of a model file: decompressed where it is gzip (by its magic bytes, as the event
    readers decide, whatever the suffix; plain content named .gz is read as it is). A truncated or
    damaged gzip file is a ConfigError naming it."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    import gzip
    import zlib

    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ConfigError(f"damaged gzip file (truncated or corrupt): {e}", file=str(path)) from e


def _model_digest(path: Path, raw: bytes) -> tuple[str, bytes | None]:
    """The SHA-256 of a model file's (decompressed) content, and that content where it had to be
    decompressed for it. Gzip is recognised by its magic bytes, as :func:`_decompressed` does. For a
    gzip file the digest of the decompressed content is cached by the digest of the compressed
    bytes: decompressing the 16 BDTs of ATLAS-SUSY-2018-22 only to check their checksums took ~90 ms
    of every run; the compressed bytes are still hashed each time."""
    import hashlib

    if not raw.startswith(GZIP_MAGIC):
        return hashlib.sha256(raw).hexdigest(), raw
    note = cache_dir() / "models" / f"gz-{hashlib.sha256(raw).hexdigest()}.sha256"
    try:
        known = note.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{64}", known):
            return known, None
    except OSError:
        pass
    data = _decompressed(path, raw)
    digest = hashlib.sha256(data).hexdigest()
    _write_atomic(note, digest.encode())
    return digest, data


def load_model(
    path: Path,
    sha256: str | None,
    *,
    where: str = "",
    file: str | None = None,
    line: int | None = None,
    git_blob_sha1: str | None = None,
) -> bytes:
    """ONNX bytes of a model file (TMVA XML, lwtnn JSON or ONNX; .gz allowed). The SHA-256 of the
    (decompressed) file must equal the card's (or, for a card that gives ``git_blob_sha1``
    instead, its git blob id; a card with neither, possible only for a file declared with an
    ``unavailable_reason``, accepts the user's file with a warning); conversions are cached by
    that hash. ``file`` and ``line`` locate the card (``where``, a ``file:line`` text, is the older form)."""
    import hashlib

    from .convert import convert_bytes

    try:
        raw = _read_model_bytes(path)
    except ConfigError as e:  # a missing or unreadable file: name the card's line too
        if file is not None:
            raise ConfigError(e.message, file=file, line=line) from e
        if where:
            raise ConfigError(f"{where}: {e.message}") from e
        raise
    digest, data = _model_digest(path, raw)
    checks = []
    if sha256 is not None:
        checks.append(("SHA-256", digest, sha256))
    if git_blob_sha1 is not None:
        data = _decompressed(path, raw) if data is None else data
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        checks.append(("git blob id", blob, git_blob_sha1))
    if not checks:
        log.warning("%s: the model card gives no checksum; using the file as it is (SHA-256 %s)", path, digest)
    for what, have, want in checks:
        if have == want:
            continue
        message = f"{path} has {what} {have}, the model card says {want}"
        if file is not None:
            raise ConfigError(message, file=file, line=line)
        raise ConfigError(f"{where}: {message}" if where else message, file=None if where else str(path))
    cached = cache_dir() / "models" / f"{digest}-{CONVERTER_VERSION}.onnx"
    # the conversion's own SHA-256 beside it: a cache hit is verified by hashing, without parsing
    # the ONNX (importing `onnx` alone costs ~1.7 s of a `recast-ml run`)
    check_file = cached.with_name(cached.name + ".sha256")
    if _is_file(cached):
        try:
            data_cached = cached.read_bytes()
            if check_file.is_file():
                if check_file.read_text().strip() == hashlib.sha256(data_cached).hexdigest():
                    return data_cached
                raise ModelError("its checksum does not match the one written with it", file=str(cached))
            from .convert import load_onnx

            load_onnx(data_cached, str(cached), check=False)  # an entry of an older recast: parse it once
            _write_atomic(check_file, hashlib.sha256(data_cached).hexdigest().encode())
            return data_cached
        except (OSError, ModelError) as e:  # a damaged cache entry is converted again
            log.warning("ignoring the cached conversion %s: %s", cached, e)
    data = _decompressed(path, raw) if data is None else data
    onnx_bytes: bytes = convert_bytes(data, path.name.removesuffix(".gz"), source=str(path)).SerializeToString()
    _write_atomic(cached, onnx_bytes)
    _write_atomic(check_file, hashlib.sha256(onnx_bytes).hexdigest().encode())
    return onnx_bytes


def _is_file(path: Path) -> bool:
    """Whether a cache entry exists; an unreadable cache (another user's folder) has none."""
    try:
        return path.is_file()
    except OSError:
        return False


def _write_atomic(path: Path, data: bytes) -> None:
    """A cache file written under a temporary name (unique per process and thread) and renamed;
    a read-only cache is not an error."""
    import threading

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
        part.write_bytes(data)
        part.replace(path)
    except OSError as e:
        log.debug("cannot cache %s: %s", path, e)


# ------------------------------------------------------------------------------------------------
# definition -> core spec
# ------------------------------------------------------------------------------------------------
_NAME = re.compile(r"(?<![.\w])([A-Za-z_]\w*)")  # a name not after '.': variable, model, collection, function


def _needs(text: str, models: Mapping[str, str], variables: Mapping[str, str]) -> str | None:
    """The reason of the first unavailable model (``NAME.output``) or variable an expression uses."""
    for m in _NAME.finditer(text):
        name = m.group(1)
        if name in models and text[m.end() :].lstrip().startswith("."):
            return models[name]
        if name in variables:
            return variables[name]
    return None


@dataclass
class Definition:
    """A validated analysis definition (the YAML document) and where it came from."""

    path: Path
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.doc["info"]["id"])

    @property
    def info(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Located) else v) for k, v in self.doc["info"].items()}

    @property
    def directory(self) -> Path:
        return self.path.parent

    def region_cuts(self) -> dict[str, list[tuple[str, Located]]]:
        """Cuts of every region with inheritance resolved (parent cuts first)."""
        regions = {str(r["name"]): r for r in self.doc["regions"]}
        if len(regions) != len(self.doc["regions"]):
            names = [str(r["name"]) for r in self.doc["regions"]]
            dup = next(n for n in names if names.count(n) > 1)
            second = [r["name"] for r in self.doc["regions"] if str(r["name"]) == dup][-1]
            raise ConfigError(f"region {dup!r} is defined twice", file=str(self.path), line=_first_line(second))
        out: dict[str, list[tuple[str, Located]]] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> list[tuple[str, Located]]:
            if name in out:
                return out[name]
            r = regions[name]
            cuts: list[tuple[str, Located]] = []
            if "inherit" in r:
                parent = str(r["inherit"])
                if parent not in regions:
                    raise ConfigError(
                        f"region {name!r} inherits from unknown region {parent!r}",
                        file=str(self.path),
                        line=r["inherit"].line,
                    )
                if parent in chain:
                    raise ConfigError(
                        f"circular inheritance {' -> '.join((*chain, name, parent))}",
                        file=str(self.path),
                        line=r["inherit"].line,
                    )
                cuts += resolve(parent, (*chain, name))
            for c in r.get("cuts", []):
                if "cut" in c and "name" in c and len(c) >= 2:
                    cuts.append((str(c["name"]), c["cut"]))
                else:
                    ((k, v),) = c.items()
                    cuts.append((str(k), v))
            names = [n for n, _ in cuts]
            for n in names:
                if names.count(n) > 1:
                    raise ConfigError(
                        f"region {name!r} has two cuts named {n!r}", file=str(self.path), line=_first_line(r)
                    )
            out[name] = cuts
            return cuts

        for name in regions:
            resolve(name, ())
        return out

    def spec(self) -> dict[str, Any]:
        """The plain-container spec the core compiles (model files read, checked and converted)."""
        d = self.doc
        objects: list[dict[str, Any]] = []
        for o in d.get("objects", []):
            if "overlap" in o:
                ov = o["overlap"]
                shrink = ov.get("shrinking")
                objects.append(
                    {
                        "overlap": {
                            "remove": str(ov["remove"]),
                            "near": str(ov["near"]),
                            "dr": float(ov.get("dr", 0.4)),
                            "shrinking": shrink is not None,
                            "c": float(shrink["c"]) if shrink else 0.04,
                            "k_gev": float(shrink["k"]) if shrink else 10.0,
                            "dr_max": float(shrink["max"]) if shrink else 0.4,
                            "rapidity": bool(ov.get("rapidity", False)),
                            "cone_pt_of_near": ov.get("cone_pt", "remove") == "near",
                            "only": _loc(ov.get("only")),
                            "against": _loc(ov.get("against")),
                            "line": ov["remove"].line if isinstance(ov["remove"], Located) else 1,
                        }
                    }
                )
            else:
                sel = o.get("select")
                entry: dict[str, Any] = {
                    "name": str(o["name"]),
                    "from": str(o.get("from", "")),
                    # without a selection, errors about the entry (e.g. an unknown collection to
                    # merge) point at its `merge:` list, else at its name
                    "select": _loc(sel) if sel is not None else _empty_at(o, "merge" if "merge" in o else "name"),
                }
                if "merge" in o:
                    entry["merge"] = [str(x) for x in o["merge"]]
                objects.append(entry)
        gone = self.unavailable()
        gone_vars = self._unavailable_variables()
        variables = [
            {"name": str(k), "expr": _loc(v)} for k, v in d.get("variables", {}).items() if str(k) not in gone_vars
        ]
        regions = []
        cuts = self.region_cuts()
        for r in d["regions"]:
            name = str(r["name"])
            if name in gone:
                continue
            region: dict[str, Any] = {
                "name": name,
                "cuts": [{"name": n, "expr": _loc(e)} for n, e in cuts[name]],
                "bins": None,
            }
            if "bins" in r:
                b = r["bins"]
                # edges read and checked by definition_lang.expand (numbers, ±inf)
                region["bins"] = {"variable": _loc(b["variable"]), "edges": [float(x) for x in b["edges"]]}
                if "names" in b:
                    region["bins"]["names"] = [str(n) for n in b["names"]]
            regions.append(region)
        absent = self.unavailable_models()
        models = [
            self._model_spec(str(name), card) for name, card in d.get("models", {}).items() if str(name) not in absent
        ]
        parameters = {str(k): float(v) for k, v in d.get("parameters", {}).items()}
        out: dict[str, Any] = {
            "id": self.id,
            "source": str(self.path),
            "objects": objects,
            "variables": variables,
            "models": models,
            "parameters": parameters,
            "regions": regions,
        }
        if gone:
            out["unavailable"] = [{"region": k, "reason": v} for k, v in gone.items()]
        return out

    # -- models whose file is absent (declared with `unavailable_reason`) and what depends on them --
    def unavailable_models(self) -> dict[str, str]:
        """Model name -> why it cannot run: a file of its card declared with ``unavailable_reason``
        is absent. (An absent file without that declaration is an error when the model is loaded.)"""
        out: dict[str, str] = {}
        for name, card in self.doc.get("models", {}).items():
            for f in card["files"]:
                if "unavailable_reason" in f and not (self.directory / str(f["file"])).is_file():
                    out[str(name)] = (
                        f"{f['unavailable_reason']} (model file {f['file']} absent; put it there to run these regions)"
                    )
                    break
        return out

    def _unavailable_variables(self) -> dict[str, str]:
        """Variable name -> reason, for the variables that use an unavailable model (directly or
        through earlier variables)."""
        models = self.unavailable_models()
        out: dict[str, str] = {}
        for k, v in self.doc.get("variables", {}).items():
            reason = _needs(str(v), models, out)
            if reason is not None:
                out[str(k)] = reason
        return out

    def unavailable(self) -> dict[str, str]:
        """Region name -> reason, for the regions whose cuts (own or inherited) or bin variable use
        an unavailable model or a variable that does: they are left out of the compiled analysis
        and reported as unavailable (no yields, no statistics). Empty when every model is there."""
        models = self.unavailable_models()
        if not models:
            return {}
        variables = {**models, **self._unavailable_variables()}
        out: dict[str, str] = {}
        cuts = self.region_cuts()
        for r in self.doc["regions"]:
            name = str(r["name"])
            texts = [str(e) for _, e in cuts[name]]
            if "bins" in r:
                texts.append(str(r["bins"]["variable"]))
            for t in texts:
                reason = _needs(t, models, variables)
                if reason is not None:
                    out[name] = reason
                    break
        return out

    def _model_spec(self, name: str, card: dict[str, Any]) -> dict[str, Any]:
        from .models import check_card_inputs
        from .onnx_tools import model_interface

        line = _first_line(card) or 1
        key = next((k for k in self.doc.get("models", {}) if k == name), None)
        card_line = key.line if isinstance(key, Located) else line  # the line of `NAME:`
        files = []
        protos = []
        for k, f in enumerate(card["files"]):
            path = self.directory / str(f["file"])
            data = load_model(
                path,
                str(f["sha256"]) if "sha256" in f else None,
                file=str(self.path),
                line=_first_line(f) or line,
                git_blob_sha1=str(f["git_blob_sha1"]) if "git_blob_sha1" in f else None,
            )
            protos.append((path, model_interface(data, str(path))))  # load_model's output is checked
            files.append({"route": int(f.get("route", k)), "path": str(path), "bytes": data})
        proto = protos[0][1]
        onnx_inputs = list(proto.inputs)
        onnx_outputs = list(proto.outputs)
        if "tensors" in card:
            groups = [(str(t), v) for t, v in card["tensors"].items()]
        else:
            if len(onnx_inputs) != 1:
                raise ConfigError(
                    f"model {name!r} has inputs {onnx_inputs}: give 'tensors' (inputs per tensor)",
                    file=str(self.path),
                    line=line,
                )
            groups = [(onnx_inputs[0], card["inputs"])]
        tensors = []
        for tname, inputs in groups:
            items = []
            for i in inputs:
                add, mul = 0.0, 1.0
                if "offset" in i:
                    add, mul = float(i["offset"]), float(i["scale"])
                elif "mean" in i:
                    add, mul = -float(i["mean"]), 1.0 / float(i["std"])
                items.append(
                    {
                        "name": str(i["name"]),
                        "expr": _loc(i["expr"]),
                        "add": add,
                        "multiply": mul,
                        "pad": float(i["pad"]) if "pad" in i else None,
                    }
                )
            tensors.append({"name": tname, "inputs": items})
        card_inputs = {tname: [str(i["name"]) for i in inputs] for tname, inputs in groups}
        for path, file_proto in protos:
            check_card_inputs(
                card_inputs, file_proto, file=str(self.path), line=card_line, model=name, model_file=str(path)
            )
        outputs = []
        for oname, o in card["outputs"].items():
            tensor = str(o.get("tensor", onnx_outputs[0]))
            if tensor not in onnx_outputs:
                raise ConfigError(
                    f"model {name!r}: no output tensor {tensor!r} (has {onnx_outputs})", file=str(self.path), line=line
                )
            outputs.append({"name": str(oname), "tensor": tensor, "index": int(o.get("index", 0))})
        spec: dict[str, Any] = {"name": name, "line": line, "files": files, "tensors": tensors, "outputs": outputs}
        if "route" in card:
            spec["route"] = _loc(card["route"])
        if "block_size" in card:
            spec["block_size"] = int(card["block_size"])
        return spec

    def published_names(self) -> dict[str, str]:
        """Region name -> its name in the published tables (the same unless `published:` says)."""
        return {str(r["name"]): str(r.get("published", r["name"])) for r in self.doc["regions"]}

    def bin_names(self, region: str) -> list[str] | None:
        for r in self.doc["regions"]:
            if str(r["name"]) == region and "bins" in r and "names" in r["bins"]:
                return [str(n) for n in r["bins"]["names"]]
        return None

    def resolved(self) -> tuple[str, dict[str, bytes]]:
        """The resolved definition as JSON text and the ONNX bytes of its models (by path)."""
        doc, blobs = resolved_document(self.spec(), self.info)
        return _dumps(doc), blobs

    def resolve(self, directory: str | os.PathLike[str]) -> Path:
        """Writes the resolved definition for the C++ core: ``directory/definition.json`` and the
        converted models as ``directory/models/<sha256>.onnx`` (paths relative to the JSON file).
        Returns the JSON file. ``recast::analysis::load_definition(directory)`` reads it."""
        import hashlib

        directory = Path(directory)
        spec = self.spec()
        paths: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for m in spec["models"]:
            for f in m["files"]:
                data = bytes(f["bytes"])
                name = f"models/{hashlib.sha256(data).hexdigest()}.onnx"
                paths[str(f["path"])] = name
                files[name] = data
        doc, _ = resolved_document(spec, self.info, paths)
        text = _dumps(doc, indent=1) + "\n"
        try:
            (directory / "models").mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (directory / name).write_bytes(data)
            out = directory / "definition.json"
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(out)
        except OSError as e:
            raise ConfigError(
                f"cannot write the resolved definition: {e.strerror}", file=str(e.filename or directory)
            ) from e
        log.info("resolved %s into %s (%d model files)", self.path, directory, len(files))
        return out


# ------------------------------------------------------------------------------------------------
# the resolved definition (JSON): what the C++ core parses (recast/analysis/definition.hpp)
# ------------------------------------------------------------------------------------------------
RESOLVED_FORMAT = "recast_ml/resolved_definition"
RESOLVED_FORMAT_VERSION = 1  # schemas/resolved_definition.schema.json


def _json_edge(x: float) -> float | str:
    """JSON has no infinities: open bin edges are written as "inf"/"-inf"."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def resolved_document(
    spec: Mapping[str, Any], info: Mapping[str, Any] | None = None, model_paths: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A core spec (:meth:`Definition.spec`) as a resolved-definition document and the ONNX bytes
    it refers to by path. ``model_paths`` renames model paths (e.g. to files of a resolved folder)."""
    blobs: dict[str, bytes] = {}
    models = []
    for m in spec.get("models", []):
        files = []
        for f in m["files"]:
            path = str(f["path"])
            if model_paths is not None:
                path = model_paths[path]
            if f.get("bytes") is not None:
                blobs[path] = bytes(f["bytes"])
            files.append({"route": int(f["route"]), "path": path})
        models.append({**{k: v for k, v in m.items() if k != "files"}, "files": files})
    regions = []
    for r in spec["regions"]:
        region = dict(r)
        if r.get("bins") is not None:
            region["bins"] = {**r["bins"], "edges": [_json_edge(float(x)) for x in r["bins"]["edges"]]}
        else:
            region.pop("bins", None)
        regions.append(region)
    doc: dict[str, Any] = {
        "format": RESOLVED_FORMAT,
        "format_version": RESOLVED_FORMAT_VERSION,
        "id": str(spec["id"]),
        "source": str(spec["source"]),
    }
    if info is not None:
        doc["info"] = dict(info)
    doc.update(
        objects=list(spec["objects"]),
        variables=list(spec["variables"]),
        models=models,
        parameters=dict(spec.get("parameters", {})),
        regions=regions,
    )
    if spec.get("unavailable"):
        doc["unavailable"] = [{"region": str(u["region"]), "reason": str(u["reason"])} for u in spec["unavailable"]]
    return doc, blobs


def _dumps(doc: Mapping[str, Any], *, indent: int | None = None) -> str:
    try:
        return json.dumps(doc, indent=indent, allow_nan=False, default=str)
    except ValueError as e:  # NaN or an infinity where JSON cannot hold it
        raise ConfigError(f"{doc.get('source', '<analysis>')}: cannot write the resolved definition: {e}") from None


def compile_spec(
    spec: Mapping[str, Any], input_schema: Mapping[str, Any], info: Mapping[str, Any] | None = None
) -> _core.Analysis:
    """Compiles a core spec (:meth:`Definition.spec`, possibly edited) through its resolved JSON
    document: the one path by which definitions reach the core (model bytes passed in memory)."""
    doc, blobs = resolved_document(spec, info)
    return _core.Analysis.from_json(_dumps(doc), str(spec["source"]), dict(input_schema), blobs)


def check_resolved(path: str | os.PathLike[str], *, detector: Any = None) -> _core.Analysis:
    """Compiles a resolved definition from its files, as a C++ program loads it (``path``: the
    folder or its definition.json), against a detector card's schema (default: the card named in
    the definition, else atlas_run2)."""
    from .detector import Detector

    path = Path(path)
    file = path / "definition.json" if path.is_dir() else path
    try:
        text = file.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the resolved definition: {e.strerror}", file=str(file)) from e
    if detector is None:
        try:
            detector = json.loads(text).get("info", {}).get("detector", "atlas_run2")
        except (ValueError, AttributeError):
            detector = "atlas_run2"  # the core reports what is wrong with the file
    det = detector if isinstance(detector, Detector) else Detector(detector)
    return _core.Analysis.from_json(text, str(file), _core.detector_schema(det._detector), {}, str(file.parent))


def load_definition(path: str | os.PathLike[str]) -> Definition:
    path = Path(path)
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError("an analysis definition must be a mapping", file=str(path))
    _validate(doc, path)
    doc = _resolve_includes(doc, path, (path.resolve(),))
    from .definition_lang import expand  # compact forms (templates, list inputs, split regions) -> plain

    return Definition(path=path, doc=expand(doc, path))


# ------------------------------------------------------------------------------------------------
# include: objects and variables shared between definitions (analyses/README.md, "Includes")
# ------------------------------------------------------------------------------------------------
_INCLUDED_KEYS = ("objects", "variables")


def _fragment_schema() -> Any:
    """The schema of an included file: ``objects``, ``variables`` (as in a definition), its own
    ``include`` and a ``description``; nothing else."""
    main = _schema()
    props = main["properties"]
    return {
        **main,
        "title": "recast_ml analysis-definition include file (objects and variables)",
        "required": [],
        "properties": {
            "include": props["include"],
            "description": {"type": "string"},
            **{k: props[k] for k in _INCLUDED_KEYS},
        },
    }


def _include_refs(doc: Mapping[Any, Any]) -> list[Any]:
    inc = doc.get("include")
    if inc is None:
        return []
    return [inc] if isinstance(inc, str) else list(inc)


def _mark_file(x: Any, file: str) -> None:
    """Sets ``file`` on every Located string of ``x`` that has none (nested includes keep theirs)."""
    if isinstance(x, Located):
        if x.file is None:
            x.file = file
    elif isinstance(x, Mapping):
        for k, v in x.items():
            _mark_file(k, file)
            _mark_file(v, file)
    elif isinstance(x, list):
        for v in x:
            _mark_file(v, file)


def _merge_objects(base: list[Any], own: list[Any]) -> list[Any]:
    """``base`` then ``own``; a named step of ``own`` replaces the ``base`` step of that name in place."""
    out = list(base)
    replaceable = {str(o["name"]): k for k, o in enumerate(base) if "name" in o}
    for o in own:
        k = replaceable.pop(str(o["name"]), None) if "name" in o else None
        if k is None:
            out.append(o)
        else:
            out[k] = o
    return out


def _merge_variables(base: Mapping[Any, Any], own: Mapping[Any, Any]) -> dict[Any, Any]:
    """``base`` then ``own``; a variable of ``own`` replaces the ``base`` one of that name in place."""
    own_keys = {str(k): k for k in own}
    out = {own_keys.get(str(k), k): own[own_keys[str(k)]] if str(k) in own_keys else v for k, v in base.items()}
    out.update({k: v for k, v in own.items() if k not in out})
    return out


def _resolve_includes(doc: dict[Any, Any], path: Path, chain: tuple[Path, ...]) -> dict[Any, Any]:
    """``doc`` with its ``include:`` files merged in (their objects and variables first, in the
    order listed, each file's own includes before it); its own steps and variables override those
    of the same name. Missing, invalid and circular includes are ConfigErrors naming the files."""
    refs = _include_refs(doc)
    if not refs and "include" not in doc:
        return doc
    objects: list[Any] = []
    variables: dict[Any, Any] = {}
    for ref in refs:
        line = ref.line if isinstance(ref, Located) else None
        col = ref.col if isinstance(ref, Located) else None
        target = path.parent / str(ref)
        if not target.is_file():
            raise ConfigError(f"included file {str(ref)!r} not found ({target})", file=str(path), line=line, column=col)
        key = target.resolve()
        if key in chain:
            cycle = " -> ".join(str(p) for p in (*chain, key))
            raise ConfigError(f"circular include: {cycle}", file=str(path), line=line, column=col)
        frag = load_yaml(target)
        if not isinstance(frag, dict):
            raise ConfigError("an included file must be a mapping (objects:, variables:)", file=str(target))
        _validate(frag, target, _fragment_schema())
        frag = _resolve_includes(frag, target, (*chain, key))
        _mark_file(frag, str(target))
        objects = _merge_objects(objects, frag.get("objects", []))
        variables = _merge_variables(variables, frag.get("variables", {}))
        log.debug("%s: included %s", path, target)
    out = {k: v for k, v in doc.items() if k != "include"}
    out["objects"] = _merge_objects(objects, doc.get("objects", []))
    out["variables"] = _merge_variables(variables, doc.get("variables", {}))
    return out


@functools.lru_cache(maxsize=256)
def _included_paths(path: Path, sha256: str) -> tuple[Path, ...]:
    """The files ``path`` includes directly, parsed once per content (``sha256``: the cache key of
    :meth:`Analysis.load` must not parse the definition again on every call). A file that does not
    parse includes nothing here: the error is reported when the definition is loaded."""
    try:
        doc = load_yaml(path)
    except ConfigError:
        return ()
    if not isinstance(doc, dict):
        return ()
    return tuple(path.parent / str(r) for r in _include_refs(doc) if isinstance(r, str))


def _included_files(path: Path, data: bytes) -> list[tuple[Path, bytes | None]]:
    """Every file the definition ``path`` (content ``data``) includes, recursively, with its content
    (None: unreadable), for the cache key of :meth:`Analysis.load`."""
    import hashlib

    out: list[tuple[Path, bytes | None]] = []
    seen = {path.resolve()}
    todo: list[tuple[Path, bytes | None]] = [(path, data)]
    while todo:
        p, content = todo.pop()
        if content is None or b"include" not in content:
            continue
        for inc in _included_paths(p.resolve(), hashlib.sha256(content).hexdigest()):
            if inc.resolve() in seen:
                continue
            seen.add(inc.resolve())
            try:
                inc_data: bytes | None = inc.read_bytes()
            except OSError:
                inc_data = None  # load_definition reports it
            out.append((inc, inc_data))
            todo.append((inc, inc_data))
    return out


def _included_origin(doc: Mapping[str, Any], line: int | None, column: int | None) -> str | None:
    """The included file whose object or variable text covers ``line:column`` of the resolved
    definition, where no text of the definition's own file does (the core's errors name the
    definition's file; this names the file the text came from)."""
    if line is None:
        return None
    own = False
    found: set[str] = set()

    def visit(x: Any) -> None:
        nonlocal own
        if isinstance(x, Located):
            if x.line == line and (column is None or x.col <= column <= x.col + len(x)):
                if x.file is None:
                    own = True
                else:
                    found.add(x.file)
        elif isinstance(x, Mapping):
            for k, v in x.items():
                visit(k)
                visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)

    visit(dict(doc))
    return next(iter(found)) if len(found) == 1 and not own else None


def _card_name(card: Any) -> str:
    """The name a detector card is known by: a bundled card's short name, else its file."""
    from .cards import BUNDLED

    return next((n for n, f in BUNDLED.items() if Path(card.source).name == f), str(card.source))


def _scope_collection(doc: Mapping[str, Any], line: int | None, column: int | None, collections: Any) -> str | None:
    """The card collection whose objects the object selection at ``line:column`` of the resolved
    definition selects (its ``from``, followed through derived objects), None if not one."""
    if line is None:
        return None
    entries = [o for o in doc.get("objects", []) if isinstance(o, Mapping) and isinstance(o.get("name"), str)]
    derived = {str(o["name"]): o.get("from") for o in entries}
    found = set()
    for o in entries:
        text = o.get("select")
        if isinstance(text, Located) and text.line <= line <= text.line + text.count("\n"):
            if text.line == line and column is not None and not text.col <= column <= text.col + len(text):
                continue
            source, seen = o.get("from"), set()
            while isinstance(source, str) and source not in collections and source not in seen:
                seen.add(source)
                source = derived.get(source)
            if isinstance(source, str) and source in collections:
                found.add(source)
    return next(iter(found)) if len(found) == 1 else None


def _card_mismatch(err: ConfigError, definition: Definition, detector: Any) -> str | None:
    """For an "unknown name" error of a definition compiled for another card than its own: one
    line saying which collection of the card lacks the field (or the card the collection) and which
    card the analysis is written for; None for any other error (e.g. a typo: the name is not in the
    analysis' own card either)."""
    from .detector import Detector

    m = re.match(r"unknown name '([A-Za-z_]\w*)'", err.message)
    own_name = definition.info.get("detector", "atlas_run2")
    if m is None or detector is None or not isinstance(own_name, str):
        return None
    try:
        own = Detector(own_name)
    except (ConfigError, OSError):
        return None
    if own.card.hash == detector.card.hash:
        return None
    name = m.group(1)
    given, written = _core.detector_schema(detector._detector), _core.detector_schema(own._detector)
    card = _card_name(detector.card)
    tail = f"; {definition.id} is written for the card {own_name!r}"
    scope = _scope_collection(definition.doc, err.line, err.column, given["collections"])
    if scope is None:  # not an object selection (an overlap condition, a variable): the one collection
        lacking = [
            c for c, f in written["collections"].items() if name in f and name not in given["collections"].get(c, [])
        ]
        scope = lacking[0] if len(lacking) == 1 and lacking[0] in given["collections"] else None
    if scope is not None and name in written["collections"].get(scope, []):
        fields = list(given["collections"][scope])
        prefix = name.split("_")[0] + "_" if "_" in name else None
        alike = [f for f in fields if prefix and f.startswith(prefix)]
        listed = f"its {prefix}* fields: {', '.join(alike)}" if alike else f"its fields: {', '.join(fields)}"
        return f"the detector card {card!r} gives {scope!r} no field {name!r} ({listed}){tail}"
    if name in written["collections"] or name in written["records"]:
        what = "collection" if name in written["collections"] else "record"
        has = ", ".join([*given["collections"], *given["records"]])
        return f"the detector card {card!r} has no {what} {name!r} (it has: {has}){tail}"
    return None


def find_definition(name_or_path: str | os.PathLike[str]) -> Path:
    """A YAML file, a directory holding ``analysis.yaml``, or a bundled analysis ID."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.is_dir():
        if (p / "analysis.yaml").is_file():
            return p / "analysis.yaml"
        raise ConfigError("directory has no analysis.yaml", file=str(p))
    bundled = analyses_dir() / str(name_or_path) / "analysis.yaml"
    if bundled.is_file():
        return bundled
    known = sorted(d.name for d in analyses_dir().iterdir() if (d / "analysis.yaml").is_file())
    raise ConfigError(
        f"unknown analysis {str(name_or_path)!r}: not a file, not a directory with analysis.yaml, and not a bundled "
        f"analysis (bundled: {', '.join(known) or 'none'})"
    )


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
@dataclass
class Cutflow:
    """Named steps with raw counts, sum of weights and sum of squared weights; step 0 = all events."""

    region: str
    names: list[str]
    n: npt.NDArray[np.int64]
    sumw: npt.NDArray[np.float64]
    sumw2: npt.NDArray[np.float64]
    scale: float | None = None  # events per unit weight (sigma x L / sum of all weights)

    @property
    def cumulative(self) -> npt.NDArray[np.float64]:
        """sumw[i] / sumw[0]."""
        total = self.sumw[0]
        return self.sumw / total if total else np.zeros_like(self.sumw)

    @property
    def relative(self) -> npt.NDArray[np.float64]:
        """sumw[i] / sumw[i-1] (1 for step 0)."""
        prev = np.concatenate([[self.sumw[0]], self.sumw[:-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(prev != 0, self.sumw / np.where(prev != 0, prev, 1), 0.0)

    @property
    def yields(self) -> npt.NDArray[np.float64] | None:
        return None if self.scale is None else self.sumw * self.scale

    @property
    def yield_errors(self) -> npt.NDArray[np.float64] | None:
        return None if self.scale is None else np.sqrt(self.sumw2) * self.scale

    def table(self) -> str:
        head = f"{'step':<40} {'N':>9} {'sum w':>12} {'cumul.':>8} {'rel.':>8}"
        if self.scale is not None:
            head += f" {'yield':>11} {'MC err':>9}"
        rows = [f"cutflow {self.region}", head]
        y, ye = self.yields, self.yield_errors
        for i, name in enumerate(self.names):
            row = f"{name[:40]:<40} {self.n[i]:>9d} {self.sumw[i]:>12.5g}"
            row += f" {self.cumulative[i]:>8.4f} {self.relative[i]:>8.4f}"
            if y is not None and ye is not None:
                row += f" {y[i]:>11.4g} {ye[i]:>9.3g}"
            rows.append(row)
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        steps = []
        for i, name in enumerate(self.names):
            s: dict[str, Any] = {
                "name": name,
                "n": int(self.n[i]),
                "sumw": float(self.sumw[i]),
                "sumw2": float(self.sumw2[i]),
                "efficiency_cumulative": float(self.cumulative[i]),
                "efficiency_relative": float(self.relative[i]),
            }
            if self.scale is not None:
                s["yield"] = float(self.sumw[i] * self.scale)
                s["yield_error"] = float(math.sqrt(self.sumw2[i]) * self.scale)
            steps.append(s)
        return {"region": self.region, "steps": steps}


@dataclass
class Bins:
    region: str
    edges: npt.NDArray[np.float64]
    n: npt.NDArray[np.int64]
    sumw: npt.NDArray[np.float64]
    sumw2: npt.NDArray[np.float64]
    outside: int
    names: list[str] | None = None
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        bins = []
        for i in range(len(self.n)):
            b: dict[str, Any] = {
                "low": float(self.edges[i]),
                "high": float(self.edges[i + 1]) if math.isfinite(self.edges[i + 1]) else "inf",
                "n": int(self.n[i]),
                "sumw": float(self.sumw[i]),
                "sumw2": float(self.sumw2[i]),
            }
            if self.names:
                b["name"] = self.names[i]
            if self.scale is not None:
                b["yield"] = float(self.sumw[i] * self.scale)
                b["yield_error"] = float(math.sqrt(self.sumw2[i]) * self.scale)
            bins.append(b)
        return {"region": self.region, "bins": bins, "outside": int(self.outside)}


class AnalysisResult:
    """Cutflows per region, binned yields, and per-event variables / region decisions: read-only
    numpy views of the C++ result (``recast::analysis::Result``), plus what Python owns (cross
    section, luminosity, scale, detector, definition path)."""

    def __init__(
        self,
        core: _core.Result,
        *,
        analysis: str,
        info: dict[str, Any],
        bin_names: Mapping[str, list[str] | None] | None = None,
        cross_section_pb: float | None = None,
        luminosity_fb: float | None = None,
        detector: str | None = None,
        metadata: dict[str, Any] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self._core = core
        self._events: AnalysisResult | None = None  # reweighted(): the result whose events these are
        # regions of the definition that did not run (their model file is absent): name -> reason
        self.unavailable: dict[str, str] = dict(unavailable or {})
        self.analysis = analysis
        self.info = info
        self._bin_names = dict(bin_names or {})
        self.cross_section_pb = cross_section_pb
        self.luminosity_fb = luminosity_fb
        self.detector = detector
        self.metadata = metadata if metadata is not None else {}
        names = list(core.region_names)
        self.cutflows: dict[str, Cutflow] = {}
        self.bins: dict[str, Bins] = {}
        for k, name in enumerate(names):
            steps, n, sumw, sumw2 = core.cutflow(k)
            self.cutflows[name] = Cutflow(name, list(steps), n, sumw, sumw2)
            b = core.bins(k)
            if b is not None:
                edges, bn, bw, bw2, outside = b
                self.bins[name] = Bins(name, edges, bn, bw, bw2, int(outside), self._bin_names.get(name))
        self.variable_names: list[str] = list(core.variable_names)
        self.variables: npt.NDArray[np.float64] = core.variables  # n_events x n_variables (NaN = missing)
        self.passed: npt.NDArray[np.bool_] = core.passed  # n_events x n_regions
        self.n_events = int(core.n_events)
        self.sum_weights = float(self.cutflows[names[0]].sumw[0]) if names else 0.0
        #: the same analysis under generator variations of the sample (member name -> result;
        #: :mod:`recast_ml.variations`), filled by :func:`run_batches` when asked
        self.variations: dict[str, AnalysisResult] = {}
        self._apply_scale()

    @property
    def scale(self) -> float | None:
        if self.cross_section_pb is None or self.luminosity_fb is None or not self.sum_weights:
            return None
        return self.cross_section_pb * self.luminosity_fb * _FB_PER_PB / self.sum_weights

    def cutflow(self, region: str) -> Cutflow:
        if region in self.unavailable:
            raise ConfigError(f"region {region!r} did not run: {self.unavailable[region]}")
        if region not in self.cutflows:
            raise ConfigError(f"no region {region!r}; regions: {', '.join(self.cutflows)}")
        return self.cutflows[region]

    def variable(self, name: str) -> npt.NDArray[np.float64]:
        return self.variables[:, self.variable_names.index(name)]

    def region_mask(self, region: str) -> npt.NDArray[np.bool_]:
        return self.passed[:, list(self.cutflows).index(region)]

    def yield_(self, region: str) -> tuple[float, float]:
        """Expected events (sigma x L x efficiency) in a region and its MC error."""
        cf = self.cutflow(region)
        if self.scale is None:
            raise ConfigError("no cross section given: yields cannot be scaled to sigma x L")
        return float(cf.sumw[-1] * self.scale), float(math.sqrt(cf.sumw2[-1]) * self.scale)

    def merge(self, other: AnalysisResult) -> AnalysisResult:
        """Combine the results of two samples of the same process (e.g. batches or jobs)."""
        return AnalysisResult.combine([self, other])

    @staticmethod
    def combine(results: Sequence[AnalysisResult]) -> AnalysisResult:
        """Combine the results of several parts of one sample (batches, files, jobs) in one step
        (C++ ``Result::merge``): cutflows and bins summed, per-event arrays concatenated once;
        cross section, luminosity and detector of the first."""
        if not results:
            raise ConfigError("nothing to combine")
        first = results[0]
        for r in results[1:]:
            if (
                r.analysis != first.analysis
                or list(r.cutflows) != list(first.cutflows)
                or r.variable_names != first.variable_names
            ):
                raise ConfigError("cannot merge results of different analyses")
        try:
            core = _core.Result.combine([r._core for r in results])
        except ValueError as e:  # steps or bin edges differ
            raise ConfigError(f"cannot merge results: {e}") from None
        return first._with_core(core, metadata=first.metadata)

    def _with_core(self, core: _core.Result, *, metadata: dict[str, Any]) -> AnalysisResult:
        """A result of the same analysis and sample description (cross section, luminosity,
        detector, unavailable regions) holding ``core``'s numbers."""
        return AnalysisResult(
            core,
            analysis=self.analysis,
            info=self.info,
            bin_names=self._bin_names,
            cross_section_pb=self.cross_section_pb,
            luminosity_fb=self.luminosity_fb,
            detector=self.detector,
            metadata=metadata,
            unavailable=self.unavailable,
        )

    def reweighted(self, weights: npt.ArrayLike) -> AnalysisResult:
        """The same analysis on the same events with other per-event weights (e.g. a generator's
        shower-variation weights), without running it again: the selection does not depend on the
        weight, so the cutflows and bins are summed again from how far each event got in each
        region and which bin it went to (C++ ``Result::reweighted``), in the order of the original
        sums: the nominal weights give this result bit for bit.

        ``weights``: one finite float per event (length ``n_events``). The new result's
        ``sum_weights`` is the sum of ``weights``, so its scale to sigma x L normalises to the
        variation's own sum: the cross section stays the nominal one (right for unitary shower
        variations, which keep sigma). Cross section, luminosity, detector, metadata and
        unavailable regions are this result's; its per-event views (``variables``, ``passed``) are
        this result's too (the same events). Raises ConfigError for weights of the wrong shape or
        length, or non-finite ones."""
        w = np.asarray(weights)
        if w.ndim != 1 or w.dtype.kind not in "biuf":
            raise ConfigError(
                f"reweighted: expected a 1-D array of {self.n_events} numbers (one weight per event), "
                f"got {w.dtype} with shape {w.shape}"
            )
        if len(w) != self.n_events:
            raise ConfigError(f"reweighted: expected {self.n_events} weights (one per event), got {len(w)}")
        w = np.ascontiguousarray(w, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(w))
        if len(bad):
            raise ConfigError(
                f"reweighted: expected finite weights, event {int(bad[0])} has {w[bad[0]]} ({len(bad)} not finite)"
            )
        events = self._events or self  # a reweighted result reweights from the nominal's events
        out = self._with_core(events._core.reweighted(w), metadata=dict(self.metadata))
        out._events = events
        out.variables, out.passed = events.variables, events.passed
        return out

    def _apply_scale(self) -> None:
        for c in self.cutflows.values():
            c.scale = self.scale
        for b in self.bins.values():
            b.scale = self.scale

    def to_dict(self) -> dict[str, Any]:
        """The results JSON document (schema: recast_ml/schemas/results.schema.json)."""
        regions = []
        for name, cf in self.cutflows.items():
            entry: dict[str, Any] = {"name": name, "cutflow": cf.to_dict()["steps"]}
            if cf.scale is not None:
                entry["yield"] = float(cf.sumw[-1] * cf.scale)
                entry["yield_error"] = float(math.sqrt(cf.sumw2[-1]) * cf.scale)
            if name in self.bins:
                entry["bins"] = self.bins[name].to_dict()["bins"]
            regions.append(entry)
        return {
            "format": RESULTS_FORMAT,
            "format_version": RESULTS_FORMAT_VERSION,
            "analysis": {"id": self.analysis, **{k: v for k, v in self.info.items() if k != "id"}},
            "sample": {
                "n_events": self.n_events,
                "sum_weights": self.sum_weights,
                "cross_section_pb": self.cross_section_pb,
                "luminosity_fb": self.luminosity_fb,
                "events_per_unit_weight": self.scale,
                "detector": self.detector,
            },
            "regions": regions,
            "unavailable_regions": [{"name": k, "reason": v} for k, v in self.unavailable.items()],
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the results JSON atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)
        return path


# ------------------------------------------------------------------------------------------------
# the analysis
# ------------------------------------------------------------------------------------------------
class Analysis:
    """A compiled analysis definition.

    ``Analysis.load(ID or path, detector=...)`` compiles against the detector's output schema;
    ``Analysis.for_arrays(path, table)`` against user arrays (see :func:`table_from_arrays`).
    """

    def __init__(self, definition: Definition, input_schema: dict[str, Any], detector: Any = None) -> None:
        self.definition = definition
        self.detector = detector
        text, blobs = definition.resolved()
        try:
            self._core = _core.Analysis.from_json(text, str(definition.path), dict(input_schema), blobs)
        except ConfigError as e:  # text from an included file: name that file
            from .definition_lang import element_error

            element = element_error(e, definition.doc, definition.path)  # in a list-valued input: as written
            origin = _included_origin(definition.doc, e.line, e.column) if e.file == str(definition.path) else None
            mismatch = _card_mismatch(e, definition, detector)  # a name of another card's objects
            if element is None and origin is None and mismatch is None:
                raise
            at = element or e
            raise ConfigError(
                at.message if mismatch is None else mismatch, file=origin or e.file, line=at.line, column=at.column
            ) from e
        # regions left out because a model file is absent (region -> reason); see Definition.unavailable
        self.unavailable: dict[str, str] = definition.unavailable()
        for region, reason in self.unavailable.items():
            log.info("%s: region %s unavailable: %s", definition.id, region, reason)
        self._for_card: dict[str, Analysis] = {}  # compiled for other detector cards, by card hash

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], *, detector: Any = None) -> Analysis:
        """Loads and compiles a definition for a detector card (default: the definition's). Cached:
        the same definition file (path, modification time and content hash) and card give the same
        compiled analysis; an edited file is loaded again."""
        import hashlib

        from .detector import Detector

        path = find_definition(name_or_path)
        try:
            stat = path.stat()
            data = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}", file=str(path)) from e
        digest = hashlib.sha256(data)
        for _, extra in _included_files(path, data):  # included files: an edited one is loaded again
            digest.update(b"<unreadable>" if extra is None else extra)
        file_key = (str(path.resolve()), stat.st_mtime_ns, digest.hexdigest())
        definition: Definition | None = None
        if detector is None:
            cached = _LOADED_DEFAULT.get(file_key)
            if cached is not None:
                detector = cached
            else:
                definition = load_definition(path)
                detector = definition.info.get("detector", "atlas_run2")
        if not isinstance(detector, Detector):
            detector = Detector(detector)
        key = (*file_key, detector.card.hash)
        hit = _LOADED.get(key)
        if hit is not None:
            log.debug("Analysis.load: %s for card %s from the cache", path, detector.card.hash[:12])
            _LOADED[key] = _LOADED.pop(key)  # most recently used last
            return hit
        if definition is None:
            definition = load_definition(path)
        ana = cls(definition, _core.detector_schema(detector._detector), detector)
        _LOADED[key] = ana
        _LOADED_DEFAULT.setdefault(file_key, detector)
        while len(_LOADED) > _LOAD_CACHE_SIZE:
            _LOADED.pop(next(iter(_LOADED)))
        while len(_LOADED_DEFAULT) > _LOAD_CACHE_SIZE:
            _LOADED_DEFAULT.pop(next(iter(_LOADED_DEFAULT)))
        return ana

    @classmethod
    def for_arrays(cls, name_or_path: str | os.PathLike[str], table: Mapping[str, Any]) -> Analysis:
        """Compile for user arrays (the table layout of :func:`table_from_arrays`)."""
        definition = load_definition(find_definition(name_or_path))
        return cls(definition, _core.table_schema(dict(table)))

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def info(self) -> dict[str, Any]:
        return self.definition.info

    @property
    def regions(self) -> list[str]:
        return [str(r["name"]) for r in self.definition.doc["regions"]]

    @property
    def schema(self) -> dict[str, Any]:
        """What expressions can refer to: collections and fields, records, variables (with types)."""
        return dict(self._core.schema)

    def run(
        self,
        events: EventBatch,
        *,
        cross_section: float | None = None,
        luminosity: float | None = None,
        detector: Any = None,
        parameters: Mapping[str, float] | None = None,
        first_event_key: int = 0,
        threads: int = 1,
    ) -> AnalysisResult:
        """Detector emulation + analysis in the C++ core (GIL released). ``cross_section`` in pb
        scales yields to sigma x L (``luminosity`` in fb^-1, default: the analysis').
        ``detector`` (a card name, path or Detector) overrides the one the analysis was loaded with;
        ``first_event_key`` is the position of the batch in the sample (random numbers, §14.4)."""
        from .detector import Detector

        if len(events) == 0:
            raise _core.InputError(f"no events to run {self.id} on")
        target = self
        if detector is not None:
            det = detector if isinstance(detector, Detector) else Detector(detector)
            key = det.card.hash
            if self.detector is None or self.detector.card.hash != key:
                if key not in self._for_card:  # compile (and load the models) once per card
                    self._for_card[key] = Analysis(self.definition, _core.detector_schema(det._detector), det)
                target = self._for_card[key]
        if target.detector is None:
            raise ConfigError("this analysis was compiled for arrays; use run_table() or give a detector")
        raw = target._core.run_events(
            events._batch, target.detector._detector, first_event_key, threads, dict(parameters or {})
        )
        return target._result(raw, cross_section, luminosity, detector=target.detector.card.profile_name)

    def run_objects(
        self,
        table: ObjectTable,
        *,
        cross_section: float | None = None,
        luminosity: float | None = None,
        parameters: Mapping[str, float] | None = None,
        threads: int = 1,
    ) -> AnalysisResult:
        """The analysis on the objects of one detector pass (:meth:`Detector.reconstruct_table`):
        the table may be shared by every analysis compiled for the same card. Identical to
        :meth:`run` on the events the table was reconstructed from."""
        if self.detector is None:
            raise ConfigError("this analysis was compiled for arrays; use run_table()")
        if table.card_hash != self.detector.card.hash:
            raise ConfigError(
                f"{self.id}: the object table was reconstructed with card {table.card_name!r}, the analysis is "
                f"compiled for {self.detector.card.profile_name!r}"
            )
        if table.n_events == 0:
            raise _core.InputError(f"no events to run {self.id} on")
        raw = self._core.run_objects(table.core, threads, dict(parameters or {}))
        return self._result(raw, cross_section, luminosity, detector=self.detector.card.profile_name)

    def run_table(
        self,
        table: Mapping[str, Any],
        *,
        cross_section: float | None = None,
        luminosity: float | None = None,
        parameters: Mapping[str, float] | None = None,
        threads: int = 1,
    ) -> AnalysisResult:
        raw = self._core.run_table(dict(table), threads, dict(parameters or {}))
        return self._result(raw, cross_section, luminosity, detector=None)

    def _result(self, raw: _core.Result, xs: float | None, lumi: float | None, detector: str | None) -> AnalysisResult:
        if xs is not None and not (xs > 0 and math.isfinite(xs)):
            raise ConfigError(f"cross section must be a positive number of pb, got {xs}")
        return AnalysisResult(
            raw,
            analysis=self.id,
            info=self.info,
            bin_names={name: self.definition.bin_names(name) for name in raw.region_names},
            cross_section_pb=xs,
            luminosity_fb=float(lumi if lumi is not None else self.info["luminosity"]),
            detector=detector,
            metadata={"definition": str(self.definition.path)},
            unavailable=self.unavailable,
        )


_LOAD_CACHE_SIZE = 32
# Analysis.load cache: (definition path, mtime, sha256, card hash) -> compiled analysis, and
# (definition path, mtime, sha256) -> its default detector (least recently used first)
_LOADED: dict[tuple[str, int, str, str], Analysis] = {}
_LOADED_DEFAULT: dict[tuple[str, int, str], Any] = {}


def run_batches(
    analyses: Sequence[Analysis],
    batches: Iterable[EventBatch],
    *,
    cross_section: float | None = None,
    luminosity: float | None = None,
    threads: int = 1,
    variations: Sequence[str] = (),
) -> list[AnalysisResult]:
    """Run every analysis on a stream of event batches (the chunks of one sample: a file read in
    pieces, a generator's output) and combine: one result per analysis, equal to running on all
    events as one batch — the event keys, which seed the detector emulation, continue from batch to
    batch. Memory is bounded by a batch, plus the per-event columns of the results (variables,
    region decisions, cutflow step and bin: 8 bytes per variable and 7 per region per event).

    ``variations``: weight members the batches carry (:attr:`EventBatch.variation_weights`, e.g.
    Pythia's shower variations): each result's ``variations[member]`` is the result reweighted
    with them (:meth:`AnalysisResult.reweighted`; no second pass over the events)."""
    if not analyses:
        raise ConfigError("run_batches: no analyses given")
    # one detector pass per card and batch, shared by the analyses compiled for that card
    groups: dict[str, list[int]] = {}
    for k, ana in enumerate(analyses):
        if ana.detector is None:
            raise ConfigError(f"run_batches: {ana.id} was compiled for arrays, not for a detector card")
        groups.setdefault(ana.detector.card.hash, []).append(k)
    large_r = {card: any(analyses[k]._core.uses("large_r_jets") for k in ks) for card, ks in groups.items()}
    parts: list[list[AnalysisResult]] = [[] for _ in analyses]
    weights: dict[str, list[npt.NDArray[np.float64]]] = {m: [] for m in variations}
    key = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        for m in variations:
            if m not in batch.variation_weights:
                raise ConfigError(
                    f"run_batches: the events of {batch.source} carry no weight for the variation {m!r} "
                    f"(they carry: {', '.join(batch.variation_weights) or 'none'})"
                )
            weights[m].append(batch.variation_weights[m])
        for card, ks in groups.items():
            det = analyses[ks[0]].detector
            table = det.reconstruct_table(batch, first_event_key=key, threads=threads, large_r=large_r[card])
            for k in ks:
                parts[k].append(
                    analyses[k].run_objects(table, cross_section=cross_section, luminosity=luminosity, threads=threads)
                )
        key += len(batch)
    if key == 0:
        raise _core.InputError("run_batches: no events")
    out = [AnalysisResult.combine(done) for done in parts]  # one concatenation, not one per batch
    for m, ws in weights.items():
        w = np.concatenate(ws)
        for res in out:
            res.variations[m] = res.reweighted(w)
    return out


#: events read at once from event files (:func:`run_files`)
FILE_CHUNK = 2000


def run_files(
    analyses: Sequence[Analysis],
    files: Sequence[str | os.PathLike[str] | EventFile],
    *,
    cross_section: float | None = None,
    luminosity: float | None = None,
    threads: int = 1,
    chunk_size: int = FILE_CHUNK,
    progress: bool = False,
    variations: Sequence[str] = (),
) -> list[AnalysisResult]:
    """:func:`run_batches` on the events of ``files`` (HepMC2/3 or LHE, plain or gzip; e.g. the
    parts of one sample) read in chunks of ``chunk_size`` events, each chunk once for all analyses.
    An entry may be an :class:`~recast_ml.io.EventFile` opened already (e.g. standard input whose
    first events were peeked at); it is read from where it stands and closed. ``variations``:
    weights the files carry by these names (e.g. written by ``recast-ml run --write-events``
    with ``--variations``), used as :func:`run_batches`' weight members."""
    from tqdm import tqdm

    if not files:
        raise ConfigError("run_files: no event files given")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")

    def chunks() -> Iterator[EventBatch]:
        with tqdm(unit="ev", desc="events", disable=not progress, leave=False) as bar:
            for path in files:
                n_file = 0
                # gzip: decompression (one thread) is the bottleneck; parser workers beyond the
                # free cores only compete with it (benchmarks/results/readers.md: 0.83-0.92x on 2 cores)
                gz = str(path).endswith(".gz")
                f = (
                    path
                    if isinstance(path, EventFile)
                    else EventFile(path, threads=max(1, threads - 1) if gz else threads)
                )
                with f:
                    for chunk in f.batches(chunk_size):
                        n_file += len(chunk)
                        bar.update(len(chunk))
                        yield chunk
                if n_file == 0:
                    raise ConfigError("the event file holds no events", file=str(f.path))
                log.info("%s: %d events", f.path, n_file)

    # with threads >= 2 the next chunk is read while the current one is reconstructed and analysed
    stream = prefetched(chunks()) if threads >= 2 else chunks()
    return run_batches(
        analyses, stream, cross_section=cross_section, luminosity=luminosity, threads=threads, variations=variations
    )


def prefetched(items: Iterator[EventBatch], depth: int = 1) -> Iterator[EventBatch]:
    """``items`` produced on a background thread, at most ``depth`` ahead of the consumer (reading
    releases the GIL, so the next chunk is parsed while the current one is reconstructed). The
    order and the items are those of ``items``; an exception raised by ``items`` reaches the
    consumer at the same place in the sequence; if the consumer stops early (an error in the
    analysis), the producer is stopped and ``items`` closed (its files closed) before returning."""
    import queue
    import threading

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            put(("error", e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="recast-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def table_from_arrays(
    collections: Mapping[str, Any],
    records: Mapping[str, Any] | None = None,
    *,
    weight: npt.ArrayLike | None = None,
    event_number: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """A core table from awkward arrays: ``collections`` maps names to ``var * {field: number}``
    arrays (one entry per event), ``records`` to ``{field: number}`` arrays (e.g. ``met``).
    Boolean fields become bool-typed in expressions; missing values (None) become NaN.
    Malformed input raises :class:`recast_ml.InputError` naming the array and field."""
    import awkward as ak

    def bad(what: str) -> _core.InputError:
        return _core.InputError(f"<analysis input>: {what}")

    n_events: int | None = None

    def count(name: str, n: int) -> None:
        nonlocal n_events
        if n_events is None:
            n_events = n
        elif n != n_events:
            raise bad(f"{name} has {n} events, expected {n_events} (the length of the first array)")

    def column(where: str, values: Any) -> tuple[npt.NDArray[np.float64], bool]:
        """One flat field as float64 (and whether it was boolean)."""
        try:
            col = ak.to_numpy(values, allow_missing=True)
        except Exception as e:  # unions (mixed types), strings, ragged lists ...
            raise bad(f"{where} must hold one number or bool per entry ({type(e).__name__}: {e})") from e
        if col.ndim != 1 or col.dtype.kind not in "biuf":
            raise bad(f"{where} must hold one number or bool per entry, got type {ak.type(values)}")
        is_bool = col.dtype == np.bool_
        if isinstance(col, np.ma.MaskedArray):  # None = missing = NaN
            col = np.ma.filled(col.astype(np.float64), np.nan)
        return np.ascontiguousarray(col, dtype=np.float64), bool(is_bool)

    def convert(where: str, arr: Any, *, jagged: bool) -> dict[str, Any]:
        try:
            arr = ak.Array(arr)
            if jagged and arr.ndim == 1 and len(arr) == 0:  # no events: nothing to flatten
                count(where, 0)
                return {"offsets": np.zeros(1, np.int64), "fields": {}, "bool_fields": []}
            shape = "lists of records (var * {field: number})" if jagged else "records ({field: number})"
            if arr.ndim != (2 if jagged else 1):
                raise bad(f"{where} must be an array of {shape}, one per event; got type {ak.type(arr)}")
            count(where, len(arr))
            out: dict[str, Any] = {}
            if jagged:
                counts = ak.to_numpy(ak.fill_none(ak.num(arr, axis=1), 0)).astype(np.int64)
                out["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            if not ak.fields(arr) and (out["offsets"][-1] if jagged else len(arr)):
                raise bad(f"{where} must be an array of {shape}, one per event; got type {ak.type(arr)}")
            fields: dict[str, Any] = {}
            bools = []
            for f in ak.fields(arr):
                values = ak.flatten(arr[f], axis=1) if jagged else arr[f]
                fields[f], is_bool = column(f"{where}, field {f!r}", values)
                if is_bool:
                    bools.append(f)
            out.update(fields=fields, bool_fields=bools)
            return out
        except _core.InputError:
            raise
        except Exception as e:  # awkward/numpy refusing the layout: unions, strings, nested lists ...
            raise bad(f"{where} cannot be used as {'a collection' if jagged else 'a record'}: "
                      f"{type(e).__name__}: {e}") from e  # fmt: skip

    def per_event(name: str, values: npt.ArrayLike, dtype: type) -> npt.NDArray[Any]:
        try:
            a = np.asarray(values)
            if a.ndim != 1 or a.dtype.kind not in ("biuf" if dtype is np.float64 else "biu"):
                kind = "numbers" if dtype is np.float64 else "integers"
                raise bad(f"{name} must be a one-dimensional array of {kind}, got {a.dtype} with shape {a.shape}")
            return np.ascontiguousarray(a, dtype=dtype)
        except _core.InputError:
            raise
        except Exception as e:
            raise bad(f"{name} cannot be read as an array ({type(e).__name__}: {e})") from e

    out_c = {name: convert(f"collection {name!r}", arr, jagged=True) for name, arr in collections.items()}
    out_r = {name: convert(f"record {name!r}", arr, jagged=False) for name, arr in (records or {}).items()}
    n = int(n_events or 0)
    table: dict[str, Any] = {"n_events": n, "collections": out_c, "records": out_r}
    table["weight"] = np.ones(n) if weight is None else per_event("weight", weight, np.float64)
    if event_number is not None:
        table["event_number"] = per_event("event_number", event_number, np.int64)
    return table


def builtins() -> list[tuple[str, str]]:
    """The built-in functions of the expression language with their formulas."""
    return [(str(a), str(b)) for a, b in _core.expression_builtins()]


def check_expression(text: str, schema: Mapping[str, Any]) -> str:
    """Type of an expression under a schema (raises ConfigError with line:column on errors)."""
    return str(_core.check_expression(text, dict(schema)))


def available() -> list[str]:
    """IDs of the bundled analyses."""
    return sorted(d.name for d in analyses_dir().iterdir() if (d / "analysis.yaml").is_file())


def evaluate(text: str, table: Mapping[str, Any], *, threads: int = 1) -> npt.NDArray[np.float64]:
    """Per-event value of a number/bool expression over a table (NaN where missing; bools 0/1)."""
    spec = {
        "id": "expression",
        "source": "<expression>",
        "objects": [],
        "variables": [{"name": "value", "expr": {"text": text, "line": 1, "col": 1}}],
        "regions": [],
    }
    core = compile_spec(spec, _core.table_schema(dict(table)))
    raw = core.run_table(dict(table), threads)
    values: npt.NDArray[np.float64] = np.array(raw.variables[:, 0])  # writable, owned by the caller
    return values
