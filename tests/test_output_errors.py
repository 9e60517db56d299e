"""Output paths and damaged inputs met by a new user: nothing half-written, one typed line naming
the user's path and the reason (exit status 2), never an internal error or an internal temp path.

1. ``definition resolve`` of a definition with an error writes nothing (and keeps a good earlier one);
2. damaged / fake gzip model files, plain content named ``.gz``, the format ``models convert``
   prints, the file lines ``models check`` names;
3. ``-o`` that is a file or not writable (checked before the event loop), ``models convert`` into a
   file's "folder", an unknown ``--detector``;
4. ``events summary``: no cross section in the file, a missing file.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile

import numpy as np
import pytest

from recast_ml import ConfigError
from recast_ml._data import analyses_dir
from recast_ml.cli import main

SUSY1904 = "ATLAS-SUSY-2019-04"
BDT = "ATLAS-SUSY-2018-22/models/ZeroLepton2018-SRBDT-GGd1_weight1.xml.gz"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("recast-ml: error: "), err
    assert "Traceback" not in err
    assert "Errno" not in err
    return err[len("recast-ml: error: ") :].rstrip("\n")


# ------------------------------------------------------------------------------------------------
# 1. definition resolve: nothing written on error
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def broken_definition(tmp_path):
    """A copy of ATLAS-SUSY-2019-04 with one model output misspelled (NN.score -> NN.scor)."""
    ana = tmp_path / "myana"
    shutil.copytree(analyses_dir() / SUSY1904, ana)
    yaml = ana / "analysis.yaml"
    text = yaml.read_text()
    assert "NN.score" in text
    yaml.write_text(text.replace("NN.score", "NN.scor", 1))
    return ana


def test_resolve_with_an_error_writes_nothing(tmp_path, capsys, broken_definition, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["definition", "resolve", str(broken_definition), "-o", "res_bad"]) == 2
    assert "'NN' has no field 'scor'" in _one_error_line(capsys)
    assert not (tmp_path / "res_bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myana"]  # no temporary folder left


def test_failed_resolve_keeps_the_good_folder(tmp_path, capsys, broken_definition):
    good = tmp_path / "res"
    assert main(["definition", "resolve", str(analyses_dir() / SUSY1904), "-o", str(good)]) == 0
    capsys.readouterr()
    before = {p.relative_to(good): p.read_bytes() for p in good.rglob("*") if p.is_file()}
    assert (good / "definition.json").is_file()
    assert len(before) > 1
    assert main(["definition", "resolve", str(broken_definition), "-o", str(good)]) == 2
    _one_error_line(capsys)
    after = {p.relative_to(good): p.read_bytes() for p in good.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myana", "res"]


def test_resolve_into_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["definition", "resolve", SUSY1904, "-o", str(afile)]) == 2
    assert _one_error_line(capsys) == f"-o {afile}: exists and is not a folder"
    assert afile.read_text() == "x"


# ------------------------------------------------------------------------------------------------
# 2. gzip model files
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def bdt_gz(tmp_path):
    path = tmp_path / "bdt_weights.xml.gz"
    shutil.copy(analyses_dir() / BDT, path)
    return path


def test_damaged_gzip_model_is_a_config_error(tmp_path, capsys, bdt_gz):
    from recast_ml.analysis import read_model_file

    trunc = tmp_path / "trunc_bdt.xml.gz"
    trunc.write_bytes(bdt_gz.read_bytes()[:3000])
    fake = tmp_path / "fakegz.xml.gz"
    fake.write_bytes(b"\x1f\x8b" + b"not gzip data at all")
    for cmd in (["models", "inspect", str(trunc)], ["models", "convert", str(trunc), str(tmp_path / "t.onnx")]):
        assert main(cmd) == 2
        msg = _one_error_line(capsys)
        assert msg.startswith(f"{trunc}: damaged gzip file (truncated or corrupt): ")
        assert "end-of-stream" in msg
    assert not (tmp_path / "t.onnx").exists()
    assert main(["models", "inspect", str(fake)]) == 2
    assert _one_error_line(capsys).startswith(f"{fake}: damaged gzip file")
    for path in (trunc, fake):
        with pytest.raises(ConfigError, match="damaged gzip file"):
            read_model_file(path)


def test_gzip_is_detected_by_content_not_suffix(tmp_path, capsys, bdt_gz):
    """Plain XML named .xml.gz is read as it is; a gzip file named .xml is decompressed: the same
    model either way, in `models inspect` and in the loader of model cards."""
    from recast_ml.analysis import read_model_file

    xml = gzip.decompress(bdt_gz.read_bytes())
    plain_gz = tmp_path / "plain.xml.gz"
    plain_gz.write_bytes(xml)
    gz_xml = tmp_path / "packed.xml"
    gz_xml.write_bytes(bdt_gz.read_bytes())
    assert read_model_file(plain_gz) == xml
    assert read_model_file(gz_xml) == xml
    from recast_ml.analysis import load_model

    digest = hashlib.sha256(xml).hexdigest()  # a model card's checksum is of the content
    assert load_model(plain_gz, digest) == load_model(gz_xml, digest) == load_model(bdt_gz, digest)
    for path in (plain_gz, gz_xml, bdt_gz):
        assert main(["models", "inspect", str(path), "--json"]) == 0
        assert '"format": "TMVA XML"' in capsys.readouterr().out
    assert main(["models", "convert", str(plain_gz), str(tmp_path / "a.onnx")]) == 0
    assert main(["models", "convert", str(gz_xml), str(tmp_path / "b.onnx")]) == 0
    capsys.readouterr()
    import onnx

    a, b = (onnx.load(tmp_path / name) for name in ("a.onnx", "b.onnx"))  # the metadata names the source
    assert len(a.graph.node) > 0
    assert list(a.graph.node) == list(b.graph.node)


def test_models_convert_prints_the_model_format(tmp_path, capsys, bdt_gz):
    assert main(["models", "convert", str(bdt_gz), str(tmp_path / "bdt.onnx")]) == 0
    assert capsys.readouterr().out == f"{bdt_gz} (TMVA XML) -> {tmp_path / 'bdt.onnx'}\n"


def test_models_check_names_file_lines(tmp_path, capsys):
    """Comment lines count: the deviation is reported at the line of the --expected file (and of
    the features file) where the wrong value is."""
    from recast_ml.models import check_model, describe

    card = "ATLAS-SUSY-2018-22:GGd1"
    names = [i["name"] for i in describe(card)["card_inputs"]]
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 500, size=(6, len(names)))
    features = tmp_path / "features.csv"
    lines = ["# raw inputs", ",".join([*names, "event_number"])]
    lines += [",".join([*(repr(float(v)) for v in row), str(k)]) for k, row in enumerate(x)]
    lines.insert(4, "# a comment between rows")  # rows 0, 1 on lines 3, 4; row 2 on line 6
    features.write_text("\n".join(lines) + "\n")
    score = check_model(card, features).values["score"]
    expected = tmp_path / "expected.csv"
    wrong = [float(v) + (0.5 if k == 2 else 0.0) for k, v in enumerate(score)]
    expected.write_text("# the scores\n# of the reference\nscore\n" + "\n".join(repr(v) for v in wrong) + "\n")
    # row 2 on line 6 of the expected values (3 header/comment lines, rows from line 4)
    assert main(["models", "check", card, "--features", str(features), "--expected", str(expected)]) == 1
    out = capsys.readouterr().out
    assert f"(line 6 of {expected}; features: line 6 of {features})" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("# c\nscore\n1.0\nx\n")
    with pytest.raises(ConfigError, match=r"line 4, column 'score': 'x' is not a number"):
        check_model(card, features, bad)


# ------------------------------------------------------------------------------------------------
# 3. output paths, detector cards
# ------------------------------------------------------------------------------------------------
RUN = ["run", "--analysis", SUSY1904, "--cross-section", "1pb", "--no-progress"]


@pytest.fixture
def no_event_loop(monkeypatch):
    """The event loop must not start: a bad -o fails before the events are read."""
    import recast_ml.run

    def refuse(*args, **kwargs):
        raise AssertionError("the events were read before the output folder was checked")

    monkeypatch.setattr(recast_ml.run, "_run_events", refuse)


def test_run_output_is_a_file(tmp_path, capsys, hepmc_files, no_event_loop):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*RUN, "--events", str(hepmc_files["hepmc3"]), "-o", str(afile)]) == 2
    assert _one_error_line(capsys) == f"-o {afile}: exists and is not a folder"
    assert main([*RUN, "--events", str(hepmc_files["hepmc3"]), "-o", str(afile / "sub")]) == 2
    assert _one_error_line(capsys) == f"-o {afile / 'sub'}: {afile} is a file, not a folder"
    assert afile.read_text() == "x"


def test_run_output_not_writable(tmp_path, capsys, hepmc_files, monkeypatch, no_event_loop):
    """A read-only folder (simulated: root may write anywhere): the user's -o path and the reason,
    before the event loop; no internal temporary path."""
    ro = tmp_path / "ro2"
    ro.mkdir()
    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        folder = kwargs.get("dir", args[2] if len(args) > 2 else None)
        if folder is not None and str(folder).startswith(str(ro)):
            raise PermissionError(13, "Permission denied", str(folder) + "/.recast_x")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    for out in (ro, ro / "out"):
        assert main([*RUN, "--events", str(hepmc_files["hepmc3"]), "-o", str(out)]) == 2
        msg = _one_error_line(capsys)
        assert msg == f"-o {out}: cannot write there (permission denied)"
    assert list(ro.iterdir()) == []


def test_models_convert_into_a_file(tmp_path, capsys, bdt_gz):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["models", "convert", str(bdt_gz), str(afile / "x.onnx")]) == 2
    assert _one_error_line(capsys) == f"cannot write {afile / 'x.onnx'}: {afile} is a file, not a folder"


def test_unknown_detector_card_lists_the_bundled_ones(tmp_path, capsys, hepmc_files):
    from recast_ml.cards import DetectorCard

    assert main([*RUN, "--events", str(hepmc_files["hepmc3"]), "--detector", "cms_run3", "-o", str(tmp_path)]) == 2
    msg = _one_error_line(capsys)
    assert msg.startswith("detector card cms_run3: no such file, and no bundled card of that name (bundled: ")
    assert "atlas_run2" in msg
    assert "cms_run2" in msg
    with pytest.raises(FileNotFoundError, match="bundled: atlas_run2, cms_run2"):
        DetectorCard.load("cms_run3")


# ------------------------------------------------------------------------------------------------
# 4. events summary
# ------------------------------------------------------------------------------------------------
HEPMC3_NO_XSEC = """HepMC::Version 3.02.06
HepMC::Asciiv3-START_EVENT_LISTING
E 0 1 2
U GEV MM
P 1 0 2212 0.0 0.0 6500.0 6500.0 0.938 4
P 2 1 11 1.0 2.0 3.0 3.8 0.000511 1
HepMC::Asciiv3-END_EVENT_LISTING
"""


def test_events_summary_without_cross_section(tmp_path, capsys):
    nox = tmp_path / "noxsec.hepmc3"
    nox.write_text(HEPMC3_NO_XSEC)
    empty = tmp_path / "empty.hepmc3"  # a listing without events
    empty.write_text("HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\nHepMC::Asciiv3-END_EVENT_LISTING\n")
    for path, n in ((nox, 1), (empty, 0)):
        assert main(["events", "summary", str(path)]) == 0
        out = capsys.readouterr().out
        assert f"events:          {n}\n" in out
        assert "nan" not in out
        assert "cross section:   none in the file; recast-ml run needs --cross-section\n" in out


def test_events_summary_of_a_missing_file(tmp_path, capsys):
    missing = tmp_path / "nothere.lhe"
    assert main(["events", "summary", str(missing)]) == 2
    assert _one_error_line(capsys) == f"{missing}: no such file"
    assert main(["run", *RUN[1:], "--events", str(missing), "-o", str(tmp_path / "o")]) == 2
    assert _one_error_line(capsys) == f"--events {missing}: no such file"  # the same words
