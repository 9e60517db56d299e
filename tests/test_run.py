"""`recast-ml run`: the main job end to end on a small generated sample, and its error paths
(clear messages, no partial results files)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pyhf
import pytest

from recast_ml.cli import main


def test_run_on_a_generated_gluino_sample(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "300"]
    sample = tmp_path / "gluino.hepmc3.gz"
    code = main([*args, "--threads", "2", "-o", str(out), "--no-progress", "--write-events", str(sample)])
    assert code == 0
    text = capsys.readouterr().out
    assert "best expected SR" in text
    assert "CLs_obs" in text
    doc = json.loads((out / "results.json").read_text())
    assert (out / "report.html").is_file()
    assert doc["input"]["cross_section_pb"] == pytest.approx(0.0284)
    (ana,) = doc["analyses"]
    schema = json.loads(
        (Path(__file__).parents[1] / "python" / "recast_ml" / "schemas" / "results.schema.json").read_text()
    )
    jsonschema.validate(ana, schema)
    st = ana["statistics"]
    regions = {r["region"]: r for r in st["regions"]}
    assert {"SR4j-1000", "SR-BDT-GGd4", "SR2j-1600"} <= set(regions)
    # CLs of one SR equals pyhf run directly on the yields in the file
    r = regions["SR4j-1000"]
    assert r["signal"] > 0
    model = pyhf.simplemodels.uncorrelated_background(signal=[r["signal"]], bkg=[r["b"]], bkg_uncertainty=[r["b_err"]])
    ref = pyhf.infer.hypotest(1.0, [r["n_obs"], *model.config.auxdata], model, test_stat="qtilde")
    assert r["cls_obs"] == pytest.approx(float(ref), rel=1e-9)
    sr_yield = next(x for x in ana["regions"] if x["name"] == "SR4j-1000")["yield"]
    assert r["signal"] == pytest.approx(sr_yield)
    best = st["best"]
    assert best["r_exp"] == max(x["r_exp"] for x in st["regions"] if x["r_exp"] is not None)
    # the written sample, run again from the file, gives the same yields
    again = tmp_path / "again"
    file_args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--events", str(sample), "--cross-section", "0.0284"]
    assert main([*file_args, "-o", str(again), "--no-progress"]) == 0
    (ana2,) = json.loads((again / "results.json").read_text())["analyses"]
    assert [x["yield"] for x in ana2["regions"]] == [x["yield"] for x in ana["regions"]]
    assert ana2["regions"][0]["yield"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--analysis", "ATLAS-NOPE-9", "--generate", "gluino_direct:1400,1000"], "unknown analysis 'ATLAS-NOPE-9'"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino:1400"], "unknown model 'gluino'"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--events", "EVENTS"], "a cross section is needed"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--events", "EMPTY", "--cross-section", "1"], "holds no events"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--events", "EVENTS", "nope.hepmc"], "nope.hepmc: no such file"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--events", ".", "--cross-section", "1"], "--events .: not a file"),
        (["--analysis", "ATLAS-SUSY-2018-22", "--slha", "x.slha"], "--slha needs --process"),
    ],
)
def test_bad_inputs_give_clear_errors_and_no_results(tmp_path, capsys, hepmc_files, args, message):
    empty = tmp_path / "empty.hepmc"
    empty.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nHepMC::Asciiv3-END_EVENT_LISTING\n")
    args = [str(hepmc_files["hepmc3"]) if a == "EVENTS" else str(empty) if a == "EMPTY" else a for a in args]
    out = tmp_path / "out"
    assert main(["run", *args, "-n", "10", "-o", str(out), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".recast_run_*"))


def test_run_on_an_event_file(tmp_path, capsys):
    """--events: a HepMC3 file written from Pythia (HepMC status codes) with a given cross section."""
    import pyhepmc

    from hepmc_samples import pythia_records, to_genevents

    _, records = pythia_records(30, seed=23)
    path = tmp_path / "ttbar.hepmc3.gz"
    plain = tmp_path / "ttbar.hepmc3"
    with pyhepmc.open(plain, "w", format="HepMC3") as f:
        for g in to_genevents(records, hepmc_status=True):
            f.write(g)
    path.write_bytes(gzip.compress(plain.read_bytes()))
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--events", str(path), "--cross-section", "830"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["input"]["n_events"] == 30
    (ana,) = doc["analyses"]
    assert ana["sample"]["cross_section_pb"] == 830
    presel = next(r for r in ana["regions"] if r["name"] == "presel-1l")
    assert presel["cutflow"][0]["n"] == 30
    assert presel["cutflow"][0]["yield"] == pytest.approx(830 * 139 * 1000)


def test_run_from_a_user_slha_file(tmp_path):
    from recast_ml import slha

    spectrum = tmp_path / "my_model.slha"
    spectrum.write_text(slha.gluino_direct(1800, 400).to_slha())
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--slha", str(spectrum), "--process", "gluino"]
    assert main([*args, "--cross-section", "0.00293", "-n", "60", "-o", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["input"]["slha"] == str(spectrum)
    assert doc["input"]["cross_section_source"] == "--cross-section"
    sr = next(r for r in doc["analyses"][0]["regions"] if r["name"] == "presel")
    assert sr["cutflow"][0]["yield"] == pytest.approx(0.00293 * 139e3)
    assert sr["cutflow"][-1]["n"] > 20  # heavy gluinos to a light LSP mostly pass the preselection


def test_event_files_are_streamed_in_chunks_with_the_one_batch_result(tmp_path, capsys):
    """Parts of one sample, read chunk by chunk (run_files, `run --events A B`), give exactly what one
    batch of all the events gives: the event keys seeding the detector continue across chunks/files."""
    import numpy as np

    from recast_ml import EventBatch, read_events, write_hepmc3
    from recast_ml.analysis import Analysis, run_files
    from recast_ml.pythia import simplified_model_generator

    parts = []
    for k, n in enumerate((17, 9)):
        path = tmp_path / f"part{k}.hepmc3.gz"
        write_hepmc3(simplified_model_generator("gluino_direct", 2200, 600, seed=40 + k).generate(n), path)
        parts.append(path)
    analyses = [Analysis.load("ATLAS-SUSY-2018-22"), Analysis.load("ATLAS-SUSY-2019-04")]
    whole = EventBatch.concatenate(read_events(p) for p in parts)
    streamed = run_files(analyses, parts, cross_section=0.05, chunk_size=4)
    assert len(streamed) == 2
    for ana, got in zip(analyses, streamed, strict=True):
        ref = ana.run(whole, cross_section=0.05)
        assert got.n_events == ref.n_events == 26
        np.testing.assert_array_equal(got.variables, ref.variables)
        np.testing.assert_array_equal(got.passed, ref.passed)
        for name, cf in ref.cutflows.items():
            assert got.cutflow(name).n.tolist() == cf.n.tolist()
            np.testing.assert_allclose(got.cutflow(name).sumw, cf.sumw, rtol=1e-12)
    assert streamed[0].passed.any()  # the comparison is not of empty selections
    # the CLI takes the parts of one sample
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--events", *map(str, parts), "--cross-section", "0.05"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["input"]["n_events"] == 26
    assert doc["input"]["events"] == [str(p) for p in parts]
    ref = analyses[0].run(whole, cross_section=0.05)
    by_name = {r["name"]: r for r in doc["analyses"][0]["regions"]}
    for name in ref.cutflows:
        assert by_name[name]["yield"] == pytest.approx(ref.yield_(name)[0], rel=1e-12)
    # --write-events is for generated samples
    assert main([*args, "-o", str(tmp_path / "o2"), "--no-progress", "--write-events", str(tmp_path / "x.hepmc3")]) == 2
    assert "--write-events keeps a generated sample" in capsys.readouterr().err
