"""Cross sections with units (``--cross-section 28.4fb``), from SLHA XSECTION blocks, their theory
uncertainty carried into the results (r and CLs at sigma +- 1 sigma), the provenance of
``results.json`` and the JSON Schema of the whole run document."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path

import jsonschema
import pyhf
import pytest

from recast_ml import slha, xsec
from recast_ml._core import ConfigError
from recast_ml._data import xsec_dir
from recast_ml.cli import main
from recast_ml.provenance import validate_run_document
from recast_ml.statistics import PublishedRegion, region_statistics


# ------------------------------------------------------------------------------------------------
# the parser
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "pb"),
    [
        ("28.4fb", 0.0284),
        ("28.4 fb", 0.0284),
        ("0.0284pb", 0.0284),
        ("2.84e1 fb", 0.0284),
        ("2.84E1fb", 0.0284),
        ("1 nb", 1000.0),
        ("1nb", 1000.0),
        ("5ab", 5e-6),
        ("3 PB", 3.0),
        ("2 ub", 2e6),
        ("28.4", 28.4),  # a bare number is pb
        (28.4, 28.4),
    ],
)
def test_cross_section_units(text, pb):
    xs = xsec.parse_cross_section(text)
    assert xs.pb == pb  # decimal scaling: exactly the double of the written value in pb
    assert xs.rel_error is None
    bare = isinstance(text, float) or text.strip().replace(".", "").isdigit()
    assert ("bare number taken as pb" in xs.source) == bare
    if bare:
        assert "28.4 pb (bare number taken as pb)" in xs.source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("28.4 furlongs", "unknown unit 'furlongs'"),
        ("-1fb", "must be finite and > 0"),
        ("0", "must be finite and > 0"),
        ("0 fb", "must be finite and > 0"),
        ("nan", "must be finite and > 0"),
        ("inf pb", "must be finite and > 0"),
        ("abc", "expected a positive number with a unit"),
        ("1 fb 2", "expected a positive number with a unit"),
        ("", "expected a positive number with a unit"),
    ],
)
def test_bad_cross_sections_are_config_errors_naming_the_option(text, message):
    with pytest.raises(ConfigError, match="--cross-section") as e:
        xsec.parse_cross_section(text)
    assert message in str(e.value)
    assert "fb" in str(e.value)  # what was expected: a number with a unit


@pytest.mark.parametrize(
    ("text", "rel"), [("10%", 0.1), ("0.1", 0.1), ("2.84fb", 0.1), ("0.00284 pb", 0.1), ("0%", 0.0)]
)
def test_cross_section_error(text, rel):
    assert xsec.parse_cross_section_error(text, 0.0284) == pytest.approx(rel, rel=1e-12)


@pytest.mark.parametrize("text", ["-10%", "ten percent", "nan", "3 furlongs"])
def test_bad_cross_section_errors(text):
    with pytest.raises(ConfigError, match="--cross-section-error"):
        xsec.parse_cross_section_error(text, 1.0)


# ------------------------------------------------------------------------------------------------
# r and CLs at sigma +- 1 sigma
# ------------------------------------------------------------------------------------------------
def test_r_and_cls_at_plus_minus_one_sigma_by_hand():
    published = {"A": PublishedRegion("A", 10, 8.0, 2.0, 9.0, 7.5), "B": PublishedRegion("B", 3, 3.0, 1.0, 6.0, 5.0)}
    stats = [s.to_dict() for s in region_statistics({"A": (4.5, 0.5), "B": (0.0, 0.0)}, published)]
    xsec.theory_variations(stats, 0.2)
    a, b = stats
    # r = s / S95: 4.5 / 9 = 0.5 at sigma, x 1.2 and x 0.8 at sigma +- 1 sigma
    assert a["r_obs_up"] == pytest.approx(0.6)
    assert a["r_obs_down"] == pytest.approx(0.4)
    assert a["r_exp_up"] == pytest.approx(4.5 * 1.2 / 7.5)
    assert a["r_exp_down"] == pytest.approx(4.5 * 0.8 / 7.5)
    for name, s in (("up", 4.5 * 1.2), ("down", 4.5 * 0.8)):  # pyhf directly on the varied signal
        model = pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[8.0], bkg_uncertainty=[2.0])
        obs, exp = pyhf.infer.hypotest(
            1.0, [10, *model.config.auxdata], model, test_stat="qtilde", return_expected=True
        )
        assert a[f"cls_obs_{name}"] == pytest.approx(float(obs), rel=0.01)
        assert a[f"cls_exp_{name}"] == pytest.approx(float(exp), rel=0.01)
    assert a["cls_obs_up"] < a["cls_obs"] < a["cls_obs_down"]
    assert b["r_obs_up"] == b["r_obs_down"] == 0.0
    assert b["cls_obs_up"] == b["cls_obs_down"] == 1.0
    # no uncertainty: the keys are there, null; an uncertainty of 100 % or more: sigma - 1 sigma = 0
    xsec.theory_variations(stats, None)
    assert a["r_obs_up"] is None
    assert a["cls_obs_down"] is None
    xsec.theory_variations(stats, 1.5)
    assert a["r_obs_down"] == 0.0
    assert a["cls_obs_down"] == 1.0
    assert a["r_obs_up"] == pytest.approx(1.25)


# ------------------------------------------------------------------------------------------------
# runs: units on the command line, provenance, the schema
# ------------------------------------------------------------------------------------------------
def _run(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["run", *args, "-o", str(out), "--no-progress"]) == 0
    return json.loads((out / "results.json").read_text())


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def file_runs(tmp_path_factory, hepmc_files):
    """The same 12 ttbar events with --cross-section 28.4 (pb) and 28.4fb (+ 10 %)."""
    tmp = tmp_path_factory.mktemp("xsec_runs")
    events = str(hepmc_files["hepmc3"])
    base = ["--analysis", "ATLAS-SUSY-2019-04", "--events", events, "--threads", "1"]
    pb = _run(tmp, "pb", *base, "--cross-section", "28.4")
    fb = _run(tmp, "fb", *base, "--cross-section", "28.4fb", "--cross-section-error", "10%")
    return pb, fb, [*base, "--cross-section", "28.4fb", "--cross-section-error", "10%"], tmp


def test_fb_run_gives_a_thousandth_of_the_pb_run(file_runs, capsys):
    pb, fb, _, _ = file_runs
    assert pb["input"]["cross_section_pb"] == 28.4
    assert pb["input"]["cross_section_source"] == "--cross-section 28.4 pb (bare number taken as pb)"
    assert pb["input"]["cross_section_rel_error"] is None
    assert fb["input"]["cross_section_pb"] == 0.0284
    assert fb["input"]["cross_section_source"] == "--cross-section 28.4fb = 0.0284 pb"
    assert fb["input"]["cross_section_rel_error"] == pytest.approx(0.1)
    assert fb["input"]["cross_section_rel_error_source"] == "--cross-section-error 10%"
    (a_pb,), (a_fb,) = pb["analyses"], fb["analyses"]
    assert a_fb["sample"]["cross_section_source"] == fb["input"]["cross_section_source"]
    assert a_fb["sample"]["cross_section_rel_error"] == pytest.approx(0.1)
    n_steps = 0
    for r_pb, r_fb in zip(a_pb["regions"], a_fb["regions"], strict=True):
        for s_pb, s_fb in zip(r_pb["cutflow"], r_fb["cutflow"], strict=True):
            assert s_fb["n"] == s_pb["n"]
            assert s_fb["yield"] == pytest.approx(s_pb["yield"] / 1000, rel=1e-12, abs=0)
            n_steps += 1
    first = a_fb["regions"][0]["cutflow"][0]
    assert first["yield"] == pytest.approx(0.0284 * 139 * 1000, rel=1e-12)  # sigma x L, all events
    assert n_steps > 20


def test_summary_says_the_bare_number_is_pb(tmp_path, hepmc_files, capsys):
    args = ["--analysis", "ATLAS-SUSY-2019-04", "--events", str(hepmc_files["hepmc3"]), "--cross-section", "28.4"]
    _run(tmp_path, "out", *args)
    text = capsys.readouterr().out
    assert "sigma = 28.4 pb (--cross-section 28.4 pb (bare number taken as pb))" in text
    assert "theory uncertainty of sigma: none given" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cross-section", "28.4 furlongs"], "--cross-section '28.4 furlongs': unknown unit 'furlongs'"),
        (["--cross-section=-3fb"], "--cross-section '-3fb'"),
        (["--cross-section", "1", "--cross-section-error", "lots"], "--cross-section-error 'lots'"),
        (["--cross-section-error", "10%"], "--cross-section-error goes with --cross-section"),
    ],
)
def test_bad_cross_section_options_are_one_line_errors(tmp_path, capsys, hepmc_files, args, message):
    out = tmp_path / "out"
    base = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(hepmc_files["hepmc3"])]
    assert main([*base, *args, "-o", str(out), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_provenance_of_a_run_on_a_file(file_runs):
    from recast_ml import __version__
    from recast_ml._data import cards_dir
    from recast_ml.analysis import find_definition

    _, fb, args, _ = file_runs
    validate_run_document(fb)
    assert fb["format_version"] == 2
    prov = fb["provenance"]
    assert prov["command_line"] == ["recast-ml", "run", *args, "-o", prov["command_line"][-2], "--no-progress"]
    assert prov["seed"] == 1
    assert prov["pythia_settings"] is None
    assert prov["versions"]["pythia"] is None
    assert prov["versions"]["recast_ml"] == __version__
    assert prov["versions"]["packages"]["pyhf"] == pyhf.__version__
    assert prov["versions"]["packages"]["numpy"] == __import__("numpy").__version__
    (ana,) = prov["analyses"]
    definition = find_definition("ATLAS-SUSY-2019-04")
    assert ana["definition"] == {"path": str(definition), "sha256": _sha(definition)}
    assert ana["published"]["sha256"] == _sha(definition.parent / "signal_regions.csv")
    files = [f for entries in ana["models"].values() for f in entries]
    assert len(files) == 5
    for f in files:
        assert f["sha256"] == _sha(definition.parent / f["file"])
    card = ana["detector_card"]
    assert card["path"] == str(cards_dir() / "atlas_run2.toml")
    assert card["sha256"] == _sha(cards_dir() / "atlas_run2.toml")
    assert card["name"] == "ATLAS-Run2"


def test_schema_refuses_a_document_without_provenance_or_with_wrong_types(file_runs):
    _, fb, _, _ = file_runs
    validate_run_document(fb)
    for edit, where in [
        (lambda d: d.pop("provenance"), "'provenance' is a required property"),
        (lambda d: d["provenance"].update(seed="one"), "'one' is not of type"),
        (lambda d: d["provenance"]["versions"].pop("recast_ml"), "'recast_ml' is a required property"),
        (
            lambda d: d["provenance"]["analyses"][0]["definition"].update(sha256="abc"),
            "'abc' does not match '^[0-9a-f]{64}$'",
        ),
        (lambda d: d["input"].update(cross_section_pb="28.4fb"), "'28.4fb' is not of type 'number'"),
        (lambda d: d.update(format_version=1), "2 was expected"),
        (lambda d: d["analyses"][0]["sample"].update(n_events=-1), "minimum of 0"),  # the results schema, by $ref
    ]:
        bad = copy.deepcopy(fb)
        edit(bad)
        with pytest.raises(jsonschema.ValidationError) as e:
            validate_run_document(bad)
        assert where in str(e.value) or where in json.dumps(list(e.value.path)), str(e.value)[:300]


def test_provenance_is_none_for_the_command_line_from_the_api(tmp_path, hepmc_files):
    from recast_ml.run import run_job

    doc = run_job(["ATLAS-SUSY-2019-04"], events=hepmc_files["hepmc3"], cross_section=0.5, output=tmp_path / "out")
    assert doc["provenance"]["command_line"] is None
    assert doc["input"]["cross_section_source"] == "--cross-section 0.5 pb (bare number taken as pb)"
    validate_run_document(doc)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["provenance"]["command_line"] is None


# ------------------------------------------------------------------------------------------------
# generated runs: the table's uncertainty; SLHA XSECTION blocks
# ------------------------------------------------------------------------------------------------
def _check_theory(doc, rel):
    (ana,) = doc["analyses"]
    st = ana["statistics"]
    with_signal = [r for r in st["regions"] if r["signal"] > 0]
    assert with_signal, "the test needs a region with signal"
    for r in st["regions"]:
        for k in ("r_obs", "r_exp"):
            if r[k] is not None:
                assert r[f"{k}_up"] == pytest.approx(r[k] * (1 + rel), rel=1e-12)
                assert r[f"{k}_down"] == pytest.approx(r[k] * (1 - rel), rel=1e-12)
    for r in with_signal:
        assert r["cls_obs_up"] <= r["cls_obs"] <= r["cls_obs_down"]
    best = st["best"]
    assert best["r_obs_up"] == pytest.approx(best["r_obs"] * (1 + rel), rel=1e-12)


def test_generated_run_carries_the_table_uncertainty(tmp_path, capsys):
    sample = tmp_path / "g.hepmc3.gz"
    doc = _run(
        tmp_path, "gen", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "40",
        "--seed", "3", "--threads", "2", "--write-events", str(sample),
    )  # fmt: skip
    text = capsys.readouterr().out
    point = json.loads((xsec_dir() / "pp13_gluino_NNLO+NNLL.json").read_text())["data"]["1400"]
    rel = point["unc_pb"] / point["xsec_pb"]  # the table's value at a grid point, by hand
    assert doc["input"]["cross_section_pb"] == pytest.approx(point["xsec_pb"], rel=1e-12)
    assert doc["input"]["cross_section_rel_error"] == pytest.approx(rel, rel=1e-12)
    assert doc["input"]["cross_section_rel_error_source"] == "table pp13_gluino_NNLO+NNLL"
    _check_theory(doc, doc["input"]["cross_section_rel_error"])
    assert f"theory uncertainty of sigma: ±{100 * rel:.3g}%" in text
    assert "at sigma x (1 -/+" in text
    validate_run_document(doc)
    prov = doc["provenance"]
    settings = prov["pythia_settings"]
    assert "Random:seed = 3" in settings
    assert "SUSY:gg2gluinogluino = on" in settings
    assert prov["versions"]["pythia"] == "8.317"
    assert prov["seed"] == 3
    # the written sample carries sigma and its uncertainty (GenCrossSection error): the same r band again
    again = _run(tmp_path, "again", "--analysis", "ATLAS-SUSY-2018-22", "--events", str(sample))
    assert again["input"]["cross_section_pb"] == doc["input"]["cross_section_pb"]
    assert again["input"]["cross_section_rel_error"] == pytest.approx(rel, rel=1e-6)
    assert again["input"]["cross_section_rel_error_source"] == f"GenCrossSection error of {sample}"
    best, best_again = doc["analyses"][0]["statistics"]["best"], again["analyses"][0]["statistics"]["best"]
    assert best_again["r_obs_up"] == pytest.approx(best["r_obs_up"], rel=1e-6)
    validate_run_document(again)


SLHA_XSECTION = """XSECTION  1.30E+04  2212 2212 2 1000021 1000021 # gluino pair, NNLL-fast style
  0  4  0  0  0  0  2.93E-03 NNLL-fast
  0  4  0  2  2  0  2.64E-03 scale up
  0  4  0  1  1  0  3.22E-03 scale down
XSECTION  1.30E+04  2212 2212 2 1000022 1000023 # not produced by --process gluino
  0  2  0  0  0  0  5.00E-01 Prospino
"""


def test_slha_run_takes_the_xsection_block_of_the_process(tmp_path, capsys):
    spectrum = tmp_path / "model.slha"
    spectrum.write_text(slha.gluino_direct(1800, 400).to_slha() + SLHA_XSECTION)
    n_lines = len(slha.gluino_direct(1800, 400).to_slha().splitlines())
    doc = _run(
        tmp_path, "slha", "--analysis", "ATLAS-SUSY-2018-22", "--slha", str(spectrum), "--process", "gluino",
        "-n", "30", "--threads", "2",
    )  # fmt: skip
    inp = doc["input"]
    assert inp["cross_section_pb"] == 2.93e-3  # the central row of the gluino block only
    source = inp["cross_section_source"]
    assert str(spectrum) in source
    assert "NNLO+NNLL" in source
    assert f"line {n_lines + 1}: 2212 2212 -> 1000021 1000021" in source
    assert "1000022" not in source
    assert inp["cross_section_rel_error"] == pytest.approx(0.29 / 2.93, rel=1e-9)  # |3.22 - 2.93| / 2.93
    assert "scale variations" in inp["cross_section_rel_error_source"]
    sr = next(r for r in doc["analyses"][0]["regions"] if r["name"] == "presel")
    assert sr["cutflow"][0]["yield"] == pytest.approx(2.93e-3 * 139e3)
    _check_theory(doc, inp["cross_section_rel_error"])
    validate_run_document(doc)
    assert f"SLHA:file = {spectrum}" in doc["provenance"]["pythia_settings"]
    # --cross-section wins over the file's blocks
    given = _run(
        tmp_path, "given", "--analysis", "ATLAS-SUSY-2018-22", "--slha", str(spectrum), "--process", "gluino",
        "-n", "5", "--cross-section", "1fb",
    )  # fmt: skip
    assert given["input"]["cross_section_pb"] == 0.001
    assert given["input"]["cross_section_rel_error"] is None


def test_slha_without_a_block_for_the_process_asks_for_a_cross_section(tmp_path, capsys):
    spectrum = tmp_path / "model.slha"
    spectrum.write_text(slha.gluino_direct(1800, 400).to_slha() + SLHA_XSECTION.split("XSECTION")[0])
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--slha", str(spectrum), "--process", "squark", "-n", "5"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no XSECTION block for process squark" in err
    assert "pass --cross-section" in err


def test_slha_cross_section_applies_the_forced_decay_factor(tmp_path):
    path = tmp_path / "c1c1.slha"
    path.write_text("XSECTION  1.30E+04  2212 2212 2 1000024 -1000024\n  0  2  0  0  0  0  1.00E+00 Resummino\n")
    plain = xsec.slha_cross_section(path, "chargino_pair")
    lep = xsec.slha_cross_section(path, "chargino_pair_wlep")
    assert plain is not None
    assert lep is not None
    assert plain.pb == 1.0
    assert plain.rel_error is None
    assert lep.pb == pytest.approx((3 * 0.1086) ** 2)
    assert xsec.slha_cross_section(path, "gluino") is None


def test_an_xsection_block_after_the_decays_is_not_read_as_a_decay(tmp_path):
    """read_slha took the XSECTION lines after the last DECAY block for its decay channels."""
    path = tmp_path / "model.slha"
    text = slha.gluino_direct(1800, 400).to_slha()
    path.write_text(text + SLHA_XSECTION)
    f = slha.read_slha(path)
    assert f.decays == slha.read_slha(_written(tmp_path / "plain.slha", text)).decays
    assert slha.checked_spectrum(path, "gluino")[1000021] == 1800


def _written(path, text):
    path.write_text(text)
    return path


def test_provenance_lists_the_files_a_definition_names():
    """ATLAS-SUSY-2018-30 reads its NN normalisation from nn_normalisation_config.json."""
    from recast_ml.analysis import Analysis
    from recast_ml.provenance import analysis_provenance

    ana = Analysis.load("ATLAS-SUSY-2018-30")
    prov = analysis_provenance(ana)
    files = {Path(f["path"]).name: f["sha256"] for f in prov["definition_files"]}
    norm = ana.definition.directory / "nn_normalisation_config.json"
    assert files["nn_normalisation_config.json"] == _sha(norm)
    model_files = {Path(f["path"]).name for entries in prov["models"].values() for f in entries}
    assert model_files
    assert not model_files & set(files)  # model files are listed under models only
    assert prov["definition"]["sha256"] == _sha(ana.definition.path)


def test_a_given_cross_section_warns_only_when_it_differs_from_the_file(tmp_path, caplog):
    """28.4fb on a sample recast wrote with 0.0284 pb is the same σ (no warning; the float of
    28.4fb and the file's 17-digit value differed in the last bit); a different σ warns once, with
    one unit."""
    sample = tmp_path / "s.hepmc3.gz"
    _run(
        tmp_path, "gen", "--analysis", "ATLAS-SUSY-2019-04", "--generate", "gluino_direct:1400,1000", "-n", "10",
        "--cross-section", "0.0284", "--write-events", str(sample),
    )  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="recast_ml.run"):
        _run(tmp_path, "same", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(sample), "--cross-section", "28.4fb")
    assert not [r for r in caplog.records if "used, not the" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="recast_ml.run"):
        _run(tmp_path, "other", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(sample), "--cross-section", "30fb")
    (msg,) = [r.getMessage() for r in caplog.records if "used, not the" in r.getMessage()]
    assert msg.startswith("--cross-section 30fb = 0.03 pb used, not the GenCrossSection of")
    assert "pb pb" not in msg


def test_a_count_with_event_files_is_refused_not_ignored(tmp_path, capsys, hepmc_files):
    """`run --events FILE -n 50` read the whole file and said nothing (a reviewer's first try)."""
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(hepmc_files["hepmc3"]), "-n", "5"]
    assert main([*args, "--cross-section", "1", "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "-n/--n-events counts events to generate" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_provenance_hashes_the_files_a_definition_includes():
    """ATLAS-SUSY-2016-07 takes its objects and variables from ATLAS-SUSY-2018-22's objects.yaml
    (include:); the provenance hashed only the including file."""
    from recast_ml.analysis import Analysis
    from recast_ml.provenance import analysis_provenance

    ana = Analysis.load("ATLAS-SUSY-2016-07")
    files = {Path(f["path"]).resolve(): f["sha256"] for f in analysis_provenance(ana)["definition_files"]}
    included = (ana.definition.directory.parent / "ATLAS-SUSY-2018-22" / "objects.yaml").resolve()
    assert files[included] == _sha(included)
