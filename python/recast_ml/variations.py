"""Signal-modelling uncertainty: generator variations of the signal sample and their envelope in
the statistics.

The named set lives in ``variations.yaml`` beside this module (kinds ``weight``: Pythia's in-run
shower-variation weights, no extra events; ``sample``: a separate sample with extra Pythia lines;
``cross_section``: the theory uncertainty of σ). A user YAML file in the same format adds to or
replaces entries (give its path among the names). ``resolve("isr,fsr")`` → :class:`VariationSet`.

How the variations enter the results (``docs/results.md``, the analyses' READMEs):

* every member gives its own yield per SR (with its MC error): a weight member the nominal events
  reweighted (:meth:`recast_ml.analysis.AnalysisResult.reweighted`, normalised to its own sum of
  weights; the same events, so its difference to the nominal is correlated), a sample member its
  own sample (generated with the same seed, but Pythia's random sequence differs from the
  nominal's: statistically independent, its difference carries both samples' MC errors), a
  cross-section member s (1 ± δσ);
* the **envelope** of the generator members per SR, Δ↑ = max(0, max_v s_v − s) and
  Δ↓ = max(0, max_v s − s_v), added in quadrature to the cross-section uncertainty (an
  independent source), is the ±1σ of one signal nuisance parameter per SR: CLs and ln L profile it
  (pyhf's ``normsys`` modifier on the signal, hi = 1 + Δ↑/s, lo = 1 − Δ↓/s;
  :func:`recast_ml.statistics.cls_many`). A member with fewer than ``MIN_MC_EVENTS`` effective MC
  events ((Σw)²/Σw²) in the SR is left out of that SR's envelope (it would measure its MC noise —
  a member with no event would remove the signal) and listed. r = s/S95 stays (the published S95
  is model-independent), ``r_obs_syst_up/down`` are r at the edges of the total uncertainty, and
  ``r_cons_syst`` = (s − 1.96 √(σ_MC² + (s × total down)²)) / S95;
* the verdict says whether the exclusion holds under every member (the best SR chosen on the
  nominal sample, CLs_obs of each member's yields): EXCLUDED under all, some or none; when no
  member is usable (all left out for too few effective MC events) it says so (robust
  ``"no_usable"``): "all of 0" is no robustness.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._core import ConfigError

if TYPE_CHECKING:
    from .analysis import AnalysisResult

log = logging.getLogger(__name__)

KINDS = ("weight", "sample", "cross_section")
#: what ``--variations default`` / ``all`` select
DEFAULT = ("isr", "fsr", "xsec")
ALL = ("isr", "fsr", "isr_damped", "xsec")


@dataclass(frozen=True)
class Variation:
    """One named variation: ``members`` maps a member name to its UncertaintyBands entry
    (``weight``), its extra Pythia lines (``sample``) or its side, +1/-1 (``cross_section``)."""

    name: str
    kind: str
    description: str
    source: str
    members: Mapping[str, Any]
    file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "source": self.source,
            "members": dict(self.members),
            "file": self.file,
        }


def catalogue_file() -> Path:
    return Path(__file__).with_name("variations.yaml")


def _read(path: Path) -> dict[str, Variation]:
    from .analysis import load_yaml

    try:
        doc = load_yaml(path)
    except OSError as e:
        raise ConfigError(f"variations file {path}: {e.strerror or e}") from None
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"variations file {path}: expected a mapping NAME: {{kind, members, ...}}")
    out: dict[str, Variation] = {}
    for name, v in doc.items():
        where = f"variations file {path}, entry {name!r}"
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: expected a mapping with kind, description and members")
        kind = str(v.get("kind", ""))
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        members = v.get("members")
        if not isinstance(members, dict) or not members:
            raise ConfigError(f"{where}: members must map member names to their settings")
        clean: dict[str, Any] = {}
        for m, val in members.items():
            m = str(m)
            if not m.replace("_", "").isalnum() or not m[0].isalpha():
                raise ConfigError(f"{where}: member name {m!r} must be letters, digits and '_'")
            if kind == "weight":
                if not isinstance(val, str) or ":" not in val:
                    raise ConfigError(
                        f"{where}: member {m}: expected one UncertaintyBands entry such as 'isr:muRfac=0.5', "
                        f"got {val!r}"
                    )
                clean[m] = _uncertainty_bands_entry(val, f"{where}: member {m}")
            elif kind == "sample":
                lines = [val] if isinstance(val, str) else val
                if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
                    raise ConfigError(f"{where}: member {m}: expected a list of Pythia setting lines")
                clean[m] = [str(x) for x in lines]
            else:
                try:
                    side = float(val)
                except (TypeError, ValueError):
                    side = 0.0
                if side not in (1.0, -1.0):
                    raise ConfigError(f"{where}: member {m}: expected +1 or -1 (the side of the cross section)")
                clean[m] = int(side)
        out[str(name)] = Variation(
            str(name),
            kind,
            " ".join(str(v.get("description", "")).split()),
            str(v.get("source", "")),
            clean,
            str(path),
        )
    return out


#: The keywords of an UncertaintyBands:List entry that Pythia 8.3 documents ("Automated Variations of
#: Shower Parameters", xmldoc/Variations.xml of the pythia8mc package): the global ones, the
#: per-branching forms (g->gg, q->qg, g->qqbar, gluon emission off other coloured particles) and the
#: PDF variations of ISR. Pythia silently ignores any other keyword (the member's weight then equals
#: the nominal one). isr:Q2GQ is not on the manual page but is recognised by Pythia's ISR (its
#: keyword list in the library).
_BRANCHINGS = ("G2GG", "Q2QG", "G2QQ", "X2XG")
UNCERTAINTY_BANDS_KEYWORDS = (
    *(f"{shower}:{p}" for shower in ("fsr", "isr") for p in ("muRfac", "cNS")),
    *(f"{shower}:{b}:{p}" for shower in ("fsr", "isr") for b in _BRANCHINGS for p in ("muRfac", "cNS")),
    *(f"isr:Q2GQ:{p}" for p in ("muRfac", "cNS")),
    *(f"isr:PDF:{p}" for p in ("plus", "minus", "member", "family")),
)


def _uncertainty_bands_entry(text: str, where: str) -> str:
    """An UncertaintyBands:List entry ``key=value key=value ...`` (Pythia also takes a blank for
    the equal sign) as ``key=value ...``, each key one of :data:`UNCERTAINTY_BANDS_KEYWORDS`
    (compared without case, as Pythia does) and each value a number; ConfigError naming ``where``,
    the keyword and the accepted forms otherwise."""
    import re

    words = re.sub(r"\s*=\s*", " ", text).split()
    known = {k.lower() for k in UNCERTAINTY_BANDS_KEYWORDS}
    forms = (
        "fsr:/isr:muRfac, fsr:/isr:cNS, the per-branching fsr:/isr:{G2GG,Q2QG,G2QQ,X2XG}:muRfac or :cNS "
        "(and isr:Q2GQ:...), isr:PDF:plus, isr:PDF:minus, isr:PDF:member, isr:PDF:family, each =NUMBER; "
        "e.g. 'isr:muRfac=0.5' or 'fsr:muRfac=2.0 isr:muRfac=2.0'"
    )
    out = []
    for key, value in zip(words[::2], [*words[1::2], None], strict=False):
        if key.lower() not in known:
            raise ConfigError(
                f"{where}: unknown UncertaintyBands keyword {key!r} in {text!r} (Pythia would ignore it and "
                f"the member's weight would equal the nominal); Pythia 8.3's keywords: {forms}"
            )
        try:
            float(value or "")
        except ValueError:
            raise ConfigError(f"{where}: {key} in {text!r} needs a number (keyword=NUMBER), got {value!r}") from None
        out.append(f"{key}={value}")
    if not out:
        raise ConfigError(f"{where}: empty UncertaintyBands entry; Pythia 8.3's keywords: {forms}")
    return " ".join(out)


def catalogue(extra: Sequence[str | os.PathLike[str]] = ()) -> dict[str, Variation]:
    """The named variations: the package's set, then each user file's entries (same names
    replace)."""
    found = _read(catalogue_file())
    for f in extra:
        found.update(_read(Path(f)))
    return found


@dataclass
class VariationSet:
    """The variations of one run."""

    variations: list[Variation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.variations)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variations]

    def members(self, kind: str | None = None) -> dict[str, Any]:
        return {m: val for v in self.variations if kind in (None, v.kind) for m, val in v.members.items()}

    @property
    def weight_members(self) -> dict[str, str]:
        return self.members("weight")

    @property
    def sample_members(self) -> dict[str, list[str]]:
        return self.members("sample")

    @property
    def generator_members(self) -> list[str]:
        """Members whose yields come from events (weights and samples): the envelope's."""
        return [*self.weight_members, *self.sample_members]

    @property
    def cross_section(self) -> bool:
        return any(v.kind == "cross_section" for v in self.variations)

    def pythia_settings(self) -> list[str]:
        """The Pythia lines that make the nominal sample carry the weight members' weights."""
        before, after = uncertainty_bands_settings(self.weight_members)
        return [*before, *after]

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "variations": [v.to_dict() for v in self.variations]}


def add_sample_members(
    results: Sequence[AnalysisResult],
    vset: VariationSet,
    sample: Callable[[str, list[str]], Sequence[AnalysisResult]],
) -> None:
    """The ``sample`` members of ``vset`` for the nominal ``results`` (one per analysis): one more
    sample each, ``sample(member, lines)`` (the nominal's generator and seed with the member's
    Pythia lines added, run through the same analyses, one result per analysis in the same
    order), attached as ``variations[member]`` of the nominal results (``recast-ml run`` and each
    point of ``recast-ml scan``)."""
    for member, lines in vset.sample_members.items():
        varied = sample(member, lines)
        for res, vres in zip(results, varied, strict=True):
            res.variations[member] = vres


#: Set whenever shower-variation weights are on, before the caller's Pythia lines (which may
#: override them). Measured on gluino pairs (1400/1000 GeV, 500-600 events; effective sample
#: (Σw)²/Σw² per event, generation time against no variations, same seed, one run each):
#:
#: * FSRpTmin2Fac = 100: FSR branchings varied only above pT = 10 x TimeShower:pTmin = 5 GeV
#:   (Pythia's default: 2 x). Below, alpha_S at mu_R/2 near Lambda_QCD makes the weights explode:
#:   fsr_up (muRfac = 0.5) had weights up to 40 and an effective sample of 15 % with the default,
#:   92 % with this — and emissions that soft do not move jets of tens of GeV.
#: * overSampleFSR = overSampleISR = 1 (Pythia's defaults 3 and 2): the trial emissions are not
#:   oversampled. Generation 1.2x instead of 1.7x the time without variations, for effective
#:   samples of 83-93 % instead of 92-96 % (benchmarks/results/variations.md).
WEIGHT_DEFAULTS = (
    "UncertaintyBands:FSRpTmin2Fac = 100.0",
    "UncertaintyBands:overSampleFSR = 1.0",
    "UncertaintyBands:overSampleISR = 1.0",
)


def uncertainty_bands_settings(members: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Pythia lines for in-run shower-variation weights of ``members`` (name -> UncertaintyBands
    entry): (defaults to put before the caller's settings, the switch and the list after them)."""
    if not members:
        return [], []
    entries = ", ".join(f"{m} {val}" for m, val in members.items())
    return list(WEIGHT_DEFAULTS), ["UncertaintyBands:doVariations = on", f"UncertaintyBands:List = {{{entries}}}"]


def resolve(spec: str | Sequence[str] | None) -> VariationSet:
    """``"isr,fsr"``, ``["isr", "my_variations.yaml"]``, ``"default"`` (isr, fsr, xsec), ``"all"``
    → the variations (a ``.yaml``/``.yml`` path adds its entries to the set and selects all of
    them). None or "" → an empty set. Unknown names: ConfigError listing the known ones."""
    if spec is None:
        return VariationSet()
    items = [spec] if isinstance(spec, str) else list(spec)
    words = [w.strip() for item in items for w in str(item).split(",") if w.strip()]
    files = [w for w in words if w.endswith((".yaml", ".yml"))]
    for f in files:
        if not Path(f).is_file():
            raise ConfigError(f"--variations {f}: no such file")
    known = catalogue(files)
    chosen: list[str] = []
    for w in words:
        if w in files:
            names = list(_read(Path(w)))
        elif w == "default":
            names = list(DEFAULT)
        elif w == "all":
            names = list(ALL)
        elif w in known:
            names = [w]
        else:
            raise ConfigError(f"--variations: unknown variation {w!r}; known: {', '.join(known)}, default, all")
        chosen += [n for n in names if n not in chosen]
    vset = VariationSet([known[n] for n in chosen])
    dup = duplicate_member(vset.variations)
    if dup is not None:
        raise ConfigError(f"--variations: member {dup[0]!r} of {dup[1]} has the name of one of {dup[2]}")
    return vset


def duplicate_member(variations: Sequence[Variation]) -> tuple[str, str, str] | None:
    """The first member whose name another member of ``variations`` already has, compared without
    case (Pythia lower-cases the weight names): (member, its variation, the earlier one's
    variation); None where every member name is unique."""
    seen: dict[str, str] = {}
    for v in variations:
        for m in v.members:
            if m.lower() in seen:
                return m, v.name, seen[m.lower()]
            seen[m.lower()] = v.name
    return None


# ---- the weights of a generated sample -------------------------------------------------------------
def weight_columns(names: Sequence[str], members: Sequence[str]) -> dict[str, int]:
    """Column of each weight member in Pythia's weight vector (Pythia lower-cases the names)."""
    lower = [n.lower() for n in names]
    out = {}
    for m in members:
        if m.lower() not in lower:
            raise ConfigError(f"Pythia did not produce the variation weight {m!r} (weights: {', '.join(names)})")
        out[m] = lower.index(m.lower())
    return out


# ---- statistics ----------------------------------------------------------------------------------------
def envelope(nominal: float, varied: Sequence[float]) -> tuple[float, float]:
    """(Δ↑, Δ↓) ≥ 0 of the varied yields around the nominal one."""
    up = max([0.0, *(v - nominal for v in varied)])
    down = max([0.0, *(nominal - v for v in varied)])
    return up, down


def relative_uncertainty(
    s: float, varied: Sequence[float], xsec_rel: float | None
) -> tuple[float, float, float, float]:
    """(total up, total down, envelope up, envelope down), relative to s: the generator envelope
    ⊕ the cross-section uncertainty; the total down side is capped below 1 (a yield cannot go
    below zero: at most 0.999)."""
    if s <= 0:
        return 0.0, 0.0, 0.0, 0.0
    du, dd = envelope(s, varied)
    eu, ed = du / s, dd / s
    x = xsec_rel or 0.0
    return math.hypot(eu, x), min(math.hypot(ed, x), 0.999), eu, min(ed, 0.999)


def apply(
    st: dict[str, Any],
    result: AnalysisResult,
    vset: VariationSet,
    xsec_rel: float | None,
) -> None:
    """Adds the variations to one analysis' ``statistics`` block (regions, best, verdict) of the
    results document, from the nominal ``result`` and its ``result.variations``."""
    from .statistics import MIN_MC_EVENTS, cls_many, conservative_signal, profile_log_likelihoods

    regions: list[dict[str, Any]] = st.get("regions", [])
    gen = [m for m in vset.generator_members if m in result.variations]
    missing = [m for m in vset.generator_members if m not in result.variations]
    if missing:
        raise ConfigError(f"{result.analysis}: no results for the variation(s) {', '.join(missing)}")
    x_members = vset.members("cross_section") if vset.cross_section else {}
    if x_members and xsec_rel is None:
        raise ConfigError(
            "--variations xsec: the cross section has no theory uncertainty (give --cross-section-error, "
            "or use a table or an SLHA file with XSECTION blocks)"
        )
    xrel = xsec_rel if x_members else None
    if not regions:
        st["variations"] = {"names": vset.names, "note": "no signal regions with published numbers"}
        return
    n = np.array([r["n_obs"] for r in regions], dtype=float)
    b = np.array([r["b"] for r in regions], dtype=float)
    e = np.array([r["b_err"] for r in regions], dtype=float)
    s = np.array([r["signal"] for r in regions], dtype=float)
    varied: dict[str, np.ndarray] = {}
    effective: dict[str, np.ndarray] = {}  # each member's effective MC events per SR
    for m in gen:
        ys = [result.variations[m].yield_(r["region"]) for r in regions]
        varied[m] = np.array([y for y, _ in ys])
        effective[m] = np.array([effective_events(result.variations[m], r["region"]) for r in regions])
        for r, (y, ye), n_eff in zip(regions, ys, effective[m], strict=True):
            r.setdefault("signal_variations", {})[m] = {
                "signal": y,
                "signal_error": ye,
                "mc_events": int(result.variations[m].cutflow(r["region"]).n[-1]),
                "mc_events_effective": float(n_eff),
            }
    for m, side in x_members.items():
        assert xrel is not None
        varied_x = s * max(1.0 + side * xrel, 0.0)
        for r, y in zip(regions, varied_x, strict=True):
            r.setdefault("signal_variations", {})[m] = {"signal": float(y), "signal_error": None, "mc_events": None}
        varied[m] = varied_x
    up = np.zeros(len(regions))
    down = np.zeros(len(regions))
    for k, r in enumerate(regions):
        # a member resting on fewer than MIN_MC_EVENTS effective MC events in the SR measures its
        # MC noise, not the modelling (a member with no event would remove the signal): left out
        used = [m for m in gen if effective[m][k] >= MIN_MC_EVENTS]
        r["envelope_members_left_out"] = [m for m in gen if m not in used]
        tu, td, eu, ed = relative_uncertainty(float(s[k]), [float(varied[m][k]) for m in used], xrel)
        up[k], down[k] = tu, td
        r["signal_envelope_rel_up"], r["signal_envelope_rel_down"] = eu, ed
        r["signal_rel_up"], r["signal_rel_down"] = tu, td
    obs, exp = cls_many(n, b, e, s, signal_up=up, signal_down=down)
    # ln L(0) of the same model (with up/down > 0 it includes the signal constraint's Gaussian constant)
    ll0 = profile_log_likelihoods(n, b, e, np.zeros_like(s), signal_up=up, signal_down=down)
    ll = profile_log_likelihoods(n, b, e, s, signal_up=up, signal_down=down)
    by_member = {m: cls_many(n, b, e, v) for m, v in varied.items()}
    for k, r in enumerate(regions):
        no_signal = s[k] <= 0
        r["cls_obs_syst"] = 1.0 if no_signal else float(obs[k])
        r["cls_exp_syst"] = 1.0 if no_signal else float(exp[k])
        r["delta_log_likelihood_syst"] = 0.0 if no_signal else float(ll[k] - ll0[k])
        s_err = r.get("signal_error") or 0.0
        s_cons = conservative_signal(float(s[k]), math.hypot(s_err, float(s[k]) * down[k]))
        r_obs = r.get("r_obs")  # s / S95_obs
        r["r_cons_syst_obs"] = None if r_obs is None else (0.0 if no_signal else s_cons * r_obs / float(s[k]))
        # r stays s / S95 (the published limit is model-independent); at the edges of the envelope:
        r["r_obs_syst_up"] = None if r_obs is None else r_obs * (1.0 + up[k])
        r["r_obs_syst_down"] = None if r_obs is None else r_obs * (1.0 - down[k])
        r["cls_obs_by_variation"] = {m: (1.0 if varied[m][k] <= 0 else float(by_member[m][0][k])) for m in varied}
    best = st.get("best")
    if best is not None:
        row = next(r for r in regions if r["region"] == best["region"])
        for key in (
            "signal_variations",
            "signal_envelope_rel_up",
            "signal_envelope_rel_down",
            "signal_rel_up",
            "signal_rel_down",
            "cls_obs_syst",
            "cls_exp_syst",
            "delta_log_likelihood_syst",
            "r_cons_syst_obs",
            "r_obs_syst_up",
            "r_obs_syst_down",
            "cls_obs_by_variation",
            "envelope_members_left_out",
        ):
            best[key] = row[key]
        low = list(row["envelope_members_left_out"])
        excluded_under, not_under, robust = robustness(row)
        st["variations"] = {
            "names": vset.names,
            "members": list(varied),
            "definitions": vset.to_dict()["variations"],
            "method": (
                "per SR: envelope of the generator members (weights: the nominal events reweighted, each "
                "normalised to its own sum of weights; samples: their own sample) around the nominal yield, "
                f"members with fewer than {MIN_MC_EVENTS} effective MC events in the SR left out, added in "
                "quadrature to the cross section's theory uncertainty, as the +-1 sigma of one signal "
                "nuisance (pyhf normsys on the signal, profiled) in CLs_syst and ln L_syst; r = s/S95 "
                "unchanged, r_obs_syst_up/down at the edges, r_cons_syst = (s - 1.96 sqrt(MC err^2 + "
                "(s x total down)^2))/S95_obs; robustness: CLs_obs of each member's yields in the best "
                "expected SR of the nominal sample"
            ),
            "excluded_under": excluded_under,
            "not_excluded_under": not_under,
            "robust": robust,
            "excluded_with_signal_uncertainty": bool(row["cls_obs_syst"] < 0.05),
            "low_mc_statistics_members": low,
        }
        st["verdict"] = f"{st['verdict']}; {robustness_text(st['variations'], row)}"
    else:
        st["variations"] = {"names": vset.names, "members": list(varied), "note": "no best SR"}


#: ``robust`` when no member is counted (every member left out for too few MC events, or none at
#: all): the exclusion was not tested under any variation
NO_USABLE = "no_usable"


def robustness(row: Mapping[str, Any]) -> tuple[list[str], list[str], str]:
    """(members under which the SR excludes, members under which it does not,
    "all"/"some"/"none"/:data:`NO_USABLE`) from an SR's ``cls_obs_by_variation`` (CLs_obs < 0.05:
    excluded); the members left out of its envelope (``envelope_members_left_out``: too few MC
    events) are not counted, and with none counted the answer is :data:`NO_USABLE`."""
    low = set(row.get("envelope_members_left_out") or ())
    counted = [m for m in row["cls_obs_by_variation"] if m not in low]
    if not counted:
        return [], [], NO_USABLE
    under = [m for m in counted if row["cls_obs_by_variation"][m] < 0.05]
    not_under = [m for m in counted if m not in under]
    return under, not_under, "all" if not not_under else "none" if not under else "some"


def effective_events(result: AnalysisResult, region: str) -> float:
    """(Σw)² / Σw² of the events passing a region: the unweighted MC events a weighted sample is
    worth (for unit weights, the count)."""
    cf = result.cutflow(region)
    w, w2 = float(cf.sumw[-1]), float(cf.sumw2[-1])
    return w * w / w2 if w2 > 0 else 0.0


def no_usable_reason(left_out: Sequence[str]) -> str:
    """Why no member of a variation set is counted (:data:`NO_USABLE`): the members left out for
    too few effective MC events in the SR, or none with yields at all (text and report)."""
    from .statistics import MIN_MC_EVENTS

    if left_out:
        return f"all members left out, fewer than {MIN_MC_EVENTS} effective MC events in the SR: {', '.join(left_out)}"
    return "the set has no member with yields"


def robustness_text(v: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """One clause of the verdict: CLs with the signal uncertainty and under which members the
    best SR excludes."""
    from .statistics import MIN_MC_EVENTS

    members = [m for m in row["cls_obs_by_variation"] if m not in v.get("low_mc_statistics_members", [])]
    n_ex = len(v["excluded_under"])
    if v["robust"] == NO_USABLE:
        why = no_usable_reason(v.get("low_mc_statistics_members") or [])
        return (
            f"no usable variation ({why}): the exclusion is not tested under any variation and the signal "
            f"uncertainty is not measured (CLs_obs = {row['cls_obs_syst']:.4g} without it); generate more events"
        )
    how = {"all": "EXCLUDED under all", "none": "excluded under none", "some": "EXCLUDED under some"}[v["robust"]]
    text = (
        f"signal uncertainty +{100 * row['signal_rel_up']:.3g}%/-{100 * row['signal_rel_down']:.3g}% profiled: "
        f"CLs_obs = {row['cls_obs_syst']:.4g} ({'excluded' if row['cls_obs_syst'] < 0.05 else 'not excluded'}); "
        f"{how} ({n_ex} of {len(members)}) variations"
    )
    if v["robust"] == "some":
        text += f" (not under {', '.join(v['not_excluded_under'])})"
    if v.get("low_mc_statistics_members"):
        left_out = ", ".join(v["low_mc_statistics_members"])
        text += f"; left out of the envelope, fewer than {MIN_MC_EVENTS} effective MC events: {left_out}"
    return text
