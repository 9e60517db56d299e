"""Golden events for the bundled ATLAS-SUSY-2019-04 (RPV SUSY, 1 lepton / 2 same-charge leptons +
many jets; arXiv:2106.09609), written from shared/specs/ATLAS-SUSY-2019-04.md.

Hand-built *reconstructed* events (tests/golden.py) with every expectation written out from the
spec: the objects after overlap removal, the counting variables, the 65 NN inputs (§6.3, in the
spec's order and units, padding included), the first failed cut of every region and the
signal-region membership. Invariant masses over jet combinations (NN inputs 3, 6, 8; m_lj of SR11)
are computed here with short, independent numpy formulae transcribed from the spec (§4, §6.3).
The NN scores are the original ATLAS networks (the ONNX files, batch 1) evaluated with onnxruntime
on the hand-written input vectors; the analysis' ``nn_score`` must reproduce them to 1e-5.

Kinematics are chosen so that most numbers are exact by hand: |eta| in {0, ln 2, ln 3}
(cosh = 1, 5/4, 5/3) and jet masses completing Pythagorean triples, e.g. pT 160 at eta = ln 2
with m = 45: E = sqrt(200^2 + 45^2) = 205.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any

import numpy as np
import pytest

from golden import compile as compile_analysis
from golden import first_failed_cut, model_inputs, reco_table
from recast_ml.analysis import find_definition, load_definition

ID = "ATLAS-SUSY-2019-04"
PI = math.pi
L2, L3 = math.log(2.0), math.log(3.0)
PAD_PT, PAD_ANGLE = 1e-7, -5.0  # spec §6.3: pT/E pads 1e-7, eta/phi pads -5, b-tag bin pad 0


# ------------------------------------------------------------------------------------------------
# objects (spec §2): baseline e = Medium, pT > 10, |eta| < 2.47; signal e = Tight + isolated,
# pT > 15; baseline mu = Medium, |eta| < 2.5; signal mu = isolated, pT > 15; jets pT > 20,
# |eta| < 2.5, JVT; b = MV2c10 70 %. Isolation as the definition's README chooses (spec: UNCERTAIN):
# ptvarcone20 < 0.06 (e), ptvarcone30 < 0.06 (mu).
# ------------------------------------------------------------------------------------------------
def jet(pt: float, eta: float, phi: float, m: float, b: bool = False, **kw: Any) -> dict[str, Any]:
    # n_tracks = 10 unless given: such a jet is never removed by the muon step of the overlap removal
    return {"pt": pt, "eta": eta, "phi": phi, "mass": m, "btag_MV2c10_70": b, "n_tracks": 10.0, **kw}


def el(pt: float, eta: float, phi: float, q: int, *, tight: bool = True, iso: float = 0.01) -> dict[str, Any]:
    return {
        "pt": pt, "eta": eta, "phi": phi, "charge": q, "wp_loose": True, "wp_medium": True, "wp_tight": tight,
        "iso_ptvarcone20": iso, "iso_ptvarcone30": iso,
    }  # fmt: skip


def mu(pt: float, eta: float, phi: float, q: int, *, medium: bool = True, iso: float = 0.01) -> dict[str, Any]:
    return {
        "pt": pt, "eta": eta, "phi": phi, "charge": q, "wp_loose": True, "wp_medium": medium, "wp_tight": medium,
        "iso_ptvarcone20": iso, "iso_ptvarcone30": iso,
    }  # fmt: skip


# 15 jet positions at least 1.0 apart in (eta, phi)
GRID = [(eta, phi) for phi in (-2.5, -0.5, 1.5) for eta in (-2.0, -1.0, 0.0, 1.0, 2.0)]

EVENTS: dict[str, dict[str, Any]] = {
    # 1 signal electron, 6 signal jets (4 b) -> NN-6j. Removed jets: a forward jet (|eta| = 2.7), a jet
    # failing JVT, and a non-b jet at dR = 0.1 < 0.2 of the electron (OR step 2). Had that jet survived,
    # the electron (cone min(0.4, 0.04 + 10/100) = 0.14) would have been removed in OR step 4: the order
    # of the overlap removal matters here. Slots 6..9 of the NN inputs are padded.
    "nn6": {
        "electrons": [el(100, L2, 0.5, -1)],
        "jets": [
            jet(240, 0, -2.5, 70, True),  # E = sqrt(240^2 + 70^2) = 250
            jet(160, L2, 1.5, 45, True),  # E = sqrt(200^2 + 45^2) = 205; dR(e) = 1.0 (the smallest)
            jet(150, 2.7, -2.0, 10),  # forward: not a signal jet
            jet(144, 0, 2.8, 17),  # E = 145
            jet(120, 0, -1.2, 50, True),  # E = 130
            jet(72, -L3, 0.2, 22, True),  # E = sqrt(120^2 + 22^2) = 122
            jet(48, -L2, -0.4, 11),  # E = sqrt(60^2 + 11^2) = 61
            jet(45, L2, 0.6, 5),  # dR(e) = 0.1, not b-tagged: removed (OR step 2)
            jet(30, -1.5, 2.0, 6, jvt=False),  # pile-up: not a signal jet
        ],
        "met": {"pt": 50.0, "phi": -1.0},
    },
    # mu- (80) leading + e+ (60): opposite charge -> 1l channel; 4 jets, all b -> NN-4j, which the
    # score then fails. A non-b jet with 2 tracks at dR = 0.3 < 0.4 of the muon is removed (OR step 3);
    # the muon survives (cone 0.04 + 10/80 = 0.165 < 0.3). The electron lies at dR = 0.25 of a b-jet
    # (no jet removal for b-jets; e cone 0.04 + 10/60 = 0.207 < 0.25, kept): minDeltaRlj = 0.25 comes
    # from the *subleading* lepton (spec §6.3: any signal lepton), the leading one is at dR = 1.0.
    "nn4": {
        "muons": [mu(80, 0, 0, -1)],
        "electrons": [el(60, -L2, 1.0, +1)],
        "jets": [
            jet(240, 0, 2.5, 70, True),  # E = 250
            jet(160, L2, -2.5, 45, True),  # E = 205
            jet(96, -L2, 1.25, 22, True),  # E = sqrt(120^2 + 22^2) = 122; dR(e) = 0.25
            jet(60, 0, -1.0, 11, True),  # E = 61; dR(mu) = 1.0
            jet(50, 0, 0.3, 5, n_tracks=2.0),  # dR(mu) = 0.3, < 3 tracks, not b: removed (OR step 3)
        ],
        "met": {"pt": 200.0, "phi": 3.0},
    },
    # No signal lepton: a Tight but non-isolated electron, a Medium-not-Tight electron (baseline: it
    # still removes a non-b jet at dR = 0.1, OR step 2) and a non-Medium muon (not baseline: the 1-track
    # jet at dR = 0.2 of it stays). 6 jets, 4 b; the NN is not run (lepton inputs have no padding).
    "no_signal_lepton": {
        "electrons": [el(90, 0.5, 0.0, -1, iso=0.10), el(70, -1.0, 2.0, +1, tight=False)],
        "muons": [mu(60, 1.5, -2.8, -1, medium=False)],
        "jets": [
            jet(200, 0, -2.0, 20, True),
            jet(150, 1.0, 1.0, 15, True),
            jet(110, -1.5, -0.8, 12, True),
            jet(90, -2.0, 1.0, 10, True),
            jet(80, 1.5, -2.6, 10, n_tracks=1.0),  # near the non-baseline muon: kept
            jet(60, 2.0, 0.5, 6),
            jet(55, -1.0, 2.1, 5),  # dR = 0.1 of the baseline (non-signal) electron: removed
        ],
        "met": {"pt": 120.0, "phi": 0.3},
    },
    # Both leptons lost in OR step 4: a non-b jet with 5 tracks at dR = 0.2 of the muon is kept (step 3
    # needs < 3 tracks) and removes the muon (cone 0.04 + 10/50 = 0.24); a b-jet at dR = 0.1 of the
    # electron is kept (step 2 spares b-jets) and removes the electron (cone 0.24).
    "leptons_lost_to_jets": {
        "muons": [mu(50, 0, 0, +1)],
        "electrons": [el(50, 1.2, 2.0, -1)],
        "jets": [
            jet(220, -1.0, -2.0, 30, True),
            jet(130, -2.0, 1.0, 14, True),
            jet(100, 0, 0.2, 10, n_tracks=5.0),
            jet(90, 1.2, 2.1, 10, True, n_tracks=1.0),
            jet(70, 2.0, -1.0, 8),
            jet(40, -0.5, -0.8, 4),
        ],
        "met": {"pt": 80.0, "phi": -2.0},
    },
    # One signal muon of 25 GeV: a signal lepton (pT > 15) but below the 27 GeV trigger proxy.
    "soft_lepton": {
        "muons": [mu(25, 0, 0, -1)],
        "jets": [
            jet(150, 1.0, 2.0, 15, True),
            jet(120, -1.0, -2.0, 12, True),
            jet(100, 2.0, 0.0, 10, True),
            jet(80, -2.0, 1.0, 8),
            jet(60, 0.0, 3.0, 6),
        ],
        "met": {"pt": 60.0, "phi": 1.0},
    },
    # Two same-charge electrons back to back at equal eta: m_ee^2 = 2 * 50 * 40.5 * (1 - cos pi) = 90^2,
    # |90 - 91.2| <= 10 -> charge-flip Z veto (spec §3): not 2lSS, the event is 1l. 7 jets, 3 b ->
    # NN-7j (network for 7 jets evaluated) fails at >= 4b.
    "z_ee_7j": {
        "electrons": [el(50, 0, 1.5, -1), el(40.5, 0, 1.5 - PI, -1)],
        "jets": [
            jet(200, 1.0, 0.0, 20, True),
            jet(170, -1.0, 0.0, 18, True),
            jet(140, 2.0, 2.5, 15, True),
            jet(110, -2.0, -2.5, 12),
            jet(90, 0.0, 3.0, 10),
            jet(70, 1.5, -1.0, 8),
            jet(50, -1.5, 1.0, 6),
        ],
        "met": {"pt": 90.0, "phi": 0.0},
    },
    # Two same-charge muons, also at m_mumu = 90 (the Z veto is for ee only) -> 2lSS; 6 jets, 3 b, a
    # b-jet at dR = 0.5 of each muon -> small m_lj -> SR11.
    "ss_mumu_6j": {
        "muons": [mu(60, 0, 0.5, -1), mu(33.75, 0, 0.5 - PI, -1)],
        "jets": [
            jet(150, 1.5, 2.0, 15),
            jet(120, -1.5, 2.2, 12),
            jet(80, 0.5, 0.5, 10, True),
            jet(70, -0.5, 0.5 - PI, 8, True),
            jet(50, 2.0, -1.0, 6, True),
            jet(30, -2.0, 0.0, 4),
        ],
        "met": {"pt": 40.0, "phi": 2.0},
    },
    # 1l, 15 jets; b-jets at 300, 250 and 55 GeV: N_b = 3 above 20 and 40 GeV, 2 above 60, 80, 100.
    # Jets above 60 GeV: exactly 11 (CheckMATE's SR5/6 threshold; GAMBIT/Rivet would need 12, spec §5).
    "1l_15j": {
        "muons": [mu(100, 0, 0.5, +1)],
        "jets": [
            jet(pt, eta, phi, 10, pt in (300, 250, 55))
            for pt, (eta, phi) in zip(
                (300, 250, 200, 180, 160, 140, 120, 110, 90, 85, 65, 55, 45, 42, 25), GRID, strict=True
            )
        ],
        "met": {"pt": 150.0, "phi": -0.5},
    },
    # 2lSS (e+ mu+), 10 jets, no b. Jets above 80 GeV: exactly 6 (CheckMATE's SR18/19 need 7,
    # GAMBIT/Rivet 6, spec §5) -> SR18 fails; a 40 GeV jet is not "pT > 40".
    "2lss_10j": {
        "electrons": [el(80, 0, 0.5, +1)],
        "muons": [mu(60, 2.0, 0.5, +1)],
        "jets": [
            jet(pt, eta, phi, 10)
            for pt, (eta, phi) in zip((300, 250, 200, 150, 120, 110, 70, 65, 50, 30), GRID[:10], strict=True)
        ],
        "met": {"pt": 100.0, "phi": 2.5},
    },
}
NAMES = list(EVENTS)

# signal jets (indices into each event's jet list) and signal leptons, pT-ordered, by hand from §2
SIGNAL_JETS = {
    "nn6": [0, 1, 3, 4, 5, 6],
    "nn4": [0, 1, 2, 3],
    "no_signal_lepton": [0, 1, 2, 3, 4, 5],
    "leptons_lost_to_jets": [0, 1, 2, 3, 4, 5],
    "soft_lepton": [0, 1, 2, 3, 4],
    "z_ee_7j": list(range(7)),
    "ss_mumu_6j": list(range(6)),
    "1l_15j": list(range(15)),
    "2lss_10j": list(range(10)),
}
LEPTONS = {  # (collection, index), leading first
    "nn6": [("electrons", 0)],
    "nn4": [("muons", 0), ("electrons", 0)],
    "no_signal_lepton": [],
    "leptons_lost_to_jets": [],
    "soft_lepton": [("muons", 0)],
    "z_ee_7j": [("electrons", 0), ("electrons", 1)],
    "ss_mumu_6j": [("muons", 0), ("muons", 1)],
    "1l_15j": [("muons", 0)],
    "2lss_10j": [("electrons", 0), ("muons", 0)],
}

# ------------------------------------------------------------------------------------------------
# expected variables, by hand
# ------------------------------------------------------------------------------------------------
VARS = [
    "n_lep",
    "lead_pt",
    "same_sign",
    "z_ee",
    "two_lep_ss",
    "lep_presel",
    "n_jets",
    "n_b",
    "n_jets_40",
    "n_b_40",
    "n_jets_60",
    "n_b_60",
    "n_jets_80",
    "n_b_80",
    "n_jets_100",
    "n_b_100",
]
NAN = math.nan
EXPECTED_VARS = {
    #                      n_lep lead  ss z_ee 2lss presel nj nb  j40 b40 j60 b60 j80 b80 j100 b100
    "nn6":                  (1, 100,   0, 0, 0, 1,   6, 4,   6, 4,  5, 4,  4, 3,  4, 3),
    "nn4":                  (2, 80,    0, 0, 0, 1,   4, 4,   4, 4,  3, 3,  3, 3,  2, 2),
    "no_signal_lepton":     (0, NAN,   0, 0, 0, 0,   6, 4,   6, 4,  5, 4,  4, 4,  3, 3),
    "leptons_lost_to_jets": (0, NAN,   0, 0, 0, 0,   6, 3,   5, 3,  5, 3,  4, 3,  2, 2),
    "soft_lepton":          (1, 25,    0, 0, 0, 0,   5, 3,   5, 3,  4, 3,  3, 3,  2, 2),
    "z_ee_7j":              (2, 50,    1, 1, 0, 1,   7, 3,   7, 3,  6, 3,  5, 3,  4, 3),
    "ss_mumu_6j":           (2, 60,    1, 0, 1, 1,   6, 3,   5, 3,  4, 2,  2, 0,  2, 0),
    "1l_15j":               (1, 100,   0, 0, 0, 1,  15, 3,  14, 3, 11, 2, 10, 2,  8, 2),
    "2lss_10j":             (2, 80,    1, 0, 1, 1,  10, 0,   9, 0,  8, 0,  6, 0,  6, 0),
}  # fmt: skip

# ------------------------------------------------------------------------------------------------
# regions: first failed cut per event (None = all cuts passed), from §2, §3, §5
# ------------------------------------------------------------------------------------------------
LEP_1L, LEP_2L = "lead lepton pT > 27, 1l", "lead lepton pT > 27, 2lSS"
REGIONS_1L = ["presel-1l", "NN-4j", "NN-5j", "NN-6j", "NN-7j", "NN-8j"] + [f"SR{k}" for k in range(1, 11)]
REGIONS_2L = ["presel-2lss"] + [f"SR{k}" for k in range(11, 22)]
# the first cut after the channel preselection: the jet multiplicity of each region
JET_CUT = {
    "presel-1l": None, "presel-2lss": None,
    "NN-4j": "== 4 jets", "NN-5j": "== 5 jets", "NN-6j": "== 6 jets", "NN-7j": "== 7 jets", "NN-8j": "== 8 jets",
    "SR1": ">= 15 jets (pT > 20)", "SR2": ">= 15 jets (pT > 20)",
    "SR3": ">= 12 jets (pT > 40)", "SR4": ">= 12 jets (pT > 40)",
    "SR5": ">= 11 jets (pT > 60)", "SR6": ">= 11 jets (pT > 60)",
    "SR7": ">= 10 jets (pT > 80)", "SR8": ">= 10 jets (pT > 80)",
    "SR9": ">= 8 jets (pT > 100)", "SR10": ">= 8 jets (pT > 100)",
    "SR11": "== 6 jets (pT > 20)",
    "SR12": ">= 10 jets (pT > 20)", "SR13": ">= 10 jets (pT > 20)",
    "SR14": ">= 8 jets (pT > 40)", "SR15": ">= 8 jets (pT > 40)",
    "SR16": ">= 7 jets (pT > 60)", "SR17": ">= 7 jets (pT > 60)",
    "SR18": ">= 7 jets (pT > 80)", "SR19": ">= 7 jets (pT > 80)",
    "SR20": ">= 6 jets (pT > 100)", "SR21": ">= 6 jets (pT > 100)",
}  # fmt: skip
NO_LEPTON = {**dict.fromkeys(REGIONS_1L, LEP_1L), **dict.fromkeys(REGIONS_2L, LEP_2L)}
ONE_LEPTON = {**{r: JET_CUT[r] for r in REGIONS_1L}, **dict.fromkeys(REGIONS_2L, LEP_2L)}
TWO_LEPTON_SS = {**dict.fromkeys(REGIONS_1L, LEP_1L), **{r: JET_CUT[r] for r in REGIONS_2L}}

FIRST_FAILED = {
    "nn6": {**ONE_LEPTON, "NN-6j": None},  # 6 jets, 4 b, NN6 score 0.793 > 0.77
    "nn4": {**ONE_LEPTON, "NN-4j": "NN4j > 0.73"},  # 4 jets, 4 b, NN4 score 0.693
    "no_signal_lepton": NO_LEPTON,
    "leptons_lost_to_jets": NO_LEPTON,
    "soft_lepton": NO_LEPTON,  # a signal lepton, but 25 < 27 GeV
    "z_ee_7j": {**ONE_LEPTON, "NN-7j": ">= 4b"},
    "ss_mumu_6j": {**TWO_LEPTON_SS, "SR11": None},  # 6 jets, 3 b, m_lj = 37 < 155
    "1l_15j": {
        **ONE_LEPTON,
        "SR1": "0b (pT > 20)",
        "SR2": None,
        "SR3": "0b (pT > 40)",
        "SR4": None,
        "SR5": "0b (pT > 60)",
        "SR6": ">= 3b (pT > 60)",
        "SR7": "0b (pT > 80)",
        "SR8": ">= 3b (pT > 80)",
        "SR9": "0b (pT > 100)",
        "SR10": ">= 3b (pT > 100)",
    },
    "2lss_10j": {
        **TWO_LEPTON_SS,
        "SR12": None,
        "SR13": ">= 3b (pT > 20)",
        "SR14": None,
        "SR15": ">= 3b (pT > 40)",
        "SR16": None,
        "SR17": ">= 3b (pT > 60)",
        # SR18/19 keep the jet-count failure: 6 jets above 80 GeV < 7
        "SR20": None,
        "SR21": ">= 3b (pT > 100)",
    },
}

IN_REGIONS = {
    "nn6": {"presel-1l", "NN-6j"},
    "nn4": {"presel-1l"},
    "no_signal_lepton": set(),
    "leptons_lost_to_jets": set(),
    "soft_lepton": set(),
    "z_ee_7j": {"presel-1l"},
    "ss_mumu_6j": {"presel-2lss", "SR11"},
    "1l_15j": {"presel-1l", "SR2", "SR4"},
    "2lss_10j": {"presel-2lss", "SR12", "SR14", "SR16", "SR20"},
}

# the spec's NN thresholds (§5) and network SHA-256 (§6.1)
NN_CUT = {4: 0.73, 5: 0.76, 6: 0.77, 7: 0.72, 8: 0.73}
NN_SHA256 = {
    4: "6260b2edfffe49a0355ac47c6c1ae1b2ae5f91ef9033de26637c3b61c0d8b9f9",
    5: "568e85081aee5874bf0a3c5957aedbaced76bfb7c8f55bc1e4c474cb5bcdb63c",
    6: "724c9cb34fb9aae30bee0bb0697dc286e66311fcc9378c940bebc1f63f8a5764",
    7: "81196f78e9ffd4224834813e440af669e6e9c88a644cd64891812753f33d412f",
    8: "0b1a3679d56086a62bf90f275082988af1e931827e5c6c24d580c02e3f4fb9a3",
}


# ------------------------------------------------------------------------------------------------
# independent numpy formulae (spec §4, §6.3); four-vectors (E, px, py, pz) in GeV
# ------------------------------------------------------------------------------------------------
def p4(o: dict[str, Any]) -> np.ndarray:
    pt, eta, phi, m = o["pt"], o["eta"], o["phi"], o.get("mass", 0.0)
    return np.array([math.hypot(pt * math.cosh(eta), m), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)])


def met4(met: dict[str, float]) -> np.ndarray:  # massless, pz = 0: (|pT|, px, py, 0)
    return np.array([met["pt"], met["pt"] * math.cos(met["phi"]), met["pt"] * math.sin(met["phi"]), 0.0])


def mass(p: np.ndarray) -> float:
    return math.sqrt(max(p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2, 0.0))


def three_jet_max_pt_mass(jets: list[np.ndarray], extra: np.ndarray | None = None) -> float:
    """§6.3 inputs 3 and 6: over all 3-jet combinations (plus lepton + MET), the mass of the sum
    with the largest vector pT."""
    sums = [sum(c) + (extra if extra is not None else 0.0) for c in itertools.combinations(jets, 3)]
    return mass(max(sums, key=lambda p: math.hypot(p[1], p[2])))


def minmax_mass(jets: list[np.ndarray]) -> float:
    """§6.3 input 8: min over all 2^N splittings into two groups (one may be empty) of the larger
    group mass."""
    best = math.inf
    for bits in range(2 ** len(jets)):
        groups = [np.zeros(4), np.zeros(4)]
        for k, p in enumerate(jets):
            groups[(bits >> k) & 1] = groups[(bits >> k) & 1] + p
        best = min(best, max(mass(groups[0]), mass(groups[1])))
    return best


def m_lj(l1: np.ndarray, l2: np.ndarray, jets: list[np.ndarray]) -> float:
    """§4: min over ordered pairs i != k of max(m(l1 + j_i), m(l2 + j_k))."""
    return min(
        max(mass(l1 + a), mass(l2 + b)) for (i, a), (k, b) in itertools.permutations(enumerate(jets), 2) if i != k
    )


def signal_jets(name: str) -> list[dict[str, Any]]:
    return [EVENTS[name]["jets"][k] for k in SIGNAL_JETS[name]]


def lepton(name: str, k: int) -> dict[str, Any]:
    coll, i = LEPTONS[name][k]
    return EVENTS[name][coll][i]


def jet_e(j: dict[str, Any]) -> float:  # only used to check the hand-written E values below
    return math.hypot(j["pt"] * math.cosh(j["eta"]), j["mass"]) / 100


# ------------------------------------------------------------------------------------------------
# the full NN input vectors, by hand (spec §6.3 order; E-type inputs / 100 GeV)
# ------------------------------------------------------------------------------------------------
def hand_inputs_nn6() -> list[float]:
    jets = [p4(j) for j in signal_jets("nn6")]
    lep = p4(lepton("nn6", 0))
    met = met4(EVENTS["nn6"]["met"])
    return [
        6,  # n_jet
        3,  # n_bcat = min(4, 4) - 1
        4,  # n_bjet
        three_jet_max_pt_mass(jets) / 100,  # numpy (see above)
        (240 + 160 + 144 + 120 + 72 + 48) / 100,  # ht_jet = 7.84
        (240 + 160 + 120 + 72) / 100,  # ht_bjet = 5.92
        three_jet_max_pt_mass(jets, lep + met) / 100,  # numpy
        1.0,  # minDeltaRlj: the electron and the 160 GeV jet, same eta, dphi = 1.0
        minmax_mass(jets) / 100,  # numpy
        0.5,  # met / 100
        -1.0,  # met phi
        *[2.40, 1.60, 1.44, 1.20, 0.72, 0.48], *[PAD_PT] * 4,  # jet pT / 100
        *[0.0, L2, 0.0, 0.0, -L3, -L2], *[PAD_ANGLE] * 4,  # jet eta
        *[-2.5, 1.5, 2.8, -1.2, 0.2, -0.4], *[PAD_ANGLE] * 4,  # jet phi
        *[2.50, 2.05, 1.45, 1.30, 1.22, 0.61], *[PAD_PT] * 4,  # jet E / 100
        *[5, 5, 1, 5, 5, 1], *[0] * 4,  # b-tag bin: 5 tagged, 1 untagged, 0 pad
        1.00,  # lepton pT / 100
        L2,  # lepton eta
        0.5,  # lepton phi
        1.25,  # lepton E / 100 = 100 cosh(ln 2) / 100
    ]  # fmt: skip


def hand_inputs_nn4() -> list[float]:
    jets = [p4(j) for j in signal_jets("nn4")]
    lep = p4(lepton("nn4", 0))  # the leading lepton: the muon
    met = met4(EVENTS["nn4"]["met"])
    return [
        4,  # n_jet
        3,  # n_bcat
        4,  # n_bjet
        three_jet_max_pt_mass(jets) / 100,
        (240 + 160 + 96 + 60) / 100,  # ht_jet = 5.56
        (240 + 160 + 96 + 60) / 100,  # ht_bjet: all jets b-tagged
        three_jet_max_pt_mass(jets, lep + met) / 100,
        0.25,  # minDeltaRlj: the electron (subleading) and the 96 GeV jet
        minmax_mass(jets) / 100,
        2.0,  # met / 100
        3.0,  # met phi
        *[2.40, 1.60, 0.96, 0.60], *[PAD_PT] * 6,
        *[0.0, L2, -L2, 0.0], *[PAD_ANGLE] * 6,
        *[2.5, -2.5, 1.25, -1.0], *[PAD_ANGLE] * 6,
        *[2.50, 2.05, 1.22, 0.61], *[PAD_PT] * 6,
        *[5, 5, 5, 5], *[0] * 6,
        0.8,  # muon pT / 100
        0.0,  # eta
        0.0,  # phi
        0.8,  # E / 100 (eta = 0)
    ]  # fmt: skip


HAND_INPUTS = {"nn6": (6, hand_inputs_nn6), "nn4": (4, hand_inputs_nn4)}

# the input names of the card, in its order (listed under `tensors:`)
NN_INPUT_NAMES = [
    str(i["name"]) for i in load_definition(find_definition(ID)).doc["models"]["NN"]["tensors"]["input.1"]
]


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analysis():
    return compile_analysis(ID)


@pytest.fixture(scope="module")
def table():
    return reco_table(list(EVENTS.values()))


@pytest.fixture(scope="module")
def result(analysis, table):
    return analysis.run_table(table)


@pytest.fixture(scope="module")
def gathered(table):
    return model_inputs(ID, table)["NN"]


@pytest.fixture(scope="module")
def networks():
    ort = pytest.importorskip("onnxruntime")
    models = find_definition(ID).parent / "models"
    out = {}
    for n, sha in NN_SHA256.items():
        data = (models / f"OneLeptonMultiJets2018_{n}jets.onnx").read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha  # the original ATLAS files (spec §6.1)
        out[n] = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return out


def ort_score(networks, n_jets: int, x) -> float:
    x = np.asarray(x, dtype=np.float32).reshape(1, 65)  # fixed batch 1 (spec §6.2)
    return float(networks[n_jets].run(["39"], {"input.1": x})[0][0, 0])


# ------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------
def test_hand_values_are_consistent():
    """The literal jet energies above are E = sqrt((pT cosh eta)^2 + m^2) / 100."""
    for name, (_, make) in HAND_INPUTS.items():
        x = make()
        jets = signal_jets(name)
        assert x[41 : 41 + len(jets)] == pytest.approx([jet_e(j) for j in jets], rel=1e-12)
        assert x[11 : 11 + len(jets)] == pytest.approx([j["pt"] / 100 for j in jets], rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_variables(result, name):
    k = NAMES.index(name)
    got = [float(result.variable(v)[k]) for v in VARS]
    assert got == pytest.approx([float(x) for x in EXPECTED_VARS[name]], nan_ok=True), dict(zip(VARS, got, strict=True))


def test_input_names_follow_the_spec():
    names = NN_INPUT_NAMES
    per_jet = [f"jet_{f}_{i}" for f in ("pt", "eta", "phi", "e", "btag_bin") for i in range(10)]
    assert names == [
        "n_jet", "n_bcat", "n_bjet", "three_jet_maxpt_mass", "ht_jet", "ht_bjet", "three_jet_lep_met_mass_max_pt",
        "minDeltaRlj", "minmax_mass", "met", "met_phi", *per_jet, "lepton_pt", "lepton_eta", "lepton_phi", "lepton_e",
    ]  # fmt: skip


@pytest.mark.parametrize("name", list(HAND_INPUTS))
def test_nn_inputs_by_hand(gathered, name):
    x = np.array(HAND_INPUTS[name][1](), dtype=np.float64)
    assert x.shape == (65,)
    got = gathered[NAMES.index(name)]
    bad = [(i, n, got[i], x[i]) for i, n in enumerate(NN_INPUT_NAMES) if not np.isclose(got[i], x[i], 1e-9, 1e-12)]
    assert not bad, bad


@pytest.mark.parametrize("name", list(HAND_INPUTS))
def test_nn_score_is_the_atlas_network_on_the_hand_inputs(result, networks, name):
    n_jets, make = HAND_INPUTS[name]
    expected = ort_score(networks, n_jets, make())
    assert float(result.variable("nn_score")[NAMES.index(name)]) == pytest.approx(expected, abs=1e-5)
    # and the NN region follows from the spec's threshold
    assert (expected > NN_CUT[n_jets]) == (f"NN-{n_jets}j" in IN_REGIONS[name])


def test_nn_hand_scores_sit_where_the_regions_say(networks):
    """Written-out expectation: nn6 lies above the NN6 cut, nn4 below the NN4 cut."""
    assert ort_score(networks, 6, hand_inputs_nn6()) == pytest.approx(0.7933, abs=1e-3)
    assert ort_score(networks, 4, hand_inputs_nn4()) == pytest.approx(0.6935, abs=1e-3)


# partial hand inputs for the other events with a network (4..8 signal jets): the routing and counts
PARTIAL_INPUTS = {
    # name: (network, n_jet, n_bcat, n_bjet, minDeltaRlj, lepton_pt, lepton_e, padded jet slots)
    "soft_lepton": (5, 5, 2, 3, 2.0, 0.25, 0.25, range(5, 10)),
    "z_ee_7j": (7, 7, 2, 3, 1.5, 0.50, 0.50, range(7, 10)),
    "ss_mumu_6j": (6, 6, 2, 3, 0.5, 0.60, 0.60, range(6, 10)),
}


@pytest.mark.parametrize("name", list(PARTIAL_INPUTS))
def test_nn_other_events(result, gathered, networks, name):
    net, n_jet, n_bcat, n_b, min_dr, lep_pt, lep_e, pads = PARTIAL_INPUTS[name]
    x = gathered[NAMES.index(name)]
    assert x[[0, 1, 2, 7, 61, 64]] == pytest.approx([n_jet, n_bcat, n_b, min_dr, lep_pt, lep_e], rel=1e-9)
    for i in pads:
        assert x[[11 + i, 21 + i, 31 + i, 41 + i, 51 + i]].tolist() == [PAD_PT, PAD_ANGLE, PAD_ANGLE, PAD_PT, 0.0]
    jets = [p4(j) for j in signal_jets(name)]
    met = met4(EVENTS[name]["met"])
    assert x[3] == pytest.approx(three_jet_max_pt_mass(jets) / 100, rel=1e-9)
    assert x[6] == pytest.approx(three_jet_max_pt_mass(jets, p4(lepton(name, 0)) + met) / 100, rel=1e-9)
    assert x[8] == pytest.approx(minmax_mass(jets) / 100, rel=1e-9)
    # the network of the event's jet multiplicity is the one evaluated
    assert float(result.variable("nn_score")[NAMES.index(name)]) == pytest.approx(ort_score(networks, net, x), abs=1e-5)


@pytest.mark.parametrize("name", ["no_signal_lepton", "leptons_lost_to_jets", "1l_15j", "2lss_10j"])
def test_nn_not_run(result, name):
    """No signal lepton (lepton inputs have no padding) or a jet multiplicity outside 4..8."""
    assert math.isnan(float(result.variable("nn_score")[NAMES.index(name)]))


def test_m_lj_of_sr11(result):
    """§4 with the definition's choice (README: the 4 leading jets). For this event the b-jets
    near the muons are among the 4 leading jets, so looping over all jets gives the same value."""
    k = NAMES.index("ss_mumu_6j")
    l1, l2 = p4(lepton("ss_mumu_6j", 0)), p4(lepton("ss_mumu_6j", 1))
    jets = [p4(j) for j in signal_jets("ss_mumu_6j")]
    expected = m_lj(l1, l2, jets[:4])
    assert expected == pytest.approx(m_lj(l1, l2, jets), rel=1e-12)
    assert expected < 155
    assert float(result.variable("m_lj")[k]) == pytest.approx(expected, rel=1e-9)


def test_region_list_is_complete(result):
    assert set(result.cutflows) == set(REGIONS_1L) | set(REGIONS_2L)
    for name in NAMES:
        assert set(FIRST_FAILED[name]) == set(result.cutflows)


@pytest.mark.parametrize("name", NAMES)
def test_first_failed_cut(analysis, name):
    # as golden.first_failed_cut, one run per event for all regions
    res = analysis.run_table(reco_table([EVENTS[name]]))
    got = {}
    for region in res.cutflows:
        cf = res.cutflow(region)
        failed = [str(c) for c, n in zip(cf.names[1:], np.asarray(cf.n)[1:], strict=True) if n == 0]
        got[region] = failed[0] if failed else None
    assert got == FIRST_FAILED[name]


def test_first_failed_cut_helper(analysis):
    assert first_failed_cut(analysis, EVENTS["nn4"], "NN-4j") == "NN4j > 0.73"
    assert first_failed_cut(analysis, EVENTS["z_ee_7j"], "NN-7j") == ">= 4b"


@pytest.mark.parametrize("name", NAMES)
def test_signal_regions(result, name):
    k = NAMES.index(name)
    got = {r for r in result.cutflows if bool(result.region_mask(r)[k])}
    assert got == IN_REGIONS[name]
    assert IN_REGIONS[name] == {r for r, c in FIRST_FAILED[name].items() if c is None}
