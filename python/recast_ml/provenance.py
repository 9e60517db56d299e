"""Provenance of a run: what produced ``results.json`` (the ``provenance`` section of the run
document, ``schemas/run.schema.json``).

``collect(analyses, seed=..., generator=..., command_line=...)`` gathers

* versions: recast_ml and its core, the libraries it ran with (ONNX Runtime as loaded by the core
  and the Python package, numpy, awkward, uproot, pyhf, scipy, FastJet as linked into the core and
  the Python package, Pythia when generating — the version Pythia reports itself), Python;
* the detector card of each analysis: name, file, sha256 of the file and the merged card's hash;
* per analysis: the definition file's sha256 (and of the other files it names: normalisation
  files, published tables), the
  published numbers' (``signal_regions.csv``) and every model file's sha256 (of the file as it
  is on disk; ``declared_sha256`` is what the definition pins, for gzipped files that of the
  uncompressed content);
* the seed, the Pythia settings when generating (the ``readString`` lines, seed included),
  the command line (None when run from the API), the UTC timestamp, the host and platform.

``validate_run_document(doc)`` checks a run document against the JSON Schema (jsonschema,
draft 2020-12; the per-analysis part is ``results.schema.json``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import re
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analysis import Analysis
    from .pythia import PythiaGenerator

log = logging.getLogger(__name__)

_SCHEMAS = Path(__file__).parent / "schemas"

#: Python packages whose versions are recorded (None where not installed).
PACKAGES = ("numpy", "awkward", "uproot", "pyhf", "scipy", "onnxruntime", "fastjet", "pythia8mc", "jsonschema")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions(generator: PythiaGenerator | None = None) -> dict[str, Any]:
    """Versions of recast_ml, its core and the libraries of the run."""
    from . import __version__, _core

    out: dict[str, Any] = {
        "recast_ml": __version__,
        "recast_core": _core.version(),
        "python": platform.python_version(),
        "fastjet_linked": _core.fastjet_version(),
        "onnxruntime_loaded": None,
        "pythia": None,
    }
    try:
        from . import _ort

        out["onnxruntime_loaded"] = str(_ort.info()["version"])
    except _core.DependencyError as e:  # no library found: the run used no model
        log.debug("ONNX Runtime version unknown: %s", e)
    out["packages"] = {name: _package_version(name) for name in PACKAGES}
    if generator is not None:
        out["pythia"] = _pythia_version(generator)
    return out


def _pythia_version(generator: PythiaGenerator) -> str | None:
    """The version Pythia reports (``Pythia:versionNumber``, e.g. 8.317)."""
    try:
        return f"{float(generator._pythia.parm('Pythia:versionNumber')):.3f}"
    except Exception as e:  # reporting only
        log.debug("Pythia version unknown: %s", e)
        return None


@functools.cache
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def _sha256(path: Path) -> str | None:
    """sha256 of a file (cached by path, modification time and size: model files are MBs)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _cached_sha256(str(path.resolve()), st.st_mtime_ns, st.st_size) if path.is_file() else None


#: ``file: NAME`` in a definition (flow or block style, quoted or not)
_FILE_REF = re.compile(r"""(?:^|[\s{,])file:\s*["']?([^"',}\s#]+)""", re.M)


def _definition_files(definition_path: Path, model_files: set[Path]) -> list[Path]:
    """The files the definition includes (``include:``, recursively) and the other files it names
    with ``file:`` (normalisation files, published tables of its validation references ...) that
    exist beside it, model files excepted (listed apart). A scan of the text: parsing the YAML
    again would cost more than the run's statistics."""
    from .analysis import _included_files

    try:
        data = definition_path.read_bytes()
    except OSError:
        return []
    text = data.decode(errors="replace")
    found: list[Path] = [p for p, content in _included_files(definition_path, data) if content is not None]
    for m in _FILE_REF.finditer(text):
        path = definition_path.parent / m.group(1)
        if path.is_file() and path not in model_files and path not in found:
            found.append(path)
    return found


def analysis_provenance(ana: Analysis) -> dict[str, Any]:
    """Definition, published numbers, model files (sha256) and detector card of one analysis."""
    d = ana.definition
    models: dict[str, list[dict[str, Any]]] = {}
    model_paths: set[Path] = set()
    for name, card in d.doc.get("models", {}).items():
        entries = []
        for f in card["files"]:
            path = d.directory / str(f["file"])
            model_paths.add(path)
            entries.append(
                {
                    "file": str(f["file"]),
                    "path": str(path),
                    "sha256": _sha256(path),
                    "declared_sha256": str(f["sha256"]) if "sha256" in f else None,
                }
            )
        models[str(name)] = entries
    published = d.directory / "signal_regions.csv"
    return {
        "id": d.id,
        "definition": {"path": str(d.path), "sha256": _sha256(d.path)},
        "definition_files": [{"path": str(p), "sha256": _sha256(p)} for p in _definition_files(d.path, model_paths)],
        "published": {"path": str(published), "sha256": _sha256(published)} if published.is_file() else None,
        "models": models,
        "detector_card": card_provenance(ana.detector.card) if ana.detector is not None else None,
    }


def card_provenance(card: Any) -> dict[str, Any]:
    """Name, file and sha256 of a detector card (``hash``: the merged card's, recorded by the core)."""
    source = Path(card.source)
    return {
        "name": card.profile_name,
        "path": str(source),
        "sha256": _sha256(source) if source.is_file() else None,
        "hash": card.hash,
    }


def collect(
    analyses: Iterable[Analysis],
    *,
    seed: int | None,
    generator: PythiaGenerator | None = None,
    command_line: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``provenance`` section of a run document (see the module docstring)."""
    return {
        "versions": versions(generator),
        "analyses": [analysis_provenance(a) for a in analyses],
        "seed": seed,
        "pythia_settings": list(generator.settings) if generator is not None else None,
        "command_line": list(command_line) if command_line is not None else None,
        "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((_SCHEMAS / name).read_text())
    return doc


def run_schema_validator() -> Any:
    """A draft 2020-12 validator of the run document (``run.schema.json``, which refers to
    ``results.schema.json`` for each analysis)."""
    import jsonschema
    from referencing import Registry, Resource

    results = _schema("results.schema.json")
    registry: Registry[Any] = Registry().with_resource(results["$id"], Resource.from_contents(results))
    return jsonschema.Draft202012Validator(_schema("run.schema.json"), registry=registry)


def validate_run_document(doc: dict[str, Any]) -> None:
    """Raises ``jsonschema.ValidationError`` (the most relevant error) if ``doc`` is not a valid run
    document."""
    import jsonschema

    error = jsonschema.exceptions.best_match(run_schema_validator().iter_errors(doc))
    if error is not None:
        raise error
