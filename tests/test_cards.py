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


DEEP_EXPR = 'expr = "' + "(" * 20_000 + "pt" + ")" * 20_000 + '"'


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        # efficiencies and rates outside [0, 1], infinities and NaNs (§13.8 (3))
        ("eff_b = 0.60", "eff_b = -1", "-1", r"'btag.wp.MV2c10_60.eff_b': expected a number in \[0, 1\], got -1"),
        ("eff_b = 0.60", "eff_b = 7.5", "7.5", r"'btag.wp.MV2c10_60.eff_b': expected a number in \[0, 1\], got 7.5"),
        ("eff_b = 0.60", "eff_b = inf", "inf", r"'btag.wp.MV2c10_60.eff_b': expected a finite number, got inf"),
        ("rej_c = 34.5", "rej_c = 0.5", "0.5", r"'btag.wp.MV2c10_60.rej_c': expected a number >= 1, got 0.5"),
        (
            "loose  = { one_track = 0.0333",
            "loose  = { one_track = -0.0333, three_track = 0.0333 }",
            "-0.0333",
            r"'tau.fake_from_jet.wp.loose.one_track': expected a number in \[0, 1\], got -0.0333",
        ),
        ("sigma_max = 0.5", "sigma_max = nan", "nan", r"'muon.resolution.sigma_max': expected a number, got nan"),
        (
            "pt_resolution = 0.05",
            "pt_resolution = inf",
            "inf",
            r"'large_r_jet.pt_resolution': expected a finite number",
        ),
        (
            "mass_resolution = 0.10",
            "mass_resolution = -0.1",
            "-0.1",
            r"'large_r_jet.mass_resolution': expected a number >= 0",
        ),
        (
            "noise_sigma_xy = 5.0",
            "noise_sigma_xy = -5.0",
            "-5.0",
            r"'met.soft_term.noise_sigma_xy': expected a number >= 0",
        ),
        ("reco_pt_min = 15.0", "reco_pt_min = nan", "nan", r"'jet.reco_pt_min': expected a number, got nan"),
        ("efficiency = 0.95", "efficiency = 1.5", "1.5", r"'jet.jvt.efficiency': expected a number in \[0, 1\]"),
        ("R = 0.4", "R = 0", "0", r"'jet.R': expected a number > 0, got 0"),
        (
            "  { abs_eta_min = 0.0, abs_eta_max = 1.4, N = 0.3",
            "  { abs_eta_min = 0.0, abs_eta_max = 1.4, N = inf, S = 0.10, C = 0.010 },",
            "inf",
            r"'electron.resolution.regions\[\].N': expected a finite number, got inf",
        ),
        (
            "  { abs_eta_min = 1.4, abs_eta_max = 2.5, N = 0.3",
            "  { abs_eta_min = 1.5, abs_eta_max = 2.5, N = 0.3, S = 0.15, C = 0.015 },",
            "1.5",
            r"'electron.resolution.regions\[\].abs_eta_min': regions must cover \|eta\| from 0 without gaps",
        ),
        # types: booleans are not integers, integers are not floats
        ("enabled = true", "enabled = 1", "1", r"'electron.charge_flip.enabled': expected true or false"),
        ("relative = true", "relative = 1", "1", r"'isolation.ptvarcone20.relative': expected true or false"),
        (
            "allow_from_tau = true",
            'allow_from_tau = "yes"',
            '"yes"',
            r"'truth.prompt.allow_from_tau': expected true or false",
        ),
        ("run_seed = 1", "run_seed = 1.5", "1.5", r"'rng.run_seed': expected an integer"),
        ("run_seed = 1", "run_seed = -3", "-3", r"'rng.run_seed': expected an integer >= 0, got -3"),
        ("jet_pt_min = 20.0", 'jet_pt_min = "20"', '"20"', r"'tau.fake_from_jet.jet_pt_min': expected a number"),
        # names and choices
        (
            'default_wp = "medium"',
            'default_wp = "mediun"',
            '"mediun"',
            r"'electron.default_wp': 'mediun' names no working point",
        ),
        (
            'default_wp = "MV2c10_77"',
            'default_wp = "MV2c10_78"',
            '"MV2c10_78"',
            r"'btag.default_wp': 'MV2c10_78' names no",
        ),
        (
            'nested = ["loose", "medium", "tight"]',
            'nested = ["loose", "medium", "tite"]',
            '"tite"',
            r"'tite' names no working point",
        ),
        (
            'efficiency_product = ["reco", "id", "eta_factor"]',
            'efficiency_product = ["reco", "idd"]',
            '"idd"',
            r"'idd' is not a function",
        ),
        (
            'momentum_unit = "GeV"',
            'momentum_unit = "MeV"',
            '"MeV"',
            r"'conventions.momentum_unit': only \"GeV\" is supported",
        ),
        (
            'algorithm = "antikt"',
            'algorithm = "kt"',
            '"kt"',
            r"'jet.algorithm': only \"antikt\" is supported, got \"kt\"",
        ),
        (
            'mode = "object_based"',
            'mode = "object-based"',
            '"object-based"',
            r"'met.mode': expected one of object_based, truth_smeared",
        ),
        (
            'cone = "variable"',
            'cone = "varying"',
            '"varying"',
            r"'isolation.ptvarcone20.cone': expected one of fixed, variable",
        ),
        (
            "exclude_invisible = true",
            "exclude_invisible = false",
            "false",
            r"'jet.inputs.exclude_invisible': only true",
        ),
        ("prong_particle_pt_min = 0.0", "prong_particle_pt_min = 1.0", "1.0", r"only 0 is supported, got 1"),
        (
            "enabled = false                           #",
            "enabled = true",
            "true",
            r"'electron.isolation_map.enabled': .*not implemented",
        ),
        (
            'label_priority = ["b", "c", "tau", "light"]',
            'label_priority = ["c", "b", "tau", "light"]',
            "[",
            r"implements \[b, c, tau, light\] only",
        ),
        ('var = "et"', 'var = "ett"', '"ett"', r"'electron.reco.var': expected one of pt, eta"),
        ('below = "zero"', 'below = "nope"', '"nope"', r"'electron.reco.below': expected one of zero, clamp"),
        ("floor = 0.4", "floor = 1.4", "1.4", r"'btag.high_pt.floor': expected a number in \[0, 1\]"),
        (
            'applies_to = ["b"]',
            'applies_to = ["bb"]',
            '"bb"',
            r"'btag.high_pt.applies_to': expected one of b, c, tau, light",
        ),
        (
            'target = "jet"',
            'target = "jets"',
            '"jets"',
            r"'tau.resolution.target': 'jets.resolution' is not a resolution",
        ),
        # keys that the card's own switches would leave unused
        (
            "track_dr = 0.2",
            'mode = "any_jet"',
            None,
            r"'tau.fake_from_jet.track_pt_min': not used with mode = \"any_jet\"",
        ),
        ("r_max = 0.2", "r_max = 0.2\nr = 0.2", None, r"'isolation.ptvarcone20.r': not used with cone = \"variable\""),
        # expressions: the column of the offending character in the file (§13.4)
        (
            'expr = "(0.002 + 7.3e-6*pt) / (0.002 + 7.3e-6*60.0)"',
            'expr = "(0.002 + 7.3e-6*ptt) / (0.002 + 7.3e-6*60.0)"',
            "ptt",
            r"'btag.shape.light.expr': unknown variable 'ptt'",
        ),
        ('expr = "(0.002 + 7.3e-6*pt) / (0.002 + 7.3e-6*60.0)"', DEEP_EXPR, "(" * 201, r"expression nested too deeply"),
    ],
)
def test_out_of_range_values_name_file_line_column_and_key(tmp_path, old, new, at, message):
    text, line = replace_line(ATLAS, old, new)
    path = tmp_path / "card.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        DetectorCard.load(path)
    where = str(err.value).split(": ")[0]
    file, reported_line, column = where.rsplit(":", 2)
    assert file == str(path)
    if at is None:  # the offending key sits in the table of the changed line
        assert abs(int(reported_line) - line) <= 6
    else:
        assert int(reported_line) == line
        expected = new.index(at) + 1 + (200 if at == "(" * 201 else 0)
        assert int(column) == expected


def test_errors_of_the_card_users_carry_the_line(tmp_path):
    path = tmp_path / "card.toml"
    path.write_text(ATLAS)
    card = DetectorCard.load(path)
    id_line = ATLAS.splitlines().index("[electron.id]") + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{id_line}:\d+: 'electron.id': has no working point 'nope'$"):
        card.function("electron.id", "nope")
    electron_line = ATLAS.splitlines().index("[electron]") + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{electron_line}:\d+: 'electron.nope': no function object here$"):
        card.function("electron.nope")


def test_override_errors_name_the_override_file_and_merged_checks(tmp_path):
    bad = OVERRIDE.replace("eff_b = 0.77", "eff_b = 1.77")
    with pytest.raises(
        ConfigError, match=r"^analysis.toml:10:9: 'btag.wp.paper_77.eff_b': expected a number in \[0, 1\]"
    ):
        DetectorCard.parse(bad, "analysis.toml")
    # default_wp is checked against the merged working points
    with pytest.raises(
        ConfigError, match=r"^analysis.toml:17:14: 'electron.default_wp': 'tite' names no working point"
    ):
        DetectorCard.parse(OVERRIDE.replace('default_wp = "tight"', 'default_wp = "tite"'), "analysis.toml")
    # a new binning must fit the base card's values
    short = OVERRIDE + "\n[muon.eta_factor]\nedges = [0.0, 2.5]\n"
    with pytest.raises(ConfigError, match=r"'muon.eta_factor.wp.loose': has 2 values for 1 bins"):
        DetectorCard.parse(short, "analysis.toml")


def test_a_switch_flipped_by_an_override_leaves_the_base_keys_alone(tmp_path):
    # the override cannot remove the base card's track_efficiency: no error for it ...
    flip = OVERRIDE + '\n[met.soft_term]\nkind = "pf_unclustered"\nresponse = 0.9\n'
    card = DetectorCard.parse(flip, "analysis.toml")
    assert card.to_dict()["met"]["soft_term"]["kind"] == "pf_unclustered"
    # ... but a full card (or an override) that sets a key its own switch leaves unused is refused
    text = ATLAS.replace('[met.soft_term]\nkind = "track"', '[met.soft_term]\nkind = "pf_unclustered"')
    assert text != ATLAS
    path = tmp_path / "card.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"'met.soft_term.track_efficiency': not used with kind = \"pf_unclustered\""):
        DetectorCard.load(path)
    with pytest.raises(ConfigError, match=r"^analysis.toml:\d+:\d+: 'met.soft_term.track_efficiency': not used"):
        DetectorCard.parse(flip + '[met.soft_term.track_efficiency]\nkind = "constant"\nvalue = 1.0\n', "analysis.toml")
