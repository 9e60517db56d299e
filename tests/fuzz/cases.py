"""Fuzz cases: the seeded random generators per parser, the truncation sweep of the event files,
and the hand-made reproducers of the defects of issue 13 (``known_cases``, saved to the corpus).

A :class:`Case` is one input file for one parser. ``invalid`` marks inputs known to be wrong
(a cut event file, an efficiency of 7.5 ...): accepting one is the *silently accepted* outcome.
Case ``i`` of a parser under seed ``s`` is a pure function of (s, parser, i)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mutate import mutate

HERE = Path(__file__).parent
SEEDS = HERE / "seeds"
REPO = HERE.parents[1]
TOY_ANALYSIS = HERE.parent / "data" / "toy_analysis.yaml"


@dataclass
class Case:
    parser: str
    data: bytes
    ext: str
    invalid: bool = False
    origin: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def digest(self) -> str:
        h = hashlib.sha1(self.parser.encode() + b"\0" + self.ext.encode() + b"\0" + self.data)
        h.update(json.dumps(self.options, sort_keys=True).encode())
        return h.hexdigest()[:12]


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def seed(name: str) -> bytes:
    return (SEEDS / name).read_bytes()


EVENT_SEEDS = {"hepmc3": "events.hepmc3", "hepmc2": "events.hepmc2", "lhe": "events.lhe"}
EVENT_EXT = {"hepmc3": ".hepmc3", "hepmc2": ".hepmc", "lhe": ".lhe"}


def _cut_is_short(full: bytes, cut: bytes) -> bool:
    """A cut loses content unless only trailing whitespace went."""
    return cut.rstrip() != full.rstrip()


# ---- random cases ------------------------------------------------------------------------------


def _events(parser: str, rng: random.Random) -> Case:
    data = seed(EVENT_SEEDS[parser])
    out, ops = mutate(data, rng)
    invalid = ops == ["truncate"] and _cut_is_short(data, out)
    ext = EVENT_EXT[parser]
    if rng.random() < 0.2:
        out, ext = gz(out), ext + ".gz"
    return Case(parser, out, ext, invalid, "mutate:" + "+".join(ops))


def _card(rng: random.Random) -> Case:
    name = rng.choice(["card.toml", "card.toml", "card.toml", "atlas_run2.toml"])
    data = seed(name) if name == "card.toml" else (REPO / "data" / "cards" / name).read_bytes()
    out, ops = mutate(data, rng)
    return Case("card", out, ".toml", False, f"mutate({name}):" + "+".join(ops))


def _card_expressions() -> list[bytes]:
    text = (REPO / "data" / "cards" / "cms_run2.toml").read_text()
    found = [m.group(1).encode() for m in re.finditer(r'^expr = "(.*)"$', text, re.M)]
    return [*found, b"(abs_eta<=1.5)*0.99 + (abs_eta>1.5)*0.98", b"min(1, 0.5 + pt/1000)", b"-pt^2/e"]


OPERANDS = ["pt", "eta", "abs_eta", "e", "m", "met", "1", "0", "2.5", "1e3", "-1"]
FUNCS = ["sqrt", "exp", "log", "abs", "min", "max", "pow"]


def random_card_expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice(OPERANDS)
    if r < 0.55:
        op = rng.choice(["+", "-", "*", "/", "^", "<", "<=", ">", ">=", "==", "&&", "||"])
        return f"{random_card_expr(rng, depth + 1)} {op} {random_card_expr(rng, depth + 1)}"
    if r < 0.75:
        f = rng.choice(FUNCS)
        n = 2 if f in ("min", "max", "pow") else 1
        return f"{f}(" + ", ".join(random_card_expr(rng, depth + 1) for _ in range(n)) + ")"
    if r < 0.85:
        return "-" + random_card_expr(rng, depth + 1)
    return "(" + random_card_expr(rng, depth + 1) + ")"


def _card_expr(rng: random.Random) -> Case:
    base = rng.choice(_card_expressions()) if rng.random() < 0.5 else random_card_expr(rng).encode()
    out, ops = mutate(base, rng) if rng.random() < 0.7 else (base, [])
    return Case("card_expr", out, ".txt", False, "mutate:" + "+".join(ops))


def _analysis(rng: random.Random) -> Case:
    out, ops = mutate(TOY_ANALYSIS.read_bytes(), rng)
    return Case("analysis", out, ".yaml", False, "mutate:" + "+".join(ops))


ANALYSIS_EXPRESSIONS = [
    b"count(jets) + HT(jets)",
    b"jets[0].pt > 50 and abs(jets[1].eta) < 2.5",
    b"meff(jets) / sqrt(HT(jets))",
    b"count(select(jets, pt > 30 and abs(eta) < 2.5)) >= 2",
    b"min_dphi(jets, met, 4)",
    b"if(count(electrons) > 0, electrons[0].pt, -1)",
    b"dR(jets[0], jets[1]) + mT(jets[0], met)",
    b"any(jets.pt > 150) or not all(abs(electrons[0:2].eta) < 2)",
]
A_OPERANDS = ["jets[0].pt", "jets[1].eta", "met.pt", "count(jets)", "HT(jets)", "1", "2.5", "-3", "electrons[0].pt"]


def random_analysis_expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice(A_OPERANDS)
    if r < 0.6:
        op = rng.choice(["+", "-", "*", "/", "<", ">", "==", "and", "or", "**", "%", ">="])
        return f"{random_analysis_expr(rng, depth + 1)} {op} {random_analysis_expr(rng, depth + 1)}"
    if r < 0.8:
        f = rng.choice(["abs", "sqrt", "min", "max", "log", "exp", "atan2", "if"])
        n = {"min": 2, "max": 2, "atan2": 2, "if": 3}.get(f, 1)
        return f"{f}(" + ", ".join(random_analysis_expr(rng, depth + 1) for _ in range(n)) + ")"
    if r < 0.9:
        return rng.choice(["-", "not "]) + random_analysis_expr(rng, depth + 1)
    return "(" + random_analysis_expr(rng, depth + 1) + ")"


def _expression(rng: random.Random) -> Case:
    base = rng.choice(ANALYSIS_EXPRESSIONS) if rng.random() < 0.5 else random_analysis_expr(rng).encode()
    out, ops = mutate(base, rng) if rng.random() < 0.7 else (base, [])
    return Case("expression", out, ".txt", False, "mutate:" + "+".join(ops))


def _model(parser: str, rng: random.Random) -> Case:
    name = {"tmva": "model.xml", "onnx": "model.onnx", "mvautils": "model_mvautils.root"}.get(parser) or rng.choice(
        ["model_seq.json", "model_graph.json"]
    )
    out, ops = mutate(seed(name), rng)
    return Case(parser, out, Path(name).suffix, False, f"mutate({name}):" + "+".join(ops))


def _model_convert(rng: random.Random) -> Case:
    """Files that are no model (or a broken one) given to the converter: all must be refused."""
    kind = rng.choice(["random", "empty", "slha", "lhe", "text", "onnx_cut"])
    if kind == "random":
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    elif kind == "empty":
        data = b"" if rng.random() < 0.5 else b" \n" * rng.randrange(1, 4)
    elif kind == "slha":
        data = seed("spectrum.slha")
    elif kind == "lhe":
        data = seed("events.lhe")
    elif kind == "text":
        data = bytes(rng.choice(b"abcdefxyz 0123456789\n") for _ in range(rng.randrange(1, 200)))
    else:
        full = seed("model.onnx")
        data = full[: rng.randrange(1, len(full))]
    ext = rng.choice([".bin", ".onnx", ".dat", ".model"])
    return Case("model_convert", data, ext, True, f"not-a-model:{kind}")


def _particle_columns() -> dict[str, Any]:
    """The three seed events as flat from_arrays columns."""
    import recast_ml

    b = recast_ml.read_events(SEEDS / "events.hepmc3")
    return {
        "offsets": b.particle_offsets.tolist(),
        "px": b.px.tolist(),
        "py": b.py.tolist(),
        "pz": b.pz.tolist(),
        "e": b.e.tolist(),
        "pid": b.pid.tolist(),
        "status": b.status.tolist(),
        "parent_offsets": b.parent_offsets.tolist(),
        "parents": b.parents.tolist(),
    }


def _arrays(rng: random.Random) -> Case:
    doc: dict[str, Any] = {"columns": _particle_columns()}
    cols = doc["columns"]
    ops = []
    for _ in range(rng.choice((1, 1, 2))):
        op = rng.choice(["special", "drop", "nest", "empty", "offsets", "parents", "dtype", "nocopy", "threads", "pid",
                         "weight", "mass", "scalar"])  # fmt: skip
        ops.append(op)
        key = rng.choice(["px", "py", "pz", "e", "pid", "status", "offsets", "parents", "parent_offsets"])
        if op == "special" and key in ("px", "py", "pz", "e") and isinstance(cols[key], list) and cols[key]:
            cols[key][rng.randrange(len(cols[key]))] = rng.choice(["nan", "inf", "-inf", 1e308, -1e308])
        elif op == "drop" and isinstance(cols[key], list) and cols[key]:
            cols[key].pop(rng.randrange(len(cols[key])))
        elif op == "nest":
            cols[key] = [cols[key], cols[key]]
        elif op == "empty":
            doc["columns"] = cols = {k: ([0] if k in ("offsets", "parent_offsets") else []) for k in cols}
        elif op == "offsets" and isinstance(cols["offsets"], list):
            cols["offsets"][rng.randrange(len(cols["offsets"]))] = rng.choice([-1, 10**6, 2**40, 3])
        elif op == "parents" and isinstance(cols["parents"], list) and cols["parents"]:
            cols["parents"][rng.randrange(len(cols["parents"]))] = rng.choice([-1, 10**6, 2**31 - 1, 7])
        elif op == "dtype":
            doc.setdefault("dtypes", {})[key] = rng.choice(["int8", "float32", "uint64", "bool", "complex128", "str"])
        elif op == "nocopy":
            doc["copy"] = False
        elif op == "threads":
            doc["threads"] = rng.choice([0, -1, 64])
        elif op == "pid" and isinstance(cols["pid"], list) and cols["pid"]:
            cols["pid"][rng.randrange(len(cols["pid"]))] = rng.choice([0, 2**31 - 1, -(2**31)])
        elif op == "weight":
            cols["weight"] = rng.choice([["nan"] * 3, [1.0], [], [[1.0]], ["inf", 1, 1]])
        elif op == "mass":
            n = len(cols["px"]) if isinstance(cols["px"], list) else 1
            cols["mass"] = [rng.choice([-1.0, "nan", 0.0]) for _ in range(n)]
        elif op == "scalar":
            cols[key] = 3
    return Case("arrays", json.dumps(doc).encode(), ".json", False, "arrays:" + "+".join(ops))


def _table(rng: random.Random) -> Case:
    def jet(pt: Any, eta: Any = 0.5) -> dict[str, Any]:
        return {"pt": pt, "eta": eta, "phi": 0.3, "mass": 0.0}

    doc: dict[str, Any] = {
        "jets": [[jet(120.0), jet(60.0)], [jet(80.0)], []],
        "electrons": [[], [{"pt": 20.0, "eta": 0.1, "phi": 0.1, "mass": 0.0, "tight": True}], []],
        "met": [{"pt": 50.0, "phi": 1.0}] * 3,
        "weight": [1.0, 1.0, 1.0],
    }
    ops = []
    for _ in range(rng.choice((1, 2))):
        op = rng.choice(["special", "count", "field", "weight", "empty", "type"])
        ops.append(op)
        if op == "special" and doc["jets"] and len(doc["jets"][0]) == 2:
            doc["jets"][0][rng.randrange(2)][rng.choice(["pt", "eta", "phi", "mass"])] = rng.choice(["nan", "inf", -5])
        elif op == "count":
            doc[rng.choice(["jets", "electrons", "met"])].append({"pt": 1.0, "phi": 0.0} if rng.random() < 0.5 else [])
        elif op == "field" and doc["jets"] and doc["jets"][0]:
            doc["jets"][0][0].pop(rng.choice(["pt", "eta", "phi", "mass"]), None)
        elif op == "weight":
            doc["weight"] = rng.choice([["nan", 1, 1], [1.0], [], None, [-1, 0, 1e308]])
        elif op == "empty":
            doc.update(jets=[], electrons=[], met=[], weight=[])
        elif op == "type" and doc["met"]:
            doc["met"][0] = {"pt": "nan", "phi": True}
    return Case("table", json.dumps(doc).encode(), ".json", False, "table:" + "+".join(ops))


def _slha(rng: random.Random) -> Case:
    data = seed("spectrum.slha")
    lines = data.splitlines(keepends=True)
    if rng.random() < 0.5:  # damage a MASS or DECAY line: the part Pythia reads
        k = rng.choice([i for i, x in enumerate(lines) if re.match(rb"\s+100002[12]\s", x)] or [0])
        lines[k], ops = mutate(lines[k], rng)
        out = b"".join(lines)
    else:
        out, ops = mutate(data, rng)
    return Case("slha", out, ".slha", False, "mutate:" + "+".join(ops))


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "hepmc3": lambda r: _events("hepmc3", r),
    "hepmc2": lambda r: _events("hepmc2", r),
    "lhe": lambda r: _events("lhe", r),
    "card": _card,
    "card_expr": _card_expr,
    "analysis": _analysis,
    "expression": _expression,
    "tmva": lambda r: _model("tmva", r),
    "lwtnn": lambda r: _model("lwtnn", r),
    "onnx": lambda r: _model("onnx", r),
    "mvautils": lambda r: _model("mvautils", r),
    "model_convert": _model_convert,
    "arrays": _arrays,
    "table": _table,
    "slha": _slha,
}
PARSERS = list(GENERATORS)
#: relative cost: slha cases (Pythia initialisation) take ~1 s, the others milliseconds.
COST = {"slha": 50.0, "card": 2.0, "arrays": 2.0}


def random_case(parser: str, seed_: int, i: int) -> Case:
    rng = random.Random(f"{seed_}:{parser}:{i}")
    case = GENERATORS[parser](rng)
    case.origin = f"seed={seed_} i={i} {case.origin}"
    return case


def seed_cases() -> Iterator[Case]:
    """Every valid seed, which must be accepted ('rejected' otherwise: a harness or parser bug)."""
    for parser, name in EVENT_SEEDS.items():
        yield Case(parser, seed(name), EVENT_EXT[parser], origin="seed")
        yield Case(parser, gz(seed(name)), EVENT_EXT[parser] + ".gz", origin="seed")
    yield Case("card", seed("card.toml"), ".toml", origin="seed")
    yield Case("analysis", TOY_ANALYSIS.read_bytes(), ".yaml", origin="seed")
    for text in ANALYSIS_EXPRESSIONS:
        yield Case("expression", text, ".txt", origin="seed")
    for text in _card_expressions():
        yield Case("card_expr", text, ".txt", origin="seed")
    yield Case("tmva", seed("model.xml"), ".xml", origin="seed")
    yield Case("lwtnn", seed("model_seq.json"), ".json", origin="seed")
    yield Case("lwtnn", seed("model_graph.json"), ".json", origin="seed")
    yield Case("onnx", seed("model.onnx"), ".onnx", origin="seed")
    yield Case("model_convert", seed("model.onnx"), ".onnx", origin="seed")
    yield Case("mvautils", seed("model_mvautils.root"), ".root", origin="seed")
    yield Case("arrays", json.dumps({"columns": _particle_columns()}).encode(), ".json", origin="seed")
    yield Case("slha", seed("spectrum.slha"), ".slha", origin="seed")


# ---- truncation sweep ---------------------------------------------------------------------------


def truncations(parser: str, *, inside_lines: bool = True, compressed: bool = True) -> Iterator[Case]:
    """The seed event file cut at every line boundary (and inside every line: after its first
    character and before its last), plain and gzip-compressed, and the gzip stream itself cut at
    16 byte offsets. Every cut that loses content must raise."""
    data = seed(EVENT_SEEDS[parser])
    ext = EVENT_EXT[parser]
    cuts = set()
    pos = 0
    for line in data.splitlines(keepends=True):
        body = len(line.rstrip(b"\r\n"))
        if inside_lines and body >= 2:
            cuts.update((pos + 1, pos + body - 1))
        pos += len(line)
        cuts.add(pos)
    for cut in sorted(cuts):
        part = data[:cut]
        if not _cut_is_short(data, part):
            continue
        yield Case(parser, part, ext, True, f"truncate@{cut}/{len(data)}")
        if compressed:
            yield Case(parser, gz(part), ext + ".gz", True, f"truncate@{cut}/{len(data)} gz")
    if compressed:
        full = gz(data)
        for k in range(1, 17):
            cut = len(full) * k // 17
            yield Case(parser, full[:cut], ext + ".gz", True, f"gz stream cut@{cut}/{len(full)}")


# ---- the defects of issue 13 ----------------------------------------------------------------------


def _replace(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert old in data, old
    return data.replace(old, new, count)


def _lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _without(data: bytes, prefix: bytes) -> bytes:
    return b"".join(x for x in _lines_of(data) if not x.startswith(prefix))


def known_cases() -> Iterator[Case]:
    """Reproducers of the defects listed in issue 13 (item numbers in ``note``)."""
    # -- item 4: event readers
    for parser, name in EVENT_SEEDS.items():
        data, ext = seed(name), EVENT_EXT[parser]
        lines = _lines_of(data)
        if parser == "lhe":
            first_end = data.index(b"</event>\n") + len(b"</event>\n")
            header_end = data.index(b"<event>")
            footer = b"</LesHouchesEvents>"
        else:
            first_end = data.index(b"E 1 ")
            header_end = data.index(b"E 0 ")
            footer = b"HepMC::" + (b"Asciiv3" if parser == "hepmc3" else b"IO_GenEvent") + b"-END_EVENT_LISTING"
        yield Case(parser, data[:first_end], ext, True, "known", note="4: cut at an event boundary")
        yield Case(parser, gz(data[:first_end]), ext + ".gz", True, "known", note="4: cut at an event boundary (gz)")
        yield Case(parser, _without(data, footer), ext, True, "known", note="4: no footer")
        yield Case(parser, data[:header_end], ext, True, "known", note="4: header only")
        last = max(i for i, x in enumerate(lines) if x.startswith((b"P ", b"       ", b"        ")))
        cut = b"".join(lines[:last]) + lines[last].rstrip(b"\n")[:-1] + b"\n" + b"".join(lines[last + 1 :])
        yield Case(parser, cut, ext, True, "known", note="4: last particle line cut inside its last field")
        yield Case(parser, b"".join(lines[:last]) + lines[last].rstrip(b"\n")[:-1], ext, True, "known",
                   note="4: file ends inside the last field")  # fmt: skip
        if parser == "hepmc3":
            yield Case(parser, _replace(data, b"E 0 2 7", b"E 0 2 1000000000"), ext, True, "known",
                       note="4: declared particle count 1e9")  # fmt: skip
            yield Case(parser, _replace(data, b"E 0 2 7", b"E 0 1000000000 7"), ext, True, "known",
                       note="4: declared vertex count 1e9")  # fmt: skip
            p = b"P 4 -1 21 -3.0000000000000000e+01"
            yield Case(parser, _replace(data, p, b"P 4 -1 21 nan"), ext, True, "known", note="4: NaN px")
            yield Case(parser, _replace(data, p, b"P 4 -1 21 inf"), ext, True, "known", note="4: inf px")
            yield Case(parser, _replace(data, p, b"P 4 -1 21 -3.0\xff0000000000000e+01"), ext, True, "known",
                       note="10: non-UTF-8 byte in a bad line (message must not be empty)")  # fmt: skip
        if parser == "hepmc2":
            e0 = b"E 0 0 0.000000e+00 0.000000e+00 0.000000e+00 0 0 2 "
            yield Case(parser, _replace(data, e0, e0.replace(b" 0 0 2 ", b" 0 0 1000000000 ")), ext, True, "known",
                       note="4: declared vertex count 1e9")  # fmt: skip
            v = b"V -1 0 0 0 0 0 2 3 0"
            yield Case(parser, _replace(data, v, b"V -1 0 0 0 0 0 2 1000000000 0"), ext, True, "known",
                       note="4: declared outgoing particle count 1e9")  # fmt: skip
            p = b"P 10004 21 -3.0000000000000000e+01"
            yield Case(parser, _replace(data, p, b"P 10004 21 nan"), ext, True, "known", note="4: NaN px")
            yield Case(parser, _replace(data, p, b"P 10004 21 \xff"), ext, True, "known",
                       note="10: non-UTF-8 byte in a bad line")  # fmt: skip
        if parser == "lhe":
            yield Case(parser, _replace(data, b"<event>\n 2 1", b"<evnt>\n 2 1"), ext, True, "known",
                       note="4: damaged <event> tag")  # fmt: skip
            dup = b"        5  1    1    2  501    0 +5.0e+00 +1.0e+01 +5.0e+01 6.0e+01 4.7e+00 0.0e+00 9.0e+00\n"
            yield Case(parser, _replace(data, dup, dup + dup), ext, True, "known", note="4: duplicated particle line")
            yield Case(parser, _replace(data, dup, dup.replace(b" +5.0e+00 ", b" +5.0e+00 1.0 ")), ext, True,
                       "known", note="4: extra token on a particle line")  # fmt: skip
            yield Case(parser, _replace(data, b" 4 1 +2.5e-01", b" 1000000000 1 +2.5e-01"), ext, True, "known",
                       note="4: declared particle count 1e9")  # fmt: skip
            yield Case(parser, _replace(data, b"+5.0e+00 +1.0e+01 +5.0e+01", b"nan +1.0e+01 +5.0e+01"), ext, True,
                       "known", note="4: NaN px")  # fmt: skip
            yield Case(parser, _replace(data, b"+5.0e+00 +1.0e+01 +5.0e+01", b"+5.0e+00 +1.0e+01 +inf"), ext, True,
                       "known", note="4: inf pz")  # fmt: skip
            yield Case(parser, _replace(data, dup, dup.replace(b" 501 ", b" 5\xff1 ")), ext, True, "known",
                       note="10: non-UTF-8 byte in a bad line")  # fmt: skip

    # -- item 8: detector cards
    card = seed("card.toml")
    for old, new, note in [
        (b"eff_b = 0.77", b"eff_b = -1.0", "efficiency -1"),
        (b"eff_b = 0.77", b"eff_b = 7.5", "efficiency 7.5"),
        (b"eff_b = 0.77", b"eff_b = inf", "eff_b = inf"),
        (b"eff_b = 0.77", b"eff_b = nan", "eff_b = nan"),
        (b"rej_c = 4.9", b"rej_c = -4.9", "negative rejection (fake rate)"),
        (b"sigma_max = 0.5", b"sigma_max = nan", "sigma_max = nan"),
        (b'default_wp = "paper_77"', b'default_wp = "no_such_wp"', "default_wp naming no WP"),
        (b"[large_r_jet]\n", b"[large_r_jet]\nenabled = 1\n", "boolean given as int"),
        (b"pt_resolution = 0.05", b"pt_resolution = inf", "large_r_jet.pt_resolution = inf"),
        (b"mass_resolution = 0.10", b"mass_resolution = -0.10", "negative mass resolution"),
        (b"[electron]\n", b"[electron]\nno_such_key = 1\n", "unknown key"),
        (b"# ", b"# \xff", "non-UTF-8 byte"),
    ]:
        if old == b"# " and old not in card:
            yield Case(
                "card", card + b"# \xff comment\n", ".toml", True, "known", note="8: non-UTF-8 byte in a comment"
            )
            continue
        yield Case("card", _replace(card, old, new), ".toml", True, "known", note=f"8: {note}")
    atlas = (REPO / "data" / "cards" / "atlas_run2.toml").read_bytes()
    yield Case("card", _replace(atlas, b"\nefficiency = 0.95\n", b"\nefficiency = 7.5\n"), ".toml", True, "known",
               note="8: jvt efficiency 7.5 in a full card")  # fmt: skip
    yield Case("card", _replace(atlas, b"[electron.fake_from_jet]\nenabled = false\nrate = 0.0",
                                b"[electron.fake_from_jet]\nenabled = false\nrate = -0.2"), ".toml", True, "known",
               note="8: negative fake rate")  # fmt: skip
    deep = b"(" * 20_000 + b"pt" + b")" * 20_000
    expr_line = b'expr = "(abs_eta<=1.37)*1.0 + (abs_eta>1.37)*(0.95 - 0.01*log(pt/20 + 1))"'
    yield Case("card", _replace(card, expr_line, b'expr = "0.5*' + deep + b'"'), ".toml", False, "known",
               note="9: card expression with 20,000 nested parentheses")  # fmt: skip
    yield Case("card_expr", deep, ".txt", False, "known", note="9: 20,000 nested parentheses")
    yield Case("card_expr", b"-" * 20_000 + b"pt", ".txt", False, "known", note="9: 20,000 unary minus")
    yield Case("card_expr", b" + ".join([b"pt"] * 15_000), ".txt", False, "known", note="9: 15,000-term sum")

    # -- item 9 and 10: analysis expressions and definitions
    yield Case("expression", b"(" * 5000 + b"count(jets)" + b")" * 5000, ".txt", False, "known",
               note="9: 5,000 nested parentheses")  # fmt: skip
    yield Case("expression", b"abs(" * 5000 + b"count(jets)" + b")" * 5000, ".txt", False, "known",
               note="9: 5,000 nested calls")  # fmt: skip
    yield Case("expression", b"-" * 15_000 + b"count(jets)", ".txt", False, "known", note="9: 15,000 unary minus")
    yield Case("expression", b" + ".join([b"count(jets)"] * 13_000), ".txt", False, "known",
               note="9: 13,000-term sum (loads, then segfaulted in run)")  # fmt: skip
    yaml = TOY_ANALYSIS.read_bytes()
    yield Case("analysis", _replace(yaml, b"  ht: HT(good_jets)\n", b"  ht: HT(good_jets)\n  ht: HT(jets)\n"), ".yaml",
               True, "known", note="10: duplicate key")  # fmt: skip
    yield Case("analysis", _replace(yaml, b"# A small analysis", b"# A sm\xe4ll analysis"), ".yaml", True, "known",
               note="10: non-UTF-8 byte in a comment")  # fmt: skip
    deep_yaml = _replace(yaml, b"  ht: HT(good_jets)\n", b"  ht: " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n")
    yield Case("analysis", deep_yaml, ".yaml", False, "known", note="9: 5,000 nested parentheses in a definition")

    # -- item 7: converters
    xml = seed("model.xml")
    for old, new, note in [
        (b'Cut="2.5e+02"', b'Cut="nan"', "NaN cut"),
        (b'Cut="2.5e+02"', b'Cut="inf"', "inf cut"),
        (b'Cut="2.5e+02" cType="1"', b'Cut="2.5e+02" cType="x"', 'cType="x"'),
        (b'IVar="1" Cut="8.0e+02"', b'IVar="-1" Cut="8.0e+02"', "negative IVar on an internal node"),
        (b'res="-0.4"', b'res="nan"', "res=nan"),
        (b'res="-0.4"', b'res="1e400"', "res=1e400"),
        (b'VarIndex="1"', b'VarIndex="0"', "duplicate VarIndex"),
        (b'boostWeight="1" itree="1"', b'boostWeight="1" itree="1" ', "control: accepted"),
    ]:
        yield Case("tmva", _replace(xml, old, new), ".xml", note != "control: accepted", "known", note=f"7: {note}")
    seq = json.loads(seed("model_seq.json"))
    graph = json.loads(seed("model_graph.json"))
    for doc, where, value, note in [
        (seq, ("layers", 0, "weights", 0), None, "null weight"),
        (seq, ("layers", 0, "bias", 1), "1e400", "1e400 bias"),
        (seq, ("layers", 1, "weights", 2), "1e400", "1e400 weight"),
        (graph, ("nodes", 2, "layer_index"), -1, "layer_index -1"),
        (graph, ("nodes", 1, "layer_index"), 7, "layer_index beyond the layers"),
        (graph, ("inputs", 0, "variables", 1, "scale"), None, "null scale"),
    ]:
        d = json.loads(json.dumps(doc))
        node = d
        for k in where[:-1]:
            node = node[k]
        node[where[-1]] = "@@" if value == "1e400" else value
        text = json.dumps(d, indent=1).replace('"@@"', "1e400").encode()
        yield Case("lwtnn", text, ".json", True, "known", note=f"7: {note}")
    yield Case("model_convert", b"", ".bin", True, "known", note="7: empty file")
    yield Case("model_convert", bytes(random.Random(13).randrange(256) for _ in range(200)), ".bin", True, "known",
               note="7: random bytes")  # fmt: skip
    yield Case("model_convert", seed("spectrum.slha"), ".slha", True, "known", note="7/11: an SLHA file")
    yield Case("onnx", b"", ".onnx", True, "known", note="empty ONNX file")
    # MVAUtils ROOT forests (issue 15): cut, damaged, or a ROOT header with nothing behind it
    forest = seed("model_mvautils.root")
    for cut in (len(forest) // 2, len(forest) - 1):
        yield Case("mvautils", forest[:cut], ".root", True, "known", note=f"15: MVAUtils ROOT file cut at {cut}")
    yield Case("mvautils", b"root" + bytes(60), ".root", True, "known", note="15: ROOT magic, then zeros")
    yield Case("onnx", seed("model.onnx")[:100], ".onnx", True, "known", note="truncated ONNX file")

    # -- item 5: SLHA
    spectrum = seed("spectrum.slha")
    start = spectrum.index(b"BLOCK MASS")
    yield Case("slha", spectrum[:start] + spectrum[spectrum.index(b"BLOCK NMIX") :], ".slha", True, "known",
               note="5: no MASS block (Pythia's default spectrum)")  # fmt: skip
    yield Case("slha", b"", ".slha", True, "known", note="5: empty SLHA file")
    yield Case("slha", _replace(spectrum, b"BLOCK MASS", b"BLOCK MASS\n  1000021  nan"), ".slha", True, "known",
               note="5: NaN gluino mass")  # fmt: skip

    # -- run() inputs
    cols = _particle_columns()
    nan = dict(cols, px=["nan", *cols["px"][1:]])
    yield Case("arrays", json.dumps({"columns": nan}).encode(), ".json", False, "known", note="arrays: NaN px")
    short = dict(cols, py=cols["py"][:-1])
    yield Case("arrays", json.dumps({"columns": short}).encode(), ".json", True, "known", note="arrays: short column")
    nested = dict(cols, pz=[cols["pz"], cols["pz"]])
    yield Case("arrays", json.dumps({"columns": nested}).encode(), ".json", True, "known", note="arrays: 2-D column")
    empty = {k: ([0] if k in ("offsets", "parent_offsets") else []) for k in cols}
    yield Case("arrays", json.dumps({"columns": empty}).encode(), ".json", False, "known", note="arrays: no events")
    bad = dict(cols, offsets=[0, 7, 3, 21])
    yield Case("arrays", json.dumps({"columns": bad}).encode(), ".json", True, "known", note="arrays: offsets decrease")
    jets = [[{"pt": 120.0, "eta": 0.5, "phi": 0.3, "mass": 0.0}], []]
    electrons = [[], [{"pt": 20.0, "eta": 0.1, "phi": 0.1, "mass": 0.0, "tight": True}]]
    tab = {"jets": jets, "electrons": electrons, "met": [{"pt": 50.0, "phi": 1.0}] * 2, "weight": [1.0, 1.0]}
    yield Case("table", json.dumps(tab).encode(), ".json", False, "known", note="table: control, accepted")
    yield Case("table", json.dumps(dict(tab, met=tab["met"][:1])).encode(), ".json", True, "known",
               note="table: collections with different event counts")  # fmt: skip
    yield Case("table", json.dumps(dict(tab, weight=[1.0])).encode(), ".json", True, "known",
               note="table: weight of the wrong length")  # fmt: skip
    nan_jets = [[{"pt": "nan", "eta": 0.5, "phi": 0.3, "mass": 0.0}], []]
    yield Case("table", json.dumps(dict(tab, jets=nan_jets)).encode(), ".json", False, "known",
               note="table: NaN jet pT")  # fmt: skip
