"""Physics validation of an analysis against the experiment's published numbers.

``validate("ATLAS-SUSY-2018-22", events=5000)`` reads ``analyses/<ID>/validation.yaml``, generates
every benchmark with Pythia 8 (simplified models, :mod:`recast_ml.slha`), normalises it to the
NNLO+NNLL cross section (:mod:`recast_ml.xsec`), runs the analysis, and compares:

* published cutflows step by step: efficiency relative to the normalisation row (the experiment's
  preselection row), ratio ours/published with the binomial MC error, within a tolerance;
  ``compare_with: {column, label}`` puts another recast tool's numbers from the same CSV beside
  ours (its efficiency relative to its own normalisation row, and its ratio to the published one),
  ``first_step_of: {region: step}`` says after which step a region's published rows start where
  it is not ``first_step``; the summary counts the steps within 10/15/25 % (ours and the other tool's);
* published final yields at sigma x L;
* where nothing is published (``no_published_numbers:`` in ``validation.yaml``, with the reason),
  the report says so in its first lines; ``technical:`` checks run model cards on feature vectors
  against an independent reference (:func:`recast_ml.models.check_model`) and tabulate them;
  ``notes:`` (free text) and ``cutflow_tables:`` (regions whose cutflow at sigma x L is tabulated
  per benchmark) complete such a report;

generator variations (``variations:`` in ``validation.yaml``: names of :mod:`recast_ml.variations`,
e.g. ``[isr, fsr, isr_damped]``, or local ``{NAME: {description, pythia}}`` samples; weight members
ride on the nominal sample) are compared beside the nominal sample, and each published number is
*covered* when it lies within nominal ± envelope of the members combined with the nominal MC
error (:attr:`Comparison.covered`; counted per benchmark and kind in the summary, tabulated in the
report, quoted by the catalogue status);

and writes ``report.html`` (tables and PNG plots), ``summary.json`` and the per-benchmark
``results_<benchmark>.json`` to the output folder (default ``validation/<ID>/``).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._core import ConfigError
from .analysis import Analysis, AnalysisResult, load_yaml, run_batches, run_files
from .errors import check_count
from .io import as_paths

if TYPE_CHECKING:
    from .pythia import PythiaGenerator
    from .variations import Variation

log = logging.getLogger(__name__)

#: Gehrels (1986) 1σ Poisson upper error for n = 0 observed events (the 84.13 % one-sided upper
#: limit): the upper MC error of a step or yield at which the sample has no raw MC event, where the
#: symmetric MC error is 0 although the sample cannot resolve the step (see :func:`zero_mc_upper_error`)
GEHRELS_UPPER_N0 = 1.841


def zero_mc_upper_error(n: int, one_event: float) -> float | None:
    """The one-sided upper MC error of a step or yield with ``n`` raw MC events: for ``n == 0``,
    :data:`GEHRELS_UPPER_N0` times ``one_event`` (what one MC event weighs in the compared unit, the
    scale the symmetric MC error has for a single event: ``1 / N_norm`` for an efficiency, whose
    binomial error treats the ``N_norm`` events of the normalisation step alike; ``σ·L / N`` for a
    yield, the sample's mean per-event weight at σ × L); None for ``n ≥ 1`` (the symmetric MC error
    stands) or where one event's weight is not defined (no events at all)."""
    if n != 0 or not math.isfinite(one_event) or one_event <= 0:
        return None
    return GEHRELS_UPPER_N0 * one_event


@dataclass
class Comparison:
    kind: str  # "cutflow" or "yield"
    benchmark: str
    region: str
    step: str
    published: float
    ours: float
    ours_error: float
    tolerance: float
    #: the same comparison on each generator variation of validation.yaml
    variations: dict[str, Comparison] = field(default_factory=dict)
    #: another recast tool's value for this step (cutflows ``compare_with:``; NaN where it has none)
    other: float = math.nan
    other_label: str = ""
    #: the one-sided upper MC error where the sample has no raw MC event at this step or yield
    #: (:func:`zero_mc_upper_error`; ``ours_error`` is 0 there); None where it has some: the MC
    #: error is ``ours_error`` both ways
    ours_error_up: float | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.benchmark, self.region, self.step)

    @property
    def ratio(self) -> float:
        return self.ours / self.published if self.published else math.nan

    @property
    def ratio_error(self) -> float:
        return self.ours_error / self.published if self.published else math.nan

    @property
    def error_up(self) -> float:
        """The MC error upwards: :attr:`ours_error_up` where the sample has no MC event here, else
        :attr:`ours_error`."""
        return self.ours_error if self.ours_error_up is None else self.ours_error_up

    @property
    def ratio_error_up(self) -> float:
        return self.error_up / self.published if self.published else math.nan

    @property
    def other_ratio(self) -> float:
        """The other recast tool's value / published (NaN without one)."""
        return self.other / self.published if self.published else math.nan

    @property
    def passed(self) -> bool:
        return bool(abs(self.ratio - 1.0) <= self.tolerance)

    @property
    def members(self) -> list[str]:
        """The generator variations compared for this step (those with a finite value)."""
        return [m for m, v in self.variations.items() if math.isfinite(v.ours)]

    @property
    def envelope_up(self) -> float:
        """Δ↑ = max(0, max over the members of (member − nominal)); 0 without members."""
        from .variations import envelope

        return envelope(self.ours, [self.variations[m].ours for m in self.members])[0]

    @property
    def envelope_down(self) -> float:
        """Δ↓ = max(0, max over the members of (nominal − member)); 0 without members."""
        from .variations import envelope

        return envelope(self.ours, [self.variations[m].ours for m in self.members])[1]

    @property
    def interval(self) -> tuple[float, float]:
        """[nominal − √(Δ↓² + σ_MC²), nominal + √(Δ↑² + σ_MC²)]: the nominal value ± the envelope
        of the generator variations combined with the nominal sample's MC error (upwards
        :attr:`error_up`: the Gehrels upper error where the sample has no MC event here)."""
        err = self.ours_error if math.isfinite(self.ours_error) else 0.0
        up = self.error_up if math.isfinite(self.error_up) else 0.0
        return self.ours - math.hypot(self.envelope_down, err), self.ours + math.hypot(self.envelope_up, up)

    @property
    def covered(self) -> bool | None:
        """Whether the published value lies within :attr:`interval`; None without generator
        variations (nothing to measure the coverage with)."""
        if not self.members:
            return None
        lo, hi = self.interval
        return bool(lo <= self.published <= hi)

    @property
    def status(self) -> str:
        """``passed``; ``mc-limited`` when outside the tolerance but this sample cannot decide: the
        MC error of the ratio exceeds the tolerance and the deviation is within twice that error
        (not counted as passed); else ``failed``. The error is the one towards the published value:
        where the sample has no MC event at the step, the upward one is the Gehrels upper error
        (:attr:`ours_error_up`), so a published value within twice that is ``mc-limited``."""
        if self.passed:
            return "passed"
        err = self.ratio_error_up if self.ours < self.published else self.ratio_error
        if math.isfinite(err) and err > self.tolerance and abs(self.ratio - 1.0) <= 2.0 * err:
            return "mc-limited"
        return "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "benchmark": self.benchmark,
            "region": self.region,
            "step": self.step,
            "published": self.published,
            **self._measured(),
            "tolerance": self.tolerance,
            "status": self.status,
            "variations": {k: v._measured() for k, v in self.variations.items()},
            "envelope_up": self.envelope_up if self.members else None,
            "envelope_down": self.envelope_down if self.members else None,
            "covered": self.covered,
            **({"other": {"tool": self.other_label, "value": _finite(self.other), "ratio": _finite(self.other_ratio)}}
               if self.other_label else {}),
        }  # fmt: skip

    def _measured(self) -> dict[str, Any]:
        """What this sample gave (also the record of each variation)."""
        return {
            "ours": self.ours,
            "ours_error": self.ours_error,
            "ratio": self.ratio,
            "ratio_error": self.ratio_error,
            **({"ours_error_up": self.ours_error_up, "ratio_error_up": self.ratio_error_up}
               if self.ours_error_up is not None else {}),
            "passed": self.passed,
        }  # fmt: skip


#: |ratio - 1| bands counted in the summary (ours and another tool's, where given)
WITHIN_BANDS = (0.10, 0.15, 0.25)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def json_safe(doc: Any) -> Any:
    """``doc`` with every non-finite float (NaN, ±inf) replaced by None: JSON has no NaN, and
    ``json.dumps`` would write the invalid token ``NaN`` (e.g. a benchmark read from a file has no
    Pythia LO cross section)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, Mapping):
        return {k: json_safe(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [json_safe(v) for v in doc]
    return doc


def within_counts(ratios: Sequence[float]) -> dict[str, int]:
    """How many of the finite ``ratios`` lie within each band of :data:`WITHIN_BANDS` of 1
    (keys "10%", "15%", "25%"; "compared": the finite ones)."""
    finite = [r for r in ratios if math.isfinite(r)]
    out = {"compared": len(finite)}
    for band in WITHIN_BANDS:
        out[f"{round(band * 100)}%"] = sum(abs(r - 1.0) <= band + 1e-12 for r in finite)
    return out


def coverage_counts(cs: Sequence[Comparison], groups: Mapping[str, str] | None = None) -> dict[str, Any]:
    """How many of ``cs`` with generator variations have the published value within nominal ±
    envelope (:attr:`Comparison.covered`): ``{compared, covered, members, variations}``
    (``compared``: the comparisons with members; ``variations``: the named variations of the
    members, through ``groups`` member -> variation)."""
    measured = [c for c in cs if c.covered is not None]
    members = list(dict.fromkeys(m for c in measured for m in c.members))
    names = list(dict.fromkeys((groups or {}).get(m, m) for m in members))
    return {
        "compared": len(measured),
        "covered": sum(bool(c.covered) for c in measured),
        "members": members,
        "variations": names,
    }


#: why the cross-section variation is not part of a validation (said in the report)
XSEC_NOT_USED = (
    "the cross-section variation (xsec) is not used: the comparison normalises both sides to the same "
    "sigma (or compares efficiencies), so it says nothing about how the sample models the selection"
)
#: what the report says of benchmarks read from event files (--events B=FILE)
GIVEN_FILE_NO_VARIATIONS = "events given as a file: no generator variations (nominal only, no coverage)"


@dataclass(frozen=True)
class ValidationVariation:
    """One generator-variation member as validate runs it: member ``member`` of the variation
    ``definition`` (:class:`recast_ml.variations.Variation`; a local ``validation.yaml`` sample is
    one of one member), either ``weight`` (Pythia's in-run weight ``entry`` on the nominal sample,
    no extra events) or ``sample`` (a separate sample with the extra ``pythia`` lines, same seeds)."""

    member: str
    definition: Variation

    def __hash__(self) -> int:  # the definition's members are a mapping: hash what this member runs
        return hash((self.member, self.variation, self.kind, self.entry, self.pythia, self.source))

    @property
    def variation(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> str:
        return self.definition.kind

    @property
    def description(self) -> str:
        return self.definition.description

    @property
    def source(self) -> str:
        return self.definition.source

    @property
    def entry(self) -> str:
        """The UncertaintyBands entry of a weight member ("" for a sample)."""
        return str(self.definition.members[self.member]) if self.kind == "weight" else ""

    @property
    def pythia(self) -> tuple[str, ...]:
        """The extra Pythia lines of a sample member (() for a weight)."""
        return tuple(map(str, self.definition.members[self.member])) if self.kind == "sample" else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "variation": self.variation,
            "kind": self.kind,
            "description": self.description,
            "pythia": list(self.pythia),
            "weight": self.entry or None,
            "source": self.source,
        }


def validation_variations(spec: Any, where: str = "validation.yaml") -> tuple[list[ValidationVariation], list[str]]:
    """The generator variations of a validation: ``spec`` is ``validation.yaml``'s ``variations:``
    or ``--variations``: names of :mod:`recast_ml.variations` (a list or a comma string, e.g.
    ``[isr, fsr, isr_damped]``), local definitions ``{NAME: {description, pythia: [...]}}`` (run as
    separate samples: a ``sample`` :class:`~recast_ml.variations.Variation` with one member NAME),
    or a list mixing both. Returns the members and notes on what is left out (the cross-section
    variation: see :data:`XSEC_NOT_USED`); a member name given twice (without case, as
    :func:`recast_ml.variations.duplicate_member` compares them) is a ConfigError."""
    from . import variations as named

    if spec is None or spec is False or spec == "" or spec == []:
        return [], []
    items: list[Any] = spec.split(",") if isinstance(spec, str) else [spec] if isinstance(spec, dict) else list(spec)
    used: list[Variation] = []
    notes: list[str] = []
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            try:
                vset = named.resolve(item.strip())
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            for v in vset.variations:
                if v.kind == "cross_section":
                    notes.append(f"{v.name}: {XSEC_NOT_USED}")
                else:
                    used.append(v)
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: variations: expected names or NAME: {{description, pythia}}, got {item!r}")
        for vname, v in item.items():
            if not isinstance(v, dict) or not isinstance(v.get("pythia", []), list):
                raise ConfigError(f"{where}: variation {vname!r}: expected {{description, pythia: [lines]}}")
            description = " ".join(str(v.get("description", "")).split())
            lines = [str(x) for x in v.get("pythia", [])]
            used.append(named.Variation(str(vname), "sample", description, where, {str(vname): lines}, where))
    dup = named.duplicate_member(used)
    if dup is not None:
        raise ConfigError(f"{where}: variation member {dup[0]!r} given twice")
    return [ValidationVariation(m, v) for v in used for m in v.members], notes


@dataclass
class TechnicalCheck:
    """One model card run on feature vectors (the event loop's path: the C++ core with ONNX
    Runtime) and compared with reference outputs computed independently (``technical:``)."""

    model: str
    description: str
    features: str
    tolerance: float
    n_rows: int
    max_deviation: dict[str, float]
    #: per output: (reference, ours) for every row
    rows: dict[str, list[tuple[float, float]]]
    labels: list[str]

    @property
    def passed(self) -> bool:
        return all(d <= self.tolerance for d in self.max_deviation.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "description": self.description,
            "features": self.features,
            "rows": self.n_rows,
            "tolerance": self.tolerance,
            "max_deviation": self.max_deviation,
            "passed": self.passed,
        }


def technical_checks(analysis_id: str, directory: Path, checks: Sequence[Mapping[str, Any]]) -> list[TechnicalCheck]:
    """The ``technical:`` entries of ``validation.yaml``: ``{model, features, expected (default:
    the features file), tolerance, description, label (a text column naming the rows)}``; the
    files are CSVs in the analysis folder (see :func:`recast_ml.models.check_model`)."""
    from .models import check_model, read_csv_columns

    out = []
    for c in checks:
        features = directory / str(c["features"])
        expected = directory / str(c.get("expected", c["features"]))
        label_col = c.get("label")
        labels = [r[str(label_col)] for r in _read_csv(features)] if label_col is not None else []
        feat = _numeric_copy(features, label_col)  # check_model reads numbers only
        exp = feat if expected == features else _numeric_copy(expected, label_col)
        res = check_model(f"{analysis_id}:{c['model']}", feat, exp)
        ref = read_csv_columns(exp)
        out.append(
            TechnicalCheck(
                model=str(c["model"]),
                description=str(c.get("description", "")),
                features=str(c["features"]),
                tolerance=float(c["tolerance"]),
                n_rows=res.n_rows,
                max_deviation=res.max_deviation,
                rows={o: list(zip(ref[o].tolist(), v.tolist(), strict=True)) for o, v in res.values.items()},
                labels=labels or [str(k + 1) for k in range(res.n_rows)],
            )
        )
    return out


def _numeric_copy(path: Path, drop: Any) -> Path:
    """``path`` without the text column ``drop`` (a temporary copy), or ``path`` itself."""
    if drop is None:
        return path
    import tempfile

    rows = _read_csv(path)
    tmp = Path(tempfile.mkdtemp(prefix="recast_ml_technical_")) / path.name
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, [k for k in rows[0] if k != drop])
        w.writeheader()
        for r in rows:
            w.writerow({k: v for k, v in r.items() if k != drop})
    return tmp


@dataclass
class ValidationReport:
    analysis: str
    events_per_benchmark: int
    comparisons: list[Comparison] = field(default_factory=list)
    results: dict[str, AnalysisResult] = field(default_factory=dict)
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    variations: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    #: published numbers not compared because their region did not run (its model file is absent)
    unavailable: list[dict[str, Any]] = field(default_factory=list)
    #: why no published numbers are compared (``no_published_numbers:``), else None
    no_published_numbers: str | None = None
    #: the ``technical:`` model checks (see :func:`technical_checks`)
    technical: list[TechnicalCheck] = field(default_factory=list)
    #: free-text notes of ``validation.yaml`` (``notes:``), shown in the report
    notes: list[str] = field(default_factory=list)
    #: regions whose full cutflow (events at sigma x L, efficiency) is tabulated per benchmark
    #: (``cutflow_tables:``; e.g. where nothing published is compared)
    cutflow_tables: list[str] = field(default_factory=list)
    #: what the generator variations leave out and why (the cross-section variation; benchmarks
    #: read from files)
    variation_notes: list[str] = field(default_factory=list)

    @property
    def events_used(self) -> dict[str, int]:
        """benchmark -> the events its nominal sample had (generated, or read from its files)."""
        return {b: int(v["events"]) for b, v in self.benchmarks.items() if "events" in v}

    @property
    def events_summary(self) -> int | dict[str, int]:
        """The events per benchmark actually used: one number where every benchmark had as many
        (``events_per_benchmark``, the number asked for, before any ran), else benchmark -> events."""
        used = self.events_used
        if not used:
            return self.events_per_benchmark
        counts = set(used.values())
        return counts.pop() if len(counts) == 1 else used

    def events_text(self) -> str:
        """'200 events per benchmark', or 'events per benchmark: a 200 (file), b 5000' where they differ."""
        n = self.events_summary
        if isinstance(n, int):
            return f"{n} events per benchmark"
        given = {b for b, v in self.benchmarks.items() if "sample" in v}
        return "events per benchmark: " + ", ".join(
            f"{b} {k}" + (" (file)" if b in given else "") for b, k in n.items()
        )

    @property
    def variation_groups(self) -> dict[str, str]:
        """member -> its named variation (e.g. isr_up -> isr)."""
        return {m: str(v.get("variation", m)) for m, v in self.variations.items()}

    def coverage(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per benchmark and kind: the tolerance counts and :func:`coverage_counts`."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for b in dict.fromkeys(c.benchmark for c in self.comparisons):
            for kind in ("cutflow", "yield"):
                cs = [c for c in self.comparisons if c.benchmark == b and c.kind == kind]
                if cs:
                    out.setdefault(b, {})[kind] = {
                        "compared": len(cs),
                        "passed": sum(c.passed for c in cs),
                        "mc_limited": sum(c.status == "mc-limited" for c in cs),
                        "failed": sum(c.status == "failed" for c in cs),
                        "coverage": coverage_counts(cs, self.variation_groups),
                    }
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "analysis": self.analysis,
            "events_per_benchmark": self.events_summary,
            "seconds": round(self.seconds, 1),
            "benchmarks": self.benchmarks,
            "variations": self.variations,
            "variation_notes": self.variation_notes,
            "notes": self.notes,
            "published_numbers": self.no_published_numbers is None,
        }
        if self.no_published_numbers is not None:
            out["no_published_numbers"] = self.no_published_numbers
        if self.technical:
            out["technical"] = {
                "checks": [t.to_dict() for t in self.technical],
                "rows": sum(t.n_rows for t in self.technical),
                "all_passed": all(t.passed for t in self.technical),
            }
        for kind in ("cutflow", "yield"):
            cs = [c for c in self.comparisons if c.kind == kind]
            out[kind] = {
                "compared": len(cs),
                "passed": sum(c.passed for c in cs),
                "mc_limited": sum(c.status == "mc-limited" for c in cs),
                "failed": sum(c.status == "failed" for c in cs),
                "all_passed": all(c.passed for c in cs),
                "max_abs_deviation": max((abs(c.ratio - 1) for c in cs), default=0.0),
                "passed_per_variation": {
                    v: sum(c.variations[v].passed for c in cs if v in c.variations) for v in self.variations
                },
                # the comparisons each member ran on (not those of benchmarks given as files)
                "compared_per_variation": {v: sum(v in c.variations for c in cs) for v in self.variations},
                "within": within_counts([c.ratio for c in cs]),
                "coverage": coverage_counts(cs, self.variation_groups),
            }
            others = sorted({c.other_label for c in cs if c.other_label})
            if others:
                out[kind]["other_within"] = {
                    t: within_counts([c.other_ratio for c in cs if c.other_label == t]) for t in others
                }
        out["by_benchmark"] = self.coverage()
        out["comparisons"] = [c.to_dict() for c in self.comparisons]
        out["unavailable"] = list(self.unavailable)
        return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _matches(row: dict[str, str], match: dict[str, Any]) -> bool:
    return all(row.get(k, "").strip() == str(v) for k, v in match.items())


def _number(x: str, file: str) -> float:
    try:
        return float(x)
    except ValueError:
        raise ConfigError(f"{x!r} is not a number", file=file) from None


def _sr_name(name: str) -> str:
    # the published tables write "SR-2j-1600", the definition "SR2j-1600"
    return name.replace("SR-", "SR", 1) if name.startswith("SR-") and name[3:4].isdigit() else name


def benchmark_settings(spec: dict[str, Any], settings: list[str] | None = None) -> list[str]:
    """Pythia lines added to the model's own for one benchmark of ``validation.yaml``: ``settings``,
    then the benchmark's ``pythia:`` lines."""
    return [*(settings or []), *(str(x) for x in spec.get("pythia", []))]


def benchmark_generator(
    spec: dict[str, Any],
    seed: int,
    settings: list[str] | None = None,
    weight_variations: Mapping[str, str] | None = None,
) -> PythiaGenerator:
    """The Pythia generator of one benchmark of ``validation.yaml`` (see :func:`benchmark_settings`);
    ``weight_variations`` (member -> UncertaintyBands entry) makes every event carry their weights."""
    from .pythia import simplified_model_generator

    masses = [float(m) for m in spec["masses"]]
    return simplified_model_generator(
        str(spec["model"]),
        *masses,
        seed=seed,
        settings=benchmark_settings(spec, settings),
        weight_variations=weight_variations,
    )


def cross_section(spec: dict[str, Any]) -> float:
    """The benchmark's cross section (pb): ``xsec: {process:, masses:}`` from the tables of
    :mod:`recast_ml.xsec`, or ``xsec: {value_pb:, source:}`` where no table exists."""
    from . import xsec

    x = spec["xsec"]
    if "value_pb" in x:
        return float(x["value_pb"])
    kwargs = {"n_squarks": int(x["n_squarks"])} if "n_squarks" in x else {}
    return xsec.lookup(str(x["process"]), *[float(m) for m in x["masses"]], **kwargs).xsec_pb


def validate(
    analysis: str,
    *,
    events: int = 5000,
    seed: int = 1,
    threads: int = 1,
    benchmarks: list[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    progress: bool = False,
    pythia: list[str] | None = None,
    variations: bool | str | Sequence[str] = True,
    samples: Mapping[str, str | os.PathLike[str] | Sequence[str | os.PathLike[str]]] | None = None,
) -> ValidationReport:
    """Generates the benchmarks, runs the analysis, compares with the published numbers and
    writes the report (see the module docstring). ``pythia`` lines are added to every benchmark's
    generation after the ``generation: pythia:`` lines of ``validation.yaml``.

    ``variations``: True runs the generator variations of ``validation.yaml``'s ``variations:``
    (see :func:`validation_variations`), names (``"isr,fsr"`` or a list) replace them, False runs
    none. Weight members (Pythia's in-run shower weights) are carried by the nominal sample (no
    extra events); sample members are generated with the same seeds. Each is compared step by step
    beside the nominal sample; only the nominal sample decides whether a step is within tolerance,
    and the envelope of the members (with the nominal MC error) decides whether the published value
    is covered (:attr:`Comparison.covered`). The cross-section variation is not used
    (:data:`XSEC_NOT_USED`). ``samples`` maps benchmark names to event files (HepMC/LHE, e.g.
    matrix-element-merged samples; one file or the parts of one sample) used instead of generating
    them (all their events, streamed; no variations for those benchmarks)."""
    t0 = time.perf_counter()
    ana = Analysis.load(analysis)
    check_count("events", events, 1)
    check_count("threads", threads, 1)
    cfg_path = ana.definition.directory / "validation.yaml"
    if not cfg_path.is_file():
        raise ConfigError(f"{ana.id}: no validation.yaml in {ana.definition.directory}")
    cfg = load_yaml(cfg_path)
    all_benchmarks: dict[str, Any] = cfg["benchmarks"]
    names = benchmarks or list(all_benchmarks)
    for b in names:
        if b not in all_benchmarks:
            raise ConfigError(f"no benchmark {b!r}; benchmarks: {', '.join(all_benchmarks)}", file=str(cfg_path))
    for b in samples or {}:
        if b not in all_benchmarks:
            raise ConfigError(f"sample for unknown benchmark {b!r}; benchmarks: {', '.join(all_benchmarks)}")
    files = {b: as_paths(f) for b, f in (samples or {}).items()}
    names = [*names, *(b for b in files if b not in names)]
    common = [str(x) for x in (cfg.get("generation") or {}).get("pythia", [])] + list(pythia or [])
    report = ValidationReport(analysis=ana.id, events_per_benchmark=events)
    if cfg.get("no_published_numbers"):
        report.no_published_numbers = str(cfg["no_published_numbers"]).strip()
    report.notes = [str(n).strip() for n in cfg.get("notes", [])]
    report.cutflow_tables = [str(r) for r in cfg.get("cutflow_tables", [])]
    report.technical = technical_checks(ana.id, ana.definition.directory, cfg.get("technical", []))
    if variations is True:
        members, report.variation_notes = validation_variations(cfg.get("variations"), str(cfg_path))
    elif variations is False:
        members = []
    else:
        members, report.variation_notes = validation_variations(variations, "--variations")
    weights = {m.member: m.entry for m in members if m.kind == "weight"}
    if members and files:
        report.variation_notes.append(f"{', '.join(b for b in names if b in files)}: {GIVEN_FILE_NO_VARIATIONS}")
        if all(b in files for b in names):  # no generated benchmark for the members to run on
            members, weights = [], {}

    def run(settings: list[str], label: str) -> dict[str, AnalysisResult]:
        results: dict[str, AnalysisResult] = {}
        for k, name in enumerate(names):
            spec = all_benchmarks[name]
            xs = cross_section(spec)
            info: dict[str, Any] = {
                "model": str(spec["model"]),
                "masses": [float(m) for m in spec["masses"]],
                "cross_section_pb": xs,
            }
            if name in files:
                if label != "nominal":
                    continue
                log.info("benchmark %s: reading %s", name, ", ".join(map(str, files[name])))
                res = run_files([ana], files[name], cross_section=xs, threads=threads, progress=progress)[0]
                info |= {
                    "pythia_lo_cross_section_pb": math.nan,
                    "sample": [str(f) for f in files[name]],
                    "events": res.n_events,
                    "pythia_settings": [],
                }
            else:
                w = weights if label == "nominal" else {}
                log.info("%s benchmark %s: generating %d events", label, name, events)
                t_run = time.perf_counter()
                gen = benchmark_generator(spec, seed + k, settings, weight_variations=w)
                batches = gen.batches(events, progress=progress)  # generated and analysed chunk by chunk
                res = run_batches([ana], batches, cross_section=xs, threads=threads, variations=list(w))[0]
                info |= {
                    "pythia_lo_cross_section_pb": gen.cross_section_pb,
                    "events": res.n_events,
                    "seed": seed + k,
                    "pythia_settings": benchmark_settings(spec, settings),
                    "weight_variations": dict(w),
                    "seconds": round(time.perf_counter() - t_run, 1),
                }
            results[name] = res
            if label == "nominal":
                report.benchmarks[name] = info
        return results

    report.results = run(common, "nominal")
    report.comparisons = _compare(cfg, ana.definition.directory, report.results, report.unavailable)
    for m in members:
        if m.kind == "weight":  # the nominal events with the member's weights
            varied = {b: r.variations[m.member] for b, r in report.results.items() if m.member in r.variations}
        else:
            varied = run([*common, *m.pythia], m.member)
        compared = _compare(cfg, ana.definition.directory, varied)
        report.variations[m.member] = m.to_dict()
        by_key = {c.key: c for c in compared}
        for c in report.comparisons:
            if c.key in by_key:
                c.variations[m.member] = by_key[c.key]
    report.seconds = time.perf_counter() - t0
    out = Path(output) if output is not None else Path("validation") / ana.id
    write_report(report, out, [str(d) for d in cfg.get("distributions", [])])
    return report


def _compare(
    cfg: dict[str, Any],
    directory: Path,
    results: dict[str, AnalysisResult],
    unavailable: list[dict[str, Any]] | None = None,
) -> list[Comparison]:
    """The comparisons; published numbers of regions that did not run are added to ``unavailable``."""
    out: list[Comparison] = []
    if "cutflows" in cfg:
        out += _compare_cutflows(cfg["cutflows"], directory, results)
    if "yields" in cfg:
        out += _compare_yields(cfg["yields"], directory, results, [] if unavailable is None else unavailable)
    if "steps" in cfg:
        out += _compare_steps(cfg["steps"], directory, results)
    return out


def _efficiency(cf: Any, k: int, k_norm: int) -> tuple[float, float, float | None]:
    """Σw[k] / Σw[k_norm], its binomial MC error on the N[k_norm] events of the normalisation step,
    and where N[k] = 0 the upper MC error :func:`zero_mc_upper_error` with one event = 1 / N[k_norm]
    (the binomial error's own unit: it treats the N[k_norm] events alike; None where N[k] ≥ 1)."""
    n_norm = int(cf.n[k_norm])
    eff = float(cf.sumw[k] / cf.sumw[k_norm]) if cf.sumw[k_norm] else math.nan
    err = math.sqrt(max(eff * (1 - eff), 0) / n_norm) if n_norm else math.nan
    return eff, err, zero_mc_upper_error(int(cf.n[k]), 1.0 / n_norm if n_norm else math.nan)


def _yield(res: AnalysisResult, region: str) -> tuple[float, float, float | None]:
    """The region's yield at σ × L, its MC error, and where the sample has no raw MC event in it
    the upper MC error :func:`zero_mc_upper_error` with one event = σ·L / N (the yield of all
    events over their number: the mean per-event weight at σ × L; for the equal-weight samples
    validate generates, exactly the √Σw² × scale of a single event; None where N ≥ 1)."""
    y, e = res.yield_(region)
    cf = res.cutflow(region)
    n_all = int(cf.n[0])
    one_event = float(cf.sumw[0]) * float(res.scale or math.nan) / n_all if n_all else math.nan
    return y, e, zero_mc_upper_error(int(cf.n[-1]), one_event)


def _selected(c: dict[str, Any], results: dict[str, AnalysisResult]) -> list[tuple[str, AnalysisResult, Any]]:
    """(benchmark, its result, the row selection) for the configured rows whose benchmark ran."""
    return [(str(sel["benchmark"]), results[str(sel["benchmark"])], sel["match"]) for sel in c["rows"]
            if str(sel["benchmark"]) in results]  # fmt: skip


def _compare_cutflows(c: dict[str, Any], directory: Path, results: dict[str, AnalysisResult]) -> list[Comparison]:
    rows = _read_csv(directory / str(c["file"]))
    value = str(c["value"])
    tol = float(c["tolerance"])
    norm = c["normalisation"]
    skip = {str(s) for s in c.get("skip", [])}
    regions_map = {str(k): str(v) for k, v in c.get("regions", {}).items()}
    first_of = {str(k): str(v) for k, v in c.get("first_step_of", {}).items()}  # per-region first_step
    other = c.get("compare_with")  # another recast tool's column: {column, label}
    other_col = str(other["column"]) if other else ""
    other_label = str(other.get("label", other_col)) if other else ""
    common = c["common"]
    out: list[Comparison] = []
    for bench, res, match in _selected(c, results):
        mine = [r for r in rows if _matches(r, match)]
        if not mine:
            raise ConfigError(f"no rows match {dict(match)}", file=str(c["file"]))
        norm_rows = [r for r in mine if r["SR"] == norm["region"] and r["cut"] == norm["cut"]]
        if len(norm_rows) != 1:
            raise ConfigError(f"normalisation row {norm['cut']!r} not found once for {bench}", file=str(c["file"]))
        published_norm = _number(norm_rows[0][value], str(c["file"]))
        other_norm = _other_value(norm_rows[0], other_col, str(c["file"]))
        by_region: dict[str, list[dict[str, str]]] = {}
        for r in mine:
            by_region.setdefault(r["SR"], []).append(r)
        for sr, sr_rows in by_region.items():
            if sr == norm["region"]:
                region = str(common["region"])
                pairs = [(r, str(common["steps"].get(r["cut"], ""))) for r in sr_rows if r["cut"] != norm["cut"]]
            else:
                region = regions_map.get(sr, _sr_name(sr))
                if region not in res.cutflows:
                    raise ConfigError(f"region {sr!r} ({region!r}) is not in the analysis", file=str(c["file"]))
                steps = res.cutflows[region].names
                first_step = first_of.get(region, str(c["first_step"]))
                first = steps.index(first_step) + 1
                wanted = [r for r in sr_rows if r["cut"] not in skip]
                if len(wanted) != len(steps) - first:
                    raise ConfigError(
                        f"{sr} has {len(wanted)} published steps, region {region} has "
                        f"{len(steps) - first} after {first_step!r}",
                        file=str(c["file"]),
                    )
                pairs = list(zip(wanted, steps[first:], strict=True))
            cf = res.cutflow(region)
            k_norm = cf.names.index(str(norm["step"]))
            for r, step in pairs:
                if r["cut"] in skip or not step:
                    continue
                k = cf.names.index(step)
                eff, err, err_up = _efficiency(cf, k, k_norm)
                pub = _number(r[value], str(c["file"])) / published_norm
                comparison = Comparison("cutflow", bench, region, step, pub, eff, err, tol, ours_error_up=err_up)
                if other:
                    comparison.other = _other_value(r, other_col, str(c["file"])) / other_norm
                    comparison.other_label = other_label
                out.append(comparison)
    return out


def _other_value(row: dict[str, str], column: str, file: str) -> float:
    """Another tool's number in ``column`` (NaN where the cell is empty or there is no column)."""
    if not column or not (row.get(column) or "").strip():
        return math.nan
    return _number(row[column], file)


def _compare_steps(c: dict[str, Any], directory: Path, results: dict[str, AnalysisResult]) -> list[Comparison]:
    """A published cutflow given as (step, events) rows, each mapped to a region step; efficiencies
    relative to the normalisation row (compared with the same region's "all events")."""
    bench = str(c["benchmark"])
    if bench not in results:
        return []
    res = results[bench]
    rows = {r["step"]: r for r in _read_csv(directory / str(c["file"]))}
    value, tol = str(c["value"]), float(c["tolerance"])
    if str(c["normalisation"]) not in rows:
        raise ConfigError(f"no normalisation row {c['normalisation']!r}", file=str(c["file"]))
    norm = _number(rows[str(c["normalisation"])][value], str(c["file"]))
    out = []
    for step_name, target in c["map"].items():
        if step_name not in rows:
            raise ConfigError(f"no row {step_name!r}", file=str(c["file"]))
        region, step = str(target["region"]), str(target["step"])
        cf = res.cutflow(region)
        if step not in cf.names:
            raise ConfigError(f"validation: region {region} has no step {step!r} (steps: {cf.names})")
        k = cf.names.index(step)
        eff, err, err_up = _efficiency(cf, k, 0)
        pub = _number(rows[step_name][value], str(c["file"])) / norm
        out.append(Comparison("cutflow", bench, region, step, pub, eff, err, tol, ours_error_up=err_up))
    return out


def _compare_yields(
    c: dict[str, Any], directory: Path, results: dict[str, AnalysisResult], unavailable: list[dict[str, Any]]
) -> list[Comparison]:
    """Published final yields (rows named by ``region_column``, default SR; a row selection may give
    its own ``region_of``); a region that did not run is listed in ``unavailable``, not compared."""
    rows = _read_csv(directory / str(c["file"]))
    value = str(c["value"])
    tol = float(c["tolerance"])
    column = str(c.get("region_column", "SR"))
    out: list[Comparison] = []
    for sel in c["rows"]:
        bench = str(sel["benchmark"])
        if bench not in results:
            continue
        res, match = results[bench], sel["match"]
        region_of = {**c.get("region_of", {}), **sel.get("region_of", {})}
        for r in rows:
            if not _matches(r, match):
                continue
            region = str(region_of.get(r[column], _sr_name(r[column])))
            if region in res.unavailable:
                unavailable.append(
                    {"kind": "yield", "benchmark": bench, "region": region, "step": "final yield",
                     "published": _number(r[value], str(c["file"])), "reason": res.unavailable[region]}
                )  # fmt: skip
                continue
            y, e, e_up = _yield(res, region)
            pub = _number(r[value], str(c["file"]))
            out.append(Comparison("yield", bench, region, "final yield", pub, y, e, tol, ours_error_up=e_up))
    return out


_STATUS_COLOUR = {"passed": "tab:blue", "mc-limited": "tab:orange", "failed": "tab:red"}


_STATUS_LABEL = {"passed": "within tolerance", "mc-limited": "outside, MC-limited", "failed": "outside"}
_RATIO_MAX = 3.0  # plotted range; ratios above it are drawn at the top edge as arrows with their value


def _ratio_plot(ax: Any, mine: list[Comparison], variations: list[str]) -> None:
    """recast_ml/published per step: nominal coloured by status, variations as hollow markers; a ratio
    above the plotted range is drawn at the top edge with an arrow and its value."""
    x = np.arange(len(mine), dtype=float)
    ratios = np.array([c.ratio for c in mine], dtype=float)
    finite = ratios[np.isfinite(ratios)]
    top = min(_RATIO_MAX, max(1.7, float(finite.max(initial=0.0)) * 1.1))
    edge = 0.97 * top

    def off_scale(xs: np.ndarray, ys: np.ndarray) -> None:
        for xi, r in zip(xs, ys, strict=True):
            ax.annotate(f"↑{r:.2f}", (xi, edge), xytext=(2, -2), textcoords="offset points", fontsize=6, va="top")

    ax.axhspan(1 - mine[0].tolerance, 1 + mine[0].tolerance, color="tab:green", alpha=0.15, label="tolerance")
    ax.axhline(1.0, color="k", lw=0.8)
    yerr = [[c.ratio_error for c in mine], [c.ratio_error_up for c in mine]]  # upwards: Gehrels where no MC event
    ax.errorbar(x, ratios, yerr=yerr, fmt="none", ecolor="grey")
    spans = [(xi, *c.interval, c.published) for xi, c in zip(x, mine, strict=True) if c.covered is not None]
    if spans:  # nominal ± envelope (⊕ MC error) over published: covered where it spans 1
        xs_, lo_, hi_, pub_ = (np.array(v, dtype=float) for v in zip(*spans, strict=True))
        ax.vlines(xs_ - 0.1, np.minimum(lo_ / pub_, edge), np.minimum(hi_ / pub_, edge), colors="tab:cyan",
                  lw=3, alpha=0.5, zorder=1, label="nominal ± envelope ⊕ MC")  # fmt: skip
    for status, colour in _STATUS_COLOUR.items():
        sel = np.array([c.status == status for c in mine], dtype=bool)
        if sel.any():
            label = f"nominal: {_STATUS_LABEL[status]}"
            ax.scatter(x[sel], np.minimum(ratios[sel], edge), color=colour, zorder=3, s=14, label=label)
            off_scale(x[sel & (ratios > edge)], ratios[sel & (ratios > edge)])
    for i, (vname, marker) in enumerate(zip(variations, "sDP*^v", strict=False)):
        pairs = [
            (xi + 0.15 * (i + 1), c.variations[vname].ratio)
            for xi, c in zip(x, mine, strict=True)
            if vname in c.variations
        ]
        xv = np.array([p[0] for p in pairs], dtype=float)
        yv = np.array([p[1] for p in pairs], dtype=float)
        ax.scatter(
            xv, np.minimum(yv, edge), marker=marker, facecolors="none", edgecolors="k", s=14, zorder=2, label=vname
        )
        off_scale(xv[yv > edge], yv[yv > edge])
    other = np.array([c.other_ratio for c in mine], dtype=float)
    if np.isfinite(other).any():
        ok = np.isfinite(other)
        label = next(c.other_label for c in mine if c.other_label)
        ax.scatter(x[ok] - 0.2, np.minimum(other[ok], edge), marker="v", facecolors="none",
                   edgecolors="tab:purple", s=14, zorder=2, label=f"{label} / published")  # fmt: skip
    ax.legend(fontsize=6, loc="upper left")
    ax.set_xticks(x, [f"{c.region}: {c.step}" for c in mine], rotation=90, fontsize=6)
    ax.set_ylabel("recast_ml / published")
    ax.set_ylim(0.0, top)


def write_report(report: ValidationReport, out: Path, distributions: list[str]) -> Path:
    """report.html + PNG plots + summary.json + results_<benchmark>.json. The plots are embedded in
    the page (one self-contained file) and also written beside it."""
    from .report import definition_info, distribution_png, png_bytes, published_shape, pyplot, variable_unit

    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    from .export.outputs import write_validation_exports

    summary["exports"] = write_validation_exports(report, out, distributions)  # hepdata/, distributions.yoda
    # valid JSON: null for NaN/inf (json.dumps would write NaN)
    (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    for name, res in report.results.items():
        res.save(out / f"results_{name}.json")
    images: list[tuple[str, str, bytes]] = []
    for kind in ("cutflow", "yield"):
        cs = [c for c in report.comparisons if c.kind == kind]
        benches = sorted({c.benchmark for c in cs})
        for b in benches:
            mine = [c for c in cs if c.benchmark == b]
            fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(mine)), 4))
            _ratio_plot(ax, mine, list(report.variations))
            ax.set_title(f"{report.analysis} {kind}s, {b}")
            fig.tight_layout()
            png = f"{kind}_{b}.png"
            data = png_bytes(fig, dpi=110)
            (out / png).write_bytes(data)
            plt.close(fig)
            images.append((f"{kind}s: {b}, recast_ml / published per step", png, data))
    directory, variables, _ = definition_info(None, report.analysis)
    for var in distributions:
        samples = {name: res.variable(var) for name, res in report.results.items() if var in res.variable_names}
        if not samples:
            continue
        unit = variable_unit(var, variables.get(var), variables)
        published = published_shape(directory, var) if directory is not None else None
        data = distribution_png(var, samples, unit, published)
        png = f"distribution_{var}.png"
        (out / png).write_bytes(data)
        source = f"published shape: {published[2]}" if published else "no published shape in the analysis folder"
        images.append((f"distribution of {var}, all events with a value, normalised to unit area; {source}", png, data))
    (out / "report.html").write_text(_html(report, summary, images))
    return out / "report.html"


def validation_verdict(summary: Mapping[str, Any]) -> str:
    """The headline of a validation report: how many published numbers are within tolerance."""
    if not summary.get("published_numbers", True):
        text = "NO PUBLISHED NUMBERS to compare with"
    else:
        parts = []
        for kind, what in (("cutflow", "cutflow steps"), ("yield", "final yields")):
            s = summary.get(kind) or {}
            if s.get("compared"):
                parts.append(
                    f"{s['passed']} of {s['compared']} {what} within tolerance"
                    f" ({s.get('mc_limited', 0)} outside but MC-limited, {s.get('failed', 0)} outside)"
                )
        cov = [(summary.get(k) or {}).get("coverage") or {} for k in ("cutflow", "yield")]
        n_cov = sum(int(c.get("compared", 0)) for c in cov)
        if n_cov:
            names = list(dict.fromkeys(n for c in cov for n in c.get("variations", c.get("members", []))))
            parts.append(
                f"{sum(int(c.get('covered', 0)) for c in cov)} of {n_cov} covered by nominal ± envelope"
                f" ({', '.join(names)})"
            )
        text = "VALIDATION: " + ("; ".join(parts) if parts else "nothing compared")
    tech = summary.get("technical")
    if tech:
        n_ok = sum(bool(c.get("passed")) for c in tech.get("checks", []))
        text += f"; technical model checks: {n_ok} of {len(tech.get('checks', []))} passed"
    return text


def _html(report: ValidationReport, summary: dict[str, Any], images: list[tuple[str, str, bytes]]) -> str:
    from .report import details, figure, lumi_text, page

    e = html.escape
    lumis = sorted({lumi_text(r.luminosity_fb) for r in report.results.values()})
    lumi = ", ".join(lumis) if lumis else "L"
    ok = summary["cutflow"]["failed"] == 0 and summary["yield"]["failed"] == 0
    box = "allowed" if ok and summary.get("published_numbers", True) else ""
    given = [b for b, v in report.benchmarks.items() if "sample" in v]
    sources = []
    if len(given) < len(report.benchmarks) or not given:
        sources.append("Pythia 8, simplified models")
    if given:
        sources.append("read from the event files listed below")
    how = "; ".join(sources)
    parts = [
        f"<h1>Validation of {e(report.analysis)}</h1>",
        f"<div class='headline {box}'><p class='verdict'>{e(validation_verdict(summary))}</p>",
        f"<p>{e(report.events_text())} ({how}, "
        f"normalised to each benchmark's cross section, column σ below); yields are events at σ × L with L = "
        f"{e(lumi)}; {summary['seconds']} s.</p></div>",
        "<h2>Summary</h2><table><tr><th>comparison</th><th>compared</th><th>within tolerance</th>"
        "<th>outside, MC-limited</th><th>outside</th><th>max |ratio - 1|</th></tr>",
    ]
    if report.no_published_numbers is not None:
        parts.insert(
            1,
            f"<p class='warning'><b>No published numbers to compare with.</b> {e(report.no_published_numbers)}</p>",
        )
    for kind in ("cutflow", "yield"):
        s = summary[kind]
        parts.append(
            f"<tr><td class='l'>{kind}</td><td>{s['compared']}</td><td>{s['passed']}</td>"
            f"<td>{s['mc_limited']}</td><td>{s['failed']}</td><td>{s['max_abs_deviation']:.3f}</td></tr>"
        )
        for vname, n_passed in s["passed_per_variation"].items():
            n_compared = s.get("compared_per_variation", {}).get(vname, s["compared"])
            parts.append(
                f"<tr><td class='l'>{kind}, variation {e(vname)}</td><td>{n_compared}</td>"
                f"<td>{n_passed}</td><td></td><td></td><td></td></tr>"
            )
    bands = " / ".join(f"{round(b * 100)}" for b in WITHIN_BANDS)
    for kind in ("cutflow", "yield"):
        s = summary[kind]
        if not s["compared"]:
            continue
        rows = [("recast_ml", s["within"]), *s.get("other_within", {}).items()]
        parts.append(
            f"<tr><td class='l' colspan='6'>{kind}s within {bands} % of the published value: "
            + "; ".join(
                f"{e(tool)} {' / '.join(str(w[f'{round(b * 100)}%']) for b in WITHIN_BANDS)} of {w['compared']}"
                for tool, w in rows
            )
            + "</td></tr>"
        )
    parts.append(
        "</table><p class='legend'>Shading of the comparison rows: <span class='passed'>&nbsp;green&nbsp;</span> "
        "within tolerance; <span class='mc-limited'>&nbsp;orange&nbsp;</span> MC-limited: outside the tolerance, "
        "but the MC error of the ratio is larger than the tolerance and the deviation is within twice that "
        "error, so this sample size cannot decide (not counted as within tolerance; where the sample has no MC "
        "event at a step, its upward MC error is the Gehrels 1σ upper error for n = 0, 1.841 events of the "
        "sample's per-event weight, also in the coverage band's upper edge); "
        "<span class='failed'>&nbsp;red&nbsp;</span> outside the tolerance.</p>"
    )
    if report.variations:
        parts.append("<h2>Generator variations</h2><p>Weight members are Pythia's in-run shower-variation "
                     "weights of the nominal sample (the same events, no extra generation); sample members are "
                     "generated with the same seeds and the extra settings. Each is compared step by step beside "
                     "the nominal sample; only the nominal sample decides the status; their envelope decides the "
                     "coverage.</p><table><tr><th>member</th><th>variation</th><th>kind</th>"
                     "<th>setting</th><th>why</th></tr>")  # fmt: skip
        for vname, v in report.variations.items():
            how = f"UncertaintyBands {v['weight']}" if v.get("weight") else "; ".join(v.get("pythia", []))
            parts.append(
                f"<tr><td class='l'>{e(vname)}</td><td class='l'>{e(str(v.get('variation', vname)))}</td>"
                f"<td class='l'>{e(str(v.get('kind', 'sample')))}</td><td class='l'>{e(how)}</td>"
                f"<td class='l'>{e(v['description'])}</td></tr>"
            )
        parts.append("</table>")
    if report.variation_notes:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in report.variation_notes) + "</ul>")
    parts.append(_coverage_html(report, summary))
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    if report.technical:
        parts.append(_technical_html(report.technical))
    parts.append("<h2>Benchmarks</h2><table><tr><th>benchmark</th><th>model</th><th>masses [GeV]</th>"
                 "<th>σ [pb]</th><th>σ Pythia LO [pb]</th><th>extra Pythia settings</th></tr>")  # fmt: skip
    for name, b in report.benchmarks.items():
        how = "sample " + ", ".join(b["sample"]) if "sample" in b else "; ".join(b.get("pythia_settings", []))
        parts.append(
            f"<tr><td class='l'>{e(name)}</td><td class='l'>{e(b['model'])}</td><td>{b['masses']}</td>"
            f"<td>{b['cross_section_pb']:.4g}</td><td>{_number_cell(b['pythia_lo_cross_section_pb'])}</td>"
            f"<td class='l'>{e(how)}</td></tr>"
        )
    parts.append("</table>")
    for kind, title, unit in (
        ("cutflow", "Cutflows (efficiency relative to the normalisation row)", "efficiency"),
        ("yield", f"Yields at σ × L (events at {lumi})", "events"),
    ):
        cs = [c for c in report.comparisons if c.kind == kind]
        if not cs:
            continue
        others = list(dict.fromkeys(c.other_label for c in cs if c.other_label))
        parts.append(
            f"<h2>{e(title)}</h2><table><tr><th>benchmark</th><th>region</th><th>step</th><th>published [{unit}]</th>"
            f"<th>recast_ml [{unit}]</th><th>MC error [{unit}]</th><th>ratio</th><th>± MC</th><th>status</th>"
            + "".join(f"<th>{e(t)} [{unit}]</th><th>{e(t)} / published</th>" for t in others)
            + "".join(f"<th>ratio, {e(v)}</th>" for v in report.variations)
            + (f"<th>envelope +Δ↑ / −Δ↓ [{unit}]</th><th>covered</th>" if report.variations else "")
            + "</tr>"
        )
        for c in cs:
            cls = c.status
            parts.append(
                f"<tr class='{cls}'><td class='l'>{e(c.benchmark)}</td><td class='l'>{e(c.region)}</td>"
                f"<td class='l'>{e(c.step)}</td><td>{c.published:.4g}</td><td>{c.ours:.4g}</td>"
                + _mc_error_cells(c)
                + f"<td>{c.ratio:.3f}</td>"
                + (f"<td>{c.ratio_error:.3f}</td>" if c.ours_error_up is None else f"<td>+{c.ratio_error_up:.3f}</td>")
                + f"<td class='l'>{c.status}</td>"
                + "".join(
                    f"<td>{c.other:.4g}</td><td>{c.other_ratio:.3f}</td>"
                    if c.other_label == t and math.isfinite(c.other)
                    else "<td>–</td><td>–</td>"
                    for t in others
                )
                + "".join(
                    f"<td>{c.variations[v].ratio:.3f} ± {c.variations[v].ratio_error:.3f}</td>"
                    if v in c.variations
                    else "<td></td>"
                    for v in report.variations
                )
                + (_envelope_cells(c) if report.variations else "")
                + "</tr>"
            )
        parts.append("</table>")
    if report.unavailable:
        parts.append(
            "<h2>Not compared: regions unavailable</h2><table><tr><th>benchmark</th><th>region</th>"
            "<th>step</th><th>published</th><th>why</th></tr>"
        )
        for u in report.unavailable:
            parts.append(
                f"<tr><td class='l'>{e(u['benchmark'])}</td><td class='l'>{e(u['region'])}</td>"
                f"<td class='l'>{e(u['step'])}</td><td>{u['published']:.4g}</td>"
                f"<td class='l'>{e(u['reason'])}</td></tr>"
            )
        parts.append("</table>")
    if report.cutflow_tables and report.results:
        parts.append(details("Cutflows (recast_ml only; click to open)", _cutflow_tables_html(report, lumi)))
    parts.append("<h2>Plots</h2>")
    for title, png, data in images:
        parts.append(figure(data, title, link=png))
    return page(f"recast_ml validation: {report.analysis}", parts)


def _number_cell(x: float) -> str:
    """A number with 4 digits, or '—' where there is none (NaN: e.g. no Pythia run for a file sample)."""
    return f"{x:.4g}" if math.isfinite(x) else "—"


def _mc_error_cells(c: Comparison) -> str:
    """The MC error cell: ± where the sample has MC events at the step, else the one-sided upper
    (Gehrels, n = 0) error."""
    if c.ours_error_up is None:
        return f"<td>{c.ours_error:.2g}</td>"
    return f"<td title='no MC event: Gehrels 1σ upper error for n = 0'>+{c.ours_error_up:.2g} (0 MC events)</td>"


def _envelope_cells(c: Comparison) -> str:
    """The per-step envelope and whether the published value is covered (– without members)."""
    if c.covered is None:
        return "<td>–</td><td class='l'>–</td>"
    lo, hi = c.interval
    return (
        f"<td>+{c.envelope_up:.2g} / −{c.envelope_down:.2g}</td>"
        f"<td class='l' title='[{lo:.4g}, {hi:.4g}]'>{'yes' if c.covered else 'no'}</td>"
    )


def _coverage_html(report: ValidationReport, summary: Mapping[str, Any]) -> str:
    """The "Coverage by nominal ± envelope" table: per benchmark and kind, the comparisons, those
    within tolerance and those whose published value lies within nominal ± envelope."""
    e = html.escape
    by_bench = summary.get("by_benchmark") or {}
    if not by_bench or not report.variations:
        return ""
    parts = [
        "<h2>Coverage by nominal ± envelope</h2><p>A published value is <i>covered</i> when it lies within "
        "[nominal − √(Δ↓² + σ<sub>MC</sub>²), nominal + √(Δ↑² + σ<sub>MC</sub>²)]: Δ↑ (Δ↓) is the largest "
        "upward (downward) shift of a generator variation from the nominal value (0 if none goes that way), "
        "σ<sub>MC</sub> the nominal sample's MC error (upwards, where the sample has no MC event at the step, "
        "the Gehrels 1σ upper error for n = 0: 1.841 events of its per-event weight). "
        "It measures whether the signal-modelling uncertainty "
        "the variations express accounts for the difference from the published number.</p>"
        "<table><tr><th>benchmark</th><th>kind</th><th>compared</th><th>within tolerance</th>"
        "<th>covered by envelope</th><th>members</th></tr>"
    ]
    given = {b for b, info in report.benchmarks.items() if "sample" in info}
    for b, kinds in by_bench.items():
        for kind, s in kinds.items():
            cov = s["coverage"]
            if cov["compared"]:
                covered = f"{cov['covered']} of {cov['compared']}"
                who = ", ".join(cov["members"])
            else:
                covered = "–"
                who = GIVEN_FILE_NO_VARIATIONS if b in given else "no generator variations"
            parts.append(
                f"<tr><td class='l'>{e(b)}</td><td class='l'>{kind}</td><td>{s['compared']}</td>"
                f"<td>{s['passed']}</td><td>{covered}</td><td class='l'>{e(who)}</td></tr>"
            )
    parts.append("</table>")
    return "\n".join(parts)


def _technical_html(checks: list[TechnicalCheck]) -> str:
    """The ``technical:`` checks: a summary row per check, then every row (reference vs ours)."""
    e = html.escape
    parts = [
        "<h2>Technical model validation</h2><p>Each model card run on feature vectors through the event "
        "loop's path (C++ core, ONNX Runtime, the card's routing), against reference outputs computed "
        "independently.</p><table><tr><th>model</th><th>what</th><th>rows</th><th>max |ours - reference|</th>"
        "<th>tolerance</th><th>status</th></tr>"
    ]
    for t in checks:
        dev = ", ".join(f"{o}: {d:.2e}" for o, d in t.max_deviation.items())
        status = "passed" if t.passed else "failed"
        parts.append(
            f"<tr class='{status}'><td class='l'>{e(t.model)}</td><td class='l'>{e(t.description)}</td>"
            f"<td>{t.n_rows}</td><td class='l'>{e(dev)}</td><td>{t.tolerance:g}</td><td class='l'>{status}</td></tr>"
        )
    parts.append("</table>")
    for t in checks:
        outputs = list(t.rows)
        parts.append(
            f"<h3>{e(t.model)}: {e(t.features)}</h3><table><tr><th>row</th>"
            + "".join(f"<th>{e(o)} reference</th><th>{e(o)} ours</th><th>|diff|</th>" for o in outputs)
            + "</tr>"
        )
        for k, label in enumerate(t.labels):
            cells = "".join(
                f"<td>{t.rows[o][k][0]:.6f}</td><td>{t.rows[o][k][1]:.6f}</td>"
                f"<td>{abs(t.rows[o][k][1] - t.rows[o][k][0]):.1e}</td>"
                for o in outputs
            )
            parts.append(f"<tr><td class='l'>{e(label)}</td>{cells}</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def _cutflow_tables_html(report: ValidationReport, lumi: str = "L") -> str:
    """``cutflow_tables:``: per region, every step's events at sigma x L (efficiency) per benchmark."""
    e = html.escape
    benches = list(report.results)
    parts = [
        "<h2>Cutflows (recast_ml only)</h2><p>Expected signal events at σ × L (L = " + e(lumi) + ") after each "
        "step, with the cumulative efficiency and the raw MC count; nothing published to compare with.</p>"
    ]
    for region in report.cutflow_tables:
        flows = {b: report.results[b].cutflow(region) for b in benches}
        names = flows[benches[0]].names
        parts.append(
            f"<h3>{e(region)}</h3><table><tr><th>step</th>" + "".join(f"<th>{e(b)}</th>" for b in benches) + "</tr>"
        )
        for k, name in enumerate(names):
            cells = []
            for b in benches:
                cf = flows[b]
                y = cf.yields
                events = f"{y[k]:.4g} " if y is not None else ""
                cells.append(f"<td>{events}({cf.cumulative[k]:.3g}, N={int(cf.n[k])})</td>")
            parts.append(f"<tr><td class='l'>{e(name)}</td>{''.join(cells)}</tr>")
        parts.append("</table>")
    return "\n".join(parts)
