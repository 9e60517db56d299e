"""The verdict when the best expected SR rests on too few MC events: it says so (UNRELIABLE) and
quotes, as a cross-check, the best expected SR among those with at least MIN_MC_EVENTS MC events
(results: statistics.best_reliable). Hand-built SR statistics; the real-run case is the README's
first-steps sample (best expected SR with 4 MC events, SR4j-1000 with 12 excluding)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import recast_ml
from recast_ml.run import _best_reliable, _verdict
from recast_ml.statistics import MIN_MC_EVENTS, RegionStatistics


def sr(name: str, r_exp: float, mc: int, cls_obs: float, r_cons: float | None = None) -> RegionStatistics:
    return RegionStatistics(
        region=name,
        published_name=name,
        signal=10.0,
        signal_error=1.0,
        n_obs=5.0,
        b=5.0,
        b_err=1.0,
        cls_obs=cls_obs,
        cls_exp=cls_obs,
        r_obs=r_exp,
        r_exp=r_exp,
        delta_log_likelihood=0.0,
        r_cons_obs=r_cons,
        mc_events=mc,
        low_mc_statistics=mc < MIN_MC_EVENTS,
    )


def test_a_low_mc_best_sr_quotes_the_best_reliable_one():
    stats = [
        sr("MB-GGd-4-1600-16", 3.0, 4, 0.001, 0.5),  # best expected, 4 MC events
        sr("SR4j-1000", 2.0, 12, 0.01, 1.37),  # best expected among >= 10 MC events
        sr("SR2j-1600", 2.5, 9, 0.02),  # more sensitive but also low in MC
        sr("SR6j-1000", 1.0, 40, 0.2),
    ]
    best = max(stats, key=lambda s: s.r_exp or 0)
    reliable = _best_reliable(stats, best)
    assert reliable is not None
    assert reliable.region == "SR4j-1000"
    text = _verdict(best, reliable)
    assert text.startswith("best expected SR: MB-GGd-4-1600-16 -> EXCLUDED at 95% CL")
    assert "UNRELIABLE: its signal rests on 4 MC event(s)" in text
    assert text.endswith(
        f"of the SRs with at least {MIN_MC_EVENTS} MC events the best expected, SR4j-1000, is EXCLUDED "
        "(CLs_obs = 0.01, r_cons = 1.37)"
    )
    # a reliable best SR: nothing more said, no cross-check
    assert _best_reliable(stats[1:2], stats[1]) is None
    assert "MC events the best expected" not in _verdict(stats[1])
    # no SR with enough MC events
    low = [sr("a", 3.0, 4, 0.3), sr("b", 1.0, 0, 0.9)]
    assert _best_reliable(low, low[0]) is None
    assert _verdict(low[0], None).endswith(f"; no SR has {MIN_MC_EVENTS} MC events or more")


def test_best_reliable_is_in_the_results_schema():
    schema_dir = Path(recast_ml.__file__).parent / "schemas"
    schema = json.loads((schema_dir / "results.schema.json").read_text())
    stat_schema = {**schema["properties"]["statistics"], "$defs": schema.get("$defs", {})}
    ok = {"best_reliable": sr("SR4j-1000", 2.0, 12, 0.01).to_dict()}
    jsonschema.Draft202012Validator(stat_schema).validate(ok)
    jsonschema.Draft202012Validator(stat_schema).validate({"best_reliable": None})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(stat_schema).validate({"best_reliable": "SR4j-1000"})


def _analysis(aid: str, best: RegionStatistics, reliable: RegionStatistics | None = None) -> dict:
    st: dict = {"best": best.to_dict(), "best_expected_region": best.region, "regions": [], "note": "hand-built"}
    st["excluded_at_95cl"] = best.cls_obs < 0.05
    if best.low_mc_statistics:
        st["best_reliable"] = reliable.to_dict() if reliable else None
    return {"analysis": {"id": aid}, "statistics": st, "regions": []}


def test_the_overall_verdict_quotes_the_most_sensitive_reliable_sr_of_all_analyses():
    """Several analyses, the deciding SR (largest expected r) low in MC events: the run's verdict
    also quotes the most sensitive SR with enough MC events over all analyses (each analysis' best
    expected SR, or its best_reliable where that is low), chosen as the deciding SR is."""
    from recast_ml.report import headline_html
    from recast_ml.run import format_summary, overall_verdict

    a = _analysis("A", sr("A-low", 3.0, 4, 0.001, 0.5), reliable=sr("A-ok", 2.0, 12, 0.01, 1.37))
    b = _analysis("B", sr("B-ok", 2.5, 30, 0.2, 0.9))
    summary = {"input": {"n_events": 200, "cross_section_pb": 0.03, "cross_section_source": "given"}}
    summary["analyses"] = [a, b]
    v = overall_verdict(summary)
    assert (v["analysis"], v["region"], v["low_mc_statistics"]) == ("A", "A-low", True)
    assert v["reliable"] == {"analysis": "B", "region": "B-ok", "excluded": False, "cls_obs": 0.2, "r_cons_obs": 0.9}
    summary["verdict"] = v
    lines = format_summary(summary).splitlines()
    assert lines[-2].startswith("decided by A A-low (its signal rests on too few MC events)")
    assert lines[-1] == (
        f"cross-check: of the SRs with at least {MIN_MC_EVENTS} MC events the most sensitive, B B-ok, is not "
        "excluded (CLs_obs = 0.2, r_cons = 0.9)"
    )
    assert "Cross-check: of the SRs with at least" in headline_html(summary)
    assert "B B-ok, is not excluded" in headline_html(summary)
    # the schema of results.json's verdict
    schema = json.loads((Path(recast_ml.__file__).parent / "schemas" / "run.schema.json").read_text())
    vschema = {**schema["properties"]["verdict"], "$defs": schema.get("$defs", {})}
    jsonschema.Draft202012Validator(vschema).validate(v)
    # no SR with enough MC events anywhere
    summary["analyses"] = [_analysis("A", sr("A-low", 3.0, 4, 0.001)), _analysis("B", sr("B-low", 1.0, 2, 0.3))]
    v = overall_verdict(summary)
    assert v["reliable"] is None
    jsonschema.Draft202012Validator(vschema).validate(v)
    summary["verdict"] = v
    assert format_summary(summary).splitlines()[-1] == f"cross-check: no SR has at least {MIN_MC_EVENTS} MC events"
    # a reliable deciding SR: no cross-check
    summary["analyses"] = [b, _analysis("C", sr("C-ok", 1.0, 40, 0.5))]
    v = overall_verdict(summary)
    assert (v["region"], "reliable" in v) == ("B-ok", False)
