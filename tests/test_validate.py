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
    args = ["validate", "ATLAS-SUSY-2018-22", "-n", "300", "--benchmark", "gluino_2200_600"]
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
    # validation.yaml names [isr, fsr, isr_damped]: four shower weights on the nominal sample, one sample
    assert list(summary["variations"]) == ["isr_up", "isr_down", "fsr_up", "fsr_down", "isr_damped"]
    assert summary["benchmarks"]["gluino_2200_600"]["weight_variations"]["isr_up"] == "isr:muRfac=0.5"
    assert s["coverage"]["variations"] == ["isr", "fsr", "isr_damped"]
    assert s["coverage"]["compared"] == s["compared"]
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
    assert "per benchmark (Pythia 8, simplified models, normalised to each benchmark's cross section" in html
    assert "SR4j-2200" in html
    assert "cutflow_gluino_2200_600.png" in html
    assert "ratio, isr_damped" in html
    assert (out / "cutflow_gluino_2200_600.png").stat().st_size > 1000
    assert (out / "results_gluino_2200_500.json").is_file()


def test_validation_on_a_given_event_file(tmp_path, capsys):
    """`--events BENCHMARK=FILE` (e.g. a matrix-element-merged sample) replaces the generation."""
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
    args += [arg for part in parts for arg in ("--events", f"gluino_2200_600={part}")]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmarks"]["gluino_2200_600"]["sample"] == [str(p) for p in parts]
    assert summary["benchmarks"]["gluino_2200_600"]["events"] == 60
    cutflow = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    assert len(cutflow) == 1 + 3 * 8
    assert all(not c["variations"] for c in cutflow)  # no generator variations of a given file
    html = (out / "report.html").read_text()
    assert f"sample {parts[0]}, {parts[1]}" in html
    assert "(read from the event files listed below, normalised to each" in html
    capsys.readouterr()
    assert main(["validate", "ATLAS-SUSY-2018-22", "--events", str(parts[0])]) == 2
    assert "BENCHMARK=FILE" in capsys.readouterr().err
    assert main(["validate", "ATLAS-SUSY-2018-22", "--events", f"nope={parts[0]}", "-o", str(out)]) != 0
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


def test_technical_checks_and_no_published_numbers_in_the_report(tmp_path):
    """validation.yaml `technical:` (a model card on feature vectors vs reference outputs) and
    `no_published_numbers:` (said first in the report), on ATLAS-SUSY-2019-02's BDT known answers."""
    import shutil

    from recast_ml.analysis import find_definition, load_yaml
    from recast_ml.validate import ValidationReport, technical_checks, write_report

    directory = find_definition("ATLAS-SUSY-2019-02").parent
    cfg = load_yaml(directory / "validation.yaml")
    checks = technical_checks("ATLAS-SUSY-2019-02", directory, cfg["technical"])
    assert [c.model for c in checks] == ["BDT_DF", "BDT_SF"]
    for c in checks:
        assert c.n_rows == 20  # 10 vectors x 2 files
        assert c.passed, c.max_deviation
        assert set(c.max_deviation) == {"signal", "others"}
        assert c.labels[0] == "A trained_odd"
        # spec 7.7: S on DF even (route 1) P1 = 0.841359, SF odd (route 0) P1 = 0.787981
        row = c.labels.index("S trained_even" if c.model == "BDT_DF" else "S trained_odd")
        ref, ours = c.rows["signal"][row]
        assert ref == pytest.approx(0.841359 if c.model == "BDT_DF" else 0.787981, abs=1e-6)
        assert ours == pytest.approx(ref, abs=1e-5)
    # a wrong reference is caught: one expected value off by 1e-3
    bad = tmp_path / "bad.csv"
    shutil.copy(directory / "bdt_known_answers_DF.csv", bad)
    lines = bad.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("B trained_odd"))
    cells = lines[k].split(",")
    cells[-2] = f"{float(cells[-2]) + 1e-3:.9f}"
    lines[k] = ",".join(cells)
    bad.write_text("\n".join(lines) + "\n")
    (check,) = technical_checks(
        "ATLAS-SUSY-2019-02",
        tmp_path,
        [{"model": "BDT_DF", "features": "bad.csv", "label": "vector", "tolerance": 1e-5}],
    )
    assert not check.passed
    assert check.max_deviation["signal"] == pytest.approx(1e-3, abs=2e-5)
    report = ValidationReport(analysis="ATLAS-SUSY-2019-02", events_per_benchmark=0, technical=checks)
    assert cfg["cutflow_tables"]  # drawn by the full run (needs results): see the committed report
    report.no_published_numbers = "Nothing was published for this one."
    write_report(report, tmp_path / "out", [])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["published_numbers"] is False
    assert summary["technical"]["all_passed"]
    assert summary["technical"]["rows"] == 40
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.index("No published numbers to compare with") < html.index("<h2>Summary")
    assert "Technical model validation" in html
    assert "S trained_even" in html


def test_committed_2019_02_report_says_nothing_is_published():
    """ATLAS-SUSY-2019-02 has no published cutflow (spec section 9): its committed report says so
    first, runs the spec's six benchmarks and shows the BDT known-answer checks, all passed."""
    from pathlib import Path

    folder = Path(__file__).parents[1] / "validation" / "ATLAS-SUSY-2019-02"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["published_numbers"] is False
    assert "section 9" in summary["no_published_numbers"]
    assert summary["cutflow"]["compared"] == summary["yield"]["compared"] == 0
    assert summary["events_per_benchmark"] >= 5000
    assert len(summary["benchmarks"]) == 6
    assert summary["technical"]["all_passed"]
    assert summary["technical"]["rows"] == 40
    html = (folder / "report.html").read_text()
    assert html.index("No published numbers to compare with") < html.index("<h2>Summary")
    for png in ("distribution_met_sig.png", "distribution_mt2_100.png", "distribution_bdt_df.png"):
        assert png in html
        assert (folder / png).stat().st_size > 1000
