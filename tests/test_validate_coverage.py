"""`recast-ml validate` measures coverage: whether each published step and yield lies within the
nominal value ± the envelope of the generator variations (combined with the nominal MC error);
the summary, the report and the catalogue status quote it."""

from __future__ import annotations

import json
import math

import pytest

from recast_ml import catalogue
from recast_ml._core import ConfigError
from recast_ml.analysis import find_definition, load_definition
from recast_ml.validate import (
    XSEC_NOT_USED,
    Comparison,
    ValidationReport,
    _html,
    coverage_counts,
    validation_variations,
    validation_verdict,
)


def _cmp(published: float, ours: float, error: float, members: dict[str, float], **kw) -> Comparison:
    c = Comparison(kw.get("kind", "cutflow"), kw.get("bench", "b1"), "SR", kw.get("step", "s"),
                   published, ours, error, 0.15)  # fmt: skip
    for m, v in members.items():
        c.variations[m] = Comparison(c.kind, c.benchmark, c.region, c.step, published, v, error, 0.15)
    return c


def test_envelope_and_coverage_by_hand():
    # members 0.33 (up), 0.28 and 0.25 (down): Δ↑ = 0.03, Δ↓ = 0.05;
    # interval [0.30 - sqrt(0.05² + 0.01²), 0.30 + sqrt(0.03² + 0.01²)] = [0.249010, 0.331623]
    c = _cmp(0.26, 0.30, 0.01, {"isr_up": 0.33, "isr_down": 0.28, "isr_damped": 0.25})
    assert c.envelope_up == pytest.approx(0.03)
    assert c.envelope_down == pytest.approx(0.05)
    lo, hi = c.interval
    assert lo == pytest.approx(0.30 - 0.0509902, abs=1e-7)
    assert hi == pytest.approx(0.30 + 0.0316228, abs=1e-7)
    assert c.covered is True
    d = c.to_dict()
    assert (d["envelope_up"], d["envelope_down"], d["covered"]) == (pytest.approx(0.03), pytest.approx(0.05), True)
    assert set(d["variations"]) == {"isr_up", "isr_down", "isr_damped"}
    # just outside the upper edge: not covered
    assert _cmp(0.332, 0.30, 0.01, {"isr_up": 0.33, "isr_damped": 0.25}).covered is False


def test_covered_only_thanks_to_the_mc_error():
    # Δ↑ = Δ↓ = 0.01; with σ_MC = 0.02 the interval is 0.30 ± sqrt(0.01² + 0.02²) = 0.30 ± 0.022361
    members = {"fsr_up": 0.31, "fsr_down": 0.29}
    assert _cmp(0.28, 0.30, 0.02, members).covered is True  # 0.28 > 0.277639
    assert _cmp(0.28, 0.30, 0.0, members).covered is False  # the envelope alone: [0.29, 0.31]
    assert _cmp(0.277, 0.30, 0.02, members).covered is False  # below 0.277639


def test_one_sided_envelope_and_no_members():
    # every member above the nominal: Δ↓ = 0, the lower edge is the MC error alone
    c = _cmp(0.185, 0.20, 0.01, {"isr_up": 0.26, "fsr_up": 0.22})
    assert (c.envelope_up, c.envelope_down) == (pytest.approx(0.06), 0.0)
    assert c.interval[0] == pytest.approx(0.19)
    assert c.covered is False  # 0.185 < 0.19
    assert _cmp(0.5, 0.20, 0.01, {"isr_up": 0.26}).covered is False  # far above
    none = _cmp(0.26, 0.30, 0.01, {})
    assert none.covered is None
    d = none.to_dict()
    assert (d["envelope_up"], d["envelope_down"], d["covered"]) == (None, None, None)
    # a member without a finite value (no events at its normalisation step) is left out
    nan = _cmp(0.26, 0.30, 0.01, {"isr_up": math.nan, "isr_down": 0.24})
    assert nan.members == ["isr_down"]
    assert nan.envelope_up == 0.0
    assert nan.covered is True


def test_coverage_counts_and_summary_and_report():
    groups = {"isr_up": "isr", "isr_down": "isr", "isr_damped": "isr_damped"}
    cs = [
        _cmp(0.26, 0.30, 0.01, {"isr_up": 0.33, "isr_down": 0.28, "isr_damped": 0.25}, step="a"),  # covered
        _cmp(0.40, 0.30, 0.01, {"isr_up": 0.33, "isr_down": 0.28}, step="b"),  # not covered
        _cmp(0.30, 0.30, 0.01, {}, step="c"),  # no members: not counted
        _cmp(10.0, 9.0, 0.5, {"isr_up": 9.9}, kind="yield", step="final yield"),  # 10 <= 9 + sqrt(0.9² + 0.5²) = 10.03
        _cmp(5.0, 6.0, 0.1, {}, kind="yield", bench="b2", step="final yield"),
    ]
    assert coverage_counts(cs[:3], groups) == {
        "compared": 2,
        "covered": 1,
        "members": ["isr_up", "isr_down", "isr_damped"],
        "variations": ["isr", "isr_damped"],
    }
    report = ValidationReport("ATLAS-SUSY-2019-04", 100, comparisons=cs)
    report.variations = {
        m: {"variation": g, "kind": "weight" if g == "isr" else "sample", "description": "d", "pythia": [],
            "weight": "isr:muRfac=0.5" if g == "isr" else None}
        for m, g in groups.items()
    }  # fmt: skip
    info = {"model": "m", "masses": [1.0], "cross_section_pb": 1.0, "pythia_lo_cross_section_pb": 1.0}
    report.benchmarks = {"b1": {**info, "pythia_settings": []}, "b2": {**info, "sample": ["/x.hepmc"]}}
    s = report.summary()
    assert s["cutflow"]["coverage"]["compared"] == 2
    assert s["cutflow"]["coverage"]["covered"] == 1
    assert s["yield"]["coverage"] == {"compared": 1, "covered": 1, "members": ["isr_up"], "variations": ["isr"]}
    assert s["by_benchmark"]["b1"]["cutflow"]["compared"] == 3
    assert s["by_benchmark"]["b1"]["cutflow"]["coverage"]["covered"] == 1
    assert s["by_benchmark"]["b2"]["yield"]["coverage"]["compared"] == 0
    assert "2 of 3 covered by nominal ± envelope (isr, isr_damped)" in validation_verdict(s)
    page = _html(report, s, [])
    assert "Coverage by nominal ± envelope" in page
    assert "<td>1 of 2</td><td class='l'>isr_up, isr_down, isr_damped</td>" in page
    assert "events given as a file: no generator variations" in page  # b2
    assert "envelope +Δ↑ / −Δ↓" in page
    assert "<th>covered</th>" in page


def test_validation_variations_named_local_and_xsec():
    members, notes = validation_variations(["isr", "isr_damped", "xsec"])
    assert [(m.member, m.variation, m.kind) for m in members] == [
        ("isr_up", "isr", "weight"),
        ("isr_down", "isr", "weight"),
        ("isr_damped", "isr_damped", "sample"),
    ]
    assert members[0].entry == "isr:muRfac=0.5"
    assert members[2].pythia == ("SpaceShower:pTdampFudge = 0.25",)
    assert notes == [f"xsec: {XSEC_NOT_USED}"]  # the cross section is not a modelling variation
    assert [m.member for m in validation_variations("fsr")[0]] == ["fsr_up", "fsr_down"]
    # the old local mapping form, alone or beside names
    local = {"soft": {"description": "less ISR", "pythia": ["SpaceShower:pTmaxFudge = 0.5"]}}
    (m,), _ = validation_variations(local)
    assert (m.member, m.kind, m.pythia) == ("soft", "sample", ("SpaceShower:pTmaxFudge = 0.5",))
    assert [m.member for m in validation_variations(["fsr", local])[0]] == ["fsr_up", "fsr_down", "soft"]
    assert validation_variations(None) == ([], [])
    with pytest.raises(ConfigError, match=r"v\.yaml: --variations: unknown variation 'nope'"):
        validation_variations(["nope"], "v.yaml")
    with pytest.raises(ConfigError, match="given twice"):
        validation_variations(["isr_damped", {"isr_damped": {"pythia": []}}])


def test_validation_members_are_members_of_the_variations_modules_variations():
    from recast_ml import variations

    local = {"soft": {"description": " less\n ISR ", "pythia": ["SpaceShower:pTmaxFudge = 0.5"]}}
    members, _ = validation_variations(["isr", local])
    isr = variations.resolve("isr").variations[0]
    assert [m.definition for m in members] == [isr, isr, variations.Variation(
        "soft", "sample", "less ISR", "validation.yaml", {"soft": ["SpaceShower:pTmaxFudge = 0.5"]}, "validation.yaml"
    )]  # fmt: skip
    assert len({*members, *members}) == 3  # hashable, as before
    # the one uniqueness check (without case) of both: resolve and validate word their errors
    mine = variations.Variation("mine", "weight", "", "", {"ISR_UP": "isr:muRfac=0.7"})
    assert variations.duplicate_member([isr, mine]) == ("ISR_UP", "mine", "isr")
    assert variations.duplicate_member([isr]) is None


def _write(tmp_path, doc):
    d = tmp_path / "ATLAS-SUSY-2019-04"
    d.mkdir(parents=True, exist_ok=True)
    (d / "summary.json").write_text(json.dumps(doc))


def test_catalogue_status_quotes_coverage_and_old_summaries_load(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    d = load_definition(find_definition("ATLAS-SUSY-2019-04"))
    comparisons = [{"kind": "cutflow", "benchmark": "b", "region": "NN-4j", "step": "s", "tolerance": 0.15}] * 16
    old = {"cutflow": {"compared": 16, "passed": 2, "mc_limited": 3}, "yield": {"compared": 0},
           "comparisons": comparisons}  # fmt: skip
    _write(tmp_path, old)  # a summary from before coverage
    st = catalogue.status(d)
    assert st.text == "cutflows: 2/16 steps within 15 % (3 MC-limited)"
    assert st.coverage_compared == 0
    assert st.to_dict()["coverage"]["compared"] == 0
    new = json.loads(json.dumps(old))
    new["cutflow"]["coverage"] = {"compared": 16, "covered": 9, "members": ["isr_up"], "variations": ["isr", "fsr"]}
    new["yield"]["coverage"] = {"compared": 2, "covered": 1, "members": ["isr_up"], "variations": ["isr"]}
    _write(tmp_path, new)
    st = catalogue.status(d)
    assert st.text == "cutflows: 2/16 steps within 15 % (3 MC-limited); covered by ± envelope: 10/18 (isr, fsr)"
    assert (st.coverage_compared, st.coverage_covered, st.coverage_variations) == (18, 10, ("isr", "fsr"))


def test_quick_validation_with_weight_members_measures_coverage(tmp_path, monkeypatch, capsys):
    """A real (small) validation of ATLAS-SUSY-2019-04 with Pythia's isr/fsr shower weights: the
    nominal sample carries them (no extra sample), every published step gets the four members, its
    envelope and whether it is covered, recomputed here by hand from the summary's numbers; the
    catalogue status quotes the coverage; xsec is left out with the reason."""
    from recast_ml.cli import main

    out = tmp_path / "ATLAS-SUSY-2019-04"
    args = ["validate", "ATLAS-SUSY-2019-04", "-n", "400", "--variations", "isr,fsr,xsec", "-o", str(out)]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    members = ["isr_up", "isr_down", "fsr_up", "fsr_down"]
    assert list(summary["variations"]) == members
    assert {v["kind"] for v in summary["variations"].values()} == {"weight"}
    assert summary["variations"]["fsr_down"]["weight"] == "fsr:muRfac=2.0"
    assert summary["variation_notes"] == [f"xsec: {XSEC_NOT_USED}"]
    bench = summary["benchmarks"]["higgsino_385"]
    assert bench["weight_variations"] == {"isr_up": "isr:muRfac=0.5", "isr_down": "isr:muRfac=2.0",
                                          "fsr_up": "fsr:muRfac=0.5", "fsr_down": "fsr:muRfac=2.0"}  # fmt: skip
    cutflow = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    assert len(cutflow) == 16
    covered = 0
    moved = 0
    zero_mc = 0
    for c in cutflow:
        assert list(c["variations"]) == members
        vals = [c["variations"][m]["ours"] for m in members]
        moved += any(v != c["ours"] for v in vals)
        up = max(0.0, *(v - c["ours"] for v in vals))
        down = max(0.0, *(c["ours"] - v for v in vals))
        assert c["envelope_up"] == pytest.approx(up, abs=1e-15)
        assert c["envelope_down"] == pytest.approx(down, abs=1e-15)
        lo = c["ours"] - math.hypot(down, c["ours_error"])
        # no MC event at the step (400 generated, no weight member either): the upper MC error is
        # Gehrels' 1.841 events of 1/400 each, the symmetric one is 0
        if c["ours"] == 0.0:
            zero_mc += 1
            assert c["ours_error"] == 0.0
            assert up == down == 0.0
            assert c["ours_error_up"] == pytest.approx(1.841 / 400, rel=1e-12)
            assert c["status"] == ("mc-limited" if c["published"] <= 2 * 0.0046025 else "failed")
        else:
            assert "ours_error_up" not in c
        hi = c["ours"] + math.hypot(up, c.get("ours_error_up", c["ours_error"]))
        assert c["covered"] is (lo <= c["published"] <= hi)
        covered += c["covered"]
    assert moved > 0  # the shower weights move the efficiencies
    assert zero_mc > 0  # the NN bins of 400 events (published efficiencies 2e-4 to 1.3e-3 < 0.0046)
    # the terminal gives a step without MC events its upper error, not "± 0.000"
    zero_lines = [ln for ln in printed.splitlines() if "(no MC event: one-sided upper MC error)" in ln]
    assert len(zero_lines) == sum(1 for c in cutflow if c["ours"] == 0.0 and c["status"] != "passed")
    assert zero_lines
    assert all(" ratio 0.000 +" in ln for ln in zero_lines)
    assert not any("ratio 0.000 ± 0.000" in ln for ln in printed.splitlines())
    cov = summary["cutflow"]["coverage"]
    assert cov == {"compared": 16, "covered": covered, "members": members, "variations": ["isr", "fsr"]}
    assert summary["by_benchmark"]["higgsino_385"]["cutflow"]["coverage"] == cov
    assert f"cutflow: {covered}/16 covered by nominal ± envelope (isr, fsr)" in printed
    html = (out / "report.html").read_text()
    assert "Coverage by nominal ± envelope" in html
    assert f"<td>{covered} of 16</td><td class='l'>isr_up, isr_down, fsr_up, fsr_down</td>" in html
    assert "UncertaintyBands isr:muRfac=0.5" in html
    assert XSEC_NOT_USED in html
    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    text = catalogue.status(load_definition(find_definition("ATLAS-SUSY-2019-04"))).text
    assert text.endswith(f"; covered by ± envelope: {covered}/16 (isr, fsr)")
    capsys.readouterr()
    assert main(["validate", "ATLAS-SUSY-2019-04", "--variations", "isr", "--no-variations"]) != 0
    assert "--variations or --no-variations, not both" in capsys.readouterr().err
