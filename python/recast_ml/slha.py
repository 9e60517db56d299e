"""Simplified-model SUSY spectra as SLHA files, for Pythia 8 signal generation.

A simplified model fixes the masses of a few sparticles and their decays; everything else is
decoupled. :func:`simplified_model` writes a complete SLHA1 file that Pythia 8 reads with
``SLHA:file``: a ``MASS`` block with every MSSM sparticle (non-participating ones at
``decoupled`` GeV), pure-state mixing matrices (χ̃₁⁰ = bino, χ̃₁^± = wino; no L-R sfermion mixing),
SM inputs and one ``DECAY`` block per sparticle (the given channels, or stable with width 0).

Only the kinematics matter for these models: Pythia decays the sparticles isotropically by phase
space with the given branching ratios (SLHA decay tables, ``meMode = 100``) and the cross section
is taken from the NNLO+NNLL tables (:mod:`recast_ml.xsec`), never from Pythia's LO value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._core import ConfigError, InputError
from .io import GZIP_MAGIC

#: Every sparticle in the SLHA ``MASS`` block (PDG id -> name).
SPARTICLES: dict[int, str] = {
    1000001: "~d_L", 2000001: "~d_R", 1000002: "~u_L", 2000002: "~u_R",
    1000003: "~s_L", 2000003: "~s_R", 1000004: "~c_L", 2000004: "~c_R",
    1000005: "~b_1", 2000005: "~b_2", 1000006: "~t_1", 2000006: "~t_2",
    1000011: "~e_L", 2000011: "~e_R", 1000012: "~nu_eL",
    1000013: "~mu_L", 2000013: "~mu_R", 1000014: "~nu_muL",
    1000015: "~tau_1", 2000015: "~tau_2", 1000016: "~nu_tauL",
    1000021: "~g", 1000022: "~chi_10", 1000023: "~chi_20", 1000025: "~chi_30",
    1000035: "~chi_40", 1000024: "~chi_1+", 1000037: "~chi_2+",
}  # fmt: skip

#: The eight light-flavour squarks (q̃_L, q̃_R of u, d, s, c).
LIGHT_SQUARKS: tuple[int, ...] = (1000001, 1000002, 1000003, 1000004, 2000001, 2000002, 2000003, 2000004)

# SM inputs and Higgs sector: the values of the MSSM SLHA cards used by ATLAS
# (shared/data/ATLAS-SUSY-2019-04/slha/param_card.Gtt.slha, SuSpect 2.41 / SDECAY 1.1a).
_SM_MASSES = {5: 4.8, 6: 172.5, 15: 1.77682, 23: 91.1876, 24: 80.399, 25: 125.0, 35: 5000.0, 36: 5000.0, 37: 5000.0}
_FIXED_BLOCKS = """\
BLOCK MODSEL  # Model selection
     1     0   # general MSSM
BLOCK SMINPUTS  # Standard Model inputs
     1     1.27934000E+02   # alpha_em^-1(M_Z)^MSbar
     2     1.16639000E-05   # G_F [GeV^-2]
     3     1.18000000E-01   # alpha_S(M_Z)^MSbar
     4     9.11876000E+01   # M_Z pole mass
     5     4.18000000E+00   # mb(mb)^MSbar
     6     1.72500000E+02   # mt pole mass
     7     1.77682000E+00   # mtau pole mass
BLOCK ALPHA  # Higgs mixing
    -1.05212576E-01   # alpha
BLOCK HMIX Q=  1.00000000E+03  # DRbar Higgs parameters
     1     5.00000000E+03   # mu(Q)
     2     1.00000000E+01   # tanbeta(Q)
     3     2.43000000E+02   # vev(Q)
     4     2.50000000E+07   # MA^2(Q)
BLOCK GAUGE Q=  1.00000000E+03
     1     3.57000000E-01   # g'(Q)
     2     6.52000000E-01   # g(Q)
     3     1.08678016E+00   # g3(Q)
BLOCK YU Q=  1.00000000E+03
  3  3     9.55028720E-01   # y_t(Q)
BLOCK YD Q=  1.00000000E+03
  3  3     1.55137206E-01   # y_b(Q)
BLOCK YE Q=  1.00000000E+03
  3  3     1.02538328E-01   # y_tau(Q)
BLOCK AU Q=  1.00000000E+03
  3  3     0.00000000E+00   # A_t
BLOCK AD Q=  1.00000000E+03
  3  3     0.00000000E+00   # A_b
BLOCK AE Q=  1.00000000E+03
  3  3     0.00000000E+00   # A_tau
"""


def _matrix(name: str, values: Sequence[Sequence[float]]) -> str:
    rows = [f"BLOCK {name}"]
    for i, row in enumerate(values, start=1):
        for j, v in enumerate(row, start=1):
            rows.append(f"  {i}  {j}   {v: .8E}")
    return "\n".join(rows) + "\n"


def _identity(n: int) -> list[list[float]]:
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


@dataclass(frozen=True)
class Channel:
    """One decay channel: branching ratio and daughter PDG ids."""

    branching_ratio: float
    daughters: tuple[int, ...]


@dataclass
class SimplifiedModel:
    """Masses (GeV) of the participating sparticles and their decays; the rest is decoupled."""

    masses: dict[int, float]
    decays: dict[int, list[Channel]] = field(default_factory=dict)
    decoupled: float = 5000.0
    width: float = 0.1  # GeV, for every decaying sparticle (prompt; only enters the Breit-Wigner)
    mixing: str = "bino"  # "bino": chi1 = bino, chi1+ = wino; "higgsino": chi1, chi2, chi1+ higgsinos

    def __post_init__(self) -> None:
        for pid, m in self.masses.items():
            if pid not in SPARTICLES:
                raise ConfigError(f"SLHA simplified model: {pid} is not an MSSM sparticle PDG id")
            if not m > 0:
                raise ConfigError(f"SLHA simplified model: mass of {SPARTICLES[pid]} must be > 0, got {m}")
        for pid, channels in self.decays.items():
            if pid not in SPARTICLES:
                raise ConfigError(f"SLHA simplified model: cannot decay {pid}, not an MSSM sparticle")
            total = sum(c.branching_ratio for c in channels)
            if abs(total - 1.0) > 1e-6:
                raise ConfigError(f"SLHA simplified model: branching ratios of {SPARTICLES[pid]} sum to {total}, not 1")
            for c in channels:
                daughter_mass = sum(self.mass(abs(d)) for d in c.daughters)
                if daughter_mass >= self.mass(pid):
                    raise ConfigError(
                        f"SLHA simplified model: {SPARTICLES[pid]} ({self.mass(pid)} GeV) cannot decay to "
                        f"{c.daughters} (daughter masses {daughter_mass:.1f} GeV)"
                    )

    def mass(self, pid: int) -> float:
        if pid in self.masses:
            return self.masses[pid]
        if pid in SPARTICLES:
            return self.decoupled
        if pid in _SM_MASSES:
            return _SM_MASSES[pid]
        return {211: 0.13957, 111: 0.13498}.get(pid, 0.0)  # pions; light quarks, leptons, gluons, photons: 0

    def to_slha(self) -> str:
        lines = ["# SLHA1 simplified model written by recast_ml.slha", _FIXED_BLOCKS]
        lines.append("BLOCK MASS  # Mass spectrum")
        for pid, m in _SM_MASSES.items():
            lines.append(f"  {pid:>8d}   {m: .8E}")
        for pid, name in SPARTICLES.items():
            lines.append(f"  {pid:>8d}   {self.mass(pid): .8E}   # {name}")
        if self.mixing == "higgsino":
            # chi1 = (H_d - H_u)/sqrt2, chi2 = (H_d + H_u)/sqrt2, chi3 = bino, chi4 = wino; chi1+ higgsino
            r = 1 / math.sqrt(2)
            lines.append(_matrix("NMIX", [[0, 0, r, -r], [0, 0, r, r], [1, 0, 0, 0], [0, 1, 0, 0]]))
            lines += [_matrix("UMIX", [[0, 1], [1, 0]]), _matrix("VMIX", [[0, 1], [1, 0]])]
        elif self.mixing == "bino":
            lines.append(_matrix("NMIX", _identity(4)))
            lines += [_matrix("UMIX", _identity(2)), _matrix("VMIX", _identity(2))]
        else:
            raise ConfigError(f"unknown mixing {self.mixing!r} (bino, higgsino)")
        for name in ("STOPMIX", "SBOTMIX", "STAUMIX"):
            lines.append(_matrix(name, _identity(2)))
        for pid, name in SPARTICLES.items():
            channels = self.decays.get(pid, [])
            width = self.width if channels else 0.0
            lines.append(f"DECAY {pid:>8d}   {width: .8E}   # {name}")
            for c in channels:
                ids = "  ".join(f"{d:>8d}" for d in c.daughters)
                lines.append(f"   {c.branching_ratio: .8E}   {len(c.daughters)}   {ids}")
        return "\n".join(lines) + "\n"


def gluino_direct(m_gluino: float, m_neutralino: float) -> SimplifiedModel:
    """g̃g̃, g̃ → q q̄ χ̃₁⁰ with q ∈ {d, u, s, c} at 25 % each (ATLAS-SUSY-2018-22 §10.1 (a))."""
    return SimplifiedModel(
        masses={1000021: m_gluino, 1000022: m_neutralino},
        decays={1000021: [Channel(0.25, (1000022, q, -q)) for q in (1, 2, 3, 4)]},
    )


def gluino_onestep(m_gluino: float, m_neutralino: float, m_chargino: float | None = None) -> SimplifiedModel:
    """g̃ → q q̄′ χ̃₁^±, χ̃₁^± → W^± χ̃₁⁰; m(χ̃₁^±) = (m_g̃ + m_χ̃₁⁰)/2 by default (§10.1 (c))."""
    mc = (m_gluino + m_neutralino) / 2 if m_chargino is None else m_chargino
    return SimplifiedModel(
        masses={1000021: m_gluino, 1000022: m_neutralino, 1000024: mc},
        decays={
            1000021: [
                Channel(0.25, (1000024, 1, -2)),
                Channel(0.25, (-1000024, 2, -1)),
                Channel(0.25, (1000024, 3, -4)),
                Channel(0.25, (-1000024, 4, -3)),
            ],
            1000024: [Channel(1.0, (1000022, 24))],
        },
    )


def squark_direct(m_squark: float, m_neutralino: float) -> SimplifiedModel:
    """q̃q̃*, eight degenerate light squarks, q̃ → q χ̃₁⁰ (§10.1 (b))."""
    return SimplifiedModel(
        masses={**dict.fromkeys(LIGHT_SQUARKS, m_squark), 1000022: m_neutralino},
        decays={sq: [Channel(1.0, (1000022, sq % 10))] for sq in LIGHT_SQUARKS},
    )


def higgsino_rpv(m_higgsino: float) -> SimplifiedModel:
    """Degenerate higgsino triplet (chi1, chi2, chi1+ at one mass) with the UDD coupling
    lambda''_323: chi1, chi2 -> t b s (50 %) / anti (50 %); chi1+ -> sbar bbar bbar
    (ATLAS-SUSY-2019-04 spec section 8, as in param_card.higgsino.slha)."""
    m = m_higgsino
    neutral = [Channel(0.5, (3, 6, 5)), Channel(0.5, (-3, -6, -5))]
    return SimplifiedModel(
        masses={1000022: m, 1000023: m, 1000024: m},
        decays={1000022: neutral, 1000023: list(neutral), 1000024: [Channel(1.0, (-3, -5, -5))]},
        mixing="higgsino",
    )


def higgsino_rpv_lsp(m_higgsino: float, splitting: float = 2.0) -> SimplifiedModel:
    """Higgsino triplet where only the LSP decays through lambda''_323: chi1+ and chi2 (``splitting``
    and 2 x ``splitting`` GeV above chi1) go to chi1 + a soft pion (a stand-in for the soft
    W*/Z* products, far below every analysis threshold); chi1 -> t b s / anti, 50 % each. Every
    event then has two chi1 -> t b s decays."""
    m = m_higgsino
    neutral = [Channel(0.5, (3, 6, 5)), Channel(0.5, (-3, -6, -5))]
    return SimplifiedModel(
        masses={1000022: m, 1000024: m + splitting, 1000023: m + 2 * splitting},
        decays={
            1000022: neutral,
            1000024: [Channel(1.0, (1000022, 211))],
            1000023: [Channel(1.0, (1000022, 111))],
        },
        mixing="higgsino",
    )


# ---- ATLAS-SUSY-2018-30 (gluinos to third-generation quarks, spec section 10) ----
def gluino_gtt(m_gluino: float, m_neutralino: float) -> SimplifiedModel:
    """g̃g̃, g̃ → t t̄ χ̃₁⁰ (BR = 1, phase space through off-shell stops); tops decay inclusively
    (ATLAS-SUSY-2018-30 §10, Gtt)."""
    return SimplifiedModel(
        masses={1000021: m_gluino, 1000022: m_neutralino},
        decays={1000021: [Channel(1.0, (1000022, 6, -6))]},
    )


def gluino_gbb(m_gluino: float, m_neutralino: float) -> SimplifiedModel:
    """g̃g̃, g̃ → b b̄ χ̃₁⁰ (BR = 1, off-shell sbottoms) (ATLAS-SUSY-2018-30 §10, Gbb)."""
    return SimplifiedModel(
        masses={1000021: m_gluino, 1000022: m_neutralino},
        decays={1000021: [Channel(1.0, (1000022, 5, -5))]},
    )


def gluino_gtb(m_gluino: float, m_neutralino: float, splitting: float = 2.0) -> SimplifiedModel:
    """g̃g̃, g̃ → t b̄ χ̃₁⁻ / t̄ b χ̃₁⁺ (50 % each); m(χ̃₁^±) = m(χ̃₁⁰) + ``splitting`` (2 GeV, the
    ATLAS Gtb convention, UNCERTAIN) and χ̃₁^± → χ̃₁⁰ π^± (a stand-in for the soft off-shell-W
    products, far below every threshold) (ATLAS-SUSY-2018-30 §10, Gtb)."""
    return SimplifiedModel(
        masses={1000021: m_gluino, 1000022: m_neutralino, 1000024: m_neutralino + splitting},
        decays={
            1000021: [Channel(0.5, (-1000024, 6, -5)), Channel(0.5, (1000024, -6, 5))],
            1000024: [Channel(1.0, (1000022, 211))],
        },
    )


# ---- end ATLAS-SUSY-2018-30 ----

# ---- ATLAS-SUSY-2019-02 (sleptons and charginos near m(W); spec section 10) -------------------
#: ẽ_L, ẽ_R, μ̃_L, μ̃_R: the four mass-degenerate charged sleptons of the e/μ slepton model.
EMU_SLEPTONS: tuple[int, ...] = (1000011, 2000011, 1000013, 2000013)
_EMU_SLEPTON_IDS = ",".join(str(s) for s in EMU_SLEPTONS)


def slepton_emu(m_slepton: float, m_neutralino: float) -> SimplifiedModel:
    """ℓ̃ℓ̃ with ℓ̃ ∈ {ẽ_L, ẽ_R, μ̃_L, μ̃_R} mass-degenerate, ℓ̃ → ℓ χ̃₁⁰ (BR = 1), χ̃₁⁰ bino
    (ATLAS-SUSY-2019-02 §10.1)."""
    return SimplifiedModel(
        masses={**dict.fromkeys(EMU_SLEPTONS, m_slepton), 1000022: m_neutralino},
        decays={sl: [Channel(1.0, (1000022, sl % 100))] for sl in EMU_SLEPTONS},
    )


def chargino_ww(m_chargino: float, m_neutralino: float) -> SimplifiedModel:
    """χ̃₁⁺χ̃₁⁻ (wino), χ̃₁^± → W^± χ̃₁⁰ (BR = 1), χ̃₁⁰ bino (ATLAS-SUSY-2019-02 §10.2); the W
    decays inclusively (model ``chargino_ww``) or only to e/μ/τ ν (``chargino_ww_lep``: the
    process' Pythia settings force them; multiply σ by BR(W → ℓν)², :data:`recast_ml.xsec.SCALED`)."""
    return SimplifiedModel(
        masses={1000024: m_chargino, 1000022: m_neutralino},
        decays={1000024: [Channel(1.0, (1000022, 24))]},
    )


_SUSY_2019_02_PROCESSES: dict[str, list[str]] = {
    "slepton_emu": [
        "SUSY:qqbar2sleptonantislepton = on",
        f"SUSY:idVecA = {_EMU_SLEPTON_IDS}",
        f"SUSY:idVecB = {_EMU_SLEPTON_IDS}",
    ],
    "chargino_pair": ["SUSY:qqbar2chi+chi- = on", "SUSY:idA = 1000024", "SUSY:idB = 1000024"],
    "chargino_pair_wlep": [
        "SUSY:qqbar2chi+chi- = on",
        "SUSY:idA = 1000024",
        "SUSY:idB = 1000024",
        "24:onMode = off",
        "24:onIfAny = 11 13 15",
    ],
}
# ---- end ATLAS-SUSY-2019-02 --------------------------------------------------------------------


_SQUARK_IDS = ",".join(str(sq) for sq in LIGHT_SQUARKS)
_EWKINO_IDS = "1000022,1000023,1000024"

#: Pythia SUSY process switches per production process (the spectrum comes from the SLHA file).
PROCESSES: dict[str, list[str]] = {
    "gluino": ["SUSY:gg2gluinogluino = on", "SUSY:qqbar2gluinogluino = on"],
    "squark": [
        "SUSY:gg2squarkantisquark = on",
        "SUSY:qqbar2squarkantisquark = on",
        f"SUSY:idVecA = {_SQUARK_IDS}",
        f"SUSY:idVecB = {_SQUARK_IDS}",
    ],
    "higgsino": [
        "SUSY:qqbar2chi0chi0 = on",
        "SUSY:qqbar2chi+-chi0 = on",
        "SUSY:qqbar2chi+chi- = on",
        f"SUSY:idVecA = {_EWKINO_IDS}",
        f"SUSY:idVecB = {_EWKINO_IDS}",
    ],
    "all": ["SUSY:all = on"],
    **_SUSY_2019_02_PROCESSES,
}

#: The production process of each simplified model.
PROCESS_OF_MODEL = {
    "gluino_direct": "gluino",
    "gluino_onestep": "gluino",
    "squark_direct": "squark",
    "higgsino_rpv": "higgsino",
    "higgsino_rpv_lsp": "higgsino",
    "gluino_gtt": "gluino",  # ATLAS-SUSY-2018-30
    "gluino_gbb": "gluino",  # ATLAS-SUSY-2018-30
    "gluino_gtb": "gluino",  # ATLAS-SUSY-2018-30
    "slepton_emu": "slepton_emu",  # ATLAS-SUSY-2019-02
    "chargino_ww": "chargino_pair",  # ATLAS-SUSY-2019-02
    "chargino_ww_lep": "chargino_pair_wlep",  # ATLAS-SUSY-2019-02
}


def pythia_settings(model: str, *, ecm: float = 13000.0) -> list[str]:
    """Pythia settings for a simplified model above or a process of :data:`PROCESSES`."""
    process = PROCESS_OF_MODEL.get(model, model)
    if process not in PROCESSES:
        raise ConfigError(
            f"unknown simplified model or process {model!r}; models: {', '.join(MODELS)}; "
            f"processes: {', '.join(PROCESSES)}"
        )
    return [f"Beams:eCM = {ecm}", "Tune:pp = 21", "SUSY:all = off", *PROCESSES[process]]


MODELS: Mapping[str, object] = {
    "gluino_direct": gluino_direct,
    "gluino_onestep": gluino_onestep,
    "squark_direct": squark_direct,
    "higgsino_rpv": higgsino_rpv,
    "higgsino_rpv_lsp": higgsino_rpv_lsp,
    "gluino_gtt": gluino_gtt,  # ATLAS-SUSY-2018-30
    "gluino_gbb": gluino_gbb,  # ATLAS-SUSY-2018-30
    "gluino_gtb": gluino_gtb,  # ATLAS-SUSY-2018-30
    "slepton_emu": slepton_emu,  # ATLAS-SUSY-2019-02
    "chargino_ww": chargino_ww,  # ATLAS-SUSY-2019-02
    "chargino_ww_lep": chargino_ww,  # ATLAS-SUSY-2019-02 (W -> l nu forced by the process)
}

#: The parameters of each model, in the order its function (and ``--generate MODEL:...``) takes
#: them; names in brackets are optional (GeV).
MODEL_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "gluino_direct": ("M_GLUINO", "M_LSP"),
    "gluino_onestep": ("M_GLUINO", "M_LSP", "[M_CHARGINO]"),
    "squark_direct": ("M_SQUARK", "M_LSP"),
    "higgsino_rpv": ("M_HIGGSINO",),
    "higgsino_rpv_lsp": ("M_HIGGSINO", "[SPLITTING]"),
    "gluino_gtt": ("M_GLUINO", "M_LSP"),  # ATLAS-SUSY-2018-30
    "gluino_gbb": ("M_GLUINO", "M_LSP"),  # ATLAS-SUSY-2018-30
    "gluino_gtb": ("M_GLUINO", "M_LSP", "[SPLITTING]"),  # ATLAS-SUSY-2018-30
    "slepton_emu": ("M_SLEPTON", "M_LSP"),  # ATLAS-SUSY-2019-02
    "chargino_ww": ("M_CHARGINO", "M_LSP"),  # ATLAS-SUSY-2019-02
    "chargino_ww_lep": ("M_CHARGINO", "M_LSP"),  # ATLAS-SUSY-2019-02
}


def model_usage(model: str) -> str:
    """'gluino_direct:M_GLUINO,M_LSP' (optional parameters in brackets)."""
    return f"{model}:{','.join(MODEL_PARAMETERS[model])}"


def model_spectrum(model: str, masses: Sequence[float]) -> SimplifiedModel:
    """The spectrum of a simplified model for its parameters (GeV), in :data:`MODEL_PARAMETERS`
    order; ConfigError for an unknown model, a wrong number of masses or an impossible spectrum."""
    if model not in MODELS:
        raise ConfigError(f"unknown simplified model {model!r}; models: {', '.join(map(model_usage, MODELS))}")
    params = MODEL_PARAMETERS[model]
    n_required = sum(not p.startswith("[") for p in params)
    if not n_required <= len(masses) <= len(params):
        want = f"{n_required}" if n_required == len(params) else f"{n_required} to {len(params)}"
        raise ConfigError(
            f"simplified model {model} takes {want} mass parameter(s), got {len(masses)}: {model_usage(model)}"
        )
    for name, m in zip(params, masses, strict=False):
        if not (math.isfinite(m) and m > 0):
            # `recast-ml scan` generates a grid's mass 0 at 1 GeV: the way to re-run such a point
            hint = "; for a massless particle give 1 (as `recast-ml scan` generates a mass 0)" if m == 0 else ""
            raise ConfigError(
                f"simplified model {model}: {name.strip('[]')} must be a positive number of GeV, got {m}{hint}"
            )
    try:
        spectrum = MODELS[model](*masses)  # type: ignore[operator]
    except ValueError as e:
        raise ConfigError(f"simplified model {model_usage(model)} = {','.join(f'{m:g}' for m in masses)}: {e}") from e
    assert isinstance(spectrum, SimplifiedModel)
    return spectrum


@dataclass
class SLHAFile:
    """What recast_ml reads of an SLHA file: the ``MASS`` block (PDG id -> GeV, as written: SLHA
    neutralino masses may be negative) and the ``DECAY`` tables (PDG id -> (width, channels));
    ``blocks`` holds the names of all blocks. Pythia reads the file itself; this is to check it."""

    path: Path
    masses: dict[int, float]
    decays: dict[int, tuple[float, list[Channel]]]
    blocks: list[str]

    def has_mass_block(self) -> bool:
        return "MASS" in self.blocks


def _finite(word: str) -> float:
    """A number of an SLHA entry: NaN and infinities are refused (ValueError)."""
    x = float(word)
    if not math.isfinite(x):
        raise ValueError(f"{word!r} is not a finite number")
    return x


def read_slha(path: str | os.PathLike[str]) -> SLHAFile:
    """Parse the ``MASS`` and ``DECAY`` parts of an SLHA file; InputError naming file:line on a
    malformed entry (a non-numeric mass, a channel with too few daughters, undecodable bytes
    outside a comment), naming the file for one that is not SLHA (gzip data, no BLOCK or DECAY
    line), ConfigError if the file cannot be read."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read SLHA file {path}: {e.strerror}") from e
    if raw.startswith(GZIP_MAGIC):
        raise InputError("not an SLHA file: gzip-compressed data (an event file?)", file=str(path))
    masses: dict[int, float] = {}
    decays: dict[int, tuple[float, list[Channel]]] = {}
    blocks: list[str] = []
    block: str | None = None
    decaying: int | None = None
    for k, line_bytes in enumerate(raw.splitlines(), start=1):
        data_bytes = line_bytes.split(b"#", 1)[0]
        try:
            data = data_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(
                f"undecodable byte 0x{data_bytes[e.start]:02x} at column {e.start + 1} "
                "(not an SLHA file? only comments may hold non-ASCII text)",
                file=str(path),
                line=k,
            ) from None
        words = data.split()
        if not words:
            continue
        head = words[0].upper()
        try:
            if head == "BLOCK":
                block, decaying = words[1].upper(), None
                blocks.append(block)
            elif head == "DECAY":
                block = None
                decaying = int(words[1])
                decays[decaying] = (_finite(words[2]), [])
            elif head == "XSECTION":  # ends a BLOCK or DECAY; its rows are read by read_xsections
                block, decaying = "XSECTION", None
            elif block == "MASS":
                masses[int(words[0])] = _finite(words[1])
            elif decaying is not None:
                n = int(words[1])
                ids = tuple(int(w) for w in words[2 : 2 + n])
                if len(ids) != n:
                    raise InputError(
                        f"decay channel of {decaying} lists {len(ids)} daughters, not {n}", file=str(path), line=k
                    )
                decays[decaying][1].append(Channel(_finite(words[0]), ids))
        except InputError:
            raise
        except (IndexError, ValueError) as e:
            what = f"BLOCK {block}" if block else f"DECAY {decaying}" if decaying is not None else head
            raise InputError(
                f"malformed {what} entry {data.strip()!r} ({e or 'too few fields'})", file=str(path), line=k
            ) from None
    if not blocks and not decays:
        raise InputError("not an SLHA file: no BLOCK or DECAY line", file=str(path))
    return SLHAFile(path=path, masses=masses, decays=decays, blocks=blocks)


#: Sparticles produced by each process of :data:`PROCESSES` (the masses checked after Pythia's
#: initialisation; "all" checks every sparticle of the file's MASS block).
PRODUCED: dict[str, tuple[int, ...]] = {
    "gluino": (1000021,),
    "squark": LIGHT_SQUARKS,
    "higgsino": (1000022, 1000023, 1000024),
    "slepton_emu": EMU_SLEPTONS,  # ATLAS-SUSY-2019-02
    "chargino_pair": (1000024,),  # ATLAS-SUSY-2019-02
    "chargino_pair_wlep": (1000024,),  # ATLAS-SUSY-2019-02
}


def checked_spectrum(path: str | os.PathLike[str], process: str) -> dict[int, float]:
    """Masses (GeV, absolute values) that Pythia must use for ``process`` with the SLHA file: the
    produced sparticles and the lightest neutralino, where the file's MASS block gives them.
    InputError naming the file if it has no MASS block or lacks the produced sparticles."""
    f = read_slha(path)
    if not f.has_mass_block():
        raise InputError(
            "no MASS block; Pythia would run its default sparticle masses instead of this spectrum", file=str(f.path)
        )
    produced = PRODUCED.get(process, tuple(pid for pid in f.masses if pid in SPARTICLES))
    missing = [SPARTICLES[pid] for pid in produced if pid not in f.masses]
    if missing:
        raise InputError(f"the MASS block has no entry for {', '.join(missing)} (process {process})", file=str(f.path))
    want = {pid: abs(f.masses[pid]) for pid in produced}
    if 1000022 in f.masses:
        want[1000022] = abs(f.masses[1000022])
    return want


# ------------------------------------------------------------------------------------------------
# SLHA XSECTION blocks (cross sections carried by the spectrum file, e.g. written by SModelS'
# xsecComputer, NNLL-fast or Prospino wrappers): scans of SLHA files take σ from them
# ------------------------------------------------------------------------------------------------
#: |PDG ids| a process of :data:`PROCESSES` produces (an XSECTION block matches a process when all
#: its final-state particles are among them; "all" matches every block)
PROCESS_FINAL_STATES: dict[str, frozenset[int]] = {
    "gluino": frozenset({1000021}),
    "squark": frozenset(abs(int(x)) for x in _SQUARK_IDS.split(",")),
    "higgsino": frozenset(int(x) for x in _EWKINO_IDS.split(",")),
    "slepton_emu": frozenset(EMU_SLEPTONS),  # ATLAS-SUSY-2019-02
    "chargino_pair": frozenset({1000024}),  # ATLAS-SUSY-2019-02
    "chargino_pair_wlep": frozenset({1000024}),  # production σ; the W -> l nu factor: xsec.slha_cross_section
}


def read_xsections(
    path: str | os.PathLike[str], process: str, *, sqrt_s_gev: float = 13000.0
) -> tuple[float, float, str] | None:
    """(σ in pb, relative uncertainty, source) of a process from the ``XSECTION`` blocks of an SLHA
    file, or None when it has none for the process at ``sqrt_s_gev``.

    Format (SLHA cross-section accord): ``XSECTION sqrt_s init1 init2 n_final pdg...`` then lines
    ``scale_scheme qcd_order ew_order kappa_f kappa_r pdf_id value code...``. Per block the highest
    QCD order is taken, at the central scales (κ_F = κ_R = 0); the matching blocks are summed; the
    relative uncertainty is the largest deviation of the scale-varied rows (κ ≠ 0) of that order,
    0 when the file gives none. Malformed blocks are InputErrors naming the file and line."""

    wanted = PROCESS_FINAL_STATES.get(process)
    text = Path(path).read_text(errors="replace").splitlines()
    blocks: list[tuple[int, dict[int, list[tuple[float, float, float]]]]] = []  # (line, order -> rows)
    heads: dict[int, str] = {}  # line -> the block's process, for the source text
    current: dict[int, list[tuple[float, float, float]]] | None = None
    for lineno, raw in enumerate(text, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        head = words[0].upper()
        if head in ("BLOCK", "DECAY"):
            current = None
            continue
        if head == "XSECTION":
            try:
                sqrt_s = float(words[1])
                n_final = int(words[4])
                finals = [abs(int(w)) for w in words[5 : 5 + n_final]]
            except (IndexError, ValueError):
                raise InputError(
                    "expected 'XSECTION sqrt_s init1 init2 n_final pdg...'", file=str(path), line=lineno
                ) from None
            if len(finals) != n_final:
                raise InputError(f"XSECTION declares {n_final} final-state particles", file=str(path), line=lineno)
            current = None
            if abs(sqrt_s - sqrt_s_gev) < 1.0 and (wanted is None or all(f in wanted for f in finals)):
                current = {}
                blocks.append((lineno, current))
                heads[lineno] = f"{' '.join(words[2:4])} -> {' '.join(words[5 : 5 + n_final])}"
            continue
        if current is not None:
            try:
                order = int(words[1])
                kf, kr, value = float(words[3]), float(words[4]), float(words[6])
            except (IndexError, ValueError):
                raise InputError(
                    "expected 'scale_scheme qcd_order ew_order kappa_f kappa_r pdf_id value ...' in an XSECTION block",
                    file=str(path),
                    line=lineno,
                ) from None
            current.setdefault(order, []).append((kf, kr, value))
    total = 0.0
    worst_rel = 0.0
    orders = []
    used = []
    for lineno, rows in blocks:
        if not rows:
            continue
        order = max(rows)
        central = [v for kf, kr, v in rows[order] if kf == 0 and kr == 0]
        if not central:
            raise InputError(
                "XSECTION block without a central-scale row (kappa_f = kappa_r = 0)", file=str(path), line=lineno
            )
        value = central[0]
        total += value
        varied = [abs(v - value) / value for kf, kr, v in rows[order] if (kf, kr) != (0, 0) and value > 0]
        worst_rel = max([worst_rel, *varied])
        orders.append(order)
        used.append(f"line {lineno}: {heads[lineno]}, {_QCD_ORDERS.get(order, f'order {order}')}")
    if not orders:
        return None
    order_text = "/".join(sorted({_QCD_ORDERS.get(o, f"order {o}") for o in orders}))
    blocks_text = "; ".join(used)
    return total, worst_rel, f"XSECTION blocks of {path} ({len(orders)} processes, {order_text}: {blocks_text})"


#: qcd_order of an XSECTION row -> its name
_QCD_ORDERS = {0: "LO", 1: "NLO", 2: "NLO+NLL", 3: "NNLO", 4: "NNLO+NNLL"}


# ---- ATLAS-HIGP-2024-32: X -> S H -> H H H (TRSM / heavy resonance), Pythia's BSM Higgs bosons ----
# Not a SUSY spectrum: generated from Pythia settings alone (no SLHA file), spec section 8.
#: BR(H -> b bbar) used by the spec (sigma quoted before the Higgs decays x 0.582^3).
BR_H_BB = 0.582


def trsm_xsh(m_x: float, m_s: float, width_fraction: float = 0.001) -> list[str]:
    """gg -> X (Pythia's H2, id 35) -> H S (S = id 36), S -> H H, every H -> b bbar: the Pythia
    lines of ATLAS-HIGP-2024-32 spec section 8 (isotropic decays, meMode 100). X and S get the width
    ``width_fraction`` x mass (forced: Pythia's own H2/A3 widths would not know these channels).
    The spec's ``35:oneChannel = 1 1.0 100 25 36`` removes the H2 -> g g channel from which
    Pythia computes the gg -> H2 cross section (initialisation fails: "all processes have
    vanishing cross sections"); instead every other channel is switched off and X -> H S added;
    ValueError unless m_S >= 2 m_H and m_X >= m_S + m_H (on-shell decays, m_H = 125 GeV)."""
    m_h = _SM_MASSES[25]
    if m_s < 2 * m_h:
        raise ValueError(f"m_S = {m_s:g} GeV is below 2 m_H = {2 * m_h:g} GeV (S -> H H closed)")
    if m_x < m_s + m_h:
        raise ValueError(f"m_X = {m_x:g} GeV is below m_S + m_H = {m_s + m_h:g} GeV (X -> S H closed)")
    if not 0 < width_fraction < 0.5:
        raise ValueError(f"width fraction {width_fraction:g} must be in (0, 0.5)")
    return [
        "Higgs:useBSM = on",
        "HiggsBSM:gg2H2 = on",
        f"35:m0 = {m_x:g}",
        f"35:mWidth = {width_fraction * m_x:g}",
        "35:doForceWidth = on",
        f"35:mMin = {max(m_x * (1 - 10 * width_fraction), m_s + m_h):g}",
        f"35:mMax = {m_x * (1 + 10 * width_fraction):g}",
        "35:onMode = off",  # the spec's oneChannel drops H2 -> g g: gg2H2 then has no cross section
        "35:addChannel = 1 1.0 100 25 36",
        f"36:m0 = {m_s:g}",
        f"36:mWidth = {width_fraction * m_s:g}",
        "36:doForceWidth = on",
        f"36:mMin = {max(m_s * (1 - 10 * width_fraction), 2 * m_h):g}",
        f"36:mMax = {m_s * (1 + 10 * width_fraction):g}",
        "36:onMode = off",
        "36:addChannel = 1 1.0 100 25 25",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    ]


#: Models generated from Pythia settings alone (no SLHA spectrum): name -> its Pythia lines.
SETTINGS_MODELS: Mapping[str, Callable[..., list[str]]] = {"trsm_xsh": trsm_xsh}
SETTINGS_MODEL_PARAMETERS: Mapping[str, tuple[str, ...]] = {"trsm_xsh": ("M_X", "M_S", "[WIDTH_FRACTION]")}


def settings_model(model: str, masses: Sequence[float], *, ecm: float = 13000.0) -> list[str]:
    """All Pythia lines of a model of :data:`SETTINGS_MODELS` for its parameters (GeV; ATLAS A14-like
    tune ``Tune:pp = 21`` as for the SUSY models); ConfigError for a wrong number of parameters or an
    impossible spectrum."""
    if model not in SETTINGS_MODELS:
        raise ConfigError(f"unknown settings model {model!r}; models: {', '.join(SETTINGS_MODELS)}")
    params = SETTINGS_MODEL_PARAMETERS[model]
    n_required = sum(not p.startswith("[") for p in params)
    usage = f"{model}:{','.join(params)}"
    if not n_required <= len(masses) <= len(params):
        raise ConfigError(f"model {model} takes {n_required} to {len(params)} parameter(s), got {len(masses)}: {usage}")
    if not all(math.isfinite(m) and m > 0 for m in masses):
        raise ConfigError(f"model {usage}: parameters must be positive numbers, got {list(masses)}")
    try:
        lines = SETTINGS_MODELS[model](*masses)
    except ValueError as e:
        raise ConfigError(f"model {usage} = {','.join(f'{m:g}' for m in masses)}: {e}") from e
    return [f"Beams:eCM = {ecm}", "Tune:pp = 21", *lines]
