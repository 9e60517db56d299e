"""The resolved definition (JSON) is the one way an analysis reaches the core: written by the Python
loader (`Definition.resolve`, `recast-ml definition resolve`), parsed by the C++ core into its typed
spec with errors naming the file and the JSON path; results are C++ objects seen through numpy views
and merged by C++ Result::merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from recast_ml import ConfigError, _core
from recast_ml.analysis import (
    Analysis,
    AnalysisResult,
    check_resolved,
    find_definition,
    load_definition,
    table_from_arrays,
)
from recast_ml.cli import main
from test_analysis import TOY, toy_table

SCHEMAS = Path(__file__).parents[1] / "python" / "recast_ml" / "schemas"


def resolved_toy(tmp_path: Path) -> Path:
    out = load_definition(TOY).resolve(tmp_path / "toy")
    assert out == tmp_path / "toy" / "definition.json"
    return out


def compile_from(file: Path):
    """Compile a resolved file for the toy table, as a C++ program loads it (files only)."""
    return _core.Analysis.from_json(file.read_text(), str(file), _core.table_schema(toy_table()), {}, str(file.parent))


def test_resolved_document_follows_its_schema_and_runs_like_the_yaml(tmp_path):
    file = resolved_toy(tmp_path)
    doc = json.loads(file.read_text())
    schema = json.loads((SCHEMAS / "resolved_definition.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert (doc["format"], doc["format_version"]) == ("recast_ml/resolved_definition", 1)
    assert doc["source"] == str(TOY)  # expression positions refer to the YAML
    # inheritance resolved: the child region carries its parent's cuts first
    regions = {r["name"]: r for r in doc["regions"]}
    sr = regions["SR-4j"]
    assert [c["name"] for c in sr["cuts"]] == [">= 2 jets", "no lepton", "4th jet > 40"]
    # an open bin edge travels as "inf" (JSON has no infinities) and comes back as inf
    assert any("inf" in r["bins"]["edges"] for r in doc["regions"] if r.get("bins"))
    table = toy_table()
    got = compile_from(file).run_table(table)
    ref = Analysis.for_arrays(TOY, table).run_table(table)
    for k, name in enumerate(got.region_names):
        steps, n, sumw, _sumw2 = got.cutflow(k)
        assert steps == ref.cutflow(name).names
        assert n.tolist() == ref.cutflow(name).n.tolist()
        assert sumw.tolist() == ref.cutflow(name).sumw.tolist()
        if got.bins(k) is not None:
            edges = got.bins(k)[0]
            assert edges.tolist() == ref.bins[name].edges.tolist()
            assert np.isinf(edges[-1])
    np.testing.assert_array_equal(got.variables, ref.variables)


def edit(file: Path, change) -> Path:
    doc = json.loads(file.read_text())
    change(doc)
    file.write_text(json.dumps(doc))
    return file


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("regions"), "/: missing key 'regions'"),
        (lambda d: d["regions"][0].update(nme="x"), "/regions/0/nme: unknown key (allowed: name, cuts, bins)"),
        (
            lambda d: d["regions"][1]["cuts"][0].update(expr=3),
            "/regions/1/cuts/0/expr: expected an object, got an integer",
        ),
        (
            lambda d: d["regions"][0]["cuts"][0]["expr"].update(line="7"),
            "/regions/0/cuts/0/expr/line: expected an integer",
        ),
        (lambda d: d["variables"][0].update(expr={"txt": "1"}), "/variables/0/expr: missing key 'text'"),
        (lambda d: d.update(format_version=2), "/format_version: this core reads version 1, the file is version 2"),
        (lambda d: d.update(format="recast_ml/analysis"), '/format: expected "recast_ml/resolved_definition"'),
        (lambda d: d.update(parameters={"m": "heavy"}), "/parameters/m: expected a number, got a string"),
        (lambda d: d["objects"].append({"overlap": {"remove": "jets"}}), "/objects/"),
    ],
)
def test_errors_name_the_file_and_the_json_path(tmp_path, change, message):
    file = edit(resolved_toy(tmp_path), change)
    with pytest.raises(ConfigError) as err:
        compile_from(file)
    assert str(err.value).startswith(f"{file}: ")
    assert message in str(err.value)


def test_invalid_json_names_line_and_column(tmp_path):
    file = resolved_toy(tmp_path)
    file.write_text('{\n  "format": "recast_ml/resolved_definition",\n  "id": ,\n}')
    with pytest.raises(ConfigError, match=rf"^{file}:3:9: invalid JSON"):
        compile_from(file)


def test_expression_errors_still_point_into_the_yaml(tmp_path):
    file = edit(resolved_toy(tmp_path), lambda d: d["variables"][0]["expr"].update(text="count(nope)"))
    line = json.loads(file.read_text())["variables"][0]["expr"]["line"]
    with pytest.raises(ConfigError, match=rf"^{TOY}:{line}:"):
        compile_from(file)


def test_cli_resolves_a_bundled_analysis_with_its_models(tmp_path, capsys):
    out = tmp_path / "resolved"
    assert main(["definition", "resolve", "ATLAS-SUSY-2018-22", "-o", str(out)]) == 0
    assert str(out / "definition.json") in capsys.readouterr().out
    doc = json.loads((out / "definition.json").read_text())
    files = [f["path"] for m in doc["models"] for f in m["files"]]
    assert len(doc["models"]) == 8
    assert len(files) == 16
    for p in files:
        assert not Path(p).is_absolute()
        assert (out / p).is_file()
    # the folder is self-contained: moved elsewhere it still loads (models relative to the JSON)
    moved = tmp_path / "elsewhere"
    shutil.move(str(out), moved)
    check_resolved(moved)
    # a missing model file is a ConfigError naming the JSON path of its entry
    (moved / files[3]).unlink()
    with pytest.raises(ConfigError, match=r"definition\.json: /models/\d+/files/\d+/path: model file .* not found"):
        check_resolved(moved)


def test_cli_resolve_user_errors_exit_2(tmp_path, capsys):
    assert main(["definition", "resolve", "ATLAS-NOPE-1", "-o", str(tmp_path / "x")]) == 2
    assert "unknown analysis 'ATLAS-NOPE-1'" in capsys.readouterr().err


# ---- results: C++ objects, numpy views, C++ merge ------------------------------------------------
def test_results_are_views_of_the_cpp_result():
    table = toy_table()
    res = Analysis.for_arrays(TOY, table).run_table(table, cross_section=2.0)
    _steps, n, sumw, _sumw2 = res._core.cutflow(0)
    cf = res.cutflows[res._core.region_names[0]]
    assert np.shares_memory(cf.n, n)
    assert np.shares_memory(cf.sumw, sumw)
    assert np.shares_memory(res.variables, res._core.variables)
    assert res.passed.dtype == np.bool_
    assert np.shares_memory(res.passed, res._core.passed)
    for a in (cf.n, cf.sumw, res.variables, res.passed):
        assert not a.flags.writeable  # views of C++ storage are read-only
    with pytest.raises(ValueError, match="read-only"):
        res.variables[0, 0] = 1.0


def test_cpp_merge_of_a_result_with_itself_and_in_parts():
    """C++ Result::merge (combine) sums cutflows and bins and appends per-event rows, also when a
    result is merged with itself (the ranges it appends are its own)."""
    table = toy_table()
    ana = Analysis.for_arrays(TOY, table)
    one = ana.run_table(table, cross_section=2.0)
    twice = AnalysisResult.combine([one, one, one])
    assert twice.n_events == 3 * one.n_events
    for name, cf in one.cutflows.items():
        assert twice.cutflow(name).n.tolist() == (3 * cf.n).tolist()
        assert twice.cutflow(name).sumw.tolist() == (cf.sumw + cf.sumw + cf.sumw).tolist()
        assert twice.cutflow(name).sumw2.tolist() == (cf.sumw2 + cf.sumw2 + cf.sumw2).tolist()
    for name, b in one.bins.items():
        assert twice.bins[name].n.tolist() == (3 * b.n).tolist()
        assert twice.bins[name].outside == 3 * b.outside
    np.testing.assert_array_equal(twice.variables, np.concatenate([one.variables] * 3))
    np.testing.assert_array_equal(twice.passed, np.concatenate([one.passed] * 3))
    assert twice.sum_weights == one.sum_weights * 3
    assert twice.yield_("presel")[0] == pytest.approx(one.yield_("presel")[0])  # same sigma x L
    assert one.merge(one).to_dict()["sample"]["n_events"] == 2 * one.n_events
    # the parts are untouched (the merge works on a copy)
    assert one.n_events == 4
    assert one.variables.shape[0] == 4


def test_merging_results_of_different_analyses_is_a_config_error(tmp_path):
    table = toy_table()
    one = Analysis.for_arrays(TOY, table).run_table(table)
    other_def = tmp_path / "other.yaml"
    other_def.write_text(TOY.read_text().replace("id: TOY-2026-01", "id: TOY-2026-02", 1))
    other = Analysis.for_arrays(other_def, table).run_table(table)
    assert other.analysis != one.analysis
    with pytest.raises(ConfigError, match="cannot merge results of different analyses"):
        one.merge(other)
    with pytest.raises(ConfigError, match="nothing to combine"):
        AnalysisResult.combine([])


DETECTOR_LEVEL = """format: recast_ml/analysis
format_version: 1
info: {id: CACHE-1, experiment: toy, sqrt_s: 13, luminosity: 100}
objects:
  - {name: jets30, from: jets, select: pt > 30}
variables:
  n30: count(jets30)
regions:
  - name: SR
    cuts:
      - ">= 2 jets": n30 >= 2
"""


def test_analysis_load_is_cached_until_the_file_changes(tmp_path):
    from recast_ml.detector import Detector

    path = tmp_path / "cache.yaml"
    path.write_text(DETECTOR_LEVEL)
    first = Analysis.load(path)
    assert Analysis.load(path) is first  # compiled once
    assert Analysis.load(tmp_path / "." / "cache.yaml") is first  # the same file by another name
    path.write_text(DETECTOR_LEVEL.replace("luminosity: 100", "luminosity: 50"))
    second = Analysis.load(path)
    assert second is not first
    assert second.info["luminosity"] == 50
    assert first.info["luminosity"] == 100
    assert Analysis.load(path) is second
    # the same text written again (new modification time) is loaded again too
    path.write_text(path.read_text())
    import os

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert Analysis.load(path) is not second
    # another card: another compiled analysis; the same card given as an object: the cached one
    cms = Analysis.load(path, detector=Detector("cms_run2"))
    assert cms.detector.card.profile_name != Analysis.load(path).detector.card.profile_name
    assert Analysis.load(path, detector=Detector("cms_run2")) is cms


def test_evaluate_and_check_go_through_the_json_path():
    from recast_ml.analysis import evaluate

    table = toy_table()
    values = evaluate("count(jets) * 2", table)
    assert values.tolist() == [4.0, 8.0, 4.0, 0.0]
    values[0] = 1.0  # the caller owns a writable copy
    with pytest.raises(ConfigError, match="<expression>:1:"):
        evaluate("count(nope)", table)
    assert table_from_arrays({}, {})["n_events"] == 0
    assert find_definition(TOY) == TOY
