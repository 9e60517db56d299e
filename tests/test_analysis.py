"""Analysis definitions end to end: a small analysis over fixed events gives the counts worked
out by hand; cutflow bookkeeping, merging and thread independence; results JSON; definition errors
with file:line:column."""

from __future__ import annotations

import json
import math
from pathlib import Path

import awkward as ak
import jsonschema
import numpy as np
import pytest

from recast_ml import ConfigError, EventBatch
from recast_ml.analysis import Analysis, find_definition, table_from_arrays
from recast_ml.detector import Detector
from recast_ml.pythia import PythiaGenerator
from toy_events import random_jets, random_met

TOY = Path(__file__).parent / "data" / "toy_analysis.yaml"
SCHEMAS = Path(__file__).parents[1] / "python" / "recast_ml" / "schemas"


def jet(pt, eta, phi):
    return {"pt": float(pt), "eta": float(eta), "phi": float(phi), "mass": 0.0}


def electron(pt, eta, phi, tight):
    return {"pt": float(pt), "eta": float(eta), "phi": float(phi), "mass": 0.0, "tight": bool(tight)}


def toy_table(weights=(1.0, 2.0, 0.5, 1.0)):
    jets = ak.Array(
        [
            [jet(100, 0, 0), jet(50, 1, 2)],
            [jet(200, 0, 0), jet(80, 0.5, 1), jet(60, -1, -2), jet(45, 2, 3)],
            [jet(100, 0, 0), jet(90, 3, 1)],  # second jet outside |eta| < 2.5
            [],
        ]
    )
    electrons = ak.Array([[], [electron(20, 2, 3, False)], [electron(30, 0.1, 0.1, True)], []])
    met = ak.Array(
        [{"pt": 50.0, "phi": 1.0}, {"pt": 100.0, "phi": 0.0}, {"pt": 10.0, "phi": 0.0}, {"pt": 5.0, "phi": 0.0}]
    )
    return table_from_arrays({"jets": jets, "electrons": electrons}, {"met": met}, weight=list(weights))


def test_toy_analysis_gives_the_hand_counts():
    # event 0: 2 good jets, no lepton, meff = 150 + 50 = 200        (w = 1)
    # event 1: 4 good jets, loose electron only, meff = 385 + 100  (w = 2), 4th jet 45 GeV
    # event 2: 1 good jet, removed by the tight electron at dR = 0.14 -> 0 jets, lepton (w = 0.5)
    # event 3: nothing (w = 1)
    table = toy_table()
    ana = Analysis.for_arrays(TOY, table)
    r = ana.run_table(table, cross_section=2.0)  # pb; luminosity 100 fb-1 from the definition
    pre = r.cutflow("presel")
    assert pre.names == ["all events", ">= 2 jets", "no lepton"]
    assert pre.n.tolist() == [4, 2, 2]
    assert pre.sumw.tolist() == [4.5, 3.0, 3.0]
    assert pre.sumw2.tolist() == [6.25, 5.0, 5.0]
    high = r.cutflow("SR-high")
    assert high.names[-1] == "meff > 300"  # inherited cuts first
    assert high.n.tolist() == [4, 2, 2, 1]
    assert high.sumw.tolist() == [4.5, 3.0, 3.0, 2.0]
    assert r.cutflow("SR-4j").sumw.tolist() == [4.5, 3.0, 3.0, 2.0]
    np.testing.assert_allclose(high.cumulative, [1, 3 / 4.5, 3 / 4.5, 2 / 4.5])
    np.testing.assert_allclose(high.relative, [1, 3 / 4.5, 1, 2 / 3])
    # yields: sigma x L = 2 pb x 100 fb-1 = 2e5 events for sum w = 4.5
    scale = 2.0 * 100 * 1000 / 4.5
    y, err = r.yield_("SR-high")
    assert y == pytest.approx(2.0 * scale)
    assert err == pytest.approx(math.sqrt(4.0) * scale)
    mb = r.bins["MB"]
    assert mb.n.tolist() == [0, 1, 1]
    assert mb.sumw.tolist() == [0.0, 1.0, 2.0]
    assert mb.names == ["low", "mid", "high"]
    assert r.variable("meff").tolist() == [200.0, 485.0, 10.0, 5.0]
    assert r.variable("n_jets").tolist() == [2, 4, 0, 0]
    assert np.isnan(r.variable("fourth_pt")).tolist() == [True, False, True, True]
    assert r.region_mask("SR-high").tolist() == [False, True, False, False]


def test_cutflows_merge_across_batches_and_do_not_depend_on_threads():
    rng = np.random.default_rng(9)
    n = 3000
    jets = random_jets(rng, n, n_min=0, n_max=6, pt_mean=60, pt_min=20, abs_eta_max=3)
    electrons = ak.unflatten(
        ak.zip(
            {"pt": np.zeros(0), "eta": np.zeros(0), "phi": np.zeros(0), "mass": np.zeros(0), "tight": np.zeros(0, bool)}
        ),
        np.zeros(n, np.int64),
    )
    met = random_met(rng, n, pt_mean=80)
    weights = rng.uniform(0.5, 1.5, n)
    whole = table_from_arrays({"jets": jets, "electrons": electrons}, {"met": met}, weight=weights)
    ana = Analysis.for_arrays(TOY, whole)
    one = ana.run_table(whole, threads=1)
    two = ana.run_table(whole, threads=2)
    for name in ana.regions:
        a, b = one.cutflow(name), two.cutflow(name)
        assert a.n.tolist() == b.n.tolist()
        assert a.sumw.tolist() == b.sumw.tolist()  # bitwise: sums in fixed blocks of events
        assert a.sumw2.tolist() == b.sumw2.tolist()
    # two batches merged = the whole sample
    k = 1234
    first = table_from_arrays({"jets": jets[:k], "electrons": electrons[:k]}, {"met": met[:k]}, weight=weights[:k])
    second = table_from_arrays({"jets": jets[k:], "electrons": electrons[k:]}, {"met": met[k:]}, weight=weights[k:])
    merged = ana.run_table(first).merge(ana.run_table(second))
    for name in ana.regions:
        assert merged.cutflow(name).n.tolist() == one.cutflow(name).n.tolist()
        np.testing.assert_allclose(merged.cutflow(name).sumw, one.cutflow(name).sumw, rtol=1e-12)
        np.testing.assert_allclose(merged.cutflow(name).sumw2, one.cutflow(name).sumw2, rtol=1e-12)
    np.testing.assert_array_equal(merged.variables, one.variables)
    assert merged.bins["MB"].n.tolist() == one.bins["MB"].n.tolist()
    assert one.cutflow("presel").n[0] == n
    assert 0 < one.cutflow("SR-4j").n[-1] < one.cutflow("presel").n[-1]


def test_results_json_follows_its_schema(tmp_path):
    table = toy_table()
    ana = Analysis.for_arrays(TOY, table)
    path = ana.run_table(table, cross_section=2.0).save(tmp_path / "out" / "results.json")
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, json.loads((SCHEMAS / "results.schema.json").read_text()))
    assert doc["analysis"]["id"] == "TOY-2026-01"
    assert doc["sample"]["events_per_unit_weight"] == pytest.approx(2.0 * 100 * 1000 / 4.5)
    sr = next(r for r in doc["regions"] if r["name"] == "SR-high")
    assert sr["cutflow"][-1]["sumw"] == 2.0
    assert not list(tmp_path.glob("out/*.tmp"))
    # without a cross section there are no yields
    doc2 = ana.run_table(table).to_dict()
    jsonschema.validate(doc2, json.loads((SCHEMAS / "results.schema.json").read_text()))
    assert "yield" not in doc2["regions"][0]


def write(tmp_path, text, name="ana.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


HEAD = """format: recast_ml/analysis
format_version: 1
info: {id: BAD-1, experiment: toy, sqrt_s: 13, luminosity: 1}
"""


@pytest.mark.parametrize(
    ("body", "message", "where"),
    [
        # expression errors point at file:line:column of the offending token
        ("variables:\n  ht: HT(jetz)\nregions:\n  - name: a\n", "unknown name 'jetz'", ":5:10:"),
        ("variables:\n  ht: 'HT(jets) + met.ptt'\nregions:\n  - name: a\n", "has no field 'ptt'", ":5:23:"),
        (
            "regions:\n  - name: a\n    cuts:\n      - c1: count(jets) >= 2\n      - c2: count(jets) + 1\n",
            "must be a bool",
            ":8:13:",
        ),
        (
            "objects:\n  - {name: j, from: jets, select: 'pt > 20 and'}\nregions:\n  - name: a\n",
            "expected a number",
            ":5:",
        ),
        # schema and structure errors
        ("regions:\n  - name: a\n    cutz: []\n", "Additional properties are not allowed ('cutz'", ":5"),
        ("regions:\n  - name: a\n    inherit: nope\n", "inherits from unknown region 'nope'", ":6"),
        ("regions:\n  - {name: a, inherit: b}\n  - {name: b, inherit: a}\n", "circular inheritance", ""),
        ("regions:\n  - name: a\n  - name: a\n", "region 'a' is defined twice", ""),
        (
            "regions:\n  - name: a\n    cuts:\n      - x: count(jets) > 1\n      - x: count(jets) > 2\n",
            "two cuts named 'x'",
            "",
        ),
        ("regions:\n  - name: a\n  name: b\n", "invalid YAML", ":6:"),
        ("objects:\n  - {name: j, from: gets}\nregions:\n  - name: a\n", "unknown source collection 'gets'", ""),
    ],
)
def test_definition_errors_name_file_and_line(tmp_path, body, message, where):
    path = write(tmp_path, HEAD + body)
    with pytest.raises(ConfigError) as err:
        Analysis.for_arrays(path, toy_table())
    msg = str(err.value)
    assert message in msg
    assert f"{path}{where}" in msg


def test_unknown_analysis_and_missing_definition(tmp_path):
    with pytest.raises(ConfigError, match="unknown analysis 'ATLAS-NOPE-1'"):
        find_definition("ATLAS-NOPE-1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no analysis\.yaml"):
        find_definition(tmp_path / "empty")


def test_analysis_on_detector_output_is_thread_independent(tmp_path):
    path = write(
        tmp_path,
        HEAD
        + """objects:
  - {name: jets_ok, from: jets, select: "pt > 25 and abs(eta) < 2.8 and jvt"}
  - {name: b_jets, from: jets_ok, select: "btag_MV2c10_77 and abs(eta) < 2.5"}
  - {name: el, from: electrons, select: "pt > 10 and wp_medium and iso_ptvarcone20 < 0.15"}
  - {name: mu, from: muons, select: "pt > 10 and wp_medium"}
  - overlap: {remove: jets_ok, near: el, dr: 0.2, only: "not btag_MV2c10_85"}
  - overlap: {remove: el, near: jets_ok, shrinking: {c: 0.04, k: 10, max: 0.4}}
  - overlap: {remove: jets_ok, near: mu, dr: 0.2, only: "n_tracks < 3"}
  - overlap: {remove: mu, near: jets_ok, shrinking: {c: 0.04, k: 10, max: 0.4}}
variables:
  n_lep: count(el) + count(mu)
  n_b: count(b_jets)
  mt_el: mT(el[0], met)
regions:
  - name: one-lepton
    cuts:
      - "1 lepton": n_lep == 1
      - ">= 4 jets": count(jets_ok) >= 4
      - ">= 1 b": n_b >= 1
""",
    )
    events = PythiaGenerator("ttbar", seed=51).generate(400)
    ana = Analysis.load(path, detector="atlas_run2")
    one = ana.run(events, cross_section=830.0)
    two = ana.run(events, cross_section=830.0, threads=2)
    cf1, cf2 = one.cutflow("one-lepton"), two.cutflow("one-lepton")
    assert cf1.n.tolist() == cf2.n.tolist()
    assert cf1.sumw.tolist() == cf2.sumw.tolist()
    assert cf1.n[0] == 400
    # semileptonic ttbar to e/mu: roughly 30 % have exactly one selected lepton; most of those 4 jets and a b
    assert 0.15 < cf1.n[1] / 400 < 0.45
    assert cf1.n[3] > 0.3 * cf1.n[1]
    np.testing.assert_array_equal(one.variables, two.variables)
    y, _e = one.yield_("one-lepton")
    assert y == pytest.approx(cf1.sumw[-1] * 830.0 * 1.0 * 1000 / cf1.sumw[0])
    with pytest.raises(ValueError, match="no events"):
        ana.run(EventBatch())
    # a detector override gives what the analysis loaded with that card gives
    from recast_ml._data import cards_dir
    from recast_ml.cards import DetectorCard

    text = (cards_dir() / "atlas_run2.toml").read_text()
    assert "run_seed = 1\n" in text
    other = DetectorCard.parse(text.replace("run_seed = 1\n", "run_seed = 2\n"), "seed-2 card")
    expected = Analysis.load(path, detector=Detector(other)).run(events, cross_section=830.0)
    for _ in range(2):
        over = ana.run(events, cross_section=830.0, detector=Detector(other))
        np.testing.assert_array_equal(over.variables, expected.variables)
    assert not np.array_equal(over.variables, one.variables, equal_nan=True)
    np.testing.assert_array_equal(ana.run(events, cross_section=830.0, detector="atlas_run2").variables, one.variables)


def test_merged_collection_is_pt_ordered_with_common_fields(tmp_path):
    path = write(
        tmp_path,
        HEAD
        + """objects:
  - {name: leptons, merge: [electrons, jets], select: "pt > 25"}
variables:
  n: count(leptons)
  lead: leptons[0].pt
  origin0: leptons[0].origin
regions:
  - name: a
""",
    )
    table = toy_table()
    res = Analysis.for_arrays(path, table).run_table(table)
    # event 1: jets 200, 80, 60, 45 and a 20 GeV electron -> 4 objects above 25, leading jet (origin 1)
    assert res.variable("n").tolist() == [2, 4, 3, 0]  # event 2: two jets and the 30 GeV electron
    assert res.variable("lead").tolist()[:3] == [100.0, 200.0, 100.0]
    assert res.variable("origin0").tolist()[:3] == [1.0, 1.0, 1.0]
    assert "tight" not in Analysis.for_arrays(path, table).schema["collections"]["leptons"]


def test_rapidity_overlap_needs_masses(tmp_path):
    path = write(
        tmp_path,
        HEAD
        + "objects:\n  - overlap: {remove: jets, near: electrons, dr: 0.4, rapidity: true}\nregions:\n  - name: a\n",
    )
    no_mass = table_from_arrays(
        {
            "jets": ak.Array([[{"pt": 50.0, "eta": 0.0, "phi": 0.0}]]),
            "electrons": ak.Array([[{"pt": 50.0, "eta": 0.0, "phi": 0.0}]]),
        },
        {"met": ak.Array([{"pt": 1.0, "phi": 0.0}])},
    )
    with pytest.raises(ConfigError, match=r"collection 'jets' has no field 'mass' \(needed for rapidity\)"):
        Analysis.for_arrays(path, no_mass)
    assert Analysis.for_arrays(path, toy_table()).run_table(toy_table()).cutflow("a").n[0] == 4


def test_large_r_jets_are_only_built_when_used(tmp_path):
    body = """variables:
  n_jets: count(jets)
  lead: jets[0].pt
{extra}regions:
  - name: a
    cuts:
      - "2 jets": count(jets) >= 2
"""
    uses = write(tmp_path, HEAD + body.format(extra="  n_fat: count(large_r_jets)\n"), "uses.yaml")
    plain = write(tmp_path, HEAD + body.format(extra=""), "plain.yaml")
    events = PythiaGenerator("ttbar", seed=52).generate(60)
    a, b = Analysis.load(uses, detector="atlas_run2"), Analysis.load(plain, detector="atlas_run2")
    assert a._core.uses("large_r_jets")
    assert not b._core.uses("large_r_jets")
    assert b._core.uses("jets")
    ra, rb = a.run(events), b.run(events)
    assert ra.variable("n_fat").sum() > 10
    # skipping the large-R jets changes nothing else (they draw from their own random stream)
    np.testing.assert_array_equal(ra.variable("lead"), rb.variable("lead"))
    assert ra.cutflow("a").n.tolist() == rb.cutflow("a").n.tolist()
