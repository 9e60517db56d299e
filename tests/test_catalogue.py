"""The catalogue of bundled analyses: a status per analysis computed from its committed validation
summary and its definition (`analyses list`, `analyses show`, `run`), and `--analysis all`/comma
lists (one detector pass per card for all of them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recast_ml import catalogue
from recast_ml.analysis import available, find_definition, load_definition
from recast_ml.cli import main

REPO = Path(__file__).resolve().parents[1]


def _summary(tmp_path: Path, aid: str, doc: dict) -> None:
    d = tmp_path / aid
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(doc))


def _cmp(kind: str, region: str, status: str, tol: float, bench: str = "b1") -> dict:
    return {"kind": kind, "benchmark": bench, "region": region, "step": "s", "tolerance": tol, "status": status}


def test_status_text_is_computed_from_the_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    d = load_definition(find_definition("ATLAS-SUSY-2019-04"))
    comparisons = [_cmp("cutflow", "NN-4j", "passed", 0.15)] * 7 + [_cmp("cutflow", "NN-5j", "failed", 0.15)] * 3
    comparisons += [_cmp("yield", "NN-6j", "passed", 0.25, "b2")]
    _summary(
        tmp_path,
        "ATLAS-SUSY-2019-04",
        {
            "cutflow": {"compared": 10, "passed": 7, "mc_limited": 2},
            "yield": {"compared": 1, "passed": 1},
            "comparisons": comparisons,
        },
    )
    st = catalogue.status(d)
    assert st.text == "cutflows: 7/10 steps within 15 % (2 MC-limited); yields: 1/1 within 25 %"
    assert (st.cutflow_compared, st.cutflow_passed, st.yield_compared) == (10, 7, 1)
    assert st.summary_file == "validation/ATLAS-SUSY-2019-04/summary.json"
    pub = catalogue.published_regions(d)
    assert pub["NN-4j"] == ["cutflow (b1)"]
    assert pub["NN-6j"] == ["SR numbers", "yield (b2)"]  # published as SR0 in signal_regions.csv
    assert pub["presel-1l"] == []


def test_status_without_published_cutflows_and_with_model_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    d = load_definition(find_definition("ATLAS-SUSY-2019-04"))
    _summary(
        tmp_path, "ATLAS-SUSY-2019-04", {"cutflow": {"compared": 0}, "technical": {"checks": [{"passed": True}] * 4}}
    )
    assert catalogue.status(d).text == "models verified; no published cutflow"
    _summary(
        tmp_path / "x", "ATLAS-SUSY-2019-04", {"technical": {"checks": [{"passed": True}] * 3 + [{"passed": False}]}}
    )
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path / "x")
    assert catalogue.status(d).text == "models: 3/4 checks passed; no published cutflow"
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path / "nothing")
    assert catalogue.status(d).text == "not validated"


def test_an_unreadable_summary_is_a_warning_not_a_crash(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    (tmp_path / "ATLAS-SUSY-2019-04").mkdir()
    (tmp_path / "ATLAS-SUSY-2019-04" / "summary.json").write_text("{broken")
    d = load_definition(find_definition("ATLAS-SUSY-2019-04"))
    assert catalogue.status(d).text == "not validated"
    assert "unreadable validation summary" in caplog.text


@pytest.mark.parametrize("aid", available())
def test_bundled_status_matches_the_committed_summary(aid):
    """The installed summary is the committed one and the status counts its comparisons."""
    committed = REPO / "validation" / aid / "summary.json"
    st = catalogue.status(load_definition(find_definition(aid)))
    if not committed.is_file():
        assert st.text.startswith("not validated")
        return
    doc = json.loads(committed.read_text())
    found = catalogue.validation_summary(aid)
    assert found is not None
    assert found[1] == doc
    cutflows = [c for c in doc.get("comparisons", []) if c["kind"] == "cutflow"]
    assert st.cutflow_compared == len(cutflows)
    assert st.cutflow_passed == sum(c["status"] == "passed" for c in cutflows)
    if cutflows:
        assert f"{st.cutflow_passed}/{st.cutflow_compared} steps" in st.text


def test_expand_names():
    names = available()
    assert catalogue.expand_names(["all"]) == names
    assert catalogue.expand_names([f"{names[1]},{names[0]}", names[1]]) == [names[1], names[0]]
    assert catalogue.expand_names([" , "]) == []


def test_analyses_list_prints_every_analysis_with_its_status(capsys):
    assert main(["analyses", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == available()
    for aid, line in zip(available(), lines, strict=True):
        assert catalogue.status(load_definition(find_definition(aid))).text in line


def test_analyses_show_lists_published_numbers(capsys):
    assert main(["analyses", "show", "ATLAS-SUSY-2019-04"]) == 0
    out = capsys.readouterr().out
    assert "status      cutflows:" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("region NN-6j"))
    assert "published: SR numbers" in line
    line = next(x for x in out.splitlines() if x.strip().startswith("region presel-1l"))
    assert "published" not in line


def test_run_all_runs_every_analysis_with_its_status(tmp_path, capsys, monkeypatch):
    """`--analysis all`: every bundled analysis, one detector pass per card, status in the output
    and in results.json."""
    import jsonschema

    from recast_ml.detector import Detector

    calls: list[int] = []
    real = Detector.reconstruct_table

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Detector, "reconstruct_table", counting)
    out = tmp_path / "out"
    args = ["run", "--analysis", "all", "--generate", "gluino_direct:1400,1000", "-n", "40", "--seed", "3"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    ids = [a["analysis"]["id"] for a in doc["analyses"]]
    assert ids == available()
    cards = {load_definition(find_definition(a)).info.get("detector", "atlas_run2") for a in ids}
    assert len(calls) == len(cards)  # 40 events = one chunk: one pass per card
    schema = json.loads((REPO / "python" / "recast_ml" / "schemas" / "results.schema.json").read_text())
    for ana in doc["analyses"]:
        jsonschema.validate(ana, schema)
        st = catalogue.status(load_definition(find_definition(ana["analysis"]["id"])))
        assert ana["analysis"]["status"]["text"] == st.text
        assert f"[{ana['analysis']['id']} validation status: {st.text}]" in text
