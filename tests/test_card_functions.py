"""Card function objects (§13.3, §0.2) against the spec's reference checker tools/check_card.py."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import tomllib

from conftest import SHARED, load_spec_tool
from recast_ml.cards import DetectorCard

REFERENCE_KINDS = {
    "constant",
    "expr",
    "expr_sigma",
    "binned1d",
    "rel_binned",
    "binned2d",
    "piecewise_linear",
    "wp_tables",
}


@pytest.fixture(scope="module")
def check_card():
    sys.path.insert(0, str(SHARED / "specs" / "tools"))  # check_card imports its sibling expr.py
    try:
        return load_spec_tool("check_card")
    finally:
        sys.path.pop(0)


def function_objects(node, key=""):
    if isinstance(node, dict):
        if "kind" in node and not key.startswith("isolation") and key not in ("large_r_jet.grooming", "met.soft_term"):
            yield key, node
            return
        for k, v in node.items():
            yield from function_objects(v, f"{key}.{k}" if key else k)


def grid():
    for pt in [2.5, 3.2, 4.8, 6.5, 12, 27, 45, 55, 90, 150, 300, 999, 1000, 1500, 3000]:
        for ae in [0.0, 0.05, 0.5, 1.37, 1.45, 1.52, 1.9, 2.2, 2.4, 2.6]:
            yield {
                "pt": pt,
                "et": pt,
                "e": pt * math.cosh(ae),
                "abs_eta": ae,
                "eta": -ae,
                "phi": 0.3,
                "m": 0.0,
                "set": 8 * pt,
                "met": pt / 3,
            }


@pytest.mark.parametrize("card_file", ["atlas_run2.toml", "cms_run2.toml"])
def test_function_objects_equal_reference(check_card, card_file):
    raw = tomllib.loads((SHARED / "specs" / "cards" / card_file).read_text())
    card = DetectorCard.load(SHARED / "specs" / "cards" / card_file)
    points = list(grid())
    kin = {k: np.array([p[k] for p in points]) for k in points[0]}
    compared = skipped = 0
    for key, fo in function_objects(raw):
        if fo["kind"] not in REFERENCE_KINDS:
            continue
        wps = list(fo.get("wp", {})) or [None]
        for wp in wps:
            ours = card.function(key, wp).evaluate(**kin)
            for i, p in enumerate(points):
                try:
                    expected = check_card.ev(fo, p, wp)
                except (OverflowError, ValueError):  # the reference expr.py evaluates pow eagerly
                    skipped += 1
                    continue
                assert ours[i] == expected, f"{card_file} {key} wp={wp} at {p}"
                compared += 1
    assert compared > 2000
    assert skipped < compared / 20


@pytest.mark.parametrize(
    ("name", "numbers"), [("atlas_run2", (0.869, 0.975, 0.960)), ("cms_run2", (0.790, 0.980, 0.800))]
)
def test_default_working_point_efficiencies_quoted_in_the_spec(name, numbers):
    # §13.8 (6): default-WP e / mu / gamma efficiencies at pT = 40 GeV, |eta| = 0.5
    card = DetectorCard.load(name)
    raw = card.to_dict()
    kin = {"pt": 40.0, "et": 40.0, "e": 40.0, "abs_eta": 0.5, "eta": 0.5, "phi": 0.0, "m": 0.0}
    got = [round(float(card.efficiency(o, raw[o]["default_wp"], **kin)), 3) for o in ("electron", "muon", "photon")]
    assert got == list(numbers)


def test_efficiency_product_equals_reference(check_card):
    for card_file in ("atlas_run2.toml", "cms_run2.toml"):
        raw = tomllib.loads((SHARED / "specs" / "cards" / card_file).read_text())
        card = DetectorCard.load(SHARED / "specs" / "cards" / card_file)
        for obj in ("electron", "muon", "photon"):
            for wp in card.working_points(f"{obj}.id"):
                for p in grid():
                    assert float(card.efficiency(obj, wp, **p)) == check_card.obj_eff(raw, obj, wp, p)


def test_other_kinds_hand_computed():
    atlas, cms = DetectorCard.load("atlas_run2"), DetectorCard.load("cms_run2")
    # calo_nsc, ATLAS electrons |eta| < 1.4: sigma_E = sqrt(0.3^2 + 0.10^2 E + 0.010^2 E^2)
    e = 100.0
    assert float(atlas.function("electron.resolution").evaluate(e=e, abs_eta=0.7)) == pytest.approx(
        math.sqrt(0.09 + 0.01 * e + 1e-4 * e * e)
    )
    # curvature_quad: min(sigma_max, sqrt(a^2 + (b pT)^2)), ATLAS muons |eta| < 1.5: a = 0.021, b = 1e-4
    assert float(atlas.function("muon.resolution").evaluate(pt=1000.0, abs_eta=0.3)) == pytest.approx(
        math.hypot(0.021, 0.1)
    )
    assert float(atlas.function("muon.resolution").evaluate(pt=1e5, abs_eta=0.3)) == 0.5
    # linear_decline above 250 GeV: max(floor, 1 - slope (pT - start))
    decline = atlas.function("btag.high_pt")
    assert float(decline.evaluate(pt=200.0)) == 1.0
    assert float(decline.evaluate(pt=450.0)) == pytest.approx(0.9)
    assert float(decline.evaluate(pt=5000.0)) == 0.4
    # same_as: the tau resolution is the jet resolution
    for card in (atlas, cms):
        tau, jet = card.function("tau.resolution"), card.function("jet.resolution")
        pts = np.array([25.0, 80.0, 400.0])
        np.testing.assert_array_equal(
            tau.evaluate(pt=pts, abs_eta=0.4, eta=0.4), jet.evaluate(pt=pts, abs_eta=0.4, eta=0.4)
        )
    # per-prong tau efficiencies
    tau_id = cms.function("tau.id", "SUS16039")
    assert float(tau_id.evaluate(pt=22.0, prongs=1)) == 0.361
    assert float(tau_id.evaluate(pt=15.0, prongs=3)) == 0.0  # below the first edge: underflow = 0


def test_working_points_in_card_order():
    atlas = DetectorCard.load("atlas_run2")
    assert atlas.working_points("electron.id") == ["loose", "medium", "tight"]
    assert atlas.working_points("btag")[:0] == []
    override = DetectorCard.parse(
        'schema = "recast_ml/detector-card"\nschema_version = 1\nextends = "ATLAS-Run2"\n'
        "[electron.id.wp]\naaa_custom = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]\n",
        "override.toml",
    )
    assert override.working_points("electron.id") == ["loose", "medium", "tight", "aaa_custom"]
    assert atlas.warnings == []


def test_unknown_working_point():
    from recast_ml import ConfigError

    with pytest.raises(ConfigError, match="has no working point 'superloose'"):
        DetectorCard.load("atlas_run2").function("electron.id", "superloose")
    with pytest.raises(ConfigError, match="has working points: choose one"):
        DetectorCard.load("atlas_run2").function("electron.id")
