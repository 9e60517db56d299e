"""The HTML reports (recast_ml.report, validate's report): the headline verdict on hand-built
results documents (statistics computed by recast_ml.statistics on published-style numbers), the
few-MC-events warning, units, the legend, no raw JSON; the run report's plots inline SVG that
parse, the validation report's images decodable PNGs."""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from recast_ml.report import (
    SRS_PER_ROW,
    deciding,
    published_shape,
    run_distributions,
    run_report,
    variable_unit,
    verdict_text,
)
from recast_ml.run import _verdict
from recast_ml.statistics import MIN_MC_EVENTS, PublishedRegion, best_expected, region_statistics

PUBLISHED = {
    # name: n_obs, b, b_err, S95_obs, S95_exp
    "SR-A": PublishedRegion("SR-A", 10, 10.0, 1.0, s95_obs=8.0, s95_exp=8.0),
    "SR-B": PublishedRegion("SR-B", 100, 95.0, 10.0, s95_obs=30.0, s95_exp=28.0),
}


def analysis_doc(aid: str, signal: dict[str, float], mc_events: int, published=PUBLISHED) -> dict[str, Any]:
    """A results document of one analysis as run.analyse writes it, from hand-given SR yields."""
    yields = {k: (s, s / math.sqrt(mc_events) if mc_events else 0.0) for k, s in signal.items()}
    stats = region_statistics(yields, published, mc_events=dict.fromkeys(signal, mc_events))
    best = best_expected(stats)
    assert best is not None
    return {
        "format": "recast_ml/results",
        "analysis": {"id": aid, "title": f"test analysis {aid}", "sqrt_s": 13, "status": {"text": "cutflows: 9/10"}},
        "sample": {"n_events": 1000, "cross_section_pb": 0.5, "luminosity_fb": 139.0, "detector": "atlas_run2"},
        "regions": [
            {
                "name": k,
                "yield": s,
                "cutflow": [
                    {
                        "name": "all",
                        "n": 1000,
                        "sumw": 1000.0,
                        "efficiency_cumulative": 1.0,
                        "yield": 69500.0,
                        "yield_error": 2197.8,
                    }
                ],
            }
            for k, s in signal.items()
        ],
        "unavailable_regions": [],
        "metadata": {},
        "statistics": {
            "min_mc_events": MIN_MC_EVENTS,
            "regions": [s.to_dict() for s in stats],
            "best_expected_region": best.region,
            "best": best.to_dict(),
            "excluded_at_95cl": best.cls_obs < 0.05,
            "excluded_at_95cl_conservative": bool(best.r_cons_obs is not None and best.r_cons_obs >= 1),
            "verdict": _verdict(best),
        },
    }


def summary_of(*docs: dict[str, Any], **extra_input: Any) -> dict[str, Any]:
    return {
        "format": "recast_ml/run",
        "input": {
            "n_events": 1000,
            "seed": 3,
            "cross_section_pb": 0.5,
            "cross_section_source": "--cross-section",
            "events": ["sample.hepmc3"],
            **extra_input,
        },
        "analyses": list(docs),
        "seconds": 1.0,
    }


def headline(html: str) -> str:
    m = re.search(r"<p class='verdict'>(.*?)</p>", html)
    assert m is not None
    return m.group(1)


def pngs(html: str) -> list[bytes]:
    """Every <img> of the page, decoded (they must all be embedded PNGs)."""
    srcs = re.findall(r"<img\s[^>]*src='([^']*)'", html)
    assert len(srcs) == html.count("<img ")
    out = []
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        out.append(base64.b64decode(src.split(",", 1)[1], validate=True))
    return out


def svgs(html: str) -> list[ET.Element]:
    """Every plot of a run report: inline SVGs that parse as XML (no <img>: the run path draws
    without matplotlib)."""
    assert "<img " not in html
    found = re.findall(r"<svg\s.*?</svg>", html, re.S)
    assert len(found) == html.count("<svg ")
    out = [ET.fromstring(s) for s in found]
    for root in out:
        assert float(root.get("width", "0")) > 100
        assert float(root.get("height", "0")) > 100
    return out


def assert_decodable(images: list[bytes]) -> None:
    from PIL import Image

    assert images
    for data in images:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decodes every pixel
            assert im.format == "PNG"
            assert im.width > 100
            assert im.height > 100


def test_excluded_verdict_and_what_it_rests_on():
    doc = analysis_doc("TEST-1", {"SR-A": 40.0, "SR-B": 10.0}, mc_events=400)
    best = doc["statistics"]["best"]
    assert best["region"] == "SR-A"  # r_exp = 40/8 = 5 > 10/28
    assert best["r_obs"] == pytest.approx(5.0)
    html = run_report(summary_of(doc))
    assert headline(html) == "EXCLUDED at 95 % CL"
    assert "NOT EXCLUDED" not in html
    assert "Decided by <b>TEST-1</b>, signal region <b>SR-A</b>" in html
    assert "r<sub>obs</sub> = 5, r<sub>exp</sub> = 5," in html
    r_cons = (40.0 - 1.96 * 40.0 / 20.0) / 8.0
    assert f"r<sub>cons</sub> = {r_cons:.3g}" in html
    assert "σ = 0.5 pb (500 fb), source: --cross-section" in html
    assert "Events: 1000 (MC). Luminosity: 139 fb⁻¹." in html
    assert "cutflows: 9/10" in html  # the validation status beside the verdict
    assert "few MC events" not in html
    assert html.index("class='verdict'") < html.index("<h2>Inputs</h2>") < html.index("<h2>TEST-1")
    # the SR table: excluded rows shaded, the best outlined, a legend saying so, units in the headers
    assert "<tr class='ex best'><td class='l'>SR-A</td>" in html
    assert "<tr><td class='l'>SR-B</td>" in html  # r = 0.36: not excluded, not shaded
    assert "red rows&nbsp;</span> are excluded at 95 % CL" in html
    assert "s [events]" in html
    assert "are events at 139 fb⁻¹" in html
    assert "Δln L = ln L(s) − ln L(0)" in html
    assert "negative when the data disfavour the signal" in html
    assert doc["statistics"]["regions"][0]["delta_log_likelihood"] < 0  # the convention the page states
    assert "GeV" in html
    # no raw JSON: no <pre>, no JSON keys
    assert "<pre" not in html
    assert '"cross_section_pb"' not in html
    assert "<script" not in html
    assert "<details><summary>Cutflows of 2 regions" in html
    assert len(svgs(html)) == 1  # the SR summary plot (no per-event results given: no distributions)


def test_not_excluded_verdict():
    doc = analysis_doc("TEST-1", {"SR-A": 1.0, "SR-B": 2.0}, mc_events=400)
    assert doc["statistics"]["best"]["cls_obs"] > 0.05
    html = run_report(summary_of(doc))
    assert headline(html) == "NOT EXCLUDED at 95 % CL"
    assert "class='headline allowed'" in html
    assert "<tr class='ex" not in html
    assert len(svgs(html)) == 1


def test_few_mc_events_warning():
    doc = analysis_doc("TEST-1", {"SR-A": 40.0, "SR-B": 10.0}, mc_events=3)
    html = run_report(summary_of(doc))
    assert headline(html) == "EXCLUDED at 95 % CL"
    assert "Warning: this verdict rests on few MC events." in html
    assert f"comes from 3 MC event(s), fewer than {MIN_MC_EVENTS}" in html
    assert f"<td class='lowmc'>3 (&lt; {MIN_MC_EVENTS})</td>" in html
    # no MC event in any SR: not excluded, and said to rest on nothing
    html = run_report(summary_of(analysis_doc("TEST-1", {"SR-A": 0.0, "SR-B": 0.0}, mc_events=0)))
    assert headline(html) == "NOT EXCLUDED at 95 % CL"
    assert "Warning: no MC event passes any signal region with published numbers" in html


def test_the_most_sensitive_analysis_decides():
    """Among analyses, the largest expected r decides (never the observed result): here the more
    sensitive analysis sees an excess and does not exclude, the other one excludes."""
    excess = {"SR-A": PublishedRegion("SR-A", 40, 10.0, 1.0, s95_obs=35.0, s95_exp=8.0)}
    sensitive = analysis_doc("SENSITIVE", {"SR-A": 16.0}, mc_events=400, published=excess)  # r_exp 2, r_obs 0.46
    other = analysis_doc("OTHER", {"SR-A": 12.0}, mc_events=400)  # r_exp = r_obs = 1.5
    assert not sensitive["statistics"]["excluded_at_95cl"]
    assert other["statistics"]["excluded_at_95cl"]
    summary = summary_of(other, sensitive)
    doc, best = deciding(summary)
    assert doc["analysis"]["id"] == "SENSITIVE"
    assert best["r_exp"] == pytest.approx(2.0)
    html = run_report(summary)
    assert headline(html) == verdict_text(summary) == "NOT EXCLUDED at 95 % CL"
    assert "Decided by <b>SENSITIVE</b>" in html
    assert (
        "<td class='l'>OTHER</td><td class='l'>cutflows: 9/10</td><td class='l'>SR-A</td><td class='l'>EXCLUDED" in html
    )
    assert len(svgs(html)) == 2


def test_no_published_numbers_and_unavailable_regions():
    doc = analysis_doc("TEST-1", {"SR-A": 1.0}, mc_events=50)
    doc["unavailable_regions"] = [{"name": "SR-NN", "reason": "the ATLAS pNN is not public"}]
    none = {
        "analysis": {"id": "NOSTATS"},
        "sample": {"luminosity_fb": 36.1},
        "regions": [],
        "statistics": {"note": "no published signal-region numbers for this analysis"},
    }
    html = run_report(summary_of(none, doc))
    assert headline(html) == "NOT EXCLUDED at 95 % CL"
    assert "1 region(s) unavailable" in html
    assert "TEST-1: SR-NN (the ATLAS pNN is not public)" in html
    assert "UNAVAILABLE (1 regions, no yields):</b> SR-NN" in html
    assert "no published signal-region numbers for this analysis" in html
    assert headline(run_report(summary_of(none))).startswith("NO VERDICT")


def test_optional_fields_of_other_parts_are_shown():
    """Fields that other parts of the results add (provenance, σ uncertainty and r at σ ± 1σ,
    Delphes object caveats) are shown when present, readable, never as JSON."""
    doc = analysis_doc("TEST-1", {"SR-A": 40.0}, mc_events=400)
    doc["statistics"]["best"] |= {"r_obs_up": 5.5, "r_obs_down": 4.5}
    doc["object_caveats"] = ["no working-point masks: jets are the Delphes card's"]
    summary = summary_of(doc, cross_section_rel_error=0.12)
    summary["provenance"] = {"recast_ml": "1.2.3", "detector_card_sha256": "ab" * 32, "command": ["recast-ml", "run"]}
    html = run_report(summary)
    assert "σ = 0.5 pb ± 12 % (500 fb)" in html
    assert "r_obs at σ − 1σ / σ + 1σ: 4.5 / 5.5" in html
    assert "no working-point masks: jets are the Delphes card&#x27;s" in html
    assert "<details><summary>Provenance (versions, checksums, command line)</summary><dl>" in html
    assert f"<dt>detector_card_sha256</dt><dd>{'ab' * 32}</dd>" in html
    assert "<dd>recast-ml, run</dd>" in html
    assert "{" not in re.sub(r"<style>.*?</style>", "", html)  # nothing rendered as a JSON object


def test_variable_units():
    variables = {"mH1": "mass_pair(jets, 0).m", "mH2": "mass_pair(jets, 1).m", "r": "sqrt((mH1 - 120)**2 + mH2**2)"}
    assert variable_unit("meff", "meff(sig_jets)") == "GeV"
    assert variable_unit("lead_pt", "leptons[0].pt") == "GeV"
    assert variable_unit("mll", "m(leptons[0], leptons[1])") == "GeV"
    assert variable_unit("n_b", "count(bjets)") == ""
    assert variable_unit("nn", "NN.score") == ""
    assert variable_unit("score", "if(route_parity == 1, nonres_even.score, nonres_odd.score)") == ""
    assert variable_unit("ap", "aplanarity(sig_jets)") == ""
    assert variable_unit("dphi", "min_dphi(sig_jets, met, 4)") == "rad"
    assert variable_unit("met_sig", "met_over_sqrt_ht(sig_jets)") == "GeV^1/2"
    assert variable_unit("met_sig", "met_significance(sig_el, sig_mu, jets)") == ""
    assert variable_unit("r", variables["r"], variables) == "GeV"  # built from GeV variables
    assert variable_unit("x", {"expr": "foo(jets)", "unit": "TeV"}) == "TeV"
    assert variable_unit("x", "foo(jets)") is None


def test_run_report_distributions_with_units(tmp_path):
    """With the per-event results, the distributions of the analysis' validation.yaml are drawn
    with axis units, in events at L; a published shape beside the definition is drawn over them."""
    import golden
    from recast_ml.analysis import Analysis
    from recast_ml.run import analyse
    from test_golden_susy_2018_22 import EVENTS

    copy = tmp_path / "ATLAS-SUSY-2018-22"
    shutil.copytree(golden.compile("ATLAS-SUSY-2018-22").definition.directory, copy)
    (copy / "distribution_meff.csv").write_text("# made up for this test\nlow,high,value\n0,2000,3\n2000,4000,1\n")
    ana = Analysis.for_arrays(copy, golden.reco_table([{}]))
    res = ana.run_table(golden.reco_table(EVENTS), cross_section=0.0284)
    doc = analyse(ana, res)
    summary = summary_of(doc)
    html = run_report(summary, [ana], [res])
    assert "<figcaption>meff [GeV]; published shape: made up for this test</figcaption>" in html
    assert "<figcaption>ap (dimensionless); no published shape in the analysis folder</figcaption>" in html
    assert "<figcaption>met_sig [GeV^1/2]" in html
    assert "Events at 139 fb⁻¹ per bin." in html
    images = svgs(html)
    n_rows = math.ceil(len(doc["statistics"]["regions"]) / SRS_PER_ROW)  # rows of the SR summary plot
    assert len(images) == n_rows + 5  # and the five distributions of validation.yaml
    ns = "{http://www.w3.org/2000/svg}"
    assert sum(any(t.text == "meff [GeV]" for t in im.iter(f"{ns}text")) for im in images) == 1
    published = [im for im in images if any(t.text == "published (unit area)" for t in im.iter(f"{ns}text"))]
    assert len(published) == 1  # the published meff shape drawn over the sample
    edges, values, source = published_shape(copy, "meff")
    assert list(edges) == [0, 2000, 4000]
    assert list(values) == [3, 1]
    assert source == "made up for this test"
    (copy / "distribution_ap.csv").write_text("low,high,value\n0,1,2\n2,3,x\n")
    from recast_ml.errors import ConfigError

    with pytest.raises(ConfigError, match=r"distribution_ap.csv: line 3: expected low,high,value"):
        published_shape(copy, "ap")


def test_a_run_reads_its_distributions_once(tmp_path, monkeypatch):
    """The run report and the YODA export of one run show the same distributions: the analysis'
    validation.yaml and the published shapes are read once per run (they were read twice, once
    for each), and both still have all five."""
    import recast_ml.report as report
    from recast_ml.run import run_job

    calls = {"definition_info": 0, "published_shape": 0}

    def counted(name):
        real = getattr(report, name)

        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    for name in calls:
        monkeypatch.setattr(report, name, counted(name))
    out = tmp_path / "out"
    doc = run_job(["ATLAS-SUSY-2018-22"], generate="gluino_direct:1400,1000", n_events=30, output=out)
    variables = ["meff", "ap", "met_sig", "bdt_GGd1", "bdt_GGd4"]  # validation.yaml's distributions
    assert calls == {"definition_info": 1, "published_shape": len(variables)}
    assert doc["outputs"]["yoda"]["histograms"] == [f"/ATLAS-SUSY-2018-22/{v}" for v in variables]
    html = (out / "report.html").read_text()
    assert re.findall(r"<figcaption>(\w+) [\[(]", html) == variables


def test_run_distributions_computed_again_for_another_scale():
    """run_distributions of the same result twice: the same answer, once computed; the result's
    cross section changed: its scale follows."""
    import golden
    from recast_ml.run import analyse
    from test_golden_susy_2018_22 import EVENTS

    ana = golden.compile("ATLAS-SUSY-2018-22")
    res = ana.run_table(golden.reco_table(EVENTS), cross_section=0.0284)
    doc = analyse(ana, res)
    first = run_distributions(doc, ana, res)
    assert run_distributions(doc, ana, res) is first
    assert first[1] == pytest.approx(0.0284 * 139e3 / len(EVENTS))
    res.cross_section_pb = 0.0568
    again = run_distributions(doc, ana, res)
    assert again[1] == pytest.approx(2 * first[1])
    assert [d[0] for d in again[0]] == [d[0] for d in first[0]] == ["meff", "ap", "met_sig", "bdt_GGd1", "bdt_GGd4"]


def test_validate_report_headline_units_and_images(tmp_path):
    import golden
    from recast_ml.analysis import load_yaml
    from recast_ml.validate import ValidationReport, _compare, validation_verdict, write_report
    from test_golden_susy_2018_22 import EVENTS

    ana = golden.compile("ATLAS-SUSY-2018-22")
    res = ana.run_table(golden.reco_table(EVENTS * 2), cross_section=0.0284)
    cfg = load_yaml(ana.definition.directory / "validation.yaml")
    report = ValidationReport(analysis=ana.id, events_per_benchmark=10, results={"gluino_2200_600": res})
    bench = {"model": "gluino_direct", "masses": [2200.0, 600.0], "cross_section_pb": 0.0284}
    report.benchmarks = {"gluino_2200_600": {**bench, "pythia_lo_cross_section_pb": 0.01}}
    report.comparisons = _compare(cfg, ana.definition.directory, report.results, report.unavailable)
    report.cutflow_tables = ["SR4j-1000"]
    out = tmp_path / "v"
    page = write_report(report, out, ["meff", "n_jets"])
    html = page.read_text()
    summary = report.summary()
    cut = summary["cutflow"]
    assert cut["compared"] == 25
    assert headline(html) == validation_verdict(summary)
    assert headline(html) == (
        f"VALIDATION: {cut['passed']} of 25 cutflow steps within tolerance ({cut['mc_limited']} outside but "
        f"MC-limited, {cut['failed']} outside)"
    )
    assert "events at σ × L with L = 139 fb⁻¹" in html
    assert "<th>published [efficiency]</th>" in html
    assert "<th>masses [GeV]</th>" in html
    assert "green&nbsp;</span> within tolerance" in html
    assert "<details><summary>Cutflows (recast_ml only; click to open)</summary>" in html
    assert "<figcaption>distribution of meff" in html
    assert "(<a href='distribution_meff.png'>distribution_meff.png</a>)" in html
    assert "<pre" not in html
    assert "<script" not in html
    images = pngs(html)
    assert len(images) == 3  # the cutflow ratio plot, two distributions
    assert_decodable(images)
    # the files beside the page are the same PNGs
    assert (out / "distribution_meff.png").read_bytes() in images
    assert (out / "cutflow_gluino_2200_600.png").read_bytes() in images


def test_definition_info_sees_the_variables_of_included_files():
    """ATLAS-SUSY-2016-07 takes meff from ATLAS-SUSY-2018-22's objects.yaml (include:); the
    validate report looked only at the including file and drew meff without its unit."""
    from recast_ml.report import definition_info, variable_unit

    directory, variables, dists = definition_info(None, "ATLAS-SUSY-2016-07")
    assert directory is not None
    assert "meff" in dists
    assert "meff" in variables
    assert variable_unit("meff", variables["meff"], variables) == "GeV"
