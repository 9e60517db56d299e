"""Verdicts and inputs of the signal-modelling uncertainty that a new-user trial found wrong: a
robustness verdict with no usable member, a misspelt UncertaintyBands keyword, a theory
uncertainty of 100 % or more, and parts of one sample with different GenCrossSection values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recast_ml import ConfigError, variations


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recast_ml", "run", *args, "--no-progress"], capture_output=True, text=True
    )


# ---- 1. no usable member: not "EXCLUDED under all (0 of 0)" -----------------------------------------
def test_a_verdict_with_every_member_left_out_says_no_usable_variation(tmp_path: Path) -> None:
    """60 events: the isr_damped sample has fewer than 10 effective MC events in every SR, so it
    is left out; the verdict, results.json, the report and the scan row say there was no usable
    variation instead of "EXCLUDED under all (0 of 0) variations" / robust = 'all'."""
    from recast_ml.provenance import validate_run_document
    from recast_ml.scan import variation_row
    from recast_ml.scan_outputs import _variation_cells

    out = tmp_path / "o"
    proc = _run(
        "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "60",
        "--variations", "isr_damped", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    validate_run_document(doc)  # the schema knows the value
    st = doc["analyses"][0]["statistics"]
    best, v = st["best"], st["variations"]
    assert best["signal_variations"]["isr_damped"]["mc_events_effective"] < 10
    assert best["envelope_members_left_out"] == ["isr_damped"]
    assert v["robust"] == "no_usable"
    assert v["excluded_under"] == []
    assert v["not_excluded_under"] == []
    assert "no usable variation (all members left out" in st["verdict"]
    assert "isr_damped" in st["verdict"]
    assert "under all" not in st["verdict"]
    assert "0 of 0" not in st["verdict"]
    assert "no usable variation" in proc.stdout
    assert "0 of 0" not in proc.stdout
    html = (out / "report.html").read_text()
    assert "Signal modelling: no usable variation" in html
    assert "of the 0 variations" not in html
    row = variation_row("k", variations.resolve("isr_damped"), "ATLAS-SUSY-2018-22", best["region"], best)
    assert row["robust"] == "no_usable"
    assert json.loads(row["members_left_out"]) == ["isr_damped"]
    assert row["cls_obs_all_members"] is None
    cells = _variation_cells({**row, **{k: json.loads(row[k]) for k in ("excluded_under", "cls_obs_by_member")},
                              "members_left_out": ["isr_damped"]})  # fmt: skip
    assert "no usable variation (all left out: isr_damped)" in cells
    assert "all (" not in cells


def test_robustness_with_no_member_counted() -> None:
    assert variations.robustness({"cls_obs_by_variation": {}, "envelope_members_left_out": []}) == (
        [],
        [],
        "no_usable",
    )
    row = {"cls_obs_by_variation": {"a": 0.01, "b": 0.2}, "envelope_members_left_out": ["a", "b"]}
    assert variations.robustness(row)[2] == "no_usable"
    row["envelope_members_left_out"] = ["b"]
    assert variations.robustness(row) == (["a"], [], "all")


# ---- 2. UncertaintyBands keywords ---------------------------------------------------------------------
def test_a_misspelt_uncertainty_bands_keyword_is_refused(tmp_path: Path) -> None:
    """Pythia ignores an unknown UncertaintyBands keyword (the member's weights equal the nominal
    ones): the variations file is refused, naming the file, the entry and the keyword."""
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "isr2:\n  kind: weight\n  description: d\n  source: s\n"
        '  members:\n    isr2_up: "isr:muRfoo=0.5"\n    isr2_down: "isr:muRfac=2.0"\n'
    )
    with pytest.raises(ConfigError) as err:
        variations.resolve(str(bad))
    msg = str(err.value)
    assert str(bad) in msg
    assert "'isr2'" in msg
    assert "isr2_up" in msg
    assert "unknown UncertaintyBands keyword 'isr:muRfoo'" in msg
    assert "isr:muRfac" in msg  # the accepted forms
    assert "isr:PDF:plus" in msg
    proc = _run(
        "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "10",
        "--variations", str(bad), "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("recast-ml: error: ")
    assert "isr:muRfoo" in proc.stderr
    assert "Traceback" not in proc.stderr
    for entry, wrong in (("fsr:muRfac=0.5 isr:muRfac=2 fsr:cNs", "None"), ("isr:muRfac=half", "'half'")):
        bad.write_text(f'v:\n  kind: weight\n  description: d\n  source: s\n  members:\n    v_up: "{entry}"\n')
        with pytest.raises(ConfigError, match=f"member v_up: .* needs a number .*got {wrong}"):
            variations.resolve(str(bad))


def test_documented_uncertainty_bands_keywords_are_accepted(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    entries = {
        "a": "fsr:muRfac=2.0 isr:muRfac=2.0",
        "b": "fsr:G2GG:muRfac = 0.5",
        "c": "isr:Q2QG:cNS=2",
        "d": "fsr:X2XG:cNS=-2",
        "e": "isr:PDF:plus=1",
        "f": "isr:PDF:family=1",
        "g": "FSR:MURFAC=0.5",  # Pythia compares without case
        "h": "isr:muRfac 0.5",  # Pythia takes a blank for the equal sign
    }
    members = "".join(f'    {m}: "{v}"\n' for m, v in entries.items())
    good.write_text(f"mine:\n  kind: weight\n  description: d\n  source: s\n  members:\n{members}")
    vset = variations.resolve(str(good))
    assert vset.weight_members["b"] == "fsr:G2GG:muRfac=0.5"
    assert vset.weight_members["a"] == "fsr:muRfac=2.0 isr:muRfac=2.0"
    assert vset.weight_members["h"] == "isr:muRfac=0.5"
    # the bundled set stays valid
    assert variations.resolve("all").names == ["isr", "fsr", "isr_damped", "xsec"]


# ---- 3. a theory uncertainty of 100 % or more -----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("10", "--cross-section-error 10 is read as a fraction (1000 %); write 10% for 10 per cent"),
        ("1", "--cross-section-error 1 is read as a fraction (100 %); write 1% for 1 per cent"),
        ("150%", "--cross-section-error 150% is 150 %"),
        ("1pb", "--cross-section-error 1pb is 1 pb, 2e+04 % of the cross section (0.005 pb); check the unit"),
        ("5fb", "--cross-section-error 5fb is 0.005 pb, 100 % of the cross section (0.005 pb)"),
    ],
)
def test_a_theory_uncertainty_of_100_percent_or_more_is_refused(value: str, said: str) -> None:
    from recast_ml import xsec

    with pytest.raises(ConfigError) as err:
        xsec.parse_cross_section_error(value, 0.005)
    assert str(err.value).startswith(said)
    assert "must be below 100 %" in str(err.value)


def test_theory_uncertainties_below_100_percent_are_kept() -> None:
    from recast_ml import xsec

    assert xsec.parse_cross_section_error("0.999", 0.005) == 0.999
    assert xsec.parse_cross_section_error("99%", 0.005) == pytest.approx(0.99)
    assert xsec.parse_cross_section_error("2.5fb", 0.005) == pytest.approx(0.5)
    assert xsec.parse_cross_section_error("0", 0.005) == 0.0


def test_run_refuses_a_cross_section_error_of_1pb_on_5fb(tmp_path: Path) -> None:
    proc = _run(
        "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "10",
        "--cross-section", "5fb", "--cross-section-error", "1pb", "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "recast-ml: error: --cross-section-error 1pb is 1 pb, 2e+04 % of the cross section (0.005 pb); check the "
        "unit: a theory uncertainty must be below 100 % of the cross section (e.g. 10%, 0.1 or 2.8fb)"
    ]
    assert not (tmp_path / "o" / "results.json").exists()


def test_a_table_uncertainty_of_100_percent_or_more_warns(caplog: pytest.LogCaptureFixture) -> None:
    """The bundled tables reach 100 % at the edge of their grids (13.6 TeV gluino pairs at 2920 GeV:
    2.80e-5 +- 2.80e-5 pb): kept, with a warning."""
    from recast_ml import xsec

    with caplog.at_level("WARNING", logger="recast_ml.xsec"):
        found = xsec.table_cross_section(xsec.lookup("gluino", 2920, sqrt_s=13.6), "at 2920 GeV")
    assert found.rel_error == pytest.approx(2.8038524112379996e-05 / 2.796877e-05)
    assert any("(>= 100 %)" in r.getMessage() and "pp13600_gluino" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="recast_ml.xsec"):
        xsec.table_cross_section(xsec.lookup("gluino", 1400), "at 1400 GeV")
    assert not caplog.records


# ---- 4. parts of one sample with different GenCrossSection values -----------------------------------
def test_parts_with_different_recast_cross_sections_say_so(tmp_path: Path, hepmc_files, capsys) -> None:
    """Two recast-written parts with σ = 28.4 fb and 1.01 fb: the error lists both values and says
    --cross-section decides (was: 'a.hepmc3.gz: ... the generator's value in the file is not used
    (it is usually LO)'); with --cross-section the run goes on."""
    from recast_ml import read_events
    from recast_ml.cli import main
    from recast_ml.io import write_hepmc3

    a, b = tmp_path / "a.hepmc3.gz", tmp_path / "b.hepmc3.gz"
    events = read_events(hepmc_files["hepmc3"])
    write_hepmc3(events, a, cross_section_pb=0.0284, cross_section_error_pb=0.00284)
    write_hepmc3(events, b, cross_section_pb=0.00101)
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--no-progress", "--events", str(a), str(b)]
    assert main([*args, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "recast-ml: error: the parts of the sample, written by recast_ml, carry different cross sections "
        f"(GenCrossSection: {a} 0.0284 pb, {b} 0.00101 pb); one sample has one: pass --cross-section with a unit "
        "(e.g. 28.4fb) to say which"
    ]
    assert not (tmp_path / "o").exists()
    assert main([*args, "--cross-section", "28.4fb", "-o", str(tmp_path / "given")]) == 0
    doc = json.loads((tmp_path / "given" / "results.json").read_text())
    assert doc["input"]["cross_section_pb"] == 0.0284
    assert doc["input"]["n_events"] == 2 * len(events)
    # the same value in both parts: taken from the files, as before (b's σ error differs, so that b
    # is not a byte copy of a, which --events refuses)
    write_hepmc3(events, b, cross_section_pb=0.0284, cross_section_error_pb=0.0028)
    assert main([*args, "-o", str(tmp_path / "same")]) == 0
    assert json.loads((tmp_path / "same" / "results.json").read_text())["input"]["cross_section_pb"] == 0.0284
