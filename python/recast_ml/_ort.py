"""Locate the ONNX Runtime shared library that the C++ core dlopen()s.

The runtime is the ``libonnxruntime.so.1.*`` shipped inside the PyPI ``onnxruntime`` wheel
(``onnxruntime/capi/``). It is found without importing the onnxruntime Python package. An explicit
``RECAST_ONNXRUNTIME_LIBRARY`` or ``ONNXRUNTIME_ROOT`` in the environment takes precedence (the C++
core reads those itself).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from . import _core

log = logging.getLogger(__name__)


def wheel_library() -> Path | None:
    """Path of libonnxruntime.so.1.* in the installed onnxruntime wheel, if any."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        capi = Path(location) / "capi"
        found = sorted(capi.glob("libonnxruntime.so.1*"))
        if found:
            return found[-1]
    return None


def configure() -> None:
    """Tell the core which library to load (it is loaded lazily, on first use)."""
    if os.environ.get("RECAST_ONNXRUNTIME_LIBRARY") or os.environ.get("ONNXRUNTIME_ROOT"):
        return
    lib = wheel_library()
    if lib is None:
        log.debug("onnxruntime wheel not found; the core will search the loader path")
        return
    _core.onnxruntime_set_library(str(lib))


def info() -> dict[str, object]:
    """Load the runtime (if needed) and describe it: library, version, api_version."""
    return dict(_core.onnxruntime_info())
