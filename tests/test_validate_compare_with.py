"""validate.py's cutflow options added for ATLAS-SUSY-2016-07: ``compare_with`` (another recast
tool's column, its efficiency relative to its own normalisation row, shown beside ours),
``first_step_of`` (a region whose published rows start after another step) and the counts within
10/15/25 % of the published value; plus the committed ATLAS-SUSY-2016-07 report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from recast_ml.validate import Comparison, ValidationReport, _compare_cutflows, _html, within_counts

CSV = """# test cutflow
model,m,SR,cut,ATLAS_events,Other_events
g,1,Common,Presel,100,50
g,1,Common,Nj >= 2,90,45
g,1,Common,Cleaning,88,
g,1,A,cut a1,60,33
g,1,A,cut a2,30,
g,1,B,cut b1,10,4
"""


class FakeCutflow:
    def __init__(self, names, sumw):
        self.names = names
        self.sumw = np.array(sumw, dtype=float)
        self.n = np.array(sumw, dtype=float) * 10  # raw counts: 10 events per unit weight


class FakeResult:
    def __init__(self):
        self.cutflows = {
            "presel": FakeCutflow(["all", "Presel", "Nj >= 2"], [200, 100, 92]),
            "A": FakeCutflow(["all", "Presel", "Nj >= 2", "a1", "a2"], [200, 100, 92, 66, 27]),
            # B: the published rows start after its own "large-R" step
            "B": FakeCutflow(["all", "Presel", "Nj >= 2", "large-R", "b1"], [200, 100, 92, 20, 12]),
        }

    def cutflow(self, region):
        return self.cutflows[region]


def config(**extra):
    return {
        "file": "cf.csv",
        "value": "ATLAS_events",
        "normalisation": {"region": "Common", "cut": "Presel", "step": "Presel"},
        "common": {"region": "presel", "steps": {"Nj >= 2": "Nj >= 2"}},
        "skip": ["Cleaning"],
        "tolerance": 0.15,
        "rows": [{"benchmark": "b", "match": {"m": "1"}}],
        "first_step": "Nj >= 2",
        **extra,
    }


def test_another_tools_column_beside_ours(tmp_path):
    (tmp_path / "cf.csv").write_text(CSV)
    cfg = config(compare_with={"column": "Other_events", "label": "Other"}, first_step_of={"B": "large-R"})
    got = {(c.region, c.step): c for c in _compare_cutflows(cfg, tmp_path, {"b": FakeResult()})}
    assert sorted(got) == [("A", "a1"), ("A", "a2"), ("B", "b1"), ("presel", "Nj >= 2")]
    # by hand: ours = sumw / sumw(Presel); published = ATLAS / 100; other = Other / 50
    a1 = got[("A", "a1")]
    assert (a1.ours, a1.published, a1.other) == pytest.approx((0.66, 0.60, 0.66))
    assert a1.ratio == pytest.approx(1.1)
    assert a1.other_ratio == pytest.approx(1.1)
    assert a1.other_label == "Other"
    assert math.isnan(got[("A", "a2")].other)  # empty cell: no value
    b1 = got[("B", "b1")]
    assert (b1.ours, b1.published, b1.other, b1.other_ratio) == pytest.approx((0.12, 0.10, 0.08, 0.8))
    nj = got[("presel", "Nj >= 2")]
    assert (nj.ours, nj.published, nj.other) == pytest.approx((0.92, 0.90, 0.90))
    d = a1.to_dict()
    assert d["other"] == {"tool": "Other", "value": pytest.approx(0.66), "ratio": pytest.approx(1.1)}
    assert got[("A", "a2")].to_dict()["other"]["ratio"] is None


def test_without_first_step_of_the_region_does_not_line_up(tmp_path):
    """B has one step more than its published rows after 'Nj >= 2': an error naming both counts."""
    from recast_ml import ConfigError

    (tmp_path / "cf.csv").write_text(CSV)
    with pytest.raises(ConfigError, match="B has 1 published steps, region B has 2 after 'Nj >= 2'"):
        _compare_cutflows(config(), tmp_path, {"b": FakeResult()})


def test_within_counts_and_the_summary_and_table():
    assert within_counts([1.0, 1.099, 0.86, 1.2, 0.7, math.nan, 1.25]) == {
        "compared": 6,
        "10%": 2,
        "15%": 3,
        "25%": 5,
    }

    def comp(ours, other):
        c = Comparison("cutflow", "b", "A", f"s{ours}", 0.5, ours, 0.001, 0.15)
        c.other, c.other_label = other, "CheckMATE"
        return c

    report = ValidationReport(analysis="X", events_per_benchmark=10)
    report.comparisons = [comp(0.5, 0.52), comp(0.56, 0.6), comp(0.3, math.nan)]
    s = report.summary()
    assert s["cutflow"]["within"] == {"compared": 3, "10%": 1, "15%": 2, "25%": 2}
    assert s["cutflow"]["other_within"] == {"CheckMATE": {"compared": 2, "10%": 1, "15%": 1, "25%": 2}}
    html = _html(report, s, [])
    assert re.search(r"<th>CheckMATE \[[^]<]+\]</th><th>CheckMATE / published</th>", html)
    assert "<td>0.52</td><td>1.040</td>" in html
    assert (
        "cutflows within 10 / 15 / 25 % of the published value: recast_ml 1 / 2 / 2 of 3; CheckMATE 1 / 1 / 2 of 2"
        in html
    )


def test_committed_2016_07_report():
    """The committed validation of ATLAS-SUSY-2016-07: every published step compared (435 ATLAS
    numbers less the 3 normalisation rows and the 3 jet-cleaning rows), CheckMATE beside ours."""
    folder = Path(__file__).parents[1] / "validation" / "ATLAS-SUSY-2016-07"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["events_per_benchmark"] >= 5000
    assert set(summary["benchmarks"]) == {"gluino_2000_0", "squark_1200_600", "squark_1500_0"}
    s = summary["cutflow"]
    assert s["compared"] == 429
    assert s["within"]["compared"] == 429
    assert s["other_within"]["CheckMATE"]["compared"] == 429
    assert s["within"]["10%"] <= s["within"]["15%"] <= s["within"]["25%"] <= 429
    html = (folder / "report.html").read_text()
    assert "CheckMATE / published" in html
    for b in summary["benchmarks"]:
        assert (folder / f"cutflow_{b}.png").stat().st_size > 1000
