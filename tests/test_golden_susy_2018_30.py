"""Golden events for ATLAS-SUSY-2018-30 (shared/specs/ATLAS-SUSY-2018-30.md).

Hand-built reconstructed events (objects after the detector, given directly). Every expected number
is written out from the spec: signal jets pT > 30, |eta| < 2.8 after the overlap removal (spec 2.1:
a non-b jet within 0.2 of an electron removed, then an electron within min(0.4, 0.04 + 10/pT) of a
jet removed); b-jets |eta| < 2.5 at the 77 % WP; m_eff = MET + sum pT(signal jets) + sum
pT(signal leptons); m_T of the leading signal lepton; m_T,min^b over the (up to) three leading
b-jets; dphi_min over the four leading jets; M_J^Sigma,4 = the masses of the trimmed anti-kt R = 0.8
reclusterings of the signal jets (spec 3). The jets of these events are massless and the
reclustered pairs are isolated (each pair within dR = 0.5, every other jet > 1.1 away, every
constituent above 10 % of its large-R jet), so each large-R mass is the pair mass
m^2 = 2 pT1 pT2 (cosh deta - cos dphi), computed below with math. Each variant event moves one
object across one key cut of the reference event A (0L) or L (1L).
"""

from __future__ import annotations

import copy
import math

import pytest

import golden
from recast_ml import ConfigError

ID = "ATLAS-SUSY-2018-30"


def jet(pt, eta, phi, b=False):
    return {"pt": pt, "eta": eta, "phi": phi, "btag_MV2c10_77": b, "n_tracks": 10}


def electron(pt, eta, phi, tight=True, iso=0.0):
    return {"pt": pt, "eta": eta, "phi": phi, "wp_loose": True, "wp_medium": tight, "wp_tight": tight,
            "iso_ptvarcone20": iso, "iso_topoetcone20": iso, "mass": 0.000511}  # fmt: skip


def muon(pt, eta, phi, iso=0.0):
    return {"pt": pt, "eta": eta, "phi": phi, "wp_loose": True, "wp_medium": True, "wp_tight": True,
            "iso_ptvarcone30": iso, "mass": 0.10566}  # fmt: skip


def pair_mass(pt1, eta1, phi1, pt2, eta2, phi2):
    return math.sqrt(2 * pt1 * pt2 * (math.cosh(eta1 - eta2) - math.cos(phi1 - phi2)))


def mt(pt, dphi, met):
    return math.sqrt(2 * pt * met * (1 - math.cos(dphi)))


# A (0L): six signal jets, three b-tagged; j4 is 0.5 from j1 and j6 0.5 from j2 (two massive
# large-R jets), j3 and j5 are large-R jets of their own; MET 800 along phi = 0.
JETS_A = [
    jet(700, 0.0, 3.0, b=True),
    jet(500, 1.0, -2.0, b=True),
    jet(400, -1.0, 1.5, b=True),
    jet(300, 0.3, 2.6),
    jet(200, -1.5, -1.2),
    jet(100, 1.3, -2.4),
]
EVENT_A = {"number": 1, "jets": JETS_A, "met": {"pt": 800, "phi": 0.0}}
M_J1 = pair_mass(700, 0.0, 3.0, 300, 0.3, 2.6)  # 228.5
M_J2 = pair_mass(500, 1.0, -2.0, 100, 1.3, -2.4)  # 111.5
MJ_A = M_J1 + M_J2  # 340.0: > 300 (Gtt-0L-B, M1)
MTB_A = min(mt(700, 3.0, 800), mt(500, 2.0, 800), mt(400, 1.5, 800))  # b-jet j3: 771


def variant(base, number, **changes):
    ev = copy.deepcopy(base)
    ev["number"] = number
    for k, v in changes.items():
        ev[k] = v
    return ev


# A2: MET 690 -> m_eff = 690 + 2200 = 2890, just below Gtt-0L-B's 2900 (still > 2600: Gbb-B)
EVENT_A2 = variant(EVENT_A, 2, met={"pt": 690, "phi": 0.0})
# A3: j4 moved to phi = 0.3: dphi(j4, MET) = 0.3 < 0.4 fails the 0L channel (it no longer merges with j1)
EVENT_A3 = variant(EVENT_A, 3, jets=[*JETS_A[:3], jet(300, 0.3, 0.3), *JETS_A[4:]])
# A4: j6 b-tagged: 4 b-jets -> Gtb-M (>= 6 jets, >= 4 b) passes
EVENT_A4 = variant(EVENT_A, 4, jets=[*JETS_A[:5], jet(100, 1.3, -2.4, b=True)])
# A5: a loose (not tight) electron far from every jet: a baseline lepton (0L vetoed), not a signal
#     lepton (no 1L either)
EVENT_A5 = variant(EVENT_A, 5, electrons=[electron(50, 2.0, 0.5, tight=False)])
# A6: a tight electron 0.1 from the b-jet j3: the b-jet is kept (only non-b jets are removed near
#     electrons), the electron removed (0.1 < min(0.4, 0.04 + 10/50)) -> A again (0L)
EVENT_A6 = variant(EVENT_A, 6, electrons=[electron(50, -1.0, 1.6)])
# A7: a tight isolated electron 0.1 from the non-b jet j5: the jet is removed, the electron stays
#     -> 1L with 5 jets, m_eff = 800 + 2000 + 60
EVENT_A7 = variant(EVENT_A, 7, electrons=[electron(60, -1.5, -1.1)])
# L (1L): A plus an isolated 100 GeV muon at phi = -1.0: m_T = 271 (> 200)
EVENT_L = variant(EVENT_A, 10, muons=[muon(100, 0.5, -1.0)])
# L2: the muon at phi = -0.6: m_T = 167 (> 150 for Gtt-1L-B, < 200 for Gtt-1L-M1)
EVENT_L2 = variant(EVENT_A, 11, muons=[muon(100, 0.5, -0.6)])
# L3: the muon not isolated (ptvarcone30/pT = 0.1 > 0.06): baseline, not signal -> no channel
EVENT_L3 = variant(EVENT_A, 12, muons=[muon(100, 0.5, -1.0, iso=0.1)])
# L4: L with MET 250: fails every SR's MET cut but passes the preselection (> 200)
EVENT_L4 = variant(EVENT_L, 13, met={"pt": 250, "phi": 0.0})

# M1: a 25 GeV muon 0.25 from the non-b jet j5, which has 2 tracks: the jet is removed (< 3 tracks
#     within min(0.4, 0.04 + 10/25) of the muon), the muon stays -> 1L with 5 jets, m_T = 129 (< 150)
J5_FEW_TRACKS = dict(jet(200, -1.5, -1.2), n_tracks=2)
EVENT_M1 = variant(EVENT_A, 14, jets=[*JETS_A[:4], J5_FEW_TRACKS, JETS_A[5]], muons=[muon(25, -1.5, -0.95)])
# M2: the same muon, j5 with 10 tracks: the jet stays and the muon (within 0.4 of it) is removed -> A (0L)
EVENT_M2 = variant(EVENT_A, 15, muons=[muon(25, -1.5, -0.95)])

EVENTS = {
    "A": EVENT_A, "A2": EVENT_A2, "A3": EVENT_A3, "A4": EVENT_A4, "A5": EVENT_A5, "A6": EVENT_A6,
    "A7": EVENT_A7, "L": EVENT_L, "L2": EVENT_L2, "L3": EVENT_L3, "L4": EVENT_L4, "M1": EVENT_M1, "M2": EVENT_M2,
}  # fmt: skip
NAN = math.nan
HT_A = 2200.0
# by hand: etmiss, n_jets, n_b, n_base_lep, n_sig_lep, meff, mT, mTb_min, dphi_min_4j, mj_sum4
VARIABLES = {
    "A": (800, 6, 3, 0, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "A2": (690, 6, 3, 0, 0, 690 + HT_A, NAN, min(mt(700, 3.0, 690), mt(500, 2.0, 690), mt(400, 1.5, 690)), 1.5, MJ_A),
    "A3": (800, 6, 3, 0, 0, 800 + HT_A, NAN, MTB_A, 0.3, M_J2),
    "A4": (800, 6, 4, 0, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "A5": (800, 6, 3, 1, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "A6": (800, 6, 3, 0, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "A7": (800, 5, 3, 1, 1, 800 + 2000 + 60, mt(60, 1.1, 800), MTB_A, 1.5, MJ_A),
    "L": (800, 6, 3, 1, 1, 800 + HT_A + 100, mt(100, 1.0, 800), MTB_A, 1.5, MJ_A),
    "L2": (800, 6, 3, 1, 1, 800 + HT_A + 100, mt(100, 0.6, 800), MTB_A, 1.5, MJ_A),
    "L3": (800, 6, 3, 1, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "M1": (800, 5, 3, 1, 1, 800 + 2000 + 25, mt(25, 0.95, 800), MTB_A, 1.5, MJ_A),
    "M2": (800, 6, 3, 0, 0, 800 + HT_A, NAN, MTB_A, 1.5, MJ_A),
    "L4": (250, 6, 3, 1, 1, 250 + HT_A + 100, mt(100, 1.0, 250),
           min(mt(700, 3.0, 250), mt(500, 2.0, 250), mt(400, 1.5, 250)), 1.5, MJ_A),
}  # fmt: skip
VARIABLE_NAMES = ("etmiss", "n_jets", "n_b", "n_base_lep", "n_sig_lep", "meff", "mT", "mTb_min", "dphi_min_4j",
                  "mj_sum4")  # fmt: skip

ZERO_L_A = {"presel", "presel-0L", "NN-common-Gtt", "NN-common-Gbb", "SR-Gtt-0L-B", "SR-Gbb-B", "SR-Gbb-M",
            "SR-Gbb-C", "SR-Gtb-B"}  # fmt: skip
ONE_L = {"presel", "presel-1L", "NN-common-Gtt", "SR-Gtt-1L-B", "SR-Gtt-1L-M1"}
# regions passed, by hand from the spec's tables (section 5)
PASSED = {
    "A": ZERO_L_A,
    "A2": ZERO_L_A - {"SR-Gtt-0L-B"},  # meff 2890 < 2900; Gbb-B (2600), Gtb-B (2500) still pass
    "A3": {"presel"},  # dphi_min_4j 0.3: no channel
    "A4": ZERO_L_A | {"SR-Gtb-M"},
    "A5": {"presel"},  # baseline, non-signal lepton: neither 0L nor 1L
    "A6": ZERO_L_A,
    "A7": ONE_L,  # meff 2860 > 2300, mT 229 > 200, 5 jets
    "L": ONE_L,
    "L2": ONE_L - {"SR-Gtt-1L-M1"},  # mT 167: > 150, < 200
    "L3": {"presel"},
    "L4": {"presel", "presel-1L", "NN-common-Gtt"},  # MET 250 < 300 (Gtt-1L-C), < 500, < 600
    "M1": {"presel", "presel-1L", "NN-common-Gtt"},  # mT 129 < 150
    "M2": ZERO_L_A,
}
# the first cut an event fails in a region it does not pass (reason written out)
FIRST_FAILED = [
    ("A2", "SR-Gtt-0L-B", "meff > 2900"),
    ("A3", "presel-0L", "dphi_min_4j > 0.4"),
    ("A", "SR-Gtb-M", "n_b >= 4"),
    ("A5", "presel-0L", "0 baseline leptons"),
    ("A5", "presel-1L", ">= 1 signal lepton"),
    ("L", "presel-0L", "0 baseline leptons"),
    ("L2", "SR-Gtt-1L-M1", "mT > 200"),
    ("L3", "presel-1L", ">= 1 signal lepton"),
    ("L4", "SR-Gtt-1L-C", "n_jets >= 9"),
    ("L", "SR-Gtt-1L-C", "n_jets >= 9"),
    ("A", "SR-Gtt-0L-M1", "n_jets >= 9"),
    ("L4", "SR-Gtt-1L-B", "etmiss > 600"),
    ("M1", "SR-Gtt-1L-B", "mT > 150"),
]


@pytest.fixture(scope="module")
def ana():
    return golden.compile(ID)


@pytest.fixture(scope="module")
def result(ana):
    return ana.run_table(golden.reco_table(list(EVENTS.values())))


def test_variables_by_hand(result):
    for k, key in enumerate(EVENTS):
        for name, want in zip(VARIABLE_NAMES, VARIABLES[key], strict=True):
            got = float(result.variable(name)[k])
            if math.isnan(want):
                assert math.isnan(got), (key, name, got)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-3), (key, name)  # abs: m of a massless jet ~ 1e-5


def test_signal_region_membership_by_hand(ana, result):
    nn = {"SR-Gtt-2100-1", "SR-Gtt-1800-1", "SR-Gtt-2300-1200", "SR-Gtt-1900-1400", "SR-Gbb-2800-1400",
          "SR-Gbb-2300-1000", "SR-Gbb-2100-1600", "SR-Gbb-2000-1800"}  # fmt: skip
    ran = [r for r in ana.regions if r not in ana.unavailable]
    assert set(ana.unavailable) == nn  # the pNN is not public: its 8 SRs did not run
    assert len([r for r in ran if r.startswith("SR-")]) == 14
    for k, key in enumerate(EVENTS):
        got = {r for r in ran if bool(result.region_mask(r)[k])}
        assert got == PASSED[key], key


@pytest.mark.parametrize(("key", "region", "cut"), FIRST_FAILED)
def test_first_failed_cut(ana, key, region, cut):
    assert golden.first_failed_cut(ana, EVENTS[key], region) == cut


def test_large_r_jets_and_the_cap_at_four(ana):
    # five isolated massive pairs: M_J^Sigma,4 sums the four leading (pT-ordered) large-R jets only
    jets, masses = [], []
    for _k, (phi, pt) in enumerate([(-2.6, 500), (-1.3, 400), (0.0, 300), (1.3, 250), (2.4, 200)]):
        jets += [jet(pt, 0.0, phi), jet(pt / 2, 0.4, phi + 0.3)]
        masses.append(pair_mass(pt, 0.0, phi, pt / 2, 0.4, phi + 0.3))
    res = ana.run_table(golden.reco_table([{"jets": jets, "met": {"pt": 300, "phi": 0.0}}]))
    assert float(res.variable("mj_sum4")[0]) == pytest.approx(sum(masses[:4]), rel=1e-9, abs=1e-3)
    # trimming: a constituent below 10 % of its large-R jet's pT is dropped (its mass contribution too)
    soft = [jet(800, 0.0, 0.0), jet(60, 0.3, 0.4)]  # 60 < 0.1 x 860: the large-R jet is j1 alone, m = 0
    res = ana.run_table(golden.reco_table([{"jets": soft, "met": {"pt": 300, "phi": 3.0}}]))
    assert float(res.variable("mj_sum4")[0]) == pytest.approx(0.0, abs=1e-3)
    kept = [jet(800, 0.0, 0.0), jet(100, 0.3, 0.4)]  # 100 > 0.1 x 900: kept
    res = ana.run_table(golden.reco_table([{"jets": kept, "met": {"pt": 300, "phi": 3.0}}]))
    assert float(res.variable("mj_sum4")[0]) == pytest.approx(pair_mass(800, 0, 0, 100, 0.3, 0.4), rel=1e-9)


# ---- the signal models of spec section 10 (recast_ml.slha) ----
@pytest.mark.parametrize(
    ("model", "masses", "children"),
    [
        ("gluino_gtt", (1900, 1400), {(-6, 6, 1000022)}),
        ("gluino_gbb", (2000, 1800), {(-5, 5, 1000022)}),
        ("gluino_gtb", (1800, 1000), {(-1000024, -5, 6), (-6, 5, 1000024)}),
    ],
)
def test_pythia_decays_the_gluinos_as_the_spec_says(model, masses, children):
    from recast_ml import slha
    from recast_ml.pythia import simplified_model_generator
    from recast_ml.run import _XSEC_OF_MODEL
    from test_slha import decays

    assert slha.PROCESS_OF_MODEL[model] == "gluino"
    assert _XSEC_OF_MODEL[model] == ("gluino", {})
    events = simplified_model_generator(model, *masses, seed=30).generate(6)
    seen = set()
    for i in range(len(events)):
        kids = decays(events, i, 1000021)
        assert len(kids) == 2  # a gluino pair, each decayed
        seen |= {tuple(k) for k in kids}
        if model == "gluino_gtb":  # chi1+- (m(chi1) + 2 GeV) -> chi1 pi+-
            for c in decays(events, i, 1000024) + decays(events, i, -1000024):
                assert sorted(abs(x) for x in c) == [211, 1000022]
    assert seen <= children
    assert seen
    spectrum = slha.model_spectrum(model, list(masses))
    assert spectrum.mass(1000021) == masses[0]
    assert spectrum.mass(1000022) == masses[1]
    if model == "gluino_gtb":
        assert spectrum.mass(1000024) == masses[1] + 2.0
    with pytest.raises(ConfigError, match="cannot decay"):
        slha.model_spectrum("gluino_gtt", [1400, 1300])  # 2 m_top + m_LSP > m_gluino
