"""`recast-ml validate` in quick mode (small samples): the comparison machinery and the report.
The full validation (thousands of events per benchmark) runs from scripts/validate.sh and its
latest report is committed in validation/<ID>/."""

from __future__ import annotations

import json
import math

import pytest

from recast_ml.cli import main


def test_quick_validation_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["validate", "ATLAS-SUSY-2018-22", "--events", "300", "--benchmark", "gluino_2200_600"]
    assert main([*args, "--benchmark", "gluino_2200_500", "--threads", "2", "-o", str(out), "--no-progress"]) == 0
    assert "cutflow:" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    cutflow = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    yields = [c for c in summary["comparisons"] if c["kind"] == "yield"]
    # every published step of the three SR4j regions for this benchmark (8 each) plus the common step
    assert len(cutflow) == 1 + 3 * 8
    assert {c["region"] for c in cutflow} == {"presel", "SR4j-1000", "SR4j-2200", "SR4j-3400"}
    assert len(yields) == 4
    for c in cutflow:
        assert 0 <= c["ours"] <= 1
        assert c["ratio"] == pytest.approx(c["ours"] / c["published"])
    first = next(c for c in cutflow if c["step"] == "Nj >= 4")
    assert math.isfinite(first["ratio"])
    assert 0.5 < first["ratio"] < 1.5
    html = (out / "report.html").read_text()
    assert "SR4j-2200" in html
    assert "cutflow_gluino_2200_600.png" in html
    assert (out / "cutflow_gluino_2200_600.png").stat().st_size > 1000
    assert (out / "results_gluino_2200_500.json").is_file()


def test_committed_report_is_complete():
    """The latest full validation report in the repository (scripts/validate.sh) is complete."""
    from pathlib import Path

    summary = json.loads((Path(__file__).parents[1] / "validation" / "ATLAS-SUSY-2018-22" / "summary.json").read_text())
    assert summary["events_per_benchmark"] >= 5000
    assert summary["cutflow"]["compared"] == 129  # all six benchmarks, every published step
    assert summary["yield"]["compared"] == 8
