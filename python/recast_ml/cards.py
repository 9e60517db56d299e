"""Detector cards (shared/specs/detector-emulation.md §13). So far: the card expression language
(§13.4), compiled and evaluated by the C++ core."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core

VARIABLES = ("pt", "eta", "abs_eta", "phi", "e", "et", "m", "set", "met")


class Expression:
    """A compiled card expression, e.g. ``Expression("(abs_eta<=1.5)*0.99 + (abs_eta>1.5)*0.98")``.

    Syntax errors raise :class:`recast_ml.ConfigError` naming ``where`` and the column.
    ``evaluate`` broadcasts its keyword arguments (scalars or arrays); division by zero gives +inf
    and is counted in ``divisions_by_zero`` so that callers can report it.
    """

    __slots__ = ("_expr",)

    def __init__(self, text: str, where: str = "<expression>") -> None:
        self._expr = _core.CardExpression(text, where)

    @property
    def text(self) -> str:
        return str(self._expr.text)

    @property
    def variables(self) -> list[str]:
        """The variables the expression reads."""
        return list(self._expr.variables)

    @property
    def divisions_by_zero(self) -> int:
        return int(self._expr.divisions_by_zero)

    def evaluate(self, **values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return self._expr.evaluate(**values)

    def __call__(self, **values: npt.ArrayLike) -> Any:
        out = self.evaluate(**values)
        return float(out) if out.ndim == 0 else out

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"
