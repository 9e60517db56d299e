"""Property-based layer of the fuzz harness (hypothesis): strategies that build *structured*
inputs per parser, each drawn example run through the same forked runner and targets as the
mutational cases (harness.py, targets.py), so a crash or a hang is counted, not fatal.

The property, for every parser: the outcome is ``ok`` or ``typed``; never ``crash``, ``hang``,
``untyped``, nor ``silent`` (a known-invalid input accepted, or an accepted input the target's
oracle knows gives a wrong result: NaN momenta, NaN model outputs, a spectrum Pythia ignored).

``STRATEGIES`` maps each parser to a strategy of :class:`~fuzz.cases.Case`. The default suite
(tests/test_fuzz_properties.py) draws a few examples each; ``python -m fuzz --hypothesis N``
(scripts/fuzz.sh) draws N per parser and counts them in the campaign table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import tomllib
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from . import harness
from .cases import EVENT_EXT, REPO, TOY_ANALYSIS, Case, _cut_is_short, gz, seed
from .mutate import NUMBER

# ---- numbers ------------------------------------------------------------------------------------

#: any double: finite, huge, tiny, nan, inf
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
#: mostly ordinary momenta, sometimes anything
momenta = st.one_of(st.floats(-7000, 7000), st.floats(-7000, 7000), floats)
#: textual numbers a C/Python reader may meet: specials, overflow, junk
BAD_NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "1e308", "-0", "0x10",
               "1e", "--1", "1,5", "", "999999999999999999999", "2147483648", "-2147483649", "1e9", "-1",
               "0"]  # fmt: skip
bad_number_text = st.one_of(st.sampled_from(BAD_NUMBERS), floats.map(lambda x: f"{x:.17g}"))


def _fmt(x: float) -> str:
    return f"{x:.17g}"


def _finite(*xs: float) -> bool:
    return all(math.isfinite(x) for x in xs)


# ---- event files --------------------------------------------------------------------------------

particle = st.tuples(st.sampled_from([1, -1, 2, 5, 11, -13, 21, 22, 12, 1000022, 0, 2**31 - 1]),
                     momenta, momenta, momenta, momenta, st.one_of(st.floats(0, 200), floats))  # fmt: skip
event = st.tuples(st.one_of(st.floats(-10, 10), floats), st.lists(particle, min_size=1, max_size=6))


def _hepmc3(events: list[Any]) -> bytes:
    out = ["HepMC::Version 3.02.05", "HepMC::Asciiv3-START_EVENT_LISTING", "W nominal"]
    for k, (w, parts) in enumerate(events):
        out += [f"E {k} 1 {len(parts) + 2}", "U GEV MM", f"W {_fmt(w)}",
                "P 1 0 2212 0 0 6500 6500 0 4", "P 2 0 2212 0 0 -6500 6500 0 4", "V -1 0 [1,2]"]  # fmt: skip
        for i, (pid, px, py, pz, e, m) in enumerate(parts):
            out.append(f"P {i + 3} -1 {pid} {_fmt(px)} {_fmt(py)} {_fmt(pz)} {_fmt(e)} {_fmt(m)} 1")
    out.append("HepMC::Asciiv3-END_EVENT_LISTING")
    return ("\n".join(out) + "\n").encode()


def _hepmc2(events: list[Any]) -> bytes:
    out = ["HepMC::Version 2.06.09", "HepMC::IO_GenEvent-START_EVENT_LISTING"]
    for k, (w, parts) in enumerate(events):
        out += [f"E {k} 0 0 0 0 0 0 1 10001 10002 0 1 {_fmt(w)}", 'N 1 "nominal"', "U GEV MM",
                f"V -1 0 0 0 0 0 2 {len(parts)} 0",
                "P 10001 2212 0 0 6500 6500 0 4 0 0 -1 0", "P 10002 2212 0 0 -6500 6500 0 4 0 0 -1 0"]  # fmt: skip
        for i, (pid, px, py, pz, e, m) in enumerate(parts):
            out.append(f"P {10003 + i} {pid} {_fmt(px)} {_fmt(py)} {_fmt(pz)} {_fmt(e)} {_fmt(m)} 1 0 0 0 0")
    out.append("HepMC::IO_GenEvent-END_EVENT_LISTING")
    return ("\n".join(out) + "\n").encode()


def _lhe(events: list[Any]) -> bytes:
    out = ['<LesHouchesEvents version="3.0">', "<header>", "</header>", "<init>",
           "2212 2212 6500 6500 0 0 247000 247000 -4 1", "12.0 0.3 1.0 1", "</init>"]  # fmt: skip
    for w, parts in events:
        out += ["<event>", f" {len(parts) + 2} 1 {_fmt(w)} 91.2 0.0078 0.12",
                " 21 -1 0 0 501 502 0 0 400 400 0 0 9", " 21 -1 0 0 502 501 0 0 -300 300 0 0 9"]  # fmt: skip
        for pid, px, py, pz, e, m in parts:
            out.append(f" {pid} 1 1 2 0 0 {_fmt(px)} {_fmt(py)} {_fmt(pz)} {_fmt(e)} {_fmt(m)} 0 9")
        out.append("</event>")
    out.append("</LesHouchesEvents>")
    return ("\n".join(out) + "\n").encode()


RENDER: dict[str, Callable[[list[Any]], bytes]] = {"hepmc3": _hepmc3, "hepmc2": _hepmc2, "lhe": _lhe}


@st.composite
def event_files(draw: st.DrawFn, parser: str) -> Case:
    """An event file rendered from drawn events (momenta, masses and weights may be nan/inf/huge;
    the target's oracle makes an accepted non-finite value *silent*), then at most one damage:
    a line deleted or duplicated, a field deleted, or a cut at any byte (invalid if content went)."""
    evs = draw(st.lists(event, min_size=1, max_size=3))
    full = RENDER[parser](evs)
    data, note = full, "structured"
    lines = full.splitlines(keepends=True)
    damage = draw(st.sampled_from(["none", "none", "delete_line", "dup_line", "delete_field", "truncate"]))
    invalid = False
    if damage in ("delete_line", "dup_line"):
        i = draw(st.integers(0, len(lines) - 1))
        data = b"".join(lines[:i] + lines[i + 1 :] if damage == "delete_line" else lines[: i + 1] + lines[i:])
        note += f"+{damage}:{i}"
    elif damage == "delete_field":
        i = draw(st.integers(0, len(lines) - 1))
        fields = lines[i].split()
        if fields:
            j = draw(st.integers(0, len(fields) - 1))
            lines[i] = b" ".join(fields[:j] + fields[j + 1 :]) + b"\n"
        data = b"".join(lines)
        note += f"+delete_field:{i}"
    elif damage == "truncate":
        cut = draw(st.integers(0, len(full) - 1))
        data = full[:cut]
        invalid = _cut_is_short(full, data)
        note += f"+truncate:{cut}"
    ext = EVENT_EXT[parser]
    if draw(st.booleans()) and draw(st.booleans()):
        data, ext = gz(data), ext + ".gz"
    return Case(parser, data, ext, invalid, "hypothesis", note=note)


# ---- detector cards -----------------------------------------------------------------------------

CARD = REPO / "data" / "cards" / "atlas_run2.toml"
_SCALAR = re.compile(r"^(\s*[A-Za-z_][\w-]*\s*=\s*)(\"[^\"]*\"|true|false|[-+0-9.eE_]+)(\s*(#.*)?)$")


def _card_lines() -> list[tuple[int, str, Any]]:
    """(line index, key prefix, parsed value) of every one-line scalar ``key = value`` of the card."""
    out = []
    for i, line in enumerate(CARD.read_text().splitlines()):
        m = _SCALAR.match(line)
        if m and not line.lstrip().startswith(("schema", "name =")):
            out.append((i, m.group(1), tomllib.loads("x = " + m.group(2))["x"]))
    return out


toml_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: ("float", repr(x))),
    st.sampled_from(["nan", "-nan", "inf", "-inf"]).map(lambda s: ("special", s)),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: ("int", str(n))),
    st.sampled_from([-1, 0, 7.5, 1e308, -1e308]).map(lambda x: ("float", repr(x))),
    st.booleans().map(lambda b: ("bool", str(b).lower())),
    st.text(max_size=8).map(lambda s: ("string", json.dumps(s))),
    st.sampled_from(["[]", "[1, 2]", '["a"]', "{}", "{ a = 1 }"]).map(lambda s: ("container", s)),
)


@st.composite
def cards(draw: st.DrawFn) -> Case:
    """atlas_run2.toml with 1-3 real scalar keys given type- or range-violating values. Known
    invalid (must be a typed error): a number replaced by a string/bool/array/table or by nan, a
    boolean replaced by a non-boolean."""
    lines = CARD.read_text().splitlines()
    scalars = _card_lines()
    picks = draw(st.lists(st.integers(0, len(scalars) - 1), min_size=1, max_size=3, unique=True))
    invalid, notes = False, []
    for k in picks:
        i, prefix, old = scalars[k]
        kind, text = draw(toml_values)
        lines[i] = prefix + text
        number = isinstance(old, int | float) and not isinstance(old, bool)
        if number and (kind in ("string", "bool", "container") or text.endswith("nan")):
            invalid = True
        if isinstance(old, bool) and kind != "bool":
            invalid = True
        notes.append(f"{prefix.strip()} {text}")
    return Case("card", ("\n".join(lines) + "\n").encode(), ".toml", invalid, "hypothesis", note="; ".join(notes))


# ---- expressions (card expressions and analysis expressions) ------------------------------------


def _grammar(atoms: list[str], binops: list[str], funcs: dict[str, int], unary: list[str]) -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(binops), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            st.sampled_from(sorted(funcs)).flatmap(
                lambda f: st.lists(inner, min_size=funcs[f], max_size=funcs[f]).map(lambda a: f"{f}({', '.join(a)})")
            ),
            st.tuples(st.sampled_from(unary), inner).map(lambda t: t[0] + t[1]),
            inner.map(lambda s: f"({s})"),
        )

    small = st.recursive(st.sampled_from(atoms), extend, max_leaves=12)

    @st.composite
    def deep(draw: st.DrawFn) -> str:
        """Nesting and operator chains up to a few thousand deep."""
        n = draw(st.sampled_from([10, 100, 500, 1000, 3000]))
        atom = draw(st.sampled_from(atoms))
        kind = draw(st.sampled_from(["parens", "unary", "call", "chain"]))
        if kind == "parens":
            return "(" * n + atom + ")" * n
        if kind == "unary":
            return draw(st.sampled_from(unary)) * n + atom
        if kind == "call":
            f = draw(st.sampled_from([f for f, k in funcs.items() if k == 1]))
            return f"{f}(" * n + atom + ")" * n
        return f" {draw(st.sampled_from(binops))} ".join([atom] * n)

    damaged = small.flatmap(
        lambda s: st.integers(0, len(s)).flatmap(
            lambda i: st.sampled_from(["", "(", ")", ",", "..", "[", "]", "\x00", "\udcff", "1e400", "nan"]).map(
                lambda j: s[:i] + j + s[i:]
            )
        )
    )
    return st.one_of(small, small, deep(), damaged)


card_expressions = _grammar(
    ["pt", "eta", "abs_eta", "e", "m", "met", "1", "0", "2.5", "1e3", "-1", "1e308"],
    ["+", "-", "*", "/", "^", "<", "<=", ">", ">=", "==", "&&", "||"],
    {"sqrt": 1, "exp": 1, "log": 1, "abs": 1, "min": 2, "max": 2, "pow": 2},
    ["-", "!"],
)
analysis_expressions = _grammar(
    ["jets[0].pt", "jets[1].eta", "met.pt", "count(jets)", "HT(jets)", "1", "2.5", "-3", "electrons[0].pt",
     "jets[-1].phi", "jets[100000].pt"],
    ["+", "-", "*", "/", "<", ">", "==", "and", "or", "**", "%", ">="],
    {"abs": 1, "sqrt": 1, "log": 1, "exp": 1, "min": 2, "max": 2, "atan2": 2, "if": 3}, ["-", "not "],
)  # fmt: skip


def _text_case(parser: str) -> Callable[[str], Case]:
    return lambda s: Case(parser, s.encode("utf-8", "surrogateescape"), ".txt", False, "hypothesis", note=s[:120])


# ---- models -------------------------------------------------------------------------------------


@st.composite
def numbers_replaced(draw: st.DrawFn, parser: str, name: str) -> Case:
    """A seed model (TMVA XML / lwtnn JSON) with 1-3 of its numbers (weights, biases, cuts,
    offsets, scales, node indices, layer sizes) replaced by bad numbers; NaN outputs are caught
    by the target's oracle."""
    data = seed(name)
    spans = [m.span() for m in NUMBER.finditer(data)]
    picks = draw(st.lists(st.integers(0, len(spans) - 1), min_size=1, max_size=3, unique=True))
    notes = []
    for k in sorted(picks, reverse=True):
        a, b = spans[k]
        text = draw(bad_number_text)
        notes.append(f"{data[a:b].decode()}->{text}")
        data = data[:a] + text.encode() + data[b:]
    return Case(parser, data, "." + name.rsplit(".", 1)[1], False, "hypothesis", note=f"{name}: " + ", ".join(notes))


# ---- SLHA ---------------------------------------------------------------------------------------

sparticle_ids = st.sampled_from([1000021, 1000022, 1000001, 1000006, 2000011, 1000039])
mass_lines = st.lists(
    st.tuples(st.one_of(sparticle_ids, st.integers(-(2**31), 2**31)), st.one_of(st.floats(-5000, 5000), floats)),
    min_size=0,
    max_size=4,
)


@st.composite
def slha_files(draw: st.DrawFn) -> Case:
    """The seed spectrum with drawn MASS lines (PDG id, mass: nan/inf/negative/huge) added to its
    MASS block, or replacing its entries; the target checks Pythia used the masses."""
    lines = seed("spectrum.slha").decode().splitlines(keepends=True)
    at = next(i for i, x in enumerate(lines) if re.match(r"(?i)block\s+mass\b", x)) + 1
    end = next((i for i in range(at, len(lines)) if re.match(r"(?i)(block|decay)\b", lines[i])), len(lines))
    entries = draw(mass_lines)
    block = "".join(f"  {pid}  {_fmt(m)}   # drawn\n" for pid, m in entries)
    keep = draw(st.booleans())  # kept: drawn lines first, the old ones after; else the old ones dropped
    out = "".join(lines[:at] + [block] + (lines[at:end] if keep else []) + lines[end:])
    return Case("slha", out.encode(), ".slha", False, "hypothesis", note=block.strip()[:200])


# ---- the table ----------------------------------------------------------------------------------

STRATEGIES: dict[str, st.SearchStrategy[Case]] = {
    "hepmc3": event_files("hepmc3"),
    "hepmc2": event_files("hepmc2"),
    "lhe": event_files("lhe"),
    "card": cards(),
    "card_expr": card_expressions.map(_text_case("card_expr")),
    "expression": analysis_expressions.map(_text_case("expression")),
    "tmva": numbers_replaced("tmva", "model.xml"),
    "lwtnn": st.sampled_from(["model_seq.json", "model_graph.json"]).flatmap(lambda n: numbers_replaced("lwtnn", n)),
    "slha": slha_files(),
}
assert TOY_ANALYSIS.is_file()


def run(case: Case, timeout: float = 20.0) -> harness.Result:
    """One example in a forked child (harness.run_one): crashes and hangs are outcomes."""
    return harness.run_one(case, timeout=timeout)


def check(case: Case, timeout: float = 20.0) -> harness.Result:
    """The property: ok or typed, nothing else."""
    result = run(case, timeout)
    assert harness.outcome_is_acceptable(result), harness.describe(result)[:600]
    return result


def campaign(parsers: list[str], examples: int, timeout: float = 20.0) -> list[harness.Result]:
    """Draws ``examples`` inputs per parser (no shrinking, no assertion): the long run's rows."""
    results: list[harness.Result] = []
    for parser in parsers:
        if parser not in STRATEGIES:
            continue

        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(STRATEGIES[parser])
        def draw(case: Case) -> None:
            results.append(run(case, timeout))

        draw()
    return results
