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
import math
from dataclasses import dataclass
from typing import Any

from ._core import ConfigError
from ._data import xsec_dir

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
