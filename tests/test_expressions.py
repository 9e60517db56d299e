"""The analysis expression language: parser/type errors with positions, values against
hand-computed numbers, missing-value semantics, mT2 analytic cases, event shapes."""

from __future__ import annotations

import math

import awkward as ak
import mt2 as mt2_reference
import numpy as np
import pytest

from recast_ml import ConfigError, _core
from recast_ml.analysis import check_expression, evaluate, table_from_arrays


def obj(pt, eta, phi, mass=0.0, **extra):
    return {"pt": float(pt), "eta": float(eta), "phi": float(phi), "mass": float(mass), **extra}


@pytest.fixture(scope="module")
def table():
    jets = ak.Array(
        [
            [obj(120, 0.5, 0.1, 10, btag=True), obj(80, -1.0, 2.0, 5, btag=False)],
            [obj(200, 0.0, 0.0, 0, btag=False), obj(60, 1.0, 3.0, 0, btag=True), obj(40, 2.0, -3.0, 0, btag=False)],
            [],
        ]
    )
    electrons = ak.Array([[obj(30, 0.2, -1.0)], [], [obj(50, 1.5, 1.0)]])
    met = ak.Array([{"pt": 100.0, "phi": -2.0}, {"pt": 50.0, "phi": 1.0}, {"pt": 10.0, "phi": 0.0}])
    return table_from_arrays({"jets": jets, "electrons": electrons}, {"met": met})


def values(text, table):
    return evaluate(text, table).tolist()


def nan_equal(a, b):
    return all(
        (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-12, abs=1e-12)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jets[0].pt + jets[1].pt", [200, 260, math.nan]),
        ("count(jets)", [2, 3, 0]),
        ("count(jets.pt > 70)", [2, 1, 0]),
        ("any(jets.btag)", [1, 1, 0]),
        ("all(jets.pt > 50)", [1, 0, 1]),  # all() of an empty list is true
        ("sum(jets.pt)", [200, 300, 0]),
        ("min(jets.pt)", [80, 40, math.nan]),
        ("max(jets.pt)", [120, 200, math.nan]),
        ("max(3, 7, 5)", [7, 7, 7]),
        ("HT(jets[0:2])", [200, 260, 0]),
        ("HT(jets[1:])", [80, 100, 0]),
        ("jets[-1].pt", [80, 40, math.nan]),
        ("jets[2].pt > 30", [math.nan, 1, math.nan]),
        ("not (jets[2].pt > 30)", [math.nan, 0, math.nan]),
        ("jets[2].pt > 30 or count(jets) == 2", [1, 1, math.nan]),
        ("jets[2].pt > 30 and count(jets) == 3", [0, 1, 0]),
        ("count(select(jets, pt > 50 and abs(eta) < 1))", [1, 1, 0]),
        ("count(select(jets, btag))", [1, 1, 0]),
        ("HT(select(jets, this.pt < 100))", [80, 100, 0]),
        ("meff(jets)", [300, 350, 10]),
        ("meff(jets, 1)", [220, 250, 10]),
        ("met.pt / sqrt(HT(jets))", [100 / math.sqrt(200), 50 / math.sqrt(300), math.nan]),
        ("met_over_sqrt_ht(jets)", [100 / math.sqrt(200), 50 / math.sqrt(300), math.nan]),
        ("if(count(jets) > 2, 1, 0)", [0, 1, 0]),
        ("1 / (count(jets) - 2)", [math.nan, 1, -0.5]),
        ("2 ** 3 - -1", [9, 9, 9]),
        ("abs(jets.eta)[1]", [1.0, 1.0, math.nan]),
        ("count(abs(jets.eta) < 1.5)", [2, 2, 0]),
        ("cos(pi)", [-1, -1, -1]),
    ],
)
def test_values(table, text, expected):
    got = values(text, table)
    assert nan_equal(got, expected), f"{text}: {got} != {expected}"


def test_kinematic_functions_against_hand_formulas(table):
    # dphi folds into [0, pi]: |2.0 - (-2.0)| = 4.0 -> 2 pi - 4
    assert nan_equal(values("dphi(jets[1], met)", table), [2 * math.pi - 4.0, 2.0, math.nan])
    assert nan_equal(values("dR(jets[0], jets[1])", table), [math.hypot(1.5, 1.9), math.hypot(1.0, 3.0), math.nan])
    # mT of a massless electron with MET: sqrt(2 pT MET (1 - cos dphi))
    assert nan_equal(
        values("mT(electrons[0], met)", table),
        [math.sqrt(2 * 30 * 100 * (1 - math.cos(1.0))), math.nan, math.sqrt(2 * 50 * 10 * (1 - math.cos(1.0)))],
    )
    # massive objects: mT^2 = m1^2 + m2^2 + 2 (ET1 ET2 - pT1.pT2)
    et1, et2 = math.hypot(120, 10), math.hypot(80, 5)
    mt_hand = math.sqrt(100 + 25 + 2 * (et1 * et2 - 120 * 80 * math.cos(0.1 - 2.0)))
    assert values("mT(jets[0], jets[1])", table)[0] == pytest.approx(mt_hand, rel=1e-12)

    def p4(pt, eta, phi, m):
        px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
        return np.array([math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz])

    s = p4(120, 0.5, 0.1, 10) + p4(80, -1.0, 2.0, 5)
    assert values("m(jets[0], jets[1])", table)[0] == pytest.approx(
        math.sqrt(s[0] ** 2 - s[1] ** 2 - s[2] ** 2 - s[3] ** 2), rel=1e-12
    )
    assert values("m(jets)", table)[0] == pytest.approx(values("m(jets[0], jets[1])", table)[0], rel=1e-12)
    assert values("vpt(jets)", table)[0] == pytest.approx(math.hypot(s[1], s[2]), rel=1e-12)
    # min over the first N jets of dphi(jet, MET); missing without jets
    assert nan_equal(
        values("min_dphi(jets, met)", table),
        [min(2.1, 2 * math.pi - 4.0), min(1.0, 2.0, math.pi - 4.0 + 2 * math.pi - math.pi), math.nan],
    )
    assert nan_equal(values("min_dphi(jets, met, 1)", table), [2.1, 1.0, math.nan])


def test_mt2_analytic_cases():
    # (1) massless visible and invisible particles, no upstream momentum: mT2 = mCT,
    #     mCT^2 = 2 (|pa||pb| + pa.pb)  (Cho, Choi, Kim, Park, arXiv:0709.0288; Tovey 0802.2879)
    rng = np.random.default_rng(2)
    for _ in range(20):
        pa, pb = rng.normal(0, 100, 2), rng.normal(0, 100, 2)
        met = -(pa + pb)
        mct = math.sqrt(2 * (np.linalg.norm(pa) * np.linalg.norm(pb) + pa @ pb))
        assert _core.mt2(0, *pa, 0, *pb, *met, 0, 0) == pytest.approx(mct, rel=1e-8)
    # (2) unbalanced solution: if the unconstrained minimum of mT(a, q) (= m_a + chi at q = chi/m_a pT_a)
    #     leaves the b side below it, mT2 = m_a + chi exactly.
    #     a: m = 100, pT = (50, 0); chi = 50 -> q_a = (25, 0); b massless (10, 0), q_b = (5, 0): mT(b) = 58.4
    assert _core.mt2(100, 50, 0, 0, 10, 0, 30, 0, 50, 50) == pytest.approx(150.0, rel=1e-9)
    # (3) lower bound max(m_a, m_b) + chi and the reference ufunc (same Lester-Nachman algorithm)
    for _ in range(50):
        ma, mb, chi = rng.uniform(0, 100, 3)
        pa, pb, met = rng.normal(0, 150, 2), rng.normal(0, 150, 2), rng.normal(0, 150, 2)
        v = _core.mt2(ma, *pa, mb, *pb, *met, chi, chi)
        assert v >= max(ma, mb) + chi - 1e-6
        assert v == pytest.approx(float(mt2_reference.mt2(ma, *pa, mb, *pb, *met, chi, chi)), rel=1e-9)


def test_mt2_in_expressions(table):
    # mT2 of the two leading jets with MET, massless invisibles, equal to the direct call
    pa = (120 * math.cos(0.1), 120 * math.sin(0.1))
    pb = (80 * math.cos(2.0), 80 * math.sin(2.0))
    m = (100 * math.cos(-2.0), 100 * math.sin(-2.0))
    direct = _core.mt2(10, *pa, 5, *pb, *m, 0, 0)
    assert values("mT2(jets[0], jets[1], met)", table)[0] == pytest.approx(direct, rel=1e-12)
    assert values("mT2(jets[0], jets[1], met, 50)", table)[0] >= 55.0
    assert math.isnan(values("mT2(jets[0], jets[1], met)", table)[2])


def shape_table(momenta):
    objs = []
    for px, py, pz in momenta:
        pt = math.hypot(px, py)
        objs.append(obj(pt, math.asinh(pz / pt), math.atan2(py, px)))
    return table_from_arrays({"jets": ak.Array([objs])}, {"met": ak.Array([{"pt": 0.0, "phi": 0.0}])})


@pytest.mark.parametrize(
    ("momenta", "sphericity", "aplanarity"),
    [
        ([(100, 0, 0), (-100, 0, 0)], 0.0, 0.0),  # back to back: linear
        (
            [(100 * math.cos(a), 100 * math.sin(a), 0) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)],
            0.75,
            0.0,
        ),  # planar
        ([(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)], 1.0, 0.5),  # tetrahedron: isotropic
        ([(50, 0, 0), (-50, 0, 0), (0, 50, 0), (0, -50, 0)], 0.75, 0.0),  # square in a plane
    ],
)
def test_event_shapes_on_symmetric_configurations(momenta, sphericity, aplanarity):
    t = shape_table(momenta)
    assert evaluate("sphericity(jets)", t)[0] == pytest.approx(sphericity, abs=1e-12)
    assert evaluate("aplanarity(jets)", t)[0] == pytest.approx(aplanarity, abs=1e-12)


def test_event_shape_against_numpy_eigenvalues():
    rng = np.random.default_rng(5)
    p = rng.normal(0, 80, (7, 3))
    t = shape_table(p)
    s = p.T @ p / np.sum(p**2)
    lam = np.sort(np.linalg.eigvalsh(s))[::-1]
    assert evaluate("aplanarity(jets)", t)[0] == pytest.approx(1.5 * lam[2], rel=1e-9)
    assert evaluate("sphericity(jets)", t)[0] == pytest.approx(1.5 * (lam[1] + lam[2]), rel=1e-9)


@pytest.mark.parametrize(
    ("text", "message", "col"),
    [
        ("jets.ptt > 3", "has no field 'ptt' (did you mean 'pt'?)", 6),
        ("count(jetz) > 1", "unknown name 'jetz' (did you mean 'jets'?)", 7),
        ("count(jets) = 2", "use '==' to compare", 13),
        ("(count(jets) > 1", "expected ')' to close '('", 17),
        ("jets.pt > 50 and met.pt", "needs bool operands, this is a bool list", 1),
        ("met.pt + (count(jets) > 2)", "needs numbers, this is a bool", 11),
        ("1 < count(jets) < 3", "comparisons do not chain", 17),
        ("dR(jets, met)", "argument 1 of dR must be a object or vector, this is a collection", 4),
        ("mT2(jets[0], met)", "mT2(...) takes 3 to 4 arguments, got 2", 1),
        ("frobnicate(jets)", "unknown function 'frobnicate'", 1),
        ("jets[0].pt $ 3", "unexpected character '$'", 12),
        ("this.pt > 3", "'this' is only defined inside a predicate", 1),
        ("count(jets) 3", "unexpected '3' after the end", 13),
        ("1.2.3 > 0", "malformed number '1.2.3'", 1),
    ],
)
def test_parse_and_type_errors_name_the_column(table, text, message, col):
    schema = _core.table_schema(table)
    with pytest.raises(ConfigError) as err:
        check_expression(text, schema)
    msg = str(err.value)
    assert message in msg
    assert f"<expression>:1:{col}:" in msg
    assert "^" in msg  # the caret under the offending column


def test_type_of_expressions(table):
    schema = _core.table_schema(table)
    assert check_expression("jets.pt", schema) == "number list"
    assert check_expression("jets.pt > 1", schema) == "bool list"
    assert check_expression("jets[0]", schema) == "object"
    assert check_expression("jets[0:2]", schema) == "collection"
    assert check_expression("jets[0].btag", schema) == "bool"
    assert check_expression("any(jets.btag) and met.pt > 3", schema) == "bool"


def test_lists_of_different_lengths_fail_at_run_time(table):
    with pytest.raises(Exception, match="different lengths"):
        evaluate("count(jets.pt > electrons.pt)", table)


def test_combinatorial_functions_against_brute_force(table):
    import itertools

    def p4(o):
        px, py, pz = o["pt"] * math.cos(o["phi"]), o["pt"] * math.sin(o["phi"]), o["pt"] * math.sinh(o["eta"])
        return np.array([math.sqrt(px * px + py * py + pz * pz + o["mass"] ** 2), px, py, pz])

    def mass(v):
        return math.sqrt(max(v[0] ** 2 - v[1] ** 2 - v[2] ** 2 - v[3] ** 2, 0))

    jets = [
        obj(120, 0.5, 0.1, 10),
        obj(80, -1.0, 2.0, 5),
        obj(60, 1.0, 3.0, 0),
        obj(40, 2.0, -3.0, 0),
        obj(30, -0.3, 1.2, 3),
    ]
    lep = obj(50, 0.4, -1.1)
    met_pt, met_phi = 90.0, 2.5
    t = table_from_arrays(
        {"jets": ak.Array([jets]), "electrons": ak.Array([[lep]])}, {"met": ak.Array([{"pt": met_pt, "phi": met_phi}])}
    )
    best = max(itertools.combinations(jets, 3), key=lambda c: math.hypot(*sum(p4(o) for o in c)[1:3]))
    assert evaluate("max_pt_mass(jets, 3)", t)[0] == pytest.approx(mass(sum(p4(o) for o in best)), rel=1e-12)
    met4 = np.array([met_pt, met_pt * math.cos(met_phi), met_pt * math.sin(met_phi), 0.0])
    best = max(
        itertools.combinations(jets, 3), key=lambda c: math.hypot(*(sum(p4(o) for o in c) + p4(lep) + met4)[1:3])
    )
    expected = mass(sum(p4(o) for o in best) + p4(lep) + met4)
    assert evaluate("max_pt_mass(jets, 3, electrons[0], met)", t)[0] == pytest.approx(expected, rel=1e-12)
    splits = []
    for mask in range(2 ** len(jets)):
        a = sum((p4(o) for k, o in enumerate(jets) if mask >> k & 1), np.zeros(4))
        b = sum((p4(o) for k, o in enumerate(jets) if not mask >> k & 1), np.zeros(4))
        splits.append(max(mass(a), mass(b)))
    assert evaluate("minmax_mass(jets)", t)[0] == pytest.approx(min(splits), rel=1e-12)
    drs = [math.hypot(o["eta"] - lep["eta"], (o["phi"] - lep["phi"] + math.pi) % (2 * math.pi) - math.pi) for o in jets]
    assert evaluate("min_dr(electrons, jets)", t)[0] == pytest.approx(min(drs), rel=1e-12)
    assert math.isnan(evaluate("max_pt_mass(jets[0:2], 3)", t)[0])


def test_min_max_pair_mass_against_brute_force():
    jets = [obj(120, 0.5, 0.1, 10), obj(80, -1.0, 2.0, 5), obj(60, 1.0, 3.0, 0)]
    leps = [obj(50, 0.4, -1.1), obj(30, -1.2, 0.7)]
    t = table_from_arrays(
        {"jets": ak.Array([jets]), "electrons": ak.Array([leps])}, {"met": ak.Array([{"pt": 1.0, "phi": 0.0}])}
    )

    def p4(o):
        px, py, pz = o["pt"] * math.cos(o["phi"]), o["pt"] * math.sin(o["phi"]), o["pt"] * math.sinh(o["eta"])
        return np.array([math.sqrt(px * px + py * py + pz * pz + o["mass"] ** 2), px, py, pz])

    def m(v):
        return math.sqrt(max(v[0] ** 2 - v[1] ** 2 - v[2] ** 2 - v[3] ** 2, 0))

    expected = min(
        max(m(p4(leps[0]) + p4(jets[i])), m(p4(leps[1]) + p4(jets[k]))) for i in range(3) for k in range(3) if i != k
    )
    got = evaluate("min_max_pair_mass(electrons[0], electrons[1], jets)", t)[0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert math.isnan(evaluate("min_max_pair_mass(electrons[0], electrons[1], jets[0:1])", t)[0])


# ------------------------------------------------------------------------------------------------
# deep expressions: a clean ConfigError (or a value), never a crash. Each runs in a subprocess so
# that a stack overflow is a test failure, not the end of the test session.
# ------------------------------------------------------------------------------------------------
_DEEP_SCRIPT = """
import json, sys
import awkward as ak
from recast_ml import ConfigError
from recast_ml.analysis import evaluate, table_from_arrays

text = sys.stdin.read()
jet = {"pt": 2.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}
table = table_from_arrays({"jets": ak.Array([[jet], []])}, {"met": ak.Array([{"pt": 1.0, "phi": 0.0}] * 2)})
try:
    v = evaluate(text, table, threads=2)
    print(json.dumps({"values": [None if x != x else x for x in v.tolist()]}))
except ConfigError as e:
    print(json.dumps({"error": str(e)[:300], "message": e.message[:100], "file": e.file, "line": e.line,
                      "column": e.column}))
"""


def run_deep(text):
    import json
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _DEEP_SCRIPT], input=text, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"exit status {res.returncode}: {res.stderr[-2000:]}"
    return json.loads(res.stdout)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        pytest.param("(" * 3000 + "met.pt" + ")" * 3000, 201, id="parentheses"),
        pytest.param("abs(" * 3000 + "met.pt" + ")" * 3000, 4 * 200 + 1, id="calls"),
        pytest.param("-" * 12300 + "met.pt", 200, id="unary-minus"),
        pytest.param("not " * 5000 + "met.pt > 0", 4 * 199 + 1, id="not"),
        pytest.param("met.pt ** " * 5000 + "1", 10 * 199 + 4, id="power"),
        pytest.param("HT(jets" + "[0:]" * 5000 + ")", 8 + 4 * 197 + 1, id="slices"),
        pytest.param("count(jets[0:2]" + "[1:]" * 300 + ") > 0", 16 + 4 * 196 + 1, id="slices-in-a-call"),
    ],
)
def test_too_deep_expressions_are_config_errors(text, column):
    # the column is that of the token 201 levels deep (the '.' of `met.pt` in the 200th power)
    out = run_deep(text)
    assert out["message"].startswith("expression nested deeper than 200 levels"), out
    assert (out["file"], out["line"], out["column"]) == ("<expression>", 1, column), out
    assert out["error"].startswith(f"<expression>:1:{column}: expression nested deeper than 200 levels")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(" + ".join(["met.pt"] * 13000), [13000.0, 13000.0], id="sum-13000"),
        pytest.param(" - ".join(["met.pt"] * 100001), [-99999.0, -99999.0], id="difference-100001"),
        pytest.param(" * ".join(["jets[0].pt"] * 20000) + " > 0", [1.0, None], id="product-20000"),
        pytest.param("met.pt > 0 and " * 20000 + "count(jets) > 0", [1.0, 0.0], id="and-20000"),
        pytest.param("met.pt < 0 or " * 20000 + "count(jets) > 0", [1.0, 0.0], id="or-20000"),
        pytest.param("(" * 190 + "met.pt" + ")" * 190, [1.0, 1.0], id="parentheses-190"),
        pytest.param("abs(" * 190 + "-met.pt" + ")" * 190, [1.0, 1.0], id="calls-190"),
        pytest.param("-" * 190 + "met.pt", [1.0, 1.0], id="unary-minus-190"),
        pytest.param("(1 + " * 190 + "met.pt" + ")" * 190, [191.0, 191.0], id="mixed-190"),
    ],
)
def test_long_and_moderately_deep_expressions_evaluate(text, expected):
    assert run_deep(text) == {"values": expected}
