"""``include:`` in analysis definitions (analyses/README.md, "Includes"): objects and variables of
another file come first, the including file's steps and variables of the same name replace them in
place; missing, invalid and circular includes are ConfigErrors naming the files; the bundled
ATLAS-SUSY-2018-22, split into objects.yaml + analysis.yaml, resolves to the document it was."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recast_ml import ConfigError
from recast_ml.analysis import Analysis, Located, find_definition, load_definition, load_yaml, table_from_arrays
from toy_events import random_jets, random_met

HEAD = """format: recast_ml/analysis
format_version: 1
info: {id: INC-1, experiment: toy, sqrt_s: 13, luminosity: 100}
"""

COMMON = """description: shared objects
objects:
  - {name: base_jets, from: jets, select: "pt > 20"}
  - {name: sig_jets, from: base_jets, select: "pt > 50"}
variables:
  n_jets: count(sig_jets)
  ht: HT(sig_jets)
  meff: meff(sig_jets)
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return str(x) if isinstance(x, Located) else x


def test_included_objects_and_variables_come_first_and_a_variable_is_overridden_in_place(tmp_path):
    write(tmp_path / "shared" / "common.yaml", COMMON)
    main = write(
        tmp_path / "ana" / "analysis.yaml",
        HEAD
        + """include: ../shared/common.yaml
objects:
  - {name: sig_jets, from: base_jets, select: "pt > 100"}   # replaces the included step in place
  - {name: fwd, from: base_jets, select: "abs(eta) > 2"}
variables:
  ht: HT(sig_jets[0:2])      # replaces the included ht, same position
  x: meff - ht
regions:
  - name: A
    cuts: ["n >= 2": n_jets >= 2]
""",
    )
    doc = plain(load_definition(main).doc)
    assert "include" not in doc
    assert doc["objects"] == [
        {"name": "base_jets", "from": "jets", "select": "pt > 20"},
        {"name": "sig_jets", "from": "base_jets", "select": "pt > 100"},
        {"name": "fwd", "from": "base_jets", "select": "abs(eta) > 2"},
    ]
    assert list(doc["variables"].items()) == [
        ("n_jets", "count(sig_jets)"),
        ("ht", "HT(sig_jets[0:2])"),
        ("meff", "meff(sig_jets)"),
        ("x", "meff - ht"),
    ]
    # the strings remember their file: the included ones the include, the own ones none
    d = load_definition(main).doc
    assert d["variables"]["n_jets"].file == str(tmp_path / "ana" / ".." / "shared" / "common.yaml")
    assert d["variables"]["ht"].file is None


def test_an_include_runs_like_the_definition_written_out(tmp_path):
    """End to end on random events: the overriding definition counts what the written-out one does,
    and the override matters (the included sig_jets threshold would count differently)."""
    write(tmp_path / "common.yaml", COMMON)
    regions = """regions:
  - name: A
    cuts: ["n >= 3": n_jets >= 3, "meff": meff > 400, "ht": ht > 300]
"""
    inc = write(
        tmp_path / "inc.yaml",
        HEAD + 'include: common.yaml\nobjects:\n  - {name: sig_jets, from: base_jets, select: "pt > 80"}\n'
        "variables:\n  ht: HT(sig_jets[0:2])\n" + regions,
    )
    by_hand = write(
        tmp_path / "hand.yaml",
        HEAD
        + """objects:
  - {name: base_jets, from: jets, select: "pt > 20"}
  - {name: sig_jets, from: base_jets, select: "pt > 80"}
variables:
  n_jets: count(sig_jets)
  ht: HT(sig_jets[0:2])
  meff: meff(sig_jets)
"""
        + regions,
    )
    plain_include = write(tmp_path / "plain.yaml", HEAD + "include: common.yaml\n" + regions)
    rng = np.random.default_rng(11)
    n = 500
    jets = random_jets(rng, n, n_min=0, n_max=7, pt_mean=90, pt_min=20, abs_eta_max=2.8, pt_ordered=True)
    table = table_from_arrays({"jets": jets}, {"met": random_met(rng, n, pt_mean=150)})
    ri = Analysis.for_arrays(inc, table).run_table(table)
    rh = Analysis.for_arrays(by_hand, table).run_table(table)
    rp = Analysis.for_arrays(plain_include, table).run_table(table)
    np.testing.assert_array_equal(ri.cutflows["A"].n, rh.cutflows["A"].n)
    np.testing.assert_array_equal(ri.variable("ht"), rh.variable("ht"))
    assert ri.cutflows["A"].n[-1] > 0
    assert not np.array_equal(ri.cutflows["A"].n, rp.cutflows["A"].n)  # the override changed something
    # independent reference for one variable: HT of the two leading jets above 80 GeV
    pts = [sorted((p for p in ev if p > 80), reverse=True)[:2] for ev in jets.pt.tolist()]
    np.testing.assert_allclose(ri.variable("ht"), [sum(p) for p in pts], rtol=1e-12)


def test_a_missing_include_names_the_file(tmp_path):
    main = write(tmp_path / "analysis.yaml", HEAD + "include: nowhere/common.yaml\nregions: [{name: A, cuts: []}]\n")
    with pytest.raises(ConfigError) as err:
        load_definition(main)
    assert "nowhere/common.yaml" in str(err.value)
    assert err.value.file == str(main)
    assert err.value.line == 4


def test_a_nested_missing_include_names_the_including_file(tmp_path):
    write(tmp_path / "a.yaml", "include: b.yaml\n" + COMMON)
    main = write(tmp_path / "analysis.yaml", HEAD + "include: a.yaml\nregions: [{name: A, cuts: []}]\n")
    with pytest.raises(ConfigError, match=r"a\.yaml:1:10: included file 'b\.yaml' not found"):
        load_definition(main)


@pytest.mark.parametrize(
    ("files", "chain"),
    [
        ({"analysis.yaml": "analysis.yaml"}, ["analysis.yaml", "analysis.yaml"]),
        ({"a.yaml": "b.yaml", "b.yaml": "a.yaml"}, ["analysis.yaml", "a.yaml", "b.yaml", "a.yaml"]),
    ],
)
def test_circular_includes_are_rejected(tmp_path, files, chain):
    for name, target in files.items():
        if name != "analysis.yaml":
            write(tmp_path / name, f"include: {target}\n")
    first = next(iter(files)) if "analysis.yaml" not in files else files["analysis.yaml"]
    main = write(tmp_path / "analysis.yaml", HEAD + f"include: {first}\nregions: [{{name: A, cuts: []}}]\n")
    with pytest.raises(ConfigError, match="circular include") as err:
        load_definition(main)
    assert " -> ".join(str((tmp_path / c).resolve()) for c in chain) in err.value.message


def test_an_included_file_may_hold_only_objects_variables_include_and_description(tmp_path):
    write(tmp_path / "bad.yaml", COMMON + "regions: [{name: B, cuts: []}]\n")
    main = write(tmp_path / "analysis.yaml", HEAD + "include: [bad.yaml]\nregions: [{name: A, cuts: []}]\n")
    with pytest.raises(ConfigError, match="regions") as err:
        load_definition(main)
    assert err.value.file == str(tmp_path / "bad.yaml")
    write(tmp_path / "bad2.yaml", "variables: {ht: 3}\n")  # not an expression string
    main.write_text(HEAD + "include: [bad2.yaml]\nregions: [{name: A, cuts: []}]\n")
    with pytest.raises(ConfigError) as err:
        load_definition(main)
    assert err.value.file == str(tmp_path / "bad2.yaml")


def test_an_expression_error_in_an_included_file_names_that_file(tmp_path):
    inc = write(tmp_path / "common.yaml", "variables:\n  n_jets: count(jetz)\n")
    main = write(tmp_path / "analysis.yaml", HEAD + "include: common.yaml\nregions: [{name: A, cuts: []}]\n")
    with pytest.raises(ConfigError) as err:
        Analysis.load(main, detector="atlas_run2")
    assert err.value.file == str(inc)
    assert err.value.line == 2
    assert "jetz" in err.value.message


def test_an_edited_include_is_loaded_again(tmp_path):
    inc = write(tmp_path / "common.yaml", COMMON)
    main = write(tmp_path / "analysis.yaml", HEAD + "include: common.yaml\nregions: [{name: A, cuts: []}]\n")
    a = Analysis.load(main, detector="atlas_run2")
    assert Analysis.load(main, detector="atlas_run2") is a
    time.sleep(0.01)
    inc.write_text(COMMON + "  extra: meff + 1\n")
    os.utime(inc)
    b = Analysis.load(main, detector="atlas_run2")
    assert b is not a
    assert "extra" in b.definition.doc["variables"]


def test_atlas_susy_2018_22_resolves_to_its_single_file_form(tmp_path):
    """The bundled 2018-22 with its objects/variables in objects.yaml: the same resolved definition
    (apart from text positions) as the single file it was, rebuilt here by pasting objects.yaml in."""
    folder = tmp_path / "ATLAS-SUSY-2018-22"
    shutil.copytree(find_definition("ATLAS-SUSY-2018-22").parent, folder)
    path = folder / "analysis.yaml"
    text = path.read_text()
    shared = (path.parent / "objects.yaml").read_text()
    assert "include: objects.yaml" in text
    objects_part = shared[shared.index("objects:") : shared.index("variables:")]
    variables_part = shared[shared.index("variables:\n") + len("variables:\n") :]
    single = text.replace("include: objects.yaml", objects_part.rstrip("\n"), 1)
    single = single.replace(single[single.index("variables:") : single.index("\n", single.index("variables:")) + 1],
                            "variables:\n" + variables_part, 1)  # fmt: skip
    flat = write(folder / "single.yaml", single)
    a = json.loads(load_definition(flat).resolved()[0])
    b = json.loads(load_definition(path).resolved()[0])

    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in ("line", "col", "source")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    assert strip(a) == strip(b)
    assert [v["name"] for v in b["variables"]][:3] == ["etmiss", "n_jets", "n_leptons"]
    assert "include" in load_yaml(path)
