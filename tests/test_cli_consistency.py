"""One command line: --events means event files and -n/--n-events a count on every command, every
command taking analyses accepts comma lists and 'all', every option has help text, the top-level
help has no reST markup and realistic examples, `models inspect` reads every model kind, and the
public submodules are attributes of `import recast_ml`."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import onnxruntime as ort
import pytest

import recast_ml
from recast_ml import cli
from recast_ml.cli import build_parser, main, subcommands

REST_MARKUP = ("``", ":func:", ":class:", ":mod:", ":data:", ":meth:", ":attr:", ".. ")


def all_parsers() -> list[argparse.ArgumentParser]:
    top = build_parser()
    return [top, *(p for p, _ in subcommands(top))]


def option_actions():
    for parser in all_parsers():
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                yield parser, action


def test_every_option_and_command_has_help():
    missing = [
        f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
        for p, a in option_actions()
        if not (isinstance(a.help, str) and a.help.strip() and a.help != argparse.SUPPRESS)
    ]
    assert missing == []
    for parser, text in subcommands(build_parser()):
        assert text, parser.prog
        assert parser.description == text  # `recast-ml COMMAND --help` says what the command does
    assert len(list(option_actions())) > 60  # the walk reached the options of every command


def test_help_is_plain_text_with_runnable_examples():
    res = subprocess.run([sys.executable, "-m", "recast_ml", "--help"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for parser in all_parsers():
        text = parser.format_help()
        assert not [m for m in REST_MARKUP if m in text], parser.prog
    assert res.stdout == build_parser().format_help()
    examples = res.stdout.split("\nexamples:\n", 1)[1].strip().splitlines()
    assert 4 <= len(examples) <= 6
    for line in examples:  # each example parses (the options exist, the values convert)
        words = shlex.split(line.split("|")[-1])
        assert words[0] == "recast-ml"
        args = build_parser().parse_args(words[1:])
        assert callable(args.func)
    # the epilog keeps its line breaks (RawDescriptionHelpFormatter): one example per line
    assert all(line.startswith("  ") for line in res.stdout.split("\nexamples:\n", 1)[1].splitlines())


def test_threads_default_is_documented():
    parsers = {p.prog: p for p in all_parsers()}
    for prog in ("recast-ml run", "recast-ml validate"):
        text = " ".join(parsers[prog].format_help().split())
        assert f"(default: one per core, {os.cpu_count()} here)" in text, prog
        assert parsers[prog].parse_args(["x"] if prog.endswith("validate") else ["--events", "f"]).threads == (
            os.cpu_count() or 1
        )


def test_events_are_files_and_counts_are_n_events_everywhere(capsys):
    events = [(p, a) for p, a in option_actions() if "--events" in a.option_strings]
    assert {p.prog for p, _ in events} == {"recast-ml run", "recast-ml validate"}
    for p, a in events:
        assert a.type is not int, p.prog
        assert a.option_strings == ["--events"]
    counts = [(p, a) for p, a in option_actions() if a.type is int and "event" in (a.help or "") + a.dest]
    assert {p.prog for p, _ in counts} == {"recast-ml run", "recast-ml scan", "recast-ml validate", "recast-ml demo"}
    for p, a in counts:
        assert a.option_strings == ["-n", "--n-events"], p.prog
    parser = build_parser()
    args = parser.parse_args(
        ["validate", "ATLAS-SUSY-2018-22", "-n", "300", "--events", "b=x.hepmc3", "--events", "b=y"]
    )
    assert (args.n_events, args.events) == (300, ["b=x.hepmc3", "b=y"])
    assert parser.parse_args(["demo", "--n-events", "20"]).n_events == 20
    capsys.readouterr()
    assert main(["validate", "ATLAS-SUSY-2018-22", "--events", "5000"]) == 2
    assert re.search(
        r"--events expects BENCHMARK=FILE, got '5000' \(the number of events .* -n/", capsys.readouterr().err
    )
    for old in (["validate", "ATLAS-SUSY-2018-22", "--sample", "b=x"], ["demo", "--events", "20"]):
        with pytest.raises(SystemExit):  # old spellings are gone: an argparse error, never a silent reading
            parser.parse_args(old)


def test_analysis_arguments_accept_comma_lists_and_all(tmp_path, capsys, monkeypatch):
    from recast_ml.analysis import available

    names = available()
    assert main(["analyses", "show", "all"]) == 0
    out = capsys.readouterr().out
    shown = [line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert shown == names
    assert main(["analyses", "show", "ATLAS-SUSY-2019-04,ATLAS-SUSY-2018-22"]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" ")] == [
        "ATLAS-SUSY-2019-04",
        "ATLAS-SUSY-2018-22",
    ]
    assert main(["definition", "resolve", "ATLAS-SUSY-2019-04,ATLAS-SUSY-2019-02", "-o", str(tmp_path / "r")]) == 0
    for name in ("ATLAS-SUSY-2019-04", "ATLAS-SUSY-2019-02"):
        doc = json.loads((tmp_path / "r" / name / "definition.json").read_text())
        assert doc["regions"]
    assert main(["analyses", "show", " , "]) == 2
    assert "no analysis in ' , '" in capsys.readouterr().err

    seen: list[tuple] = []
    monkeypatch.setattr(cli, "_validate_one", _validate_recording(seen))
    assert main(["validate", "all", "-n", "7", "-o", str(tmp_path / "v")]) == 0
    assert seen == [(n, tmp_path / "v" / n, 7) for n in names]
    seen.clear()
    assert main(["validate", "ATLAS-SUSY-2018-22", "-n", "7"]) == 0
    assert seen == [("ATLAS-SUSY-2018-22", None, 7)]
    assert main(["validate", "ATLAS-SUSY-2018-22,ATLAS-SUSY-2019-04", "--benchmark", "x"]) == 2
    assert "give one ANALYSIS" in capsys.readouterr().err


def _validate_recording(seen):
    """cli._validate_one's output choice, without generating anything."""

    def one(args, name, samples, several):
        output = args.output / name if several and args.output is not None else args.output
        seen.append((name, output, args.n_events))

    return one


def test_validate_output_per_analysis_follows_the_folder_name(tmp_path, monkeypatch):
    """The real _validate_one: OUTPUT/<ID> for several analyses, OUTPUT itself for one."""
    calls = []

    import recast_ml.validate

    def fake(name, **kwargs):
        calls.append((name, kwargs["output"]))
        return recast_ml.validate.ValidationReport(analysis="X", events_per_benchmark=kwargs["events"])

    monkeypatch.setattr(recast_ml.validate, "validate", fake)
    assert main(["validate", "ATLAS-SUSY-2018-22,ATLAS-SUSY-2019-04", "-o", str(tmp_path)]) == 0
    assert calls == [
        ("ATLAS-SUSY-2018-22", tmp_path / "ATLAS-SUSY-2018-22"),
        ("ATLAS-SUSY-2019-04", tmp_path / "ATLAS-SUSY-2019-04"),
    ]
    calls.clear()
    assert main(["validate", "ATLAS-SUSY-2018-22", "-o", str(tmp_path)]) == 0
    assert calls == [("ATLAS-SUSY-2018-22", tmp_path)]


def inspect_json(capsys, target: str) -> dict:
    assert main(["models", "inspect", target, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_models_inspect_reads_every_kind(shared_data, tmp_path, capsys):
    # ONNX: inputs and outputs as onnxruntime sees them
    path = shared_data / "ATLAS-SUSY-2019-04" / "onnx" / "OneLeptonMultiJets2018_6jets.onnx"
    info = inspect_json(capsys, str(path))
    sess = ort.InferenceSession(str(path))
    assert info["format"] == "ONNX"
    assert [(i["name"], i["shape"]) for i in info["inputs"]] == [(i.name, i.shape) for i in sess.get_inputs()]
    assert [o["name"] for o in info["outputs"]] == [o.name for o in sess.get_outputs()]
    # TMVA XML, plain and gzipped: the variables of the XML, in order
    xml = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    variables = [v.get("Expression") for v in ET.parse(xml).getroot().iter("Variable")]
    gz = tmp_path / "bdt.xml.gz"
    gz.write_bytes(gzip.compress(xml.read_bytes()))
    for target in (xml, gz):
        info = inspect_json(capsys, str(target))
        assert info["format"] == "TMVA XML"
        assert info["inputs"][0]["features"] == variables
    # lwtnn JSON: the inputs of the graph file
    nn = shared_data / "ATLAS-SUSY-2019-04" / "lwtnn" / "ATLAS_13TeV_1LEPJets_139invfb_4j.json"
    doc = json.loads(nn.read_text())
    info = inspect_json(capsys, str(nn))
    assert info["format"] == "lwtnn JSON"
    assert info["inputs"][0]["features"] == [v["name"] for v in doc["inputs"][0]["variables"]]
    # MVAUtils ROOT: the forest as uproot reads it
    import uproot

    root = shared_data / "ATLAS-SUSY-2019-02" / "bdt_root" / "ANA-SUSY-2019-02_DF0J_trained_even.root"
    info = inspect_json(capsys, str(root))
    assert info["format"] == "MVAUtils ROOT"
    with uproot.open(root) as f:
        tree = f[info["metadata"]["tree"]]
        variables = tree["vars"].array(library="np")  # per tree: the feature index of each node (-1: leaf)
        assert int(info["metadata"]["trees"]) == tree.num_entries == 400
        assert int(info["metadata"]["nodes"]) == sum(len(v) for v in variables)
        assert len(info["inputs"][0]["features"]) == max(int(v.max()) for v in variables) + 1 == 10
    # ANALYSIS:MODEL: every model card of every bundled analysis, loaded as a run loads it
    from recast_ml.analysis import available, find_definition, load_definition

    n_cards = 0
    for name in available():
        d = load_definition(find_definition(name))
        absent = d.unavailable_models()
        for model in d.doc.get("models", {}):
            if model in absent:
                assert main(["models", "inspect", f"{name}:{model}"]) == 2
                assert "is unavailable: " in capsys.readouterr().err
                continue
            info = inspect_json(capsys, f"{name}:{model}")
            assert info["card"] == f"{name}:{model}"
            assert info["format"] in ("ONNX", "TMVA XML", "lwtnn JSON", "MVAUtils ROOT")
            assert [i["name"] for i in info["card_inputs"]]
            n_cards += 1
    assert n_cards >= 17  # 2018-22 (8), 2019-04 (1), 2019-02 (2), HIGP (6)


def test_submodules_are_attributes_after_import():
    """Each public submodule in a fresh interpreter, alone (another could import it on the way)."""
    assert {"xsec", "slha", "statistics", "io", "scan", "effmap", "catalogue", "validate", "models", "convert"} <= set(
        recast_ml.SUBMODULES
    )
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import recast_ml; m = recast_ml.{name}; print(m.__name__)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in recast_ml.SUBMODULES
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {err}"
        assert out.strip() == f"recast_ml.{name}"
    code = (
        "import sys, recast_ml; print(sorted(m for m in ('dask', 'pyhf', 'pythia8mc', 'recast_ml.scan', "
        "'recast_ml.validate', 'recast_ml.xsec') if m in sys.modules)); "
        "print(recast_ml.xsec.lookup('gluino', 1400).xsec_pb); print('xsec' in dir(recast_ml))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lazy, xs, listed = res.stdout.split("\n")[:3]
    assert lazy == "[]"  # `import recast_ml` stays light: nothing heavy until asked for
    assert float(xs) == recast_ml.xsec.lookup("gluino", 1400).xsec_pb
    assert listed == "True"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = recast_ml.nope


def test_demo_is_a_check_that_fails_on_a_wrong_score(monkeypatch, capsys):
    from recast_ml.onnx import OnnxModel

    assert main(["demo", "-n", "5", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5 events" in out
    assert out.count(" OK") == 2
    assert "all checks passed" in out
    real = OnnxModel.run

    def off(self, feeds):
        return {k: np.asarray(v) + 1e-4 for k, v in real(self, feeds).items()}

    monkeypatch.setattr(OnnxModel, "run", off)
    assert main(["demo", "-n", "5", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.count("MISMATCH") == 2
    assert "2 score(s) differ from the published reference" in out


def test_examples_writes_the_readme_inputs(tmp_path, capsys):
    from recast_ml import slha
    from recast_ml._data import analyses_dir

    assert main(["examples", str(tmp_path / "ex")]) == 0
    files = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert files == sorted(cli.EXAMPLE_FILES)
    spectrum = slha.read_slha(tmp_path / "ex" / "spectrum.slha")
    assert spectrum.masses[1000021] == pytest.approx(1400.0)
    assert spectrum.masses[1000022] == pytest.approx(1000.0)
    bundled = analyses_dir() / "ATLAS-SUSY-2018-22" / "models" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml.gz"
    assert (tmp_path / "ex" / "bdt_weights.xml.gz").read_bytes() == bundled.read_bytes()
    assert "nonres_even.csv" in capsys.readouterr().out


def test_run_and_scan_expand_comma_lists_and_all(tmp_path, monkeypatch):
    """`run` and `scan` take the analyses through run_job / run_scan; stopped where the names are
    used (loading the analyses / opening the store), before any event is generated."""
    import recast_ml.run
    import recast_ml.scan
    from recast_ml.analysis import available

    seen: list[list[str]] = []

    class Loader:
        @staticmethod
        def load(name, detector=None):
            seen[-1].append(name)
            if len(seen[-1]) == expected:
                raise KeyboardInterrupt
            return None

    def store(path, meta):
        seen[-1].extend(meta["analyses"])
        raise KeyboardInterrupt

    monkeypatch.setattr(recast_ml.run, "Analysis", Loader)
    monkeypatch.setattr(recast_ml.scan, "ScanStore", store)
    gen = ["--generate", "gluino_direct:1400,1000", "-n", "5", "-o", str(tmp_path / "r")]
    grid = ["--model", "gluino_direct", "--grid", "m_gluino=1400 m_lsp=0", "-n", "5", "-o", str(tmp_path / "s")]
    for args, names in (
        (
            ["run", *gen, "--analysis", "ATLAS-SUSY-2019-04,ATLAS-SUSY-2018-22"],
            ["ATLAS-SUSY-2019-04", "ATLAS-SUSY-2018-22"],
        ),
        (["run", *gen, "--analysis", "all"], available()),
        (
            ["scan", *grid, "--analysis", "ATLAS-SUSY-2019-04,ATLAS-SUSY-2018-22"],
            ["ATLAS-SUSY-2019-04", "ATLAS-SUSY-2018-22"],
        ),
        (["scan", *grid, "--analysis", "all"], available()),
    ):
        expected = len(names)
        seen.append([])
        assert main(args) == 130  # the KeyboardInterrupt above
        assert seen[-1] == names, args
