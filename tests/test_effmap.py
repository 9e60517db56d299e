"""Efficiency maps (recast_ml.effmap): export from a scan store, interpolation (values and
uncertainties against hand-computed numbers), the native surrogate likelihood against the Python
statistics and an independent numerical profile, the C++ example without Python, and the
physics check of the issue: at a grid point left out of the map, the surrogate's efficiencies agree
with full MC within the combined errors."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

import recast_ml
from cpp_examples import build_examples
from recast_ml import ConfigError, EfficiencyMap, InputError
from recast_ml.effmap import OutsideHullError, export_efficiency_maps, leave_one_out_residuals, triangulate
from recast_ml.statistics import LogLikelihood, PublishedRegion, profile_log_likelihoods

REPO = Path(__file__).resolve().parents[1]
ANALYSIS = "ATLAS-SUSY-2018-22"  # bundled: the exporter reads its luminosity (139 fb^-1)
LUMI = 139.0

# the store schema of SCAN_STORE.md (written by recast_ml.scan)
STORE_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE points (
  key TEXT PRIMARY KEY, model TEXT, params TEXT, slha TEXT, status TEXT NOT NULL,
  error TEXT, attempts INTEGER NOT NULL, seed INTEGER NOT NULL, n_events INTEGER,
  cross_section_pb REAL, cross_section_rel_error REAL, cross_section_source TEXT,
  best_analysis TEXT, best_region TEXT,
  cls_obs REAL, cls_exp REAL, cls_exp_m1 REAL, cls_exp_p1 REAL, cls_obs_xs_down REAL, cls_obs_xs_up REAL,
  r_obs REAL, r_exp REAL, r_cons REAL, xsec_ul_obs_pb REAL, xsec_ul_exp_pb REAL, excluded INTEGER,
  t_generate REAL, t_engine REAL, t_stats REAL, worker TEXT, finished TEXT, provenance TEXT);
CREATE TABLE regions (
  point_key TEXT NOT NULL, analysis TEXT NOT NULL, region TEXT NOT NULL,
  yield REAL, yield_error REAL, mc_events INTEGER,
  efficiency REAL, efficiency_error REAL,
  n_obs REAL, b REAL, b_err REAL,
  cls_obs REAL, cls_exp REAL, r_obs REAL, r_exp REAL, r_cons REAL, s95_obs REAL, s95_exp REAL,
  published_region TEXT,
  PRIMARY KEY (point_key, analysis, region));
"""
# format version 1: no published_region, the published names in region
STORE_DDL_V1 = STORE_DDL.replace("  published_region TEXT,\n", "")

# two SRs with hand-picked published numbers
PUBLISHED = {"SR-A": (12.0, 10.0, 2.0), "SR-B": (3.0, 4.5, 1.0)}


def write_store(
    path, model, parameters, points, *, n_events=1000, seed=1, status=None, version=2, definition_names=None
):
    """A scan store: ``points`` = [(params, {region: (efficiency, error, mc_events, (n_obs, b, b_err))})]
    with the published region names; as the scan driver writes it (format version 2: ``region`` the
    definition's name, ``definition_names[published]`` or else the published one lower-cased, and
    ``published_region`` the published one), or as it did before (version 1: the published names
    in ``region``)."""

    def own(published: str) -> str:
        return (definition_names or {}).get(published, published.lower()) if version == 2 else published

    con = sqlite3.connect(path)
    con.executescript(STORE_DDL if version == 2 else STORE_DDL_V1)
    meta = {
        "format": "recast_ml/scan",
        "format_version": version,
        "model": model,
        "parameters": parameters,
        "analyses": [ANALYSIS],
        "n_events": n_events,
        "seed": seed,
        "recast_ml version": recast_ml.__version__,
    }
    con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    for k, (params, regions) in enumerate(points):
        key = f"{model}:" + ",".join(f"{n}={params[n]:g}" for n in parameters)
        st = (status or {}).get(k, "done")
        con.execute(
            "INSERT INTO points (key, model, params, status, attempts, seed, n_events, cross_section_pb) "
            "VALUES (?, ?, ?, ?, 1, ?, ?, 0.01)",
            (key, model, json.dumps(params), st, seed + k, n_events),
        )
        for region, (eff, err, mc, (n_obs, b, b_err)) in regions.items():
            con.execute(
                "INSERT INTO regions (point_key, analysis, region, yield, yield_error, mc_events, efficiency, "
                "efficiency_error, n_obs, b, b_err) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    ANALYSIS,
                    own(region),
                    eff * 0.01 * 1000 * LUMI,
                    err * 0.01 * 1000 * LUMI,
                    mc,
                    eff,
                    err,
                    n_obs,
                    b,
                    b_err,
                ),
            )
            if version == 2:
                con.execute(
                    "UPDATE regions SET published_region = ? WHERE point_key = ? AND region = ?",
                    (region, key, own(region)),
                )
    con.commit()
    con.close()
    return path


def grid_points(values, error=0.01, mc=100):
    """Points for write_store: values = [(params, {SR: efficiency})]."""
    return [(p, {r: (e, error, mc, PUBLISHED[r]) for r, e in effs.items()}) for p, effs in values]


# four points in general position (no four on a circle: the Delaunay triangulation is unique)
QUAD = [
    ({"m_gluino": 1000.0, "m_lsp": 0.0}, {"SR-A": 0.10, "SR-B": 0.020}),
    ({"m_gluino": 2000.0, "m_lsp": 0.0}, {"SR-A": 0.20, "SR-B": 0.050}),
    ({"m_gluino": 1000.0, "m_lsp": 800.0}, {"SR-A": 0.30, "SR-B": 0.010}),
    ({"m_gluino": 1800.0, "m_lsp": 1000.0}, {"SR-A": 0.40, "SR-B": 0.080}),
]


@pytest.fixture
def quad_map(tmp_path):
    write_store(tmp_path / "scan.sqlite", "gluino_direct", ["m_gluino", "m_lsp"], grid_points(QUAD))
    (path,) = export_efficiency_maps(tmp_path, tmp_path / "maps")
    return path


def test_maps_name_regions_as_published_from_either_store_version(quad_map, tmp_path):
    """The maps' region names are the published ones (SModelS' dataId): from a store of format
    version 2 (the definition's names in region, the published ones in published_region) and of
    version 1 (the published names in region), the same map."""
    v1 = tmp_path / "v1"
    v1.mkdir()
    write_store(v1 / "scan.sqlite", "gluino_direct", ["m_gluino", "m_lsp"], grid_points(QUAD), version=1)
    (old,) = export_efficiency_maps(v1, v1 / "maps")
    new, old_doc = json.loads(quad_map.read_text()), json.loads(old.read_text())
    assert sorted(new["regions"]) == ["SR-A", "SR-B"]
    new.pop("provenance"), old_doc.pop("provenance")
    assert new == old_doc


def test_export_validates_and_interpolates_exactly(quad_map):
    import jsonschema

    doc = json.loads(quad_map.read_text())
    schema = json.loads((Path(recast_ml.__file__).parent / "schemas" / "efficiency_map.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert quad_map.name == "ATLAS-SUSY-2018-22__gluino_direct.effmap.json"
    assert doc["analysis"] == ANALYSIS
    assert doc["luminosity_fb"] == LUMI
    assert doc["model"] == "gluino_direct"
    assert doc["parameters"] == ["m_gluino", "m_lsp"]
    # points sorted by their coordinates
    assert doc["points"] == [[1000.0, 0.0], [1000.0, 800.0], [1800.0, 1000.0], [2000.0, 0.0]]
    assert doc["regions"]["SR-A"]["efficiency"] == [0.10, 0.30, 0.40, 0.20]
    assert doc["regions"]["SR-B"]["n_obs"] == 3.0
    assert doc["regions"]["SR-B"]["b_err"] == 1.0
    assert doc["provenance"]["n_events"] == 1000
    tris = doc["triangles"]
    assert len(tris) == 2
    assert sorted({i for t in tris for i in t}) == [0, 1, 2, 3]

    m = EfficiencyMap(quad_map)
    assert m.regions == ["SR-A", "SR-B"]
    # at a grid point: the stored value, bit for bit, and its MC error alone
    for p, effs in QUAD:
        got = m.efficiencies(p)
        for r, e in effs.items():
            assert got[r] == (e, 0.01)
    pts = np.array(doc["points"])
    values = {r: np.array(doc["regions"][r]["efficiency"]) for r in m.regions}
    for tri in tris:
        centroid = pts[tri].mean(axis=0)
        got = m.efficiencies(list(centroid))
        mc_unc = m.uncertainties(list(centroid))
        for r in m.regions:
            vals = values[r][tri]
            assert got[r][0] == pytest.approx((vals[0] + vals[1] + vals[2]) / 3, rel=1e-13)
            # MC: sqrt(3 x (1/3)^2 x 0.01^2); interpolation: (1 - 3/9) x mean residual
            res = np.array(doc["regions"][r]["interpolation_residual"])[tri]
            assert mc_unc[r][0] == pytest.approx(0.01 / math.sqrt(3), rel=1e-12)
            assert mc_unc[r][1] == pytest.approx(2 / 3 * res.mean(), rel=1e-12)
            assert got[r][1] == pytest.approx(math.hypot(0.01 / math.sqrt(3), 2 / 3 * res.mean()), rel=1e-12)
    # the midpoint of the edge (1000,0)-(2000,0) is on the hull: half of each end
    mid = m.efficiencies({"m_gluino": 1500.0, "m_lsp": 0.0})
    assert mid["SR-A"][0] == pytest.approx(0.15, rel=1e-13)
    assert mid["SR-B"][0] == pytest.approx(0.035, rel=1e-13)
    # yields: efficiency x sigma x 1000 x L
    assert m.yields([1500.0, 0.0], 0.02)["SR-A"] == pytest.approx(0.15 * 0.02 * 1000 * LUMI, rel=1e-13)


def test_outside_the_hull(quad_map):
    m = EfficiencyMap(quad_map)
    outside = [2100.0, 500.0]
    assert not m.contains(outside)
    assert m.contains([1500.0, 400.0])
    with pytest.raises(OutsideHullError, match=r"m_gluino=2100, m_lsp=500\) is outside the convex hull") as e:
        m.efficiencies(outside)
    assert isinstance(e.value, InputError)
    assert e.value.file == str(quad_map)
    with pytest.raises(OutsideHullError):
        m.loglike(outside, 0.01)
    eff = m.efficiencies(outside, outside="nan")
    assert all(math.isnan(v) and math.isnan(err) for v, err in eff.values())
    assert math.isnan(m.loglike(outside, 0.01, outside="nan"))
    got = m.loglike_many([[1500.0, 400.0], outside], 0.01)
    assert math.isnan(got[1])
    assert got[0] == m.loglike([1500.0, 400.0], 0.01)
    with pytest.raises(ConfigError, match="expected 2 parameter value"):
        m.efficiencies([1500.0])
    with pytest.raises(ConfigError, match=r"missing \['m_lsp'\]"):
        m.efficiencies({"m_gluino": 1500.0})


def test_linear_efficiencies_are_reproduced_without_interpolation_error(tmp_path):
    """On a 4x4 grid an efficiency linear in the masses is interpolated exactly anywhere in the hull,
    and its leave-one-out residuals (hence the interpolation uncertainty) are 0."""

    def eff(mg, ml):
        return 0.05 + 1e-4 * (mg - 1000) - 5e-5 * ml

    pts = [
        ({"m_gluino": mg, "m_lsp": ml}, {"SR-A": eff(mg, ml), "SR-B": 0.5 * eff(mg, ml)})
        for mg in (1000.0, 1200.0, 1400.0, 1600.0)
        for ml in (0.0, 300.0, 600.0, 900.0)
    ]
    write_store(tmp_path / "scan.sqlite", "gluino_direct", ["m_gluino", "m_lsp"], grid_points(pts, error=0.002))
    (path,) = export_efficiency_maps(tmp_path / "scan.sqlite", tmp_path / "maps")
    doc = json.loads(path.read_text())
    assert max(doc["regions"]["SR-A"]["interpolation_residual"]) < 1e-15
    m = EfficiencyMap(path)
    rng = np.random.default_rng(5)
    for mg, ml in zip(rng.uniform(1000, 1600, 50), rng.uniform(0, 900, 50), strict=True):
        (value, error), (mc, interp) = m.efficiencies([mg, ml])["SR-A"], m.uncertainties([mg, ml])["SR-A"]
        assert value == pytest.approx(eff(mg, ml), rel=1e-12, abs=1e-15)
        assert interp < 1e-15
        assert 0.002 / 2 <= mc <= 0.002  # sqrt(sum l^2) x 0.002 with sum l^2 in [1/3, 1]
        assert error == pytest.approx(mc, rel=1e-9)


def test_three_parameter_map_is_exact_for_linear_efficiencies(tmp_path):
    """3 parameters (tetrahedra, the general-dimension code path): a linear efficiency on a 3x3x3
    grid is reproduced at random points; outside the box: OutsideHullError."""

    def eff(a, b, c):
        return 0.02 + 1e-4 * a + 2e-4 * b + 5e-5 * c

    pts = [
        ({"a": a, "b": b, "c": c}, {"SR-A": eff(a, b, c)})
        for a in (0.0, 100.0, 200.0)
        for b in (0.0, 150.0, 300.0)
        for c in (0.0, 50.0, 100.0)
    ]
    write_store(tmp_path / "scan.sqlite", "toy3", ["a", "b", "c"], grid_points(pts, error=0.001))
    (path,) = export_efficiency_maps(tmp_path, tmp_path / "maps")
    m = EfficiencyMap(path)
    assert len(json.loads(path.read_text())["triangles"][0]) == 4
    rng = np.random.default_rng(8)
    for x in rng.uniform([0, 0, 0], [200, 300, 100], size=(40, 3)):
        value, _ = m.efficiencies(list(x))["SR-A"]
        assert value == pytest.approx(eff(*x), rel=1e-12)
    assert m.efficiencies([100.0, 150.0, 50.0])["SR-A"] == (eff(100.0, 150.0, 50.0), 0.001)
    with pytest.raises(OutsideHullError):
        m.efficiencies([100.0, 150.0, 101.0])


def test_one_parameter_map_and_quadratic_interpolation_error(tmp_path):
    """1-D map (segments): eff = c x^2 at x = 0, 1, 2, 3 (in 100 GeV). Leave-one-out residual at an
    inner point = c (|(c(x-1)^2 + c(x+1)^2)/2 - c x^2|); at x = 0.5 the linear interpolation is off by
    c/4 and the documented estimate is (1 - 1/2) x c = c/2: covers it, twice too large."""
    c = 0.01
    pts = [({"m": 100.0 * x}, {"SR-A": c * x * x}) for x in (3, 0, 2, 1)]  # any order in the store
    write_store(tmp_path / "scan.sqlite", "toy", ["m"], grid_points(pts, error=0.0))
    (path,) = export_efficiency_maps(tmp_path, tmp_path / "maps")
    doc = json.loads(path.read_text())
    assert doc["points"] == [[0.0], [100.0], [200.0], [300.0]]
    assert doc["triangles"] == [[0, 1], [1, 2], [2, 3]]
    assert doc["regions"]["SR-A"]["interpolation_residual"] == pytest.approx([c, c, c, c], rel=1e-12)
    m = EfficiencyMap(path)
    value, error = m.efficiencies([50.0])["SR-A"]
    assert value == pytest.approx(c / 2, rel=1e-13)
    assert error == pytest.approx(c / 2, rel=1e-12)
    assert abs(value - c * 0.25) <= error
    assert m.efficiencies([200.0])["SR-A"] == (4 * c, 0.0)


def test_leave_one_out_on_a_grid_by_hand():
    """3x3 unit grid, values v = x^2 (x = 0, 1, 2): the centre and the middles of the x edges are
    interpolated (within their edge or the square) from x = 0 and 2: (0 + 4)/2 - 1 = 1; the middles
    of the y edges (x = 0 or 2) from equal values: 0; corners take their neighbours' largest: 1."""
    pts = np.array([(x, y) for x in (0.0, 1.0, 2.0) for y in (0.0, 1.0, 2.0)])
    v = (pts[:, 0] ** 2)[:, None]
    r = leave_one_out_residuals(pts, v, triangulate(pts))[:, 0]
    by_point = {tuple(p): float(x) for p, x in zip(pts, r, strict=True)}
    assert by_point[(1.0, 1.0)] == pytest.approx(1.0)
    assert by_point[(1.0, 0.0)] == pytest.approx(1.0)
    assert by_point[(1.0, 2.0)] == pytest.approx(1.0)
    assert by_point[(0.0, 1.0)] == pytest.approx(0.0, abs=1e-12)
    assert by_point[(2.0, 1.0)] == pytest.approx(0.0, abs=1e-12)
    for corner in ((0.0, 0.0), (2.0, 0.0), (0.0, 2.0), (2.0, 2.0)):
        assert by_point[corner] == pytest.approx(1.0)


def test_export_store_errors_and_skips(tmp_path, caplog):
    # failed points are not in the map; a point without all SRs is left out with a warning
    pts = grid_points([*QUAD, ({"m_gluino": 1500.0, "m_lsp": 300.0}, {"SR-A": 0.9, "SR-B": 0.9})])
    pts.append(({"m_gluino": 1400.0, "m_lsp": 200.0}, {"SR-A": (0.5, 0.01, 10, PUBLISHED["SR-A"])}))
    write_store(tmp_path / "scan.sqlite", "gluino_direct", ["m_gluino", "m_lsp"], pts, status={4: "failed"})
    (path,) = export_efficiency_maps(tmp_path, tmp_path / "maps")
    doc = json.loads(path.read_text())
    assert len(doc["points"]) == 4
    assert "left out: no efficiency for SR-B" in caplog.text
    # collinear points: nothing can be written
    line = tmp_path / "line"
    line.mkdir()
    flat = [({"m_gluino": mg, "m_lsp": 0.0}, {"SR-A": 0.1, "SR-B": 0.1}) for mg in (1000.0, 1200.0, 1400.0)]
    write_store(line / "scan.sqlite", "gluino_direct", ["m_gluino", "m_lsp"], grid_points(flat))
    with pytest.raises(ConfigError, match="no efficiency map could be written"):
        export_efficiency_maps(line, tmp_path / "maps2")
    assert "lower-dimensional" in caplog.text
    # not a scan store
    bad = tmp_path / "bad.sqlite"
    sqlite3.connect(bad).executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    with pytest.raises(ConfigError, match=r"meta\.format"):
        export_efficiency_maps(bad, tmp_path / "maps3")
    with pytest.raises(FileNotFoundError):
        export_efficiency_maps(tmp_path / "nothing", tmp_path / "maps3")


def test_bad_map_files_name_the_place(quad_map, tmp_path):
    doc = json.loads(quad_map.read_text())
    cases = [
        (lambda d: d["regions"]["SR-A"]["efficiency"].pop(), r"/regions/SR-A/efficiency: expected 4 entries, got 3"),
        (lambda d: d.update(format_version=2), r"/format_version: this recast reads version 1"),
        (lambda d: d["triangles"][0].__setitem__(1, 9), r"/triangles/0/1: expected a point index in \[0, 4\)"),
        (lambda d: d["regions"]["SR-B"].update(b=-1.0), r"/regions/SR-B/b: expected a finite number >= 0"),
        (lambda d: d["triangles"].append([0, 0, 1]), r"/triangles/2: degenerate simplex"),
        (lambda d: d.update(colour="red"), r"/colour: unknown key"),
    ]
    for k, (change, message) in enumerate(cases):
        d = json.loads(json.dumps(doc))
        change(d)
        p = tmp_path / f"bad{k}.json"
        p.write_text(json.dumps(d))
        with pytest.raises(ConfigError, match=message) as e:
            EfficiencyMap(p)
        assert e.value.file == str(p)
    p = tmp_path / "broken.json"
    p.write_text('{"format":\n  "recast_ml/efficiency_map",,}')
    with pytest.raises(ConfigError, match="invalid JSON") as e:
        EfficiencyMap(p)
    assert e.value.line == 2
    with pytest.raises(FileNotFoundError):
        EfficiencyMap(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# the surrogate likelihood


def numerical_delta_loglike(n, b, b_err, s):
    """ln L(s) - ln L(0) of Poisson(n | s + b + t) x Gauss(t | 0, b_err), t >= -b profiled numerically
    (scipy): independent of the closed form of recast::stats."""
    from scipy import optimize, stats

    def profiled(sig):
        def nll(t):
            return -(stats.poisson.logpmf(n, sig + b + t) + stats.norm.logpdf(t, 0, b_err))

        r = optimize.minimize_scalar(
            nll, bounds=(-b + 1e-9, 10 * b_err + 3 * math.sqrt(n + 1)), method="bounded", options={"xatol": 1e-10}
        )
        return -r.fun

    return profiled(s) - profiled(0.0)


@pytest.mark.parametrize("point", [[1500.0, 400.0], [1000.0, 800.0], [1300.0, 100.0]])
def test_native_loglike_equals_python_statistics(quad_map, point):
    m = EfficiencyMap(quad_map)
    xs = 0.003
    s = m.yields(point, xs)
    regions = [PublishedRegion(r, *PUBLISHED[r]) for r in m.regions]
    delta, best = LogLikelihood(regions)([s[r] for r in m.regions])
    per_sr = m.loglike(point, xs, "per_sr")
    assert isinstance(per_sr, dict)
    assert list(per_sr.values()) == pytest.approx(delta, rel=1e-12, abs=1e-13)
    assert m.loglike(point, xs, "best") == pytest.approx(delta[best], rel=1e-12, abs=1e-13)
    assert m.best_region(point, xs) == m.regions[best]
    assert m.loglike(point, xs, "combined") == pytest.approx(sum(delta), rel=1e-12, abs=1e-13)
    # an independent path: the yields by hand from the efficiencies, ln L profiled numerically
    eff = m.efficiencies(point)
    for r in m.regions:
        s_hand = eff[r][0] * xs * 1000 * LUMI
        assert s[r] == pytest.approx(s_hand, rel=1e-13)
        assert per_sr[r] == pytest.approx(numerical_delta_loglike(*PUBLISHED[r], s_hand), rel=1e-6, abs=1e-8)
    assert min(per_sr.values()) < -0.5  # a sensitive test: the signal is excluded-ish in one SR
    # pyhf's uncorrelated-background model
    n, b, e = (np.array([PUBLISHED[r][k] for r in m.regions]) for k in range(3))
    sv = np.array([s[r] for r in m.regions])
    ref = profile_log_likelihoods(n, b, e, sv) - profile_log_likelihoods(n, b, e, 0 * sv)
    got = m.loglike(point, xs, "per_sr", statistic="pyhf")
    assert isinstance(got, dict)
    assert list(got.values()) == pytest.approx(list(ref), rel=1e-12, abs=1e-13)
    assert m.loglike(point, xs, "best", statistic="pyhf") == pytest.approx(ref[best], rel=1e-12, abs=1e-13)
    with pytest.raises(ConfigError, match="mode must be"):
        m.loglike(point, xs, "sum")  # type: ignore[arg-type]


def test_best_region_with_many_regions_equals_the_statistics_module():
    """All ATLAS-SUSY-2018-22 SRs with published numbers, random smooth efficiencies on a grid: at
    random points the surrogate's best expected SR and its Delta ln L are those of
    statistics.LogLikelihood (recast::stats::best_expected_region) for the same yields."""
    from recast_ml._data import analyses_dir
    from recast_ml.effmap import map_document
    from recast_ml.statistics import read_signal_regions

    published = read_signal_regions(analyses_dir() / ANALYSIS / "signal_regions.csv")
    mg, ml = np.meshgrid(np.linspace(1000, 2600, 9), np.linspace(0, 1600, 9), indexing="ij")
    pts = np.stack([mg.ravel(), ml.ravel()], axis=1)
    rng = np.random.default_rng(3)
    regions = {}
    for name, p in published.items():
        a, b, c = rng.uniform(0.01, 0.3), rng.uniform(800, 2400), rng.uniform(300, 900)
        eff = a * np.exp(-(((pts[:, 0] - b) / 600) ** 2) - (pts[:, 1] / c) ** 2)
        regions[name] = {"n_obs": p.n_obs, "b": p.b, "b_err": p.b_err, "efficiency": eff, "efficiency_error": 0.1 * eff}
    doc = map_document(
        analysis=ANALYSIS,
        model="gluino_direct",
        parameters=["m_gluino", "m_lsp"],
        points=pts,
        regions=regions,
        luminosity_fb=LUMI,
    )
    native = recast_ml._core.EfficiencyMap.parse(json.dumps(doc), "synthetic")
    ll = LogLikelihood(list(published.values()))
    names = list(published)
    assert native.regions == names
    seen = set()
    for x, xs in zip(rng.uniform([1000, 0], [2600, 1600], size=(200, 2)), rng.uniform(1e-4, 0.05, 200), strict=True):
        s = native.yields(list(x), float(xs))
        delta, best = ll(list(s))
        per_sr, k = native.loglike_regions(list(x), float(xs))
        assert k == best
        assert native.loglike(list(x), float(xs), "best") == delta[best]
        np.testing.assert_array_equal(per_sr, delta)
        seen.add(best)
    assert len(seen) > 5  # many different SRs were the best one


@pytest.fixture(scope="module")
def surrogate_binary(tmp_path_factory):
    """examples/cpp/surrogate_loglike built against the installed package (find_package(recast))."""
    return build_examples(tmp_path_factory.mktemp("cpp-surrogate"), "surrogate_loglike") / "surrogate_loglike"


def run_example(binary, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, env=env)


def test_cpp_example_equals_python(surrogate_binary, quad_map):
    m = EfficiencyMap(quad_map)
    point, xs = [1500.0, 400.0], 0.003
    res = run_example(surrogate_binary, quad_map, xs, *point)
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[0] == ["map", ANALYSIS, "gluino_direct", "points", "4", "simplices", "2", "regions", "2"]
    eff = {w[1]: (float(w[2]), float(w[3])) for w in lines if w[0] == "efficiency"}
    assert eff == m.efficiencies(point)  # printed with %.17g: exactly
    (best,) = [w for w in lines if w[:2] == ["loglike", "best"]]
    assert float(best[2]) == m.loglike(point, xs, "best")
    assert best[3] == m.best_region(point, xs)
    (combined,) = [w for w in lines if w[:2] == ["loglike", "combined"]]
    assert float(combined[2]) == m.loglike(point, xs, "combined")
    assert {w[1]: float(w[2]) for w in lines if w[0] == "loglike_sr"} == m.loglike(point, xs, "per_sr")
    # outside the hull: the typed error's message, exit status 1
    res = run_example(surrogate_binary, quad_map, xs, 2100, 500)
    assert res.returncode == 1
    assert f"error: {quad_map}: point (m_gluino=2100, m_lsp=500) is outside the convex hull" in res.stderr


def test_cpp_example_refuses_a_malformed_number(surrogate_binary, quad_map):
    """'3fb' (recast-ml's --cross-section form) or '1500GeV' is refused, not read as 3 pb (1000
    times the cross section) or 1500."""
    for args, message in [
        (["3fb", 1500, 400], "CROSS_SECTION_PB (in pb, without a unit): expected a number, got '3fb'"),
        ([0.003, "1500GeV", 400], "parameter: expected a number, got '1500GeV'"),
        ([0.003, 1500, ""], "parameter: expected a number, got ''"),
    ]:
        res = run_example(surrogate_binary, quad_map, *args)
        assert (res.returncode, res.stdout) == (1, ""), args
        assert res.stderr == f"error: <command line>: {message}\n"


# ---------------------------------------------------------------------------------------------
# physics: a small real scan, the centre point left out of the map


def full_mc_store(path, masses_gluino, masses_lsp, n_events, seed=11):
    """Generates gluino_direct at every grid point (Pythia), runs ATLAS-SUSY-2018-22, and writes the
    store rows of every SR with published numbers as the scan driver does (SCAN_STORE.md)."""
    from recast_ml.analysis import Analysis, run_batches
    from recast_ml.pythia import simplified_model_generator
    from recast_ml.statistics import read_signal_regions

    ana = Analysis.load(ANALYSIS)
    published = read_signal_regions(ana.definition.directory / "signal_regions.csv")
    names = ana.definition.published_names()
    points, own = [], {}
    for k, (mg, ml) in enumerate((mg, ml) for mg in masses_gluino for ml in masses_lsp):
        gen = simplified_model_generator("gluino_direct", mg, ml, seed=seed + k)
        (res,) = run_batches([ana], gen.batches(n_events, chunk_size=n_events), cross_section=0.01)
        rows = {}
        for region in res.cutflows:
            pub = published.get(names.get(region, region))
            if pub is None:
                continue
            cf = res.cutflow(region)
            n_all, eff = float(cf.sumw[0]), float(cf.sumw[-1] / cf.sumw[0])
            rows[pub.name] = (eff, math.sqrt(eff * (1 - eff) / n_all), int(cf.n[-1]), (pub.n_obs, pub.b, pub.b_err))
            own[pub.name] = region
        points.append(({"m_gluino": mg, "m_lsp": ml}, rows))
    return write_store(
        path, "gluino_direct", ["m_gluino", "m_lsp"], points, n_events=n_events, seed=seed, definition_names=own
    )


def check_left_out_point(tmp_path, masses_gluino, masses_lsp, n_events, min_mc_events):
    store = full_mc_store(tmp_path / "scan.sqlite", masses_gluino, masses_lsp, n_events)
    centre = {"m_gluino": masses_gluino[1], "m_lsp": masses_lsp[1]}
    (path,) = export_efficiency_maps(store, tmp_path / "maps", exclude=[centre])
    m = EfficiencyMap(path)
    assert m.n_points == 8
    assert m.contains(centre)
    # the full MC at the centre, from the store
    con = sqlite3.connect(store)
    mc = {
        r: (e, err, n)
        for r, e, err, n in con.execute(
            "SELECT published_region, efficiency, efficiency_error, mc_events FROM regions WHERE point_key = ?",
            (f"gluino_direct:m_gluino={centre['m_gluino']:g},m_lsp={centre['m_lsp']:g}",),
        )
    }
    con.close()
    surrogate = m.efficiencies(centre)
    checked = [r for r in m.regions if mc[r][2] >= min_mc_events]
    pulls = {}
    for r in checked:
        value, error = surrogate[r]
        pulls[r] = (value - mc[r][0]) / math.hypot(error, mc[r][1])
    print(
        {
            r: (round(surrogate[r][0], 4), round(surrogate[r][1], 4), round(mc[r][0], 4), round(p, 2))
            for r, p in pulls.items()
        }
    )
    return checked, pulls, m, surrogate, mc


@pytest.mark.slow
def test_surrogate_agrees_with_full_mc_at_a_left_out_point(tmp_path):
    """3x3 grid m_gluino = 1400, 1600, 1800 x m_lsp = 1 (the models need > 0), 500, 1000, 1000 events
    per point, the centre (1600, 500) left out: in every SR with >= 10 MC events there (binomial errors approximately
    Gaussian), |surrogate - full MC| < 3 x sqrt(sigma_surrogate^2 + sigma_MC^2). The SRs overlap
    (they share events), so their pulls are correlated: a fluctuation of the centre's sample moves
    them together; the test asserts every SR, not a chi^2."""
    checked, pulls, *_ = check_left_out_point(tmp_path, (1400.0, 1600.0, 1800.0), (1.0, 500.0, 1000.0), 1000, 10)
    assert len(checked) >= 10
    assert max(abs(p) for p in pulls.values()) < 3
    # and the errors are not so large that anything would pass: the pulls scatter like O(1)
    assert np.mean(np.square(list(pulls.values()))) > 0.05


def test_surrogate_agrees_with_full_mc_fast(tmp_path):
    """The default-suite variant: a narrower 3x3 grid (m_gluino 1500-1700, m_lsp 300-700: flatter
    efficiencies between the points) with 200 events per point; the SRs with >= 8 MC events at the
    centre (errors of 35 % and more, the Gaussian approximation rough: the same 3 sigma)."""
    checked, pulls, _m, surrogate, _mc = check_left_out_point(
        tmp_path, (1500.0, 1600.0, 1700.0), (300.0, 500.0, 700.0), 200, 8
    )
    assert len(checked) >= 3
    assert max(abs(p) for p in pulls.values()) < 3
    # the surrogate is informative: in the checked SRs its total error is below its value
    assert all(surrogate[r][1] < surrogate[r][0] for r in checked)
