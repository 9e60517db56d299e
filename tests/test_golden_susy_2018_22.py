"""Golden events for ATLAS-SUSY-2018-22 (shared/specs/ATLAS-SUSY-2018-22.md).

Hand-built reconstructed events (objects after the detector, given directly). Every expected number
below is written out by hand from the spec: signal jets are the base jets (pT > 20, |eta| < 2.8)
that survive overlap removal (jets within dR < 0.2 of a loose electron removed, then electrons
within 0.4 of a remaining jet removed) with pT > 50, pT-ordered (spec 2.1-2.2); m_eff = MET + HT
over all signal jets, m_eff(N) over the N leading ones; MET/sqrt(HT); dphi over the three leading
and over the other signal jets (spec 3); the BDT inputs jetPtK/jetEtaK are the (K+1)-th *signal*
jet, 0 when absent (spec 7.2). Aplanarity (spec 3) is the only number computed here, by its
formula, with numpy. The BDT scores are onnxruntime (Python) on the hand-written feature vectors;
the core's scores must equal them, and the BDT signal regions then follow from the spec's thresholds.
"""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest

import golden
from recast_ml.analysis import find_definition, load_definition, load_model

ID = "ATLAS-SUSY-2018-22"


def jet(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi}


def loose_electron(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi, "wp_loose": True, "wp_medium": True}


# A: a forward jet (|eta| = 3.2, the highest-pT jet of the event) and a soft 40 GeV base jet that
#    are not signal jets; an electron 0.3 from a signal jet (jet kept: dR > 0.2; electron removed:
#    dR < 0.4) -> 0 leptons, 4 signal jets.
EVENT_A = {
    "number": 2,
    "jets": [
        jet(700, 3.2, 1.0),
        jet(620, 0.3, 3.0),
        jet(450, -0.8, -2.2),
        jet(300, 1.2, 2.0),
        jet(200, -0.2, -1.6),
        jet(40, 1.0, 0.3),
    ],
    "electrons": [loose_electron(30, -0.2, -1.3)],
    "met": {"pt": 700, "phi": 0.0},
}
# B: a 400 GeV jet overlapping a 60 GeV electron (dR = 0.07 < 0.2: the jet is removed; the
#    electron is > 0.4 from every other jet and stays) -> one baseline lepton: vetoed everywhere.
EVENT_B = {
    "number": 3,
    "jets": [
        jet(900, 0.1, 3.1),
        jet(500, -0.4, -2.6),
        jet(400, 0.5, 2.0),
        jet(300, 0.9, 2.4),
        jet(150, -1.3, -1.9),
        jet(100, 0.6, 1.5),
        jet(90, -0.2, -1.2),
    ],
    "electrons": [loose_electron(60, 0.55, 2.05)],
    "met": {"pt": 800, "phi": 0.0},
}
# C: six signal jets, the fourth at |eta| = 2.5 (a base/signal jet, outside the |eta| < 2.0 cuts);
#    a forward jet at eta = -3.5 and a 30 GeV base jet that are not signal jets.
EVENT_C = {
    "number": 4,
    "jets": [
        jet(500, 0.2, 3.0),
        jet(400, -0.5, -2.6),
        jet(300, 1.0, 2.3),
        jet(250, 2.5, -2.0),
        jet(150, -1.1, 1.9),
        jet(100, 0.7, -1.5),
        jet(60, -3.5, 0.1),
        jet(30, 0.0, 0.2),
    ],
    "met": {"pt": 800, "phi": 0.0},
}
# D: MET 250 < 300.
EVENT_D = {"number": 5, "jets": [jet(800, 0.0, 3.0), jet(700, 0.5, -3.0)], "met": {"pt": 250, "phi": 0.0}}
# E: three signal jets: jetPt3/jetEta3 padded with 0; dphi(j>3) absent (cut passed by 'n_jets <= 3').
EVENT_E = {
    "number": 6,
    "jets": [jet(700, 0.4, 2.9), jet(500, -1.0, -2.5), jet(120, 1.5, 1.8)],
    "met": {"pt": 650, "phi": 0.0},
}
EVENTS = [EVENT_A, EVENT_B, EVENT_C, EVENT_D, EVENT_E]

# signal jets (pt, eta, phi) by hand
SIGNAL_JETS = {
    "A": [(620, 0.3, 3.0), (450, -0.8, -2.2), (300, 1.2, 2.0), (200, -0.2, -1.6)],
    "B": [(900, 0.1, 3.1), (500, -0.4, -2.6), (300, 0.9, 2.4), (150, -1.3, -1.9), (100, 0.6, 1.5), (90, -0.2, -1.2)],
    "C": [(500, 0.2, 3.0), (400, -0.5, -2.6), (300, 1.0, 2.3), (250, 2.5, -2.0), (150, -1.1, 1.9), (100, 0.7, -1.5)],
    "D": [(800, 0.0, 3.0), (700, 0.5, -3.0)],
    "E": [(700, 0.4, 2.9), (500, -1.0, -2.5), (120, 1.5, 1.8)],
}
NAN = math.nan
# variables by hand: HT = sum of signal-jet pT; meff = MET + HT; meff4/6 over the leading 4/6
VARIABLES = {
    #       etmiss, n_jets, n_leptons, ht,   meff, meff4, meff6, met_sig,                dphi_123, dphi_rest
    "A": (700, 4, 0, 1570, 2270, 2270, 2270, 700 / math.sqrt(1570), 2.0, 1.6),
    "B": (800, 6, 1, 2040, 2840, 2650, 2840, 800 / math.sqrt(2040), 2.4, 1.2),
    "C": (800, 6, 0, 1700, 2500, 2250, 2500, 800 / math.sqrt(1700), 2.3, 1.5),
    "D": (250, 2, 0, 1500, 1750, 1750, 1750, 250 / math.sqrt(1500), 3.0, NAN),
    "E": (650, 3, 0, 1320, 1970, 1970, 1970, 650 / math.sqrt(1320), 1.8, NAN),
}
VARIABLE_NAMES = ("etmiss", "n_jets", "n_leptons", "ht", "meff", "meff4", "meff6", "met_sig", "dphi_123", "dphi_rest")

# regions each event passes, by hand (BDT regions added from the scores below)
PASSED = {
    "A": {
        "presel",
        "SR2j-1600",
        "SR2j-2200",
        "MB-SSd-2-common",
        "MB-SSd-4-common",
        "MB-SSd-4-2200-16",
        "MB-C-4-common",
        "MB-C-4-2200-16",
    },
    "B": set(),
    "C": {"presel", "SR2j-1600", "MB-SSd-2-common"},
    "D": set(),
    "E": {"presel", "SR2j-1600", "MB-SSd-2-common", "MB-SSd-2-1600-16", "MB-C-2-common", "MB-C-2-1600-16"},
}
# the BDT regions whose cuts before the score cut each event passes (spec 7.1), by hand
BDT_PRESELECTED = {
    "A": {"GGd1", "GGd2", "GGd3", "GGd4"},  # 4 jets: GGo* need >= 5 / 6
    "B": set(),
    "C": {"GGd1", "GGd2", "GGd3", "GGd4", "GGo1", "GGo2", "GGo3", "GGo4"},
    "D": set(),
    "E": set(),
}
BDT_THRESHOLDS = {
    "GGd1": 0.97,
    "GGd2": 0.94,
    "GGd3": 0.94,
    "GGd4": 0.87,
    "GGo1": 0.96,
    "GGo2": 0.87,
    "GGo3": 0.92,
    "GGo4": 0.84,
}  # spec 7.1, score >= cut
# first failed cut in selected regions, by hand
FIRST_FAILED = {
    ("A", "SR2j-2800"): "meff > 2800",
    ("A", "SR4j-1000"): "aplanarity > 0.04",
    ("A", "SR5j-1600"): "Nj >= 5",
    ("A", "SR-BDT-GGo4"): "Nj >= 5",
    ("A", "MB-GGd-4-common"): "aplanarity > 0.04",
    ("B", "presel"): "0 baseline leptons",
    ("B", "SR6j-1000"): "0 baseline leptons",
    ("C", "SR2j-2200"): "pT(j1) > 600",
    ("C", "SR4j-1000"): "|eta(j1,2,3,4)| < 2.0",
    ("C", "SR5j-1600"): "pT(j1) > 600",
    ("C", "SR6j-1000"): "|eta(j1,2,3,4,5,6)| < 2.0",
    ("C", "MB-SSd-4-common"): "|eta(j1-4)| < 2.0",
    ("C", "MB-C-4-common"): "Nj == 4",
    ("D", "presel"): "MET > 300",
    ("E", "SR2j-2200"): "meff > 2200",
    ("E", "SR4j-1000"): "Nj >= 4",
    ("E", "SR-BDT-GGd1"): "Nj >= 4",
    ("E", "MB-SSd-2-1000-16"): "meff in [1000, 1600)",
}


def aplanarity(jets):
    """Spec 3: 3/2 x the smallest eigenvalue of S^ab = sum p^a p^b / sum |p|^2 over signal jets."""
    p = np.array([[pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)] for pt, eta, phi in jets])
    s = p.T @ p / np.sum(p * p)
    return 1.5 * float(np.linalg.eigvalsh(s)[0])


def bdt_features(model, key):
    """The card's inputs in the spec's order (spec 7.2 table), from the hand-written signal jets."""
    jets = SIGNAL_JETS[key]
    etmiss, meff = VARIABLES[key][0], VARIABLES[key][4]

    def pt(k):
        return float(jets[k][0]) if k < len(jets) else 0.0

    def eta(k):
        return float(jets[k][1]) if k < len(jets) else 0.0

    idx = {"GGo1": [0, 1, 2, 3, 4], "GGo3": [0, 1, 2, 4, 5]}.get(model, [0, 1, 2, 3])
    head = {
        "GGd1": [etmiss, meff, aplanarity(jets)],
        "GGd2": [meff, aplanarity(jets)],
        "GGd3": [etmiss, meff, aplanarity(jets)],
        "GGd4": [etmiss, meff],
        "GGo1": [meff, aplanarity(jets)],
        "GGo2": [meff, aplanarity(jets)],
        "GGo3": [meff, aplanarity(jets)],
        "GGo4": [meff, etmiss],
    }[model]
    return np.array(head + [pt(k) for k in idx] + [eta(k) for k in idx])


@pytest.fixture(scope="module")
def table():
    return golden.reco_table(EVENTS)


@pytest.fixture(scope="module")
def ana():
    return golden.compile(ID)


@pytest.fixture(scope="module")
def result(ana, table):
    return ana.run_table(table)


@pytest.fixture(scope="module")
def sessions():
    """onnxruntime (Python) sessions per model and file: weight1 for even event numbers, weight2 odd."""
    definition = load_definition(find_definition(ID))
    out = {}
    for name, card in definition.doc["models"].items():
        for f in card["files"]:
            data = load_model(definition.directory / str(f["file"]), str(f["sha256"]))
            out[(str(name), int(f["route"]))] = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return out


def reference_score(sessions, model, key, number):
    s = sessions[(model, number % 2)]
    x = bdt_features(model, key).astype(np.float32)[None, :]
    return float(s.run(None, {s.get_inputs()[0].name: x})[0].ravel()[0])


KEYS = "ABCDE"


def test_hand_written_events_are_what_the_comments_say():
    # the overlap geometry the events rely on
    def dr(a, b):
        dphi = (a[2] - b[2] + math.pi) % (2 * math.pi) - math.pi
        return math.hypot(a[1] - b[1], dphi)

    assert 0.2 < dr((0, -0.2, -1.3), (0, -0.2, -1.6)) < 0.4  # A: electron removed, jet kept
    assert dr((0, 0.55, 2.05), (0, 0.5, 2.0)) < 0.2  # B: jet removed
    assert min(dr((0, 0.55, 2.05), j) for j in SIGNAL_JETS["B"]) > 0.4  # B: electron kept
    assert aplanarity(SIGNAL_JETS["A"]) < 0.04


@pytest.mark.parametrize("k", range(len(KEYS)))
def test_variables(result, k):
    key = KEYS[k]
    for name, want in zip(VARIABLE_NAMES, VARIABLES[key], strict=True):
        got = result.variable(name)[k]
        if math.isnan(want):
            assert math.isnan(got), (key, name)
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (key, name)
    if VARIABLES[key][1] >= 2:
        assert result.variable("ap")[k] == pytest.approx(aplanarity(SIGNAL_JETS[key]), rel=1e-9, abs=1e-12)


def test_model_inputs_are_the_signal_jets(table):
    """Every input of the 8 cards, in the spec's order, for every event: the (K+1)-th signal jet
    (not the forward jet of A or C, not the jet of B removed by the electron), 0 when absent."""
    gathered = golden.model_inputs(ID, table)
    assert set(gathered) == set(BDT_THRESHOLDS)
    for model, x in gathered.items():
        for k, key in enumerate(KEYS):
            want = bdt_features(model, key)
            np.testing.assert_allclose(x[k], want, rtol=1e-12, atol=1e-12, err_msg=f"{model} event {key}")


def test_scores_equal_onnxruntime_on_the_hand_features(result, sessions):
    for model in BDT_THRESHOLDS:
        for k, key in enumerate(KEYS):
            want = reference_score(sessions, model, key, EVENTS[k]["number"])
            assert result.variable(f"bdt_{model}")[k] == pytest.approx(want, abs=2e-6), (model, key)


def test_signal_region_membership(result, sessions):
    regions = [str(r) for r in result.cutflows]
    for k, key in enumerate(KEYS):
        want = set(PASSED[key])
        for model in BDT_PRESELECTED[key]:
            if reference_score(sessions, model, key, EVENTS[k]["number"]) >= BDT_THRESHOLDS[model]:
                want.add(f"SR-BDT-{model}")
        got = {r for r in regions if result.region_mask(r)[k]}
        assert got == want, key


def test_bdt_preselection(ana):
    """The BDT regions' cuts before the score cut, as the spec lists them (first failed = the score)."""
    for k, key in enumerate(KEYS):
        for model in BDT_THRESHOLDS:
            first = golden.first_failed_cut(ana, EVENTS[k], f"SR-BDT-{model}")
            if model in BDT_PRESELECTED[key]:
                assert first in (None, f"BDT {model} >= {BDT_THRESHOLDS[model]:g}"), (key, model)
            else:
                assert first is not None, (key, model)
                assert not first.startswith("BDT"), (key, model)


@pytest.mark.parametrize(("key", "region"), sorted(FIRST_FAILED))
def test_first_failed_cut(ana, key, region):
    assert golden.first_failed_cut(ana, EVENTS[KEYS.index(key)], region) == FIRST_FAILED[(key, region)]
