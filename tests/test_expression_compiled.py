"""Compiled expressions: the built-in registry, common sub-expressions computed once per event,
custom functions written in Python (vectorised, errors typed and located) and four-vector values
(MHT, alpha_T, razor, mT2 on arbitrary legs) against hand-computed numpy values."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import awkward as ak
import mt2 as mt2_reference
import numpy as np
import pytest

from recast_ml import ConfigError, InputError, _core, functions
from recast_ml.analysis import builtins, compile_spec, evaluate, table_from_arrays

TESTS = Path(__file__).parent


def obj(pt, eta, phi, mass=0.0):
    return {"pt": float(pt), "eta": float(eta), "phi": float(phi), "mass": float(mass)}


#: hand-built events: jets (pt, eta, phi, m) and met (pt, phi)
EVENTS = [
    ([(250, 0.3, 0.2, 12), (180, -0.8, 2.9, 8), (60, 1.7, -1.9, 4)], (120.0, -2.5)),
    ([(400, -0.1, 1.0, 20), (90, 2.1, -2.0, 5)], (40.0, 0.7)),
    ([(150, 0.0, 0.0, 0), (140, 0.5, 3.0, 0), (70, -1.2, 1.5, 3), (45, 2.2, -0.8, 2)], (300.0, 2.0)),
    ([(100, 1.0, -3.0, 10)], (80.0, 0.0)),
]


@pytest.fixture(scope="module")
def table():
    jets = ak.Array([[obj(*j) for j in jets] for jets, _ in EVENTS])
    met = ak.Array([{"pt": m[0], "phi": m[1]} for _, m in EVENTS])
    return table_from_arrays({"jets": jets}, {"met": met})


def p4(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.array([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)])


def mass(v):
    return math.sqrt(max(v[3] ** 2 - v[0] ** 2 - v[1] ** 2 - v[2] ** 2, 0.0))


def dphi(a, b):
    d = abs(a - b) % (2 * math.pi)
    return 2 * math.pi - d if d > math.pi else d


def close(got, want, rel=1e-9):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g)
        else:
            assert g == pytest.approx(w, rel=rel, abs=1e-9)


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
def test_every_builtin_has_a_signature_a_doc_and_a_test():
    names = [n for n, _ in builtins()]
    assert len(names) == len(set(names))
    text = (TESTS / "test_expressions.py").read_text() + Path(__file__).read_text()
    for name, doc in builtins():
        m = re.fullmatch(rf"({re.escape(name)}\(.*\) -> [^:]+): (.+)", doc, flags=re.S)
        assert m, doc  # "signature -> result: description"
        assert len(m.group(2)) > 10, doc
        assert re.search(rf"\b{re.escape(name)}\(", text), f"no test uses {name}(...)"


def test_new_builtins_math_and_their_type_rules(table):
    # math builtins not covered elsewhere, element-wise and scalar, against numpy
    t = table
    pts = [[j[0] for j in jets] for jets, _ in EVENTS]
    cases = [
        ("exp(jets.pt / 100)", np.exp),
        ("sin(jets.pt / 100)", np.sin),
        ("cos(jets.pt / 100)", np.cos),
        ("tan(jets.pt / 100)", np.tan),
        ("sinh(jets.pt / 100)", np.sinh),
        ("tanh(jets.pt / 100)", np.tanh),
        ("cosh(jets.pt / 100)", np.cosh),
        ("log(jets.pt / 100)", np.log),
        ("sqrt(jets.pt / 100)", np.sqrt),
        ("abs(jets.pt / 100)", np.abs),
    ]
    for text, f in cases:
        close(evaluate(f"sum({text})", t).tolist(), [float(np.sum(f(np.array(p) / 100))) for p in pts])
    close(evaluate("atan2(jets[0].eta, jets[0].phi)", t).tolist(), [math.atan2(j[0][1], j[0][2]) for j, _ in EVENTS])
    close(evaluate("pow(jets[0].pt, 0.5)", t).tolist(), [j[0][0] ** 0.5 for j, _ in EVENTS])
    with pytest.raises(ConfigError, match="argument 1 of sum4 must be a object or collection or vector"):
        evaluate("sum4(3)", t)
    with pytest.raises(ConfigError, match="vector has no component 'foo'"):
        evaluate("sum4(jets).foo", t)
    with pytest.raises(ConfigError, match=r"'\+' of a vector needs another vector"):
        evaluate("sum4(jets).pt > 0 and (sum4(jets) + 1).pt > 0", t)


# ------------------------------------------------------------------------------------------------
# four-vectors
# ------------------------------------------------------------------------------------------------
def test_vector_components_and_mht(table):
    sums = [sum(p4(*j) for j in jets) for jets, _ in EVENTS]
    comps = {"px": 0, "py": 1, "pz": 2, "e": 3}
    for c, k in comps.items():
        close(evaluate(f"sum4(jets).{c}", table).tolist(), [s[k] for s in sums])
    close(evaluate("sum4(jets).pt", table).tolist(), [math.hypot(s[0], s[1]) for s in sums])  # MHT
    close(evaluate("sum4(jets).m", table).tolist(), [mass(s) for s in sums])
    close(evaluate("sum4(jets).mass", table).tolist(), [mass(s) for s in sums])
    close(evaluate("sum4(jets).phi", table).tolist(), [math.atan2(s[1], s[0]) for s in sums])
    close(evaluate("sum4(jets).eta", table).tolist(), [math.asinh(s[2] / math.hypot(s[0], s[1])) for s in sums])
    # the two leading jets, as a vector sum of objects; differences of vectors
    close(
        evaluate("sum4(jets[0], jets[1]).m", table).tolist(),
        [mass(p4(*j[0]) + p4(*j[1])) if len(j) > 1 else math.nan for j, _ in EVENTS],
    )
    close(
        evaluate("(sum4(jets) - sum4(jets[0])).px", table).tolist(),
        [s[0] - p4(*j[0])[0] for s, (j, _) in zip(sums, EVENTS, strict=True)],
    )
    # m / vpt / mT accept vectors
    close(evaluate("m(sum4(jets))", table).tolist(), [mass(s) for s in sums])
    close(
        evaluate("vpt(sum4(jets), jets[0])", table).tolist(),
        [math.hypot(s[0] + p4(*j[0])[0], s[1] + p4(*j[0])[1]) for s, (j, _) in zip(sums, EVENTS, strict=True)],
    )


def test_dphi_between_a_jet_and_the_mht_vector(table):
    want = []
    for jets, _ in EVENTS:
        s = sum(p4(*j) for j in jets)
        want.append(dphi(jets[0][2], math.atan2(-s[1], -s[0])))
    close(evaluate("dphi(jets[0], -sum4(jets))", table).tolist(), want)
    want_min = []
    for jets, _ in EVENTS:
        s = sum(p4(*j) for j in jets)
        want_min.append(min(dphi(j[2], math.atan2(-s[1], -s[0])) for j in jets))
    close(evaluate("min_dphi(jets, -sum4(jets))", table).tolist(), want_min)
    want_deta = []
    for jets, _ in EVENTS:
        s = sum(p4(*j) for j in jets)
        want_deta.append(abs(jets[-1][1] - math.asinh(s[2] / math.hypot(s[0], s[1]))))
    close(evaluate("deta(jets[-1], sum4(jets))", table).tolist(), want_deta)
    # mT of the leading jet and MHT (vector) vs the formula
    want_mt = []
    for jets, _ in EVENTS:
        s = -sum(p4(*j) for j in jets)
        j = jets[0]
        mht, phi = math.hypot(s[0], s[1]), math.atan2(s[1], s[0])
        et = math.sqrt(j[0] ** 2 + j[3] ** 2)
        want_mt.append(
            math.sqrt(
                j[3] ** 2
                + 0
                + 2 * (et * math.sqrt(mht**2 + mass(s) ** 2) - j[0] * mht * math.cos(j[2] - phi))
                + mass(s) ** 2
            )
        )
    close(evaluate("mT(jets[0], -sum4(jets))", table).tolist(), want_mt)


def test_alpha_t_against_brute_force(table):
    want = []
    for jets, _ in EVENTS:
        pts = [j[0] for j in jets]
        ht = sum(pts)
        s = sum(p4(*j) for j in jets)
        mht = math.hypot(s[0], s[1])
        dht = min(
            abs(sum(p if k in g else -p for k, p in enumerate(pts)))
            for r in range(len(pts) + 1)
            for g in itertools.combinations(range(len(pts)), r)
        )
        want.append(0.5 * (ht - dht) / math.sqrt(ht**2 - mht**2) if ht**2 > mht**2 else math.nan)
    got = evaluate("0.5 * (HT(jets) - delta_ht(jets)) / sqrt(HT(jets)**2 - sum4(jets).pt**2)", table).tolist()
    close(got[:3], want[:3])  # (the one-jet event has HT = MHT up to rounding)
    # massless dijet: alpha_T = pT_2 / mT(j1, j2)
    t2 = table_from_arrays(
        {"jets": ak.Array([[obj(300, 0.1, 0.3), obj(200, -1.0, 2.5)]])}, {"met": ak.Array([{"pt": 1.0, "phi": 0.0}])}
    )
    at = evaluate("0.5 * (HT(jets) - delta_ht(jets)) / sqrt(HT(jets)**2 - sum4(jets).pt**2)", t2)[0]
    assert at == pytest.approx(evaluate("jets[1].pt / mT(jets[0], jets[1])", t2)[0], rel=1e-9)


def megajets(jets):
    vs = [p4(*j) for j in jets]
    best = None
    for r in range(1, len(vs)):
        for g in itertools.combinations(range(len(vs)), r):
            if 0 not in g:
                continue
            a = sum(vs[k] for k in g)
            b = sum(vs[k] for k in range(len(vs)) if k not in g)
            s = mass(a) ** 2 + mass(b) ** 2
            if best is None or s < best[0]:
                best = (s, a, b)
    _, a, b = best
    return (a, b) if math.hypot(a[0], a[1]) >= math.hypot(b[0], b[1]) else (b, a)


def test_razor_variables_against_numpy(table):
    mr, r2, mt2s = [], [], []
    for jets, (met, mphi) in EVENTS:
        if len(jets) < 2:
            mr.append(math.nan), r2.append(math.nan), mt2s.append(math.nan)
            continue
        j1, j2 = megajets(jets)
        m_r = math.sqrt((j1[3] + j2[3]) ** 2 - (j1[2] + j2[2]) ** 2)
        mex, mey = met * math.cos(mphi), met * math.sin(mphi)
        mtr = math.sqrt(
            (met * (math.hypot(*j1[:2]) + math.hypot(*j2[:2])) - (mex * (j1[0] + j2[0]) + mey * (j1[1] + j2[1]))) / 2
        )
        mr.append(m_r)
        r2.append((mtr / m_r) ** 2)
        mt2s.append(float(mt2_reference.mt2(mass(j1), j1[0], j1[1], mass(j2), j2[0], j2[1], mex, mey, 0.0, 0.0)))
    j1, j2 = "megajet(jets, 0)", "megajet(jets, 1)"
    mr_expr = f"sqrt(({j1}.e + {j2}.e)**2 - ({j1}.pz + {j2}.pz)**2)"
    mtr_expr = (
        f"sqrt((met.pt * ({j1}.pt + {j2}.pt) - (sum4(met).px * ({j1}.px + {j2}.px) + "
        f"sum4(met).py * ({j1}.py + {j2}.py))) / 2)"
    )
    close(evaluate(mr_expr, table).tolist(), mr)
    close(evaluate(f"({mtr_expr} / {mr_expr})**2", table).tolist(), r2)
    close(evaluate(f"mT2({j1}, {j2}, met)", table).tolist(), mt2s, rel=1e-7)
    assert math.isnan(evaluate("megajet(jets, 2).pt", table)[0])


# ------------------------------------------------------------------------------------------------
# common sub-expressions
# ------------------------------------------------------------------------------------------------
def run_spec(table, variables, regions, threads=1, source="<test>"):
    spec = {
        "id": "t",
        "source": source,
        "objects": [],
        "variables": [{"name": n, "expr": {"text": t, "line": i + 1, "col": 7}} for i, (n, t) in enumerate(variables)],
        "regions": [
            {
                "name": r,
                "cuts": [{"name": c, "expr": {"text": c, "line": 50 + k, "col": 3}} for k, c in enumerate(cuts)],
            }
            for r, cuts in regions
        ],
    }
    core = compile_spec(spec, _core.table_schema(dict(table)))
    return core, core.run_table(dict(table), threads)


def test_shared_subexpressions_get_one_slot(table):
    schema = _core.table_schema(dict(table))
    one = _core.expression_pool_stats(["meff(jets) > 100"], schema)
    many = _core.expression_pool_stats(
        ["meff(jets) > 100", "meff(jets)   >  100", "2 * meff(jets)", "meff(jets) / sqrt(HT(jets))"], schema
    )
    # jets, meff(jets), 100, > : 4 slots; the second text (other spacing) adds none; `2 * ...` adds
    # 2 and *; the last adds HT(...), sqrt(...) and /
    assert (one["nodes"], one["slots"], one["shared"]) == (4, 4, 0)
    assert (many["nodes"], many["slots"], many["shared"]) == (18, 9, 9)


def test_a_subexpression_used_everywhere_is_evaluated_once_per_event(table):
    calls = []

    def twice(x):
        calls.append(len(x))
        return 2 * x

    functions.register("twice_counted", twice, args=("number",), doc="2 x (counts its calls)")
    try:
        variables = [
            ("a", "twice_counted(jets[0].pt)"),
            ("b", "twice_counted(jets[0].pt) + 1"),
            ("c", "sqrt(twice_counted(jets[0].pt))"),
        ]
        parent = ["count(jets) >= 1", "twice_counted(jets[0].pt) > 250"]
        regions = [("SR_parent", parent), ("SR_a", [*parent, "a > 450"]), ("SR_b", [*parent, "b > 800"])]
        core, raw = run_spec(table, variables, regions)
        n = len(EVENTS)
        assert sum(calls) == n  # one value per event for 3 variables and 3 regions
        assert len(calls) == 1  # one call for the block
        lead = np.array([j[0][0] for j, _ in EVENTS])
        values = raw.variables.reshape(n, 3)
        np.testing.assert_allclose(values[:, 0], 2 * lead)
        np.testing.assert_allclose(values[:, 1], 2 * lead + 1)
        np.testing.assert_allclose(values[:, 2], np.sqrt(2 * lead))
        stats = _core.analysis_compiled_stats(core)
        assert stats["shared"] >= 8  # the inherited cuts are shared whole
        # cutflows unchanged: step counts as if every cut were evaluated separately
        flows = {name: raw.cutflow(i)[1].tolist() for i, name in enumerate(raw.region_names)}
        passes_parent = 2 * lead > 250
        assert flows["SR_parent"] == [n, n, int(passes_parent.sum())]
        assert flows["SR_a"] == [n, n, int(passes_parent.sum()), int((passes_parent & (2 * lead > 450)).sum())]
        assert flows["SR_b"] == [n, n, int(passes_parent.sum()), int((passes_parent & (2 * lead + 1 > 800)).sum())]
    finally:
        functions.unregister("twice_counted")


# ------------------------------------------------------------------------------------------------
# Python custom functions
# ------------------------------------------------------------------------------------------------
def test_python_function_on_columns_matches_numpy(table):
    functions.register("py_ratio", lambda a, b: np.where(b > 0, a / b, np.nan), args=("number", "number"))
    functions.register("py_sum_sq", lambda pt: ak.to_numpy(ak.sum(pt**2, axis=1)), args=("number list",))
    functions.register(
        "py_any_hard", lambda flags: ak.to_numpy(ak.any(flags, axis=1)), args=("bool list",), result="bool"
    )
    try:
        lead = [j[0][0] for j, _ in EVENTS]
        sub = [j[1][0] if len(j) > 1 else math.nan for j, _ in EVENTS]
        close(
            evaluate("py_ratio(jets[1].pt, jets[0].pt)", table, threads=2).tolist(),
            [s / ld for s, ld in zip(sub, lead, strict=True)],
        )
        close(evaluate("py_sum_sq(jets.pt)", table).tolist(), [sum(j[0] ** 2 for j in jets) for jets, _ in EVENTS])
        close(
            evaluate("py_any_hard(jets.pt > 200)", table).tolist(),
            [float(any(j[0] > 200 for j in jets)) for jets, _ in EVENTS],
        )
        # inside an object predicate: one event (object) at a time, same values
        close(
            evaluate("count(select(jets, py_ratio(pt, 100) > 1.2))", table).tolist(),
            [sum(j[0] / 100 > 1.2 for j in jets) for jets, _ in EVENTS],
        )
        assert ("py_ratio", "") in functions.registered()
    finally:
        for name in ("py_ratio", "py_sum_sq", "py_any_hard"):
            functions.unregister(name)
    with pytest.raises(ConfigError, match="unknown function 'py_ratio'"):
        evaluate("py_ratio(1, 2)", table)


def test_python_function_errors_are_typed_and_located(table):
    def boom(x):
        raise ValueError("no good value")

    functions.register("py_boom", boom, args=("number",))
    functions.register("py_short", lambda x: x[:1], args=("number",))
    try:
        with pytest.raises(InputError) as err:
            run_spec(table, [("v", "jets[0].pt + py_boom(met.pt)")], [], source="ana.yaml")
        e = err.value
        assert (e.file, e.line, e.column) == ("ana.yaml", 1, 7 + len("jets[0].pt + "))
        assert "custom function 'py_boom' failed: ValueError: no good value" in e.message
        with pytest.raises(InputError, match=r"py_short.*expected \(4,\)"):
            run_spec(table, [("v", "py_short(met.pt)")], [], source="ana.yaml")
    finally:
        functions.unregister("py_boom")
        functions.unregister("py_short")
    with pytest.raises(ValueError, match="unknown type 'vector'"):
        functions.register("py_bad", abs, args=("vector",))
    with pytest.raises(ValueError, match="built-in"):
        functions.register("HT", abs, args=("number",))


# ---- ATLAS-SUSY-2018-30: rc_jet, rc_mass_sum against python fastjet ----
def test_rc_jet_and_rc_mass_sum_equal_python_fastjet():
    import fastjet

    rng = np.random.default_rng(30)
    counts = rng.integers(0, 12, size=60)
    n = int(counts.sum())
    jets = ak.unflatten(
        ak.zip({"pt": rng.uniform(30, 500, n), "eta": rng.uniform(-2.8, 2.8, n),
                "phi": rng.uniform(-np.pi, np.pi, n), "mass": rng.uniform(0, 40, n)}),
        counts,
    )  # fmt: skip
    table = table_from_arrays({"jets": jets}, {"met": ak.Array([{"pt": 100.0, "phi": 0.0}] * len(counts))})
    args = "jets, 0.8, 0.1, 100, 2.0"
    got = {f"{f}{i}": evaluate(f"rc_jet({args}, {i}).{f}", table) for f in ("pt", "eta", "phi", "m") for i in range(5)}
    got_sum = evaluate(f"rc_mass_sum({args}, 4)", table)
    got_all = evaluate(f"rc_mass_sum({args}, 100)", table)
    n_jets_seen = 0
    for e in range(len(counts)):
        parts = []
        for o in jets[e]:
            px, py, pz = o.pt * np.cos(o.phi), o.pt * np.sin(o.phi), o.pt * np.sinh(o.eta)
            parts.append(fastjet.PseudoJet(px, py, pz, float(np.sqrt(px**2 + py**2 + pz**2 + o.mass**2))))
        ref = []
        if parts:
            cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8))
            for j in cs.inclusive_jets(0.0):
                t = np.sum(
                    [[c.px(), c.py(), c.pz(), c.e()] for c in j.constituents() if c.pt() >= 0.1 * j.pt()], axis=0
                )
                pt = math.hypot(t[0], t[1])
                eta = math.asinh(t[2] / pt)
                if pt > 100 and abs(eta) < 2.0:
                    ref.append((pt, eta, math.atan2(t[1], t[0]), mass(t)))
        ref.sort(key=lambda r: -r[0])
        n_jets_seen += len(ref)
        for i in range(5):
            if i < len(ref):
                for f, want in zip(("pt", "eta", "phi", "m"), ref[i], strict=True):
                    assert got[f"{f}{i}"][e] == pytest.approx(want, rel=1e-9, abs=1e-4), (e, i, f)
            else:
                assert math.isnan(got[f"pt{i}"][e])  # no such jet: missing
        assert got_sum[e] == pytest.approx(sum(r[3] for r in ref[:4]), rel=1e-9, abs=1e-4)
        assert got_all[e] == pytest.approx(sum(r[3] for r in ref), rel=1e-9, abs=1e-4)
    assert n_jets_seen > 60
    assert any(got_all[e] > got_sum[e] + 1 for e in range(len(counts)))  # the cap at n matters somewhere
    with pytest.raises(ConfigError):
        evaluate("rc_jet(jets, 0.8, 0.1, 100, 2.0)", table)  # six arguments


# ------------------------------------------------------------------------------------------------
# ATLAS-HIGP-2024-32 built-ins: mass-targeted pairing, pairwise lists, list moments, momentum tensor
# ------------------------------------------------------------------------------------------------
#: events of 6, 4, 3 and 0 jets (pt, eta, phi, m)
SIX_JET_EVENTS = [
    [(180, 0.4, 0.3, 12), (150, -0.9, 2.8, 9), (120, 1.3, -1.7, 6), (90, -0.2, -2.9, 5), (70, 2.0, 1.1, 4),
     (45, -1.6, -0.6, 3)],
    [(300, 0.1, 0.0, 20), (200, 0.5, 2.5, 10), (80, -1.0, -2.0, 5), (60, 1.5, 1.0, 2)],
    [(100, 0.0, 0.0, 0), (90, 1.0, 1.0, 0), (40, -1.0, 2.0, 0)],
    [],
]  # fmt: skip


@pytest.fixture(scope="module")
def six_jets():
    jets = ak.Array([[obj(*j) for j in ev] for ev in SIX_JET_EVENTS])
    met = ak.Array([{"pt": 10.0, "phi": 0.0}] * len(SIX_JET_EVENTS))
    return table_from_arrays({"jets": jets}, {"met": met})


def _brute_pairs(jets, targets):
    """numpy reference: every partition of the first 2k jets into k pairs; the pairs ordered by pT."""
    k = len(targets)
    if len(jets) < 2 * k:
        return None
    best = None
    for perm in itertools.permutations(range(2 * k)):
        pairs = [tuple(sorted(perm[2 * i : 2 * i + 2])) for i in range(k)]
        if sorted(pairs) != pairs:
            continue
        sums = [p4(*jets[a]) + p4(*jets[b]) for a, b in pairs]
        order = sorted(range(k), key=lambda i: -math.hypot(sums[i][0], sums[i][1]))
        d = sum(abs(mass(sums[i]) - t) for i, t in zip(order, targets, strict=True))
        if best is None or d < best[0] - 1e-12:
            best = (d, [pairs[i] for i in order], [sums[i] for i in order])
    return best


def test_mass_pair_and_mass_pair_dr_against_brute_force(six_jets):
    for targets in ((120, 115, 110), (300, 40, 90), (100, 100)):
        args = ", ".join(str(t) for t in targets)
        for i in range(len(targets)):
            m = evaluate(f"mass_pair(jets, {i}, {args}).m", six_jets).tolist()
            pt = evaluate(f"mass_pair(jets, {i}, {args}).pt", six_jets).tolist()
            drs = evaluate(f"mass_pair_dr(jets, {i}, {args})", six_jets).tolist()
            for k, ev in enumerate(SIX_JET_EVENTS):
                ref = _brute_pairs(ev, targets)
                if ref is None:
                    assert math.isnan(m[k])
                    assert math.isnan(drs[k])
                    continue
                a, b = ref[1][i]
                assert m[k] == pytest.approx(mass(ref[2][i]), rel=1e-12)
                assert pt[k] == pytest.approx(math.hypot(ref[2][i][0], ref[2][i][1]), rel=1e-12)
                want_dr = math.hypot(ev[a][1] - ev[b][1], dphi(ev[a][2], ev[b][2]))
                assert drs[k] == pytest.approx(want_dr, rel=1e-12)
    # an index outside 0..k-1 is missing; the pairing changes with the targets (not a fixed one)
    assert math.isnan(evaluate("mass_pair(jets, 3, 120, 115, 110).m", six_jets)[0])
    assert evaluate("mass_pair(jets, 0, 120, 115, 110).m", six_jets)[0] != pytest.approx(
        evaluate("mass_pair(jets, 0, 300, 40, 90).m", six_jets)[0]
    )
    with pytest.raises(ConfigError, match="mass_pair"):
        evaluate("mass_pair(jets, 0)", six_jets)


def test_pairwise_lists_against_numpy(six_jets):
    for k, ev in enumerate(SIX_JET_EVENTS):
        pairs = list(itertools.combinations(range(len(ev)), 2))
        want = {
            "pair_m(jets)": [mass(p4(*ev[a]) + p4(*ev[b])) for a, b in pairs],
            "pair_dr(jets)": [math.hypot(ev[a][1] - ev[b][1], dphi(ev[a][2], ev[b][2])) for a, b in pairs],
            "pair_deta(jets)": [abs(ev[a][1] - ev[b][1]) for a, b in pairs],
            "pair_dphi(jets)": [dphi(ev[a][2], ev[b][2]) for a, b in pairs],
            "pair_prod(jets.pt)": [ev[a][0] * ev[b][0] for a, b in pairs],
        }
        for text, values in want.items():
            assert evaluate(f"count({text} > -1)", six_jets)[k] == len(values)
            for i, v in enumerate(values[:15]):
                assert evaluate(f"{text}[{i}]", six_jets)[k] == pytest.approx(v, rel=1e-12, abs=1e-12), (text, i)


def test_list_moments_against_numpy(six_jets):
    for k, ev in enumerate(SIX_JET_EVENTS):
        x = np.array([j[0] for j in ev], dtype=float)
        got = [evaluate(f"{f}(jets.pt)", six_jets)[k] for f in ("mean", "std", "skewness")]
        if len(x) == 0:
            assert all(math.isnan(g) for g in got)
            continue
        z = (x - x.mean()) / x.std()
        assert got == pytest.approx([x.mean(), x.std(), float(np.mean(z**3))], rel=1e-12)
    # sigma = 0: no skewness
    assert math.isnan(evaluate("skewness(jets[0:1].pt)", six_jets)[0])
    assert evaluate("std(jets[0:1].pt)", six_jets)[0] == 0.0


def _tensor(ev, r, boost):
    ps = np.array([p4(*j) for j in ev])
    v = ps[:, :3]
    if boost:
        tot = ps.sum(axis=0)
        m = mass(tot)
        # boost by the Lorentz matrix of the rest frame of the sum
        beta = tot[:3] / tot[3]
        gamma = tot[3] / m
        b2 = beta @ beta
        lam = np.eye(4)
        lam[0, 0] = gamma
        lam[0, 1:] = lam[1:, 0] = -gamma * beta
        lam[1:, 1:] += (gamma - 1) * np.outer(beta, beta) / b2
        v = np.array([(lam @ np.r_[p[3], p[:3]])[1:] for p in ps])
    a = np.linalg.norm(v, axis=1)
    s = np.einsum("i,ia,ib->ab", a ** (r - 2), v, v) / np.sum(a**r)
    return np.linalg.eigvalsh(s)[::-1]


def test_tensor_eigenvalues_against_numpy(six_jets):
    for r, boost in ((2, False), (1, False), (1, True), (2, True)):
        text = f"tensor_eigenvalues(jets, {r}{', true' if boost else ''})"
        for k, ev in enumerate(SIX_JET_EVENTS):
            got = [evaluate(f"{text}[{i}]", six_jets)[k] for i in range(3)]
            if not ev:
                assert all(math.isnan(g) for g in got)
                continue
            assert got == pytest.approx(_tensor(ev, r, boost).tolist(), rel=1e-9, abs=1e-12), (r, boost, k)
    # r = 2 in the lab frame is the sphericity tensor of the existing built-ins
    close(
        evaluate("1.5 * (tensor_eigenvalues(jets, 2)[1] + tensor_eigenvalues(jets, 2)[2])", six_jets)[:3].tolist(),
        evaluate("sphericity(jets)", six_jets)[:3].tolist(),
    )
    close(
        evaluate("1.5 * tensor_eigenvalues(jets, 2)[2]", six_jets)[:3].tolist(),
        evaluate("aplanarity(jets)", six_jets)[:3].tolist(),
    )


# ------------------------------------------------------------------------------------------------
# met_significance (ATLAS-SUSY-2019-02 spec 3.1), against the spec's formulas written out here
# ------------------------------------------------------------------------------------------------
_EL_EDGES = [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.37, 1.52, 1.56, 1.62, 1.72, 1.82, 1.92, 2.02, 2.12, 2.22, 2.32]
_EL_S = [0.0886, 0.0889, 0.0923, 0.0934, 0.0985, 0.0998, 0.1765, 0.2617, 0.4280]
_EL_S += [0.2345, 0.3445, 0.2239, 0.2452, 0.1954, 0.2068, 0.1890, 0.1831, 0.2005]
_EL_N = [0.3837, 0.3790, 0.4328, 0.7835, 1.3130, 1.7018, 1.9734, 3.3660, 3.1269]
_EL_N += [2.8526, 3.5197, 2.3058, 2.0078, 2.0839, 1.9587, 1.9775, 1.9063, 2.1873]
_EL_C = [0.00530, 0.00433, 0.00360, 0.00393, 0.00416, 0.00540, 0.00226, 0.04351] + [0.0] * 10
_JPT = [20, 30, 40, 50, 70, 100, 150, 200, 300, 500, 1000]
_JETA = [0.0, 0.2, 0.7, 1.3, 1.8, 2.5, 3.2, 3.5]
_JER = [
    [0.303, 0.299, 0.324, 0.324, 0.257, 0.261, 0.363, 0.276],
    [0.226, 0.222, 0.240, 0.238, 0.194, 0.200, 0.268, 0.207],
    [0.181, 0.177, 0.192, 0.191, 0.157, 0.167, 0.214, 0.167],
    [0.158, 0.154, 0.166, 0.167, 0.137, 0.150, 0.187, 0.145],
    [0.127, 0.124, 0.134, 0.135, 0.112, 0.126, 0.157, 0.120],
    [0.103, 0.099, 0.107, 0.109, 0.091, 0.105, 0.133, 0.099],
    [0.083, 0.079, 0.086, 0.088, 0.074, 0.087, 0.111, 0.080],
    [0.072, 0.068, 0.074, 0.077, 0.065, 0.076, 0.099, 0.069],
    [0.061, 0.057, 0.062, 0.066, 0.055, 0.064, 0.086, 0.057],
    [0.050, 0.046, 0.050, 0.057, 0.046, 0.053, 0.072, 0.047],
    [0.041, 0.036, 0.040, 0.050, 0.038, 0.045, 0.065, 0.038],
]


def _el_res(pt, eta, m):
    b = max(k for k, lo in enumerate(_EL_EDGES) if abs(eta) >= lo)
    e = math.sqrt((pt * math.cosh(eta)) ** 2 + m * m)
    p = 0.001 * math.sqrt(32) * (60 + 40 * math.log(min(50.0, max(5.0, pt)) / 10) / math.log(5)) / pt
    return math.sqrt(_EL_S[b] ** 2 / e + _EL_N[b] ** 2 / e**2 + _EL_C[b] ** 2 + p * p)


def _mu_res(pt, eta):
    p = (
        (0.017386, 0.000374, 0.209431, 0.025107, 0.000125)
        if abs(eta) < 1.05
        else (0.033253, 0.000546, 0.064967, 0.027646, 0.000123)
    )
    i = p[0] ** 2 + (p[1] * pt) ** 2
    s = (p[2] / pt) ** 2 + p[3] ** 2 + (p[4] * pt) ** 2
    return math.sqrt(i * s / (i + s))


def _jet_res(pt, eta):
    b = max(k for k, lo in enumerate(_JETA) if abs(eta) >= lo)
    x = min(1000.0, max(20.0, pt))
    r = max(k for k in range(10) if x >= _JPT[k])
    t = (x - _JPT[r]) / (_JPT[r + 1] - _JPT[r])
    return (1 - t) * _JER[r][b] + t * _JER[r + 1][b]


def _significance(met, met_phi, objects):
    """objects: (pt, phi, relative pT resolution, phi resolution); spec 3.1 steps 1-4."""
    cll, ctt, clt = 100.0, 100.0, 0.0
    for pt, phi, r, f in objects:
        a, b = (r * pt) ** 2, (f * pt) ** 2
        c, s = math.cos(met_phi - phi), math.sin(met_phi - phi)
        cll, ctt, clt = cll + a * c * c + b * s * s, ctt + a * s * s + b * c * c, clt + c * s * (a - b)
    rho = clt / math.sqrt(cll * ctt)
    rho = 0.0 if abs(rho) >= 0.9 else rho
    return met / math.sqrt(cll * (1 - rho * rho)), (cll, ctt, clt)


def test_met_significance_reference_reproduces_the_spec_worked_example():
    # spec 3.1: electron 108.5 / -2.09, muon 55 / 0.09, MET 154.4 / 1.34, given resolutions
    sig, c = _significance(154.4, 1.34, [(108.5, -2.09, 0.0134, 0.004), (55.0, 0.09, 0.0175, 0.001)])
    assert sig == pytest.approx(15.2844, abs=1e-4)
    np.testing.assert_allclose(c, (102.0529, 101.1787, 0.8013), atol=1e-4)
    sig, c = _significance(
        154.4, 1.34, [(108.5, -2.09, 0.0134, 0.004), (55.0, 0.09, 0.0175, 0.001), (60, -1.0, 0.13, 0.029)]
    )
    assert sig == pytest.approx(13.6919, abs=1e-4)
    np.testing.assert_allclose(c, (133.0506, 134.0486, -28.0897), atol=1e-4)
    # the spec's quoted resolutions: electrons 5.8/3.5/1.9/1.2 % at 10/20/50/100 GeV (|eta| = 0.5),
    # muons 1.6/1.8/2.3 % at 20/50/100 GeV (barrel)
    np.testing.assert_allclose([_el_res(p, 0.5, 0) for p in (10, 20, 50, 100)], [0.058, 0.035, 0.019, 0.012], atol=6e-4)
    np.testing.assert_allclose([_mu_res(p, 0.5) for p in (20, 50, 100)], [0.016, 0.018, 0.023], atol=6e-4)


def test_met_significance_against_the_spec_formulas():
    m_e, m_mu = 0.000511, 0.10566
    events = [
        # electrons (pt, eta, phi), muons, jets, (met, phi): 0-jet, jets over all |eta| and pT bins
        ([(108.5, -1.19, -2.09)], [(55.0, -0.72, 0.09)], [], (154.4, 1.34)),
        ([(150, 0.3, 0.0), (60, 0.1, 2.9)], [], [], (91.7, -3.0)),
        ([], [(95, 0.2, 0.0), (60, -1.4, 2.6)], [(60, -1.0, -1.0)], (110, -1.9)),
        (
            [(30, 2.45, 1.0), (12, 1.45, -0.3)],
            [(9.5, 2.55, 2.0)],
            [(25, 0.1, 0.5), (45, 3.3, -2.0), (1500, 4.2, 3.0)],
            (80, 0.4),
        ),
        (
            [(70, 1.6, 0.2)],
            [],
            [(20, 0.0, 0.0), (85, 1.9, 1.2), (180, 2.7, -1.0), (400, -0.5, 2.5), (30, 3.9, -3.0)],
            (60, 0.1),
        ),
        ([(1500, 1.45, 0.0)], [], [], (300, math.pi / 4)),  # crack electron at 45 deg: |rho| >= 0.9 -> rho = 0
        ([], [], [], (40, 2.0)),  # soft term only: MET / 10
    ]
    table = table_from_arrays(
        {
            "electrons": ak.Array([[obj(*e, m_e) for e in ev[0]] for ev in events]),
            "muons": ak.Array([[obj(*m, m_mu) for m in ev[1]] for ev in events]),
            "jets": ak.Array([[obj(*j) for j in ev[2]] for ev in events]),
        },
        {"met": ak.Array([{"pt": m[0], "phi": m[1]} for *_, m in events])},
    )
    want = []
    for els, mus, jets, (met, phi) in events:
        objs = [(pt, ph, _el_res(pt, eta, m_e), 0.004) for pt, eta, ph in els]
        objs += [(pt, ph, _mu_res(pt, eta), 0.001) for pt, eta, ph in mus]
        objs += [
            (pt, ph, _jet_res(pt, eta), 0.054 if pt < 50 else 0.029 if pt < 100 else 0.017) for pt, eta, ph in jets
        ]
        want.append(_significance(met, phi, objs)[0])
    got = evaluate("met_significance(electrons, muons, jets)", table)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[-1] == pytest.approx(4.0, rel=1e-12)
    cll, ctt, clt = _significance(300, math.pi / 4, [(1500, 0.0, _el_res(1500, 1.45, m_e), 0.004)])[1]
    assert abs(clt) / math.sqrt(cll * ctt) >= 0.9  # the event that zeroes rho
    assert got[-2] == pytest.approx(300 / math.sqrt(cll), rel=1e-12)
    # the order of the arguments is the object type: electrons as muons change the value
    assert evaluate("met_significance(muons, electrons, jets)", table)[0] != pytest.approx(got[0], rel=1e-6)
    with pytest.raises(ConfigError, match="met_significance"):
        evaluate("met_significance(electrons, muons)", table)
