"""HTML reports: the page skeleton shared by ``recast-ml run`` and ``recast-ml validate``, and the
report of a run (``report.html`` beside ``results.json``).

The run report opens with the verdict: EXCLUDED / NOT EXCLUDED at 95 % CL, decided by the signal
region with the best expected sensitivity (largest expected r, as ``statistics`` of the results
say) of the most sensitive analysis, with r_obs, r_exp, r_cons, the cross section and its source,
events and luminosity, every analysis' validation status, and a warning when that region's signal
rests on fewer than :data:`~recast_ml.statistics.MIN_MC_EVENTS` MC events. Then, per analysis, the
SR table (units in the headers, a legend for the shading), a plot of signal vs published
background and observed events per SR (as the papers' SR summary plots), the distributions of the
analysis' ``validation.yaml`` (axis units), the cutflows (collapsed) and the inputs as a
definition list. Pages are static HTML: no scripts, no network, one file is the whole report: the
run report's plots are inline SVG drawn by :mod:`recast_ml.svgplot` (no matplotlib import on the
run path), the validation report's PNGs embedded as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .statistics import MIN_MC_EVENTS
from .variations import NO_USABLE, no_usable_reason

if TYPE_CHECKING:
    from .analysis import Analysis, AnalysisResult

log = logging.getLogger(__name__)

e = html.escape

#: Style shared by every report page (no external resources).
CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:80em;line-height:1.35}"
    "table{border-collapse:collapse;font-size:12px;margin:0.4em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} td.l,th.l{text-align:left}"
    "th{background:#f3f3f3}"
    ".ex{background:#f9dede}.best{font-weight:bold;outline:2px solid #333}.lowmc{background:#fdf0d5}"
    ".passed{background:#e6f4e6}.failed{background:#f9dede}.mc-limited{background:#fdf0d5}"
    ".headline{border:3px solid #555;padding:0.6em 1em;margin:1em 0;background:#fafafa}"
    ".headline.excluded{border-color:#b00}.headline.allowed{border-color:#070}"
    ".verdict{font-size:1.6em;font-weight:bold;margin:0.2em 0}"
    ".excluded .verdict{color:#b00}.allowed .verdict{color:#070}"
    ".warning{border:2px solid #c60;background:#fff4e0;padding:0.4em 0.8em;margin:0.6em 0}"
    ".ok{border:2px solid #393;background:#eefbe9;padding:0.4em 0.8em;margin:0.6em 0}"
    ".legend{font-size:12px;color:#333}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:2px 1em;font-size:13px}"
    "dt{font-weight:bold}dd{margin:0}"
    "details{margin:0.4em 0}summary{cursor:pointer;font-weight:bold}"
    "figure{margin:0.6em 0}figcaption{font-size:12px;color:#333}img{max-width:100%}"
)


# ------------------------------------------------------------------------------------------------
# page skeleton and helpers (used by validate.py too)


def page(title: str, parts: Sequence[str]) -> str:
    """A complete static HTML page (shared style, no scripts)."""
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
    )
    return "\n".join([head, *parts, "</body></html>"])


def num(x: Any, fmt: str = ".4g") -> str:
    """A number for a table cell: '–' for None / NaN."""
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return e(str(x))
    return "–" if math.isnan(v) else format(v, fmt)


def definition_list(items: Sequence[tuple[str, Any]]) -> str:
    """<dl> of (term, value); values are rendered by :func:`value_html` (nested dicts/lists too)."""
    rows = "".join(f"<dt>{e(str(k))}</dt><dd>{value_html(v)}</dd>" for k, v in items if v is not None)
    return f"<dl>{rows}</dl>"


def value_html(v: Any) -> str:
    """Any JSON value as readable HTML (dicts as definition lists, lists as lists), never raw JSON."""
    if isinstance(v, Mapping):
        return definition_list([(str(k), x) for k, x in v.items()]) if v else "–"
    if isinstance(v, list | tuple):
        if not v:
            return "–"
        if all(not isinstance(x, Mapping | list | tuple) for x in v):
            return e(", ".join(str(x) for x in v))
        return "<ul>" + "".join(f"<li>{value_html(x)}</li>" for x in v) + "</ul>"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return num(v, ".6g")
    return e(str(v))


def details(summary: str, inner: str, *, open_: bool = False) -> str:
    """A collapsed section (``summary`` is HTML)."""
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>{inner}</details>"


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png: bytes, caption: str, link: str | None = None) -> str:
    """An embedded PNG (data URI: the page works offline as one file) with its caption; ``link``:
    the same PNG written beside the page."""
    extra = f" (<a href='{e(link)}'>{e(link)}</a>)" if link else ""
    return (
        f"<figure><img src='{data_uri(png)}' alt='{e(caption)}'><figcaption>{e(caption)}{extra}</figcaption></figure>"
    )


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lumi_text(lumi_fb: Any) -> str:
    return f"{float(lumi_fb):g} fb⁻¹" if isinstance(lumi_fb, int | float) else "L"


# ------------------------------------------------------------------------------------------------
# units of analysis variables (the definitions declare units only for model inputs)

_GEV_FUNCS = r"(meff|HT|mT2|mT|m|mass|mass_pair|pair_m|rc_mass_sum|vpt|mjj|mll|mct|sum_pt)"
_DIMENSIONLESS_FUNCS = r"(aplanarity|sphericity|tensor_eigenvalues|met_significance|tanh|cos|sin|eta|abs_eta)"


def variable_unit(name: str, expr: Any, variables: Mapping[str, Any] | None = None, _depth: int = 0) -> str | None:
    """The unit of an analysis variable from its expression: 'GeV', 'rad', 'GeV^1/2', '' for a
    dimensionless quantity (counts, scores, shapes), None when it cannot be told."""
    if isinstance(expr, Mapping):
        if expr.get("unit") is not None:
            return str(expr["unit"])
        expr = expr.get("expr")
    if expr is None:
        return None
    s = str(expr).strip()
    if re.match(r"^count\(", s):
        return ""
    if re.search(r"\.(score|signal|others|output\w*|prob\w*)\b", s):
        return ""
    if re.search(r"\bmet_over_sqrt_ht\(", s):
        return "GeV^1/2"
    if re.search(r"\b(min_dphi|dphi|delta_phi)\(", s):
        return "rad"
    if re.match(rf"^(\d[\d.]*\s*\*\s*)?{_DIMENSIONLESS_FUNCS}\(", s) or re.search(r"\btanh\(", s):
        return ""
    if re.search(r"\.(pt|m|e|et|mass)\b", s) or re.search(rf"\b{_GEV_FUNCS}\(", s):
        return "GeV"
    if variables and _depth < 4:  # built from other variables: their common unit
        units = {
            variable_unit(t, variables[t], variables, _depth + 1)
            for t in re.findall(r"[A-Za-z_]\w*", s)
            if t in variables and t != name
        }
        if len(units) == 1:
            return units.pop()
    return None


def axis_label(name: str, unit: str | None) -> str:
    if unit is None:
        return f"{name} (unit not declared)"
    return f"{name} [{unit}]" if unit else f"{name} (dimensionless)"


def published_shape(directory: Path, variable: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A published distribution for ``variable`` (``distribution_<variable>.csv`` in the analysis
    folder: ``low,high,value`` rows, value = events in the bin in any normalisation, contiguous bins,
    '#' lines = provenance, an optional header row), as (edges, values, provenance)."""
    path = directory / f"distribution_{variable}.csv"
    if not path.is_file():
        return None
    from ._core import ConfigError

    source: list[str] = []
    rows: list[tuple[float, float, float]] = []
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("#"):
            source.append(line.lstrip("# ").strip())
            continue
        cells = [c.strip() for c in line.split(",")]
        if not line.strip() or (not rows and not _is_number(cells[0])):  # blank line or the header row
            continue
        try:
            low, high, value = (float(c) for c in cells[:3])
        except ValueError:
            raise ConfigError(f"{path}: line {k}: expected low,high,value (numbers), got {line!r}") from None
        if not (high > low) or (rows and low != rows[-1][1]) or not math.isfinite(value):
            raise ConfigError(f"{path}: line {k}: bins must be contiguous with high > low, got {line!r}")
        rows.append((low, high, value))
    if not rows:
        raise ConfigError(f"{path}: no bins")
    edges = np.array([r[0] for r in rows] + [rows[-1][1]])
    return edges, np.array([r[2] for r in rows]), " ".join(source) or path.name


def _is_number(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def distribution_edges(values: np.ndarray, published: tuple[np.ndarray, np.ndarray, str] | None = None) -> np.ndarray:
    """Bin edges of a distribution (the report's plots and their YODA histograms): the published
    shape's bins where there is one; integers one per bin (up to 40 values); else 40 equal bins
    over the values' range."""
    if published is not None:
        return np.asarray(published[0], dtype=float)
    if not len(values):
        return np.array([0.0, 1.0])
    integer = bool(np.all(values == np.round(values))) and np.ptp(values) <= 40
    if integer:
        return np.arange(values.min() - 0.5, values.max() + 1.5)
    return np.histogram_bin_edges(values, bins=40)


#: A run's distributions (:func:`run_distributions`): [(variable, values, unit, published shape
#: or None)] and the events at L per MC event (or None).
RunDistributions = tuple[
    list[tuple[str, np.ndarray, str | None, tuple[np.ndarray, np.ndarray, str] | None]], float | None
]

#: :func:`run_distributions` per result: the run report and its YODA export ask for the same
#: distributions of one result, computed once (validation.yaml and the published shapes read once
#: per run). An entry goes with its result and serves only the same analysis object, analysis id
#: and scale.
_RUN_DISTRIBUTIONS: weakref.WeakKeyDictionary[AnalysisResult, tuple[Analysis | None, tuple[Any, ...], RunDistributions]]
_RUN_DISTRIBUTIONS = weakref.WeakKeyDictionary()


def run_distributions(doc: Mapping[str, Any], ana: Analysis | None, res: AnalysisResult | None) -> RunDistributions:
    """The distributions of a run's analysis (those of its validation.yaml the result holds):
    [(variable, values, unit, published shape or None)] and the events at L per MC event when the
    events carry unit weights (else None: shapes are normalised). Computed once per result
    (:data:`_RUN_DISTRIBUTIONS`): the caller must not modify what it gets."""
    if res is None or not len(res.variable_names):
        return [], None
    key = (doc["analysis"]["id"], res.scale, res.n_events, res.sum_weights)
    cached = _RUN_DISTRIBUTIONS.get(res)
    if cached is not None and cached[0] is ana and cached[1] == key:
        return cached[2]
    found = _run_distributions(doc, ana, res)
    _RUN_DISTRIBUTIONS[res] = (ana, key, found)
    return found


def _run_distributions(doc: Mapping[str, Any], ana: Analysis | None, res: AnalysisResult) -> RunDistributions:
    directory, variables, names = definition_info(ana, doc["analysis"]["id"])
    unit_weights = (
        res.scale is not None and res.n_events > 0 and abs(res.sum_weights - res.n_events) < 1e-6 * res.n_events
    )
    out = []
    for var in names:
        if var not in res.variable_names:
            continue
        published = published_shape(directory, var) if directory is not None else None
        out.append((var, res.variable(var), variable_unit(var, variables.get(var), variables), published))
    return out, float(res.scale) if unit_weights and res.scale is not None else None


@dataclass
class DistributionHistograms:
    """The numbers of a distribution plot (PNG or SVG): the bins (:func:`distribution_edges`), per
    sample with values its histogram (events at L per bin where ``scale`` gives every sample's
    events per MC event — ``absolute`` —, else unit area), the published shape as a unit-area
    density on its own bins (or None), and whether any sample has a value."""

    edges: np.ndarray
    absolute: bool
    samples: list[tuple[str, np.ndarray]]
    published: np.ndarray | None
    has_values: bool


def distribution_histograms(
    samples: Mapping[str, np.ndarray],
    published: tuple[np.ndarray, np.ndarray, str] | None = None,
    scale: Mapping[str, float] | None = None,
) -> DistributionHistograms:
    finite = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    finite = {k: v[np.isfinite(v)] for k, v in finite.items()}
    pooled = np.concatenate([v for v in finite.values() if len(v)] or [np.zeros(1)])
    edges = distribution_edges(pooled, published)
    absolute = published is None and scale is not None and all(k in scale for k in finite)
    hists = []
    for name, v in finite.items():
        if not len(v):
            continue
        if absolute and scale is not None:
            h, _ = np.histogram(v, bins=edges, weights=np.full(len(v), scale[name]))
        else:
            h, _ = np.histogram(v, bins=edges, density=True)
        hists.append((name, h.astype(float)))
    dens = None
    if published is not None:
        total = float(np.sum(published[1]))
        dens = np.asarray(published[1] / (total * np.diff(published[0])) if total > 0 else published[1], dtype=float)
    return DistributionHistograms(edges, absolute, hists, dens, any(len(v) for v in finite.values()))


def distribution_png(
    variable: str,
    samples: Mapping[str, np.ndarray],
    unit: str | None,
    published: tuple[np.ndarray, np.ndarray, str] | None = None,
    *,
    scale: Mapping[str, float] | None = None,
    lumi: str | None = None,
) -> bytes:
    """Histogram of one variable per sample: events at L per bin where ``scale`` (events per MC
    event) is given for every sample, else normalised to unit area; the published shape (unit
    area) drawn over it (:func:`distribution_histograms`)."""
    d = distribution_histograms(samples, published, scale)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, h in d.samples:
        ax.stairs(h, d.edges, label=name)
    if d.published is not None:  # the bins are the published shape's
        ax.stairs(d.published, d.edges, color="k", lw=1.5, label="published (unit area)")
    ax.set_xlabel(axis_label(variable, unit))
    ax.set_ylabel(_distribution_ylabel(variable, unit, d.absolute, lumi))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    if not d.has_values:
        ax.text(0.5, 0.5, "no event has a value", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    png = png_bytes(fig)
    plt.close(fig)
    return png


def _distribution_ylabel(variable: str, unit: str | None, absolute: bool, lumi: str | None) -> str:
    if absolute:
        return f"events at {lumi or 'L'} per bin"
    if unit:
        return f"fraction of events / {unit}"
    if unit == "":
        return f"fraction of events per unit of {variable}"
    return "normalised to unit area"


def distribution_svg(
    variable: str,
    samples: Mapping[str, np.ndarray],
    unit: str | None,
    published: tuple[np.ndarray, np.ndarray, str] | None = None,
    *,
    scale: Mapping[str, float] | None = None,
    lumi: str | None = None,
) -> str:
    """:func:`distribution_png` as inline SVG (the run report): a step histogram of one variable
    per sample on the bins of :func:`distribution_edges` (those of the YODA export): events at L
    per bin where ``scale`` (events per MC event) is given for every sample, else normalised to
    unit area; the published shape (unit area) as black stairs over it."""
    from .svgplot import COLORS, Axis, Canvas, LegendEntry, Panel

    d = distribution_histograms(samples, published, scale)
    edges = d.edges
    # name, values per bin, colour, line width
    hists = [(name, h, COLORS[k % len(COLORS)], 1.4) for k, (name, h) in enumerate(d.samples)]
    if d.published is not None:
        hists.append(("published (unit area)", d.published, "#000", 1.8))  # on the same bins
    width, height, left, right = 600.0, 400.0, 78.0, 18.0
    cv = Canvas(width, height)
    entries = [LegendEntry("line", color, name) for name, _, color, _ in hists]
    top = 10 + (cv.legend(left, 8, entries, max_width=width - left - right) if entries else 0) + 8
    ymax = max([float(np.nanmax(h)) for _, h, _, _ in hists if np.isfinite(h).any()] + [0.0])
    panel = Panel(
        cv,
        Axis(float(edges[0]), float(edges[-1]), left, width - right),
        Axis(0.0, ymax * 1.1 if ymax > 0 else 1.0, height - 50, top),
    )
    panel.frame(xlabel=axis_label(variable, unit), ylabel=_distribution_ylabel(variable, unit, d.absolute, lumi))
    for _, h, color, sw in hists:
        panel.step(edges.tolist(), h.tolist(), color=color, sw=sw)
    if not d.has_values:
        panel.note("no event has a value")
    return cv.to_svg(axis_label(variable, unit))


def svg_figure(svg: str, caption: str) -> str:
    """An inline SVG plot with its caption (the page stays one offline file)."""
    return f"<figure class='svg'>{svg}<figcaption>{e(caption)}</figcaption></figure>"


# ------------------------------------------------------------------------------------------------
# run report


SRS_PER_ROW = 36  # signal regions per row of the SR summary plot


def sr_summary_svgs(aid: str, regions: Sequence[Mapping[str, Any]], best: str | None, lumi: str) -> list[str]:
    """Per SR: published background (its uncertainty hatched), the signal of this sample (with its
    MC error) and the observed events (± √n), on a log scale, as the papers' SR summary plots;
    below, r_obs and r_exp per SR (r >= 1: excluded by that SR); the best expected SR's label bold
    red. One inline SVG per row of at most :data:`SRS_PER_ROW` SRs (rows equally long)."""
    n_rows = max(1, math.ceil(len(regions) / SRS_PER_ROW))
    per_row = max(1, math.ceil(len(regions) / n_rows))
    out = []
    for k in range(n_rows):
        chunk = regions[k * per_row : (k + 1) * per_row]
        part = f" ({k + 1}/{n_rows})" if n_rows > 1 else ""
        out.append(_sr_svg(f"{aid}: signal regions{part}, best expected SR in red", chunk, per_row, best, lumi))
    return out


def _sr_svg(title: str, regions: Sequence[Mapping[str, Any]], per_row: int, best: str | None, lumi: str) -> str:
    from .svgplot import Axis, Canvas, LegendEntry, Panel, finite, text_width

    def values(key: str) -> list[float | None]:
        return [finite(r.get(key)) for r in regions]

    slots = max(per_row, 6)
    left, right_margin, slot = 72.0, 16.0, 22.0
    width = left + slots * slot + right_margin
    cv = Canvas(width, 0.0)
    cv.title(title)
    legend = [
        LegendEntry("rect", "#9ecae1", "published background"),
        LegendEntry("hatch", "#3182bd", "background uncertainty"),
        LegendEntry("rect", "#d62728", "signal, this sample"),
        LegendEntry("errorbar", "#8b0000", "signal MC error"),
        LegendEntry("marker_errorbar", "#000", "observed data (± √n)", "o"),
        LegendEntry("marker", "#d62728", "r_obs", "v"),
        LegendEntry("marker", "#000", "r_exp", "_"),
    ]
    top = 26 + cv.legend(left, 24, legend, max_width=width - left - right_margin) + 8
    main_h, gap, ratio_h = 250.0, 8.0, 90.0
    x = list(range(len(regions)))
    b, db, s, ds, obs = values("b"), values("b_err"), values("signal"), values("signal_error"), values("n_obs")
    positive = [v for vs in (b, s, obs) for v in vs if v is not None and v > 0]
    lo, hi = (max(min(positive) * 0.3, 1e-3), max(positive) * 20) if positive else (0.1, 100.0)
    xaxis = Axis(-0.6, slots - 0.4, left, width - right_margin)
    main = Panel(cv, xaxis, Axis(lo, hi, top + main_h, top, log=True))
    main.frame(ylabel=f"events at {lumi}", xticks=False)
    main.bars(x, b, 0.85, fill="#9ecae1", cls="sr-background")
    band_low = [None if bv is None or e_ is None else max(bv - e_, 0.0) for bv, e_ in zip(b, db, strict=True)]
    band_h = [
        None if bv is None or e_ is None or lw is None else bv + e_ - lw
        for bv, e_, lw in zip(b, db, band_low, strict=True)
    ]
    main.bars(x, band_h, 0.85, bottoms=band_low, hatch="#3182bd", cls="sr-background-uncertainty")
    main.bars(x, s, 0.4, fill="#d62728", cls="sr-signal")
    main.errorbars(x, s, ds, color="#8b0000", cap=3)
    sqrt_n = [None if n is None or n < 0 else math.sqrt(n) for n in obs]
    main.errorbars(x, obs, sqrt_n, color="#000", cap=0, sw=1.2)
    main.markers(x, obs, "o", size=7)
    r_obs, r_exp = values("r_obs"), values("r_exp")
    r_top = max([v for v in (*r_obs, *r_exp) if v is not None] + [1.0])
    rtop = top + main_h + gap
    ratio = Panel(cv, xaxis, Axis(0.0, max(1.5, 1.15 * r_top), rtop + ratio_h, rtop))
    ratio.frame(ylabel="r = s/S95", xticks=False, size=9)
    ratio.hline(1.0, color="#000", sw=1.0)
    ratio.markers(x, r_obs, "v", color="#d62728", size=8)
    ratio.markers(x, r_exp, "_", color="#000", size=8)
    names = [str(r["region"]) for r in regions]
    styles = {k: {"bold": True, "fill": "#d62728", "cls": "sr-best"} for k, n in enumerate(names) if n == best}
    ratio.category_labels(names, styles=styles)
    longest = max((text_width(n, 10) for n in names), default=0.0)
    cv.height = rtop + ratio_h + 10 + longest + 8
    if not regions:
        main.note("no signal region")
    return cv.to_svg(title)


def _is_excluded(st: Mapping[str, Any]) -> bool:
    if "excluded_at_95cl" in st:
        return bool(st["excluded_at_95cl"])
    best = st.get("best") or {}
    return bool(best and best.get("cls_obs", 1.0) < 0.05)


def deciding(summary: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(analysis document, best SR) that decides the verdict: each analysis' best expected SR (its
    ``statistics``), and among the analyses the most sensitive one (largest expected r, else
    smallest expected CLs) — chosen on expected sensitivity, never on the observed result."""
    cands = []
    for doc in summary.get("analyses", []):
        best = (doc.get("statistics") or {}).get("best")
        if best:
            cands.append((doc, best))
    return _most_sensitive(cands)


def _most_sensitive(
    cands: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """Of (analysis document, SR) pairs the one with the largest expected r, else the smallest
    expected CLs (None for none)."""
    if not cands:
        return None
    with_r = [c for c in cands if c[1].get("r_exp") is not None]
    if with_r:
        return max(with_r, key=lambda c: float(c[1]["r_exp"]))
    return min(cands, key=lambda c: float(c[1].get("cls_exp", 1.0)))


def deciding_reliable(summary: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """Where the deciding SR (:func:`deciding`) rests on too few MC events: (analysis document,
    SR) of the most sensitive SR among those with enough MC events, i.e. each analysis' best
    expected SR or, where that one is low in MC events, its ``best_reliable``; chosen as
    :func:`deciding` chooses. None where the deciding SR has enough MC events or no SR has. A
    cross-check the verdict quotes, not the verdict's SR."""
    d = deciding(summary)
    if d is None or not d[1].get("low_mc_statistics"):
        return None
    cands = []
    for doc in summary.get("analyses", []):
        st = doc.get("statistics") or {}
        best = st.get("best")
        sr = st.get("best_reliable") if best and best.get("low_mc_statistics") else best
        if sr:
            cands.append((doc, sr))
    return _most_sensitive(cands)


def verdict_text(summary: Mapping[str, Any]) -> str:
    """'EXCLUDED at 95 % CL' / 'NOT EXCLUDED at 95 % CL' / 'NO VERDICT' (nothing to compare with)."""
    d = deciding(summary)
    if d is None:
        return "NO VERDICT: no signal region with published numbers"
    return "EXCLUDED at 95 % CL" if _is_excluded(d[0]["statistics"]) else "NOT EXCLUDED at 95 % CL"


def _xsec_text(inp: Mapping[str, Any], docs: Sequence[Mapping[str, Any]]) -> str:
    xs = inp.get("cross_section_pb")
    text = f"σ = {num(xs)} pb" if xs is not None else "σ not given"
    rel = inp.get("cross_section_rel_error")
    if rel is None:
        rel = next(
            (
                d.get("sample", {}).get("cross_section_rel_error")
                for d in docs
                if d.get("sample", {}).get("cross_section_rel_error") is not None
            ),
            None,
        )
    if isinstance(rel, int | float):
        text += f" ± {100 * float(rel):.3g} %"
    if isinstance(xs, int | float):
        text += f" ({float(xs) * 1000:.4g} fb)"
    if inp.get("cross_section_source"):
        text += f", source: {inp['cross_section_source']}"
    return text


def _r_band(best: Mapping[str, Any]) -> str:
    """r_obs at σ ± 1σ (theory uncertainty of the cross section), where the results carry it."""
    lo, hi = best.get("r_obs_down"), best.get("r_obs_up")
    if lo is None and hi is None:
        return ""
    return f"; r_obs at σ − 1σ / σ + 1σ: {num(lo, '.3g')} / {num(hi, '.3g')}"


def _status_text(doc: Mapping[str, Any]) -> str:
    status = doc.get("analysis", {}).get("status")
    if isinstance(status, Mapping):
        return str(status.get("text", "unknown"))
    return str(status) if status else "unknown"


def headline_html(summary: Mapping[str, Any]) -> str:
    """The box at the top of the run report: the verdict and everything it rests on."""
    inp = summary.get("input", {})
    docs = list(summary.get("analyses", []))
    d = deciding(summary)
    verdict = verdict_text(summary)
    cls = "" if d is None else (" excluded" if _is_excluded(d[0]["statistics"]) else " allowed")
    parts = [f"<div class='headline{cls}'><p class='verdict'>{e(verdict)}</p>"]
    if d is not None:
        doc, best = d
        st = doc["statistics"]
        aid = doc["analysis"]["id"]
        lumi = lumi_text(doc.get("sample", {}).get("luminosity_fb"))
        parts.append(
            f"<p>Decided by <b>{e(aid)}</b>, signal region <b>{e(best['region'])}</b> — the SR with the best "
            "expected sensitivity (largest expected r) of the most sensitive analysis; chosen before looking "
            "at the data, as CheckMATE and SModelS do.</p>"
        )
        parts.append(
            "<p>"
            f"CLs<sub>obs</sub> = {num(best.get('cls_obs'), '.4g')}, "
            f"r<sub>obs</sub> = {num(best.get('r_obs'), '.3g')}, r<sub>exp</sub> = {num(best.get('r_exp'), '.3g')}, "
            f"r<sub>cons</sub> = {num(best.get('r_cons_obs'), '.3g')} "
            f"(r = s/S95 with the published 95 % CL limit on signal events; r ≥ 1 excludes; r<sub>cons</sub> uses "
            f"s − 1.96 × MC error); signal s = {num(best.get('signal'), '.4g')} "
            f"± {num(best.get('signal_error'), '.2g')} "
            f"events at {e(lumi)} from {num(best.get('mc_events'), 'g')} MC events"
            f"{e(_r_band(best))}.</p>"
        )
        if st.get("excluded_at_95cl_conservative") is not None:
            cons = "excluded" if st["excluded_at_95cl_conservative"] else "not excluded"
            parts.append(f"<p>With the conservative signal s − 1.96 × MC error (r<sub>cons</sub> ≥ 1): {cons}.</p>")
        if best.get("mc_events") == 0 and not best.get("signal"):
            parts.append(
                "<p class='warning'><b>Warning: no MC event passes any signal region with published numbers</b>: the "
                "efficiency measured is zero; a rarer signal needs a larger sample to be seen.</p>"
            )
        elif best.get("low_mc_statistics"):
            parts.append(
                f"<p class='warning'><b>Warning: this verdict rests on few MC events.</b> The signal of "
                f"{e(best['region'])} comes from {num(best.get('mc_events'), 'g')} MC event(s), fewer than "
                f"{st.get('min_mc_events', MIN_MC_EVENTS)}: its yield, CLs and r are not reliable. "
                "Generate more events.</p>"
            )
            rel = deciding_reliable(summary)
            minimum = st.get("min_mc_events", MIN_MC_EVENTS)
            if rel is not None:
                rdoc, rsr = rel
                parts.append(
                    f"<p>Cross-check: of the SRs with at least {minimum} MC events the most sensitive, "
                    f"{e(rdoc['analysis']['id'])} {e(str(rsr.get('region')))}, is "
                    f"{'EXCLUDED' if rsr.get('cls_obs', 1.0) < 0.05 else 'not excluded'} "
                    f"(CLs<sub>obs</sub> = {num(rsr.get('cls_obs'), '.4g')}, "
                    f"r<sub>cons</sub> = {num(rsr.get('r_cons_obs'), '.3g')}); not the verdict's SR, which is "
                    "chosen before looking at the sample.</p>"
                )
            else:
                parts.append(f"<p>Cross-check: no SR has at least {minimum} MC events.</p>")
        if best.get("note"):
            parts.append(f"<p>Note: {e(str(best['note']))}</p>")
        if (st.get("variations") or {}).get("robust"):
            parts.append(_robustness_html(st["variations"], best))
    lumis = sorted({lumi_text(x.get("sample", {}).get("luminosity_fb")) for x in docs})
    parts.append(
        f"<p>Cross section: {e(_xsec_text(inp, docs))}. Events: {num(inp.get('n_events'), 'g')} "
        f"(MC). Luminosity: {e(', '.join(lumis) or 'L')}.</p>"
    )
    # every analysis, its own best SR and validation status
    parts.append(
        "<table><tr><th class='l'>analysis</th><th class='l'>validation status</th><th class='l'>best expected SR</th>"
        "<th class='l'>verdict of this analysis</th><th>CLs<sub>obs</sub></th><th>r<sub>obs</sub></th>"
        "<th>r<sub>exp</sub></th><th>r<sub>cons</sub></th><th>MC events in SR</th></tr>"
    )
    for doc in docs:
        st = doc.get("statistics") or {}
        best = st.get("best") or {}
        own = ("EXCLUDED" if _is_excluded(st) else "not excluded") if best else st.get("note") or "no statistics"
        row_cls = " class='ex'" if best and _is_excluded(st) else ""
        parts.append(
            f"<tr{row_cls}><td class='l'>{e(doc['analysis']['id'])}</td><td class='l'>{e(_status_text(doc))}</td>"
            f"<td class='l'>{e(str(best.get('region', '–')))}</td><td class='l'>{e(own)}</td>"
            f"<td>{num(best.get('cls_obs'), '.4f')}</td><td>{num(best.get('r_obs'), '.3g')}</td>"
            f"<td>{num(best.get('r_exp'), '.3g')}</td><td>{num(best.get('r_cons_obs'), '.3g')}</td>"
            f"<td>{num(best.get('mc_events'), 'g')}</td></tr>"
        )
    parts.append("</table>")
    unavailable = [(doc["analysis"]["id"], u) for doc in docs for u in doc.get("unavailable_regions", [])]
    if unavailable:
        parts.append(
            f"<p class='warning'><b>{len(unavailable)} region(s) unavailable</b> (did not run, no yields; not in "
            "the verdict): " + e("; ".join(f"{a}: {u['name']} ({u['reason']})" for a, u in unavailable)) + "</p>"
        )
    parts.append("</div>")
    return "\n".join(parts)


_SR_LEGEND = (
    "<p class='legend'>Shading: <span class='ex'>&nbsp;red rows&nbsp;</span> are excluded at 95 % CL by that SR "
    "alone (CLs<sub>obs</sub> &lt; 0.05); the <span class='best'>&nbsp;outlined bold row&nbsp;</span> is the "
    "best expected SR, which decides the verdict; <span class='lowmc'>&nbsp;orange MC counts&nbsp;</span>: fewer "
    "than {min_mc} MC events, the yield is not reliable. s, n<sub>obs</sub>, b and S95 are events at {lumi}; "
    "r = s/S95 (published), r<sub>cons</sub> = (s − 1.96 × MC error)/S95. Δln L = ln L(s) − ln L(0), the "
    "profile log-likelihood of signal + background relative to background only: 0 for no signal, negative "
    "when the data disfavour the signal (−2 Δln L ≈ 3.84 at the 95 % CL edge for one SR).</p>"
)


def _sr_table(doc: Mapping[str, Any], lumi: str) -> str:
    st = doc["statistics"]
    best = st.get("best_expected_region")
    min_mc = st.get("min_mc_events", MIN_MC_EVENTS)
    rows = [
        _SR_LEGEND.format(min_mc=min_mc, lumi=e(lumi)),
        "<table><tr><th class='l'>SR</th><th>s [events]</th><th>MC error [events]</th><th>MC events</th>"
        "<th>n<sub>obs</sub> [events]</th><th>b [events]</th><th>b error [events]</th><th>CLs<sub>obs</sub></th>"
        "<th>CLs<sub>exp</sub></th><th>r<sub>obs</sub></th><th>r<sub>exp</sub></th><th>r<sub>cons</sub></th>"
        "<th>Δln L</th><th class='l'>note</th></tr>",
    ]
    for r in st["regions"]:
        classes = [c for c, on in (("ex", r["cls_obs"] < 0.05), ("best", r["region"] == best)) if on]
        cls_attr = f" class='{' '.join(classes)}'" if classes else ""
        mc = num(r.get("mc_events"), "g")
        mc_cell = f"<td class='lowmc'>{mc} (&lt; {min_mc})</td>" if r.get("low_mc_statistics") else f"<td>{mc}</td>"
        rows.append(
            f"<tr{cls_attr}><td class='l'>{e(r['region'])}</td><td>{num(r['signal'])}</td>"
            f"<td>{num(r['signal_error'], '.2g')}</td>{mc_cell}<td>{num(r['n_obs'], 'g')}</td><td>{num(r['b'])}</td>"
            f"<td>{num(r['b_err'], '.3g')}</td><td>{num(r['cls_obs'], '.4f')}</td><td>{num(r['cls_exp'], '.4f')}</td>"
            f"<td>{num(r.get('r_obs'), '.3f')}</td><td>{num(r.get('r_exp'), '.3f')}</td>"
            f"<td>{num(r.get('r_cons_obs'), '.3f')}</td><td>{num(r.get('delta_log_likelihood'), '.3f')}</td>"
            f"<td class='l'>{e(str(r.get('note') or ''))}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _robustness_html(v: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    """The headline's line on the signal-modelling uncertainty (``--variations``)."""
    left_out = list(v.get("low_mc_statistics_members") or [])
    if v["robust"] == NO_USABLE:  # every member left out: "excluded under all of 0" would be vacuous
        return (
            f"<p class='warning'><b>Signal modelling: no usable variation</b> ({e(no_usable_reason(left_out))}): "
            "the exclusion is not tested under any variation and the signal uncertainty is not measured. Generate "
            "more events.</p>"
        )
    robust = {"all": "under all", "some": "under some", "none": "under none"}[str(v["robust"])]
    members = [m for m in best.get("cls_obs_by_variation") or {} if m not in left_out]
    cls_syst = best.get("cls_obs_syst")
    text = (
        f"<p class='{'ok' if v['robust'] == 'all' else 'warning'}'><b>Signal modelling:</b> excluded "
        f"<b>{robust}</b> of the {len(members)} variations ({len(v.get('excluded_under', []))} of {len(members)}: "
        f"{e(', '.join(members))})"
    )
    if v.get("not_excluded_under") and v["robust"] == "some":
        text += f"; not under {e(', '.join(v['not_excluded_under']))}"
    if left_out:
        text += (
            f"; left out, fewer than 10 effective MC events in this SR: {e(', '.join(left_out))} (generate more "
            "events to include them)"
        )
    text += (
        f". With the envelope +{num(100 * float(best.get('signal_rel_up') or 0), '.3g')} % / "
        f"−{num(100 * float(best.get('signal_rel_down') or 0), '.3g')} % profiled as a signal uncertainty: "
        f"CLs<sub>obs</sub> = {num(cls_syst, '.4g')} "
        f"({'excluded' if cls_syst is not None and cls_syst < 0.05 else 'not excluded'}), "
        f"r<sub>cons</sub> = {num(best.get('r_cons_syst_obs'), '.3g')}.</p>"
    )
    return text


def _variations_table(doc: Mapping[str, Any]) -> str:
    """Per SR: the nominal yield, each variation member's, the envelope and CLs with it profiled."""
    st = doc.get("statistics") or {}
    v = st.get("variations") or {}
    members = list(v.get("members") or [])
    regions = [r for r in st.get("regions", []) if "signal_variations" in r]
    if not members or not regions:
        return ""
    best = st.get("best_expected_region")
    head = "".join(f"<th>{e(m)}</th>" for m in members)
    rows = [
        f"<p class='legend'>{e(str(v.get('method', '')))}. Members: "
        + e("; ".join(f"{d['name']} ({d['kind']}): {d['description']}" for d in v.get("definitions", [])))
        + "</p>",
        f"<table><tr><th class='l'>SR</th><th>s nominal</th>{head}<th>envelope</th><th>total (⊕ σ)</th>"
        "<th>CLs<sub>obs</sub></th><th>CLs<sub>obs</sub> syst</th><th>CLs<sub>exp</sub> syst</th>"
        "<th>r<sub>cons</sub> syst</th></tr>",
    ]
    for r in regions:
        cls_attr = " class='best'" if r["region"] == best else ""
        ys = "".join(
            f"<td>{num(r['signal_variations'][m]['signal'])}</td>" if m in r["signal_variations"] else "<td>–</td>"
            for m in members
        )
        env = f"+{num(100 * r['signal_envelope_rel_up'], '.3g')} / −{num(100 * r['signal_envelope_rel_down'], '.3g')} %"
        tot = f"+{num(100 * r['signal_rel_up'], '.3g')} / −{num(100 * r['signal_rel_down'], '.3g')} %"
        rows.append(
            f"<tr{cls_attr}><td class='l'>{e(r['region'])}</td><td>{num(r['signal'])}</td>{ys}<td>{env}</td>"
            f"<td>{tot}</td><td>{num(r['cls_obs'], '.4f')}</td><td>{num(r['cls_obs_syst'], '.4f')}</td>"
            f"<td>{num(r['cls_exp_syst'], '.4f')}</td><td>{num(r.get('r_cons_syst_obs'), '.3f')}</td></tr>"
        )
    rows.append("</table>")
    return details(f"Signal variations ({', '.join(v.get('names', []))}): yields per SR", "".join(rows), open_=True)


def _cutflows(doc: Mapping[str, Any], lumi: str) -> str:
    parts = []
    for reg in doc.get("regions", []):
        rows = [
            "<table><tr><th class='l'>step</th><th>MC events</th><th>Σw</th><th>cumulative efficiency</th>"
            f"<th>yield [events at {e(lumi)}]</th><th>MC error [events]</th></tr>"
        ]
        for s in reg.get("cutflow", []):
            rows.append(
                f"<tr><td class='l'>{e(s['name'])}</td><td>{s['n']}</td><td>{num(s.get('sumw'))}</td>"
                f"<td>{num(s.get('efficiency_cumulative'), '.4f')}</td><td>{num(s.get('yield'))}</td>"
                f"<td>{num(s.get('yield_error'), '.3g')}</td></tr>"
            )
        rows.append("</table>")
        label = f"{e(reg['name'])}: {num(reg.get('yield'))} events"
        parts.append(details(label, "".join(rows)))
    if not parts:
        return ""
    return details(f"Cutflows of {len(parts)} regions (click to open)", "\n".join(parts))


def definition_info(ana: Analysis | None, aid: str) -> tuple[Path | None, dict[str, Any], list[str]]:
    """(analysis folder, its variables, the distributions of its validation.yaml) of a loaded
    analysis or of the definition of ``aid`` (the run and validate reports)."""
    from .analysis import find_definition, load_definition, load_yaml

    try:
        path = ana.definition.path if ana is not None else find_definition(aid)
        # the resolved definition: variables of included files (include:) too
        doc = ana.definition.doc if ana is not None else load_definition(path).doc
    except Exception:  # a definition not found again: no distributions, the rest of the report stands
        log.debug("no definition found for %s", aid, exc_info=True)
        return None, {}, []
    directory = Path(path).parent
    dists: list[str] = []
    vfile = directory / "validation.yaml"
    if vfile.is_file():
        dists = [str(d) for d in (load_yaml(vfile) or {}).get("distributions", []) or []]
    return directory, dict(doc.get("variables") or {}), dists


def _distributions(doc: Mapping[str, Any], ana: Analysis | None, res: AnalysisResult | None, lumi: str) -> str:
    dists, scale = run_distributions(doc, ana, res)
    if not dists:
        return ""
    parts = [
        "<h3>Distributions</h3><p>All events with a value of the variable (before any SR selection); those "
        "listed in the analysis' validation.yaml. "
        + ("Events at " + e(lumi) + " per bin." if scale is not None else "Normalised to unit area.")
        + " The histograms are also in distributions.yoda beside this page.</p>"
    ]
    for var, values, unit, published in dists:
        svg = distribution_svg(
            var,
            {"this sample": values},
            unit,
            published,
            scale={"this sample": scale} if scale is not None else None,
            lumi=lumi,
        )
        pub = f"; published shape: {published[2]}" if published else "; no published shape in the analysis folder"
        parts.append(svg_figure(svg, f"{axis_label(var, unit)}{pub}"))
    return "\n".join(parts)


def _inputs(summary: Mapping[str, Any], docs: Sequence[Mapping[str, Any]]) -> str:
    inp = summary.get("input", {})
    items: list[tuple[str, Any]] = [
        ("cross section", _xsec_text(inp, docs)),
        ("events (MC)", inp.get("n_events")),
        ("event files", inp.get("events")),
        ("generated model", inp.get("generate")),
        ("SLHA file", inp.get("slha")),
        ("process", inp.get("process")),
        ("seed", inp.get("seed")),
        ("theory uncertainty of σ from", inp.get("cross_section_rel_error_source")),
    ]
    for doc in docs:
        sample = doc.get("sample", {})
        info = doc.get("analysis", {})
        sqrt_s = f", √s = {info['sqrt_s']} TeV" if info.get("sqrt_s") is not None else ""
        items.append(
            (
                f"{doc['analysis']['id']}",
                f"L = {lumi_text(sample.get('luminosity_fb'))}{sqrt_s}, detector: {sample.get('detector') or 'none'}",
            )
        )
    known = {
        "events",
        "generate",
        "slha",
        "process",
        "n_events",
        "seed",
        "cross_section_pb",
        "cross_section_source",
        "cross_section_rel_error",
        "cross_section_rel_error_source",
    }
    items += [(k, v) for k, v in inp.items() if k not in known and v is not None]  # fields added later
    if summary.get("seconds") is not None:
        items.append(("run time", f"{summary['seconds']} s"))
    return "<h2>Inputs</h2>" + definition_list(items)


_KNOWN_TOP = {"format", "format_version", "input", "analyses", "seconds", "provenance"}
_KNOWN_DOC = {
    "format",
    "format_version",
    "analysis",
    "sample",
    "regions",
    "unavailable_regions",
    "metadata",
    "statistics",
    "object_caveats",
}


def run_report(
    summary: Mapping[str, Any],
    analyses: Sequence[Analysis] | None = None,
    results: Sequence[AnalysisResult] | None = None,
) -> str:
    """``report.html`` of ``recast-ml run`` from its results document (``results.json``); the
    analyses and their results, where given, add the distributions."""
    docs = list(summary.get("analyses", []))
    parts = ["<h1>recast_ml results</h1>", headline_html(summary), _inputs(summary, docs)]
    for k, doc in enumerate(docs):
        info = doc.get("analysis", {})
        aid = str(info.get("id", "?"))
        lumi = lumi_text(doc.get("sample", {}).get("luminosity_fb"))
        title = f" — {e(str(info['title']))}" if info.get("title") else ""
        parts.append(f"<h2>{e(aid)}{title}</h2>")
        refs = [f"{n}: {info[n]}" for n in ("arxiv", "hepdata") if info.get(n)]
        parts.append(f"<p>Validation status: <b>{e(_status_text(doc))}</b>. {e('; '.join(refs))}</p>")
        caveats = (
            doc.get("object_caveats")
            or doc.get("sample", {}).get("object_caveats")
            or summary.get("input", {}).get("object_caveats")
        )
        source = doc.get("sample", {}).get("object_source")
        if source:
            parts.append(f"<p>Objects: <b>{e(str(source))}</b></p>")
        if caveats:
            parts.append(
                f"<div class='warning'><b>Object definitions differ from the analysis':</b>{value_html(caveats)}</div>"
            )
        st = doc.get("statistics") or {}
        if st.get("regions"):
            parts.append(_sr_table(doc, lumi))
            parts.append(f"<p>{e(str(st.get('verdict', '')))}</p>")
            if st.get("method"):
                parts.append(
                    f"<p class='legend'>Method: {e(str(st['method']))}. Combination: "
                    f"{e(str(st.get('combination', 'none')))}.</p>"
                )
            caption = (
                f"{aid}: published background (± uncertainty), signal of this sample (± MC error) and observed "
                f"events per signal region, events at {lumi}; below: r_obs and r_exp per SR (r ≥ 1: excluded)"
            )
            for svg in sr_summary_svgs(aid, st["regions"], st.get("best_expected_region"), lumi):
                parts.append(svg_figure(svg, caption))
            parts.append(_variations_table(doc))
        else:
            parts.append(f"<p>{e(str(st.get('note', 'no statistics')))}</p>")
        by_reason: dict[str, list[str]] = {}
        for u in doc.get("unavailable_regions", []):
            by_reason.setdefault(str(u["reason"]), []).append(str(u["name"]))
        for reason, names in by_reason.items():
            parts.append(
                f"<p class='warning'><b>UNAVAILABLE ({len(names)} regions, no yields):</b> "
                f"{e(', '.join(names))} — {e(reason)}</p>"
            )
        ana = analyses[k] if analyses is not None and k < len(analyses) else None
        res = results[k] if results is not None and k < len(results) else None
        parts.append(_distributions(doc, ana, res, lumi))
        parts.append(_cutflows(doc, lumi))
        extra = [(key, v) for key, v in doc.items() if key not in _KNOWN_DOC and v]
        if doc.get("metadata"):
            extra.append(("metadata", doc["metadata"]))
        if extra:
            parts.append(details("Further fields of the results", definition_list(extra)))
    if summary.get("provenance"):
        parts.append(details("Provenance (versions, checksums, command line)", value_html(summary["provenance"])))
    extra_top = [(key, v) for key, v in summary.items() if key not in _KNOWN_TOP and v]
    if extra_top:
        parts.append(details("Further fields of the results", definition_list(extra_top)))
    parts.append(
        "<p class='legend'>Units: events are expected events at the analysis' integrated luminosity L "
        "(σ × L × efficiency); momenta and masses in GeV; cross sections in pb. The full numbers are in "
        "results.json beside this page.</p>"
    )
    return page("recast_ml results", [p for p in parts if p])
