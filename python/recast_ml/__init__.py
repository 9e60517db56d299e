"""recast_ml: re-run preserved LHC analyses, including their ML selections, on new signal events.

The event loop is the compiled ``recast`` C++ library; this package is its typed Python face.
"""

from __future__ import annotations

from . import _ort
from .analysis import Analysis, AnalysisResult
from .detector import Detector
from .effmap import EfficiencyMap
from .errors import ConfigError, DependencyError, InputError, ModelError, RecastError
from .events import EventBatch
from .io import EventFile, iter_events, read_events, write_hepmc3
from .onnx import OnnxModel, TensorInfo

__version__ = "0.1.0"

_ort.configure()

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
