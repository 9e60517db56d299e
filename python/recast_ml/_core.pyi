"""Type stubs of the compiled module recast_ml._core (cpp/bindings)."""

from collections.abc import Callable
from typing import Any, Self

import numpy as np
import numpy.typing as npt

# the error classes are those of recast_ml.errors (register_errors.cpp raises them)
from .errors import ConfigError as ConfigError
from .errors import DependencyError as DependencyError
from .errors import InputError as InputError
from .errors import ModelError as ModelError
from .errors import RecastError as RecastError

def version() -> str: ...
def fastjet_version() -> str: ...
def charge3(pid: npt.ArrayLike) -> npt.NDArray[np.int32]: ...

class _Columns:
    """Column properties shared by EventBatch and EventArrays (numpy views); ``from_arrays`` is a
    static method of each (EventBatch copies the columns, EventArrays views them in place)."""

    @classmethod
    def from_arrays(
        cls,
        offsets: npt.ArrayLike,
        px: npt.ArrayLike,
        py: npt.ArrayLike,
        pz: npt.ArrayLike,
        e: npt.ArrayLike,
        pid: npt.ArrayLike,
        status: npt.ArrayLike,
        *,
        mass: npt.ArrayLike | None = ...,
        parent_offsets: npt.ArrayLike | None = ...,
        parents: npt.ArrayLike | None = ...,
        weight: npt.ArrayLike | None = ...,
        event_number: npt.ArrayLike | None = ...,
        source: str = ...,
    ) -> Self: ...
    @property
    def event_number(self) -> npt.NDArray[np.int64]: ...
    @property
    def weight(self) -> npt.NDArray[np.float64]: ...
    @property
    def particle_offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def px(self) -> npt.NDArray[np.float64]: ...
    @property
    def py(self) -> npt.NDArray[np.float64]: ...
    @property
    def pz(self) -> npt.NDArray[np.float64]: ...
    @property
    def e(self) -> npt.NDArray[np.float64]: ...
    @property
    def mass(self) -> npt.NDArray[np.float64]: ...
    @property
    def pid(self) -> npt.NDArray[np.int32]: ...
    @property
    def status(self) -> npt.NDArray[np.int32]: ...
    @property
    def charge3(self) -> npt.NDArray[np.int32]: ...
    @property
    def parent_offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def parents(self) -> npt.NDArray[np.int32]: ...

class EventBatch(_Columns):
    def __init__(self) -> None: ...
    @property
    def n_events(self) -> int: ...
    @property
    def n_particles(self) -> int: ...
    cross_section_pb: float
    cross_section_error_pb: float
    source: str
    def append(self, other: EventBatch | EventArrays) -> None: ...
    def validate(self) -> None: ...
    @staticmethod
    def from_pythia(
        offsets: npt.ArrayLike,
        id: npt.ArrayLike,
        status: npt.ArrayLike,
        mother1: npt.ArrayLike,
        mother2: npt.ArrayLike,
        daughter1: npt.ArrayLike,
        px: npt.ArrayLike,
        py: npt.ArrayLike,
        pz: npt.ArrayLike,
        e: npt.ArrayLike,
        m: npt.ArrayLike,
        *,
        weight: npt.ArrayLike | None = ...,
        first_event_number: int = ...,
        source: str = ...,
    ) -> EventBatch: ...

class EventReader:
    def read(self, max_events: int) -> EventBatch: ...
    @property
    def format(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def weight_names(self) -> list[str]: ...
    @property
    def cross_section_pb(self) -> float: ...
    @property
    def cross_section_error_pb(self) -> float: ...
    @property
    def events_read(self) -> int: ...

class HepMC3Writer:
    def __init__(self, path: str) -> None: ...
    def write(
        self, events: EventBatch | EventArrays, cross_section_pb: float, cross_section_error_pb: float
    ) -> int: ...
    def close(self) -> None: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def events_written(self) -> int: ...
    @property
    def path(self) -> str: ...

def open_events(path: str, format: str = ..., threads: int = ..., chunk_bytes: int = ...) -> EventReader: ...
def onnxruntime_set_library(path: str) -> None: ...
def onnxruntime_info() -> dict[str, Any]: ...
def onnxruntime_header_api_version() -> int: ...

class OnnxModel:
    def __init__(self, path: str, intra_op_threads: int = ...) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def intra_op_threads(self) -> int: ...
    @property
    def inputs(self) -> list[dict[str, Any]]: ...
    @property
    def outputs(self) -> list[dict[str, Any]]: ...
    def run(self, feeds: dict[str, Any], outputs: list[str] = ...) -> dict[str, npt.NDArray[Any]]: ...

RNG_STREAMS: dict[str, int]

def philox4x32_10(counter: tuple[int, int, int, int] | list[int], key: tuple[int, int] | list[int]) -> list[int]: ...
def rng_words(
    run_seed: int, event_key: npt.ArrayLike, stream: int, block: int, object_index: npt.ArrayLike
) -> npt.NDArray[np.uint32]: ...
def rng_uniforms(
    run_seed: int, event_key: npt.ArrayLike, stream: int, block: int, object_index: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def rng_normals(
    run_seed: int, event_key: npt.ArrayLike, stream: int, block: int, object_index: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

class EventArrays(_Columns):
    n_events: int
    n_particles: int
    source: str
    cross_section_pb: float
    cross_section_error_pb: float

class CardExpression:
    def __init__(self, text: str, where: str = ...) -> None: ...
    text: str
    variables: list[str]
    divisions_by_zero: int
    def evaluate(self, **values: npt.ArrayLike) -> npt.NDArray[np.float64]: ...

def cluster_jets(
    events: EventBatch | EventArrays,
    inputs: npt.ArrayLike | None = ...,
    algorithm: str = ...,
    R: float = ...,
    pt_min: float = ...,
    threads: int = ...,
    grooming: str = ...,
    r_sub: float = ...,
    f_cut: float = ...,
    beta: float = ...,
    z_cut: float = ...,
    R0: float = ...,
    n_subjettiness: int = ...,
) -> dict[str, Any]: ...
def recluster_jets(
    offsets: npt.ArrayLike,
    px: npt.ArrayLike,
    py: npt.ArrayLike,
    pz: npt.ArrayLike,
    e: npt.ArrayLike,
    use: npt.ArrayLike | None = ...,
    R: float = ...,
    pt_min: float = ...,
    f_cut: float = ...,
) -> dict[str, Any]: ...

class DetectorCard:
    @staticmethod
    def load(path: str, search_dirs: list[str] = ...) -> DetectorCard: ...
    @staticmethod
    def parse(text: str, source: str, search_dirs: list[str] = ...) -> DetectorCard: ...
    source: str
    profile_name: str
    hash: str
    warnings: list[str]
    def to_json(self) -> str: ...
    def working_points(self, key: str) -> list[str]: ...
    def function(self, key: str, wp: str = ...) -> CardFunction: ...
    def efficiency(self, object: str, wp: str, **values: npt.ArrayLike) -> npt.NDArray[np.float64]: ...

class CardFunction:
    kind: str
    def evaluate(self, prongs: int = ..., **values: npt.ArrayLike) -> npt.NDArray[np.float64]: ...

TRUTH_FLAGS: dict[str, int]

def classify_truth(
    events: EventBatch | EventArrays, card: DetectorCard | None = ..., threads: int = ...
) -> dict[str, Any]: ...

class BTagger:
    def __init__(self, card: DetectorCard) -> None: ...
    working_points: list[str]
    def probability(self, wp: int, label: int, pt: npt.ArrayLike, abs_eta: float) -> npt.NDArray[np.float64]: ...
    def tag_jets(
        self,
        events: EventBatch | EventArrays,
        card: DetectorCard,
        run_seed: int = ...,
        first_event_key: int = ...,
        threads: int = ...,
    ) -> dict[str, npt.NDArray[Any]]: ...

class Detector:
    def __init__(self, card: DetectorCard) -> None: ...
    run_seed: int
    isolation_names: list[str]
    large_r_enabled: bool
    def working_points(self, object: str) -> list[str]: ...
    def reconstruct(
        self,
        events: EventBatch | EventArrays,
        first_event_key: int = ...,
        threads: int = ...,
        large_r: bool = ...,
        profile: bool = ...,
    ) -> dict[str, dict[str, Any]]: ...

def remove_overlaps(
    a_offsets: npt.ArrayLike,
    a_pt: npt.ArrayLike,
    a_eta: npt.ArrayLike,
    a_phi: npt.ArrayLike,
    a_mass: npt.ArrayLike,
    b_offsets: npt.ArrayLike,
    b_pt: npt.ArrayLike,
    b_eta: npt.ArrayLike,
    b_phi: npt.ArrayLike,
    b_mass: npt.ArrayLike,
    dr: float = ...,
    shrinking: bool = ...,
    c: float = ...,
    k_gev: float = ...,
    dr_max: float = ...,
    use_rapidity: bool = ...,
    pt_of_b: bool = ...,
    candidate_a: npt.ArrayLike | None = ...,
    active_b: npt.ArrayLike | None = ...,
) -> npt.NDArray[np.uint8]: ...

class Result:
    @property
    def region_names(self) -> list[str]: ...
    @property
    def variable_names(self) -> list[str]: ...
    @property
    def n_events(self) -> int: ...
    def cutflow(
        self, region: int
    ) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def bins(
        self, region: int
    ) -> (
        tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], int]
        | None
    ): ...
    @property
    def variables(self) -> npt.NDArray[np.float64]: ...
    @property
    def passed(self) -> npt.NDArray[np.bool_]: ...
    @staticmethod
    def combine(parts: list[Result]) -> Result: ...

class ObjectTable:
    @property
    def n_events(self) -> int: ...
    @property
    def large_r(self) -> bool: ...
    @property
    def first_event_key(self) -> int: ...
    @property
    def collections(self) -> list[str]: ...
    @property
    def records(self) -> list[str]: ...
    @property
    def weight(self) -> npt.NDArray[np.float64]: ...
    @property
    def event_number(self) -> npt.NDArray[np.int64]: ...
    def offsets(self, collection: str) -> npt.NDArray[np.int64]: ...
    def fields(self, name: str) -> dict[str, npt.NDArray[np.float64]]: ...
    def bool_fields(self, name: str) -> list[str]: ...
    def __len__(self) -> int: ...

def reconstruct_table(
    detector: Detector,
    events: EventBatch | EventArrays,
    first_event_key: int = ...,
    threads: int = ...,
    large_r: bool = ...,
) -> ObjectTable: ...

class Analysis:
    @staticmethod
    def from_json(
        text: str, file: str, input_schema: dict[str, Any], models: dict[str, bytes] = ..., base_dir: str = ...
    ) -> Analysis: ...
    @property
    def schema(self) -> dict[str, Any]: ...
    @property
    def id(self) -> str: ...
    def uses(self, input: str) -> bool: ...
    def run_table(self, table: dict[str, Any], threads: int = ..., parameters: dict[str, float] = ...) -> Result: ...
    def run_objects(self, table: ObjectTable, threads: int = ..., parameters: dict[str, float] = ...) -> Result: ...
    def run_events(
        self,
        events: EventBatch | EventArrays,
        detector: Detector,
        first_event_key: int = ...,
        threads: int = ...,
        parameters: dict[str, float] = ...,
    ) -> Result: ...

def detector_schema(detector: Detector) -> dict[str, Any]: ...
def table_schema(table: dict[str, Any]) -> dict[str, Any]: ...
def check_expression(text: str, schema: dict[str, Any], where: str = ..., line: int = ..., col: int = ...) -> str: ...
def expression_builtins() -> list[tuple[str, str]]: ...
def mt2(
    m_a: float,
    px_a: float,
    py_a: float,
    m_b: float,
    px_b: float,
    py_b: float,
    mex: float,
    mey: float,
    chi_a: float = ...,
    chi_b: float = ...,
) -> float: ...
def log_likelihood(n: float, b: float, b_err: float, s: float) -> float: ...
def delta_log_likelihoods(
    n: list[float], b: list[float], b_err: list[float], s: list[float]
) -> tuple[list[float], int]: ...
def cls_values(
    n: npt.ArrayLike,
    b: npt.ArrayLike,
    b_err: npt.ArrayLike,
    s: npt.ArrayLike,
    s_up: npt.ArrayLike | None = None,
    s_down: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def upper_limits(
    n: npt.ArrayLike, b: npt.ArrayLike, b_err: npt.ArrayLike, cl: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def profile_log_likelihoods(
    n: npt.ArrayLike,
    b: npt.ArrayLike,
    b_err: npt.ArrayLike,
    s: npt.ArrayLike,
    s_up: npt.ArrayLike | None = None,
    s_down: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]: ...
def qtilde_values(
    n: float, b: float, b_err: float, s: float, s_up: float = 0.0, s_down: float = 0.0
) -> tuple[float, float]: ...

# custom expression functions and compile statistics (register_functions.cpp)
def register_function(name: str, fn: Callable[..., Any], args: list[str], result: str, doc: str = ...) -> None: ...
def unregister_function(name: str) -> bool: ...
def custom_functions() -> list[tuple[str, str]]: ...
def analysis_compiled_stats(analysis: Analysis) -> dict[str, int]: ...
def expression_pool_stats(texts: list[str], schema: dict[str, Any]) -> dict[str, int]: ...

# efficiency-map likelihood surrogates (register_surrogate.cpp); outside the convex hull:
# recast_ml.effmap.OutsideHullError unless nan_outside
class EfficiencyMap:
    @staticmethod
    def load(path: str) -> EfficiencyMap: ...
    @staticmethod
    def parse(text: str, source: str = ...) -> EfficiencyMap: ...
    @property
    def source(self) -> str: ...
    @property
    def analysis(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def parameters(self) -> list[str]: ...
    @property
    def sqrt_s(self) -> float: ...
    @property
    def luminosity_fb(self) -> float: ...
    @property
    def n_points(self) -> int: ...
    @property
    def n_simplices(self) -> int: ...
    @property
    def regions(self) -> list[str]: ...
    def locate(self, x: list[float]) -> tuple[int, list[int], list[float]] | None: ...
    def efficiencies(
        self, x: list[float], nan_outside: bool = False
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def yields(self, x: list[float], cross_section_pb: float, nan_outside: bool = False) -> npt.NDArray[np.float64]: ...
    def loglike(
        self,
        x: list[float],
        cross_section_pb: float,
        mode: str = "best",
        statistic: str = "gaussian",
        nan_outside: bool = False,
    ) -> float: ...
    def loglike_regions(
        self, x: list[float], cross_section_pb: float, statistic: str = "gaussian", nan_outside: bool = False
    ) -> tuple[npt.NDArray[np.float64], int]: ...
    def loglike_many(
        self, points: npt.ArrayLike, cross_section_pb: npt.ArrayLike, mode: str = "best", statistic: str = "gaussian"
    ) -> npt.NDArray[np.float64]: ...
