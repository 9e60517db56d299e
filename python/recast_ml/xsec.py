"""SUSY production cross sections from the LHC SUSY Cross Section WG tables shipped with the
package (``data/xsec``: NNLO+NNLL / NLO+NLL, 13 and 13.6 TeV).

    xsec.lookup("gluino", 1400)                  # -> CrossSection(1400 GeV gluino pairs, 13 TeV)
    xsec.lookup("squark", 1200, n_squarks=8)     # the tables are for 10 degenerate squarks
    xsec.lookup("pp13_hino_NLO+NLL", 900)        # any table by name

Between grid points the cross section is interpolated linearly in log(sigma) vs mass (and so is
the uncertainty); outside the grid ``lookup`` raises ConfigError.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from ._core import ConfigError
from ._data import xsec_dir

log = logging.getLogger(__name__)

#: Short names -> table stems (13 TeV unless sqrt_s = 13.6).
ALIASES = {
    "gluino": "gluino_NNLO+NNLL",
    "squark": "squark_NNLO+NNLL",
    "gluinosquark": "gluinosquark_NNLO+NNLL",
    "stop": "stopsbottom_NNLO+NNLL",
    "sbottom": "stopsbottom_NNLO+NNLL",
}


# ---- ATLAS-SUSY-2019-02 (spec section 10) -------------------------------------------------------
#: BR(W -> l nu) per lepton flavour (PDG average), for samples with W -> e/mu/tau nu forced.
BR_W_TO_LNU = 0.1086

#: Processes whose cross section is a table times a fixed factor: name -> (table, factor, why).
SCALED: dict[str, tuple[str, float, str]] = {
    "slepton_emu": (
        "pp13_slep_LR_NLO+NLL_PDF4LHC",
        2.0,
        "e~_L,R + mu~_L,R pairs: 2 x the one-flavour L+R table (Resummino NLO+NLL, PDF4LHC15)",
    ),
    "chargino_pair": ("pp13_wino_C1C1_NLO+NLL", 1.0, "wino-like C1+C1- (NLO+NLL)"),
    "chargino_pair_wlep": (
        "pp13_wino_C1C1_NLO+NLL",
        (3 * BR_W_TO_LNU) ** 2,
        "wino-like C1+C1- (NLO+NLL) x BR(W -> e/mu/tau nu)^2 = (3 x 0.1086)^2: both W forced to l nu",
    ),
}


def _scaled(process: str, masses: tuple[float, ...], sqrt_s: float) -> CrossSection:
    table, factor, why = SCALED[process]
    if round(sqrt_s, 1) != 13.0:
        raise ConfigError(f"{process}: only 13 TeV tables ({table})")
    xs = lookup(table, *masses)
    return dataclasses.replace(
        xs, xsec_pb=xs.xsec_pb * factor, unc_pb=xs.unc_pb * factor, source=f"{xs.source}; {why}".lstrip("; ")
    )


# ---- end ATLAS-SUSY-2019-02 --------------------------------------------------------------------


def tables() -> list[str]:
    """Names of the available tables."""
    return sorted(p.stem for p in xsec_dir().glob("*.json"))


@dataclass(frozen=True)
class CrossSection:
    xsec_pb: float
    unc_pb: float
    table: str
    masses: tuple[float, ...]
    order: str
    source: str

    def __float__(self) -> float:
        return self.xsec_pb


@functools.cache
def _load(name: str) -> dict[str, Any]:
    path = xsec_dir() / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"no cross-section table {name!r}; tables: {', '.join(tables())}")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _unc_pb(v: dict[str, Any]) -> float:
    """The uncertainty of a grid point: ``unc_pb``, or the larger of an asymmetric pair
    (``unc_up_pb`` / ``unc_down_pb``, e.g. the Resummino slepton tables)."""
    if "unc_pb" in v:
        return float(v["unc_pb"])
    return max(abs(float(v["unc_up_pb"])), abs(float(v["unc_down_pb"])))


def _interpolate(grid: dict[str, Any], mass: float, name: str) -> tuple[float, float, Any]:
    points = sorted((float(k), v) for k, v in grid.items())
    masses = [p[0] for p in points]
    if not masses[0] <= mass <= masses[-1]:
        raise ConfigError(f"{name}: mass {mass:g} GeV outside the table ({masses[0]:g} - {masses[-1]:g} GeV)")
    for (m0, v0), (m1, v1) in itertools.pairwise(points):
        if m0 <= mass <= m1:
            t = 0.0 if m1 == m0 else (mass - m0) / (m1 - m0)
            return m0, t, (v0, v1)
    m, v = points[-1]
    return m, 0.0, (v, v)


def lookup(process: str, *masses: float, sqrt_s: float = 13.0, n_squarks: int = 10) -> CrossSection:
    """Cross section (pb) and its uncertainty for a process at the given masses (GeV)."""
    if process in SCALED:  # ATLAS-SUSY-2019-02
        return _scaled(process, masses, sqrt_s)
    stem = ALIASES.get(process)
    if stem is not None:
        prefix = {13.0: "pp13", 13.6: "pp13600"}.get(round(sqrt_s, 1))
        if prefix is None:
            raise ConfigError(f"no tables for sqrt(s) = {sqrt_s} TeV (13 or 13.6)")
        name = f"{prefix}_{stem}"
    else:
        name = process
    doc = _load(name)
    grid: Any = doc["data"]
    for k, m in enumerate(masses):
        if not isinstance(grid, dict) or "xsec_pb" in grid:
            raise ConfigError(f"{name}: takes {k} mass(es), got {len(masses)}")
        _, t, (v0, v1) = _interpolate(grid, float(m), name)
        if "xsec_pb" in v0:
            if k != len(masses) - 1:
                raise ConfigError(f"{name}: takes {k + 1} mass(es), got {len(masses)}")
            x0, x1 = v0["xsec_pb"], v1["xsec_pb"]
            u0, u1 = _unc_pb(v0), _unc_pb(v1)
            xs = math.exp((1 - t) * math.log(x0) + t * math.log(x1)) if x0 > 0 and x1 > 0 else (1 - t) * x0 + t * x1
            unc = xs * ((1 - t) * u0 / x0 + t * u1 / x1) if x0 > 0 and x1 > 0 else (1 - t) * u0 + t * u1
            factor = 1.0
            if process == "squark":
                if not 1 <= n_squarks <= 10:
                    raise ConfigError("n_squarks must be between 1 and 10")
                factor = n_squarks / 10.0  # the tables are for 10 mass-degenerate light squarks
            return CrossSection(
                xsec_pb=xs * factor,
                unc_pb=unc * factor,
                table=name,
                masses=tuple(float(x) for x in masses),
                order=str(doc.get("order", "")),
                source=str(doc.get("source", "")),
            )
        if t > 0:
            raise ConfigError(f"{name}: mass {m:g} is not on the grid of a multi-parameter table (no interpolation)")
        grid = v0
    raise ConfigError(f"{name}: needs more masses than the {len(masses)} given")


# ------------------------------------------------------------------------------------------------
# cross sections given by the user (``--cross-section 28.4fb``) and the theory uncertainty
# ------------------------------------------------------------------------------------------------
#: Units of a cross section -> pb (case-insensitive).
UNITS_PB: dict[str, float] = {"mb": 1e9, "ub": 1e6, "µb": 1e6, "nb": 1e3, "pb": 1.0, "fb": 1e-3, "ab": 1e-6}


def _to_pb(number: str, unit: str) -> float:
    """The decimal text ``number`` in ``unit`` as pb, scaled in decimal arithmetic: 28.4 fb is the
    double nearest 0.0284 (as the text "0.0284" gives), not 28.4 x 1e-3."""
    from decimal import Decimal

    return float(Decimal(number) * Decimal(repr(UNITS_PB[unit.lower()])))


_NUMBER_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity))\s*(\S*)\s*$", re.I
)


@dataclass(frozen=True)
class SampleCrossSection:
    """The cross section a run scales its yields with, where it comes from, and its relative
    theory uncertainty (None when unknown) with the source of that uncertainty."""

    pb: float
    source: str
    rel_error: float | None = None
    rel_error_source: str | None = None

    def __float__(self) -> float:
        return self.pb

    def with_error(self, rel_error: float | None, source: str | None) -> SampleCrossSection:
        return dataclasses.replace(
            self, rel_error=rel_error, rel_error_source=source if rel_error is not None else None
        )


def _split(text: str, option: str, expected: str) -> tuple[str, str]:
    """(number text, unit) of a value such as "28.4fb" or "2.84e1 fb"."""
    m = _NUMBER_UNIT.match(text)
    if m is None:
        raise ConfigError(f"{option} {text!r}: expected {expected}")
    return m.group(1), m.group(2)


def _number_unit_text(value: str | float, option: str, expected: str) -> tuple[str, str, str]:
    """(the number's digits, its unit or "", the text as given) of an option's value: a number,
    or text such as ``28.4fb``; ConfigError naming ``option`` and ``expected`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value)), "", f"{value:g}"
    if isinstance(value, str):
        digits, unit = _split(value, option, expected)
        return digits, unit, value.strip()
    raise ConfigError(f"{option}: expected {expected}, got {type(value).__name__}")


def parse_cross_section(value: str | float, option: str = "--cross-section") -> SampleCrossSection:
    """A cross section given as text: a number and a unit (``28.4fb``, ``0.0284 pb``, ``2.84e1 fb``;
    units :data:`UNITS_PB`, case-insensitive) or a bare number, taken as pb (the source says so).
    ConfigError naming ``option`` for anything else, zero, negative, nan or inf."""
    expected = f"a positive number with a unit ({', '.join(UNITS_PB)}), e.g. 28.4fb; a bare number is pb"
    digits, unit, text = _number_unit_text(value, option, expected)
    number = float(digits)
    if unit and unit.lower() not in UNITS_PB:
        raise ConfigError(f"{option} {text!r}: unknown unit {unit!r}; expected {expected}")
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{option} {text!r}: expected {expected}; the cross section must be finite and > 0")
    pb = _to_pb(digits, unit) if unit else number
    if not unit:
        return SampleCrossSection(pb, f"{option} {text} pb (bare number taken as pb)")
    if unit.lower() == "pb":
        return SampleCrossSection(pb, f"{option} {text}")
    return SampleCrossSection(pb, f"{option} {text} = {pb:.6g} pb")


def parse_cross_section_error(
    value: str | float, cross_section_pb: float, option: str = "--cross-section-error"
) -> float:
    """The relative uncertainty of a user-given cross section: a percentage (``10%``), a fraction
    (bare number: ``0.1``) or an absolute value with a unit (``2.84fb``, relative to
    ``cross_section_pb``). ConfigError naming ``option`` for anything else, a value that is not
    finite and >= 0, or a relative uncertainty of 100 % or more (σ - 1σ would be <= 0; a bare 10
    is the fraction 10 = 1000 %, most likely meant as 10%): the message says how it was read."""
    expected = "a relative uncertainty as a percentage (10%) or fraction (0.1), or an absolute one with a unit (2.8fb)"
    digits, unit, text = _number_unit_text(value, option, expected)
    number = float(digits)
    if not (math.isfinite(number) and number >= 0):
        raise ConfigError(f"{option} {text!r}: expected {expected}; it must be finite and >= 0")
    if unit == "%":
        rel, how = number / 100.0, f"is {number:g} %"
    elif not unit:
        rel, how = number, f"is read as a fraction ({100 * number:.4g} %); write {text}% for {number:g} per cent"
    elif unit.lower() not in UNITS_PB:
        raise ConfigError(f"{option} {text!r}: unknown unit {unit!r}; expected {expected}")
    else:
        rel = _to_pb(digits, unit) / cross_section_pb
        how = (
            f"is {_to_pb(digits, unit):.4g} pb, {100 * rel:.4g} % of the cross section ({cross_section_pb:.4g} pb); "
            "check the unit"
        )
    if rel >= 1.0:
        raise ConfigError(
            f"{option} {text} {how}: a theory uncertainty must be below 100 % of the cross section "
            "(e.g. 10%, 0.1 or 2.8fb)"
        )
    return rel


def _warn_large(rel: float | None, where: str) -> None:
    """A warning for a relative theory uncertainty of 100 % or more from a table or an SLHA file
    (some bundled tables reach it at the edges of their grids, where σ is tiny): σ - 1σ is then
    not positive, so the down side is taken as a yield of zero (r/CLs at σ - 1σ, the envelope's
    down side capped at 99.9 %)."""
    if rel is not None and rel >= 1.0:
        log.warning(
            "theory uncertainty of sigma from %s is %.4g %% (>= 100 %%): sigma - 1 sigma is taken as 0",
            where,
            100 * rel,
        )


def table_cross_section(xs: CrossSection, where: str) -> SampleCrossSection:
    """A table value with its relative uncertainty (the table's, e.g. scale + PDF)."""
    rel = xs.unc_pb / xs.xsec_pb if xs.xsec_pb > 0 else None
    source = f"{xs.table} ({xs.order}) {where}".replace("  ", " ")
    _warn_large(rel, f"table {xs.table} {where}")
    return SampleCrossSection(xs.xsec_pb, source, rel, f"table {xs.table}" if rel is not None else None)


def slha_cross_section(path: str | os.PathLike[str], process: str) -> SampleCrossSection | None:
    """σ of ``process`` from the ``XSECTION`` blocks of an SLHA file (one reader:
    :func:`recast_ml.slha.read_xsections`), None when the file has no block for it. For a process
    whose Pythia settings force decays (:data:`SCALED`: W -> l nu) the production σ is multiplied
    by the same branching-ratio factor as the tables. The uncertainty is the blocks' scale
    variation; None when they carry none."""
    from .slha import read_xsections

    found = read_xsections(path, process)
    if found is None:
        return None
    pb, rel, source = found
    if process in SCALED and SCALED[process][1] != 1.0:
        _, factor, why = SCALED[process]
        pb *= factor
        source += f"; x {factor:.6g}: {why}"
    if rel > 0:
        _warn_large(rel, f"the XSECTION blocks of {path}")
        return SampleCrossSection(pb, source, rel, f"scale variations in the XSECTION blocks of {path}")
    return SampleCrossSection(pb, source)


def theory_variations(regions: list[dict[str, Any]], rel_error: float | None) -> None:
    """Adds to each region's statistics (dicts of :class:`~recast_ml.statistics.RegionStatistics`)
    r and CLs at σ ± 1σ of the cross section's relative uncertainty ``rel_error``: the signal scales
    linearly with σ, so ``r_obs_up = r_obs (1 + δ)``, ``r_obs_down = r_obs max(1 - δ, 0)`` (same for
    r_exp, r_cons_obs is not varied) and ``cls_obs_up/down``, ``cls_exp_up/down`` are the CLs of
    the signal s (1 ± δ) (:func:`recast_ml.statistics.cls_many`). Without an uncertainty the keys
    are None."""
    keys = [f"{k}_{side}" for k in ("r_obs", "r_exp", "cls_obs", "cls_exp") for side in ("up", "down")]
    if rel_error is None or not regions:
        for r in regions:
            r.update(dict.fromkeys(keys))
        return
    from .statistics import cls_many

    up, down = 1.0 + rel_error, max(1.0 - rel_error, 0.0)
    n = [r["n_obs"] for r in regions]
    b = [r["b"] for r in regions]
    e = [r["b_err"] for r in regions]
    cls = {f: cls_many(n, b, e, [r["signal"] * f for r in regions]) for f in (up, down)}
    for k, r in enumerate(regions):
        for name, f in (("up", up), ("down", down)):
            r[f"r_obs_{name}"] = None if r["r_obs"] is None else r["r_obs"] * f
            r[f"r_exp_{name}"] = None if r["r_exp"] is None else r["r_exp"] * f
            obs, exp = cls[f]
            no_signal = r["signal"] * f <= 0
            r[f"cls_obs_{name}"] = 1.0 if no_signal else float(obs[k])
            r[f"cls_exp_{name}"] = 1.0 if no_signal else float(exp[k])
