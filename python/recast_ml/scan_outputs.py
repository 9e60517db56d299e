"""Outputs of a two-parameter scan: exclusion contours (expected with its ±1σ band, observed with
the ±1σ theory-cross-section lines, as the experiments draw them) as JSON and CSV, and the scan
plot (contours over the point grid, each point marked with its best SR) in ``scan_report.html``.

Contours are the CLs = 0.05 level lines, computed by matplotlib's triangulated contouring
(``tricontour``) of log10(CLs) over the points done: exact at the points, linear in log10(CLs)
between them (CLs falls roughly exponentially with the signal, so this interpolates far better
than CLs itself). Which side is excluded: CLs < 0.05.

A scan with generator variations (table ``point_variations``) adds two observed contours, from the
best SR of each point: ``observed_signal_syst`` (CLs_obs with the signal-modelling uncertainty
profiled, :func:`recast_ml.variations.apply`) and ``observed_all_variations`` (the largest CLs_obs
over the variation members: inside it the point is excluded under every member).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .scan import ScanStore
from .statistics import MIN_MC_EVENTS, unreliable
from .variations import NO_USABLE

log = logging.getLogger(__name__)

CL_LEVEL = 0.05
#: contour name -> the store column whose CLs = 0.05 line it is
CONTOURS = {
    "expected": "cls_exp",
    "expected_minus_1sigma": "cls_exp_m1",
    "expected_plus_1sigma": "cls_exp_p1",
    "observed": "cls_obs",
    "observed_theory_minus_1sigma": "cls_obs_xs_down",
    "observed_theory_plus_1sigma": "cls_obs_xs_up",
}
#: the contours of a scan with generator variations (``point_variations`` columns)
VARIATION_CONTOURS = {
    "observed_signal_syst": "cls_obs_syst",
    "observed_all_variations": "cls_obs_all_members",
}
_STYLE: dict[str, dict[str, Any]] = {
    "expected": {"color": "k", "ls": "--", "lw": 1.5, "label": "expected"},
    "expected_minus_1sigma": {"color": "gold", "ls": "-", "lw": 1.0, "label": r"expected $\pm 1\sigma$"},
    "expected_plus_1sigma": {"color": "gold", "ls": "-", "lw": 1.0, "label": None},
    "observed": {"color": "tab:red", "ls": "-", "lw": 2.0, "label": "observed"},
    "observed_theory_minus_1sigma": {
        "color": "tab:red", "ls": ":", "lw": 1.0, "label": r"observed $\pm 1\sigma_{theory}$"
    },
    "observed_theory_plus_1sigma": {"color": "tab:red", "ls": ":", "lw": 1.0, "label": None},
    "observed_signal_syst": {
        "color": "tab:blue", "ls": "-", "lw": 1.5, "label": "observed, signal-modelling unc. profiled"
    },
    "observed_all_variations": {
        "color": "tab:purple", "ls": "-.", "lw": 1.5, "label": "observed, excluded under all variations"
    },
}  # fmt: skip


def _best_rows(store: ScanStore) -> dict[str, dict[str, Any] | None]:
    """point key -> the ``regions`` row of its best SR (None where the store has none)."""
    rows = {(r["point_key"], r["analysis"], r["region"]): r for r in store.regions()}
    return {p["key"]: rows.get((p["key"], p["best_analysis"], p["best_region"])) for p in store.points("done")}


def best_mc_events(store: ScanStore) -> dict[str, int | None]:
    """point key -> the MC events passing its best SR (None where the store has no count)."""
    return {k: None if r is None else r["mc_events"] for k, r in _best_rows(store).items()}


def region_label(region: str, published: str | None) -> str:
    """A region as ``recast-ml run`` names it (the analysis definition's name), with the name of the
    published tables in brackets where the analysis maps it to another one."""
    return f"{region} [{published}]" if published and published != region else region


def best_sr_labels(store: ScanStore) -> dict[str, str]:
    """point key -> its best SR, ``"ANALYSIS: REGION"`` (:func:`region_label`), or "no SR"."""
    rows = _best_rows(store)
    out = {}
    for p in store.points("done"):
        if not p["best_region"]:
            out[p["key"]] = "no SR"
            continue
        row = rows.get(p["key"])
        published = None if row is None else row["published_region"]
        out[p["key"]] = f"{p['best_analysis']}: {region_label(p['best_region'], published)}"
    return out


def in_parameter_order(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points by model, then by their parameters as numbers (the store's key order put
    m_lsp=1000 before m_lsp=200), then by key (SLHA points: their file)."""

    def order(p: dict[str, Any]) -> tuple[str, tuple[float, ...], str]:
        try:
            values = tuple(float(v) for v in (json.loads(p["params"] or "{}") or {}).values())
        except (TypeError, ValueError, AttributeError):
            values = ()
        return (p["model"] or "", values, p["key"])

    return sorted(points, key=order)


def summary_lines(store: ScanStore, limit: int = 20) -> list[str]:
    """The terminal summary of a scan: counts (excluded, unreliable), then one line per point (the
    first ``limit`` in parameter order, :func:`in_parameter_order`): verdict, best SR, r_obs and the
    UNRELIABLE flag."""
    points = in_parameter_order(store.points("done"))
    if not points:  # every point failed (their errors follow) or none ran
        return ["no point is done: nothing is excluded or allowed yet"]
    mc = best_mc_events(store)
    labels = best_sr_labels(store)
    flagged = [p for p in points if unreliable(mc[p["key"]])]
    n_excl = sum(1 for p in points if p["excluded"])
    n_excl_flagged = sum(1 for p in flagged if p["excluded"])
    lines = [
        f"{n_excl} of the {len(points)} points done are excluded at 95% CL (observed CLs < 0.05 in the best "
        "expected SR); "
        f"{len(flagged)} UNRELIABLE (best SR on fewer than {MIN_MC_EVENTS} MC events), {n_excl_flagged} of them "
        "excluded"
    ]
    width = max(len(p["key"]) for p in points[:limit])
    for p in points[:limit]:
        verdict = "EXCLUDED" if p["excluded"] else "not excluded"
        # three decimals: an r_obs of 1.0026 printed as "1" beside EXCLUDED read as a contradiction
        r = p["r_obs"]
        r_obs = "-" if r is None else format(r, ".3f") if abs(r) >= 0.01 or r == 0 else format(r, ".2g")
        sr = labels[p["key"]]
        flag = f"  UNRELIABLE ({mc[p['key']]} MC events)" if unreliable(mc[p["key"]]) else ""
        lines.append(f"  {p['key']:<{width}}  {verdict:<12}  {sr}  r_obs {r_obs}{flag}")
    if len(points) > limit:
        lines.append(f"  ... and {len(points) - limit} more points (all in scan_report.html)")
    return lines


def _grid(store: ScanStore) -> tuple[list[str], list[dict[str, Any]]]:
    """(parameter names, the done points): each point with its ``point_variations`` row under
    ``"variations"`` (None without) and that row's contour columns (:data:`VARIATION_CONTOURS`)."""
    names = list(store.meta().get("parameters") or [])
    points = store.points("done")
    varied = store.variations()
    for p in points:
        v = varied.get(p["key"])
        p["variations"] = v
        for column in VARIATION_CONTOURS.values():
            p[column] = v[column] if v is not None else None
    if not names and points:
        names = list(json.loads(points[0]["params"]))
    return names, points


def _contour_columns(points: list[dict[str, Any]]) -> dict[str, str]:
    """The contours a scan has: :data:`CONTOURS`, and :data:`VARIATION_CONTOURS` when its points
    carry variations."""
    if any(p.get("variations") for p in points):
        return {**CONTOURS, **VARIATION_CONTOURS}
    return dict(CONTOURS)


_SAID_ON_ONE_LINE: set[Path] = set()
_SAID_NOT_CROSSED: set[Path] = set()


def contours(store: ScanStore) -> dict[str, list[list[tuple[float, float]]]]:
    """Per contour (:data:`CONTOURS`, and :data:`VARIATION_CONTOURS` for a scan with variations),
    its CLs = 0.05 lines as lists of (x, y) vertices in the scan's two parameters (GeV). Empty where
    the level is not crossed or fewer than 3 points."""
    from .report import pyplot

    plt = pyplot()  # the Agg backend, before anything else of matplotlib
    from matplotlib.tri import Triangulation

    names, points = _grid(store)
    if len(names) != 2:
        raise ValueError(f"contours need a two-parameter scan, this one has {names}")
    columns = _contour_columns(points)
    out: dict[str, list[list[tuple[float, float]]]] = {k: [] for k in columns}
    xy = np.array([[json.loads(p["params"])[n] for n in names] for p in points], dtype=float)
    if len(xy) < 3:
        return out
    if np.linalg.matrix_rank(xy - xy.mean(axis=0)) < 2:  # on one line: qhull would print warnings
        if store.path not in _SAID_ON_ONE_LINE:  # once per store (the files and the plot both ask)
            _SAID_ON_ONE_LINE.add(store.path)
            log.warning("no contours: the points lie on one line (a contour needs two values of each parameter)")
        return out
    try:
        tri = Triangulation(xy[:, 0], xy[:, 1])
    except (ValueError, RuntimeError) as e:  # collinear points
        log.warning("no contours: the points cannot be triangulated (%s)", e)
        return out
    fig, ax = plt.subplots()
    try:
        for name, column in columns.items():
            z = np.array([p[column] if p[column] is not None else np.nan for p in points], dtype=float)
            ok = np.isfinite(z)
            if ok.sum() < 3:
                continue
            logz = np.log10(np.clip(np.where(ok, z, 1.0), 1e-300, None))
            mask = ~np.all(ok[tri.triangles], axis=1)
            tri.set_mask(mask)
            below = (logz[ok] < math.log10(CL_LEVEL)).all()
            if below or (logz[ok] > math.log10(CL_LEVEL)).all():
                if name == "observed" and store.path not in _SAID_NOT_CROSSED:  # once (files and plot ask)
                    _SAID_NOT_CROSSED.add(store.path)
                    log.warning(
                        "no observed contour: every point is %s (CLs_obs %s %g); a contour needs points on "
                        "both sides (extend the grid)",
                        *(("excluded", "<", CL_LEVEL) if below else ("not excluded", ">", CL_LEVEL)),
                    )
                continue
            cs = ax.tricontour(tri, logz, levels=[math.log10(CL_LEVEL)])
            out[name] = [[(float(x), float(y)) for x, y in seg] for seg in cs.allsegs[0] if len(seg) >= 2]
            tri.set_mask(None)
    finally:
        plt.close(fig)
    return out


def write_contours(store: ScanStore, directory: Path) -> dict[str, Path]:
    """``contours.json`` (format recast_ml/contours v1) and one CSV per contour (columns: line,
    x, y: each line's vertices in order)."""
    names, _ = _grid(store)
    lines = contours(store)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "recast_ml/contours",
        "format_version": 1,
        "parameters": names,
        "units": "GeV",
        "level": f"CLs = {CL_LEVEL} (95% CL exclusion; CLs below it excluded)",
        "method": "matplotlib tricontour of log10(CLs) over the points done (Delaunay triangulation)",
        "contours": {k: [[list(v) for v in seg] for seg in segs] for k, segs in lines.items()},
    }
    if any(k in VARIATION_CONTOURS for k in lines):
        doc["variations"] = store.meta().get("variations") or {}
        doc["descriptions"] = {
            "observed_signal_syst": "observed, with the signal-modelling uncertainty (the envelope of the generator "
            "variations, with the cross section's theory uncertainty when xsec is among them) profiled as a signal "
            "nuisance parameter in the best SR",
            "observed_all_variations": "observed, the largest CLs over the variation members in the best SR: inside "
            "it the point is excluded under every member",
        }
    files = {"json": directory / "contours.json"}
    files["json"].write_text(json.dumps(doc, indent=1))
    for name, segs in lines.items():
        path = directory / f"contour_{name}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            f.write(f"# {name} exclusion contour (CLs = {CL_LEVEL}) of {store.path.name}; GeV\n")
            w.writerow(["line", *names])
            for i, seg in enumerate(segs):
                for x, y in seg:
                    w.writerow([i, f"{x:.6g}", f"{y:.6g}"])
        files[name] = path
    return files


def plot(store: ScanStore, path: Path, title: str = "") -> Path:
    """The scan plot (:func:`figure`) as a PNG."""
    from .report import pyplot

    plt = pyplot()
    fig = figure(store, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure(store: ScanStore, title: str = "") -> Any:
    """The scan plot: contours, the points (filled: excluded at 95% CL observed), coloured by the
    SR that decides each point (a matplotlib Figure; the caller closes it)."""
    from .report import pyplot

    plt = pyplot()
    names, points = _grid(store)
    lines = contours(store)
    fig, ax = plt.subplots(figsize=(11, 6))
    # expected band
    for name, segs in lines.items():
        st = _STYLE[name]
        for k, seg in enumerate(segs):
            arr = np.array(seg)
            ax.plot(
                arr[:, 0],
                arr[:, 1],
                color=st["color"],
                ls=st["ls"],
                lw=st["lw"],
                label=st["label"] if k == 0 else None,
            )
    labels = best_sr_labels(store)
    best = sorted({labels[p["key"]] for p in points if p["best_region"]})
    cmap = plt.get_cmap("tab20")
    colour = {b: cmap(i % 20) for i, b in enumerate(best)}
    for b in best:
        sel = [p for p in points if p["best_region"] and labels[p["key"]] == b]
        xy = np.array([[json.loads(p["params"])[n] for n in names] for p in sel], dtype=float)
        excl = np.array([bool(p["excluded"]) for p in sel])
        ax.scatter(xy[excl, 0], xy[excl, 1], s=22, color=colour[b], label=b, edgecolors="k", linewidths=0.3)
        ax.scatter(xy[~excl, 0], xy[~excl, 1], s=22, facecolors="none", edgecolors=[colour[b]])
    failed = store.points("failed")
    if failed:
        fxy = np.array([[json.loads(p["params"])[n] for n in names] for p in failed], dtype=float)
        ax.scatter(fxy[:, 0], fxy[:, 1], marker="x", color="grey", label=f"failed ({len(failed)})")
    ax.set_xlabel(f"{names[0]} [GeV]")
    ax.set_ylabel(f"{names[1]} [GeV]")
    ax.set_title(title or store.meta().get("model", ""))
    # beside the plane, not over it (the compressed corner holds points and the contours' ends)
    ax.legend(
        fontsize=6,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        title="filled: excluded (obs.); colour: best SR",
        title_fontsize=6,
    )
    fig.tight_layout()
    return fig


def _variation_cells(v: dict[str, Any] | None) -> str:
    """The report table's cells of a point's variations (dashes for a point without)."""
    if v is None:
        return "<td>-</td>" * 3
    members = v["cls_obs_by_member"] or {}
    up, down = v["signal_rel_up"], v["signal_rel_down"]
    unc = "-" if up is None or down is None else f"+{100 * up:.3g}/-{100 * down:.3g}"
    left_out = v.get("members_left_out") or []
    if v["robust"] == NO_USABLE:  # every member left out: the exclusion was not tested under any
        under = f"no usable variation (all left out: {', '.join(left_out)})" if left_out else "no usable variation"
    else:
        under = f"{v['robust']} ({len(v['excluded_under'] or [])}/{len(members) - len(left_out)})"
    title = html.escape("; ".join(f"{m}: CLs obs {c:.4f}" for m, c in members.items()), quote=True)
    syst = "-" if v["cls_obs_syst"] is None else format(v["cls_obs_syst"], ".4f")
    return f"<td>{syst}</td><td>{unc}</td><td class='l' title='{title}'>{html.escape(under)}</td>"


def write_report(store: ScanStore, directory: Path) -> Path:
    """``scan_report.html``: the plot, the contour files and a table of the points."""
    e = html.escape
    directory.mkdir(parents=True, exist_ok=True)
    meta = store.meta()
    names, points = _grid(store)
    files = write_contours(store, directory) if len(names) == 2 else {}
    png = plot(store, directory / "scan.png") if len(names) == 2 else None
    failed = store.points("failed")
    body = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>recast_ml scan</title>",
        "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} td.l{text-align:left}"
        ".ex{background:#f9dede} .warn{color:#b00}</style></head><body>",
        f"<h1>recast_ml scan: {e(str(meta.get('model', 'SLHA files')))}</h1>",
        f"<p>{len(points)} points done, {len(failed)} failed; {e(str(meta.get('n_events')))} events per point, "
        f"seed {e(str(meta.get('seed')))}; analyses: {e(', '.join(meta.get('analyses', [])))}. "
        "Excluded: observed CLs &lt; 0.05 in the best expected SR over all analyses (highlighted). SRs are named "
        "as in the analysis definition and <code>recast-ml run</code>'s results, the name in the published "
        "tables in brackets where it differs.</p>",
    ]
    with_variations = any(p["variations"] for p in points)
    if with_variations:
        body.append(
            f"<p>Generator variations: {e(', '.join(meta.get('variations') or {}))}. "
            "<i>CLs obs (signal unc.)</i>: the best SR's observed CLs with the envelope of the variations (and "
            "the cross section's theory uncertainty, with xsec) profiled as a signal uncertainty; "
            "<i>excluded under</i>: the members whose yields exclude (CLs obs &lt; 0.05) in that SR "
            "(all / some / none).</p>"
        )
    if png is not None:
        body.append(f"<img src='{png.name}' alt='exclusion contours and points'>")
        body.append("<p>Contours: " + ", ".join(f"<a href='{p.name}'>{e(k)}</a>" for k, p in files.items()) + "</p>")
    cols = [*names, "best SR", "σ [pb]", "CLs obs", "CLs exp", "r obs", "r exp", "r cons", "σ95 obs [pb]"]
    if with_variations:
        cols += ["CLs obs (signal unc.)", "signal unc. [%]", "excluded under"]
    mc = best_mc_events(store)
    labels = best_sr_labels(store)
    n_flagged = sum(1 for p in points if unreliable(mc[p["key"]]))
    if n_flagged:
        body.append(
            f"<p class='warn'>{n_flagged} point(s) UNRELIABLE: the signal of their best SR rests on fewer than "
            f"{MIN_MC_EVENTS} MC events; their CLs and r are not reliable (generate more events).</p>"
        )
    cols.insert(len(names) + 1, "MC events (best SR)")
    body.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
    for p in in_parameter_order(points):
        params = json.loads(p["params"])
        cls_ = " class='ex'" if p["excluded"] else ""
        warning = unreliable(mc[p["key"]])

        def num(x: Any, fmt: str = ".3g") -> str:
            return "-" if x is None else format(x, fmt)

        body.append(
            f"<tr{cls_}>"
            + "".join(f"<td>{params.get(n, '')}</td>" for n in names)
            + f"<td class='l'>{e(labels[p['key']])}"
            + (f"<br><b class='warn'>{e(warning)}</b>" if warning else "")
            + "</td>"
            + f"<td>{'-' if mc[p['key']] is None else mc[p['key']]}</td>"
            + f"<td>{num(p['cross_section_pb'])}</td>"
            + f"<td>{num(p['cls_obs'], '.4f')}</td><td>{num(p['cls_exp'], '.4f')}</td>"
            + f"<td>{num(p['r_obs'])}</td><td>{num(p['r_exp'])}</td><td>{num(p['r_cons'])}</td>"
            + f"<td>{num(p['xsec_ul_obs_pb'])}</td>"
            + (_variation_cells(p["variations"]) if with_variations else "")
            + "</tr>"
        )
    body.append("</table>")
    if failed:
        body.append("<h2>Failed points</h2><ul>")
        body += [f"<li>{e(p['key'])}: {e(str(p['error']))}</li>" for p in failed]
        body.append("</ul>")
    body.append("</body></html>")
    path = directory / "scan_report.html"
    path.write_text("\n".join(body))
    return path
