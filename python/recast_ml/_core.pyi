"""Type stubs of the compiled module recast_ml._core (cpp/bindings)."""

from typing import Any

import numpy as np
import numpy.typing as npt

class RecastError(RuntimeError): ...
class InputError(ValueError): ...
class ModelError(ValueError): ...
class DependencyError(RuntimeError): ...

def version() -> str: ...
def fastjet_version() -> str: ...
def charge3(pid: npt.ArrayLike) -> npt.NDArray[np.int32]: ...

class _Columns:
    """Column properties shared by EventBatch and EventArrays (numpy views)."""

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
    def from_arrays(
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
    ) -> EventBatch: ...
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

def open_events(path: str, format: str = ...) -> EventReader: ...
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
    @staticmethod
    def from_arrays(
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
    ) -> EventArrays: ...
    n_events: int
    n_particles: int
    source: str
    cross_section_pb: float
    cross_section_error_pb: float

class ConfigError(ValueError): ...

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
) -> dict[str, npt.NDArray[Any]]: ...

class DetectorCard:
    @staticmethod
    def load(path: str, search_dirs: list[str] = ...) -> DetectorCard: ...
    @staticmethod
    def parse(text: str, source: str, search_dirs: list[str] = ...) -> DetectorCard: ...
    source: str
    profile_name: str
    hash: str
    def to_json(self) -> str: ...
