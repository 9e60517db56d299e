"""Scans with generator variations (`recast-ml scan --variations`, `run_scan(variations=)`): the
``point_variations`` table (sane values, checked against pyhf), the meta (resuming with other
variations refused; an old store without the table opens and resumes), the cost (weight members
generate no extra events, a sample member one more sample) and the contours (synthetic plane with
known lines; the real scan's contour files, report column and plot legend)."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from recast_ml import scan
from recast_ml._core import ConfigError
from recast_ml.variations import resolve

ANALYSIS = "ATLAS-SUSY-2018-22"  # gluino pairs: CLs from ~1e-9 (1800 GeV) to ~0.5 (2600 GeV) at 200 events
GRID = ["--model", "gluino_direct", "--grid", "m_gluino=1600,2600 m_lsp=0,1000"]
N_EVENTS = 200
WINDOW = (0.01, 0.99)  # where the native CLs agrees with pyhf within 1 % (tests/test_stats_native.py)


def _scan(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "recast_ml", "scan", *GRID, "--analysis", ANALYSIS, "-n", str(N_EVENTS)]
    cmd += ["--no-progress", "--workers", "1", "-o", str(out), *extra]
    return subprocess.run(cmd, text=True, capture_output=True, timeout=900, check=False)


def _pyhf_cls(n: float, b: float, e: float, s: float, up: float = 0.0, down: float = 0.0) -> float:
    """pyhf's observed CLs at mu = 1 of one SR (uncorrelated background), the signal with a
    ``normsys`` modifier hi = 1 + up, lo = 1 - down when up or down is nonzero."""
    import pyhf

    sample: dict = {"name": "signal", "data": [s], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}
    if up or down:
        sample["modifiers"].append({"name": "sig_syst", "type": "normsys", "data": {"hi": 1 + up, "lo": 1 - down}})
    spec = {
        "channels": [
            {
                "name": "sr",
                "samples": [
                    sample,
                    {
                        "name": "background",
                        "data": [b],
                        "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [max(e, 1e-9)]}],
                    },
                ],
            }
        ]
    }
    model = pyhf.Model(spec, poi_name="mu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyhf.infer.hypotest(1.0, [n, *model.config.auxdata], model, test_stat="qtilde"))


def _near(got: float, want: float) -> bool:
    """The native CLs against pyhf's: 1 % inside the window, the same side of it outside."""
    if WINDOW[0] <= want <= WINDOW[1]:
        return math.isclose(got, want, rel_tol=0.01)
    return got < WINDOW[0] * 1.01 if want < WINDOW[0] else got > WINDOW[1] * 0.99


# ------------------------------------------------------------------------------------------------
# a real scan with every variation (one Dask worker), resumed
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def varied_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("scanvar") / "all"
    proc = _scan(out, "--variations", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


def test_the_store_has_the_variations_of_every_point(varied_scan):
    out, stdout = varied_scan
    # the cost is stated before the scan: weights free, isr_damped one more sample per point
    assert "isr_up, isr_down, fsr_up, fsr_down as Pythia weights of the nominal sample (no extra events)" in stdout
    assert f"isr_damped: one more sample of {N_EVENTS} events per point" in stdout
    assert "2 sample(s) per point" in stdout
    store = scan.ScanStore(out / "scan.sqlite")
    points = {p["key"]: p for p in store.points()}
    regions = {(r["point_key"], r["analysis"], r["region"]): r for r in store.regions()}
    varied = store.variations()
    meta = store.meta()
    store.close()
    assert len(points) == 4
    assert set(varied) == set(points)
    assert list(meta["variations"]) == ["isr", "fsr", "isr_damped", "xsec"]
    assert meta["variations"]["isr_damped"]["members"] == {"isr_damped": ["SpaceShower:pTdampFudge = 0.25"]}
    members = {"isr_up", "isr_down", "fsr_up", "fsr_down", "isr_damped", "xsec_up", "xsec_down"}
    nonzero = 0
    for key, v in varied.items():
        p = points[key]
        assert v["names"] == ["isr", "fsr", "isr_damped", "xsec"]
        # the row is the point's best SR (the one of the points table), with its nominal CLs
        assert (v["analysis"], v["region"]) == (p["best_analysis"], p["best_region"])
        assert v["cls_obs"] == p["cls_obs"]
        assert set(v["cls_obs_by_member"]) == members
        assert set(v["signal_by_member"]) == members
        reg = regions[(key, v["analysis"], v["region"])]
        s = reg["yield"]
        # the cross-section members scale the nominal yield by 1 +- the table's uncertainty
        rel = p["cross_section_rel_error"]
        assert rel > 0
        assert v["signal_by_member"]["xsec_up"] == pytest.approx(s * (1 + rel))
        assert v["signal_by_member"]["xsec_down"] == pytest.approx(s * (1 - rel))
        # the envelope of the generator members around the nominal yield, relative
        left_out = v["members_left_out"]  # fewer than 10 effective MC events in the SR
        gen = [v["signal_by_member"][m] for m in members if not m.startswith("xsec") and m not in left_out]
        assert v["envelope_rel_up"] == pytest.approx(max(0.0, max([s, *gen]) - s) / s)
        assert v["envelope_rel_down"] == pytest.approx(min(max(0.0, s - min([s, *gen])) / s, 0.999))
        assert v["signal_rel_up"] == pytest.approx(math.hypot(v["envelope_rel_up"], rel))
        assert v["signal_rel_down"] == pytest.approx(min(math.hypot(v["envelope_rel_down"], rel), 0.999))
        # the members' yields differ from the nominal one (isr/fsr weights, the damped sample)
        all_gen = [v["signal_by_member"][m] for m in members if not m.startswith("xsec")]
        assert any(y != pytest.approx(s, rel=1e-9) for y in all_gen)
        # a profiled signal uncertainty can only weaken the exclusion
        if v["signal_rel_up"] > 0 or v["signal_rel_down"] > 0:
            nonzero += 1
            assert v["cls_obs_syst"] >= v["cls_obs"] * (1 - 1e-6)
        # pyhf on the same SR: each member's CLs, and the nominal with the normsys modifier
        n, b, e = reg["n_obs"], reg["b"], reg["b_err"]
        for m, c in v["cls_obs_by_member"].items():
            assert _near(c, _pyhf_cls(n, b, e, v["signal_by_member"][m])), (key, m)
        want = _pyhf_cls(n, b, e, s, v["signal_rel_up"], v["signal_rel_down"])
        assert _near(v["cls_obs_syst"], want), (key, v["cls_obs_syst"], want)
        # the verdict follows the members' CLs
        counted = {m: c for m, c in v["cls_obs_by_member"].items() if m not in left_out}
        under = [m for m, c in counted.items() if c < 0.05]
        assert v["excluded_under"] == under
        assert v["robust"] == ("all" if len(under) == len(counted) else "none" if not under else "some")
        assert v["cls_obs_all_members"] == max(counted.values())
        assert (v["robust"] == "all") == (v["cls_obs_all_members"] < 0.05)
    assert nonzero == 4
    # the grid spans excluded and allowed points: both verdicts occur
    assert {v["robust"] for v in varied.values()} >= {"all", "none"}


def test_the_outputs_show_the_variation_contours(varied_scan):
    out, _ = varied_scan
    doc = json.loads((out / "contours.json").read_text())
    assert {"observed", "observed_signal_syst", "observed_all_variations"} <= set(doc["contours"])
    assert doc["variations"]["xsec"]["kind"] == "cross_section"
    store = scan.ScanStore(out / "scan.sqlite")
    varied = store.variations()
    store.close()
    for name, column in (("observed_signal_syst", "cls_obs_syst"), ("observed_all_variations", "cls_obs_all_members")):
        values = [v[column] for v in varied.values()]
        # a line where the points' CLs lie on both sides of 0.05 (its place: the synthetic plane below)
        assert bool(doc["contours"][name]) == (min(values) < 0.05 < max(values)), (name, values)
        lines = (out / f"contour_{name}.csv").read_text().splitlines()
        assert lines[1] == "line,m_gluino,m_lsp"
        assert (len(lines) > 3) == bool(doc["contours"][name])
    assert doc["contours"]["observed_all_variations"]  # excluded under all at 1600 GeV, under none at 2600
    report = (out / "scan_report.html").read_text()
    assert "CLs obs (signal unc.)" in report
    assert "contour_observed_all_variations.csv" in report
    assert report.count("<td class='l' title='isr_up: CLs obs") == 4  # the members' CLs of each point


def test_resuming_with_other_variations_is_refused(varied_scan):
    out, _ = varied_scan
    proc = _scan(out, "--variations", "isr,fsr")
    assert proc.returncode != 0
    assert "different scan" in proc.stderr
    assert "variations" in proc.stderr
    proc = _scan(out)  # none at all is another scan too
    assert proc.returncode != 0
    assert "different scan" in proc.stderr
    # another detector card into the same folder mixed two detectors' points silently
    proc = _scan(out, "--variations", "isr,fsr,isr_damped,xsec", "--detector", "cms_run2")
    assert proc.returncode != 0
    assert "different scan (detector: None here, 'cms_run2' asked)" in proc.stderr
    # the same variations (spelled otherwise): nothing left to run
    proc = _scan(out, "--variations", "isr,fsr,isr_damped,xsec")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 points done now, 4 done before" in proc.stdout


# ------------------------------------------------------------------------------------------------
# one point in this process: the cost of the variations, the nominal results they leave alone
# ------------------------------------------------------------------------------------------------
def test_weight_members_generate_no_extra_events_a_sample_member_one_more_sample(monkeypatch):
    generated: list[tuple[tuple[str, ...], int]] = []
    make = scan._generator

    def counting(point, seed, vset, settings=()):
        gen = make(point, seed, vset, settings)
        batches = gen.batches

        def counted(n, **kw):
            for b in batches(n, **kw):
                generated.append((tuple(settings), len(b)))
                yield b

        gen.batches = counted
        return gen

    monkeypatch.setattr(scan, "_generator", counting)
    (point,) = scan.grid_points("gluino_direct", "m_gluino=2200 m_lsp=0")[0]

    def run(names):
        generated.clear()
        vset = resolve(names)
        result = scan.run_point(scan.PointTask(point, (ANALYSIS,), N_EVENTS, 1, variations=vset or None))
        assert result["point"]["status"] == "done", result["point"]["error"]
        return result, sum(n for _, n in generated), {s for s, _ in generated}

    nominal, n_nominal, _ = run(None)
    weights, n_weights, _ = run("isr,fsr,xsec")
    damped, n_damped, settings = run("isr_damped")
    assert n_nominal == N_EVENTS
    assert n_weights == N_EVENTS  # the shower variations ride on the nominal events
    assert n_damped == 2 * N_EVENTS  # one more sample, with the damping line
    assert settings == {(), ("SpaceShower:pTdampFudge = 0.25",)}
    assert nominal["variations"] is None
    assert weights["variations"]["robust"] in ("all", "some", "none")
    assert set(json.loads(damped["variations"]["cls_obs_by_member"])) == {"isr_damped"}
    # a sample member leaves the nominal sample alone: the points and regions rows do not move (the
    # weight members do change the nominal events: Pythia draws other random numbers with
    # UncertaintyBands on; the sample is statistically the same)
    keep = [c for c in scan.POINT_COLUMNS if c not in scan.RUN_COLUMNS]
    assert [damped["point"][c] for c in keep] == [nominal["point"][c] for c in keep]
    assert damped["regions"] == nominal["regions"]


# ------------------------------------------------------------------------------------------------
# refusals, old stores
# ------------------------------------------------------------------------------------------------
def test_xsec_without_a_theory_uncertainty_is_refused_before_the_scan(tmp_path):
    path = tmp_path / "g.slha"
    path.write_text(
        "BLOCK MASS\n  1000021 2.0E+03\n  1000022 1.0E+02\n"
        "XSECTION  1.30E+04  2212 2212 2 1000021 1000021\n  0  2  0  0  0  0  1.00E-03 NNLL-fast\n"
    )
    points = scan.slha_points([path], "gluino")
    with pytest.raises(ConfigError, match=r"xsec: the cross section of 1 point\(s\) has no theory uncertainty"):
        scan.run_scan(points, analyses=[ANALYSIS], n_events=10, output=tmp_path / "s", variations="isr,xsec")
    assert not (tmp_path / "s" / "scan.sqlite").exists()  # refused before the store is made
    with pytest.raises(ConfigError, match="given as a number has no theory uncertainty"):
        scan.run_scan(
            points, analyses=[ANALYSIS], n_events=10, output=tmp_path / "t", variations="xsec", cross_section_pb=1.0
        )
    # a point that gets there anyway (another driver, the API) fails with the reason, before generating
    task = scan.PointTask(points[0], (ANALYSIS,), 10, 1, variations=resolve("xsec"))
    result = scan.run_point(task)
    assert result["point"]["status"] == "failed"
    assert "no theory uncertainty" in result["point"]["error"]
    assert result["point"]["t_generate"] is None
    assert result["variations"] is None


def _old_store(path: Path) -> None:
    """A store as written before the variations: no point_variations table, no meta key."""
    old_schema = scan.SCHEMA.split("CREATE TABLE IF NOT EXISTS point_variations")[0]
    old_schema = old_schema.replace("  published_region TEXT,\n", "")  # nor published_region (version 1)
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    meta = {
        "format": "recast_ml/scan",
        "format_version": 1,
        "model": "gluino_direct",
        "parameters": ["m_gluino", "m_lsp"],
        "grid": "m_gluino=2200,2400 m_lsp=0",
        "analyses": [ANALYSIS],
        "n_events": 20,
        "seed": 1,
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    row = dict.fromkeys(scan.POINT_COLUMNS)
    row.update(
        key="gluino_direct:m_gluino=2200,m_lsp=0", model="gluino_direct", params='{"m_gluino": 2200.0, "m_lsp": 0.0}',
        status="done", attempts=1, seed=5, cls_obs=0.01, best_analysis=ANALYSIS, best_region="SR", excluded=1,
    )  # fmt: skip
    conn.execute(f"INSERT INTO points ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    conn.commit()
    conn.close()


def test_an_old_store_opens_and_resumes(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    _old_store(out / "scan.sqlite")
    points, _ = scan.grid_points("gluino_direct", "m_gluino=2200,2400 m_lsp=0")
    meta = {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"], "grid": "m_gluino=2200,2400 m_lsp=0"}
    run = {"analyses": [ANALYSIS], "n_events": 20, "output": out, "seed": 1, "meta": meta, "workers": 1}
    # with variations: the done point was computed without them: another scan
    with pytest.raises(ConfigError, match=r"different scan.*variations"):
        scan.run_scan(points, variations="isr", **run)
    summary = scan.run_scan(points, **run)  # resumed: the new point runs, the old one is kept
    assert (summary.done, summary.skipped_done, summary.failed) == (1, 1, 0), summary.failures
    store = scan.ScanStore(out / "scan.sqlite")
    assert store.variations() == {}
    assert len(store.points()) == 2
    from recast_ml.scan_outputs import contours, write_report

    assert set(contours(store)) == {
        "expected", "expected_minus_1sigma", "expected_plus_1sigma", "observed",
        "observed_theory_minus_1sigma", "observed_theory_plus_1sigma",
    }  # fmt: skip
    assert "signal unc." not in write_report(store, out).read_text()
    store.close()


# ------------------------------------------------------------------------------------------------
# contours of a synthetic plane
# ------------------------------------------------------------------------------------------------
def _toy(m1: float, m2: float, shift: float) -> float:
    """CLs = 0.05 on m1 + m2 = 400 ln(800) + shift, log-linear in m1 + m2."""
    return min(1.0, 0.05 * 800 * math.exp(-(m1 + m2 - shift) / 400))


def test_variation_contours_of_a_synthetic_plane(tmp_path):
    from recast_ml.scan_outputs import contours, figure, write_contours

    store = scan.ScanStore(tmp_path / "s.sqlite", {"model": "toy", "parameters": ["m1", "m2"]})
    vset = resolve("isr")
    for m1 in range(1000, 3001, 250):
        for m2 in range(0, 2001, 250):
            key = f"toy:{m1},{m2}"
            point = dict.fromkeys(scan.POINT_COLUMNS)
            point.update(key=key, status="done", seed=1, params=json.dumps({"m1": m1, "m2": m2}))
            for col in ("cls_obs", "cls_exp", "cls_exp_m1", "cls_exp_p1", "cls_obs_xs_down", "cls_obs_xs_up"):
                point[col] = _toy(m1, m2, 0.0)
            point.update(best_analysis="A", best_region="SR1", excluded=int(point["cls_obs"] < 0.05))
            by_member = {"isr_up": _toy(m1, m2, 50.0), "isr_down": _toy(m1, m2, 200.0)}
            stat = {
                "cls_obs": point["cls_obs"],
                "cls_obs_syst": _toy(m1, m2, 100.0),
                "cls_exp_syst": _toy(m1, m2, 100.0),
                "signal_rel_up": 0.1,
                "signal_rel_down": 0.2,
                "signal_envelope_rel_up": 0.1,
                "signal_envelope_rel_down": 0.2,
                "cls_obs_by_variation": by_member,
                "signal_variations": {"isr_up": {"signal": 1.1}, "isr_down": {"signal": 0.8}},
            }
            row = scan.variation_row(key, vset, "A", "SR1", stat)
            store.commit({"point": point, "regions": [], "variations": row})
    lines = contours(store)
    base = 400 * math.log(800)
    for name, shift in (("observed", 0.0), ("observed_signal_syst", 100.0), ("observed_all_variations", 200.0)):
        (seg,) = lines[name]
        assert len(seg) > 5
        for x, y in seg:  # exact: log10(CLs) is linear in m1 + m2
            assert x + y == pytest.approx(base + shift, abs=1e-6), name
    files = write_contours(store, tmp_path / "out")
    assert {"observed_signal_syst", "observed_all_variations"} <= set(files)
    fig = figure(store)
    _, labels = fig.axes[0].get_legend_handles_labels()
    assert "observed, signal-modelling unc. profiled" in labels
    assert "observed, excluded under all variations" in labels
    store.close()
