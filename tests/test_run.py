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
    # ... and without --cross-section: the NNLO+NNLL value recast wrote into the file is used
    third = tmp_path / "third"
    assert main([*file_args[:-2], "-o", str(third), "--no-progress"]) == 0
    doc3 = json.loads((third / "results.json").read_text())
    assert doc3["input"]["cross_section_pb"] == doc["input"]["cross_section_pb"]
    source = doc3["input"]["cross_section_source"]
    assert source.startswith(f"GenCrossSection of {sample} (written by recast_ml")
    assert doc3["analyses"][0]["sample"]["cross_section_source"] == source
    assert source in capsys.readouterr().out
    assert source in (third / "report.html").read_text()
    assert [x["yield"] for x in doc3["analyses"][0]["regions"]] == [x["yield"] for x in ana["regions"]]
    # every SR carries its unweighted MC count, r_cons and the low-statistics mark; the verdict says so
    from recast_ml.statistics import read_signal_regions

    s95 = read_signal_regions(Path(__file__).parents[1] / "analyses" / "ATLAS-SUSY-2018-22" / "signal_regions.csv")
    cutflow_n = {x["name"]: x["cutflow"][-1]["n"] for x in ana["regions"]}
    for reg in st["regions"]:
        assert reg["mc_events"] == cutflow_n[reg["region"]]
        assert reg["low_mc_statistics"] == (reg["mc_events"] < 10)
        published = s95[reg["published_name"]]
        if published.s95_obs:
            cons = max(reg["signal"] - 1.96 * reg["signal_error"], 0) / published.s95_obs
            assert reg["r_cons_obs"] == pytest.approx(cons)
    assert ("UNRELIABLE" in st["verdict"]) == best["low_mc_statistics"]
    assert st["verdict"] in text


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
    count = [] if "--events" in args else ["-n", "10"]  # a count goes with generation only
    assert main(["run", *args, *count, "-o", str(out), "--no-progress"]) == 2
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
    assert doc["input"]["cross_section_source"] == "--cross-section 0.00293 pb (bare number taken as pb)"
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


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gluino_direct:1400", r"takes 2 mass parameter\(s\), got 1: gluino_direct:M_GLUINO,M_LSP"),
        ("gluino_onestep:1400", r"takes 2 to 3 mass parameter\(s\), got 1: gluino_onestep:M_GLUINO,M_LSP"),
        ("squark_direct:1200,600,5", r"takes 2 mass parameter\(s\), got 3: squark_direct:M_SQUARK,M_LSP"),
        ("gluino_direct:1000,1200", r"cannot decay"),
        ("gluino_direct:9000,100", r"outside the table.*pass --cross-section"),
        ("nope:1", r"unknown model 'nope' \(models: gluino_direct:M_GLUINO,M_LSP"),
    ],
)
def test_bad_generate_specs_are_one_line_errors(tmp_path, spec, message):
    import re
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "recast_ml", "run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", spec]
    res = subprocess.run([*cmd, "-n", "5", "-o", str(out), "--no-progress"], capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("recast-ml: error: ")
    assert re.search(message, lines[0])
    assert not out.exists()


def test_higgsino_model_takes_the_higgsino_cross_section_table():
    """`--generate higgsino_rpv:385` (listed by the CLI) failed with KeyError: no table mapped."""
    from recast_ml import xsec
    from recast_ml.run import sample_generator

    gen, xs, source = sample_generator(
        generate="higgsino_rpv:385", slha_file=None, process=None, seed=1, cross_section=None
    )
    assert xs == xsec.lookup("pp13_hino_NLO+NLL", 385).xsec_pb
    assert 0.09 < xs < 0.11  # 104 fb near 385 GeV (spec of ATLAS-SUSY-2019-04)
    assert source == "pp13_hino_NLO+NLL (NLO+NLL) at 385 GeV"
    assert gen._pythia.particleData.m0(1000022) == pytest.approx(385.0)


def test_generate_help_lists_every_model_with_its_masses():
    from recast_ml import slha
    from recast_ml.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = " ".join(run.format_help().split())
    for usage in (
        "gluino_direct:M_GLUINO,M_LSP",
        "gluino_onestep:M_GLUINO,M_LSP,[M_CHARGINO]",
        "squark_direct:M_SQUARK,M_LSP",
        "higgsino_rpv:M_HIGGSINO",
    ):
        assert usage in text
    assert set(slha.MODEL_PARAMETERS) == set(slha.MODELS)


def test_unexpected_errors_are_one_line_internal_errors(monkeypatch, capsys, tmp_path):
    import recast_ml.run

    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(recast_ml.run, "run_job", boom)
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.strip() == "recast-ml: internal error: KeyError: 'surprise' (run with -v for the traceback)"
    assert main(["-v", *args]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("recast-ml: internal error: KeyError")


def test_typed_errors_are_one_line_and_traceback_only_with_verbose(monkeypatch, capsys):
    import recast_ml.run
    from recast_ml import InputError

    def bad(*args, **kwargs):
        raise InputError("f.hepmc:3: line one\nline two")

    monkeypatch.setattr(recast_ml.run, "run_job", bad)
    args = ["run", "--analysis", "X", "--generate", "gluino_direct:1400,1000"]
    assert main(args) == 2
    assert capsys.readouterr().err == "recast-ml: error: f.hepmc:3: line one line two\n"
    assert main(["-v", *args]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_the_same_file_twice_is_refused(tmp_path, capsys, hepmc_files, monkeypatch):
    path = hepmc_files["hepmc3"]
    monkeypatch.chdir(path.parent)
    link = tmp_path / "link.hepmc3"
    link.symlink_to(path)
    for spellings in (
        [str(path), str(path)],
        [str(path), path.name],
        [str(path), f"./{path.name}"],
        [str(path), str(link)],
    ):
        out = tmp_path / "out"
        args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--events", *spellings, "--cross-section", "1"]
        assert main([*args, "-o", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "given twice" in err
        assert not out.exists()


def _gluino_file(path, n, seed, masses=(1400, 200)):
    from recast_ml import write_hepmc3
    from recast_ml.pythia import simplified_model_generator

    write_hepmc3(simplified_model_generator("gluino_direct", *masses, seed=seed).generate(n), path)
    return path


def test_a_huge_cross_section_gives_a_result_not_a_crash(tmp_path, capsys):
    """`run --events g.hepmc3.gz --cross-section 10`: s ~ 1e5 events against b ~ 500 died in pyhf."""
    sample = _gluino_file(tmp_path / "g.hepmc3.gz", 25, seed=8)
    out = tmp_path / "out"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--events", str(sample), "--cross-section", "10"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    (ana,) = json.loads((out / "results.json").read_text())["analyses"]
    st = ana["statistics"]

    def scale(r):  # the sensitivity scale of statistics.cls_result(method="pyhf")
        return 2 * (r["b"] + r["b_err"] ** 2) ** 0.5 + abs(r["n_obs"] - r["b"]) + 3

    big = [r for r in st["regions"] if r["signal"] > 20 * scale(r)]
    assert big, "the test needs a region with s >> b"
    assert max(r["signal"] / r["b"] for r in big) > 100
    for r in big:
        assert r["cls_obs"] < 1e-10
        assert r["cls_method"] == "native"  # closed form: no fit to fail, no rescaling needed
        assert r["s95_obs_model"] < r["signal"]
    assert st["excluded_at_95cl"]
    assert "EXCLUDED" in text


def test_a_sample_with_no_event_in_any_region_says_so():
    from recast_ml.run import _verdict
    from recast_ml.statistics import PublishedRegion, best_expected, region_statistics

    published = {"A": PublishedRegion("A", 10, 8.0, 2.0, 9.0, 7.5), "B": PublishedRegion("B", 3, 3.0, 1.0, 6.0, 5.0)}
    stats = region_statistics({"A": (0.0, 0.0), "B": (0.0, 0.0)}, published, mc_events={"A": 0, "B": 0})
    verdict = _verdict(best_expected(stats))
    assert verdict.startswith("no MC event passes any signal region with published numbers -> not excluded")
    assert "UNRELIABLE" not in verdict


def test_few_mc_events_make_the_verdict_unreliable():
    from recast_ml.run import _verdict, format_summary
    from recast_ml.statistics import PublishedRegion, region_statistics

    published = {"A": PublishedRegion("A", 10, 8.0, 2.0, 9.0, 7.5), "B": PublishedRegion("B", 3, 3.0, 1.0, 6.0, 5.0)}
    stats = region_statistics({"A": (30.0, 30.0), "B": (2.0, 0.2)}, published, mc_events={"A": 1, "B": 300})
    a = stats[0]
    assert a.low_mc_statistics  # one MC event ...
    assert a.cls_obs < 0.05  # ... "excludes" the point
    verdict = _verdict(a)
    assert verdict.startswith("best expected SR: A -> EXCLUDED at 95% CL")
    assert "r_cons = 0" in verdict
    assert "UNRELIABLE: its signal rests on 1 MC event(s) (fewer than 10)" in verdict
    assert "UNRELIABLE" not in _verdict(stats[1])
    summary = {
        "input": {"n_events": 300, "cross_section_pb": 1.0, "cross_section_source": "--cross-section"},
        "analyses": [
            {
                "analysis": {"id": "X"},
                "regions": [],
                "statistics": {
                    "regions": [s.to_dict() for s in stats],
                    "best_expected_region": "A",
                    "best": a.to_dict(),
                    "verdict": verdict,
                },
            }
        ],
    }
    text = format_summary(summary)
    header = next(line for line in text.splitlines() if line.startswith("SR "))
    assert header.split()[-3:] == ["r_obs", "r_exp", "r_cons"]
    row_a = next(line for line in text.splitlines() if line.startswith("A "))
    assert "(< 10 MC events)" in row_a
    assert row_a.split()[3] == "1"  # MC events column
    assert verdict in text


def test_events_from_standard_input(tmp_path, hepmc_files):
    """`some-generator | recast-ml run --events - ...`: the same results as from the file; the
    cross section must be given (a stream is read once)."""
    import subprocess
    import sys

    src = hepmc_files["hepmc3.gz"]
    args = ["run", "--analysis", "ATLAS-SUSY-2019-04", "--cross-section", "830", "--no-progress"]
    assert main([*args, "--events", str(src), "-o", str(tmp_path / "file")]) == 0
    cmd = [sys.executable, "-m", "recast_ml", *args, "--events", "-", "-o", str(tmp_path / "pipe")]
    proc = subprocess.run(cmd, input=src.read_bytes(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    (a,) = json.loads((tmp_path / "file" / "results.json").read_text())["analyses"]
    (b,) = json.loads((tmp_path / "pipe" / "results.json").read_text())["analyses"]
    assert [r["cutflow"] for r in a["regions"]] == [r["cutflow"] for r in b["regions"]]
    no_xs = [sys.executable, "-m", "recast_ml", *args[:3], "--events", "-", "-o", str(tmp_path / "x")]
    proc = subprocess.run(no_xs, input=src.read_bytes(), capture_output=True, check=False)
    assert proc.returncode == 2
    assert "a cross section is needed" in proc.stderr.decode()
    both = [sys.executable, "-m", "recast_ml", *args, "--events", "-", str(src), "-o", str(tmp_path / "y")]
    proc = subprocess.run(both, input=b"", capture_output=True, check=False)
    assert proc.returncode == 2
    assert "standard input is the whole sample" in proc.stderr.decode()


def test_generate_a_model_without_a_cross_section_table(tmp_path, capsys):
    """trsm_xsh (ATLAS-HIGP-2024-32's X -> S H -> HHH, Pythia lines only) runs from the CLI with a
    given cross section; without one the error says so."""
    args = ["run", "--analysis", "ATLAS-HIGP-2024-32", "--generate", "trsm_xsh:900,400", "-n", "20"]
    assert main([*args, "-o", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "no cross-section table for trsm_xsh; pass --cross-section" in capsys.readouterr().err
    out = tmp_path / "ok"
    assert main([*args, "--cross-section", "0.05", "-o", str(out), "--no-progress"]) == 0
    (ana,) = json.loads((out / "results.json").read_text())["analyses"]
    assert ana["sample"]["cross_section_pb"] == 0.05
    assert ana["regions"][0]["cutflow"][0]["n"] == 20


def test_an_analysis_without_published_numbers_prints_the_cutflows_of_its_largest_regions():
    """README: run prints the cutflows of the best regions; without published SR numbers (no
    statistics) those of the regions keeping the largest yield, said so (it printed none)."""
    from recast_ml.run import format_summary

    def region(name: str, final: float) -> dict:
        steps = [("all events", 200, 100.0), ("cut", 50, final)]
        return {
            "name": name,
            "cutflow": [
                {"name": s, "n": n, "efficiency_cumulative": n / 200, "yield": y, "yield_error": 1.0}
                for s, n, y in steps
            ],
        }

    doc = {
        "analysis": {"id": "MY-1"},
        "statistics": {"note": "no published signal-region numbers for this analysis"},
        "regions": [region("a", 5.0), region("b", 40.0), region("c", 20.0), region("d", 30.0)],
    }
    summary = {"input": {"n_events": 200, "cross_section_pb": 0.03, "cross_section_source": "given"}}
    summary["analyses"] = [doc]
    lines = format_summary(summary, cutflow_regions=2).splitlines()
    assert "(no published SR numbers: the cutflows of the 2 regions with the largest yield)" in lines
    assert [line for line in lines if line.startswith("cutflow ")] == ["cutflow b:", "cutflow d:"]
    assert "no published signal-region numbers for this analysis" in lines
    # published numbers, but none of their SRs ran (e.g. their model file is not available)
    doc["statistics"] = {"regions": [], "note": "no statistics"}
    lines = format_summary(summary, cutflow_regions=2).splitlines()
    assert "(no SR with published numbers ran: the cutflows of the 2 regions with the largest yield)" in lines
