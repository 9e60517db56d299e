"""The compact forms of the analysis-definition language (recast_ml.definition_lang): each expands
to what is written out by hand here; errors in them name file:line:column; the bundled definitions,
rewritten with them, expand to exactly the documents and specs of the hand-expanded originals."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recast_ml import ConfigError
from recast_ml.analysis import Analysis, Located, find_definition, load_definition, table_from_arrays
from toy_events import random_jets, random_met

HEAD = """format: recast_ml/analysis
format_version: 1
info: {id: LANG-1, experiment: toy, sqrt_s: 13, luminosity: 100}
"""


def plain(x: Any) -> Any:
    """A document without positions: Located -> str, keys as str."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, Located):
        return str(x)
    return x


def stripped_spec(x: Any) -> Any:
    """A core spec without positions (line, col), model bytes (converter output: the file's path
    stays) and directories (path, source: the file name stays)."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if k in ("line", "col", "bytes"):
                continue
            out[k] = Path(v).name if k in ("path", "source") else stripped_spec(v)
        return out
    if isinstance(x, list | tuple):
        return [stripped_spec(v) for v in x]
    return x


def sha(x: Any) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def generic(text: str) -> str:
    """Indices and slices as [K]: an element of a list-valued input looks like its source."""
    return re.sub(r"\[\d+(?::\d+)?\]", "[K]", text)


def write(tmp_path: Path, body: str, name: str = "analysis.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def where(path: Path, text: str, needle: str, nth: int = 0) -> str:
    """'file:line:col' of the nth occurrence of ``needle`` in ``text`` (as written to ``path``)."""
    full = HEAD + text
    pos = -1
    for _ in range(nth + 1):
        pos = full.index(needle, pos + 1)
    line = full.count("\n", 0, pos) + 1
    col = pos - (full.rfind("\n", 0, pos) + 1) + 1
    return f"{path}:{line}:{col}"


# ------------------------------------------------------------------------------------------------
# bare cuts
# ------------------------------------------------------------------------------------------------
def test_a_bare_cut_is_labelled_by_its_expression(tmp_path):
    compact = write(
        tmp_path, "regions:\n  - name: A\n    cuts:\n      - count(jets) >= 2\n      - x: met.pt > 1\n", "c.yaml"
    )
    by_hand = write(
        tmp_path,
        'regions:\n  - name: A\n    cuts:\n      - "count(jets) >= 2": count(jets) >= 2\n      - x: met.pt > 1\n',
        "h.yaml",
    )
    c, h = load_definition(compact), load_definition(by_hand)
    assert plain(c.doc) == plain(h.doc)
    assert [(n, str(e)) for n, e in c.region_cuts()["A"]] == [
        ("count(jets) >= 2", "count(jets) >= 2"),
        ("x", "met.pt > 1"),
    ]
    expr = c.region_cuts()["A"][0][1]
    assert (expr.line, expr.col) == (7, 9)  # the bare string itself


# ------------------------------------------------------------------------------------------------
# split regions
# ------------------------------------------------------------------------------------------------
SPLIT_2D = """regions:
  - name: pre
    cuts: ["n >= 1": count(jets) >= 1]
  - name: MB-{meff}-{ms}
    inherit: pre
    published: SR-{ms}-{meff}
    cuts: [count(jets) <= 3]
    split:
      - {variable: meff(jets), name: meff, label: meff, edges: [[100, 200, inf], [100, 300]]}
      - {variable: met.pt, name: ms, label: MET, edges: [0, 50, inf], names: [lo, hi]}
"""

SPLIT_2D_BY_HAND = """regions:
  - name: pre
    cuts: ["n >= 1": count(jets) >= 1]
  - name: MB-100-lo
    inherit: pre
    published: SR-lo-100
    cuts:
      - "count(jets) <= 3": count(jets) <= 3
      - "meff in [100, 200)": (meff(jets)) >= 100 and (meff(jets)) < 200
      - "MET in [0, 50)": met.pt >= 0 and met.pt < 50
  - name: MB-100-hi
    inherit: pre
    published: SR-hi-100
    cuts:
      - "count(jets) <= 3": count(jets) <= 3
      - "meff in [100, 300)": (meff(jets)) >= 100 and (meff(jets)) < 300
      - "MET in [50, inf)": met.pt >= 50
  - name: MB-200-lo
    inherit: pre
    published: SR-lo-200
    cuts:
      - "count(jets) <= 3": count(jets) <= 3
      - "meff in [200, inf)": (meff(jets)) >= 200
      - "MET in [0, 50)": met.pt >= 0 and met.pt < 50
"""


def test_a_2d_split_with_per_bin_edges_expands_to_the_regions_by_hand(tmp_path):
    """met.pt bins [0, 50) 'lo' and [50, inf) 'hi'; meff per MET bin: [100, 200, inf] for lo,
    [100, 300] for hi -> 3 cells, ordered by the lower edges (meff first)."""
    c = load_definition(write(tmp_path, SPLIT_2D, "c.yaml"))
    h = load_definition(write(tmp_path, SPLIT_2D_BY_HAND, "h.yaml"))
    assert plain(c.doc) == plain(h.doc)
    assert c.published_names() == {"pre": "pre", "MB-100-lo": "SR-lo-100", "MB-100-hi": "SR-hi-100",
                                   "MB-200-lo": "SR-lo-200"}  # fmt: skip
    # the generated expressions point at the variable they bin
    cuts = c.region_cuts()["MB-100-hi"]
    assert [n for n, _ in cuts] == ["n >= 1", "count(jets) <= 3", "meff in [100, 300)", "MET in [50, inf)"]
    text = (HEAD + SPLIT_2D).splitlines()
    for _, e in cuts[2:]:
        assert text[e.line - 1][e.col - 1 :].startswith(("meff(jets),", "met.pt,"))
    assert stripped_spec(c.spec()) == stripped_spec(h.spec()) | {"source": "c.yaml"}


def test_a_1d_split_and_a_regular_2d_grid(tmp_path):
    c = load_definition(
        write(
            tmp_path,
            "regions:\n  - name: S{ht}\n    split: [{variable: ht, edges: [0, 1.5, 2.5]}]\n"
            "  - name: G{a}_{b}\n    split: [{variable: a, edges: [0, 1, 2]}, {variable: b, edges: [5, 6, 7]}]\n",
        )
    )
    names = [str(r["name"]) for r in c.doc["regions"]]
    assert names == ["S0", "S1.5", "G0_5", "G0_6", "G1_5", "G1_6"]
    cuts = c.region_cuts()
    assert [(n, str(e)) for n, e in cuts["S1.5"]] == [("ht in [1.5, 2.5)", "ht >= 1.5 and ht < 2.5")]
    assert [(n, str(e)) for n, e in cuts["G1_5"]] == [
        ("a in [1, 2)", "a >= 1 and a < 2"),
        ("b in [5, 6)", "b >= 5 and b < 6"),
    ]


def test_split_regions_count_what_the_hand_written_regions_count(tmp_path):
    """End to end on random events: every cutflow of the split regions equals the hand version's."""
    rng = np.random.default_rng(5)
    n = 400
    jets = random_jets(rng, n, n_min=0, n_max=6, pt_mean=80, pt_min=20, abs_eta_max=2.8, mass_max=10, pt_ordered=True)
    table = table_from_arrays({"jets": jets}, {"met": random_met(rng, n, pt_mean=60, pt_min=0)})
    rc = Analysis.for_arrays(write(tmp_path, SPLIT_2D, "c.yaml"), table).run_table(table)
    rh = Analysis.for_arrays(write(tmp_path, SPLIT_2D_BY_HAND, "h.yaml"), table).run_table(table)
    assert list(rc.cutflows) == list(rh.cutflows) == ["pre", "MB-100-lo", "MB-100-hi", "MB-200-lo"]
    for name, cf in rh.cutflows.items():
        assert rc.cutflows[name].names == cf.names
        np.testing.assert_array_equal(rc.cutflows[name].n, cf.n)
    assert sum(int(rc.cutflows[r].n[-1]) for r in ("MB-100-lo", "MB-100-hi", "MB-200-lo")) > 0


# ------------------------------------------------------------------------------------------------
# model cards: templates and list-valued inputs
# ------------------------------------------------------------------------------------------------
CARDS = """model_templates:
  base:
    description: "BDT {model}"
    route: event.number % 2
    outputs:
      score: {tensor: score, meaning: signal-like near +1}
  half:
    template: base
    source: a paper
models:
  m1:
    template: half
    files: [{file: a.onnx, sha256: SHA_A}]
    outputs: {score: {meaning: overridden}}
    inputs:
      - {name: met, expr: met.pt}
      - {name: jetPt, expr: 'jets[0:3].pt', unit: GeV, pad: 0, mean: [1, 2, 3], std: 2}
      - {names: [e_a, e_b], expr: 'sqrt(jets[1:3].pt * jets[1:3].pt)', offset: -1, scale: [0.5, 0.25]}
      - {name: "phi_{i}_x", expr: 'jets[2:4].phi', pad: [-5, -6]}
regions:
  - name: A
    cuts: ["s": m1.score > 0]
"""

CARDS_BY_HAND = """models:
  m1:
    files: [{file: a.onnx, sha256: SHA_A}]
    outputs: {score: {tensor: score, meaning: overridden}}
    inputs:
      - {name: met, expr: met.pt}
      - {name: jetPt0, expr: 'jets[0].pt', unit: GeV, pad: 0, mean: 1, std: 2}
      - {name: jetPt1, expr: 'jets[1].pt', unit: GeV, pad: 0, mean: 2, std: 2}
      - {name: jetPt2, expr: 'jets[2].pt', unit: GeV, pad: 0, mean: 3, std: 2}
      - {name: e_a, expr: 'sqrt(jets[1].pt * jets[1].pt)', offset: -1, scale: 0.5}
      - {name: e_b, expr: 'sqrt(jets[2].pt * jets[2].pt)', offset: -1, scale: 0.25}
      - {name: phi_2_x, expr: 'jets[2].phi', pad: -5}
      - {name: phi_3_x, expr: 'jets[3].phi', pad: -6}
    description: "BDT m1"
    route: event.number % 2
    source: a paper
regions:
  - name: A
    cuts: ["s": m1.score > 0]
"""


def test_templates_and_list_valued_inputs_expand_to_the_card_by_hand(tmp_path):
    a = "a" * 64
    c = load_definition(write(tmp_path, CARDS.replace("SHA_A", a), "c.yaml"))
    h = load_definition(write(tmp_path, CARDS_BY_HAND.replace("SHA_A", a), "h.yaml"))
    assert plain(c.doc) == plain(h.doc)
    card = c.doc["models"]["m1"]
    assert list(card)[:3] == ["files", "outputs", "inputs"]  # the card's own keys first: its lines locate it
    text = (HEAD + CARDS).splitlines()
    for i in card["inputs"]:  # every expression points at the (list-valued) text it comes from
        src = text[i["expr"].line - 1][i["expr"].col - 1 :]
        assert generic(src).startswith(generic(str(i["expr"])))
    assert str(card["description"]) == "BDT m1"
    assert card["description"].line == 6  # the template's line


def test_only_element_wise_slices_make_an_input_list_valued(tmp_path):
    """A slice under a list-reducing call (sum, all, HT, min_dphi, ...) keeps the input one number
    (as before the compact forms): only the element-wise occurrences become [k]."""
    body = (
        MODEL
        + "    inputs:\n"
        + "".join(
            f"      - {{name: {n}, expr: '{e}'}}\n"
            for n, e in [
                ("a", "sum(jets[0:4].pt)"),
                ("b", "all(abs(jets[0:2].eta) < 2) and not (met.pt > 1)"),
                ("c", "HT(jets[0:4]) + min_dphi(jets[0:3], met)"),
                ("f", "jets[0:2].pt / sum(jets[0:2].pt) + if(jets[0:2].pt > 5, 1, 0)"),
                ("g", "-(abs(jets[1:3] . eta))"),
            ]
        )
    )
    d = load_definition(write(tmp_path, body + "regions:\n  - name: A\n"))
    got = [(str(i["name"]), str(i["expr"])) for i in d.doc["models"]["m"]["inputs"]]
    assert got == [
        ("a", "sum(jets[0:4].pt)"),
        ("b", "all(abs(jets[0:2].eta) < 2) and not (met.pt > 1)"),
        ("c", "HT(jets[0:4]) + min_dphi(jets[0:3], met)"),
        ("f0", "jets[0].pt / sum(jets[0:2].pt) + if(jets[0].pt > 5, 1, 0)"),
        ("f1", "jets[1].pt / sum(jets[0:2].pt) + if(jets[1].pt > 5, 1, 0)"),
        ("g1", "-(abs(jets[1] . eta))"),
        ("g2", "-(abs(jets[2] . eta))"),
    ]


def test_a_templated_card_with_list_inputs_runs_like_the_card_by_hand(tmp_path, shared_data):
    """A real TMVA BDT (SUSY-2018-22 GGd4, 2 folds): the compact card compiles to the same spec
    and gives the same scores as the hand-written one."""
    xml = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml"
    files = ""
    for k in (1, 2):
        shutil.copy(xml / f"ZeroLepton2018-SRBDT-GGd4_weight{k}.xml", tmp_path / f"w{k}.xml")
        digest = hashlib.sha256((tmp_path / f"w{k}.xml").read_bytes()).hexdigest()
        files += f"      - {{file: w{k}.xml, sha256: {digest}, route: {k - 1}}}\n"
    tail = "variables:\n  meff: meff(jets)\n  s: GGd4.score\nregions:\n  - name: A\n    cuts: [s > 0]\n"
    compact = (
        f"""model_templates:
  bdt: {{route: event.number % 2, outputs: {{score: {{tensor: score}}}}}}
models:
  GGd4:
    template: bdt
    files:
{files}    inputs:
      - {{name: met, expr: met.pt}}
      - {{name: meff, expr: meff}}
      - {{name: jetPt, expr: 'jets[0:4].pt', pad: 0}}
      - {{name: jetEta, expr: 'jets[0:4].eta', pad: [0, 0, 0, 0]}}
"""
        + tail
    )
    by_hand = (
        "models:\n  GGd4:\n    route: event.number % 2\n    outputs: {score: {tensor: score}}\n    files:\n"
        + files
        + "    inputs:\n      - {name: met, expr: met.pt}\n      - {name: meff, expr: meff}\n"
        + "".join(f"      - {{name: jetPt{k}, expr: 'jets[{k}].pt', pad: 0}}\n" for k in range(4))
        + "".join(f"      - {{name: jetEta{k}, expr: 'jets[{k}].eta', pad: 0}}\n" for k in range(4))
        + tail
    )
    rng = np.random.default_rng(3)
    n = 300
    jets = random_jets(rng, n, n_min=2, n_max=6, pt_mean=150, pt_min=50, abs_eta_max=2.8, mass_max=20, pt_ordered=True)
    table = table_from_arrays(
        {"jets": jets}, {"met": random_met(rng, n, pt_mean=300, pt_min=250)}, event_number=np.arange(n)
    )
    c_path, h_path = write(tmp_path, compact, "c.yaml"), write(tmp_path, by_hand, "h.yaml")
    spec_c = stripped_spec(load_definition(c_path).spec())
    assert spec_c == stripped_spec(load_definition(h_path).spec()) | {"source": "c.yaml"}
    sc = Analysis.for_arrays(c_path, table).run_table(table).variable("s")
    sh = Analysis.for_arrays(h_path, table).run_table(table).variable("s")
    np.testing.assert_array_equal(sc, sh)
    assert np.isfinite(sc).all()
    assert len(set(sc.tolist())) > 10


# ------------------------------------------------------------------------------------------------
# errors: typed, located
# ------------------------------------------------------------------------------------------------
MODEL = "models:\n  m:\n    files: [{file: a.onnx, sha256: " + "a" * 64 + "}]\n    outputs: {s: {}}\n"

ERRORS = [
    # (yaml body, needle locating the error, message fragment)
    (
        "models:\n  m:\n    template: nope\n    files: [{file: a.onnx, sha256: " + "a" * 64 + "}]\n",
        "nope",
        "model 'm': no model template 'nope' (model_templates: none)",
    ),
    (
        "model_templates:\n  t: {outputs: {score: {tensor: s}}, inputs: [{name: x, expr: met.pt}]}\n"
        "models:\n  m:\n    template: t\n    files: [{file: a.onnx, sha256: " + "a" * 64 + "}]\n"
        "    outputs: {scor: {meaning: typo}}\n",
        "scor: {meaning",
        "model 'm' (template 't') overrides outputs.scor, which the template does not have (it has: score)",
    ),
    (
        "model_templates:\n  t: {template: u}\n  u: {template: t}\nmodels:\n  m: {template: t}\n",
        "t}\nmodels",
        "circular model templates t -> u -> t",
    ),
    (
        "model_templates:\n  t: {route: event.number % 2}\n"
        "models:\n  m: {template: t, inputs: [{name: x, expr: met.pt}]}\n",
        "m: {",
        "model 'm' has no 'files' (nor has its template)",
    ),
    (
        MODEL + "    inputs:\n      - {names: [a, b, c], expr: 'jets[0:2].pt'}\n",
        "names",
        "3 names for the 2 elements of [0:2]",
    ),
    (
        MODEL + "    inputs:\n      - {name: a, expr: 'jets[0:2].pt', pad: [1, 2, 3]}\n",
        "pad",
        "'pad' has 3 values for the 2",
    ),
    (
        MODEL + "    inputs:\n      - {name: a, expr: 'jets[0:2].pt + jets[1:3].pt'}\n",
        "jets[0",
        "uses one slice, got [0:2], [1:3]",
    ),
    (MODEL + "    inputs:\n      - {name: a, expr: 'jets[2:2].pt'}\n", "jets[2", "the slice [2:2] is empty"),
    (MODEL + "    inputs:\n      - {names: [a], expr: 'met.pt'}\n", "names", "'names' as a list needs a list-valued"),
    (MODEL + "    inputs:\n      - {name: a, expr: 'jets[0:99999999].pt'}\n", "jets[0", "at most 4096"),
    (
        "regions:\n  - name: R{a}{b}\n    split:\n      - {variable: a, edges: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n"
        "      - {variable: b, edges: [" + ", ".join(str(k) for k in range(1002)) + "]}\n",
        "split",
        "split into up to 10010 regions, at most 10000",
    ),
    (
        "regions:\n  - name: R{a}\n    split: [{variable: a, edges: [0, 1, 2], names: [x]}]\n",
        "names",
        "split dimension 'a': 1 names for 2 bins",
    ),
    (
        "regions:\n  - name: R{a}\n    split: [{variable: a, edges: [0, 1]}, {variable: b, edges: [0, 1]}]\n",
        "R{a}",
        "the region name 'R{a}' must name every split dimension (one region per cell); missing {b}",
    ),
    ("regions:\n  - name: R{x}\n    split: [{variable: a, edges: [0, 1]}]\n", "R{x}", "unknown placeholder {x}"),
    (
        "regions:\n  - name: R{a}\n    split: [{variable: a, edges: [0, 2, 1]}]\n",
        "edges",
        "split dimension 'a': edges must increase, got 2 then 1",
    ),
    (
        "regions:\n  - name: R{a}\n    split: [{variable: a, edges: [0, 1, zz]}]\n",
        "zz",
        "bin edge 'zz' is not a number or 'inf'",
    ),
    (
        "regions:\n  - name: R{a}\n    split: [{variable: a + b, edges: [0, 1]}]\n",
        "a + b",
        "split dimension 1: the variable 'a + b' is not a plain name; give 'name'",
    ),
    (
        "regions:\n  - name: R{a}{b}\n    split:\n      - {variable: a, edges: [[0, 1], [0, 2], [0, 3]]}\n"
        "      - {variable: b, edges: [0, 1, 2]}\n",
        "edges",
        "split dimension 'a': 3 lists of edges for the 2 bins of 'b'",
    ),
]


@pytest.mark.parametrize(("body", "needle", "message"), ERRORS, ids=[m[:40] for _, _, m in ERRORS])
def test_errors_in_compact_forms_name_file_line_and_column(tmp_path, body, needle, message):
    if "regions:" not in body:
        body += "regions:\n  - name: A\n"
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_definition(path)
    assert message in err.value.message
    assert str(err.value).startswith(where(path, body, needle) + ": "), str(err.value)


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        ("{variable: ht, edges: [0, 1000, 2000, inf], names: [low, mid]}", "2 bin names for 3 bins"),
        ("{variable: ht, edges: [0, 2000, 1000, inf]}", "bin edges must increase, got 2000 then 1000"),
    ],
)
def test_bad_bins_name_the_yaml_line_not_the_resolved_json(tmp_path, capsys, bins, message):
    """A multi-bin region's edges and names are checked where the YAML line is known: before, the
    core reported a JSON pointer into the resolved definition (a temporary file for `definition
    resolve`, and counting the regions after the splits were expanded)."""
    from recast_ml.cli import main

    body = (
        "variables:\n  ht: HT(jets)\nregions:\n  - name: R{ht}\n    split: [{variable: ht, edges: [0, 1, 2]}]\n"
        f"  - name: HT\n    bins: {bins}\n"
    )
    path = write(tmp_path, body)
    line = (HEAD + body).splitlines().index(f"    bins: {bins}") + 1
    assert main(["definition", "resolve", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"recast-ml: error: {path}:{line}: region 'HT': {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        # an object entry with a misspelt key: not "valid under none of" object / overlap / merge
        (
            'objects:\n  - {name: good, from: jets, selct: "pt > 50"}\nregions:\n  - name: A\n',
            "good",
            "objects/0: Additional properties are not allowed ('selct' was unexpected)",
        ),
        # a model file entry without any checksum
        (
            "models:\n  m:\n    files:\n      - {file: m.xml}\n    inputs: [{name: a, expr: met.pt}]\n"
            "    outputs: {s: {tensor: score}}\nregions:\n  - name: A\n",
            "m.xml",
            "models/m/files/0: needs one of the keys 'sha256', 'git_blob_sha1', 'unavailable_reason'",
        ),
        # a cut of the mapping form with an unknown key (not "a cut must be a string")
        (
            "regions:\n  - name: A\n    cuts: [{name: SR, cut: met.pt > 1, descr: x}]\n",
            "cuts:",
            "regions/0/cuts/0: Additional properties are not allowed ('descr' was unexpected)",
        ),
        # no alternative fits clearly (a misspelt `overlap`): jsonschema's own message, no advice
        (
            "objects:\n  - {overlapp: {remove: jets, near: jets, dr: 0.4}}\nregions:\n  - name: A\n",
            "overlapp",
            "objects/0: {'overlapp': {'remove': 'jets', 'near': 'jets', 'dr': 0.4}} is not valid under any of the "
            "given schemas",
        ),
        # a number: the line of its key, not of a neighbour
        (
            "objects:\n  - overlap:\n      remove: jets\n      near: jets\n      dr: -1\nregions:\n  - name: A\n",
            "dr:",
            "objects/0/overlap/dr: -1 is less than or equal to the minimum of 0",
        ),
        ("regions: [1]\n", "regions:", "regions/0: 1 is not of type 'object'"),
        # a list of numbers has no position of its own: the line of the mapping holding it
        (
            "regions:\n  - name: A\n    bins: {variable: met.pt, edges: [0]}\n",
            "bins:",
            "regions/0/bins/edges: [0] is too short",
        ),
    ],
)
def test_schema_errors_say_what_is_wrong_and_where(tmp_path, body, needle, message):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_definition(path)
    assert err.value.message == message
    assert err.value.line == int(where(path, body, needle).split(":")[-2])


def test_a_malformed_compact_form_is_a_schema_error(tmp_path):
    path = write(tmp_path, "regions:\n  - name: R{a}\n    split: [{variable: a, edge: [0, 1]}]\n")
    with pytest.raises(ConfigError, match=r"regions/0/split/0: "):
        load_definition(path)


def broken_copy(tmp_path: Path, old: str, new: str) -> tuple[Path, int, str]:
    """A copy of ATLAS-SUSY-2018-22 with the first input line holding ``old`` (GGd1's) rewritten
    as ``new``: its path, the line number and the new line."""
    src = find_definition("ATLAS-SUSY-2018-22").parent
    shutil.copytree(src, tmp_path / "A")
    path = tmp_path / "A" / "analysis.yaml"
    lines = path.read_text().splitlines()
    k = next(k for k, line in enumerate(lines) if old in line and "expr:" in line)
    lines[k] = lines[k].replace(old, new)
    path.write_text("\n".join(lines) + "\n")
    return path, k + 1, lines[k]


LIST_INPUT_ERRORS = [
    # (the GGd1 input line's text, its replacement, the text the error is at (its last occurrence),
    #  message, element note)
    (
        "{name: jetPt, expr: 'sig_jets[0:4].pt'",
        "{name: jetPt, expr: 'sig_jets[0:4].ptt'",
        "ptt",
        "'sig_jets' has no field 'ptt' (did you mean 'pt'?); fields: pt, eta,",
        "in 'jetPt0', element 0 of the list-valued input 'jetPt'",
    ),
    (
        "{name: jetPt, expr: 'sig_jets[0:4].pt'",
        "{name: jetPt, expr: 'sig_jetz[0:4].pt'",
        "sig_jetz",
        "unknown name 'sig_jetz' (did you mean 'sig_jets'?)",
        "in 'jetPt0', element 0 of the list-valued input 'jetPt'",
    ),
    (
        "{name: jetPt, expr: 'sig_jets[0:4].pt'",
        "{name: jetPt, expr: 'abs(sig_jets[0:4].pt) + sig_jets'",
        "sig_jets",
        "'+' needs numbers, this is a collection",
        "in 'jetPt0', element 0 of the list-valued input 'jetPt'",
    ),
    (  # the element of another index, an input given by `names`
        "{name: jetEta, expr: 'sig_jets[0:4].eta'",
        "{names: [jetEta0, jetEta1, jetEta2, jetEta3], expr: 'sig_jets[1:5].etaa'",
        "etaa",
        "'sig_jets' has no field 'etaa' (did you mean 'eta'?)",
        "in 'jetEta0', element 1 of the list-valued input [jetEta0, jetEta1, jetEta2, jetEta3]",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "needle", "message", "note"), LIST_INPUT_ERRORS, ids=[m[:30] for *_, m, _ in LIST_INPUT_ERRORS]
)
def test_an_error_in_a_list_valued_input_quotes_it_as_written(tmp_path, capsys, old, new, needle, message, note):
    """The core's error in an element's expression quoted the element (``sig_jets[0].ptt``) and
    counted its column in it (2 short after the slice): it quotes the text of the file, with the
    caret and the column there, and says which element it was (Analysis.load and the CLI)."""
    from recast_ml.cli import main

    path, line, text = broken_copy(tmp_path, old, new)
    written = new.split("expr: '")[1].rstrip("'")  # the expression as in the file
    col = text.rindex(needle) + 1
    with pytest.raises(ConfigError) as err:
        Analysis.load(path)
    head, echo, caret = err.value.message.split("\n")
    assert (err.value.file, err.value.line, err.value.column) == (str(path), line, col)
    assert head.startswith(message)
    assert head.endswith(f" ({note})")
    assert echo == "    " + written
    assert caret == "    " + " " * written.rindex(needle) + "^"
    assert main(["definition", "resolve", str(path), "-o", str(tmp_path / "out")]) == 2
    err_line = capsys.readouterr().err
    assert err_line == f"recast-ml: error: {path}:{line}:{col}: {head} {written}\n"


def test_a_list_valued_input_that_is_not_a_number_names_its_element(tmp_path):
    """An error without the expression's text (the input's type) names the element's feature
    (jetPt0): the message says which list-valued input, and which element, that is."""
    path, line, text = broken_copy(tmp_path, "'sig_jets[0:4].pt'", "'sig_jets[0:4].pt * 0 + sig_jets.pt'")
    with pytest.raises(ConfigError) as err:
        Analysis.load(path)
    assert str(err.value) == (
        f"{path}:{line}:{text.index('sig_jets') + 1}: model 'GGd1' input 'jetPt0' must be a number, this is a "
        "number list (in 'jetPt0', element 0 of the list-valued input 'jetPt')"
    )


def test_an_error_in_an_ordinary_input_is_as_the_core_says_it(tmp_path):
    """Beside the list-valued inputs, an ordinary input's error is the core's, unchanged."""
    path, line, text = broken_copy(tmp_path, "{name: Ap, expr: ap}", "{name: Ap, expr: 'sig_jets[0].ptt'}")
    with pytest.raises(ConfigError) as err:
        Analysis.load(path)
    assert (err.value.line, err.value.column) == (line, text.index("ptt") + 1)
    head, echo, caret = err.value.message.split("\n")
    assert head.startswith("'sig_jets' has no field 'ptt' (did you mean 'pt'?); fields: pt, eta,")
    assert head.endswith(", jvt")
    assert (echo, caret) == ("    sig_jets[0].ptt", "    " + " " * 12 + "^")


# ------------------------------------------------------------------------------------------------
# the bundled definitions
# ------------------------------------------------------------------------------------------------
# Generated from the hand-expanded originals (commit f312148, before the rewrite) with
#   git show f312148:analyses/<ID>/analysis.yaml > <dir>/analyses/<ID>/analysis.yaml   (models linked beside)
#   python tests/test_definition_lang.py <dir>/analyses/<ID>/analysis.yaml
# doc: the loaded document without positions; spec: Definition.spec() without positions, model
# bytes (converter output) and directories; regions: the region names, sorted, one per line.
REFERENCE = {
    "ATLAS-SUSY-2018-22": {
        "doc": "f69b5c01e5a045a818080d29fe7c1cf6b39d0d1da4309798b27c311603392f3b",
        "spec": "b4a31266585cb2ba62842a2a1b5f12ab3ee1cfe4a17edabd5e2f0d5215900aef",
        "regions": "0d17c9102f2370c8649fbb7378edee2a031ca7d143f51d2b445b980e74e239e5",
        "n_regions": 85,
    },
    "ATLAS-SUSY-2019-04": {
        "doc": "e87af77de77c708e66e22cab4a65c5b2972ad581f7457fdc36610a69cd8d72d6",
        "spec": "1ed9339123f3070dcf9f5127ea38a8fc04685c0a634d5be2d242dae2ee7a15ce",
        "regions": "0d0d4035a8510187719d3a3a55d1ace1a564957f5a9919508422da100303b130",
        "n_regions": 28,
    },
}


def reference(path: Path) -> dict[str, Any]:
    d = load_definition(path)
    names = [str(r["name"]) for r in d.doc["regions"]]
    return {
        "doc": sha(plain(d.doc)),
        "spec": sha(stripped_spec(d.spec())),
        "regions": hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest(),
        "n_regions": len(names),
    }


@pytest.mark.parametrize("analysis", sorted(REFERENCE))
def test_bundled_definitions_expand_to_the_hand_expanded_originals(analysis, shared_data):
    path = find_definition(analysis)
    text = path.read_text()
    assert "split:" in text or "names:" in text or "{i}" in text  # the rewrite is installed
    assert reference(path) == REFERENCE[analysis]


@pytest.mark.parametrize("analysis", sorted(REFERENCE))
def test_bundled_generated_expressions_point_at_their_source_text(analysis, shared_data):
    """Every expression of the spec is at its line:column verbatim, or is generated from the text
    there: an element of a list-valued input (the slice at the source) or a split cut (the variable)."""
    path = find_definition(analysis)
    definition = load_definition(path)
    # text from an included file (`include:`) points into that file: its Located strings name it
    origin: dict[tuple[str, int, int], str] = {}

    def files(x: Any) -> None:
        if isinstance(x, Located) and x.file is not None:
            origin[(str(x), x.line, x.col)] = x.file
        elif isinstance(x, dict):
            for k, v in x.items():
                files(k)
                files(v)
        elif isinstance(x, list):
            for v in x:
                files(v)

    files(definition.doc)
    lines = {f: Path(f).read_text().splitlines() for f in {str(path), *origin.values()}}
    kinds: dict[str, int] = {}

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if {"text", "line", "col"} <= set(x) and x["text"]:
                file = origin.get((x["text"], x["line"], x["col"]), str(path))
                src = lines[file][x["line"] - 1][x["col"] - 1 :]
                t = x["text"]
                if src.startswith(t):
                    kind = "verbatim"
                elif generic(src).startswith(generic(t)):
                    kind = "list input"
                else:
                    m = re.match(r"(\w+) (>=|<) ", t)
                    assert m, (x, src)
                    assert re.match(rf"{m.group(1)}\b", src), (x, src)
                    kind = "split cut"
                kinds[kind] = kinds.get(kind, 0) + 1
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(definition.spec())
    assert kinds["list input"] > 0
    assert kinds["verbatim"] > 100
    if analysis == "ATLAS-SUSY-2018-22":
        assert kinds["split cut"] == 120  # 60 multi-bin regions x (meff, MET/sqrt(HT))


if __name__ == "__main__":  # regenerate a REFERENCE entry from a definition file
    for arg in sys.argv[1:]:
        print(arg, json.dumps(reference(Path(arg)), indent=1))


def test_bin_edges_written_as_inf_strings_load_as_the_core_reads_them(tmp_path):
    """'-inf' / 'inf' strings (as in the resolved JSON) and YAML's .inf are open edges; '-inf' was
    refused as 'not a number or inf'."""
    from recast_ml.cli import main

    body = "regions:\n  - name: HT\n    bins: {variable: met.pt, edges: ['-inf', 0, 100, .inf]}\n"
    path = write(tmp_path, body)
    assert main(["definition", "resolve", str(path), "-o", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "definition.json").read_text())
    assert doc["regions"][0]["bins"]["edges"] == ["-inf", 0.0, 100.0, "inf"]


def test_an_unknown_collection_to_merge_points_at_the_merge_list(tmp_path):
    """The error was at column 1 of the entry's line."""
    body = "objects:\n  - {name: both, merge: [jets, nope]}\nregions:\n  - name: A\n"
    path = write(tmp_path, body)
    rng = np.random.default_rng(5)
    jets = random_jets(rng, 5, n_min=0, n_max=3, pt_mean=80, pt_min=20, abs_eta_max=2.8, mass_max=10, pt_ordered=True)
    table = table_from_arrays({"jets": jets}, {"met": random_met(rng, 5, pt_mean=60, pt_min=0)})
    with pytest.raises(ConfigError) as err:
        Analysis.for_arrays(path, table)
    assert str(err.value).startswith(where(path, body, "merge") + ": object 'both': unknown collection 'nope'")
