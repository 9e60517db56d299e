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
    args += ["--pythia", "SpaceShower:pTdampFudge = 0.5"]
    assert main([*args, "--benchmark", "gluino_2200_500", "--threads", "2", "-o", str(out), "--no-progress"]) == 0
    assert "cutflow:" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    # the generation recipe of validation.yaml, then the command line's settings, are recorded
    settings = summary["benchmarks"]["gluino_2200_600"]["pythia_settings"]
    assert settings == ["SpaceShower:pTdampFudge = 0.5"]
    s = summary["cutflow"]
    assert s["passed"] + s["mc_limited"] + s["failed"] == s["compared"]
    # the ISR variation of validation.yaml ran beside, with its own settings appended
    assert summary["variations"]["isr_damped"]["pythia"] == ["SpaceShower:pTdampFudge = 0.25"]
    assert 0 <= s["passed_per_variation"]["isr_damped"] <= s["compared"]
    cutflow = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    yields = [c for c in summary["comparisons"] if c["kind"] == "yield"]
    # every published step of the three SR4j regions for this benchmark (8 each) plus the common step
    assert len(cutflow) == 1 + 3 * 8
    assert {c["region"] for c in cutflow} == {"presel", "SR4j-1000", "SR4j-2200", "SR4j-3400"}
    assert len(yields) == 4
    differs = 0
    for c in cutflow:
        v = c["variations"]["isr_damped"]
        assert v["ratio"] == pytest.approx(v["ours"] / c["published"])
        differs += v["ours"] != c["ours"]  # a different sample (same seed, other shower setting)
        assert c["status"] in ("passed", "mc-limited", "failed")
        assert 0 <= c["ours"] <= 1
        assert c["ratio"] == pytest.approx(c["ours"] / c["published"])
    assert differs > 0
    first = next(c for c in cutflow if c["step"] == "Nj >= 4")
    assert math.isfinite(first["ratio"])
    assert 0.5 < first["ratio"] < 1.5
    html = (out / "report.html").read_text()
    assert "SR4j-2200" in html
    assert "cutflow_gluino_2200_600.png" in html
    assert "ratio, isr_damped" in html
    assert (out / "cutflow_gluino_2200_600.png").stat().st_size > 1000
    assert (out / "results_gluino_2200_500.json").is_file()


def test_validation_on_a_given_event_file(tmp_path, capsys):
    """`--sample BENCHMARK=FILE` (e.g. a matrix-element-merged sample) replaces the generation."""
    import pyhepmc

    from hepmc_samples import pythia_records, to_genevents
    from recast_ml import slha

    card = tmp_path / "gluino.slha"
    card.write_text(slha.MODELS["gluino_direct"](2200, 600).to_slha())
    settings = [*slha.pythia_settings("gluino_direct"), f"SLHA:file = {card}"]
    _, records = pythia_records(60, seed=5, settings=settings)
    parts = [tmp_path / "gluino_2200_600_a.hepmc3", tmp_path / "gluino_2200_600_b.hepmc3"]
    for part, recs in zip(parts, (records[:35], records[35:]), strict=True):  # a sample in two files
        with pyhepmc.open(part, "w", format="HepMC3") as f:
            for g in to_genevents(recs, hepmc_status=True):
                f.write(g)
    out = tmp_path / "report"
    args = ["validate", "ATLAS-SUSY-2018-22", "--benchmark", "gluino_2200_600"]
    args += [arg for part in parts for arg in ("--sample", f"gluino_2200_600={part}")]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmarks"]["gluino_2200_600"]["sample"] == [str(p) for p in parts]
    assert summary["benchmarks"]["gluino_2200_600"]["events"] == 60
    cutflow = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    assert len(cutflow) == 1 + 3 * 8
    assert all(not c["variations"] for c in cutflow)  # no generator variations of a given file
    assert f"sample {parts[0]}, {parts[1]}" in (out / "report.html").read_text()
    with pytest.raises(SystemExit, match="BENCHMARK=FILE"):
        main(["validate", "ATLAS-SUSY-2018-22", "--sample", str(parts[0])])
    capsys.readouterr()
    assert main(["validate", "ATLAS-SUSY-2018-22", "--sample", f"nope={parts[0]}", "-o", str(out)]) != 0
    assert "sample for unknown benchmark 'nope'" in capsys.readouterr().err


def test_comparison_status():
    from recast_ml.validate import Comparison

    def status(ours: float, error: float) -> str:
        return Comparison("cutflow", "b", "r", "s", published=0.1, ours=ours, ours_error=error, tolerance=0.15).status

    assert status(0.114, 0.001) == "passed"  # ratio 1.14
    assert status(0.086, 0.001) == "passed"  # ratio 0.86
    assert status(0.116, 0.001) == "failed"  # ratio 1.16 +- 0.01
    assert status(0.116, 0.014) == "failed"  # +- 0.14: the MC could have decided
    assert status(0.116, 0.016) == "mc-limited"  # +- 0.16 > tolerance
    assert status(0.2, 0.06) == "mc-limited"  # 2.0 +- 0.6: 1.7 sigma
    assert status(0.25, 0.05) == "failed"  # 2.5 +- 0.5: 3 sigma off, although the error exceeds the tolerance
    assert Comparison("yield", "b", "r", "s", 1.0, 1.5, 0.2, 0.25).status == "failed"


def test_committed_report_is_complete():
    """The latest full validation report in the repository (scripts/validate.sh) is complete."""
    from pathlib import Path

    summary = json.loads((Path(__file__).parents[1] / "validation" / "ATLAS-SUSY-2018-22" / "summary.json").read_text())
    assert summary["events_per_benchmark"] >= 5000
    assert summary["cutflow"]["compared"] == 129  # all six benchmarks, every published step
    assert summary["yield"]["compared"] == 8
    # the ISR variation ran beside the nominal sample, step by step
    assert summary["variations"]["isr_damped"]["pythia"] == ["SpaceShower:pTdampFudge = 0.25"]
    for c in summary["comparisons"]:
        assert c["status"] in ("passed", "mc-limited", "failed")
        assert math.isfinite(c["variations"]["isr_damped"]["ours"])
