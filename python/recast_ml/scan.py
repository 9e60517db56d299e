"""Model scans on Dask: a grid over a simplified model or a list of SLHA files, one task per point
(generate, one detector pass, every analysis, statistics), results in an SQLite store that loses
nothing and resumes.

The same code runs on this machine (a :class:`distributed.LocalCluster`, one worker process per
core) and on any Dask cluster (``scheduler="tcp://host:8786"``). The driver commits each finished
point in one transaction (``<output>/scan.sqlite``, schema below); re-running the same scan skips
the points already done and retries the failed ones, keeping their error text. A point's seed
derives from the scan seed and the point's key only, so the store does not depend on the order in
which points finish, the number of workers or interruptions.

Store schema (``format = recast_ml/scan``, ``format_version = 2``): table ``meta`` (key → JSON
value), ``points`` (one row per point: status, error, seed, cross section, the best SR over all
analyses with CLs obs/exp, the expected ±1σ band and the observed CLs at σ ± 1σ(theory), r_obs,
r_exp, r_cons, the σ95 upper limits, timing and provenance) and ``regions`` (one row per point ×
analysis × SR with published numbers: yield, MC error, efficiency, CLs, r, S95). Regions are
named as in the analysis definition, the names of ``recast-ml run``'s results (``region``,
``points.best_region``, ``point_variations.region``); ``regions.published_region`` holds the
name in the published tables where the definition maps it (``published:``; else the same). A
store written before that column held the published names in ``region``: opening it renames its
rows (:meth:`ScanStore._rename_published_regions`), so that a resumed scan has one naming. See
``SCHEMA`` for the columns. A scan with generator variations (``variations=``,
:mod:`recast_ml.variations`) adds one row per point to ``point_variations`` (the best SR's CLs with
the signal-modelling uncertainty profiled, the envelope, CLs_obs per member and the robustness
verdict; :data:`VARIATION_COLUMNS`), written in the point's transaction; meta ``variations`` records
the set (a store without that key or table is a scan without variations: it opens and resumes).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._core import ConfigError
from .variations import VariationSet

log = logging.getLogger(__name__)

FORMAT = "recast_ml/scan"
FORMAT_VERSION = 2  # 2: regions named as in the definitions, regions.published_region
#: Pythia 8's largest accepted seed
_MAX_SEED = 900_000_000
#: a mass parameter of 0 (e.g. a massless LSP on the paper's planes) is generated at this mass:
#: Pythia needs a massive particle; the kinematics of TeV-scale decays do not notice 1 GeV
ZERO_MASS_GEV = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
  key TEXT PRIMARY KEY, model TEXT, params TEXT, slha TEXT,
  status TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL, seed INTEGER NOT NULL, n_events INTEGER,
  cross_section_pb REAL, cross_section_rel_error REAL, cross_section_source TEXT,
  best_analysis TEXT, best_region TEXT,
  cls_obs REAL, cls_exp REAL, cls_exp_m1 REAL, cls_exp_p1 REAL, cls_obs_xs_down REAL, cls_obs_xs_up REAL,
  r_obs REAL, r_exp REAL, r_cons REAL, xsec_ul_obs_pb REAL, xsec_ul_exp_pb REAL, excluded INTEGER,
  t_generate REAL, t_engine REAL, t_stats REAL, worker TEXT, finished TEXT, provenance TEXT);
CREATE TABLE IF NOT EXISTS regions (
  point_key TEXT NOT NULL, analysis TEXT NOT NULL, region TEXT NOT NULL,
  yield REAL, yield_error REAL, mc_events INTEGER, efficiency REAL, efficiency_error REAL,
  n_obs REAL, b REAL, b_err REAL,
  cls_obs REAL, cls_exp REAL, r_obs REAL, r_exp REAL, r_cons REAL, s95_obs REAL, s95_exp REAL,
  published_region TEXT,
  PRIMARY KEY (point_key, analysis, region));
CREATE TABLE IF NOT EXISTS point_variations (
  point_key TEXT PRIMARY KEY, names TEXT NOT NULL, analysis TEXT, region TEXT,
  cls_obs REAL, cls_obs_syst REAL, cls_exp_syst REAL, signal_rel_up REAL, signal_rel_down REAL,
  envelope_rel_up REAL, envelope_rel_down REAL, r_cons_syst_obs REAL,
  robust TEXT, excluded_under TEXT, cls_obs_by_member TEXT, cls_obs_all_members REAL, signal_by_member TEXT,
  members_left_out TEXT);
"""
POINT_COLUMNS = (
    "key", "model", "params", "slha", "status", "error", "attempts", "seed", "n_events",
    "cross_section_pb", "cross_section_rel_error", "cross_section_source", "best_analysis", "best_region",
    "cls_obs", "cls_exp", "cls_exp_m1", "cls_exp_p1", "cls_obs_xs_down", "cls_obs_xs_up",
    "r_obs", "r_exp", "r_cons", "xsec_ul_obs_pb", "xsec_ul_exp_pb", "excluded",
    "t_generate", "t_engine", "t_stats", "worker", "finished", "provenance",
)  # fmt: skip
REGION_COLUMNS = (
    "point_key", "analysis", "region", "yield", "yield_error", "mc_events", "efficiency", "efficiency_error",
    "n_obs", "b", "b_err", "cls_obs", "cls_exp", "r_obs", "r_exp", "r_cons", "s95_obs", "s95_exp",
    "published_region",
)  # fmt: skip
#: ``point_variations``: the best SR of the point (the one of ``points``) under the variations.
#: names, excluded_under, cls_obs_by_member, signal_by_member: JSON (the variation names; the members
#: whose CLs_obs < 0.05; member -> CLs_obs of its yields; member -> yield); robust: all/some/none (the
#: exclusion holds under that many members) or no_usable (every member left out: not tested);
#: cls_obs_all_members: the largest CLs_obs over the members (< 0.05: excluded under all of them);
#: members_left_out: JSON, the members with fewer than 10 effective MC events in the SR (not in its
#: envelope, not counted in robust / cls_obs_all_members)
VARIATION_COLUMNS = (
    "point_key", "names", "analysis", "region", "cls_obs", "cls_obs_syst", "cls_exp_syst",
    "signal_rel_up", "signal_rel_down", "envelope_rel_up", "envelope_rel_down", "r_cons_syst_obs",
    "robust", "excluded_under", "cls_obs_by_member", "cls_obs_all_members", "signal_by_member", "members_left_out",
)  # fmt: skip
#: meta keys a store written before them lacks, with the value that absence means
META_DEFAULTS: dict[str, Any] = {"variations": {}, "detector": None}
#: columns that describe how a point was computed (when, where, how long), not what came out
RUN_COLUMNS = frozenset({"t_generate", "t_engine", "t_stats", "worker", "finished", "provenance"})


# ------------------------------------------------------------------------------------------------
# points
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanPoint:
    """One model point: a simplified model with its parameters (GeV) or an SLHA file."""

    key: str
    model: str | None = None
    params: tuple[tuple[str, float], ...] = ()
    slha: str | None = None
    process: str | None = None

    @property
    def masses(self) -> tuple[float, ...]:
        return tuple(v for _, v in self.params)

    def seed(self, scan_seed: int) -> int:
        """The point's Pythia seed: from the scan seed and the point's key only."""
        digest = hashlib.sha256(f"{int(scan_seed)}|{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % (_MAX_SEED - 1) + 1


def _fmt(v: float) -> str:
    return f"{v:g}"


def _axis(name: str, text: str) -> list[float]:
    """'1000:2600:100' (start:stop:step, stop included when on the grid) or '1000,1400,1800'."""
    bad = ConfigError(f"--grid {name}={text}: expected START:STOP:STEP or a comma list of masses (GeV)")
    try:
        parts = [float(x) for x in text.split(":")] if ":" in text else None
        values = [float(x) for x in text.split(",") if x.strip()] if parts is None else []
    except ValueError:
        raise bad from None
    if parts is None:
        if not values:
            raise bad
        return values
    if len(parts) != 3:
        raise bad
    start, stop, step = parts
    if not (step > 0 and stop >= start):
        raise ConfigError(f"--grid {name}={text}: need start <= stop and step > 0")
    n = math.floor((stop - start) / step + 1e-9) + 1
    return [start + k * step for k in range(n)]


def grid_points(model: str, grid: str) -> tuple[list[ScanPoint], list[tuple[str, str]]]:
    """The points of a grid over a simplified model, e.g. ``grid_points("gluino_direct",
    "m_gluino=1000:2600:100 m_lsp=0:1600:100")`` (names as the model's parameters, any case).
    Returns (allowed points, [(key, reason)] of the kinematically forbidden ones, skipped)."""
    from . import slha

    if model not in slha.MODELS:
        raise ConfigError(
            f"unknown simplified model {model!r}; models: {', '.join(map(slha.model_usage, slha.MODELS))}"
        )
    names = [p.strip("[]").lower() for p in slha.MODEL_PARAMETERS[model]]
    axes: dict[str, list[float]] = {}
    for item in grid.split():
        name, sep, values = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in names:
            raise ConfigError(f"--grid {item!r}: expected NAME=VALUES with NAME one of {', '.join(names)} ({model})")
        if name in axes:
            raise ConfigError(f"--grid: {name} given twice")
        axes[name] = _axis(name, values)
    used = [n for n in names if n in axes]
    required = [p.lower() for p in slha.MODEL_PARAMETERS[model] if not p.startswith("[")]
    missing = [n for n in required if n not in axes]
    if missing:
        raise ConfigError(f"--grid: no values for {', '.join(missing)} ({slha.model_usage(model)})")
    if used != names[: len(used)]:
        raise ConfigError(f"--grid: optional parameters of {model} can only be given in order: {', '.join(names)}")
    points: list[tuple[tuple[str, float], ...]] = [()]
    for n in used:
        points = [(*p, (n, v)) for p in points for v in axes[n]]
    allowed, forbidden = [], []
    for params in points:
        key = f"{model}:" + ",".join(f"{n}={_fmt(v)}" for n, v in params)
        masses = [v if v > 0 else ZERO_MASS_GEV for _, v in params]
        try:
            slha.model_spectrum(model, masses)
        except ConfigError as e:
            forbidden.append((key, str(e)))
            continue
        allowed.append(ScanPoint(key=key, model=model, params=params))
    return allowed, forbidden


def slha_points(paths: Iterable[str | os.PathLike[str]], process: str) -> list[ScanPoint]:
    """One point per SLHA file (a folder: its ``*.slha``/``*.slha.txt``/``*.dat`` files, sorted);
    the key is the file name and the SHA-256 of its content, so a changed file is a new point."""
    from .slha import PROCESSES

    if process not in PROCESSES:
        raise ConfigError(f"an SLHA scan needs --process, one of: {', '.join(PROCESSES)}")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.is_file() and x.suffix.lower() in (".slha", ".txt", ".dat"))
            if not found:
                raise ConfigError(f"{p}: no SLHA files (*.slha, *.txt, *.dat) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such SLHA file or folder")
    out = []
    for f in files:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        out.append(ScanPoint(key=f"{process}:{f.name}@{digest}", slha=str(f.resolve()), process=process))
    return out


# ------------------------------------------------------------------------------------------------
# one point (runs on a worker)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointTask:
    point: ScanPoint
    analyses: tuple[str, ...]
    n_events: int
    seed: int
    detector: str | None = None
    threads: int = 1
    cross_section_pb: float | None = None
    #: generator variations (:func:`recast_ml.variations.resolve`), resolved by the driver: the
    #: workers need neither the user's YAML files nor the driver's working directory
    variations: VariationSet | None = None


def _cross_section(point: ScanPoint) -> tuple[float, float, str]:
    """(σ in pb, relative theory uncertainty (0 when unknown), source) of a point: the same
    functions as ``recast-ml run`` (XSECTION blocks of the SLHA file; the packaged tables)."""
    from . import xsec
    from .run import model_cross_section

    if point.slha is not None:
        found = xsec.slha_cross_section(point.slha, point.process or "")
        if found is None:
            raise ConfigError(f"{point.slha}: no XSECTION block for process {point.process}; give the cross section")
    else:
        assert point.model is not None
        found = model_cross_section(point.model, point.masses, f"scan point {point.key}")
    return found.pb, found.rel_error or 0.0, found.source


def expected_band(cls_exp: float) -> tuple[float, float]:
    """(CLs at the −1σ, CLs at the +1σ edge of the expected band) from the median expected CLs, in
    the asymptotic approximation pyhf uses for q̃ (its ``return_expected_set``): with
    √q_A = −Φ⁻¹(CLs_exp / 2), CLs(k) = Φ(−(k + √q_A)) / Φ(−k). −1σ: the background fluctuates down
    by 1σ (k = +1 in pyhf's ordering), the edge with the smaller CLs (more exclusion); +1σ: k = −1.
    Agrees with pyhf's expected set to 1e-5 (tests/test_scan.py)."""
    from statistics import NormalDist

    if not 0.0 < cls_exp < 1.0:
        return cls_exp, cls_exp
    phi = NormalDist()
    sq = -phi.inv_cdf(cls_exp / 2.0)
    return phi.cdf(-(1.0 + sq)) / phi.cdf(-1.0), phi.cdf(1.0 - sq) / phi.cdf(1.0)


def run_point(task: PointTask) -> dict[str, Any]:
    """Generate, reconstruct once, run every analysis, statistics: the store rows of one point
    (``point``, ``regions`` and, with variations, ``variations``: the ``point_variations`` row).
    Never raises for a bad point: the row has status 'failed' and the error text."""
    t_start = time.perf_counter()
    point = task.point
    row = _point_row(task, worker=f"{socket.gethostname()}:{os.getpid()}")
    var_row: dict[str, Any] | None = None
    try:
        regions, timing, var_row = _run_point(task, row)
        row.update(status="done", **timing)
    except Exception as e:  # a failed point is a row, not a lost scan
        log.warning("point %s failed: %s", point.key, e)
        row.update(status="failed", error=f"{type(e).__name__}: {e}", t_engine=time.perf_counter() - t_start)
        regions, var_row = [], None
    row["finished"] = _utc_now()
    return {"point": row, "regions": regions, "variations": var_row}


def _point_row(task: PointTask, **fields: Any) -> dict[str, Any]:
    """A ``points`` row of a task: every column, the point's identity filled in, then ``fields``."""
    row: dict[str, Any] = dict.fromkeys(POINT_COLUMNS)
    row.update(
        key=task.point.key,
        model=task.point.model,
        params=json.dumps(dict(task.point.params)),
        slha=task.point.slha,
        seed=task.point.seed(task.seed),
        n_events=task.n_events,
        **fields,
    )
    return row


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _generator(point: ScanPoint, seed: int, vset: VariationSet, settings: Sequence[str] = ()) -> Any:
    """The point's Pythia generator: its events carry the weight members' weights; ``settings``:
    Pythia lines added (a sample member)."""
    from .pythia import PythiaGenerator, simplified_model_generator

    weights = vset.weight_members or None
    if point.slha is not None:
        from .slha import checked_spectrum, pythia_settings

        assert point.process is not None
        spectrum = checked_spectrum(point.slha, point.process)
        return PythiaGenerator(
            [*pythia_settings(point.process), *settings],
            seed=seed,
            slha=point.slha,
            check_masses=spectrum,
            weight_variations=weights,
        )
    assert point.model is not None
    masses = [v if v > 0 else ZERO_MASS_GEV for v in point.masses]
    return simplified_model_generator(point.model, *masses, seed=seed, settings=settings, weight_variations=weights)


def _run_point(
    task: PointTask, row: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, Any] | None]:
    from . import __version__
    from .analysis import Analysis, run_batches
    from .run import analyse
    from .statistics import cls_many
    from .variations import add_sample_members
    from .variations import apply as apply_variations

    point = task.point
    vset = task.variations or VariationSet()
    if task.cross_section_pb is not None:
        xs, rel, source = task.cross_section_pb, 0.0, "given"
    else:
        xs, rel, source = _cross_section(point)
    row.update(cross_section_pb=xs, cross_section_rel_error=rel, cross_section_source=source)
    if vset.cross_section and not rel:
        raise ConfigError(
            f"--variations xsec: the cross section of {point.key} ({source}) has no theory uncertainty; "
            "leave 'xsec' out of --variations"
        )
    loaded = [Analysis.load(a, detector=task.detector) for a in task.analyses]
    t_generate = 0.0  # Pythia initialisation, then each batch's generation

    def timed(batches: Iterable[Any]) -> Iterator[Any]:
        nonlocal t_generate
        it = iter(batches)
        while True:
            t = time.perf_counter()
            b = next(it, None)
            t_generate += time.perf_counter() - t
            if b is None:
                return
            yield b

    def sample(settings: Sequence[str] = (), weights: Sequence[str] = ()) -> tuple[list[Any], float]:
        """One sample of the point (same seed): its results and the engine's time."""
        nonlocal t_generate
        t0 = time.perf_counter()
        gen = _generator(point, row["seed"], vset if weights else VariationSet(), settings)
        t_generate += time.perf_counter() - t0
        t1 = time.perf_counter()
        before = t_generate
        out = run_batches(
            loaded, timed(gen.batches(task.n_events)), cross_section=xs, threads=task.threads, variations=weights
        )
        return out, time.perf_counter() - t1 - (t_generate - before)

    results, t_engine = sample(weights=list(vset.weight_members))

    def varied(member: str, lines: list[str]) -> list[Any]:  # one more sample, same seed
        nonlocal t_engine
        log.info("point %s: variation %s: one more sample of %d events (%s)", point.key, member, task.n_events, lines)
        out, t = sample(settings=lines)
        t_engine += t
        return out

    add_sample_members(results, vset, varied)
    t2 = time.perf_counter()
    regions: list[dict[str, Any]] = []
    best: tuple[float, str, dict[str, Any], dict[str, Any]] | None = None
    for ana, res in zip(loaded, results, strict=True):
        doc = analyse(ana, res)
        if vset and "statistics" in doc:
            apply_variations(doc["statistics"], res, vset, rel if vset.cross_section else None)
        lumi_pb = (res.luminosity_fb or 0.0) * 1000.0
        for r in doc.get("statistics", {}).get("regions", []):
            s95_obs = r["signal"] / r["r_obs"] if r.get("r_obs") else r.get("s95_obs_model")
            s95_exp = r["signal"] / r["r_exp"] if r.get("r_exp") else r.get("s95_exp_model")
            norm = xs * lumi_pb
            reg = {
                "point_key": point.key,
                "analysis": ana.id,
                "region": r["region"],
                "published_region": r["published_name"],
                "yield": r["signal"],
                "yield_error": r["signal_error"],
                "mc_events": r.get("mc_events"),
                "efficiency": r["signal"] / norm if norm > 0 else None,
                "efficiency_error": r["signal_error"] / norm if norm > 0 else None,
                "n_obs": r["n_obs"],
                "b": r["b"],
                "b_err": r["b_err"],
                "cls_obs": r["cls_obs"],
                "cls_exp": r["cls_exp"],
                "r_obs": r["signal"] / s95_obs if s95_obs else None,
                "r_exp": r["signal"] / s95_exp if s95_exp else None,
                "r_cons": r["r_cons_obs"] if r.get("r_cons_obs") is not None else None,
                "s95_obs": s95_obs,
                "s95_exp": s95_exp,
            }
            regions.append(reg)
            sensitivity = reg["r_exp"] if reg["r_exp"] is not None else -1.0
            if best is None or sensitivity > best[0]:
                best = (sensitivity, ana.id, reg, r)
    var_row = None
    if best is not None:
        _, aid, reg, stat = best
        s = float(reg["yield"])
        m1, p1 = expected_band(float(reg["cls_exp"]))
        obs_xs, _ = cls_many(reg["n_obs"], reg["b"], reg["b_err"], [s * (1 - rel), s * (1 + rel)])
        r_cons = reg["r_cons"]
        if r_cons is None and reg["s95_obs"]:
            from .statistics import conservative_signal

            r_cons = conservative_signal(s, float(reg["yield_error"])) / reg["s95_obs"]
        row.update(
            best_analysis=aid,
            best_region=reg["region"],
            cls_obs=reg["cls_obs"],
            cls_exp=reg["cls_exp"],
            cls_exp_m1=m1,
            cls_exp_p1=p1,
            cls_obs_xs_down=float(obs_xs[0]),
            cls_obs_xs_up=float(obs_xs[1]),
            r_obs=reg["r_obs"],
            r_exp=reg["r_exp"],
            r_cons=r_cons,
            xsec_ul_obs_pb=xs / reg["r_obs"] if reg["r_obs"] else None,
            xsec_ul_exp_pb=xs / reg["r_exp"] if reg["r_exp"] else None,
            excluded=int(reg["cls_obs"] < 0.05),
        )
        if vset:
            var_row = variation_row(point.key, vset, aid, reg["region"], stat)
    row["provenance"] = json.dumps(
        {
            "recast_ml": __version__,
            "analyses": {a.id: hashlib.sha256(a.definition.path.read_bytes()).hexdigest() for a in loaded},
            "cross_section_source": source,
        },
        sort_keys=True,
    )
    timing = {"t_generate": t_generate, "t_engine": t_engine, "t_stats": time.perf_counter() - t2}
    return regions, timing, var_row


def variation_row(key: str, vset: VariationSet, analysis: str, region: str, stat: Mapping[str, Any]) -> dict[str, Any]:
    """The ``point_variations`` row of a point from the statistics row of its best SR after
    :func:`recast_ml.variations.apply`: robust is 'all' when every member's yields exclude
    (CLs_obs < 0.05), 'none' when none does, else 'some', and 'no_usable' when every member is
    left out (the rule of the run's verdict: :func:`recast_ml.variations.robustness`)."""
    from .variations import robustness

    by_member = {m: float(c) for m, c in stat["cls_obs_by_variation"].items()}
    excluded_under, _, robust = robustness(stat)
    left_out = list(stat.get("envelope_members_left_out") or [])
    counted = [c for m, c in by_member.items() if m not in left_out]
    return {
        "point_key": key,
        "names": json.dumps(vset.names),
        "analysis": analysis,
        "region": region,
        "cls_obs": stat["cls_obs"],
        "cls_obs_syst": stat["cls_obs_syst"],
        "cls_exp_syst": stat["cls_exp_syst"],
        "signal_rel_up": stat["signal_rel_up"],
        "signal_rel_down": stat["signal_rel_down"],
        "envelope_rel_up": stat["signal_envelope_rel_up"],
        "envelope_rel_down": stat["signal_envelope_rel_down"],
        "r_cons_syst_obs": stat.get("r_cons_syst_obs"),
        "robust": robust,
        "excluded_under": json.dumps(excluded_under),
        "cls_obs_by_member": json.dumps(by_member),
        "cls_obs_all_members": max(counted) if counted else None,
        "signal_by_member": json.dumps({m: v["signal"] for m, v in stat.get("signal_variations", {}).items()}),
        "members_left_out": json.dumps(left_out),
    }


# ------------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------------
class ScanStore:
    """The SQLite store of a scan. ``meta`` identifies the scan: opening an existing store with a
    different one is a ConfigError (a folder holds one scan)."""

    def __init__(self, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:  # another file of that name ("file is not a database")
            self.conn.close()
            raise ConfigError(f"not a scan store ({e}); give another output folder", file=str(self.path)) from None
        if not self._has_published_region():
            self._rename_published_regions()
        if meta is not None:
            self._check_meta(meta)

    def _has_published_region(self) -> bool:
        return "published_region" in {r[1] for r in self.conn.execute("PRAGMA table_info(regions)")}

    def _rename_published_regions(self) -> None:
        """A store of format version 1 (before ``regions.published_region``): its ``region``,
        ``best_region`` and ``point_variations.region`` hold the published SR names. Renamed to the
        analysis definition's region names (the published ones kept in ``published_region``) and
        marked format version 2, in one transaction; an analysis whose definition cannot be loaded
        (by the names the scan was given, ``meta["analyses"]``, or its ID) keeps its names. Safe
        when another process migrates the same store at the same time (the column is looked for
        again inside the transaction), and when a published name is another region's name in the
        definition (renamed through temporary names, so that no rename feeds another)."""
        from .analysis import Definition, find_definition, load_definition

        definitions: dict[str, Definition] = {}
        for given in self.meta().get("analyses") or []:
            try:
                d = load_definition(find_definition(given))
            except (ConfigError, OSError):
                continue
            definitions[d.id] = d
        renames: dict[str, list[tuple[str, str]]] = {}  # analysis -> [(definition name, published name)]
        for (analysis,) in self.conn.execute("SELECT DISTINCT analysis FROM regions").fetchall():
            try:
                d = definitions.get(analysis) or load_definition(find_definition(analysis))
            except (ConfigError, OSError) as e:  # a definition that is gone: the old names stay
                log.warning("%s: %s: region names kept as published (%s)", self.path, analysis, e)
                continue
            renames[analysis] = [(name, pub) for name, pub in d.published_names().items() if name != pub]
        updates = (
            "UPDATE regions SET region = ? WHERE analysis = ? AND region = ?",
            "UPDATE points SET best_region = ? WHERE best_analysis = ? AND best_region = ?",
            "UPDATE point_variations SET region = ? WHERE analysis = ? AND region = ?",
        )
        with self.transaction():
            if self._has_published_region():  # another process migrated it meanwhile
                return
            self.conn.execute("ALTER TABLE regions ADD COLUMN published_region TEXT")
            self.conn.execute("UPDATE regions SET published_region = region")
            for analysis, pairs in renames.items():
                for _, pub in pairs:  # first to names no region has, then to the definition's
                    for sql in updates:
                        self.conn.execute(sql, ("\x1f" + pub, analysis, pub))
                for name, pub in pairs:
                    for sql in updates:
                        self.conn.execute(sql, (name, analysis, "\x1f" + pub))
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (json.dumps(FORMAT_VERSION),))

    def _check_meta(self, meta: Mapping[str, Any]) -> None:
        stored = self.meta()
        want = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
        # a key added to the meta after a store was written: its absence means the default
        have = {**META_DEFAULTS, **stored} if stored else {}
        if not have:
            with self.transaction():
                self.conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in want.items()]
                )
            return
        differ = [k for k in want if k in have and have[k] != json.loads(json.dumps(want[k]))]
        if differ:
            what = ", ".join(f"{k}: {have[k]!r} here, {want[k]!r} asked" for k in differ)
            raise ConfigError(f"holds a different scan ({what}); use another output folder", file=str(self.path))

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def statuses(self) -> dict[str, tuple[str, int, str | None]]:
        """key -> (status, attempts, error)."""
        return {k: (s, a, e) for k, s, a, e in self.conn.execute("SELECT key, status, attempts, error FROM points")}

    def commit(self, result: Mapping[str, Any]) -> None:
        """One point's rows in one transaction (replacing an earlier failed attempt; attempts
        counted, the earlier error kept in the text of a new failure)."""
        row = dict(result["point"])
        prev = self.conn.execute("SELECT attempts, error FROM points WHERE key = ?", (row["key"],)).fetchone()
        row["attempts"] = (prev[0] if prev else 0) + 1
        if row["status"] == "failed" and prev and prev[1]:
            row["error"] = f"{row['error']} (attempt {row['attempts']}; before: {prev[1]})"
        var_row = result.get("variations")
        with self.transaction():
            self.conn.execute("DELETE FROM regions WHERE point_key = ?", (row["key"],))
            self.conn.execute("DELETE FROM point_variations WHERE point_key = ?", (row["key"],))
            cols = ", ".join(POINT_COLUMNS)
            marks = ", ".join("?" for _ in POINT_COLUMNS)
            self.conn.execute(
                f"INSERT OR REPLACE INTO points ({cols}) VALUES ({marks})", [row[c] for c in POINT_COLUMNS]
            )
            self.conn.executemany(
                f"INSERT INTO regions ({', '.join(REGION_COLUMNS)}) VALUES ({', '.join('?' for _ in REGION_COLUMNS)})",
                [[r[c] for c in REGION_COLUMNS] for r in result["regions"]],
            )
            if var_row is not None:
                self.conn.execute(
                    f"INSERT INTO point_variations ({', '.join(VARIATION_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in VARIATION_COLUMNS)})",
                    [var_row[c] for c in VARIATION_COLUMNS],
                )

    def points(self, status: str | None = "done") -> list[dict[str, Any]]:
        cur = self.conn.execute(
            f"SELECT {', '.join(POINT_COLUMNS)} FROM points"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY key",
            (status,) if status else (),
        )
        return [dict(zip(POINT_COLUMNS, r, strict=True)) for r in cur]

    def regions(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(REGION_COLUMNS)} FROM regions ORDER BY point_key, analysis, region")
        return [dict(zip(REGION_COLUMNS, r, strict=True)) for r in cur]

    def variations(self) -> dict[str, dict[str, Any]]:
        """point key -> its ``point_variations`` row, the JSON columns decoded (empty for a scan
        without variations)."""
        cur = self.conn.execute(f"SELECT {', '.join(VARIATION_COLUMNS)} FROM point_variations ORDER BY point_key")
        out = {}
        for values in cur:
            row = dict(zip(VARIATION_COLUMNS, values, strict=True))
            for c in ("names", "excluded_under", "cls_obs_by_member", "signal_by_member", "members_left_out"):
                row[c] = json.loads(row[c]) if row[c] is not None else None
            out[row["point_key"]] = row
        return out

    def close(self) -> None:
        """Checkpoint the WAL into the file and leave WAL mode, so that only the store file remains
        (a read-only reader, e.g. the efficiency-map export, then adds no -wal/-shm beside it);
        opening the store again returns it to WAL mode."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as e:  # another connection still open: it keeps the WAL, nothing lost
            log.debug("%s: WAL left in place (%s)", self.path, e)
        self.conn.close()


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


# ------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------
class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C during a scan, after the driver closed the cluster and the store: ``str()`` says how
    far it got and how to resume (the CLI prints ``recast-ml: interrupted <that>``)."""


@dataclass
class ScanSummary:
    store: Path
    total: int
    done: int
    failed: int
    skipped_done: int
    forbidden: int
    seconds: float
    failures: dict[str, str] = field(default_factory=dict)


def run_scan(
    points: Sequence[ScanPoint],
    *,
    analyses: Sequence[str],
    n_events: int,
    output: str | os.PathLike[str],
    seed: int = 1,
    meta: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str = "auto",
    detector: str | None = None,
    retries: int = 2,
    progress: bool = False,
    forbidden: int = 0,
    cross_section_pb: float | None = None,
    variations: str | Sequence[str] | None = None,
) -> ScanSummary:
    """Run the points not yet done in ``output/scan.sqlite`` on a Dask cluster (a LocalCluster of
    ``workers`` processes, default one per core, or the cluster at ``scheduler``); each finished
    point is committed by this process in one transaction. A worker that dies takes its task to
    another worker (Dask's ``allowed-failures``); ``retries`` re-runs a task whose worker raised.
    Ctrl-C (KeyboardInterrupt): the cluster and the store are closed, the points done kept, and
    :class:`ScanInterrupted` says how far the scan got (the same call again resumes it).

    ``variations``: generator variations (``"isr,fsr,xsec"``, ``"default"``, ...:
    :func:`recast_ml.variations.resolve`) computed at every point (table ``point_variations``);
    weight members cost no extra events, each sample member one more sample per point. Recorded in
    the meta: resuming a store with other variations is refused."""
    from .analysis import find_definition
    from .catalogue import expand_names
    from .variations import resolve

    if n_events <= 0:
        raise ConfigError(f"--n-events must be positive, got {n_events}")
    names = tuple(expand_names(list(analyses)) or expand_names(["all"]))
    for name in names:  # before the store and the workers: one line, not a failure per point
        find_definition(name)
    vset = resolve(variations)
    if cross_section_pb is None:  # before the workers start: one line, not a failure per point
        _check_cross_sections(points)
    if vset:  # before the store is made: a refused scan leaves nothing behind
        _check_variations(vset, points, cross_section_pb)
        log.info("variations: %s", variations_cost(vset, n_events))
    t0 = time.perf_counter()
    out = Path(output)
    store = ScanStore(
        out / "scan.sqlite",
        {
            **(meta or {}),
            "analyses": list(names),
            "n_events": int(n_events),
            "seed": int(seed),
            "variations": variations_meta(vset),
            "detector": detector,  # None: each analysis' own card
        },
    )
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise ConfigError("the scan has duplicate points")
    status = store.statuses()
    todo = [p for p in points if status.get(p.key, ("", 0, None))[0] != "done"]
    skipped = len(points) - len(todo)
    retried = sum(1 for p in todo if p.key in status)
    log.info(
        "%d points: %d done before, %d to run (%d failed before, retried)", len(points), skipped, len(todo), retried
    )
    done = failed = 0
    failures: dict[str, str] = {}
    if todo:
        tasks = [
            PointTask(
                p,
                names,
                n_events,
                seed,
                detector=detector,
                threads=threads_per_worker,
                cross_section_pb=cross_section_pb,
                variations=vset if vset else None,
            )
            for p in todo
        ]
        results = _execute(tasks, scheduler, workers, threads_per_worker, memory_limit, retries, progress)
        try:
            with closing(results):  # the cluster closed, whatever stops the loop
                for result in results:
                    store.commit(result)  # one transaction: an interrupt in it rolls the point back
                    if result["point"]["status"] == "done":
                        done += 1
                    else:
                        failed += 1
                        failures[result["point"]["key"]] = str(result["point"]["error"])
        except KeyboardInterrupt:
            with _no_interrupts():
                store.close()
            raise ScanInterrupted(
                f"after {done + failed} of the {len(todo)} points to run ({done} done, {failed} failed; "
                f"{skipped} done before); {store.path} keeps the points done (the contours and the report are "
                "written when the scan ends): run the same command again to resume"
            ) from None
    store.close()
    return ScanSummary(
        out / "scan.sqlite", len(points), done, failed, skipped, forbidden, time.perf_counter() - t0, failures
    )


def variations_meta(vset: VariationSet) -> dict[str, Any]:
    """What the store's meta records of the variations (name -> kind and members: a user file that
    redefines a name is another scan); ``{}`` without variations."""
    return {v.name: {"kind": v.kind, "members": dict(v.members)} for v in vset.variations}


def variations_cost(vset: VariationSet, n_events: int) -> str:
    """One line: what the variations cost per point."""
    parts = []
    if vset.weight_members:
        parts.append(f"{', '.join(vset.weight_members)} as Pythia weights of the nominal sample (no extra events)")
    for m in vset.sample_members:
        parts.append(f"{m}: one more sample of {n_events} events per point")
    if vset.cross_section:
        parts.append("xsec from the cross section's theory uncertainty (no extra events)")
    n = 1 + len(vset.sample_members)
    return "; ".join(parts) + f" -> {n} sample(s) per point ({n}x the nominal events)"


def _check_cross_sections(points: Sequence[ScanPoint]) -> None:
    """Refuses an SLHA scan before it starts when a file has no XSECTION block for the process (each
    point would fail on its worker: a scan takes σ from the file only)."""
    from . import xsec

    lacking = [p for p in points if p.slha is not None and xsec.slha_cross_section(p.slha, p.process or "") is None]
    if not lacking:
        return
    more = f" (and {len(lacking) - 1} more of the {len(points)} files)" if len(lacking) > 1 else ""
    raise ConfigError(
        f"no XSECTION block for process {lacking[0].process}{more}: a scan takes each point's cross section from "
        "its SLHA file; add XSECTION blocks for the process (e.g. from NNLL-fast or Resummino), or scan a "
        "simplified model whose cross-section table recast-ml has (--model ... --grid ...)",
        file=lacking[0].slha,
    )


def _check_variations(vset: VariationSet, points: Sequence[ScanPoint], cross_section_pb: float | None) -> None:
    """Refuses the scan before it starts when the ``xsec`` variation is asked and a point's cross
    section has no theory uncertainty (a point whose σ cannot be found at all fails on its own)."""
    if not vset.cross_section:
        return
    if cross_section_pb is not None:
        raise ConfigError(
            "--variations xsec: a cross section given as a number has no theory uncertainty; leave 'xsec' out"
        )
    lacking = []
    for p in points:
        try:
            _, rel, source = _cross_section(p)
        except ConfigError:
            continue
        if not rel:
            lacking.append(f"{p.key} ({source})")
    if lacking:
        shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        raise ConfigError(
            f"--variations xsec: the cross section of {len(lacking)} point(s) has no theory uncertainty: {shown}; "
            "give SLHA files with scale variations in their XSECTION blocks, or leave 'xsec' out of --variations"
        )


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """SIGINT ignored inside (in the main thread; elsewhere nothing changes): the local cluster's
    processes, started inside, inherit it, so a Ctrl-C at the terminal, which signals the whole
    process group, reaches only the driver, which then closes them in order; and a second Ctrl-C
    does not cut that closing short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _local_cluster(n_workers: int, threads_per_worker: int, memory_limit: str) -> Any:
    """The scan's local Dask cluster: one process per worker, whose processes ignore SIGINT
    (started under :func:`_no_interrupts`; the preload :mod:`recast_ml._dask_worker` for the
    workers Dask restarts after one was lost), so that Ctrl-C reaches only the driver."""
    from distributed import LocalCluster

    with _no_interrupts():
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            preload=["recast_ml._dask_worker"],
        )


def _execute(
    tasks: Sequence[PointTask],
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int,
    memory_limit: str,
    retries: int,
    progress: bool,
) -> Generator[dict[str, Any], None, None]:
    """Results of the tasks as they finish, from a Dask cluster. The local cluster's processes
    ignore SIGINT: started under :func:`_no_interrupts` (a Ctrl-C while it starts, a second or so,
    is not seen), and each worker, restarted ones too, through the preload
    :mod:`recast_ml._dask_worker`. Closing the generator, or an interrupt in it, closes the client
    and the local cluster; the points running on a remote cluster (``scheduler``) finish there, the
    others are released."""
    from distributed import Client, as_completed

    # the scheduler runs in this process: its INFO lines (workers joining, closing) are noise here
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler is None:
        cluster = _local_cluster(workers or os.cpu_count() or 1, threads_per_worker, memory_limit)
        client = Client(cluster)  # type: ignore[no-untyped-call]
    else:
        try:
            client = Client(scheduler)  # type: ignore[no-untyped-call]
        except ValueError as e:  # not an address ("missing port number in address ...")
            raise ConfigError(f"--scheduler {scheduler}: {e} (expected e.g. tcp://host:8786)") from None
        except OSError as e:  # nothing answers there (a timeout after distributed's connect timeout)
            raise ConfigError(f"--scheduler {scheduler}: no Dask scheduler reached ({e})") from None
    bar = None
    try:
        log.info("Dask dashboard: %s", client.dashboard_link)
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
        futures = [client.submit(run_point, t, key=f"point-{t.point.key}", pure=False, retries=retries) for t in tasks]
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), unit="point", desc="scan")
        n_failed = 0
        for fut in as_completed(futures):  # type: ignore[no-untyped-call]
            task = by_key[fut.key]
            try:
                result = fut.result()
            except Exception as e:  # its worker died too often (KilledWorker), or it raised on every retry
                error = f"{type(e).__name__}: {e}"
                result = {"point": _point_row(task, status="failed", error=error, finished=_utc_now()), "regions": []}
            if result["point"]["status"] != "done":
                n_failed += 1
            if bar is not None:
                bar.set_postfix(failed=n_failed)
                bar.update(1)
            fut.release()
            yield result
    finally:
        with _no_interrupts():  # interrupted or not: the workers stopped before the scheduler
            if bar is not None:
                bar.close()
            # the scheduler runs in this process: closing it while a result is being gathered (an
            # interrupt) logged "ERROR distributed.scheduler: Couldn't gather keys ... 'forgotten'"
            # after the interrupted line; the results are all yielded or abandoned by now
            dask_log = logging.getLogger("distributed")
            level = dask_log.level
            dask_log.setLevel(logging.CRITICAL)
            try:
                client.close()  # type: ignore[no-untyped-call]
                if cluster is not None:
                    cluster.close()
            finally:
                dask_log.setLevel(level)


# ------------------------------------------------------------------------------------------------
# adaptive refinement
# ------------------------------------------------------------------------------------------------
def refinement_points(store: ScanStore, column: str = "cls_obs", level: float = 0.05) -> list[ScanPoint]:
    """New points where the CLs of ``column`` crosses ``level`` between neighbours: the midpoints
    (rounded to 1 GeV) of the Delaunay edges of the done points whose ends lie on opposite sides,
    kinematically allowed and not in the store yet."""
    from scipy.spatial import Delaunay, QhullError

    from . import slha

    meta = store.meta()
    model, names = meta.get("model"), list(meta.get("parameters") or [])
    if not model or len(names) != 2:
        raise ConfigError("adaptive refinement needs a scan of a simplified model over two parameters")
    done = [p for p in store.points("done") if p[column] is not None]
    known = set(store.statuses())
    if len(done) < 3:
        return []
    import numpy as np

    xy = np.array([[json.loads(p["params"])[n] for n in names] for p in done], dtype=float)
    side = np.array([p[column] < level for p in done])
    try:
        tri = Delaunay(xy)
    except QhullError:
        return []
    edges = {
        tuple(sorted((int(a), int(b)))) for t in tri.simplices for a, b in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))
    }
    out: dict[str, ScanPoint] = {}
    for a, b in sorted(edges):
        if side[a] == side[b]:
            continue
        mid = [round((xy[a, k] + xy[b, k]) / 2.0) for k in range(2)]
        params = tuple((n, float(v)) for n, v in zip(names, mid, strict=True))
        key = f"{model}:" + ",".join(f"{n}={_fmt(v)}" for n, v in params)
        if key in known or key in out:
            continue
        try:
            slha.model_spectrum(model, [v if v > 0 else ZERO_MASS_GEV for _, v in params])
        except ConfigError:
            continue
        out[key] = ScanPoint(key=key, model=model, params=params)
    return list(out.values())


def contour_shift(old: Sequence[Sequence[tuple[float, float]]], new: Sequence[Sequence[tuple[float, float]]]) -> float:
    """How far a contour moved (GeV): the largest distance from a vertex of either version to the
    nearest segment of the other (the symmetric Hausdorff distance of the polylines); inf when one
    of them is empty and the other is not."""
    import numpy as np

    def segments(lines: Sequence[Sequence[tuple[float, float]]]) -> Any:
        segs = [(a, b) for line in lines for a, b in itertools.pairwise(line)]
        return np.array(segs, dtype=float).reshape(-1, 2, 2)

    def farthest(points: Sequence[Sequence[tuple[float, float]]], segs: Any) -> float:
        pts = np.array([v for line in points for v in line], dtype=float).reshape(-1, 2)
        if len(pts) == 0:
            return 0.0
        a, b = segs[:, 0][None], segs[:, 1][None]
        p = pts[:, None]
        ab = b - a
        t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-300), 0.0, 1.0)
        d = np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)
        return float(d.min(axis=1).max())

    s_old, s_new = segments(old), segments(new)
    if len(s_old) == 0 and len(s_new) == 0:
        return 0.0
    if len(s_old) == 0 or len(s_new) == 0:
        return math.inf
    return max(farthest(old, s_new), farthest(new, s_old))


def refine(
    points: Sequence[ScanPoint], *, tolerance: float, rounds: int = 4, column: str = "cls_obs", **run: Any
) -> list[ScanSummary]:
    """Adaptive refinement after a grid (``run``: the arguments of :func:`run_scan`): add the points
    of :func:`refinement_points`, run them, and repeat until the CLs = 0.05 contour of ``column``
    moves less than ``tolerance`` GeV, no point is added, or after ``rounds`` rounds. Deterministic
    in the store's content, so re-running a refined scan re-derives the same points (done: skipped)."""
    from .scan_outputs import CONTOURS, contours

    name = next(k for k, v in CONTOURS.items() if v == column)
    path = Path(run["output"]) / "scan.sqlite"
    all_points = list(points)
    summaries = []
    for k in range(rounds):
        store = ScanStore(path)
        before = contours(store)[name]
        new = refinement_points(store, column)
        store.close()
        if not new:
            log.info("refinement round %d: no CLs crossing left to refine", k + 1)
            break
        all_points += new
        log.info("refinement round %d: %d new points", k + 1, len(new))
        summaries.append(run_scan(all_points, **run))
        store = ScanStore(path)
        shift = contour_shift(before, contours(store)[name])
        store.close()
        log.info("refinement round %d: the %s contour moved by %.3g GeV", k + 1, name, shift)
        if shift < tolerance:
            break
    return summaries
