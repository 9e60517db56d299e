"""The SVG plots of the run report (recast_ml.svgplot and report.sr_summary_svgs /
distribution_svg): every SVG parses as XML, and the emitted coordinates map the values as the axes
say — checked against the positions of the axes' own tick labels and hand-computed log10 / linear
ratios, not against the plotting code's mapping."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from recast_ml.report import SRS_PER_ROW, distribution_edges, distribution_svg, sr_summary_svgs
from recast_ml.svgplot import Axis, Canvas, Panel

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def rects(root: ET.Element, cls: str | None = None) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if cls is None or r.get("class") == cls]


def texts(root: ET.Element) -> dict[str, ET.Element]:
    return {"".join(t.itertext()): t for t in root.iter(f"{NS}text")}


def tick_y(root: ET.Element, label: str) -> float:
    """The y pixel of the y-axis tick labelled ``label`` (text anchored at the end, left of the axis)."""
    for t in root.iter(f"{NS}text"):
        if "".join(t.itertext()) == label and t.get("text-anchor") == "end" and t.get("transform") is None:
            return float(t.get("y", "nan"))
    raise AssertionError(f"no tick {label!r}")


def y_ticks(root: ET.Element) -> dict[str, float]:
    """Label -> y pixel of the y-axis ticks."""
    return {
        "".join(t.itertext()): float(t.get("y", "nan"))
        for t in root.iter(f"{NS}text")
        if t.get("text-anchor") == "end" and t.get("transform") is None
    }


def canvas_panel(log: bool, lo: float, hi: float) -> tuple[Canvas, Panel]:
    cv = Canvas(400, 300)
    return cv, Panel(cv, Axis(-0.5, 3.5, 50, 390), Axis(lo, hi, 280, 20, log=log))


def test_log_bars_from_the_emitted_coordinates():
    cv, p = canvas_panel(True, 0.1, 1000.0)
    p.frame()
    p.bars([0, 1, 2], [10.0, 100.0, 1.0], 0.8)
    root = parse(cv.to_svg("t"))
    bars = [r for r in rects(root) if r.get("fill") == "#1f77b4"]
    assert len(bars) == 3
    tops = [float(r.get("y", "nan")) for r in bars]
    bottoms = [float(r.get("y", "nan")) + float(r.get("height", "nan")) for r in bars]
    assert bottoms == pytest.approx([280.0] * 3)  # bars start at the bottom of the axis (0.1)
    y1 = tick_y(root, "1")
    assert tops[2] == pytest.approx(y1, abs=0.01)  # a bar of 1 ends at the tick "1"
    assert tops[0] == pytest.approx(tick_y(root, "10"), abs=0.01)
    # above 1, a bar of 100 is twice as tall as one of 10 (log10 100 = 2 log10 10)
    assert (y1 - tops[1]) == pytest.approx(2 * (y1 - tops[0]), abs=0.02)
    # 4 decades over 260 pixels: 65 pixels per decade
    assert y1 - tops[0] == pytest.approx(65.0, abs=0.01)
    # x: centres at 0, 1, 2 on -0.5..3.5 over 50..390 (85 pixels per unit), width 0.8 units
    xs = [float(r.get("x", "nan")) + float(r.get("width", "nan")) / 2 for r in bars]
    assert xs == pytest.approx([50 + 85 * 0.5, 50 + 85 * 1.5, 50 + 85 * 2.5], abs=0.01)
    assert float(bars[0].get("width", "nan")) == pytest.approx(68.0, abs=0.01)


def test_linear_bars_error_bars_and_skipped_values():
    cv, p = canvas_panel(False, 0.0, 5.0)
    p.frame()
    p.bars([0, 1, 2, 3], [2.0, 4.0, float("nan"), None], 0.5)
    p.markers([0, 1, 2, 3], [1.0, None, float("nan"), 9.0], "o")  # None, NaN and out of range skipped
    p.errorbars([0], [2.0], [1.0], color="#123456", cap=3)
    root = parse(cv.to_svg())
    bars = [r for r in rects(root) if r.get("fill") == "#1f77b4"]
    assert len(bars) == 2
    y0 = tick_y(root, "0")
    heights = [y0 - float(r.get("y", "nan")) for r in bars]
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.02)
    assert heights[0] == pytest.approx(2 / 5 * 260, abs=0.01)
    assert len(list(root.iter(f"{NS}circle"))) == 1
    err = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke") == "#123456"]
    assert len(err) == 3  # the bar and two caps
    vertical = err[0]
    assert float(vertical.get("y1", "nan")) == pytest.approx(tick_y(root, "1"), abs=0.01)
    assert float(vertical.get("y2", "nan")) == pytest.approx(tick_y(root, "3"), abs=0.01)


def test_log_axis_zeros_and_ticks():
    cv, p = canvas_panel(True, 1.0, 50.0)
    p.frame()
    p.markers([0, 1], [0.0, -1.0], "o")  # not drawable on a log axis: skipped
    p.bars([0], [0.0], 0.5)
    root = parse(cv.to_svg())
    assert not list(root.iter(f"{NS}circle"))
    assert [lab for _, lab in p.y.ticks()] == ["1", "2", "5", "10", "20", "50"]  # few decades: 2 and 5 too
    many = Axis(1e-3, 1e9, 0, 100, log=True).ticks()
    assert len(many) <= 8
    assert all(math.log10(v) == round(math.log10(v)) for v, _ in many)
    assert "10⁶" in [lab for _, lab in many]
    assert Axis(0.0, 0.0, 0, 100, log=True).ticks()  # degenerate ranges still give an axis
    assert [lab for _, lab in Axis(0, 1.5, 0, 100).ticks()] == ["0", "0.5", "1.0", "1.5"]


def test_text_is_escaped_and_ids_unique():
    a, b = Canvas(100, 100), Canvas(100, 100)
    a.text(10, 10, "<SR & 'x'>")
    assert a.hatch("#000") != b.hatch("#000")
    root = parse(a.to_svg("a < b"))
    assert "<SR & 'x'>" in texts(root)
    assert root.find(f"{NS}title") is not None


def sr_rows(n: int, best: int | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for k in range(n):
        rows.append(
            {
                "region": f"SR-{k}",
                "b": 10.0 ** (k % 4),
                "b_err": 0.3 * 10.0 ** (k % 4),
                "signal": [10.0, 100.0, 0.0, float("nan")][k % 4],
                "signal_error": 1.0,
                "n_obs": 10 ** (k % 4),
                "r_obs": None if k % 5 == 0 else 0.5,
                "r_exp": 1.2,
            }
        )
    return rows


def test_sr_summary_content():
    rows = sr_rows(8)
    (svg,) = sr_summary_svgs("TEST-1", rows, "SR-1", "139 fb⁻¹")
    root = parse(svg)
    # the hatched background uncertainty refers to a defined pattern
    patterns = {p.get("id") for p in root.iter(f"{NS}pattern")}
    assert patterns
    hatched = rects(root, "sr-background-uncertainty")
    assert len(hatched) == 8
    assert all(r.get("fill") == f"url(#{next(iter(patterns))})" for r in hatched)
    # the signal bars: 10 ends at the tick "10", 100 at "100"; 0 and NaN skipped
    signal = rects(root, "sr-signal")
    assert len(signal) == 4  # SR-0, SR-1, SR-4, SR-5
    assert float(signal[0].get("y", "nan")) == pytest.approx(tick_y(root, "10"), abs=0.01)
    assert float(signal[1].get("y", "nan")) == pytest.approx(tick_y(root, "100"), abs=0.01)
    assert len(rects(root, "sr-background")) == 8
    # observed points (n_obs > 0)
    assert len(list(root.iter(f"{NS}circle"))) == 8 + 1  # and the legend's
    # the best SR's label is bold red, the others plain
    labels = texts(root)
    assert labels["SR-1"].get("font-weight") == "bold"
    assert labels["SR-1"].get("fill") == "#d62728"
    assert labels["SR-1"].get("class") == "sr-best"  # not the page's class 'best' (outlined table rows)
    assert labels["SR-2"].get("font-weight") is None
    assert labels["SR-2"].get("transform", "").startswith("rotate(-90")
    assert "TEST-1: signal regions, best expected SR in red" in labels
    assert "events at 139 fb⁻¹" in labels
    assert "r = s/S95" in labels


@pytest.mark.parametrize("n", [0, 1, 59, 200])
def test_sr_summary_sizes(n):
    svgs = sr_summary_svgs("TEST-1", sr_rows(n), None, "L")
    assert len(svgs) == max(1, math.ceil(n / SRS_PER_ROW))
    labels = [t for svg in svgs for t in texts(parse(svg)) if re.fullmatch(r"SR-\d+", t)]
    assert sorted(labels) == sorted(f"SR-{k}" for k in range(n))
    if n == 0:
        assert "no signal region" in texts(parse(svgs[0]))


def stairs(root: ET.Element, stroke: str) -> list[tuple[float, float, float]]:
    """(x0, x1, y) of each bin of the step path drawn in ``stroke``."""
    (path,) = [p for p in root.iter(f"{NS}path") if p.get("stroke") == stroke]
    return [
        (float(a), float(c), float(b))
        for a, b, c in re.findall(r"[ML]([-\d.]+) ([-\d.]+)H([-\d.]+)", path.get("d", ""))
    ]


def test_distribution_bins_and_heights():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(1000, 200, 500), [np.nan]])
    svg = distribution_svg("meff", {"this sample": values}, "GeV", scale={"this sample": 0.5}, lumi="139 fb⁻¹")
    root = parse(svg)
    edges = distribution_edges(values[np.isfinite(values)])
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    bins = stairs(root, "#1f77b4")
    assert len(bins) == len(edges) - 1 == 40
    # bin edges: the pixel positions are linear in the edges of distribution_edges
    x = np.array([b[0] for b in bins] + [bins[-1][1]])
    assert np.allclose(np.diff(x) / (x[-1] - x[0]), np.diff(edges) / (edges[-1] - edges[0]), atol=1e-4)
    # heights: events at L (0.5 per event) against the ticks of the y axis
    y0 = tick_y(root, "0")
    ys = {lab: y for lab, y in y_ticks(root).items() if lab != "0"}
    y_tick = max(ys.items(), key=lambda t: float(t[0]))
    per_event = (y0 - y_tick[1]) / float(y_tick[0])
    assert np.allclose([(y0 - b[2]) / per_event for b in bins], 0.5 * counts, atol=0.05)
    labels = texts(root)
    assert "meff [GeV]" in labels
    assert "events at 139 fb⁻¹ per bin" in labels


def test_distribution_published_shape_and_empty():
    published = (np.array([0.0, 2000.0, 4000.0]), np.array([3.0, 1.0]), "made up")
    root = parse(distribution_svg("meff", {"this sample": np.array([100.0, 2500.0, 3000.0])}, "GeV", published))
    black = stairs(root, "#000")
    assert len(black) == 2
    assert (tick_y(root, "0") - black[0][2]) == pytest.approx(3 * (tick_y(root, "0") - black[1][2]), abs=0.05)
    assert "published (unit area)" in texts(root)
    assert "fraction of events / GeV" in texts(root)
    empty = parse(distribution_svg("ap", {"this sample": np.array([np.nan])}, ""))
    assert "no event has a value" in texts(empty)
    assert not list(empty.iter(f"{NS}path"))


def test_run_report_plots_without_matplotlib():
    """The run path draws its plots without importing matplotlib (seconds of import on every run)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "import recast_ml.run, recast_ml.cli\n"
        "from recast_ml.report import sr_summary_svgs, distribution_svg\n"
        "sr_summary_svgs('A', [{'region': 'SR', 'b': 1.0, 'b_err': 0.1, 'signal': 2.0, 'signal_error': 0.5,"
        " 'n_obs': 1, 'r_obs': 0.5, 'r_exp': 0.4}], 'SR', 'L')\n"
        "distribution_svg('x', {'s': np.arange(10.0)}, 'GeV')\n"
        "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)[:3]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
