"""Golden events for ATLAS-SUSY-2016-07 (shared/specs/ATLAS-SUSY-2016-07.md).

Hand-built reconstructed events (objects after the detector, given directly). The objects are those
of ATLAS-SUSY-2018-22 (included), except baseline muons pT > 7 (spec 12); signal jets are the base
jets (pT > 20, |eta| < 2.8) surviving overlap removal with pT > 50, pT-ordered. The variables are
computed here from the hand-written signal jets by the spec's formulas (section 3): HT, m_eff(incl),
m_eff(Nj), MET/sqrt(HT), MET/m_eff(Nj), dphi over the three leading and over the other jets,
aplanarity (numpy eigenvalues), the large-R jets of the 2jB SRs (the 4-vector sums of the jet pairs
that anti-kt R = 1.0 merges, written out per event). Signal-region membership follows from the
spec's section 5 table, transcribed below (SR_TABLE), applied to those values; and the cuts that
differ from ATLAS-SUSY-2018-22 (preselection MET > 250, muon pT > 7, MET/sqrt(HT) > 14 / 18 (3j-1300,
U4), MET/m_eff(Nj), |eta| on j1-j6 (6j-1800, U5), the 2jB large-R masses) each have events on both
sides, checked by the first cut they fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import golden

ID = "ATLAS-SUSY-2016-07"


def jet(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi}


def muon(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi, "wp_loose": True, "wp_medium": True}


def electron(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi, "wp_loose": True, "wp_medium": True}


S_JETS = [(500, 0.2, 3.0), (400, -0.6, -2.8)]  # HT = 900, sqrt(HT) = 30
PAIR_DPHI = 0.3409  # two 250 GeV jets at this dphi have m ~ 85 GeV
EVENTS = {
    # P: MET 280, between 2016-07's 250 and 2018-22's 300: passes the preselection
    "P": {"jets": [jet(700, 0.3, 3.0), jet(600, -0.5, -2.9)], "met": {"pt": 280, "phi": 0.0}},
    # Q: MET 240 < 250
    "Q": {"jets": [jet(700, 0.3, 3.0), jet(600, -0.5, -2.9)], "met": {"pt": 240, "phi": 0.0}},
    # S: MET/sqrt(HT) = 450 / 30 = 15: passes 2j-1200 (> 14), fails 2j-1600 (> 18); a 6.5 GeV medium
    #    muon far from the jets is not a baseline muon (pT > 7; in 2018-22, pT > 6, it would veto)
    "S": {"jets": [jet(*j) for j in S_JETS], "muons": [muon(6.5, 1.0, 0.0)], "met": {"pt": 450, "phi": 0.0}},
    # S13: MET/sqrt(HT) = 405 / 30 = 13.5 < 14
    "S13": {"jets": [jet(*j) for j in S_JETS], "met": {"pt": 405, "phi": 0.0}},
    # Smu: S with a 7.5 GeV muon: a baseline muon -> vetoed
    "Smu": {"jets": [jet(*j) for j in S_JETS], "muons": [muon(7.5, 1.0, 0.0)], "met": {"pt": 450, "phi": 0.0}},
    # Se: S with a 60 GeV electron on top of a 45 GeV jet (dR 0.05: the jet is removed, not a
    #     signal jet anyway) -> one baseline electron -> vetoed
    "Se": {
        "jets": [jet(*j) for j in S_JETS] + [jet(45, 1.5, 0.5)],
        "electrons": [electron(60, 1.53, 0.54)],
        "met": {"pt": 450, "phi": 0.0},
    },
    # F: four jets, |eta| <= 1.1, MET/meff(4j) = 500 / 1600 = 0.3125 > 0.3
    "F": {
        "jets": [jet(400, 0.9, 2.5), jet(300, -1.0, -2.2), jet(250, 0.1, 1.4), jet(150, 1.1, -1.2)],
        "met": {"pt": 500, "phi": 0.0},
    },
    # F2: F with MET 450: MET/meff(4j) = 450 / 1550 = 0.290: fails 4j-1000 (> 0.3), passes 4j-1400 (> 0.25)
    "F2": {
        "jets": [jet(400, 0.9, 2.5), jet(300, -1.0, -2.2), jet(250, 0.1, 1.4), jet(150, 1.1, -1.2)],
        "met": {"pt": 450, "phi": 0.0},
    },
    # G: six jets, the fifth at |eta| = 2.3 (a signal jet outside |eta| < 2.0 on j1-j6, inside it on j1-j4)
    "G": {
        "jets": [
            jet(500, 0.3, 2.8),
            jet(400, -0.8, -2.5),
            jet(300, 1.2, 1.9),
            jet(200, -1.5, -1.7),
            jet(150, 2.3, 2.2),
            jet(120, -0.4, 1.2),
            jet(60, -3.1, 0.5),  # forward: not a base jet
        ],
        "met": {"pt": 700, "phi": 0.0},
    },
    # G6: six well-separated jets, all |eta| < 2.0, large aplanarity: the 5j/6j SRs
    "G6": {
        "jets": [
            jet(450, 0.5, 2.6),
            jet(380, -1.2, -2.4),
            jet(300, 1.6, 1.2),
            jet(250, -1.0, -0.9),
            jet(200, -1.7, 1.5),
            jet(150, 1.4, -1.6),
        ],
        "met": {"pt": 800, "phi": 0.0},
    },
    # K: three jets, MET/sqrt(HT) = 625 / sqrt(1350) = 17.0: between 16 (paper Table 2) and 18 (U4 default)
    "K": {"jets": [jet(800, 0.2, 3.0), jet(400, -0.5, -2.6), jet(150, 1.0, 2.2)], "met": {"pt": 625, "phi": 0.0}},
    # K2: K with MET 680: MET/sqrt(HT) = 18.5
    "K2": {"jets": [jet(800, 0.2, 3.0), jet(400, -0.5, -2.6), jet(150, 1.0, 2.2)], "met": {"pt": 680, "phi": 0.0}},
    # H: two pairs of jets 0.34 apart in phi: re-clustered (R = 1.0) into two large-R jets of m ~ 85 and 80
    "H": {
        "jets": [
            jet(260, 0.0, 2.0 - PAIR_DPHI / 2),
            jet(250, 0.0, 2.0 + PAIR_DPHI / 2),
            jet(240, 0.1, -2.0 + PAIR_DPHI / 2),
            jet(230, 0.1, -2.0 - PAIR_DPHI / 2),
        ],
        "met": {"pt": 700, "phi": 0.0},
    },
    # H2: H with the second pair opened to dphi = 0.6: its large-R mass ~ 139 > 110
    "H2": {
        "jets": [
            jet(260, 0.0, 2.0 - PAIR_DPHI / 2),
            jet(250, 0.0, 2.0 + PAIR_DPHI / 2),
            jet(240, 0.1, -2.0 + 0.3),
            jet(230, 0.1, -2.0 - 0.3),
        ],
        "met": {"pt": 700, "phi": 0.0},
    },
}
KEYS = list(EVENTS)
for _k, _key in enumerate(KEYS):
    EVENTS[_key]["number"] = _k

# signal jets by hand: every jet above except Se's 45 GeV jet (removed by the electron; below 50
# anyway) and G's forward jet (|eta| > 2.8)
SIGNAL_JETS = {k: [(j["pt"], j["eta"], j["phi"]) for j in ev["jets"] if j["pt"] > 50 and abs(j["eta"]) < 2.8]
               for k, ev in EVENTS.items()}  # fmt: skip
N_LEPTONS = dict.fromkeys(KEYS, 0) | {"Smu": 1, "Se": 1}
# the jet pairs anti-kt R = 1.0 merges into large-R jets (indices into the signal jets), by hand,
# for the 2jB events: H, H2: (0, 1) and (2, 3) (0.34 / 0.6 apart, the pairs > 1.8 apart); for the
# other events the reference is python fastjet on the signal jets
LARGE_R_PAIRS = {"H": [(0, 1), (2, 3)], "H2": [(0, 1), (2, 3)]}


def p4(jets):
    px = sum(pt * math.cos(phi) for pt, _, phi in jets)
    py = sum(pt * math.sin(phi) for pt, _, phi in jets)
    pz = sum(pt * math.sinh(eta) for pt, eta, _ in jets)
    e = sum(pt * math.cosh(eta) for pt, eta, _ in jets)  # massless jets
    return px, py, pz, e


def dphi(a, b):
    d = abs(a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def aplanarity(jets):
    """Spec 3: 3/2 x the smallest eigenvalue of M^ab = sum p^a p^b / sum |p|^2 over the signal jets."""
    p = np.array([[pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)] for pt, eta, phi in jets])
    return 1.5 * float(np.linalg.eigvalsh(p.T @ p / np.sum(p * p))[0])


def _pt_m(group):
    px, py, pz, e = p4(group)
    return math.hypot(px, py), math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))


def large_r(key):
    """(pT, m) of the large-R jets with pT > 50, pT-ordered: the hand-written pairs, else fastjet
    (anti-kt R = 1.0, E-scheme) on the signal jets."""
    jets = SIGNAL_JETS[key]
    if key in LARGE_R_PAIRS:
        out = [_pt_m([jets[i] for i in pair]) for pair in LARGE_R_PAIRS[key]]
    else:
        import fastjet

        pj = [fastjet.PseudoJet(*p4([j])) for j in jets]
        cs = fastjet.ClusterSequence(pj, fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0))
        out = [(j.pt(), math.sqrt(max(j.m2(), 0.0))) for j in cs.inclusive_jets()]
    return sorted((x for x in out if x[0] > 50), reverse=True)


def hand_variables(key):
    """The spec's section 3 variables of one event from its hand-written signal jets."""
    jets = SIGNAL_JETS[key]
    met = EVENTS[key]["met"]
    pts = [j[0] for j in jets]
    ht = sum(pts)
    nan = math.nan

    def meff_n(n):
        return met["pt"] + sum(pts[:n])

    fj = large_r(key)
    return {
        "etmiss": met["pt"],
        "n_jets": len(jets),
        "n_leptons": N_LEPTONS[key],
        "ht": ht,
        "meff": met["pt"] + ht,
        "meff4": meff_n(4),
        "meff5": meff_n(5),
        "meff6": meff_n(6),
        "met_sig": met["pt"] / math.sqrt(ht),
        "met_meff4": met["pt"] / meff_n(4),
        "met_meff5": met["pt"] / meff_n(5),
        "met_meff6": met["pt"] / meff_n(6),
        "dphi_123": min(dphi(j[2], met["phi"]) for j in jets[:3]),
        "dphi_rest": min((dphi(j[2], met["phi"]) for j in jets[3:]), default=nan),
        "ap": aplanarity(jets),
        "fj1_pt": fj[0][0] if len(fj) > 0 else nan,
        "fj1_m": fj[0][1] if len(fj) > 0 else nan,
        "fj2_pt": fj[1][0] if len(fj) > 1 else nan,
        "fj2_m": fj[1][1] if len(fj) > 1 else nan,
    }


# ------------------------------------------------------------------------------------------------
# spec section 5, transcribed: N_j >=, pT(j1) >, (N, pT(j_N) >), (n jets, |eta| <), dphi(j123) >,
# dphi(j>3) >, MET/sqrt(HT) >, (N, MET/meff(Nj) >), aplanarity >, meff >, boosted; all strict
# ------------------------------------------------------------------------------------------------
SR_TABLE = {
    "Meff-2j-1200": (2, 250, (2, 250), (2, 0.8), 0.8, 0.4, 14, None, None, 1200, False),
    "Meff-2j-1600": (2, 300, (2, 300), (2, 1.2), 0.8, 0.4, 18, None, None, 1600, False),
    "Meff-2j-2000": (2, 350, (2, 350), (2, 1.2), 0.8, 0.4, 18, None, None, 2000, False),
    "Meff-2j-2400": (2, 350, (2, 350), (2, 1.2), 0.8, 0.4, 18, None, None, 2400, False),
    "Meff-2j-2800": (2, 350, (2, 350), (2, 1.2), 0.8, 0.4, 18, None, None, 2800, False),
    "Meff-2j-3600": (2, 350, (2, 350), None, 0.8, 0.4, 18, None, None, 3600, False),
    "Meff-2j-2100": (2, 600, (2, 50), None, 0.4, 0.2, 26, None, None, 2100, False),
    "Meff-3j-1300": (3, 700, (3, 50), None, 0.4, 0.2, 18, None, None, 1300, False),
    "Meff-4j-1000": (4, 200, (4, 100), (4, 1.2), 0.4, 0.4, None, (4, 0.30), 0.04, 1000, False),
    "Meff-4j-1400": (4, 200, (4, 100), (4, 2.0), 0.4, 0.4, None, (4, 0.25), 0.04, 1400, False),
    "Meff-4j-1800": (4, 200, (4, 100), (4, 2.0), 0.4, 0.4, None, (4, 0.25), 0.04, 1800, False),
    "Meff-4j-2200": (4, 200, (4, 100), (4, 2.0), 0.4, 0.4, None, (4, 0.25), 0.04, 2200, False),
    "Meff-4j-2600": (4, 200, (4, 150), (4, 2.0), 0.4, 0.4, None, (4, 0.20), 0.04, 2600, False),
    "Meff-4j-3000": (4, 200, (4, 150), (4, 2.0), 0.4, 0.4, None, (4, 0.20), 0.04, 3000, False),
    "Meff-5j-1700": (5, 700, (5, 50), None, 0.4, 0.2, None, (5, 0.30), None, 1700, False),
    "Meff-5j-1600": (5, 200, (5, 50), None, 0.4, 0.2, None, (5, 0.15), 0.08, 1600, False),
    "Meff-5j-2000": (5, 200, (5, 50), None, 0.4, 0.4, 15, None, None, 2000, False),
    "Meff-5j-2600": (5, 200, (5, 50), None, 0.8, 0.4, 18, None, None, 2600, False),
    "Meff-6j-1200": (6, 200, (6, 50), (6, 2.0), 0.4, 0.2, None, (6, 0.25), None, 1200, False),
    "Meff-6j-1800": (6, 200, (6, 100), (6, 2.0), 0.4, 0.2, None, (6, 0.20), 0.04, 1800, False),
    "Meff-6j-2200": (6, 200, (6, 100), None, 0.4, 0.2, None, (6, 0.20), 0.08, 2200, False),
    "Meff-6j-2600": (6, 200, (6, 100), None, 0.4, 0.2, None, (6, 0.15), 0.08, 2600, False),
    "Meff-2jB-1600": (2, 200, (2, 50), None, 0.6, 0.4, 20, None, None, 1600, True),
    "Meff-2jB-2400": (2, 200, (2, 50), None, 0.6, 0.4, 20, None, None, 2400, True),
}


def presel(key):
    v = hand_variables(key)
    jets = SIGNAL_JETS[key]
    return v["n_leptons"] == 0 and v["etmiss"] > 250 and jets[0][0] > 200 and v["meff"] > 800 and v["n_jets"] >= 2


def in_sr(key, sr):
    nj, pt1, (n_pt, pt_n), eta, dphi_a, dphi_b, sig, ratio, ap, meff, boosted = SR_TABLE[sr]
    v = hand_variables(key)
    jets = SIGNAL_JETS[key]
    ok = presel(key) and len(jets) >= nj and jets[0][0] > pt1 and jets[n_pt - 1][0] > pt_n
    if not ok:
        return False
    ok &= eta is None or all(abs(j[1]) < eta[1] for j in jets[: eta[0]])
    ok &= v["dphi_123"] > dphi_a and (len(jets) <= 3 or v["dphi_rest"] > dphi_b)
    ok &= sig is None or v["met_sig"] > sig
    ok &= ratio is None or v[f"met_meff{ratio[0]}"] > ratio[1]
    ok &= ap is None or v["ap"] > ap
    ok &= v["meff"] > meff
    if boosted:
        ok &= all(v[f"fj{i}_pt"] > 200 and 60 < v[f"fj{i}_m"] < 110 for i in (1, 2))
    return bool(ok)


def expected_regions(key):
    return ({"presel"} if presel(key) else set()) | {sr for sr in SR_TABLE if in_sr(key, sr)}


# the first cut each event fails in selected regions (None: passes), by hand from the spec; the
# cases that differ from ATLAS-SUSY-2018-22 are on both sides of their cut
FIRST_FAILED = {
    ("P", "presel"): None,  # MET 280 > 250 (2018-22: > 300)
    ("P", "Meff-2j-1200"): "MET/sqrt(HT) > 14",
    ("Q", "presel"): "MET > 250, pT(j1) > 200, meff > 800",
    ("S", "Meff-2j-1200"): None,  # MET/sqrt(HT) 15 > 14; the 6.5 GeV muon is not a baseline muon
    ("S", "Meff-2j-1600"): "MET/sqrt(HT) > 18",
    ("S13", "Meff-2j-1200"): "MET/sqrt(HT) > 14",
    ("Smu", "Meff-2j-1200"): "0 baseline leptons",  # 7.5 GeV muon
    ("Se", "Meff-2j-1200"): "0 baseline leptons",
    ("F", "Meff-4j-1000"): None,  # MET/meff(4j) 0.3125 > 0.3, |eta| <= 1.1 < 1.2
    ("F", "Meff-4j-1800"): "meff > 1800",
    ("F2", "Meff-4j-1000"): "MET/meff(4j) > 0.3",
    ("F2", "Meff-4j-1400"): None,  # 0.290 > 0.25
    ("F", "Meff-2j-1200"): "|eta(j1,2)| < 0.8",  # |eta(j1)| = 0.9
    ("G", "Meff-6j-1800"): "|eta(j1,2,3,4,5,6)| < 2.0",  # j5 at 2.3 (U5: j1-j6)
    ("G", "Meff-6j-1200"): "|eta(j1,2,3,4,5,6)| < 2.0",
    ("G", "Meff-4j-1000"): "|eta(j1,2,3,4)| < 1.2",  # j3 at 1.2, j4 at 1.5
    ("G", "Meff-5j-1700"): "pT(j1) > 700",
    ("G", "Meff-5j-1600"): "aplanarity > 0.08",  # A = 0.062: above 4j's 0.04, below 0.08
    ("G", "Meff-6j-2200"): "aplanarity > 0.08",
    ("G6", "Meff-6j-1800"): None,
    ("G6", "Meff-6j-2600"): "meff > 2600",
    ("K", "Meff-3j-1300"): "MET/sqrt(HT) > 18",  # 17.0: between 16 and 18 (U4)
    ("K2", "Meff-3j-1300"): None,  # 18.5
    ("H", "Meff-2jB-1600"): None,
    ("H", "Meff-2jB-2400"): "meff > 2400",
    ("H2", "Meff-2jB-1600"): "2 large-R jets: pT > 200, 60 < m < 110",
}


@pytest.fixture(scope="module")
def table():
    return golden.reco_table([EVENTS[k] for k in KEYS])


@pytest.fixture(scope="module")
def ana():
    return golden.compile(ID)


@pytest.fixture(scope="module")
def result(ana, table):
    return ana.run_table(table)


def test_hand_written_events_are_what_the_comments_say():
    v = {k: hand_variables(k) for k in KEYS}
    assert v["S"]["met_sig"] == pytest.approx(15.0)
    assert v["S13"]["met_sig"] == pytest.approx(13.5)
    assert 16 < v["K"]["met_sig"] < 18 < v["K2"]["met_sig"]
    assert v["F"]["met_meff4"] > 0.3 > v["F2"]["met_meff4"] > 0.25
    assert 60 < v["H"]["fj1_m"] < 110
    assert 60 < v["H"]["fj2_m"] < 110
    assert v["H2"]["fj2_m"] > 110 or v["H2"]["fj1_m"] > 110
    assert 0.04 < v["G"]["ap"] < 0.08
    assert v["F"]["ap"] > 0.04
    # H: the pairs are within R = 1.0, the pairs are further apart than 1.0 (anti-kt merges each pair only)
    h = SIGNAL_JETS["H"]
    assert dphi(h[0][2], h[1][2]) < 1.0
    assert dphi(h[2][2], h[3][2]) < 1.0
    assert min(math.hypot(a[1] - b[1], dphi(a[2], b[2])) for a in h[:2] for b in h[2:]) > 1.0
    # H: fastjet merges the same pairs
    import fastjet

    cs = fastjet.ClusterSequence(
        [fastjet.PseudoJet(*p4([j])) for j in h], fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0)
    )
    assert sorted(len(j.constituents()) for j in cs.inclusive_jets()) == [2, 2]


@pytest.mark.parametrize("key", KEYS)
def test_variables(result, key):
    k = KEYS.index(key)
    for name, want in hand_variables(key).items():
        got = result.variable(name)[k]
        if math.isnan(want):
            assert math.isnan(got), (key, name)
        else:
            tol = 1e-3 if name.endswith("_m") else 1e-9  # the mass of one massless jet: float noise
            assert got == pytest.approx(want, rel=1e-9, abs=tol), (key, name)


def test_signal_region_membership(result):
    regions = [str(r) for r in result.cutflows]
    assert sorted(regions) == sorted(["presel", *SR_TABLE])
    for k, key in enumerate(KEYS):
        got = {r for r in regions if result.region_mask(r)[k]}
        assert got == expected_regions(key), key


def test_the_events_cover_the_signal_regions():
    """Every SR family has an event inside (the membership test is not vacuous)."""
    inside = {sr for key in KEYS for sr in expected_regions(key)}
    for family in ("2j-1200", "2j-1600", "3j-1300", "4j-1000", "4j-1400", "4j-2200", "5j-1600", "5j-2000",
                   "6j-2200", "2jB-1600"):  # fmt: skip
        assert f"Meff-{family}" in inside, family


@pytest.mark.parametrize(("key", "region"), sorted(FIRST_FAILED))
def test_first_failed_cut(ana, key, region):
    assert golden.first_failed_cut(ana, EVENTS[key], region) == FIRST_FAILED[(key, region)]
