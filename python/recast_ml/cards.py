"""Detector cards (shared/specs/detector-emulation.md §13), loaded and validated by the C++ core,
and the card expression language (§13.4)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._data import cards_dir

#: Bundled profiles: card name -> file, profile name -> file.
BUNDLED = {
    "atlas_run2": "atlas_run2.toml",
    "cms_run2": "cms_run2.toml",
    "ATLAS-Run2": "atlas_run2.toml",
    "CMS-Run2": "cms_run2.toml",
}

VARIABLES = ("pt", "eta", "abs_eta", "phi", "e", "et", "m", "set", "met")

#: Card keys that never change the detector output, by design (data/cards/README.md): pattern
#: (``*`` = one name, ``[last]`` = the last entry of an array) -> why. Every other key of the
#: reference cards is used, or refused at load when set to a value this recast_ml does not implement.
INFORMATIONAL_KEYS: dict[str, str] = {
    "source": "provenance text, allowed in every table (section 13.2)",
    "profile.experiment": "identity of the profile",
    "profile.run": "identity of the profile",
    "profile.sqrt_s_TeV": "identity of the profile (the events carry their own energy)",
    "profile.description": "identity of the profile",
    "*.resolution.regions[last].abs_eta_max": "outside the last |eta| region its parameters apply",
}

#: Card keys read only under a setting of another key (data/cards/README.md): pattern -> when.
CONDITIONAL_KEYS: dict[str, str] = {
    "*.crack.abs_eta_min": 'read with crack policy = "drop" (policy "keep" keeps the crack)',
    "*.crack.abs_eta_max": 'read with crack policy = "drop" (policy "keep" keeps the crack)',
    "jet.jvt.*": "read with jet.jvt.enabled = true",
    "electron.fake_from_jet.rate": "read with electron.fake_from_jet.enabled = true",
    "btag.label_dr": 'read with btag.label_scheme = "cone_exclusive" (ghost labels have no cone)',
    "met.truth_smeared.resolution": 'read with met.mode = "truth_smeared"',
    "large_r_jet.grooming.R0": "read with soft drop beta != 0 (with beta = 0 the condition is z > z_cut)",
}


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


class CardFunction:
    """A card function object (§13.3) at one working point; ``evaluate(**kinematics)``."""

    __slots__ = ("_fn",)

    def __init__(self, fn: _core.CardFunction) -> None:
        self._fn = fn

    @property
    def kind(self) -> str:
        return str(self._fn.kind)

    def evaluate(self, prongs: int = 1, **values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Vectorised over broadcast ``values`` (pt, eta, abs_eta, phi, e, et, m, set, met)."""
        return self._fn.evaluate(prongs, **values)


class DetectorCard:
    """A validated detector card: ``DetectorCard.load("atlas_run2")`` or ``DetectorCard.load(path)``.

    Unknown keys, malformed function objects and bad expressions raise
    :class:`recast_ml.ConfigError` naming file, line, column and key. Override cards
    (``extends = "ATLAS-Run2"``) are merged into the bundled base profile.
    """

    __slots__ = ("_card",)

    def __init__(self, card: _core.DetectorCard) -> None:
        self._card = card

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str]) -> DetectorCard:
        name = os.fspath(name_or_path)
        path = cards_dir() / BUNDLED[name] if name in BUNDLED else Path(name)
        if not path.exists():  # (the core's error would not say which names are bundled)
            raise FileNotFoundError(
                f"detector card {name}: no such file, and no bundled card of that name (bundled: {', '.join(BUNDLED)})"
            )
        return cls(_core.DetectorCard.load(str(path), [str(cards_dir())]))

    @classmethod
    def parse(cls, text: str, source: str = "<card>") -> DetectorCard:
        return cls(_core.DetectorCard.parse(text, source, [str(cards_dir())]))

    @property
    def profile_name(self) -> str:
        return str(self._card.profile_name)

    @property
    def source(self) -> str:
        return str(self._card.source)

    @property
    def hash(self) -> str:
        """Hash of the merged card, recorded with results (§13.9)."""
        return str(self._card.hash)

    @property
    def warnings(self) -> list[str]:
        """Non-fatal validation findings (e.g. nested working points out of order)."""
        return list(self._card.warnings)

    def working_points(self, key: str) -> list[str]:
        """Working points of the function object at ``key`` in card order (bit-mask order, §13.5)."""
        return list(self._card.working_points(key))

    def function(self, key: str, wp: str | None = None) -> CardFunction:
        """The function object at ``key`` (e.g. ``"electron.id"``) for working point ``wp``."""
        return CardFunction(self._card.function(key, wp or ""))

    def efficiency(self, obj: str, wp: str, **values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Efficiency of ``obj`` (electron, muon, photon) at ``wp``: product of its
        ``efficiency_product`` tables, capped at 1, on truth kinematics ``values``."""
        return self._card.efficiency(obj, wp, **values)

    def to_dict(self) -> dict[str, Any]:
        """The merged card as plain Python data (TOML ``inf``/``nan`` as floats)."""
        data: dict[str, Any] = _unquote_specials(json.loads(self._card.to_json()))
        return data

    def __repr__(self) -> str:
        return f"<DetectorCard {self.profile_name} from {self.source!r} hash={self.hash}>"


_SPECIAL = {"Infinity": float("inf"), "-Infinity": float("-inf"), "NaN": float("nan")}


def _unquote_specials(node: Any) -> Any:
    # the core's JSON writes TOML inf/nan as the strings "Infinity"/"NaN"; no card string is one
    if isinstance(node, dict):
        return {k: _unquote_specials(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unquote_specials(v) for v in node]
    if isinstance(node, str) and node in _SPECIAL:
        return _SPECIAL[node]
    return node
