"""Exports of `recast-ml run` and `recast-ml validate` into other tools' formats (issue 17):

* pyhf: background-only workspaces + RFC 6902 signal patches; references: pyhf itself (schema
  validation, ``pyhf cls --patch``, ``pyhf.infer.hypotest`` on the patched and pruned workspace,
  ``pyhf.simplemodels.uncorrelated_background``) against recast's own CLs in results.json, and the
  analyses' ``pyhf_conf.json`` read independently for the channel names;
* HEPData YAML: every file checked by ``hepdata-validator`` offline (network blocked), contents
  against results.json / summary.json;
* YODA ``HISTO1D_V2``: a hand-computed histogram, the text layout of YODA's writer, the round trip,
  and the validation distributions against numpy's histogram of the per-event values.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import jsonpatch
import numpy as np
import pyhf
import pytest
import yaml

from recast_ml.errors import ConfigError
from recast_ml.export import hepdata, pyhf_patch, yoda
from recast_ml.run import run_job
from recast_ml.statistics import PublishedRegion, region_statistics

REPO = Path(__file__).resolve().parents[1]
ANALYSES = ["ATLAS-SUSY-2018-22", "ATLAS-HIGP-2024-32", "ATLAS-SUSY-2019-04"]

# Agreement of pyhf on the exported workspace with recast's CLs in results.json. recast computes
# the same model (pyhf's uncorrelated-background: shapesys, Poisson auxiliary constraint, qtilde,
# asymptotics) in closed form; what is left is pyhf's numerical minimisation: with its default
# SLSQP tolerance the two differ by < 1e-4 relative at CLs >= 1e-3 (up to ~5e-4 in the deep tail,
# CLs ~ 1e-9); with the minimiser's tolerance at 1e-10 by < 3e-6 everywhere (measured: 2e-6 worst).
REL_DEFAULT = 1e-3  # where CLs >= 1e-3
ABS_DEFAULT = 1e-6  # below
REL_TIGHT = 1e-5


def _hypotest(ws: pyhf.Workspace) -> tuple[float, float]:
    model = ws.model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyhf's RuntimeWarnings in the deep tails
        obs, exp = pyhf.infer.hypotest(1.0, ws.data(model), model, test_stat="qtilde", return_expected=True)
    return float(obs), float(exp)


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "out"
    sample = out.parent / "sample.hepmc3.gz"  # kept: the YODA test re-reads the events
    doc = run_job(ANALYSES, generate="gluino_direct:1400,1000", n_events=200, output=out, write_events=sample)
    return out, doc


def _analysis(doc, aid):
    return next(a for a in doc["analyses"] if a["analysis"]["id"] == aid)


def _workspace_files(out: Path, doc, aid):
    return [w for w in doc["outputs"]["pyhf"] if w["analysis"] == aid]


# ----------------------------------------------------------------------------------------- pyhf
def test_run_lists_and_writes_the_pyhf_files(run_out):
    out, doc = run_out
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["outputs"] == json.loads(json.dumps(doc["outputs"]))
    listed = {w["bkgonly"] for w in doc["outputs"]["pyhf"]} | {w["patch"] for w in doc["outputs"]["pyhf"]}
    assert listed == {f"pyhf/{p.name}" for p in (out / "pyhf").iterdir()}
    for w in doc["outputs"]["pyhf"]:
        bkg = json.loads((out / w["bkgonly"]).read_text())
        patch = json.loads((out / w["patch"]).read_text())
        pyhf.schema.validate(bkg, "workspace.json")
        pyhf.schema.validate(patch, "jsonpatch.json")
        ws = pyhf.Workspace(jsonpatch.apply_patch(bkg, patch))  # validates the patched workspace
        assert sorted(ws.channels) == sorted(w["channels"])
        for ch in ws["channels"]:
            assert [s["name"] for s in ch["samples"]] == ["background", "signal"]
            assert ch["samples"][1]["modifiers"] == [{"name": "mu_SIG", "type": "normfactor", "data": None}]
        assert ws.get_measurement()["config"]["poi"] == "mu_SIG"
        with pytest.raises(pyhf.exceptions.InvalidModel):  # background only: no signal, no POI
            pyhf.Workspace(bkg).model()
        assert pyhf.Workspace(bkg).model(poi_name=None).config.npars >= 1


def test_channels_follow_the_experiment_likelihood_where_mapped(run_out):
    """ATLAS-SUSY-2018-22: one workspace per published likelihood (MB-SSd, MB-C, MB-GGd) with its
    channel names (pyhf_conf.json read here independently); its CRs (no published numbers) left
    out; the other SRs in one workspace named after the analysis, channels = published SR names."""
    out, doc = run_out
    aid = "ATLAS-SUSY-2018-22"
    conf = json.loads((REPO / "analyses" / aid / "pyhf_conf.json").read_text())["analysis"]
    stats = {r["published_name"]: r for r in _analysis(doc, aid)["statistics"]["regions"]}
    files = {w["bkgonly"]: w for w in _workspace_files(out, doc, aid)}
    mapped: set[str] = set()
    for lk in conf:
        w = files.pop(f"pyhf/{aid}_{lk['name']}_bkgonly.json")
        assert w["follows_likelihood"] == lk["bkgonly"]
        want = {ch: sr for ch, sr in lk["SR_dict"].items() if sr in stats}
        assert len(want) >= 18
        assert any("CRQ" in ch for ch in w["channels_left_out"])
        bkg = json.loads((out / w["bkgonly"]).read_text())
        patch = json.loads((out / w["patch"]).read_text())
        patched = jsonpatch.apply_patch(bkg, patch)
        assert [c["name"] for c in patched["channels"]] == list(want)
        obs = {o["name"]: o["data"] for o in patched["observations"]}
        for ch in patched["channels"]:
            r = stats[want[ch["name"]]]
            background, signal = ch["samples"]
            assert background["data"] == [r["b"]]
            assert background["modifiers"] == [
                {"name": f"uncorr_bkguncrt_{ch['name']}", "type": "shapesys", "data": [r["b_err"]]}
            ]
            assert signal["data"] == [r["signal"]]
            assert obs[ch["name"]] == [r["n_obs"]]
        mapped |= set(want.values())
    (rest,) = files.values()
    assert rest["bkgonly"] == f"pyhf/{aid}_bkgonly.json"
    assert "follows_likelihood" not in rest
    assert set(rest["channels"]) == set(stats) - mapped
    assert {"SR-2j-1600", "BDT-GGd4"} <= set(rest["channels"])


def test_multi_bin_channel_of_a_mapped_likelihood(run_out):
    """ATLAS-HIGP-2024-32: the likelihood's channel model_SR has 19 bins (``model_SR[i]``); the
    workspace has that one channel with the published bins in order."""
    out, doc = run_out
    aid = "ATLAS-HIGP-2024-32"
    (w,) = (w for w in _workspace_files(out, doc, aid) if w["bkgonly"].endswith("_nonresDNN_bkgonly.json"))
    bkg = json.loads((out / w["bkgonly"]).read_text())
    (ch,) = bkg["channels"]
    assert ch["name"] == "model_SR"
    stats = {r["published_name"]: r for r in _analysis(doc, aid)["statistics"]["regions"]}
    names = [f"nonresDNN-SR-bin{k:02d}" for k in range(19)]
    assert ch["samples"][0]["data"] == [stats[n]["b"] for n in names]
    assert bkg["observations"][0]["data"] == [stats[n]["n_obs"] for n in names]
    assert w["channels_left_out"] == [
        "model_CR (no published numbers or no yield for bins [" + ", ".join(map(str, range(19))) + "])"
    ]


def test_patched_workspace_reproduces_recast_cls_of_every_single_bin_sr(run_out):
    """The must-show: pyhf.infer.hypotest(1, qtilde) on the patched workspace pruned to one SR
    channel gives recast's CLs_obs and CLs_exp of that SR in results.json."""
    out, doc = run_out
    compared = []
    for w in doc["outputs"]["pyhf"]:
        stats = {r["region"]: r for r in _analysis(doc, w["analysis"])["statistics"]["regions"]}
        ws = pyhf.Workspace(
            jsonpatch.apply_patch(
                json.loads((out / w["bkgonly"]).read_text()), json.loads((out / w["patch"]).read_text())
            )
        )
        for ch, regions in w["channels"].items():
            r = stats[regions[0]]
            if len(regions) != 1 or r["signal"] <= 0:
                continue
            single = ws.prune(channels=[c for c in w["channels"] if c != ch]) if len(w["channels"]) > 1 else ws
            compared.append((r, single))
    sensitive = [r for r, _ in compared if 1e-3 <= r["cls_obs"] <= 0.999]
    assert len(compared) >= 20
    assert len(sensitive) >= 8
    assert any(r["cls_obs"] < 0.05 for r in sensitive)
    assert any(r["cls_obs"] > 0.05 for r in sensitive)
    for r, single in compared:
        obs, exp = _hypotest(single)
        for got, want in ((obs, r["cls_obs"]), (exp, r["cls_exp"])):
            assert got == pytest.approx(want, rel=REL_DEFAULT if want >= 1e-3 else 0, abs=ABS_DEFAULT), r["region"]
    # with pyhf's minimiser converged tightly the difference is gone: pyhf's tolerance was all of it
    try:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
        for r, single in compared[::3]:
            obs, exp = _hypotest(single)
            assert obs == pytest.approx(r["cls_obs"], rel=REL_TIGHT), r["region"]
            assert exp == pytest.approx(r["cls_exp"], rel=REL_TIGHT), r["region"]
    finally:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())


def _records(points: list[tuple[float, float, float, float]]) -> list[dict]:
    """recast's statistics records (region_statistics, native CLs) of hand-picked SRs."""
    published = {f"SR{k}": PublishedRegion(f"SR{k}", n, b, e) for k, (n, b, e, _) in enumerate(points)}
    yields = {f"SR{k}": (s, 0.1 * s) for k, (*_, s) in enumerate(points)}
    return [x.to_dict() for x in region_statistics(yields, published)]


def test_pyhf_cls_command_on_the_written_files(tmp_path):
    """`pyhf cls bkgonly.json --patch patch.json` (pyhf's command line, run as a user would) on a
    one-SR workspace gives recast's CLs over small and large counts."""
    pyhf_cli = Path(sys.executable).with_name("pyhf")
    points = [(0.0, 0.56, 0.27, 3.0), (5.0, 1.7, 0.8, 6.0), (44.0, 43.0, 4.0, 12.0), (2111.0, 2190.0, 130.0, 210.0)]
    for k, rec in enumerate(_records(points)):
        ws = pyhf_patch.Workspace(f"one{k}", {rec["published_name"]: [rec]})
        desc = pyhf_patch.write(ws, tmp_path)
        cmd = [str(pyhf_cli), "cls", str(tmp_path / desc["bkgonly"]), "--patch", str(tmp_path / desc["patch"])]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, res.stderr
        got = json.loads(res.stdout)
        assert 0.001 < rec["cls_obs"] < 0.999
        assert got["CLs_obs"] == pytest.approx(rec["cls_obs"], rel=REL_DEFAULT), points[k]
        assert got["CLs_exp"][2] == pytest.approx(rec["cls_exp"], rel=REL_DEFAULT), points[k]  # the median


def test_workspace_equals_pyhf_simplemodel_for_several_bins():
    """A 3-bin channel is pyhf's uncorrelated_background model with the same bins: the same
    parameters, auxiliary data and CLs."""
    recs = _records([(3.0, 2.0, 0.8, 2.5), (10.0, 12.0, 3.0, 4.0), (1.0, 0.4, 0.2, 1.5)])
    ws = pyhf_patch.Workspace("three", {"model_SR": recs})
    spec = jsonpatch.apply_patch(ws.bkgonly(), ws.patch())
    mine = pyhf.Workspace(spec)
    ref = pyhf.simplemodels.uncorrelated_background(
        signal=[r["signal"] for r in recs], bkg=[r["b"] for r in recs], bkg_uncertainty=[r["b_err"] for r in recs]
    )
    model = mine.model()
    assert model.config.auxdata == pytest.approx(ref.config.auxdata)
    want = pyhf.infer.hypotest(
        1.0, [r["n_obs"] for r in recs] + ref.config.auxdata, ref, test_stat="qtilde", return_expected=True
    )
    assert _hypotest(mine) == pytest.approx([float(x) for x in want], rel=1e-6)


def test_the_agreement_check_can_fail():
    """A patch with a 2 % larger signal is outside the tolerance of the agreement test."""
    (rec,) = _records([(44.0, 43.0, 4.0, 12.0)])
    ws = pyhf_patch.Workspace("one", {"SR0": [{**rec, "signal": 1.02 * rec["signal"]}]})
    obs, exp = _hypotest(pyhf.Workspace(jsonpatch.apply_patch(ws.bkgonly(), ws.patch())))
    assert obs != pytest.approx(rec["cls_obs"], rel=REL_DEFAULT)
    assert exp != pytest.approx(rec["cls_exp"], rel=REL_DEFAULT)


def test_bad_likelihood_map_is_a_config_error(tmp_path):
    bad = tmp_path / "pyhf_conf.json"
    bad.write_text('{"analysis": [{"name": "x"}]}')
    with pytest.raises(ConfigError, match=r"pyhf_conf\.json.*SR_dict"):
        pyhf_patch.read_likelihood_map(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"pyhf_conf\.json"):
        pyhf_patch.read_likelihood_map(bad)


def test_failed_export_leaves_no_partial_output_and_a_rerun_replaces_folders(tmp_path, monkeypatch):
    import recast_ml.export.outputs as outputs

    out = tmp_path / "out"
    run_job(["ATLAS-SUSY-2018-22"], generate="gluino_direct:1400,1000", n_events=30, output=out)
    first = sorted(p.name for p in (out / "pyhf").iterdir())
    assert "ATLAS-SUSY-2018-22_MB-SSd_patch.json" in first
    # a second run of another analysis into the same folder: only its files remain
    run_job(["ATLAS-SUSY-2019-04"], generate="gluino_direct:1400,1000", n_events=30, output=out)
    assert sorted(p.name for p in (out / "pyhf").iterdir()) == [
        "ATLAS-SUSY-2019-04_bkgonly.json",
        "ATLAS-SUSY-2019-04_patch.json",
    ]
    assert all(p.name.startswith("ATLAS-SUSY-2019-04") for p in (out / "hepdata").glob("*_*.yaml"))

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs.hepdata, "write_submission", boom)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="disk full"):
        run_job(["ATLAS-SUSY-2019-04"], generate="gluino_direct:1400,1000", n_events=30, output=fresh)
    assert not fresh.exists() or not any(fresh.iterdir())
    assert not list(tmp_path.glob(".recast_run_*"))


# -------------------------------------------------------------------------------------- HEPData
_VALIDATE = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access in an offline check")
socket.socket.connect = refuse
socket.create_connection = refuse
from hepdata_validator.full_submission_validator import FullSubmissionValidator, SchemaType
v = FullSubmissionValidator(autoload_remote_schemas=False)
ok = v.validate(directory=sys.argv[1])
print(json.dumps({
    "ok": ok,
    "messages": {f: [m.message for m in ms] for f, ms in v.get_messages().items() if ms},
    "data": v.valid_files.get(SchemaType.DATA, []),
}))
"""


def _hepdata_validate(folder: Path) -> dict:
    """hepdata-validator's offline check of a submission folder (its bundled schemas, no remote
    schema loading, sockets refused), in a subprocess: the validator leaves files open and uses
    jsonschema's deprecated API, which this test session turns into errors."""
    cmd = [sys.executable, "-W", "ignore", "-c", _VALIDATE, str(folder)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(res.stdout)


def _validate_hepdata(folder: Path) -> None:
    res = _hepdata_validate(folder)
    assert res["ok"], res["messages"]
    data_files = {p.name for p in folder.glob("*.yaml")} - {"submission.yaml"}
    assert {Path(f).name for f in res["data"]} == data_files


def test_run_hepdata_tables_are_valid_and_carry_the_results(run_out):
    out, doc = run_out
    _validate_hepdata(out / "hepdata")
    listed = {t["file"] for t in doc["outputs"]["hepdata"]["tables"]}
    assert listed == {f"hepdata/{p.name}" for p in (out / "hepdata").glob("*.yaml")} - {"hepdata/submission.yaml"}
    subs = list(yaml.safe_load_all((out / "hepdata" / "submission.yaml").read_text()))
    assert [s["data_file"] for s in subs[1:]] == [Path(t["file"]).name for t in doc["outputs"]["hepdata"]["tables"]]
    aid = "ATLAS-SUSY-2018-22"
    stats = _analysis(doc, aid)["statistics"]["regions"]
    table = yaml.safe_load((out / "hepdata" / f"{aid}_signal_regions.yaml").read_text())
    assert [v["value"] for v in table["independent_variables"][0]["values"]] == [r["region"] for r in stats]
    dep = {d["header"]["name"]: d for d in table["dependent_variables"]}
    assert [v["value"] for v in dep["CLs observed"]["values"]] == [r["cls_obs"] for r in stats]
    assert [v["value"] for v in dep["CLs expected"]["values"]] == [r["cls_exp"] for r in stats]
    assert [v["value"] for v in dep["Observed (published)"]["values"]] == [r["n_obs"] for r in stats]
    for v, r in zip(dep["Signal"]["values"], stats, strict=True):
        assert v["value"] == r["signal"]
        assert v.get("errors", [{"symerror": 0.0}])[0]["symerror"] == r["signal_error"]
    for v, r in zip(dep["Background (published)"]["values"], stats, strict=True):
        assert v["errors"] == [{"symerror": r["b_err"], "label": "total"}]
    r_obs = [v["value"] for v in dep["r observed"]["values"]]
    assert r_obs == [hepdata.MISSING if r["r_obs"] is None else r["r_obs"] for r in stats]
    quals = {q["name"]: q for q in dep["Signal"]["qualifiers"]}
    assert quals["SQRT(S)"] == {"name": "SQRT(S)", "value": 13000.0, "units": "GeV"}
    assert quals["Signal cross section"]["value"] == pytest.approx(doc["input"]["cross_section_pb"])
    # a cutflow table: the steps and MC counts of the region
    reg = _analysis(doc, aid)["regions"][3]
    cf = yaml.safe_load((out / "hepdata" / f"{aid}_cutflow_{reg['name']}.yaml").read_text())
    assert [v["value"] for v in cf["independent_variables"][0]["values"]] == [s["name"] for s in reg["cutflow"]]
    assert [v["value"] for v in cf["dependent_variables"][0]["values"]] == [s["n"] for s in reg["cutflow"]]


def test_hepdata_validator_catches_a_bad_table(tmp_path):
    """The validator as reference discriminates: an all-zero error (which the writer leaves out,
    see hepdata.variable) makes a submission invalid."""
    t = hepdata.Table(
        "t", "d", [hepdata.variable("x", [1.0, 2.0])], [hepdata.variable("y", [3.0, 4.0], errors=[0, 0.5])]
    )
    hepdata.write_submission(tmp_path / "good", [t], "c")
    assert (
        "errors"
        not in yaml.safe_load((tmp_path / "good" / "t.yaml").read_text())["dependent_variables"][0]["values"][0]
    )
    _validate_hepdata(tmp_path / "good")
    bad = tmp_path / "good" / "t.yaml"
    data = yaml.safe_load(bad.read_text())
    data["dependent_variables"][0]["values"][0]["errors"] = [{"symerror": 0.0, "label": "stat"}]
    bad.write_text(yaml.safe_dump(data))
    res = _hepdata_validate(tmp_path / "good")
    assert not res["ok"]
    assert any("should not all be zero" in m for m in res["messages"][str(bad)])


def test_long_and_repeated_table_names_are_made_valid(tmp_path):
    long = "x" * 80
    tables = [
        hepdata.Table(n, "d", [hepdata.variable("a", ["p"])], [hepdata.variable("b", [1.0])])
        for n in (long, long, "s", "s")
    ]
    desc = hepdata.write_submission(tmp_path / "h", tables, "c")
    names = [t["name"] for t in desc["tables"]]
    assert len(set(names)) == 4
    assert all(len(n) <= hepdata.MAX_NAME for n in names)
    assert len({t["file"] for t in desc["tables"]}) == 4
    _validate_hepdata(tmp_path / "h")


# ----------------------------------------------------------------------------------------- YODA
def _hand_text() -> str:
    """YODA's writer layout (WriterYODA, HISTO1D_V2) with the hand-computed moments of
    test_yoda_histogram_by_hand, numbers in C++ scientific format, 10 digits (bin edges 17)."""

    def row(*xs: float) -> str:
        return "\t".join(f"{x:.10e}" for x in xs)

    def bin_row(low: float, high: float, *xs: float) -> str:  # edges with 17 significant digits
        return "\t".join([f"{low:.16e}", f"{high:.16e}", row(*xs)])

    return "\n".join(
        [
            "BEGIN YODA_HISTO1D_V2 /T/h",
            "Path: /T/h",
            "Title: hand",
            "Type: Histo1D",
            "XLabel: x [GeV]",
            "YLabel: events",
            "---",
            f"# Mean: {0.65:.10e}",  # 3.25 / 5, all entries
            f"# Area: {5.0:.10e}",
            "# ID\t ID\t sumw\t sumw2\t sumwx\t sumwx2\t numEntries",
            "Total   \tTotal   \t" + row(5.0, 6.5, 3.25, 9.375, 6),
            "Underflow\tUnderflow\t" + row(1.0, 1.0, -1.0, 1.0, 1),
            "Overflow\tOverflow\t" + row(0.0, 0.0, 0.0, 0.0, 1),
            "# xlow\t xhigh\t sumw\t sumw2\t sumwx\t sumwx2\t numEntries",
            bin_row(0, 1, 3.0, 5.0, 1.5, 0.75, 2),
            bin_row(1, 2, 0, 0, 0, 0, 0),
            bin_row(2, 4, 1.0, 0.5, 2.75, 7.625, 2),
            "END YODA_HISTO1D_V2",
            "",
            "",
        ]
    )


def test_yoda_histogram_by_hand(tmp_path):
    """Values -1 (underflow), 0.5 (w 2), 0.5 (w 1), 2.5 and 3.0 (w 0.5 each; [2, 4) is one bin),
    NaN (not filled) and 4.0 (w 0; the last edge is overflow): per bin sumw, sumw2, sumwx, sumwx2,
    numEntries computed by hand, written in YODA's layout, read back."""
    values = [-1.0, 0.5, 0.5, 2.5, 3.0, math.nan, 4.0]
    weights = [1.0, 2.0, 1.0, 0.5, 0.5, 7.0, 0.0]
    h = yoda.Histo1D.fill("/T/h", [0, 1, 2, 4], values, weights, title="hand", xlabel="x [GeV]", ylabel="events")
    np.testing.assert_array_equal(h.underflow, [1.0, 1.0, -1.0, 1.0, 1])
    np.testing.assert_array_equal(h.bins, [[3.0, 5.0, 1.5, 0.75, 2], [0, 0, 0, 0, 0], [1.0, 0.5, 2.75, 7.625, 2]])
    np.testing.assert_array_equal(h.overflow, [0.0, 0.0, 0.0, 0.0, 1])
    np.testing.assert_array_equal(h.total, [5.0, 6.5, 3.25, 9.375, 6])
    assert h.to_text() == _hand_text()
    path = yoda.write(tmp_path / "h.yoda", [h, h])
    back = yoda.read(path)
    assert len(back) == 2
    for b in back:
        assert b.path == "/T/h"
        np.testing.assert_array_equal(b.edges, [0, 1, 2, 4])
        np.testing.assert_array_equal(b.bins, h.bins)
        np.testing.assert_array_equal(b.underflow, h.underflow)
        np.testing.assert_array_equal(b.overflow, h.overflow)
        assert b.annotations == {"Title": "hand", "XLabel": "x [GeV]", "YLabel": "events"}
        assert b.to_text() == h.to_text()


def test_yoda_reader_errors(tmp_path):
    text = _hand_text()
    p = tmp_path / "bad.yoda"
    p.write_text(text.replace("END YODA_HISTO1D_V2\n", ""))
    with pytest.raises(ConfigError, match=r"bad\.yoda: line 1: no END"):
        yoda.read(p)
    p.write_text(text.replace("Total   \tTotal   \t5.0", "Total   \tTotal   \t9.0"))
    with pytest.raises(ConfigError, match="Total line"):
        yoda.read(p)
    p.write_text(text.replace(f"{1:.16e}\t{2:.16e}", f"{1.5:.16e}\t{2:.16e}"))
    with pytest.raises(ConfigError, match=r"line 16: bin starts at 1.5"):
        yoda.read(p)
    with pytest.raises(ConfigError, match="edges"):
        yoda.Histo1D.fill("/x", [1.0, 1.0], [])


def test_validate_writes_hepdata_comparisons_and_yoda_distributions(tmp_path):
    from recast_ml.validate import validate

    out = tmp_path / "val"
    report = validate("ATLAS-SUSY-2018-22", events=150, benchmarks=["gluino_2200_600"], variations=False, output=out)
    summary = json.loads((out / "summary.json").read_text())
    exports = summary["exports"]
    assert exports["hepdata"]["submission"] == "hepdata/submission.yaml"
    _validate_hepdata(out / "hepdata")
    table = yaml.safe_load((out / "hepdata" / "ATLAS-SUSY-2018-22_validation_cutflow_gluino_2200_600.yaml").read_text())
    cs = [c for c in summary["comparisons"] if c["kind"] == "cutflow"]
    assert [v["value"] for v in table["independent_variables"][0]["values"]] == [
        f"{c['region']}: {c['step']}" for c in cs
    ]
    dep = {d["header"]["name"]: d for d in table["dependent_variables"]}
    assert [v["value"] for v in dep["Published"]["values"]] == [c["published"] for c in cs]
    assert [v["value"] for v in dep["recast_ml"]["values"]] == [c["ours"] for c in cs]
    assert [v["value"] for v in dep["Status"]["values"]] == [c["status"] for c in cs]
    # the cutflows that validation.yaml tabulates (cutflow_tables:), per benchmark
    from recast_ml.export.outputs import write_validation_exports

    report.cutflow_tables = ["SR4j-1000"]
    again = write_validation_exports(report, tmp_path / "again", [])
    assert [t["name"] for t in again["hepdata"]["tables"]][-1] == "ATLAS-SUSY-2018-22 cutflow SR4j-1000 gluino_2200_600"
    _validate_hepdata(tmp_path / "again" / "hepdata")
    cf = yaml.safe_load((tmp_path / "again" / again["hepdata"]["tables"][-1]["file"]).read_text())
    steps = report.results["gluino_2200_600"].cutflow("SR4j-1000")
    assert [v["value"] for v in cf["dependent_variables"][0]["values"]] == [int(n) for n in steps.n]
    assert "yoda" not in again
    # the YODA histograms of the distributions: numpy's histogram of the per-event values
    from recast_ml.export.outputs import distribution_histograms

    histos = {h.path: h for h in distribution_histograms(report, ["meff", "ap", "met_sig", "bdt_GGd1", "bdt_GGd4"])}
    on_disk = {h.path: h for h in yoda.read(out / exports["yoda"]["file"])}
    assert (
        set(on_disk)
        == set(histos)
        == {f"/ATLAS-SUSY-2018-22/gluino_2200_600/{v}" for v in ("meff", "ap", "met_sig", "bdt_GGd1", "bdt_GGd4")}
    )
    assert exports["yoda"]["histograms"] == list(on_disk)
    res = report.results["gluino_2200_600"]
    for var in ("meff", "bdt_GGd4"):
        path = f"/ATLAS-SUSY-2018-22/gluino_2200_600/{var}"
        h = histos[path]
        v = res.variable(var)
        v = v[np.isfinite(v)]
        assert len(v) > 50
        counts, _ = np.histogram(v, bins=h.edges)
        sumx, _ = np.histogram(v, bins=h.edges, weights=v)
        sumx2, _ = np.histogram(v, bins=h.edges, weights=v * v)
        np.testing.assert_array_equal(h.bins[:, 4], counts)
        np.testing.assert_array_equal(h.bins[:, 0], counts)
        np.testing.assert_array_equal(h.bins[:, 1], counts)  # unit weights
        np.testing.assert_allclose(h.bins[:, 2], sumx, rtol=1e-12)
        np.testing.assert_allclose(h.bins[:, 3], sumx2, rtol=1e-12)
        assert h.underflow[4] == h.overflow[4] == 0  # the edges cover every value
        assert h.edges[0] == v.min()
        assert h.edges[-1] > v.max()
        np.testing.assert_allclose(on_disk[path].edges, h.edges, rtol=1e-9)
        np.testing.assert_allclose(on_disk[path].bins, h.bins, rtol=1e-9)


def test_every_region_gets_a_channel_even_with_a_shared_published_name(tmp_path):
    recs = _records([(3.0, 2.0, 0.8, 2.5), (10.0, 12.0, 3.0, 4.0)])
    recs[1] = {**recs[1], "published_name": recs[0]["published_name"]}
    (ws,) = pyhf_patch.workspaces("X", recs, tmp_path)  # no pyhf_conf.json there
    assert ws.regions() == {"SR0": ["SR0"], "SR1": ["SR1"]}
    assert ws.likelihood is None


def test_empty_yoda_histogram_round_trips(tmp_path):
    h = yoda.Histo1D.fill("/T/empty", [0.0, 0.5, 1.0], [math.nan], title="two\nlines")
    text = h.to_text()
    assert "# Mean" not in text  # undefined: YODA writes neither Mean nor Area
    assert "# Area" not in text
    assert "Title: twolines\n" in text
    (back,) = yoda.read(yoda.write(tmp_path / "e.yoda", [h]))
    assert not back.bins.any()
    assert not back.total.any()


def test_run_writes_the_report_distributions_as_yoda(run_out):
    """distributions.yoda of a run = numpy's histogram of the variables of the same events (read
    again from the written sample, analysed alone) on the file's bins, in events at L."""
    from recast_ml.analysis import Analysis, load_yaml, run_files

    out, doc = run_out
    histos = {h.path: h for h in yoda.read(out / "distributions.yoda")}
    assert doc["outputs"]["yoda"] == {"file": "distributions.yoda", "histograms": list(histos)}
    aid = "ATLAS-SUSY-2018-22"
    wanted = load_yaml(REPO / "analyses" / aid / "validation.yaml")["distributions"]
    ana = Analysis.load(aid)
    xs = doc["input"]["cross_section_pb"]
    (res,) = run_files([ana], [out.parent / "sample.hepmc3.gz"], cross_section=xs)
    lumi = _analysis(doc, aid)["sample"]["luminosity_fb"]
    per_event = xs * 1000.0 * lumi / 200  # events at L per MC event (unit weights)
    checked = 0
    for var in wanted:
        h = histos[f"/{aid}/{var}"]
        v = res.variable(var)
        v = v[np.isfinite(v)]
        assert len(v) > 0
        assert h.edges[0] <= v.min()  # nothing in the underflow
        assert v.max() < h.edges[-1]  # nor in the overflow
        counts, _ = np.histogram(v, bins=h.edges)
        np.testing.assert_array_equal(h.bins[:, 4], counts)
        np.testing.assert_allclose(h.bins[:, 0], counts * per_event, rtol=1e-12)
        assert h.underflow[4] == h.overflow[4] == 0
        assert "events at 139 fb^-1" in h.annotations["YLabel"]
        checked += 1
    assert checked == len(wanted) >= 3
    assert "distributions.yoda" in (out / "report.html").read_text()


def test_a_step_without_mc_events_exports_its_upper_error(tmp_path):
    """A validation step with no MC event (error 0 both ways before) carries its one-sided upper
    MC error as an asymmetric error (+up, -0); the others keep their symmetric error; the
    submission passes hepdata-validator."""
    comparisons = [
        {"kind": "cutflow", "benchmark": "b1", "region": "SR", "step": "all", "published": 1.0, "ours": 1.0,
         "ours_error": 0.0, "ratio": 1.0, "ratio_error": 0.0, "tolerance": 0.15, "status": "passed"},
        {"kind": "cutflow", "benchmark": "b1", "region": "SR", "step": "cut", "published": 2e-4, "ours": 0.0,
         "ours_error": 0.0, "ours_error_up": 1.5e-4, "ratio": 0.0, "ratio_error": 0.0, "ratio_error_up": 0.75,
         "tolerance": 0.15, "status": "mc-limited"},
        {"kind": "cutflow", "benchmark": "b1", "region": "SR", "step": "cut2", "published": 0.5, "ours": 0.45,
         "ours_error": 0.02, "ratio": 0.9, "ratio_error": 0.04, "tolerance": 0.15, "status": "passed"},
    ]  # fmt: skip
    tables = hepdata.validation_tables("TOY-1", comparisons, {"b1": {}})
    hepdata.write_submission(tmp_path / "hd", tables, "toy")
    (table,) = tables
    ours, ratio = table.data()["dependent_variables"][1:3]
    assert ours["values"][1]["errors"] == [{"asymerror": {"plus": 1.5e-4, "minus": -0.0}, "label": "MC stat"}]
    assert ratio["values"][1]["errors"] == [{"asymerror": {"plus": 0.75, "minus": -0.0}, "label": "MC stat"}]
    assert ours["values"][2]["errors"] == [{"symerror": 0.02, "label": "MC stat"}]
    assert "errors" not in ours["values"][0]
    # written as 0.0, not -0.0 (equal in Python, not in the file a reader sees)
    assert math.copysign(1.0, ours["values"][1]["errors"][0]["asymerror"]["minus"]) == 1.0
    text = "".join(p.read_text() for p in (tmp_path / "hd").glob("*.yaml"))
    assert "minus: 0.0" in text
    assert "-0.0" not in text
    _validate_hepdata(tmp_path / "hd")


def test_the_run_document_and_summary_give_the_overall_verdict(run_out):
    """With several analyses, results.json's `verdict` names the analysis and SR that decide (the
    largest expected r among the analyses' best expected SRs, worked out here from the per-SR
    numbers), as the report's headline does, and `recast-ml run`'s text ends with it."""
    import jsonschema

    from recast_ml.report import verdict_text
    from recast_ml.run import format_summary

    out, doc = run_out
    bests = [(a["analysis"]["id"], a["statistics"]["best"]) for a in doc["analyses"] if a["statistics"].get("best")]
    assert len(bests) >= 2
    n = len(doc["analyses"])
    aid, best = max(bests, key=lambda x: x[1]["r_exp"])
    st = next(a for a in doc["analyses"] if a["analysis"]["id"] == aid)["statistics"]
    excluded = st.get("excluded_at_95cl", best["cls_obs"] < 0.05)
    v = doc["verdict"]
    assert v == {
        "text": "EXCLUDED at 95 % CL" if excluded else "NOT EXCLUDED at 95 % CL",
        "analysis": aid,
        "region": best["region"],
        "low_mc_statistics": best["low_mc_statistics"],
        "analyses": n,
        **({"reliable": v.get("reliable")} if best["low_mc_statistics"] else {}),
    }
    assert v["text"] == verdict_text(doc)
    saved = json.loads((out / "results.json").read_text())
    assert saved["verdict"] == v
    import recast_ml

    schema_dir = Path(recast_ml.__file__).parent / "schemas"
    schemas = [json.loads(p.read_text()) for p in schema_dir.glob("*.schema.json")]
    registry = {s["$id"]: s for s in schemas if "$id" in s}
    run_schema = json.loads((schema_dir / "run.schema.json").read_text())
    bad = {**saved, "verdict": {**v, "analysis": 3}}
    from referencing import Registry, Resource

    reg = Registry().with_resources([(k, Resource.from_contents(s)) for k, s in registry.items()])
    jsonschema.Draft202012Validator(run_schema, registry=reg).validate(saved)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(run_schema, registry=reg).validate(bad)
    lines = format_summary(doc).splitlines()
    if best["low_mc_statistics"]:  # then a cross-check line follows
        assert lines.pop().startswith("cross-check: ")
    assert lines[-2] == f"=== all {n} analyses: {v['text']}"
    assert lines[-1].startswith(f"decided by {aid} {best['region']}")
