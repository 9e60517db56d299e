"""recast_ml: re-run preserved LHC analyses, including their ML selections, on new signal events.

The event loop is the compiled ``recast`` C++ library; this package is its typed Python face.
Every public submodule is an attribute of the package after ``import recast_ml`` (for example
``recast_ml.xsec.lookup("gluino", 1400)``); those not needed by the classes below are imported on
first use (:data:`SUBMODULES`), which keeps ``import recast_ml`` fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from . import _ort
from .analysis import Analysis, AnalysisResult
from .detector import Detector
from .effmap import EfficiencyMap
from .errors import ConfigError, DependencyError, InputError, ModelError, RecastError
from .events import EventBatch
from .io import EventFile, iter_events, read_events, write_hepmc3
from .onnx import OnnxModel, TensorInfo

if TYPE_CHECKING:  # for type checkers: the lazily imported submodules are attributes (explicit re-exports)
    from . import catalogue as catalogue
    from . import convert as convert
    from . import delphes as delphes
    from . import export as export
    from . import models as models
    from . import provenance as provenance
    from . import pythia as pythia
    from . import run as run
    from . import scan as scan
    from . import scan_outputs as scan_outputs
    from . import slha as slha
    from . import statistics as statistics
    from . import validate as validate
    from . import xsec as xsec

__version__ = "0.1.0"

#: The public submodules, all reachable as ``recast_ml.NAME`` after ``import recast_ml``.
SUBMODULES = (
    "analysis",
    "catalogue",
    "convert",
    "delphes",
    "detector",
    "effmap",
    "errors",
    "events",
    "export",
    "io",
    "models",
    "onnx",
    "provenance",
    "pythia",
    "run",
    "scan",
    "scan_outputs",
    "slha",
    "statistics",
    "validate",
    "variations",
    "xsec",
)

_ort.configure()


def __getattr__(name: str) -> ModuleType:
    """``recast_ml.xsec`` etc.: a public submodule is imported on first attribute access."""
    if name in SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *SUBMODULES})


__all__ = [
    "Analysis",
    "AnalysisResult",
    "ConfigError",
    "DependencyError",
    "Detector",
    "EfficiencyMap",
    "EventBatch",
    "EventFile",
    "InputError",
    "ModelError",
    "OnnxModel",
    "RecastError",
    "TensorInfo",
    "__version__",
    "iter_events",
    "read_events",
    "write_hepmc3",
]
