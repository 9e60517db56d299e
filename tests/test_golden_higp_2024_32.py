"""Golden events for ATLAS-HIGP-2024-32 (shared/specs/ATLAS-HIGP-2024-32.md): HHH -> 6b.

Hand-built reconstructed events (objects after the detector, given directly). Each Higgs candidate
is built from two massless jets of equal pT and equal eta, an angle dphi apart, so that its mass and
pT are exact by hand: m = 2 pT sin(dphi/2), pT(pair) = 2 pT cos(dphi/2) (spec 3.1 pairing works on
these), dR(pair) = dphi. With sin(dphi/2) = 0.6 (cos = 0.8) or 0.8 (cos = 0.6):

    H1: two 100 GeV jets, sin = 0.6   -> m = 120,   pT = 160,  dR = 2 asin(0.6)
    H2: two 72 GeV jets,  sin = 0.8   -> m = 115.2, pT = 86.4, dR = 2 asin(0.8)
    H3: two 68.75 GeV jets, sin = 0.8 -> m = 110,   pT = 82.5, dR = 2 asin(0.8)

so the expected pairing is the generating one, with D = |120-120| + |115.2-115| + |110-110| = 0.2,
mHradius = 0.2, mHcosTheta = 0.2 / (sqrt(3) 0.2) = 1/sqrt(3), mH1 = 120, H_T(6j) = 481.5 (all
written below by hand; a brute force over the 15 partitions, in numpy, checks that no other
pairing comes closer). The other features (RMS of the 15 pair masses / dR, RMS of eta,
massfraceta, skewness of cosh(deta) - cos(dphi), the event shapes of spec 4) are computed here
from their spec formulas with numpy, independently of the core. The DNN inputs are then
normalised by hand with the *_variables.json of the file the event must use, in that network's
order (spec 4.1), and scored with onnxruntime (Python): the core's scores must equal them, and the
SR bin follows from the spec's bin edges (spec 6).

Routing (spec 5.1, default k-fold convention): an odd event number uses the *_even model, an even
one the *_odd model; with parameters cm_mapping = 1 ([CM]) the other way round.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import onnxruntime as ort
import pytest

import golden
from recast_ml.analysis import find_definition, load_definition, load_model

ID = "ATLAS-HIGP-2024-32"
S6, C6 = 0.6, 0.8  # sin, cos of dphi/2 for H1
S8, C8 = 0.8, 0.6  # for H2, H3
DPHI_6 = 2 * math.asin(S6)
DPHI_8 = 2 * math.asin(S8)


def jet(pt, eta, phi, b=True):
    return {"pt": pt, "eta": eta, "phi": phi, "btag_DL1r_77": b}


def pair(pt, eta, phi0, dphi, b=(True, True)):
    """Two massless jets of equal pT and eta at phi0 -/+ dphi/2 (phi wrapped into [-pi, pi))."""

    def wrap(phi):
        return (phi + math.pi) % (2 * math.pi) - math.pi

    return [jet(pt, eta, wrap(phi0 - dphi / 2), b[0]), jet(pt, eta, wrap(phi0 + dphi / 2), b[1])]


# A: six b-jets, three exact Higgs candidates (H1 at phi 0, H2 at 2.2, H3 at -2.0), event number
#    10 (even -> the *_odd models). Also a forward b-jet (|eta| = 2.7: no jet at all).
EVENT_A = {
    "number": 10,
    "jets": [
        *pair(100, 0.5, 0.0, DPHI_6),
        *pair(72, -0.4, 2.2, DPHI_8),
        *pair(68.75, 1.1, -2.0, DPHI_8),
        jet(90, 2.7, 1.0),
    ],
}
# B: five b-jets + non-b jets, event number 7 (odd -> the *_even models). A 200 GeV non-b jet
#    0.1 from a loose isolated electron is removed by overlap removal (non-b jet within dR < 0.2),
#    so the leading remaining non-b jet is one jet of H3 (68.75 GeV); a 45 GeV non-b jet is not used.
EVENT_B = {
    "number": 7,
    "jets": [
        *pair(100, -0.2, 1.0, DPHI_6),
        *pair(72, 0.7, -1.5, DPHI_8),
        *pair(68.75, -1.0, 3.0, DPHI_8, b=(True, False)),
        jet(200, 0.3, -0.3, b=False),
        jet(45, 1.8, 0.4, b=False),
    ],
    "electrons": [{"pt": 50, "eta": 0.3, "phi": -0.2, "wp_loose": True, "iso_ptvarcone20": 0.0}],
}
# C: four b-jets (>= 4 b-jets with pT > 40) and two non-b jets: passes the preselection, neither 6b
#    nor 5b (the 4b events are not used).
EVENT_C = {
    "number": 3,
    "jets": [
        *pair(100, 0.5, 0.0, DPHI_6),
        *pair(72, -0.4, 2.2, DPHI_8),
        *pair(68.75, 1.1, -2.0, DPHI_8, b=(False, False)),
    ],
}
# D: six jets above 40 GeV but one b-jet: fails the trigger emulation (>= 2 b-jets with pT > 35).
EVENT_D = {
    "number": 4,
    "jets": [
        *pair(100, 0.5, 0.0, DPHI_6, b=(True, False)),
        *pair(72, -0.4, 2.2, DPHI_8, b=(False, False)),
        *pair(68.75, 1.1, -2.0, DPHI_8, b=(False, False)),
    ],
}
EVENTS = [EVENT_A, EVENT_B, EVENT_C, EVENT_D]
KEYS = "ABCD"

# the six reconstructed jets (spec 3 step 7), pT-ordered, and the pairing, by hand: indices into
# these six, H1..H3 ordered by pair pT
SIX = {
    "A": list(EVENT_A["jets"][:6]),
    "B": list(EVENT_B["jets"][:6]),
}
PAIRING = {"A": [(0, 1), (2, 3), (4, 5)], "B": [(0, 1), (2, 3), (4, 5)]}
# hand-written features shared by A and B (the same three candidates)
HAND = {
    "mH1": 120.0,
    "mH2": 115.2,
    "mH3": 110.0,
    "dRH1": DPHI_6,
    "dRH2": DPHI_8,
    "dRH3": DPHI_8,
    "mHradius": 0.2,
    "mHcosTheta": 1 / math.sqrt(3),
    "htbjet": 2 * (100 + 72 + 68.75),
}
# regions passed (before the DNN bins), by hand
PASSED = {"A": {"presel", "SR-6b"}, "B": {"presel", "CR-5b"}, "C": {"presel"}, "D": set()}
FIRST_FAILED = {
    ("C", "SR-6b"): ">= 6 b-jets",
    ("C", "CR-5b"): "== 5 b-jets",
    ("D", "presel"): "trigger: >= 2 b35 and >= 4 j35",
    ("A", "CR-5b"): "== 5 b-jets",
    ("B", "SR-6b"): ">= 6 b-jets",
}
NETS = {"nonres": "nonresDNN", "res": "resDNN", "heavyres": "heavyresDNN"}
# spec 6: lower edges of the bins (the last bin is closed at 1)
EDGES = {
    "nonres": [round(0.10 + 0.05 * k, 3) for k in range(18)] + [0.975],
    "res": [round(0.05 + 0.05 * k, 3) for k in range(19)],
    "heavyres": [round(0.10 + 0.05 * k, 3) for k in range(18)],
}


# ---- the spec's formulas, in numpy (independent of the core) --------------------------------------
def p4(j):
    pt, eta, phi = j["pt"], j["eta"], j["phi"]
    return np.array([pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), pt * math.cosh(eta)])


def mass(v):
    return math.sqrt(max(v[3] ** 2 - v[0] ** 2 - v[1] ** 2 - v[2] ** 2, 0.0))


def dphi(a, b):
    d = abs(a - b) % (2 * math.pi)
    return 2 * math.pi - d if d > math.pi else d


def dr(a, b):
    return math.hypot(a["eta"] - b["eta"], dphi(a["phi"], b["phi"]))


def rms(x):
    x = np.asarray(x, dtype=float)
    return math.sqrt(max(float(np.mean(x**2) - np.mean(x) ** 2), 0.0))


def brute_force_pairing(six):
    """All 15 partitions; D = sum |m_Hi - (120, 115, 110)_i| with H ordered by pair pT."""
    best = None
    for perm in itertools.permutations(range(6)):
        pairs = [tuple(sorted(perm[2 * i : 2 * i + 2])) for i in range(3)]
        if sorted(pairs) != pairs:
            continue  # each partition once
        sums = sorted((p4(six[a]) + p4(six[b]) for a, b in pairs), key=lambda v: -math.hypot(v[0], v[1]))
        d = sum(abs(mass(v) - t) for v, t in zip(sums, (120, 115, 110), strict=True))
        order = sorted(pairs, key=lambda ab: -math.hypot(*(p4(six[ab[0]]) + p4(six[ab[1]]))[:2]))
        if best is None or d < best[0]:
            best = (d, order)
    assert best is not None
    return best


def tensor_eigenvalues(jets, r, boost):
    """Eigenvalues (ascending, as the spec) of S^ab = sum |p|^(r-2) p^a p^b / sum |p|^r."""
    ps = np.array([p4(j) for j in jets])
    if boost:
        tot = ps.sum(axis=0)
        beta = tot[:3] / tot[3]
        b2 = float(beta @ beta)
        gamma = 1 / math.sqrt(1 - b2)
        out = []
        for p in ps:
            bp = float(p[:3] @ beta)
            out.append(p[:3] + ((gamma - 1) * bp / b2 - gamma * p[3]) * beta)
        vecs = np.array(out)
    else:
        vecs = ps[:, :3]
    a = np.linalg.norm(vecs, axis=1)
    s = np.einsum("i,ia,ib->ab", a ** (r - 2), vecs, vecs) / np.sum(a**r)
    return np.linalg.eigvalsh(s)


def features(key):
    """Every DNN input of the event by the spec's formulas (hand values where written above)."""
    six = SIX[key]
    pairs = list(itertools.combinations(range(6), 2))
    mbb = [mass(p4(six[i]) + p4(six[k])) for i, k in pairs]
    drbb = [dr(six[i], six[k]) for i, k in pairs]
    da = np.array(
        [math.cosh(six[i]["eta"] - six[k]["eta"]) - math.cos(six[i]["phi"] - six[k]["phi"]) for i, k in pairs]
    )
    m6 = mass(sum(p4(j) for j in six))
    frac = sum(2 * six[i]["pt"] * six[k]["pt"] * (math.cosh(six[i]["eta"] - six[k]["eta"]) - 1) for i, k in pairs)
    z = (da - da.mean()) / da.std()
    lin_b = tensor_eigenvalues(six, 1, True)
    quad_b = tensor_eigenvalues(six, 2, True)
    all_jets = [j for j in EVENTS[KEYS.index(key)]["jets"] if abs(j["eta"]) < 2.5 and j["pt"] > 20]
    lin_all = tensor_eigenvalues(all_jets, 1, False)
    f = dict(HAND)
    f |= {
        "rmsmBB": rms(mbb),
        "rmsdRBB": rms(drbb),
        "rmsEta": rms([j["eta"] for j in six]),
        "massfraceta": frac / m6**2,
        "skewnessdABB": float(np.mean(z**3)),
        "aplan3dv2b": 1.5 * lin_b[0],
        "sphere3dv2b": 1.5 * (lin_b[0] + lin_b[1]),
        "sphere3dv2": 1.5 * (lin_all[0] + lin_all[1]),
        "sphere3dbtrans": 2 * quad_b[1] / (quad_b[1] + quad_b[2]),
    }
    return f


def variables_json(net, parity):
    d = load_definition(find_definition(ID)).directory / "models"
    return json.loads((d / f"ANA-HIGP-2024-32_{NETS[net]}_model_{parity}_variables.json").read_text())


def parity_of(number, cm_mapping=0):
    """Spec 5.1: k-fold (default) -> odd events use *_even; [CM] -> odd events use *_odd."""
    return "even" if (number + cm_mapping) % 2 == 1 else "odd"


def normalised(net, parity, f):
    js = variables_json(net, parity)
    x = np.array([f[v] for v in js["variables"]])
    return (x - np.array(js["offset"])) / np.array(js["scale"])


@pytest.fixture(scope="module")
def sessions():
    definition = load_definition(find_definition(ID))
    out = {}
    for net, full in NETS.items():
        for parity in ("even", "odd"):
            card = definition.doc["models"][f"{net}_{parity}"]
            (f,) = card["files"]
            assert str(f["file"]).endswith(f"{full}_model_{parity}.onnx")
            data = load_model(definition.directory / str(f["file"]), str(f["sha256"]))
            out[(net, parity)] = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return out


def ort_score(sessions, net, parity, x):
    s = sessions[(net, parity)]
    return float(s.run(None, {s.get_inputs()[0].name: x.astype(np.float32)[None, :]})[0].ravel()[0])


def bin_of(net, score):
    edges = EDGES[net]
    k = max((i for i, e in enumerate(edges) if score >= e), default=None)
    return None if k is None else f"bin{k:02d}"


@pytest.fixture(scope="module")
def table():
    return golden.reco_table(EVENTS)


@pytest.fixture(scope="module")
def ana():
    return golden.compile(ID)


@pytest.fixture(scope="module")
def result(ana, table):
    return ana.run_table(table)


# ---- tests ------------------------------------------------------------------------------------
def test_hand_written_candidates_and_pairing():
    for key in "AB":
        six = SIX[key]
        assert [j["pt"] for j in six] == sorted((j["pt"] for j in six), reverse=True)
        d, order = brute_force_pairing(six)
        assert order == PAIRING[key]
        assert d == pytest.approx(0.2, abs=1e-9)
        for (a, b), m, dr_want in zip(PAIRING[key], ("mH1", "mH2", "mH3"), ("dRH1", "dRH2", "dRH3"), strict=True):
            assert mass(p4(six[a]) + p4(six[b])) == pytest.approx(HAND[m], rel=1e-12)
            assert dr(six[a], six[b]) == pytest.approx(HAND[dr_want], rel=1e-12)
    # B: the 200 GeV non-b jet is within 0.2 of the electron, the electron > 0.4 from the rest
    b_jets = EVENT_B["jets"]
    e = EVENT_B["electrons"][0]
    assert dr(b_jets[6], e) < 0.2
    assert min(dr(j, e) for j in b_jets[:6] + b_jets[7:]) > 0.4


@pytest.mark.parametrize("key", ["A", "B"])
def test_features(result, key):
    k = KEYS.index(key)
    for name, want in features(key).items():
        assert result.variable(name)[k] == pytest.approx(want, rel=1e-9, abs=1e-12), (key, name)


def test_no_features_without_six_reconstructed_jets(result):
    # C has 4 b-jets (reco_jets = the four b-jets): no pairing of six jets
    assert math.isnan(result.variable("mH1")[KEYS.index("C")])


@pytest.mark.parametrize("key", ["A", "B"])
def test_model_inputs_are_normalised_in_network_order(table, key):
    k = KEYS.index(key)
    gathered = golden.model_inputs(ID, table)
    f = features(key)
    for net in NETS:
        for parity in ("even", "odd"):
            want = normalised(net, parity, f)
            np.testing.assert_allclose(
                gathered[f"{net}_{parity}"][k], want, rtol=1e-9, atol=1e-9, err_msg=f"{net} {key}"
            )


@pytest.mark.parametrize("cm_mapping", [0, 1])
def test_scores_equal_onnxruntime_and_route_by_parity(ana, table, sessions, cm_mapping):
    result = ana.run_table(table, parameters={"cm_mapping": cm_mapping})
    for key in "AB":
        k = KEYS.index(key)
        number = EVENTS[k]["number"]
        parity = parity_of(number, cm_mapping)
        other = "odd" if parity == "even" else "even"
        f = features(key)
        for net in NETS:
            want = ort_score(sessions, net, parity, normalised(net, parity, f))
            wrong = ort_score(sessions, net, other, normalised(net, other, f))
            assert abs(want - wrong) > 1e-5  # the two files differ on this event by far more than the tolerance
            assert result.variable(f"{net}_score")[k] == pytest.approx(want, abs=2e-6), (key, net, cm_mapping)
            # the card of the other parity is not evaluated on this event
            assert math.isnan(result.variable(f"{net}_score_{other}")[k]), (key, net)
    for key in "CD":
        assert math.isnan(result.variable("nonres_score")[KEYS.index(key)])


def test_signal_region_bins(result, sessions):
    regions = [str(r) for r in result.cutflows]
    for k, key in enumerate(KEYS):
        want = set(PASSED[key])
        if key in "AB":
            kind = "SR" if key == "A" else "CR"
            parity = parity_of(EVENTS[k]["number"])
            for net, full in NETS.items():
                score = ort_score(sessions, net, parity, normalised(net, parity, features(key)))
                b = bin_of(net, score)
                if b is not None:
                    want.add(f"{full}-{kind}-{b}")
        got = {r for r in regions if result.region_mask(r)[k]}
        assert got == want, key


def test_binned_regions_are_the_published_ones():
    import csv

    definition = load_definition(find_definition(ID))
    with (definition.directory / "signal_regions.csv").open() as fh:
        published = {r["SR"] for r in csv.DictReader(line for line in fh if not line.startswith("#"))}
    ana = golden.compile(ID)
    regions = set(ana.run_table(golden.reco_table([{}])).cutflows)
    assert published <= regions
    assert len(published) == 19 + 19 + 18
    assert {r for r in regions if "-SR-bin" in r} == published


@pytest.mark.parametrize(("key", "region"), sorted(FIRST_FAILED))
def test_first_failed_cut(ana, key, region):
    assert golden.first_failed_cut(ana, EVENTS[KEYS.index(key)], region) == FIRST_FAILED[(key, region)]
