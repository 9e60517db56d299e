"""Every key of the reference cards is used or rejected (spec §13.2: "typos must not silently fall
back to defaults"): each numeric value of both cards, changed, changes the detector output or is
refused at load; only the keys listed as informational in data/cards/README.md (and
recast_ml.cards.INFORMATIONAL_KEYS) may do neither."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
import tomllib

from conftest import REPO
from hepmc_samples import ZTAUTAU
from recast_ml import ConfigError, Detector, EventBatch
from recast_ml._data import cards_dir
from recast_ml.cards import CONDITIONAL_KEYS, INFORMATIONAL_KEYS, DetectorCard
from recast_ml.pythia import PRESETS, PythiaGenerator

PROFILES = {"ATLAS-Run2": "atlas_run2.toml", "CMS-Run2": "cms_run2.toml"}


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def override(profile: str, settings: dict[str, Any]) -> str:
    """An override card (§13.9) setting dotted keys of `profile`."""
    lines = ['schema = "recast_ml/detector-card"', "schema_version = 1", f'extends = "{profile}"']
    lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def numeric_leaves(node: Any, path: tuple = ()):
    """(path, value) of every int/float scalar; path elements are keys or array indices."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numeric_leaves(v, (*path, k))
    elif isinstance(node, list):
        if all(isinstance(x, dict) for x in node):
            for i, x in enumerate(node):
                yield from numeric_leaves(x, (*path, i))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node


def dotted(path: tuple, card: dict | None = None) -> str:
    """ "a.b[1].c"; with `card`, the last entry of an array is written [last]."""
    parts = []
    for i, p in enumerate(path):
        if isinstance(p, int):
            last = card is not None and p == len(_get(card, path[:i])) - 1
            parts.append(f"[{'last' if last else p}]")
        else:
            parts.append(("." if parts else "") + p)
    return "".join(parts)


def setting(card: dict, path: tuple, value: Any) -> tuple[str, Any]:
    """The override entry that sets `path` (a value inside an array replaces the whole array)."""
    for i, p in enumerate(path):
        if isinstance(p, int):
            array = json.loads(json.dumps(_get(card, path[:i])))
            _set(array, path[i:], value)
            return ".".join(path[:i]), array
    return ".".join(path), value


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(node: Any, path: tuple, value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def matches(pattern: str, key: str) -> bool:
    rx = re.escape(pattern).replace(r"\*", r"[^.\[\]]+")
    return re.fullmatch(rx, key) is not None


def attempts(v: int | float) -> list[int | float]:
    """Smaller, larger, then a large change (small rates need one to show on a finite sample)."""
    if isinstance(v, int):
        return [v + 1, v + 2]
    if v == 0:
        return [0.5, 5.0]
    return [x for x in (v * 0.5, v * 1.5, 0.5 if v < 1 else v * 0.01) if x != v]


def single_particles(seed: int) -> EventBatch:
    """Prompt e, mu, gamma, B+, D+ and pi+ (one per event), log-uniform pT, |eta| < 3: they probe
    every acceptance threshold, the muon sigma_max (pT up to 5 TeV), the b-tag high-pT decline,
    and give thousands of b, c and light jets for the tag rates."""
    rng = np.random.default_rng(seed)
    kinds = [(11, 0.000511, 1500, 2.0), (13, 0.10566, 1500, 2.0), (22, 0.0, 1500, 5.0),
             (521, 5.279, 1000, 20.0), (411, 1.8696, 500, 20.0), (211, 0.13957, 4000, 15.0)]  # fmt: skip
    pid = np.concatenate([np.where(rng.random(n) < 0.5, p, -p) if p != 22 else np.full(n, 22) for p, _, n, _ in kinds])
    mass = np.concatenate([np.full(n, m) for _, m, n, _ in kinds])
    pt = np.concatenate(
        [np.exp(rng.uniform(math.log(lo), math.log(5000.0 if p == 13 else 3000.0), n)) for p, _, n, lo in kinds]
    )
    n = len(pid)
    eta = rng.uniform(-3.0, 3.0, n)
    phi = rng.uniform(-math.pi, math.pi, n)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return EventBatch.from_arrays(
        np.arange(n + 1), px, py, pz, e, pid.astype(np.int32), np.ones(n, np.int32), mass=mass
    )


def pairs(seed: int) -> EventBatch:
    """An e, mu or gamma with one neighbour (pi+, photon or K0L) at Delta R 0.02-0.5: probes the
    isolation cones and particle cuts (also near |eta| = 2.5), dressing and the jet overlaps."""
    rng = np.random.default_rng(seed)
    n = 3000
    lead = rng.choice([11, -11, 13, -13, 22], n)
    other = rng.choice([211, -211, 22, 130], n)
    pt1 = np.exp(rng.uniform(math.log(5.0), math.log(200.0), n))
    eta1 = rng.uniform(-2.45, 2.45, n)
    phi1 = rng.uniform(-math.pi, math.pi, n)
    # mostly soft neighbours inside the cones; a third are hard pions just outside the jet radius
    # (a separate jet next to the lepton: met.jet_object_overlap_dr)
    hard = rng.random(n) < 0.3
    other[hard] = 211
    dr, angle = np.where(hard, rng.uniform(0.41, 0.6, n), rng.uniform(0.02, 0.5, n)), rng.uniform(0, 2 * math.pi, n)
    pt2 = np.where(hard, rng.uniform(20.0, 60.0, n), rng.uniform(0.3, 10.0, n))
    eta2, phi2 = eta1 + dr * np.cos(angle), phi1 + dr * np.sin(angle)
    masses = {11: 0.000511, 13: 0.10566, 22: 0.0, 211: 0.13957, 130: 0.497611}
    pid = np.stack([lead, other], axis=1).ravel().astype(np.int32)
    mass = np.array([masses[abs(p)] for p in pid])
    pt = np.stack([pt1, pt2], axis=1).ravel()
    eta = np.stack([eta1, eta2], axis=1).ravel()
    phi = np.stack([phi1, phi2], axis=1).ravel()
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return EventBatch.from_arrays(np.arange(0, 2 * n + 1, 2), px, py, pz, e, pid, np.ones(2 * n, np.int32), mass=mass)


@pytest.fixture(scope="module")
def samples() -> list[EventBatch]:
    ttbar = PythiaGenerator([*PRESETS["ttbar"], "PartonLevel:MPI = off"], seed=21).generate(150)
    ztautau = PythiaGenerator([*ZTAUTAU, "PartonLevel:MPI = off"], seed=22).generate(250)
    return [ttbar, ztautau, single_particles(23), pairs(24)]


def fingerprint(card: DetectorCard, samples: list[EventBatch]) -> list[np.ndarray]:
    det = Detector(card)
    out = []
    for events in samples:
        raw = det._detector.reconstruct(events._batch, 0, 1)
        for kind in sorted(raw):
            for field in sorted(raw[kind]):
                out.append(np.asarray(raw[kind][field]))
    return out


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True)
    )


def _ghost_to_cone(key: str, card: dict) -> dict[str, Any]:
    if card["btag"]["label_scheme"] != "ghost":
        return {}
    tau = {f"btag.wp.{wp}.rej_tau": 100.0 for wp in card["btag"]["wp"]}
    return {"btag.label_scheme": "cone_exclusive", "btag.label_priority": ["b", "c", "tau", "light"], **tau}


#: The setting under which each conditional key is read (applied to both cards compared).
CONTEXT = {
    "*.crack.abs_eta_min": lambda key, card: {key.split(".")[0] + ".crack.policy": "drop"},
    "*.crack.abs_eta_max": lambda key, card: {key.split(".")[0] + ".crack.policy": "drop"},
    "jet.jvt.*": lambda key, card: {"jet.jvt.enabled": True},
    "electron.fake_from_jet.rate": lambda key, card: {"electron.fake_from_jet.enabled": True},
    "btag.label_dr": _ghost_to_cone,
    "met.truth_smeared.resolution": lambda key, card: {"met.mode": "truth_smeared"},
    "large_r_jet.grooming.R0": lambda key, card: {"large_r_jet.grooming.beta": 1.0},
}


def test_informational_keys_are_documented():
    assert set(CONTEXT) == set(CONDITIONAL_KEYS)
    readme = (REPO / "data" / "cards" / "README.md").read_text()
    for key in [*INFORMATIONAL_KEYS, *CONDITIONAL_KEYS]:
        assert f"`{key}`" in readme, key


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_numeric_key_changes_the_output_or_is_rejected(profile, samples):
    card = tomllib.loads((cards_dir() / PROFILES[profile]).read_text())
    base_cache: dict[str, list[np.ndarray]] = {}
    unused, rejected = [], []
    for path, value in numeric_leaves(card):
        key = dotted(path)
        if key == "schema_version" or any(matches(p, dotted(path, card)) for p in INFORMATIONAL_KEYS):
            continue
        context = next((c(key, card) for p, c in CONTEXT.items() if matches(p, key)), {})
        if not key.startswith("large_r_jet."):  # large-R jets take half the time; other keys do not need them
            context = {"large_r_jet.enabled": False, **context}
        ctx_key = json.dumps(context, sort_keys=True)
        if ctx_key not in base_cache:
            base_cache[ctx_key] = fingerprint(DetectorCard.parse(override(profile, context), "base.toml"), samples)
        base = base_cache[ctx_key]
        errors = 0
        for new in attempts(value):
            k, v = setting(card, path, new)
            try:
                changed = DetectorCard.parse(override(profile, {**context, k: v}), "changed.toml")
            except ConfigError:
                errors += 1
                continue
            if not same(fingerprint(changed, samples), base):
                break
        else:
            (rejected if errors == len(attempts(value)) else unused).append(key)
    assert not unused, "unused: " + " ".join(unused)
    # keys whose only supported value is the reference one (or region bounds, which must be contiguous)
    assert set(rejected) <= {
        "truth.hadronic_tau.prong_particle_pt_min",
        *(k for k in rejected if re.fullmatch(r"[a-z]+\.resolution\.regions\[\d+\]\.abs_eta_m(in|ax)", k)),
    }, rejected
