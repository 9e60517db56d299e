"""Counter-based random numbers of the detector emulation (Philox4x32-10, spec §14), computed by
the C++ core. Every value is a pure function of (run_seed, event_key, stream, block, object_index);
arrays of event keys and object indices are broadcast against each other."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError

#: Stream name -> 16-bit stream id (frozen by the specification).
STREAMS: dict[str, int] = dict(_core.RNG_STREAMS)

Pair = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _args(
    stream: str | int, event_key: npt.ArrayLike, object_index: npt.ArrayLike
) -> tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.uint32]]:
    sid = STREAMS[stream] if isinstance(stream, str) else int(stream)
    if not 0 < sid < 2**16:
        raise ConfigError(f"stream id {sid} outside [1, 65535]")
    keys, objs = np.broadcast_arrays(np.asarray(event_key, np.uint64), np.asarray(object_index, np.uint32))
    return sid, np.ascontiguousarray(keys.ravel()), np.ascontiguousarray(objs.ravel())


def words(
    run_seed: int, event_key: npt.ArrayLike, stream: str | int, block: int, object_index: npt.ArrayLike
) -> npt.NDArray[np.uint32]:
    """The four 32-bit Philox output words, shape (n, 4)."""
    sid, keys, objs = _args(stream, event_key, object_index)
    return _core.rng_words(run_seed, keys, sid, block, objs)


def uniforms(
    run_seed: int, event_key: npt.ArrayLike, stream: str | int, block: int, object_index: npt.ArrayLike
) -> Pair:
    """(u_a, u_b): 53-bit doubles strictly inside (0, 1)."""
    return _pair(_core.rng_uniforms, run_seed, event_key, stream, block, object_index)


def normals(
    run_seed: int, event_key: npt.ArrayLike, stream: str | int, block: int, object_index: npt.ArrayLike
) -> Pair:
    """(z_0, z_1): Box-Muller standard normals from the two uniforms of one block."""
    return _pair(_core.rng_normals, run_seed, event_key, stream, block, object_index)


def _pair(
    fn: Callable[..., Pair],
    run_seed: int,
    event_key: npt.ArrayLike,
    stream: str | int,
    block: int,
    object_index: npt.ArrayLike,
) -> Pair:
    sid, keys, objs = _args(stream, event_key, object_index)
    a, b = fn(run_seed, keys, sid, block, objs)
    return a, b
