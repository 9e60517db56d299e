"""ATLAS-HIGP-2024-32 signal generation (spec section 8) and its technical model validation:
the X -> S H -> H H H Pythia model of recast_ml.slha (settings only, no SLHA file), checked on
Pythia's own hard-process record, and the model reference scores of validation.yaml."""

from __future__ import annotations

import pytest

from recast_ml import ConfigError, slha
from recast_ml.analysis import load_yaml

pythia8mc = pytest.importorskip("pythia8mc")


def test_settings_model_lines_and_refused_spectra():
    lines = slha.settings_model("trsm_xsh", [485, 325])
    for want in ("Beams:eCM = 13000.0", "Tune:pp = 21", "Higgs:useBSM = on", "HiggsBSM:gg2H2 = on", "35:m0 = 485",
                 "35:addChannel = 1 1.0 100 25 36", "36:m0 = 325", "36:addChannel = 1 1.0 100 25 25",
                 "25:onMode = off", "25:onIfMatch = 5 -5", "35:mWidth = 0.485"):  # fmt: skip
        assert want in lines, want
    assert "35:mWidth = 9" in slha.settings_model("trsm_xsh", [900, 400, 0.01])
    with pytest.raises(ConfigError, match="below 2 m_H"):
        slha.settings_model("trsm_xsh", [425, 225])  # S -> H H closed
    with pytest.raises(ConfigError, match="below m_S \\+ m_H"):
        slha.settings_model("trsm_xsh", [400, 300])
    with pytest.raises(ConfigError, match="takes 2 to 3"):
        slha.settings_model("trsm_xsh", [400])
    with pytest.raises(ConfigError, match="unknown settings model"):
        slha.settings_model("trsm", [400, 300])


def test_pythia_hard_process_is_x_to_hs_to_hhh_to_6b():
    p = pythia8mc.Pythia("", False)
    for line in [*slha.settings_model("trsm_xsh", [485, 325]), "PartonLevel:all = off", "HadronLevel:all = off",
                 "Print:quiet = on", "Random:setSeed = on", "Random:seed = 5"]:  # fmt: skip
        assert p.readString(line), line
    assert p.init()
    for _ in range(30):
        assert p.next()
        ev = p.process
        parts = [ev[i] for i in range(ev.size())]
        x = [q for q in parts if q.id() == 35]
        s = [q for q in parts if q.id() == 36]
        h = [q for q in parts if q.id() == 25]
        assert len(x) == 1
        assert len(s) == 1
        assert len(h) == 3
        assert 480 < x[0].m() < 490
        assert 321 < s[0].m() < 329
        assert sorted(parts[d].id() for d in (x[0].daughter1(), x[0].daughter2())) == [25, 36]
        assert [parts[d].id() for d in (s[0].daughter1(), s[0].daughter2())] == [25, 25]
        assert sorted(q.id() for q in parts if abs(q.id()) == 5) == [-5, -5, -5, 5, 5, 5]


def test_generator_through_the_core():
    from recast_ml.pythia import simplified_model_generator

    batch = simplified_model_generator("trsm_xsh", 900, 400, 0.01, seed=3).generate(4)
    assert len(batch) == 4


def test_cross_section_value_and_model_checks_of_validation_yaml():
    from recast_ml.analysis import find_definition, load_definition
    from recast_ml.validate import cross_section, technical_checks

    assert cross_section({"xsec": {"value_pb": 0.05, "source": "x"}}) == 0.05
    definition = load_definition(find_definition("ATLAS-HIGP-2024-32"))
    cfg = load_yaml(definition.directory / "validation.yaml")
    checks = technical_checks("ATLAS-HIGP-2024-32", definition.directory, cfg["technical"])
    assert {c.model for c in checks} == {f"{n}_{p}" for n in ("nonres", "res", "heavyres") for p in ("even", "odd")}
    assert sum(c.n_rows for c in checks) == 12
    for c in checks:
        assert c.passed, (c.model, c.max_deviation)
    # the reference scores of spec 5.2 (nonres_even, heavyres_odd)
    by = {c.model: c.rows["score"] for c in checks}
    assert by["nonres_even"][0][0] == pytest.approx(0.633993, abs=1e-6)
    assert by["heavyres_odd"][0][0] == pytest.approx(0.929647, abs=1e-6)


def test_validate_small_sample_reports_models_notes_and_cutflows(tmp_path):
    import json

    from recast_ml.validate import validate

    report = validate("ATLAS-HIGP-2024-32", events=30, benchmarks=["heavy_900_400"], output=tmp_path, seed=2)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["technical"]["rows"] == 12
    assert summary["technical"]["all_passed"]
    assert summary["cutflow"]["compared"] == 0
    assert summary["yield"]["compared"] == 0
    assert summary["benchmarks"]["heavy_900_400"]["cross_section_pb"] == 0.05
    assert any("Not published" in n for n in summary["notes"])
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Cutflows (recast_ml only)</h2>" in page
    assert "<h3>SR-6b</h3>" in page
    cf = report.results["heavy_900_400"].cutflow("SR-6b")
    assert int(cf.n[0]) == 30
    y = cf.yields
    assert y is not None
    cell = f"<td>{y[2]:.4g} ({cf.cumulative[2]:.3g}, N={int(cf.n[2])})</td>"
    assert f"<td class='l'>&gt;= 4 jets</td>{cell}" in page
