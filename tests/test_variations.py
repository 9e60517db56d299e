"""Generator variations (issue 18): the named set, Pythia's in-run weights, the envelope
arithmetic, and `run --variations` end to end (yields against a hand reweighting of the nominal
events, CLs with the signal uncertainty against pyhf's normsys)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recast_ml import ConfigError, variations
from recast_ml.pythia import PythiaGenerator, simplified_model_generator


# ---- the named set ------------------------------------------------------------------------------
def test_the_named_set_has_isr_fsr_damping_and_cross_section() -> None:
    found = variations.catalogue()
    assert {"isr", "fsr", "isr_damped", "xsec"} <= set(found)
    assert found["isr"].kind == "weight"
    assert found["isr"].members == {
        "isr_up": "isr:muRfac=0.5",
        "isr_down": "isr:muRfac=2.0",
    }
    assert found["isr_damped"].kind == "sample"
    assert found["isr_damped"].members["isr_damped"] == ["SpaceShower:pTdampFudge = 0.25"]
    assert found["xsec"].kind == "cross_section"
    for v in found.values():
        assert v.description
        assert v.source


def test_resolve_default_all_and_lists() -> None:
    assert variations.resolve("default").names == ["isr", "fsr", "xsec"]
    assert variations.resolve("all").names == ["isr", "fsr", "isr_damped", "xsec"]
    vset = variations.resolve(["fsr", "isr,fsr"])
    assert vset.names == ["fsr", "isr"]
    assert list(vset.weight_members) == ["fsr_up", "fsr_down", "isr_up", "isr_down"]
    assert vset.sample_members == {}
    assert not vset.cross_section
    assert not variations.resolve(None)
    assert not variations.resolve("")
    lines = vset.pythia_settings()
    assert lines[:3] == [
        "UncertaintyBands:FSRpTmin2Fac = 100.0",
        "UncertaintyBands:overSampleFSR = 1.0",
        "UncertaintyBands:overSampleISR = 1.0",
    ]
    assert lines[3] == "UncertaintyBands:doVariations = on"
    assert lines[4] == (
        "UncertaintyBands:List = {fsr_up fsr:muRfac=0.5, fsr_down fsr:muRfac=2.0, isr_up isr:muRfac=0.5, "
        "isr_down isr:muRfac=2.0}"
    )


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown variation 'isrr'; known: isr, fsr, isr_damped, xsec"):
        variations.resolve("isr,isrr")


def test_a_user_file_adds_and_replaces_entries(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(
        "cns:\n  kind: weight\n  description: FSR non-singular terms\n  source: Pythia manual\n"
        "  members: {cns_up: 'fsr:cNS=2.0', cns_down: 'fsr:cNS=-2.0'}\n"
        "isr_damped:\n  kind: sample\n  description: milder damping\n  source: me\n"
        "  members: {isr_damped: ['SpaceShower:pTdampFudge = 0.5']}\n"
    )
    vset = variations.resolve(f"isr,{f}")
    assert vset.names == ["isr", "cns", "isr_damped"]
    assert vset.weight_members["cns_up"] == "fsr:cNS=2.0"
    assert vset.sample_members == {"isr_damped": ["SpaceShower:pTdampFudge = 0.5"]}
    # the CLI lists them
    out = subprocess.run(
        [sys.executable, "-m", "recast_ml", "variations", str(f)], capture_output=True, text=True, check=True
    ).stdout
    assert "cns (weight): FSR non-singular terms" in out
    assert "cns_down     fsr:cNS=-2.0" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x:\n  kind: magic\n  members: {a: b}\n", r"entry 'x': kind must be one of weight, sample, cross_section"),
        ("x:\n  kind: weight\n  members: {a: 'muRfac'}\n", r"entry 'x': member a: expected one UncertaintyBands"),
        ("x:\n  kind: weight\n", r"entry 'x': members must map member names"),
        ("x:\n  kind: sample\n  members: {a: [1, 2]}\n", r"member a: expected a list of Pythia setting lines"),
        ("x:\n  kind: cross_section\n  members: {a: 2}\n", r"member a: expected \+1 or -1"),
        ("x:\n  kind: weight\n  members: {'1a': 'isr:muRfac=2'}\n", r"member name '1a' must be letters"),
        ("- a\n", r"expected a mapping NAME"),
    ],
)
def test_bad_variation_files_name_the_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        variations.resolve(str(f))
    assert str(f) in str(info.value)


def test_member_names_must_be_unique(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text("mine:\n  kind: weight\n  description: d\n  source: s\n  members: {ISR_UP: 'isr:muRfac=0.7'}\n")
    with pytest.raises(ConfigError, match=r"member 'ISR_UP' of mine has the name of one of isr"):
        variations.resolve(["isr", str(f)])
    with pytest.raises(ConfigError, match=r"--variations missing.yaml: no such file"):
        variations.resolve("missing.yaml")


# ---- envelope arithmetic (hand-computed) -----------------------------------------------------------
def test_envelope_and_relative_uncertainty_by_hand() -> None:
    assert variations.envelope(10.0, [12.0, 9.0, 11.0]) == (2.0, 1.0)
    assert variations.envelope(10.0, [11.0, 12.0]) == (2.0, 0.0)  # one-sided
    up, down, eu, ed = variations.relative_uncertainty(10.0, [12.0, 9.0], 0.15)
    assert (eu, ed) == pytest.approx((0.2, 0.1))
    assert up == pytest.approx(math.hypot(0.2, 0.15))
    assert down == pytest.approx(math.hypot(0.1, 0.15))
    assert variations.relative_uncertainty(10.0, [0.0], None)[1] == 0.999  # capped below 1
    assert variations.relative_uncertainty(0.0, [1.0], 0.1) == (0.0, 0.0, 0.0, 0.0)


# ---- Pythia's in-run weights -------------------------------------------------------------------------
def test_pythia_weights_follow_the_members_and_pythias_own_names() -> None:
    """Each member's weight column equals Pythia's built-in variation of the same parameter
    (registered under Pythia's own name, e.g. 'isr.murfac=0.5'): the column mapping is right."""
    vset = variations.resolve("isr,fsr")
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=5, weight_variations=vset.weight_members)
    batches = list(gen.batches(60, chunk_size=25))
    assert [len(b) for b in batches] == [25, 25, 10]
    info = gen._pythia.infoPython()
    names = [str(info.weightNameByIndex(i)) for i in range(int(info.numberOfWeights()))]
    for b in batches:
        assert set(b.variation_weights) == set(vset.weight_members)
        for w in b.variation_weights.values():
            assert w.shape == (len(b),)
            assert np.all(np.isfinite(w))
            assert w.dtype == np.float64
        np.testing.assert_array_equal(b.weight, 1.0)
    # Pythia computed the same variations under its own names: equal column by column
    assert {"isr.murfac=0.5", "isr.murfac=2.0", "fsr.murfac=0.5", "fsr.murfac=2.0"} <= set(names)
    cols = variations.weight_columns(names, ["isr.murfac=0.5", "fsr.murfac=2.0"])
    assert cols["isr.murfac=0.5"] != variations.weight_columns(names, ["isr_up"])["isr_up"]
    # the weights vary event by event (a real variation, not ones)
    w_all = np.concatenate([b.variation_weights["isr_up"] for b in batches])
    assert np.std(w_all) > 1e-3


def test_pythia_own_variations_equal_the_members() -> None:
    vset = variations.resolve("isr")
    gen = PythiaGenerator(["Beams:eCM = 13000.", "Top:gg2ttbar = on"], seed=3, weight_variations=vset.weight_members)
    info = gen._pythia.infoPython()
    names = [str(info.weightNameByIndex(i)) for i in range(int(info.numberOfWeights()))]
    raw = gen._pythia.nextBatch(20)
    w = np.asarray(raw["info"]["weights"].to_list())
    cols = variations.weight_columns(names, ["isr_up", "isr.murfac=0.5", "isr_down", "isr.murfac=2.0"])
    np.testing.assert_array_equal(w[:, cols["isr_up"]], w[:, cols["isr.murfac=0.5"]])
    np.testing.assert_array_equal(w[:, cols["isr_down"]], w[:, cols["isr.murfac=2.0"]])


def test_a_missing_weight_is_a_typed_error() -> None:
    with pytest.raises(ConfigError, match=r"Pythia did not produce the variation weight 'nope'"):
        variations.weight_columns(["Weight", "isr_up"], ["nope"])


# ---- run --variations: refusals before any event -----------------------------------------------------
def test_run_refuses_sample_variations_with_event_files(tmp_path: Path) -> None:
    """A sample member needs a generated nominal sample; weight members are read from the files
    (tests/test_variation_weights_in_files.py)."""
    from recast_ml.run import run_job

    f = tmp_path / "e.hepmc"
    f.write_text("HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\nHepMC::Asciiv3-END_EVENT_LISTING\n")
    with pytest.raises(ConfigError, match=r"--variations isr_damped: sample variations \(isr_damped\) generate"):
        run_job(["ATLAS-SUSY-2019-04"], events=f, cross_section=1.0, variations="isr,isr_damped", output=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_run_refuses_the_xsec_variation_without_an_uncertainty(tmp_path: Path) -> None:
    from recast_ml.run import run_job

    with pytest.raises(ConfigError, match=r"--variations xsec: the cross section .* has no theory uncertainty"):
        run_job(
            ["ATLAS-SUSY-2019-04"],
            generate="gluino_direct:1400,1000",
            n_events=10,
            cross_section="28fb",
            variations="xsec",
            output=tmp_path / "o",
        )
    assert not (tmp_path / "o").exists()


def test_cli_lists_the_set() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "recast_ml", "variations"], capture_output=True, text=True, check=True
    ).stdout
    assert "isr (weight)" in out
    assert "isr_damped (sample)" in out
    assert "default = isr,fsr,xsec" in out
    json.dumps(variations.resolve("all").to_dict())  # serialisable for results.json


# ---- end to end (AnalysisResult.reweighted and the signal-systematic CLs) -----------------------------
class _Kept:
    """The batches of a generator, their variation weights kept for the hand reweighting."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches = batches
        self.weights: dict[str, list[np.ndarray]] = {}

    def __iter__(self) -> Iterator[Any]:
        for b in self.batches:
            for m, w in b.variation_weights.items():
                self.weights.setdefault(m, []).append(np.array(w))
            yield b


@pytest.fixture(scope="module")
def weighted_run() -> tuple[Any, dict[str, np.ndarray]]:
    from recast_ml.analysis import Analysis, run_batches

    vset = variations.resolve("isr,fsr")
    ana = Analysis.load("ATLAS-SUSY-2018-22")
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=21, weight_variations=vset.weight_members)
    kept = _Kept(gen.batches(600, chunk_size=250))
    res = run_batches([ana], kept, cross_section=0.0284, variations=list(vset.weight_members))[0]
    return res, {m: np.concatenate(w) for m, w in kept.weights.items()}


def test_weight_members_equal_a_hand_reweighting_of_the_nominal_events(weighted_run) -> None:
    """Each member's yield per region = σ L Σ_(events passing) w_m / Σ_(all events) w_m, from
    the per-event region decisions and Pythia's weights; step counts are the nominal's."""
    res, weights = weighted_run
    assert set(res.variations) == {"isr_up", "isr_down", "fsr_up", "fsr_down"}
    lumi_pb = res.luminosity_fb * 1000.0
    checked = 0
    for m, w in weights.items():
        var = res.variations[m]
        assert var.sum_weights == pytest.approx(w.sum(), rel=1e-12)
        assert var.n_events == res.n_events
        for region in res.cutflows:
            mask = res.region_mask(region)
            expected = 0.0284 * lumi_pb * w[mask].sum() / w.sum()
            got, err = var.yield_(region)
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
            assert err == pytest.approx(
                0.0284 * lumi_pb * math.sqrt((w[mask] ** 2).sum()) / w.sum(), rel=1e-9, abs=1e-12
            )
            np.testing.assert_array_equal(var.cutflows[region].n, res.cutflows[region].n)
            checked += int(mask.any())
    assert checked >= 8  # regions with events, over the four members
    # a real variation: some yield moved
    region = max(res.cutflows, key=lambda r: res.cutflows[r].n[-1])
    assert any(res.variations[m].yield_(region)[0] != res.yield_(region)[0] for m in weights)


def test_sample_members_get_one_sample_each_attached_to_every_analysis(tmp_path: Path) -> None:
    """variations.add_sample_members (run and scan): one call per sample member, in the set's
    order, with its Pythia lines; its results attached per analysis; weight and cross-section
    members make no sample; a sample with a result missing is refused."""
    from types import SimpleNamespace

    f = tmp_path / "mine.yaml"
    f.write_text(
        "soft:\n  kind: sample\n  description: d\n  source: s\n"
        "  members: {soft_a: ['A = 1'], soft_b: ['B = 2', 'C = 3']}\n"
    )
    vset = variations.resolve(f"isr,isr_damped,xsec,{f}")
    nominal = [SimpleNamespace(variations={}), SimpleNamespace(variations={})]
    calls = []

    def sample(member: str, lines: list[str]) -> list[Any]:
        calls.append((member, lines))
        return [f"{member} of analysis {k}" for k in range(len(nominal))]

    variations.add_sample_members(nominal, vset, sample)
    assert calls == [
        ("isr_damped", ["SpaceShower:pTdampFudge = 0.25"]),
        ("soft_a", ["A = 1"]),
        ("soft_b", ["B = 2", "C = 3"]),
    ]
    for k, res in enumerate(nominal):
        assert res.variations == {m: f"{m} of analysis {k}" for m in ("isr_damped", "soft_a", "soft_b")}
    with pytest.raises(ValueError, match="shorter"):  # zip(strict=True)
        variations.add_sample_members(nominal, vset, lambda member, lines: ["one result only"])


def test_a_sample_member_is_its_own_sample_with_the_same_seed(tmp_path: Path) -> None:
    from recast_ml.analysis import Analysis, run_batches
    from recast_ml.run import run_job

    doc = run_job(
        ["ATLAS-SUSY-2019-04"],
        generate="gluino_direct:1400,1000",
        n_events=40,
        seed=4,
        variations="isr_damped",
        output=tmp_path / "o",
    )
    ana = Analysis.load("ATLAS-SUSY-2019-04")
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=4, settings=["SpaceShower:pTdampFudge = 0.25"])
    ref = run_batches([ana], gen.batches(40), cross_section=doc["input"]["cross_section_pb"])[0]
    st = doc["analyses"][0]["statistics"]
    for r in st["regions"]:
        assert r["signal_variations"]["isr_damped"]["signal"] == pytest.approx(ref.yield_(r["region"])[0], rel=1e-12)


def test_run_with_variations_end_to_end(tmp_path: Path) -> None:
    """`recast-ml run --variations default`: schema-valid document; per SR the members, the
    envelope ⊕ δσ, CLs with it profiled equal to pyhf's normsys model, the robustness verdict."""
    import pyhf

    from recast_ml.provenance import validate_run_document

    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "recast_ml", "run", "--analysis", "ATLAS-SUSY-2018-22", "--generate",
         "gluino_direct:1400,1000", "-n", "200", "--variations", "default", "-o", str(out), "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    validate_run_document(doc)
    assert doc["input"]["variations"]["names"] == ["isr", "fsr", "xsec"]
    st = doc["analyses"][0]["statistics"]
    rel = doc["input"]["cross_section_rel_error"]
    assert rel > 0
    v = st["variations"]
    assert v["members"] == ["isr_up", "isr_down", "fsr_up", "fsr_down", "xsec_up", "xsec_down"]
    best = st["best"]
    # the envelope by hand, ⊕ δσ
    s = best["signal"]
    used = [m for m in v["members"][:4] if m not in best["envelope_members_left_out"]]
    for m in v["members"][:4]:  # left out exactly when below 10 effective MC events
        assert (m in best["envelope_members_left_out"]) == (best["signal_variations"][m]["mc_events_effective"] < 10)
    gen_yields = [best["signal_variations"][m]["signal"] for m in used]
    up = max([0.0, *(y - s for y in gen_yields)]) / s
    down = max([0.0, *(s - y for y in gen_yields)]) / s
    assert best["signal_envelope_rel_up"] == pytest.approx(up)
    assert best["signal_rel_up"] == pytest.approx(math.hypot(up, rel))
    assert best["signal_rel_down"] == pytest.approx(min(math.hypot(down, rel), 0.999))
    assert best["signal_variations"]["xsec_up"]["signal"] == pytest.approx(s * (1 + rel))
    # CLs with the signal uncertainty profiled = pyhf with a normsys on the signal
    spec = {
        "channels": [
            {
                "name": "sr",
                "samples": [
                    {
                        "name": "signal",
                        "data": [s],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "sig", "type": "normsys",
                             "data": {"hi": 1 + best["signal_rel_up"], "lo": 1 - best["signal_rel_down"]}},
                        ],
                    },
                    {
                        "name": "background",
                        "data": [best["b"]],
                        "modifiers": [{"name": "unc", "type": "shapesys", "data": [best["b_err"]]}],
                    },
                ],
            }
        ]
    }  # fmt: skip
    model = pyhf.Model(spec, poi_name="mu")
    data = [best["n_obs"], *model.config.auxdata]
    obs, exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected=True)
    if 0.01 < float(obs) < 0.99:
        assert best["cls_obs_syst"] == pytest.approx(float(obs), rel=0.01)
        assert best["cls_exp_syst"] == pytest.approx(float(exp), rel=0.01)
    assert best["cls_obs_syst"] >= best["cls_obs"] - 1e-9  # a signal uncertainty weakens the exclusion
    # robustness consistent with the members' CLs
    by = best["cls_obs_by_variation"]
    counted = [m for m in v["members"] if m not in v["low_mc_statistics_members"]]
    assert v["excluded_under"] == [m for m in counted if by[m] < 0.05]
    n_all = len(counted)
    assert v["robust"] == (
        "all" if len(v["excluded_under"]) == n_all else "none" if not v["excluded_under"] else "some"
    )
    assert f"({len(v['excluded_under'])} of {n_all}) variations" in st["verdict"]
    assert best["r_obs_syst_up"] == pytest.approx(best["r_obs"] * (1 + best["signal_rel_up"]))
    assert "signal variations (isr, fsr, xsec)" in proc.stdout
    html = (out / "report.html").read_text()
    assert "Signal modelling:" in html
    # the headline counts the members in the envelope, not those left out
    assert f"of the {n_all} variations ({len(v['excluded_under'])} of {n_all}:" in html
    assert "Signal variations (isr, fsr, xsec): yields per SR" in html


def test_a_member_without_events_in_an_sr_is_left_out_of_its_envelope(weighted_run) -> None:
    """A member with no MC event in an SR would make the signal removable (lo = 0.001): it is
    left out of that SR's envelope and of the robustness count, and listed."""
    from recast_ml.analysis import Analysis
    from recast_ml.run import analyse

    res, _ = weighted_run
    st = analyse(Analysis.load("ATLAS-SUSY-2018-22"), res)["statistics"]
    region = max((r for r in st["regions"]), key=lambda r: r["mc_events"] or 0)
    assert region["mc_events"] >= 15
    w = np.ones(res.n_events)
    w[res.region_mask(region["region"])] = 0.0  # no event of the SR in this member
    res.variations = {"empty": res.reweighted(w), "isr_up": res.variations["isr_up"]}
    vset = variations.VariationSet(
        [variations.Variation("mine", "weight", "d", "s", {"empty": "isr:muRfac=3.0", "isr_up": "isr:muRfac=0.5"})]
    )
    variations.apply(st, res, vset, None)
    row = next(r for r in st["regions"] if r["region"] == region["region"])
    assert row["signal_variations"]["empty"]["signal"] == 0.0
    assert row["signal_variations"]["empty"]["mc_events_effective"] == 0.0
    assert row["envelope_members_left_out"] == ["empty"]
    s, y = row["signal"], row["signal_variations"]["isr_up"]["signal"]
    assert row["signal_envelope_rel_up"] == pytest.approx(max(y - s, 0.0) / s)
    assert row["signal_envelope_rel_down"] == pytest.approx(max(s - y, 0.0) / s)
    assert row["signal_rel_down"] < 0.5  # not the 0.999 of the empty member
    if st["best"]["region"] == region["region"]:
        assert "left out of the envelope" in st["verdict"]
        assert st["variations"]["low_mc_statistics_members"] == ["empty"]
