"""Small SVG plotting primitives for the run report (``report.html`` of ``recast-ml run``).

The run report's plots are drawn as inline SVG written directly: no matplotlib import on the run
path (importing it alone costs seconds), the page stays one static, offline file, and the plots
scale with the page. The primitives are what the report needs and no more:

* :class:`Axis`: a linear or log10 mapping from data to pixels with readable ticks (nice 1/2/5
  steps on linear axes; decades on log axes, with 2 and 5 labelled when the range spans few
  decades, every n-th decade when it spans many);
* :class:`Canvas`: the SVG document (rectangles, lines, paths, text with XML escaping, markers, a
  hatch pattern with an id unique in the page, legend, title);
* :class:`Panel`: a plot area with two axes: bars (optionally hatched), error bars, markers,
  step histograms, horizontal lines, the frame with ticks and axis labels, category labels
  (rotated, styled per label), a note for empty data.

Values that are None or NaN are skipped; values <= 0 on a log axis are skipped (markers) or drawn
from the bottom of the axis (bars); everything drawn is clamped to the panel. Coordinates are
written with at most two decimals.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)

#: matplotlib's default colour cycle (tab10), for samples without a colour of their own.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")

FONT = "DejaVu Sans,Arial,Helvetica,sans-serif"


def fmt(v: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros ('12.5', '3', '-0.25')."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def esc(s: Any) -> str:
    """Text for an SVG element or attribute (XML-escaped, quotes too)."""
    return html.escape(str(s), quote=True)


def finite(v: Any) -> float | None:
    """``v`` as a float, or None when it is None, NaN, infinite or not a number."""
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def text_width(s: str, size: float) -> float:
    """An estimate of the width of ``s`` in pixels at font size ``size`` (sans-serif)."""
    return 0.6 * size * len(s)


# ------------------------------------------------------------------------------------------------
# axes


@dataclass
class Axis:
    """Data ``lo``..``hi`` mapped to pixels ``p0``..``p1`` (``p0`` at ``lo``; for a y axis ``p0``
    is the bottom pixel). ``log``: log10 scale. Degenerate ranges are widened, a log axis gets a
    positive ``lo``."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __post_init__(self) -> None:
        lo, hi = finite(self.lo), finite(self.hi)
        if self.log:
            if hi is None or hi <= 0:
                hi = 10.0
            if lo is None or lo <= 0 or lo >= hi:
                lo = hi / 1000.0 if lo is None or lo <= 0 else hi / 10.0
        else:
            lo = 0.0 if lo is None else lo
            hi = lo + 1.0 if hi is None or hi <= lo else hi
        self.lo, self.hi = lo, hi

    def fraction(self, v: float) -> float:
        """Where ``v`` lies on the axis: 0 at ``lo``, 1 at ``hi`` (not clamped; -inf for v <= 0 on
        a log axis)."""
        if self.log:
            if v <= 0:
                return -math.inf
            return (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return (v - self.lo) / (self.hi - self.lo)

    def __call__(self, v: float, clamp: bool = True) -> float:
        """The pixel of ``v``, clamped to the axis by default."""
        t = self.fraction(v)
        if clamp:
            t = min(1.0, max(0.0, t))
        return self.p0 + t * (self.p1 - self.p0)

    def ticks(self) -> list[tuple[float, str]]:
        """(value, label) of the ticks within the axis range."""
        return self._log_ticks() if self.log else self._linear_ticks()

    def _linear_ticks(self) -> list[tuple[float, str]]:
        raw = (self.hi - self.lo) / 5.0
        mag = 10.0 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw * 0.999)
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        first = math.ceil(self.lo / step - 1e-9)
        out = []
        k = first
        while k * step <= self.hi + 1e-9 * step:
            v = k * step
            label = f"{v:.{decimals}f}" if abs(v) < 1e6 else f"{v:.3g}"
            out.append((v, "0" if label.strip("-0.") == "" else label))
            k += 1
        return out

    def _log_ticks(self) -> list[tuple[float, str]]:
        a, b = math.log10(self.lo), math.log10(self.hi)
        decades = list(range(math.ceil(a - 1e-9), math.floor(b + 1e-9) + 1))
        every = max(1, math.ceil(len(decades) / 8))
        out = [(10.0**k, decade_label(k)) for k in decades if k % every == 0]
        if b - a <= 2.5:  # few decades: 2 and 5 labelled as well
            for k in range(math.floor(a) - 1, math.ceil(b) + 1):
                for m in (2, 5):
                    v = m * 10.0**k
                    if self.lo <= v <= self.hi:
                        out.append((v, number_label(v)))
        return sorted(out)


def number_label(v: float) -> str:
    """A tick label with few digits: '0.002', '50', '2000', '2×10⁶'."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.6g}"
    mant, exp = f"{v:.1e}".split("e")
    m = mant.rstrip("0").rstrip(".")
    return (f"{m}×" if m != "1" else "") + "10" + _superscript(int(exp))


def decade_label(k: int) -> str:
    """The label of 10^k: plain ('0.01', '1000') from 10⁻³ to 10⁴, else '10⁻⁵', '10⁶'."""
    return f"{10.0**k:.6g}" if -3 <= k <= 4 else "10" + _superscript(k)


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


# ------------------------------------------------------------------------------------------------
# the document


@dataclass
class Canvas:
    """An SVG document of ``width`` x ``height`` pixels; elements are appended in drawing order.
    ``uid`` prefixes the ids of its patterns (unique per page: several plots share one HTML page)."""

    width: float
    height: float
    uid: str = field(default_factory=lambda: f"svgplot{next(_ids)}")
    parts: list[str] = field(default_factory=list)
    defs: list[str] = field(default_factory=list)
    _hatches: dict[str, str] = field(default_factory=dict)

    def rect(
        self, x: float, y: float, w: float, h: float, *, fill: str = "none", stroke: str | None = None, sw: float = 1.0
    ) -> None:
        st = f" stroke='{stroke}' stroke-width='{fmt(sw)}'" if stroke else ""
        w, h = max(w, 0.0), max(h, 0.0)
        self.parts.append(f"<rect x='{fmt(x)}' y='{fmt(y)}' width='{fmt(w)}' height='{fmt(h)}' fill='{fill}'{st}/>")

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str = "#000",
        sw: float = 1.0,
        dash: str | None = None,
    ) -> None:
        d = f" stroke-dasharray='{dash}'" if dash else ""
        self.parts.append(
            f"<line x1='{fmt(x1)}' y1='{fmt(y1)}' x2='{fmt(x2)}' y2='{fmt(y2)}' stroke='{stroke}' "
            f"stroke-width='{fmt(sw)}'{d}/>"
        )

    def path(self, d: str, *, stroke: str = "#000", sw: float = 1.0, fill: str = "none") -> None:
        self.parts.append(f"<path d='{d}' fill='{fill}' stroke='{stroke}' stroke-width='{fmt(sw)}'/>")

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        size: float = 11,
        anchor: str = "start",
        rotate: float | None = None,
        bold: bool = False,
        fill: str | None = None,
        baseline: str | None = None,
        cls: str | None = None,
    ) -> None:
        """``s`` at (x, y) (XML-escaped); ``rotate`` in degrees about (x, y); ``baseline``:
        dominant-baseline ('middle', 'hanging')."""
        attrs = [f"x='{fmt(x)}'", f"y='{fmt(y)}'", f"font-size='{fmt(size)}'"]
        if anchor != "start":
            attrs.append(f"text-anchor='{anchor}'")
        if rotate:
            attrs.append(f"transform='rotate({fmt(rotate)} {fmt(x)} {fmt(y)})'")
        if bold:
            attrs.append("font-weight='bold'")
        if fill:
            attrs.append(f"fill='{fill}'")
        if baseline:
            attrs.append(f"dominant-baseline='{baseline}'")
        if cls:
            attrs.append(f"class='{esc(cls)}'")
        self.parts.append(f"<text {' '.join(attrs)}>{esc(s)}</text>")

    def hatch(self, color: str) -> str:
        """The fill of a diagonal hatch in ``color`` (a pattern defined once per canvas)."""
        if color not in self._hatches:
            pid = f"{self.uid}-hatch{len(self._hatches)}"
            self.defs.append(
                f"<pattern id='{pid}' class='hatch' patternUnits='userSpaceOnUse' width='6' height='6' "
                f"patternTransform='rotate(45)'><line x1='0' y1='0' x2='0' y2='6' stroke='{color}' "
                "stroke-width='1.6'/></pattern>"
            )
            self._hatches[color] = f"url(#{pid})"
        return self._hatches[color]

    def marker(self, x: float, y: float, shape: str, *, color: str = "#000", size: float = 7.0) -> None:
        """A marker centred at (x, y): 'o' circle, 'v' triangle down, '_' horizontal dash, 's' square."""
        h = size / 2
        if shape == "o":
            self.parts.append(f"<circle cx='{fmt(x)}' cy='{fmt(y)}' r='{fmt(h * 0.8)}' fill='{color}'/>")
        elif shape == "v":
            pts = f"{fmt(x - h)},{fmt(y - h * 0.8)} {fmt(x + h)},{fmt(y - h * 0.8)} {fmt(x)},{fmt(y + h)}"
            self.parts.append(f"<polygon points='{pts}' fill='{color}'/>")
        elif shape == "_":
            self.line(x - h * 1.2, y, x + h * 1.2, y, stroke=color, sw=2.0)
        else:
            self.rect(x - h * 0.8, y - h * 0.8, h * 1.6, h * 1.6, fill=color)

    def title(self, s: str, *, y: float = 15, size: float = 12) -> None:
        self.text(self.width / 2, y, s, size=size, anchor="middle", bold=True)

    def legend(
        self, x: float, y: float, entries: Sequence[LegendEntry], *, max_width: float, size: float = 10
    ) -> float:
        """Entries left to right from (x, y) (top), wrapped at ``max_width``; returns the height used."""
        row_h = size + 6
        cx, cy = x, y
        for entry in entries:
            w = 22 + text_width(entry.label, size) + 12
            if cx > x and cx + w > x + max_width:
                cx, cy = x, cy + row_h
            self._swatch(cx, cy + row_h / 2, entry)
            self.text(cx + 22, cy + row_h / 2, entry.label, size=size, baseline="middle")
            cx += w
        return cy + row_h - y

    def _swatch(self, x: float, ym: float, entry: LegendEntry) -> None:
        c = entry.color
        if entry.kind == "rect":
            self.rect(x, ym - 5, 16, 10, fill=c)
        elif entry.kind == "hatch":
            self.rect(x, ym - 5, 16, 10, fill=self.hatch(c))
        elif entry.kind == "line":
            self.line(x, ym, x + 16, ym, stroke=c, sw=1.8)
        elif entry.kind == "errorbar":
            self.line(x + 8, ym - 6, x + 8, ym + 6, stroke=c, sw=1.2)
            self.line(x + 5, ym - 6, x + 11, ym - 6, stroke=c)
            self.line(x + 5, ym + 6, x + 11, ym + 6, stroke=c)
        elif entry.kind == "marker_errorbar":
            self.line(x + 8, ym - 6, x + 8, ym + 6, stroke=c, sw=1.2)
            self.marker(x + 8, ym, entry.shape, color=c)
        else:
            self.marker(x + 8, ym, entry.shape, color=c)

    def to_svg(self, label: str | None = None) -> str:
        """The SVG element (inline in HTML or as a file); ``label``: its accessible name."""
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        name = f"<title>{esc(label)}</title>" if label else ""
        return (
            f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{fmt(self.width)}' height='{fmt(self.height)}' "
            f"viewBox='0 0 {fmt(self.width)} {fmt(self.height)}' font-family='{FONT}' "
            f"style='max-width:100%;height:auto'>{name}{defs}{''.join(self.parts)}</svg>"
        )


@dataclass(frozen=True)
class LegendEntry:
    """One legend entry: ``kind`` is 'rect', 'hatch', 'line', 'errorbar', 'marker' or
    'marker_errorbar' (with ``shape`` as in :meth:`Canvas.marker`)."""

    kind: str
    color: str
    label: str
    shape: str = "o"


# ------------------------------------------------------------------------------------------------
# a plot area


@dataclass
class Panel:
    """A plot area of ``canvas`` with axes ``x`` (pixels left → right) and ``y`` (bottom → top)."""

    canvas: Canvas
    x: Axis
    y: Axis

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in pixels."""
        return self.x.p0, self.y.p1, self.x.p1, self.y.p0

    def _base(self, bottom: float | None) -> float:
        if bottom is None or (self.y.log and bottom <= 0):
            return self.y.p0
        return self.y(bottom)

    def bars(
        self,
        centers: Iterable[Any],
        heights: Iterable[Any],
        width: float,
        *,
        bottoms: Iterable[Any] | None = None,
        fill: str = "#1f77b4",
        hatch: str | None = None,
        cls: str | None = None,
    ) -> None:
        """Bars of ``width`` (data units) from ``bottoms`` (default: the bottom of the axis) to
        ``bottoms + heights``; ``hatch``: hatched in that colour instead of filled. Bars with a
        None/NaN value or no height are skipped."""
        fill_attr = self.canvas.hatch(hatch) if hatch else fill
        bs = list(bottoms) if bottoms is not None else None
        c = f" class='{esc(cls)}'" if cls else ""
        for k, (cx, h) in enumerate(zip(centers, heights, strict=True)):
            xv, hv = finite(cx), finite(h)
            bv = finite(bs[k]) if bs is not None else 0.0
            if xv is None or hv is None or bv is None or hv <= 0:
                continue
            top_v = bv + hv
            if self.y.log and top_v <= 0:
                continue
            base = self._base(bv if bs is not None else None)
            top = self.y(top_v)
            x0, x1 = self.x(xv - width / 2), self.x(xv + width / 2)
            if base - top <= 0 or x1 - x0 <= 0:
                continue
            self.canvas.parts.append(
                f"<rect{c} x='{fmt(x0)}' y='{fmt(top)}' width='{fmt(x1 - x0)}' height='{fmt(base - top)}' "
                f"fill='{fill_attr}'/>"
            )

    def errorbars(
        self,
        xs: Iterable[Any],
        ys: Iterable[Any],
        down: Iterable[Any],
        up: Iterable[Any] | None = None,
        *,
        color: str = "#000",
        cap: float = 3.0,
        sw: float = 1.0,
    ) -> None:
        """Vertical error bars from y − down to y + up (``up`` defaults to ``down``), with caps of
        ``cap`` pixels (0: none); skipped where a value is None/NaN or the error is 0."""
        downs = list(down)
        ups = list(up) if up is not None else downs
        for cx, cy, d, u in zip(xs, ys, downs, ups, strict=True):
            xv, yv, dv, uv = finite(cx), finite(cy), finite(d), finite(u)
            if xv is None or yv is None or dv is None or uv is None or (dv <= 0 and uv <= 0):
                continue
            lo, hi = yv - dv, yv + uv
            if self.y.log and hi <= 0:
                continue
            px = self.x(xv)
            if not self.x.lo <= xv <= self.x.hi:
                continue
            p_lo = self._base(lo) if self.y.log else self.y(lo)
            p_hi = self.y(hi)
            self.canvas.line(px, p_lo, px, p_hi, stroke=color, sw=sw)
            if cap:
                for p in (p_lo, p_hi):
                    if self.y.p1 < p < self.y.p0:
                        self.canvas.line(px - cap, p, px + cap, p, stroke=color, sw=sw)

    def markers(
        self, xs: Iterable[Any], ys: Iterable[Any], shape: str, *, color: str = "#000", size: float = 7.0
    ) -> None:
        """Markers at the points; skipped for None/NaN, for y <= 0 on a log axis and outside the panel."""
        for cx, cy in zip(xs, ys, strict=True):
            xv, yv = finite(cx), finite(cy)
            if xv is None or yv is None or (self.y.log and yv <= 0):
                continue
            fx, fy = self.x.fraction(xv), self.y.fraction(yv)
            if not (-1e-9 <= fx <= 1 + 1e-9 and -1e-9 <= fy <= 1 + 1e-9):
                continue
            self.canvas.marker(self.x(xv), self.y(yv), shape, color=color, size=size)

    def step(self, edges: Sequence[float], values: Sequence[Any], *, color: str = "#1f77b4", sw: float = 1.4) -> None:
        """A step histogram (stairs) of ``values`` on ``edges`` (len(values) + 1); a None/NaN bin
        breaks the line."""
        d: list[str] = []
        pen = False
        for k, v in enumerate(values):
            fv = finite(v)
            if fv is None or (self.y.log and fv <= 0):
                pen = False
                continue
            x0, x1, py = self.x(edges[k]), self.x(edges[k + 1]), self.y(fv)
            d.append(f"{'L' if pen else 'M'}{fmt(x0)} {fmt(py)}H{fmt(x1)}")
            pen = True
        if d:
            self.canvas.path("".join(d), stroke=color, sw=sw)

    def hline(self, yv: float, *, color: str = "#000", sw: float = 1.0, dash: str | None = None) -> None:
        left, _, right, _ = self.box
        self.canvas.line(left, self.y(yv), right, self.y(yv), stroke=color, sw=sw, dash=dash)

    def frame(
        self,
        *,
        xlabel: str | None = None,
        ylabel: str | None = None,
        xticks: bool = True,
        size: float = 10,
        grid: bool = True,
    ) -> None:
        """The box, y ticks with labels (light grid lines), x ticks unless ``xticks`` is False, and
        the axis labels (y rotated)."""
        left, top, right, bottom = self.box
        cv = self.canvas
        cv.rect(left, top, right - left, bottom - top, stroke="#000", sw=1.0)
        widest = 0.0
        for v, label in self.y.ticks():
            py = self.y(v)
            if grid:
                cv.line(left, py, right, py, stroke="#e4e4e4", sw=0.8)
            cv.line(left - 4, py, left, py)
            cv.text(left - 6, py, label, size=size, anchor="end", baseline="middle")
            widest = max(widest, text_width(label, size))
        if xticks:
            for v, label in self.x.ticks():
                px = self.x(v)
                cv.line(px, bottom, px, bottom + 4)
                cv.text(px, bottom + 6, label, size=size, anchor="middle", baseline="hanging")
        if xlabel:
            cv.text(
                (left + right) / 2,
                bottom + (22 if xticks else 8),
                xlabel,
                size=size + 1,
                anchor="middle",
                baseline="hanging",
            )
        if ylabel:
            yl = max(left - widest - 12, size + 2)
            cv.text(yl, (top + bottom) / 2, ylabel, size=size + 1, anchor="middle", rotate=-90)

    def category_labels(
        self,
        labels: Sequence[str],
        *,
        size: float = 10,
        styles: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        """``labels[k]`` below the panel at x = k, rotated by 90° (read bottom to top) with a tick;
        ``styles[k]``: keyword arguments of :meth:`Canvas.text` for that label (bold, fill, cls)."""
        _, _, _, bottom = self.box
        for k, label in enumerate(labels):
            px = self.x(float(k))
            self.canvas.line(px, bottom, px, bottom + 4)
            extra = dict((styles or {}).get(k, {}))
            self.canvas.text(px, bottom + 6, label, size=size, anchor="end", rotate=-90, baseline="middle", **extra)

    def note(self, s: str, *, size: float = 12) -> None:
        """``s`` in the middle of the panel (e.g. 'no event has a value')."""
        left, top, right, bottom = self.box
        self.canvas.text(
            (left + right) / 2, (top + bottom) / 2, s, size=size, anchor="middle", baseline="middle", cls="plot-note"
        )
