"""Efficiency maps: export from a scan store, and interpolating likelihood surrogates for global fits.

:func:`export_efficiency_maps` reads a scan store (``scan.sqlite`` of ``recast-ml scan``) and writes
one JSON file per (analysis, model): the acceptance × efficiency of every signal region with
published numbers at every point of the scan, with MC errors. :class:`EfficiencyMap` reads such a
file and interpolates it at new parameter points; its :meth:`EfficiencyMap.loglike` is the native
(C++) surrogate likelihood (``recast/surrogate.hpp``, ~µs per call), callable from C++ without
Python (``examples/cpp/surrogate_loglike.cpp``).

Format ``recast_ml/efficiency_map``, version 1
-----------------------------------------------
JSON Schema: ``recast_ml/schemas/efficiency_map.schema.json`` (every exported file is validated
against it). Keys::

    format: "recast_ml/efficiency_map", format_version: 1
    analysis, sqrt_s [TeV], luminosity_fb [fb^-1], model, parameters: [names], units: "GeV"
    conventions, interpolation: texts (what the numbers mean; how to interpolate)
    points: [[p_1, ..., p_d], ...]       the grid ('done' points of the scan, sorted)
    triangles: [[i, j, k], ...]          Delaunay simplices of the points (scipy.spatial / Qhull):
                                         triangles for d = 2, segments of the sorted points for
                                         d = 1, tetrahedra for d = 3
    regions: {SR: {n_obs, b, b_err,      published observed count, background and its error
                   efficiency: [...],    acceptance x efficiency per point = sum w(pass)/sum w(all)
                   efficiency_error: [...],  binomial MC error per point
                   mc_events: [...],     unweighted MC events passing, per point
                   interpolation_residual: [...]}}  see "Interpolation" below
    provenance: {scan_store, recast_ml, n_events, seed, created, meta}

Versioning: ``format_version`` changes when a reader of the previous version would misread a
file (a key renamed or a meaning changed); readers refuse other versions with a ConfigError.
Keys added within a version are optional for readers (the C++ reader rejects unknown keys, so
they are added to both readers and the schema at once).

Yields and likelihood: s = efficiency × σ [pb] × 1000 × luminosity_fb. The surrogate's ln L is
Δln L = ln L(s) − ln L(0) per SR (0 for no signal, negative when disfavoured): by default
(``statistic="gaussian"``) Poisson(n | s + b + θ) × Gauss(θ | 0, b_err) with θ profiled
analytically (``recast::stats::delta_log_likelihood``, :class:`recast_ml.statistics.LogLikelihood`),
or pyhf's uncorrelated-background model (``statistic="pyhf"``,
:func:`recast_ml.statistics.profile_log_likelihoods`). ``mode="best"``: the SR with the best
expected sensitivity at the point (``recast::stats::best_expected_region`` on the interpolated
yields, Asimov data n = b: the observed counts do not choose the SR); ``"combined"``: the sum
over SRs, which treats them as uncorrelated and statistically independent — an approximation
that overstates the sensitivity where SRs overlap (as the ATLAS-SUSY-2018-22 multi-bin regions
do); use it only for disjoint SRs or as a bound; ``"per_sr"``: one value per SR. The MC and
interpolation uncertainties of the efficiencies are not profiled in ln L (as in SModelS).

Interpolation
-------------
Barycentric (piecewise linear) in the stored simplices; exact at grid points. No extrapolation:
outside the convex hull of the points, :class:`OutsideHullError` (an :class:`InputError`), or NaN
with ``outside="nan"``. Uncertainty of an interpolated efficiency with barycentric weights λ_i:

* MC: σ_mc² = Σ λ_i² σ_i² (independent MC errors of the vertices);
* interpolation: σ_int = (1 − Σ λ_i²) × Σ λ_i r_i, with r_i the vertex's ``interpolation_residual``:
  the leave-one-out residual |linear interpolation at x_i from the other points − value at x_i|,
  computed at export. Points where that is impossible (on the hull: no triangle of the other
  points contains them) take the largest residual of their neighbours in the triangulation, and
  if no neighbour has one, the largest difference to a neighbour's value. σ_int vanishes at the
  vertices and peaks inside a simplex (2/3 of the weighted residual at a triangle's centroid, 1/2
  at a segment's midpoint). For an efficiency quadratic in the parameters it is ~2x the actual
  linearisation error (the leave-one-out residual spans twice the grid spacing and the error
  grows with its square); the residual also contains the MC noise of the points: conservative.
* total: σ² = σ_mc² + σ_int².

Conventions and SModelS
-----------------------
The map follows the content of SModelS "efficiencyMap" results (SModelS database: per analysis
``globalInfo.txt`` with id/sqrts/lumi, one dataset per SR with ``dataInfo.txt``: dataType
efficiencyMap, dataId, observedN, expectedBG, bgError, and per dataset one ``txname`` file with
the efficiencies vs. masses). One to one: analysis ↔ id; sqrt_s ↔ sqrts; luminosity_fb ↔ lumi;
region name (the published SR name) ↔ dataId; n_obs ↔ observedN; b ↔ expectedBG; b_err ↔
bgError; efficiency (acceptance × efficiency, a fraction of all generated events of the model,
no cross section, no branching ratios beyond the model's) ↔ the efficiencyMap value; the point
(m_gluino, m_lsp) ↔ the SModelS mass vector per branch [[m_gluino, m_lsp], [m_gluino, m_lsp]]
(gluino_direct ≈ SModelS T1, squark_direct ≈ T2). Differences: a map is one JSON file per
(analysis, model) holding all SRs (SModelS: text files per dataset and txname); the model is a
recast_ml model name, not a topology with a constraint (the mapping to a txname is the user's);
points carry their MC errors, MC event counts and interpolation residuals (SModelS efficiency
maps as distributed carry no per-point errors); the triangulation is stored (SModelS, to our
knowledge of version 2.x, triangulates when it loads a map, with scipy, after a PCA rotation of the
mass space); no published S95 upper limits per SR (SModelS stores upperLimit/expectedUpperLimit per
dataset). File names: ``<analysis>__<model>.effmap.json``. The SR combination without correlations
(``combined``) has no SModelS equivalent: SModelS combines only with a covariance matrix or a
pyhf likelihood and otherwise uses the best expected SR, like ``mode="best"``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _core
from .errors import ConfigError, InputError

log = logging.getLogger(__name__)

FORMAT = "recast_ml/efficiency_map"
FORMAT_VERSION = 1
STORE_FORMAT = "recast_ml/scan"
#: scan-store versions read: 1 (regions named as published), 2 (definition names, published_region)
STORE_FORMAT_VERSIONS = (1, 2)

CONVENTIONS = (
    "efficiency = acceptance x efficiency of the signal region = sum of weights of the events passing / sum of "
    "weights of all generated events of the model (no cross section; efficiency_error: binomial MC error); "
    "yield = efficiency x cross section [pb] x 1000 x luminosity_fb; n_obs, b, b_err: the published observed "
    "count, background and its uncertainty. Content as SModelS efficiencyMap results (dataId = region name, "
    "observedN = n_obs, expectedBG = b, bgError = b_err, efficiencies vs. the masses of the model; for "
    "gluino_direct the SModelS T1 mass vector is [[m_gluino, m_lsp], [m_gluino, m_lsp]]); see the docstring of "
    "recast_ml/effmap.py for the differences."
)
INTERPOLATION = (
    "barycentric (piecewise linear) in the simplices of 'triangles'; exact at the points; no extrapolation "
    "outside the convex hull. Uncertainty with barycentric weights l_i: sigma_mc^2 = sum l_i^2 "
    "efficiency_error_i^2, sigma_int = (1 - sum l_i^2) x sum l_i interpolation_residual_i (leave-one-out "
    "residuals; on the hull: the neighbours' largest residual), total^2 = sigma_mc^2 + sigma_int^2."
)

Outside = Literal["raise", "nan"]
Mode = Literal["best", "combined", "per_sr"]
Statistic = Literal["gaussian", "pyhf"]


class OutsideHullError(InputError):
    """A parameter point outside the convex hull of an efficiency map's points (no extrapolation)."""


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the map format."""
    doc: dict[str, Any] = json.loads((Path(__file__).parent / "schemas" / "efficiency_map.schema.json").read_text())
    return doc


def validate(doc: Mapping[str, Any], where: str = "<efficiency map>") -> None:
    """Checks a map document against the JSON Schema and the array lengths (ConfigError)."""
    import jsonschema

    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as e:
        path = "/" + "/".join(str(p) for p in e.absolute_path)
        raise ConfigError(f"{path}: {e.message}", file=where) from e
    n, d = len(doc["points"]), len(doc["parameters"])
    for k, p in enumerate(doc["points"]):
        if len(p) != d:
            raise ConfigError(f"/points/{k}: expected {d} coordinates, got {len(p)}", file=where)
    for name, r in doc["regions"].items():
        for key in ("efficiency", "efficiency_error", "mc_events", "interpolation_residual"):
            if key in r and len(r[key]) != n:
                raise ConfigError(f"/regions/{name}/{key}: expected {n} entries, got {len(r[key])}", file=where)


# ---------------------------------------------------------------------------------------------
# triangulation and leave-one-out residuals


def triangulate(points: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Simplices of the points: segments of consecutive points in 1-D (points sorted), a Delaunay
    triangulation (scipy.spatial, Qhull) otherwise. ConfigError if the points span less than
    their dimension (e.g. all on a line in 2-D)."""
    x = np.asarray(points, dtype=np.float64)
    n, d = x.shape
    if n < d + 1:
        raise ConfigError(f"{n} point(s) cannot be triangulated in {d} dimension(s): need at least {d + 1}")
    if d == 1:
        order = np.argsort(x[:, 0], kind="stable")
        return np.stack([order[:-1], order[1:]], axis=1).astype(np.int64)
    from scipy.spatial import Delaunay, QhullError

    try:
        tri = Delaunay(x)
    except QhullError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "Qhull error"
        raise ConfigError(
            f"the {n} points cannot be triangulated in {d} dimensions (they lie in a lower-dimensional subspace, "
            f"e.g. a line: scan more than one value of every parameter): {first}"
        ) from e
    simplices = np.asarray(tri.simplices, dtype=np.int64)
    # Qhull leaves zero-volume simplices ("slivers") among cospherical points, e.g. on a regular
    # 3-D grid: they cover nothing and cannot be interpolated in, so they are dropped.
    return simplices[_flat(x, simplices) > 1e-9]


def _flat(x: npt.NDArray[np.float64], simplices: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """|det(edges)| / product of the edge lengths of every simplex: 1 for a right-angled corner,
    0 for a degenerate simplex (scale invariant)."""
    v = x[simplices]  # (ns, d+1, d)
    edges = v[:, :-1, :] - v[:, -1:, :]
    norms = np.prod(np.linalg.norm(edges, axis=2), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: npt.NDArray[np.float64] = np.abs(np.linalg.det(edges)) / norms
    out[~np.isfinite(out)] = 0.0
    return out


def _locate(tri: Any, x: npt.NDArray[np.float64]) -> tuple[int, npt.NDArray[np.float64]] | None:
    """(simplex, barycentric weights) of x in a scipy Delaunay triangulation, skipping degenerate
    simplices (their transform is NaN); None outside."""
    d = len(x)
    t = tri.transform
    lam = np.einsum("sij,sj->si", t[:, :d, :], x - t[:, d, :])
    full = np.concatenate([lam, 1.0 - lam.sum(axis=1, keepdims=True)], axis=1)
    ok = np.isfinite(full).all(axis=1) & (full.min(axis=1, initial=np.inf) >= -1e-10)
    ok &= _flat(tri.points, np.asarray(tri.simplices, dtype=np.int64)) > 1e-9
    if not ok.any():
        return None
    s = int(np.flatnonzero(ok)[0])
    return s, full[s]


def _neighbours(n: int, simplices: npt.NDArray[np.int64]) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n)]
    for s in simplices:
        for i in s:
            out[int(i)].update(int(j) for j in s if j != i)
    return out


def leave_one_out_residuals(
    points: npt.ArrayLike, values: npt.ArrayLike, simplices: npt.ArrayLike | None = None
) -> npt.NDArray[np.float64]:
    """(n_points, n_values) interpolation residuals: for each point, |linear interpolation at it
    from the other points − its value|; points outside the hull of the others take the largest
    residual of their neighbours (in ``simplices``), else the largest difference to a neighbour's
    value (see the module docstring)."""
    x = np.asarray(points, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n, d = x.shape
    simp = triangulate(x) if simplices is None else np.asarray(simplices, dtype=np.int64)
    res = np.full(v.shape, np.nan)
    if d == 1:
        order = np.argsort(x[:, 0], kind="stable")
        for k in range(1, n - 1):
            a, i, b = order[k - 1], order[k], order[k + 1]
            w = (x[i, 0] - x[a, 0]) / (x[b, 0] - x[a, 0])
            res[i] = np.abs((1 - w) * v[a] + w * v[b] - v[i])
    elif n > d + 1:
        from scipy.spatial import Delaunay, QhullError

        for i in range(n):
            others = np.delete(np.arange(n), i)
            try:
                tri = Delaunay(x[others])
            except QhullError:
                continue
            found = _locate(tri, x[i])
            if found is None:
                continue
            s, lam = found
            verts = others[tri.simplices[s]]
            res[i] = np.abs(lam @ v[verts] - v[i])
    neighbours = _neighbours(n, simp)
    known = ~np.isnan(res)
    out = res.copy()
    for i in range(n):
        if known[i].all():
            continue
        nb = sorted(neighbours[i])
        for r in np.flatnonzero(~known[i]):
            from_nb = [res[j, r] for j in nb if known[j, r]]
            if from_nb:
                out[i, r] = max(from_nb)
            else:
                out[i, r] = max((abs(v[j, r] - v[i, r]) for j in nb), default=0.0)
    return out


# ---------------------------------------------------------------------------------------------
# export


def _store_path(store: str | os.PathLike[str]) -> Path:
    p = Path(store)
    if p.is_dir():
        p = p / "scan.sqlite"
    if not p.is_file():
        raise FileNotFoundError(2, "no scan store", str(p))
    return p


def _read_meta(con: sqlite3.Connection, path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in con.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            meta[key] = value
    if meta.get("format") != STORE_FORMAT:
        raise ConfigError(f"meta.format: expected {STORE_FORMAT!r}, got {meta.get('format')!r}", file=str(path))
    if meta.get("format_version") not in STORE_FORMAT_VERSIONS:
        raise ConfigError(
            f"meta.format_version: this recast_ml reads versions {', '.join(map(str, STORE_FORMAT_VERSIONS))}, "
            f"the store is version {meta.get('format_version')!r}",
            file=str(path),
        )
    params = meta.get("parameters")
    if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
        raise ConfigError(f"meta.parameters: expected a list of parameter names, got {params!r}", file=str(path))
    return meta


def _analysis_info(analysis: str) -> tuple[float | None, float | None]:
    """(sqrt_s, luminosity) of a bundled or local analysis definition, (None, None) if not found."""
    from .analysis import find_definition, load_definition

    try:
        info = load_definition(find_definition(analysis)).info
    except (ConfigError, FileNotFoundError) as e:
        log.warning("%s: analysis definition not found (%s): sqrt_s and luminosity unknown", analysis, e)
        return None, None
    lumi = info.get("luminosity")
    sqrt_s = info.get("sqrt_s")
    return (float(sqrt_s) if sqrt_s is not None else None, float(lumi) if lumi is not None else None)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def map_document(
    *,
    analysis: str,
    model: str,
    parameters: Sequence[str],
    points: npt.ArrayLike,
    regions: Mapping[str, Mapping[str, Any]],
    luminosity_fb: float,
    sqrt_s: float | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A map document from its contents: ``regions`` maps SR names to n_obs, b, b_err and the
    per-point arrays efficiency, efficiency_error (and optionally mc_events). The points are
    triangulated and the leave-one-out residuals computed here; the result is validated."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(parameters):
        raise ConfigError(f"points must be an (n, {len(parameters)}) array, got shape {x.shape}")
    simplices = triangulate(x)
    names = list(regions)
    if not names:
        raise ConfigError(f"{analysis}, {model}: no signal regions")
    eff = np.stack([np.asarray(regions[r]["efficiency"], dtype=np.float64) for r in names], axis=1)
    residuals = leave_one_out_residuals(x, eff, simplices)
    out_regions: dict[str, Any] = {}
    for k, name in enumerate(names):
        r = regions[name]
        entry: dict[str, Any] = {
            "n_obs": float(r["n_obs"]),
            "b": float(r["b"]),
            "b_err": float(r["b_err"]),
            "efficiency": [float(e) for e in r["efficiency"]],
            "efficiency_error": [float(e) for e in r["efficiency_error"]],
        }
        if r.get("mc_events") is not None:
            entry["mc_events"] = [None if m is None else int(m) for m in r["mc_events"]]
        entry["interpolation_residual"] = [float(e) for e in residuals[:, k]]
        out_regions[name] = entry
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "analysis": analysis,
        "sqrt_s": sqrt_s,
        "luminosity_fb": float(luminosity_fb),
        "model": model,
        "parameters": list(parameters),
        "units": "GeV",
        "conventions": CONVENTIONS,
        "interpolation": INTERPOLATION,
        "points": x.tolist(),
        "triangles": simplices.tolist(),
        "regions": out_regions,
        "provenance": dict(provenance or {}),
    }
    validate(doc, f"{analysis}/{model}")
    return doc


def export_efficiency_maps(
    store: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    analyses: Sequence[str] | None = None,
    exclude: Sequence[Mapping[str, float]] = (),
) -> list[Path]:
    """Writes ``<out_dir>/<analysis>__<model>.effmap.json`` for every (analysis, model) of the scan
    store (``scan.sqlite`` or the folder holding it), from its 'done' points; returns the paths.
    ``analyses`` restricts the export; ``exclude``: parameter points (name -> value) left out of the
    maps (validation of the interpolation at grid points). A (analysis, model) whose points cannot
    be triangulated is skipped with a warning; if none can be written: ConfigError."""
    from . import __version__

    path = _store_path(store)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = _read_meta(con, path)
        names: list[str] = meta["parameters"]
        # the maps name SRs as published (SModelS' dataId): a store's published_region, where it has
        # that column (a store written before it held the published names in region)
        columns = {r[1] for r in con.execute("PRAGMA table_info(regions)")}
        region = "COALESCE(r.published_region, r.region)" if "published_region" in columns else "r.region"
        rows = con.execute(
            f"SELECT p.key, p.model, p.params, r.analysis, {region}, r.efficiency, r.efficiency_error, "
            "r.mc_events, r.n_obs, r.b, r.b_err FROM regions r JOIN points p ON p.key = r.point_key "
            "WHERE p.status = 'done' ORDER BY r.rowid"
        ).fetchall()
    except sqlite3.Error as e:
        raise ConfigError(f"not a readable scan store ({e})", file=str(path)) from e
    finally:
        con.close()
    excluded = {tuple(float(p[n]) for n in names) for p in exclude}
    # (analysis, model) -> point key -> region -> row; the regions in the order the store has them
    groups: dict[tuple[str, str], dict[str, dict[str, tuple[Any, ...]]]] = {}
    coords: dict[str, tuple[float, ...]] = {}
    order: dict[tuple[str, str], list[str]] = {}
    for key, model, params, analysis, region, *values in rows:
        if analyses is not None and analysis not in analyses:
            continue
        if key not in coords:
            try:
                p = json.loads(params)
                coords[key] = tuple(float(p[n]) for n in names)
            except (TypeError, ValueError, KeyError) as e:
                raise ConfigError(
                    f"point {key!r}: params {params!r} do not give the scan parameters {names} ({e})", file=str(path)
                ) from e
        if coords[key] in excluded:
            continue
        g = (analysis, model or meta.get("model") or "unknown")
        groups.setdefault(g, {}).setdefault(key, {})[region] = tuple(values)
        if region not in order.setdefault(g, []):
            order[g].append(region)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for (analysis, model), by_point in sorted(groups.items()):
        srs = order[(analysis, model)]
        keys = []
        for key, regs in by_point.items():
            missing = [r for r in srs if r not in regs or regs[r][0] is None or regs[r][1] is None]
            if missing:
                log.warning("%s, %s: point %s left out: no efficiency for %s", analysis, model, key, ", ".join(missing))
                continue
            keys.append(key)
        keys.sort(key=lambda k: coords[k])
        pts = [coords[k] for k in keys]
        if len(set(pts)) != len(pts):
            dup = sorted(k for k in keys if pts.count(coords[k]) > 1)
            raise ConfigError(f"points {dup} have the same parameters", file=str(path))
        regions: dict[str, dict[str, Any]] = {}
        for r in srs:
            published = {(by_point[k][r][3], by_point[k][r][4], by_point[k][r][5]) for k in keys}
            if len(published) != 1 or None in next(iter(published)):
                found = sorted(map(str, published))
                raise ConfigError(
                    f"{analysis} {r}: n_obs, b, b_err missing or not the same at every point ({found})", file=str(path)
                )
            n_obs, b, b_err = next(iter(published))
            regions[r] = {
                "n_obs": n_obs,
                "b": b,
                "b_err": b_err,
                "efficiency": [by_point[k][r][0] for k in keys],
                "efficiency_error": [by_point[k][r][1] for k in keys],
                "mc_events": [by_point[k][r][2] for k in keys],
            }
        sqrt_s, lumi = _analysis_info(analysis)
        if lumi is None:
            log.warning("%s, %s: skipped: no luminosity (analysis definition not found)", analysis, model)
            continue
        provenance = {
            "scan_store": str(path.resolve()),
            "recast_ml": str(meta.get("recast_ml version", meta.get("recast_ml", meta.get("version", __version__)))),
            "n_events": meta.get("n_events"),
            "seed": meta.get("seed"),
            "created": created,
            "excluded_points": [dict(zip(names, p, strict=True)) for p in sorted(excluded)],
        }
        try:
            doc = map_document(
                analysis=analysis,
                model=model,
                parameters=names,
                points=np.array(pts, dtype=np.float64).reshape(len(pts), len(names)),
                regions=regions,
                luminosity_fb=lumi,
                sqrt_s=sqrt_s,
                provenance=provenance,
            )
        except ConfigError as e:
            log.warning("%s, %s: no efficiency map: %s", analysis, model, e)
            continue
        target = out / f"{_safe(analysis)}__{_safe(model)}.effmap.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, target)
        log.info("%s: %d points, %d SRs", target, len(pts), len(regions))
        written.append(target)
    if groups and not written:
        raise ConfigError("no efficiency map could be written (see the warnings)", file=str(path))
    return written


# ---------------------------------------------------------------------------------------------
# the surrogate


class EfficiencyMap:
    """An efficiency map file, interpolated at parameter points (native code, ``recast::surrogate``).

    ``masses`` are given in the order of :attr:`parameters` or as a mapping name -> value (GeV).
    ``outside``: "raise" (:class:`OutsideHullError` outside the convex hull of the map's points) or
    "nan" (NaN results)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._map = _core.EfficiencyMap.load(str(self.path))
        self._regions = self._map.regions
        self._parameters = self._map.parameters

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EfficiencyMap:
        return cls(path)

    @property
    def analysis(self) -> str:
        return self._map.analysis

    @property
    def model(self) -> str:
        return self._map.model

    @property
    def parameters(self) -> list[str]:
        return list(self._parameters)

    @property
    def regions(self) -> list[str]:
        return list(self._regions)

    @property
    def luminosity_fb(self) -> float:
        return self._map.luminosity_fb

    @property
    def n_points(self) -> int:
        return self._map.n_points

    @property
    def native(self) -> _core.EfficiencyMap:
        """The compiled map (``loglike`` etc. without the Python-side conversions)."""
        return self._map

    def _x(self, masses: Sequence[float] | Mapping[str, float]) -> list[float]:
        if isinstance(masses, Mapping):
            unknown = set(masses) - set(self._parameters)
            missing = [p for p in self._parameters if p not in masses]
            if unknown or missing:
                raise ConfigError(
                    f"{self.path}: parameters are {self.parameters}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {sorted(unknown)}" if unknown else "")
                )
            return [float(masses[p]) for p in self._parameters]
        return [float(m) for m in masses]

    @staticmethod
    def _nan(outside: Outside) -> bool:
        if outside not in ("raise", "nan"):
            raise ConfigError(f"outside must be 'raise' or 'nan', got {outside!r}")
        return outside == "nan"

    def contains(self, masses: Sequence[float] | Mapping[str, float]) -> bool:
        """Whether the point is inside the convex hull of the map's points."""
        return self._map.locate(self._x(masses)) is not None

    def efficiencies(
        self, masses: Sequence[float] | Mapping[str, float], *, outside: Outside = "raise"
    ) -> dict[str, tuple[float, float]]:
        """SR -> (interpolated efficiency, its total uncertainty: MC and interpolation)."""
        value, error, _, _ = self._map.efficiencies(self._x(masses), self._nan(outside))
        return dict(zip(self._regions, zip(value.tolist(), error.tolist(), strict=True), strict=True))

    def uncertainties(
        self, masses: Sequence[float] | Mapping[str, float], *, outside: Outside = "raise"
    ) -> dict[str, tuple[float, float]]:
        """SR -> (MC error, interpolation error) of the interpolated efficiency."""
        _, _, mc, interp = self._map.efficiencies(self._x(masses), self._nan(outside))
        return dict(zip(self._regions, zip(mc.tolist(), interp.tolist(), strict=True), strict=True))

    def yields(
        self, masses: Sequence[float] | Mapping[str, float], cross_section_pb: float, *, outside: Outside = "raise"
    ) -> dict[str, float]:
        """SR -> signal yield = efficiency x cross section x 1000 x luminosity_fb."""
        s = self._map.yields(self._x(masses), float(cross_section_pb), self._nan(outside))
        return dict(zip(self._regions, s.tolist(), strict=True))

    def loglike(
        self,
        masses: Sequence[float] | Mapping[str, float],
        cross_section_pb: float,
        mode: Mode = "best",
        *,
        statistic: Statistic = "gaussian",
        outside: Outside = "raise",
    ) -> float | dict[str, float]:
        """Δln L = ln L(s) − ln L(0) of the interpolated yields (native): of the best expected SR
        (``mode="best"``), summed over the SRs as if uncorrelated (``"combined"``, an
        approximation), or per SR (``"per_sr"``: a dict). See the module docstring."""
        x = self._x(masses)
        if mode == "per_sr":
            values, _ = self._map.loglike_regions(x, float(cross_section_pb), statistic, self._nan(outside))
            return dict(zip(self._regions, values.tolist(), strict=True))
        return self._map.loglike(x, float(cross_section_pb), mode, statistic, self._nan(outside))

    def best_region(self, masses: Sequence[float] | Mapping[str, float], cross_section_pb: float) -> str:
        """The SR with the best expected sensitivity at the point (the one ``mode="best"`` uses)."""
        _, k = self._map.loglike_regions(self._x(masses), float(cross_section_pb))
        return self._regions[k]

    def loglike_many(
        self,
        points: npt.ArrayLike,
        cross_section_pb: npt.ArrayLike,
        mode: Literal["best", "combined"] = "best",
        *,
        statistic: Statistic = "gaussian",
    ) -> npt.NDArray[np.float64]:
        """Δln L for many points ((n, d) array; cross sections broadcast to n) in one native call
        (GIL released); NaN outside the hull."""
        x = np.ascontiguousarray(points, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(-1, len(self.parameters))
        xs = np.ascontiguousarray(np.broadcast_to(np.asarray(cross_section_pb, dtype=np.float64), (len(x),)))
        return self._map.loglike_many(x, xs, mode, statistic)

    def __repr__(self) -> str:
        return (
            f"EfficiencyMap({self.analysis!r}, {self.model!r}, parameters={self.parameters}, "
            f"points={self.n_points}, regions={len(self.regions)})"
        )


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "EfficiencyMap",
    "OutsideHullError",
    "export_efficiency_maps",
    "leave_one_out_residuals",
    "map_document",
    "schema",
    "triangulate",
    "validate",
]
