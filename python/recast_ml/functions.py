"""Custom functions of the analysis expression language, written in Python.

A registered function is *vectorised*: the event loop calls it once per block of events (up to
4096) with one numpy column per argument, never once per event::

    import numpy as np
    from recast_ml import functions

    functions.register("pt_ratio", lambda a, b: np.where(b > 0, a / b, np.nan),
                       args=("number", "number"), result="number",
                       doc="pt_ratio(a, b) = a / b")
    # in an analysis definition:  expr: pt_ratio(jets[1].pt, jets[0].pt) > 0.5

Arguments are ``number``/``bool`` (a float64 array, one value per event, NaN = missing, bools
0/1) or ``number list``/``bool list`` (an awkward array, one list per event, e.g. ``jets.pt``).
The result must be one value per event (numbers; bools as True/False or 0/1; NaN = missing).
Functions must be pure: identical calls within an event are computed once.

Arguments that depend on analysis variables, or calls inside object predicates (``select``),
are evaluated one event at a time (arrays of length 1). The core releases the GIL during the
event loop and reacquires it for the call; an exception raised by the function becomes an
:class:`~recast_ml.errors.InputError` naming the function, the expression's file, line, column
and the event.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from recast_ml import _core

__all__ = ["ARG_TYPES", "register", "registered", "unregister"]

log = logging.getLogger(__name__)

#: argument/result types a Python function may take
ARG_TYPES = ("number", "bool", "number list", "bool list")

_names: set[str] = set()


def _convert(name: str, fn: Callable[..., Any], types: tuple[str, ...], result: str) -> Callable[..., Any]:
    def call(n: int, *columns: Any) -> npt.NDArray[np.float64]:
        values: list[Any] = []
        for t, c in zip(types, columns, strict=True):
            if t.endswith("list"):
                flat, offsets = c
                arr = ak.unflatten(flat, np.diff(offsets)) if n else ak.Array([])
                values.append(arr if t == "number list" else ak.values_astype(arr, bool))
            else:
                values.append(c)
        out = fn(*values)
        if isinstance(out, ak.Array):
            out = ak.to_numpy(ak.fill_none(out, np.nan))
        arr = np.asarray(out)
        if np.ma.isMaskedArray(out):
            arr = np.ma.filled(out.astype(np.float64), np.nan)
        if arr.ndim == 0:
            raise TypeError(f"{name} returned a scalar, expected an array of {n} values (one per event)")
        if arr.shape != (n,):
            raise TypeError(f"{name} returned shape {arr.shape}, expected ({n},) (one value per event)")
        if arr.dtype == bool or result == "bool":
            arr = np.where(np.isnan(arr.astype(np.float64)), np.nan, arr.astype(bool).astype(np.float64))
        result_values: npt.NDArray[np.float64] = np.ascontiguousarray(arr, dtype=np.float64)
        return result_values

    return call


def register(
    name: str,
    fn: Callable[..., Any],
    *,
    args: Sequence[str],
    result: str = "number",
    doc: str = "",
) -> None:
    """Registers ``fn`` as the expression function ``name`` for analyses loaded afterwards.

    ``args``: the type of each argument (see :data:`ARG_TYPES`); ``result``: ``number`` or
    ``bool``. Raises ValueError for an unknown type or a built-in name."""
    types = tuple(args)
    for t in (*types, result):
        if t not in ARG_TYPES:
            raise ValueError(f"function '{name}': unknown type '{t}' (one of {', '.join(ARG_TYPES)})")
    if result not in ("number", "bool"):
        raise ValueError(f"function '{name}': the result must be a number or a bool, not '{result}'")
    if not callable(fn):
        raise TypeError(f"function '{name}': {fn!r} is not callable")
    _core.register_function(name, _convert(name, fn, types, result), list(types), result, doc)
    _names.add(name)
    log.debug("registered expression function %s(%s) -> %s", name, ", ".join(types), result)


def unregister(name: str) -> bool:
    """Removes a function registered with :func:`register` (analyses already loaded keep it)."""
    _names.discard(name)
    return bool(_core.unregister_function(name))


def registered() -> list[tuple[str, str]]:
    """Names and docs of the custom functions (Python and C++)."""
    return [(str(a), str(b)) for a, b in _core.custom_functions()]


@atexit.register
def _release() -> None:  # drop the Python callables while the interpreter is alive
    for name in list(_names):
        _core.unregister_function(name)
    _names.clear()
