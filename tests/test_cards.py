"""Detector-card loading and validation (spec §13.8, §13.9)."""

from __future__ import annotations

import math

import pytest
import tomllib

from conftest import SHARED
from recast_ml import ConfigError
from recast_ml.cards import DetectorCard

ATLAS = (SHARED / "specs" / "cards" / "atlas_run2.toml").read_text()


def replace_line(text: str, old: str, new: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(old):
            lines[i] = new + "\n"
            return "".join(lines), i + 1
    raise AssertionError(old)


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isinf(a):
        return b == a
    return a == b


@pytest.mark.parametrize(("name", "profile"), [("atlas_run2", "ATLAS-Run2"), ("CMS-Run2", "CMS-Run2")])
def test_bundled_cards_load_and_equal_the_spec(name, profile):
    card = DetectorCard.load(name)
    assert card.profile_name == profile
    spec_file = "atlas_run2.toml" if profile == "ATLAS-Run2" else "cms_run2.toml"
    expected = tomllib.loads((SHARED / "specs" / "cards" / spec_file).read_text())
    assert same(card.to_dict(), expected)
    assert len(card.hash) == 16
    assert DetectorCard.load(SHARED / "specs" / "cards" / spec_file).hash == card.hash


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pt_min = 4.5", "pt_minn = 4.5", r"'electron.pt_minn': unknown key \(did you mean 'pt_min'\?\)"),
        (
            "edges = [4.5, 7.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 60.0, 80.0, inf]",
            "edges = [4.5, 7.0, 10.0, 15.0, 12.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 60.0, 80.0, inf]",
            r"'electron.id.edges': edges must be strictly increasing \(15 then 12\)",
        ),
        (
            "loose  = [0.976, 0.929",
            "loose  = [1.976, 0.929, 0.883, 0.830, 0.865, 0.884, 0.902, 0.920, 0.930, 0.937, 0.939, 0.944, 0.949]",
            r"'electron.id.wp.loose': efficiency 1.976 outside \[0, 1\]",
        ),
        (
            "values = [1.000, 1.016, 1.005, 0.932, 1.000, 0.984, 0.947]",
            "values = [1.000, 1.016]",
            r"'electron.eta_factor.values': has 2 values for 7 bins",
        ),
        (
            'expr = "(0.002 + 7.3e-6*pt) / (0.002 + 7.3e-6*60.0)"',
            'expr = "(0.002 + 7.3e-6*ptt)"',
            r"unknown variable 'ptt'",
        ),
        ('kind = "piecewise_linear"', 'kind = "piecewise_linaer"', r"unknown function kind 'piecewise_linaer'"),
        ("[electron.reco]", "[electron.rekko]", r"'electron.rekko': unknown key \(did you mean 'reco'\?\)"),
        ("schema_version = 1", "schema_version = 2", r"'schema_version': unsupported schema version"),
        ("pt_min = 4.5", "pt_min = 4.5.", r"TOML syntax error"),
    ],
)
def test_broken_cards_name_file_line_and_key(tmp_path, old, new, message):
    text, line = replace_line(ATLAS, old, new)
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        DetectorCard.load(path)
    assert str(err.value).startswith(f"{path}:")
    reported_line = int(str(err.value).split(":")[1])
    assert abs(reported_line - line) <= 12  # the key's line or the header of its table


def test_missing_table_in_a_full_card(tmp_path):
    text = ATLAS.replace("[rng]\n", "[rngx]\n")
    with pytest.raises(ConfigError, match=r"'rngx': unknown key \(did you mean 'rng'\?\)"):
        DetectorCard.parse(text, "x.toml")
    start = ATLAS.index("[rng]")
    end = ATLAS.index("# ---", start)
    with pytest.raises(ConfigError, match=r"missing required table \[rng\]"):
        DetectorCard.parse(ATLAS[:start] + ATLAS[end:], "x.toml")


OVERRIDE = """
schema = "recast_ml/detector-card"
schema_version = 1
extends = "ATLAS-Run2"

[btag]
default_wp = "paper_77"

[btag.wp.paper_77]
eff_b = 0.77
rej_c = 4.9
rej_tau = 15.0
rej_light = 110.0
source = "object definitions of the analysis paper"

[electron]
default_wp = "tight"
"""


def test_override_card_merges_into_its_base():
    base = DetectorCard.load("atlas_run2").to_dict()
    card = DetectorCard.parse(OVERRIDE, "analysis.toml")
    merged = card.to_dict()
    assert card.profile_name == "ATLAS-Run2"
    assert merged["btag"]["default_wp"] == "paper_77"
    assert merged["btag"]["wp"]["paper_77"]["rej_light"] == 110.0
    assert set(base["btag"]["wp"]) < set(merged["btag"]["wp"])
    assert merged["electron"]["default_wp"] == "tight"
    assert merged["electron"]["pt_min"] == base["electron"]["pt_min"]
    assert card.hash != DetectorCard.load("atlas_run2").hash
    with pytest.raises(ConfigError, match=r"unknown base profile 'ATLAS-Run3'"):
        DetectorCard.parse(OVERRIDE.replace("ATLAS-Run2", "ATLAS-Run3"), "analysis.toml")
    with pytest.raises(
        ConfigError, match=r"analysis.toml:7:\d+: 'btag.default_wpp': unknown key \(did you mean 'default_wp'\?\)"
    ):
        DetectorCard.parse(OVERRIDE.replace('default_wp = "paper_77"', 'default_wpp = "paper_77"'), "analysis.toml")


def test_missing_card_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        DetectorCard.load(tmp_path / "nope.toml")
