"""Detector-card expression language (spec §13.4) against the reference evaluator tools/expr.py."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import tomllib

from conftest import SHARED, load_spec_tool
from recast_ml import ConfigError
from recast_ml.cards import VARIABLES, Expression


@pytest.fixture(scope="module")
def ref():
    return load_spec_tool("expr")


def card_expressions():
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    found.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for card in ("atlas_run2", "cms_run2"):
        walk(tomllib.loads((SHARED / "specs" / "cards" / f"{card}.toml").read_text()))
    return found


EDGE_CASES = [
    "-2^2",
    "2^3^2",
    "-2^-2",
    "(-2)^2",
    "!0 + !3",
    "1 < 2 && 2 <= 2 || 0",
    "0 || 0 && 1",
    "min(pt, 3, eta) + max(abs_eta, 0.5)",
    "pow(pt, 0.5) - sqrt(pt)",
    "exp(-pt/100) * log(e) / tanh(et)",
    "abs(eta) == abs_eta",
    "pt != m",
    ".5 + 1. + 1e2 + 2.5E-1",
    "1/(pt - pt)",
    "+pt - -eta",
    "(pt>10)*(abs_eta<=1.5) + (phi >= 0) * set / met",
    "0.80*tanh(0.003*pt)*(30/(1+0.086*pt))",
]


def grid():
    pts = [5.0, 20.0, 60.0, 150.0, 999.0, 1000.0, 1500.0]
    etas = [-2.7, -1.5, 0.0, 0.3, 1.5, 2.49]
    for pt, eta in itertools.product(pts, etas):
        yield {
            "pt": pt,
            "eta": eta,
            "abs_eta": abs(eta),
            "phi": 0.7 - eta,
            "e": pt * math.cosh(eta),
            "et": pt,
            "m": 0.105,
            "set": 10 * pt,
            "met": pt / 2,
        }


def test_card_expressions_equal_reference(ref):
    exprs = card_expressions()
    assert len(exprs) >= 8
    compared = skipped = 0
    for text in [*exprs, *EDGE_CASES]:
        ours = Expression(text, where="test")
        node = ref.compile_expr(text)
        for kin in grid():
            try:
                expected = ref.evaluate(node, kin)
            except (OverflowError, ValueError):
                # the reference evaluates math.pow(a, b) for every binary operator (eager dict),
                # which raises for large operands even where '^' is not used
                skipped += 1
                continue
            got = ours(**{k: kin[k] for k in ours.variables})
            assert got == expected or (math.isnan(got) and math.isnan(expected)), (text, kin)
            compared += 1
    assert skipped < compared / 10  # nearly all points are compared


def test_hand_computed_values():
    assert Expression("-2^2")() == -4.0
    assert Expression("2^3^2")() == 512.0
    assert Expression("max(pt) + min(pt)")(pt=3.0) == 6.0
    assert Expression("0.80*tanh(0.003*pt)*(30/(1+0.086*pt))")(pt=100.0) == pytest.approx(0.7283, abs=1e-4)
    assert Expression("-2^2 + (pt>10)*(abs_eta<=1.5)")(pt=20.0, abs_eta=1.0) == -3.0


def test_vectorised_evaluation_broadcasts():
    e = Expression("(abs_eta<=1.5)*0.99 + (abs_eta>1.5)*0.98 + 0*pt")
    out = e.evaluate(abs_eta=np.array([0.5, 2.0]), pt=np.array([[10.0], [20.0], [30.0]]))
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out[0], [0.99, 0.98])
    assert e.variables == ["pt", "abs_eta"]


def test_division_by_zero_is_inf_and_counted():
    e = Expression("1/(pt - 10)")
    out = e.evaluate(pt=np.array([10.0, 12.0, 10.0]))
    assert out.tolist() == [math.inf, 0.5, math.inf]
    assert e.divisions_by_zero == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ptt * 2", r"card.toml electron.eff:1:1: unknown variable 'ptt'"),
        ("pt * 2)", r":1:7: unexpected '\)' after the expression"),
        ("sqrtt(pt)", r":1:1: unknown function 'sqrtt'"),
        ("pow(pt)", r":1:1: pow takes 2 argument\(s\), got 1"),
        ("(pt + 1", r":1:8: expected '\)'"),
        ("pt #", r":1:4: unexpected character '#'"),
        ("1 < 2 < 3", r":1:7: unexpected '<' after the expression"),
        ("pt *", r":1:5: expression ends early"),
    ],
)
def test_syntax_errors_name_where_and_column(text, message):
    with pytest.raises(ConfigError, match=message):
        Expression(text, where="card.toml electron.eff")


def test_missing_variable_is_reported():
    with pytest.raises(KeyError, match="needs variable 'abs_eta'"):
        Expression("pt*abs_eta").evaluate(pt=1.0)
    with pytest.raises(KeyError, match="unknown variable 'ptt'"):
        Expression("pt").evaluate(pt=1.0, ptt=2.0)
    assert set(VARIABLES) == {"pt", "eta", "abs_eta", "phi", "e", "et", "m", "set", "met"}


DEEP = [
    ("(" * 100_000 + "pt" + ")" * 100_000, 201),
    ("-" * 100_000 + "pt", 201),
    ("!" * 50_000 + "pt", 201),
    ("2^" * 50_000 + "pt", 401),
    ("sqrt(" * 20_000 + "pt" + ")" * 20_000, 1001),
]


@pytest.mark.parametrize(("text", "column"), DEEP, ids=["parens", "minus", "not", "power", "sqrt"])
def test_deep_nesting_is_a_config_error_not_a_crash(text, column):
    # run in a subprocess: before the depth limit this overflowed the stack (segfault at ~11,300 parentheses)
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from recast_ml import ConfigError\n"
        "from recast_ml.cards import Expression\n"
        "try:\n"
        "    Expression(sys.stdin.read(), 'card.toml btag.shape.light.expr')\n"
        "except ConfigError as e:\n"
        "    print(str(e)[:300])\n"
        "else:\n"
        "    print('accepted')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(f"card.toml btag.shape.light.expr:1:{column}: expression nested too deeply"), (
        run.stdout
    )


def test_nesting_within_the_limit_is_fine():
    e = Expression("(" * 150 + "pt" + ")" * 150 + " + " + "-" * 150 + "1")
    assert e(pt=3.0) == pytest.approx(4.0)  # an even number of minus signs
