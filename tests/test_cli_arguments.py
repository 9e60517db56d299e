"""Argument handling found wanting by a new-user trial: validate on a sample given as a file (the
events it reports, the variations it did not run, valid JSON), validate --events without
BENCHMARK=, counts below their least value, and --cross-section values argparse cannot take."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest

from recast_ml.cli import build_parser, main, subcommands


def _strict_json(text: str):
    """json.loads that refuses NaN / Infinity (Python's own accepts them; JSON has none)."""

    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _sample(tmp_path, name: str, n: int, masses: tuple[float, float]):
    """A small HepMC3 file of the gluino benchmark ``masses`` (as recast-ml run --write-events would keep)."""
    import pyhepmc

    from hepmc_samples import pythia_records, to_genevents
    from recast_ml import slha

    card = tmp_path / f"{name}.slha"
    card.write_text(slha.MODELS["gluino_direct"](*masses).to_slha())
    _, records = pythia_records(n, seed=7, settings=[*slha.pythia_settings("gluino_direct"), f"SLHA:file = {card}"])
    path = tmp_path / f"{name}.hepmc3"
    with pyhepmc.open(path, "w", format="HepMC3") as f:
        for g in to_genevents(records, hepmc_status=True):
            f.write(g)
    return path


def test_validate_on_a_file_reports_its_events_no_variations_and_valid_json(tmp_path, capsys, monkeypatch):
    sample = _sample(tmp_path, "gluino_2200_600", 30, (2200, 600))
    out = tmp_path / "ATLAS-SUSY-2018-22"
    args = ["validate", "ATLAS-SUSY-2018-22", "--benchmark", "gluino_2200_600"]
    assert main([*args, "--events", f"gluino_2200_600={sample}", "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    # the header: the 30 events of the file, not the 5000 that -n would generate
    assert lines[0].startswith("== ATLAS-SUSY-2018-22: 30 events per benchmark, "), lines[0]
    # validation.yaml names isr, fsr, isr_damped: none ran on a file; one line says so, no counts
    assert "variation" not in printed.replace("no generator variations were run", "")
    assert sum("no generator variations were run" in line for line in lines) == 1
    text = (out / "summary.json").read_text()
    summary = _strict_json(text)  # no NaN (the file sample has no Pythia LO cross section)
    assert summary["events_per_benchmark"] == 30
    bench = summary["benchmarks"]["gluino_2200_600"]
    assert bench["events"] == 30
    assert bench["pythia_lo_cross_section_pb"] is None
    assert summary["variations"] == {}
    assert summary["cutflow"]["passed_per_variation"] == summary["cutflow"]["compared_per_variation"] == {}
    assert summary["cutflow"]["compared"] == 1 + 3 * 8
    assert "gluino_2200_600: events given as a file" in summary["variation_notes"][-1]
    html = (out / "report.html").read_text()
    assert "30 events per benchmark" in html
    assert ", variation " not in html  # no per-variation rows in the summary table
    assert "nan" not in re.sub(r"<[^>]*>", " ", html).split()  # the LO cross section cell is '—'
    # readers of summary.json: the catalogue status (analyses list) reads it
    from recast_ml import catalogue
    from recast_ml.analysis import find_definition, load_definition

    monkeypatch.setattr(catalogue, "validation_dir", lambda: tmp_path)
    st = catalogue.status(load_definition(find_definition("ATLAS-SUSY-2018-22")))
    assert st.text.startswith(f"cutflows: {summary['cutflow']['passed']}/25 steps within 15 %"), st.text
    capsys.readouterr()
    assert main(["analyses", "list"]) == 0


def test_validate_file_beside_a_generated_benchmark(tmp_path, capsys):
    """Events per benchmark where they differ; per-variation counts over the comparisons the
    members ran on (the generated benchmark's), not over all of them."""
    sample = _sample(tmp_path, "gluino_2200_600", 30, (2200, 600))
    out = tmp_path / "report"
    args = ["validate", "ATLAS-SUSY-2018-22", "--benchmark", "gluino_1800_1000", "-n", "40", "--variations", "isr"]
    args += ["--events", f"gluino_2200_600={sample}", "-o", str(out), "--no-progress", "--threads", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    summary = _strict_json((out / "summary.json").read_text())
    assert summary["events_per_benchmark"] == {"gluino_1800_1000": 40, "gluino_2200_600": 30}
    assert printed.splitlines()[0].startswith(
        "== ATLAS-SUSY-2018-22: events per benchmark: gluino_1800_1000 40, gluino_2200_600 30 (file), "
    )
    assert "no generator variations for gluino_2200_600: events given as a file" in printed
    cs = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    generated = [c for c in cs if c["benchmark"] == "gluino_1800_1000"]
    assert 0 < len(generated) < len(cs)
    s = summary["cutflow"]
    assert s["compared_per_variation"] == {"isr_up": len(generated), "isr_down": len(generated)}
    for member in ("isr_up", "isr_down"):
        n_passed = s["passed_per_variation"][member]
        assert n_passed == sum(c["variations"][member]["passed"] for c in generated)
        assert f"cutflow, variation {member}: {n_passed}/{len(generated)} within tolerance" in printed


def test_summary_json_has_null_for_every_non_finite_number():
    from recast_ml.validate import json_safe

    doc = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2, "x", None), "e": {"f": 0.5}}
    assert json.dumps(json_safe(doc), allow_nan=False) == (
        '{"a": null, "b": [1.0, null, {"c": null}], "d": [2, "x", null], "e": {"f": 0.5}}'
    )


def test_validate_events_without_benchmark_is_a_one_line_error(capsys):
    assert main(["validate", "ATLAS-SUSY-2018-22", "--events", "signal.hepmc3.gz"]) == 2
    err = capsys.readouterr().err
    assert err == "recast-ml: error: validate --events expects BENCHMARK=FILE, got 'signal.hepmc3.gz'\n"
    assert main(["validate", "ATLAS-SUSY-2018-22", "--events", "5000"]) == 2
    assert "(the number of events per benchmark is -n/--n-events)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "0"],
         "-n/--n-events must be at least 1, got 0"),
        (["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "-5"],
         "-n/--n-events must be at least 1, got -5"),
        (["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "--threads", "0"],
         "--threads must be at least 1, got 0"),
        (["validate", "ATLAS-SUSY-2018-22", "--threads", "-1"], "--threads must be at least 1, got -1"),
        (["validate", "ATLAS-SUSY-2018-22", "--n-events", "0"], "-n/--n-events must be at least 1, got 0"),
        (["scan", "--model", "gluino_direct", "-n", "0"], "-n/--n-events must be at least 1, got 0"),
        (["scan", "--model", "gluino_direct", "--threads-per-worker", "0"],
         "--threads-per-worker must be at least 1, got 0"),
        (["scan", "--model", "gluino_direct", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["scan", "--model", "gluino_direct", "--retries", "-1"], "--retries must be at least 0, got -1"),
        (["scan", "--model", "gluino_direct", "--refine-rounds", "-2"], "--refine-rounds must be at least 0, got -2"),
        (["demo", "-n", "0"], "-n/--n-events must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_counts_below_their_least_value_are_one_line_errors(argv, message, tmp_path, capsys):
    assert main([*argv, "-o", str(tmp_path / "out")] if argv[0] != "demo" else argv) == 2
    assert capsys.readouterr().err == f"recast-ml: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_cross_section_help_and_negative_values(tmp_path, capsys):
    parser = next(p for p, _ in subcommands(build_parser()) if p.prog == "recast-ml run")
    run = next(a for a in parser._actions if a.dest == "cross_section")
    # every example with a space between number and unit is shown quoted (unquoted it is two arguments)
    examples = re.findall(r"(?<![\w'.])[0-9.]+(?:e-?[0-9]+)? [a-z]+b\b", run.help)
    assert not [x for x in examples if f"'{x}'" not in run.help], run.help
    assert "'2.84e1 fb'" in run.help
    args = build_parser().parse_args(["run", "--generate", "gluino_direct:1400,1000", "--cross-section", "2.84e1 fb"])
    assert args.cross_section == "2.84e1 fb"  # quoted: one argument
    # a negative value with a unit reaches the cross-section parser, which says what is wrong
    base = ["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1400,1000", "-n", "10"]
    assert main([*base, "--cross-section", "-1pb", "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recast-ml: error: --cross-section '-1pb': expected a positive number with a unit"), err
    assert main([*base, "--cross-section", "28.4fb", "--cross-section-error", "-.5", "-o", str(tmp_path / "o")]) == 2
    assert "--cross-section-error '-.5': expected a relative uncertainty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    shutil.rmtree(tmp_path / "o", ignore_errors=True)


def test_the_python_api_checks_counts_as_the_cli_does(tmp_path):
    """run_job and validate called from Python: a count below its least value is the same one-line
    ConfigError naming the parameter, before any work (was e.g. 'run_batches: no events')."""
    from recast_ml import ConfigError
    from recast_ml.run import run_job
    from recast_ml.validate import validate

    for kwargs, text in [
        ({"n_events": 0}, "n_events must be at least 1, got 0"),
        ({"n_events": -5}, "n_events must be at least 1, got -5"),
        ({"threads": 0}, "threads must be at least 1, got 0"),
    ]:
        with pytest.raises(ConfigError) as err:
            run_job(["ATLAS-SUSY-2018-22"], generate="gluino_direct:1400,1000", output=tmp_path / "o", **kwargs)
        assert str(err.value) == text
    for kwargs, text in [
        ({"events": 0}, "events must be at least 1, got 0"),
        ({"threads": -1}, "threads must be at least 1, got -1"),
    ]:
        with pytest.raises(ConfigError) as err:
            validate("ATLAS-SUSY-2019-04", output=tmp_path / "v", **kwargs)
        assert str(err.value) == text
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "v").exists()
