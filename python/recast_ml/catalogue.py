"""The catalogue of bundled analyses with an honest status for each.

The status of an analysis is computed, never typed by hand, from

* its committed validation summary (``validation/<ID>/summary.json``, written by
  ``recast-ml validate`` and installed with the package): how many published cutflow steps and
  yields the last validation reproduced within their tolerance, and how many lie within the
  nominal ± envelope of its generator variations (``covered by ± envelope``), or — for an analysis without
  published cutflows — whether its models were verified against a reference evaluator;
* its definition: model cards whose files are not available (a model that was never made public),
  and which signal regions have published numbers (``signal_regions.csv``) for statistics.

``recast-ml analyses list`` prints one line per analysis with it, ``analyses show`` the details,
and ``recast-ml run`` prints it beside each verdict and stores it in ``results.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._data import validation_dir

log = logging.getLogger(__name__)

__all__ = ["AnalysisStatus", "status", "validation_summary"]


@dataclass(frozen=True)
class AnalysisStatus:
    """What the validation of an analysis showed, in one line (``text``) and in numbers."""

    analysis: str
    text: str
    #: cutflow steps / yields compared with published numbers in the committed validation
    cutflow_compared: int = 0
    cutflow_passed: int = 0
    cutflow_mc_limited: int = 0
    yield_compared: int = 0
    yield_passed: int = 0
    #: published steps and yields within nominal ± envelope of the generator variations
    #: (validate's coverage; 0 compared: no variations, or a summary from before coverage)
    coverage_compared: int = 0
    coverage_covered: int = 0
    coverage_variations: tuple[str, ...] = ()
    #: the tolerances of those comparisons (relative; usually one value)
    tolerances: tuple[float, ...] = ()
    #: technical model checks of the validation (converted model vs a reference evaluator)
    models_checked: int = 0
    models_passed: int = 0
    #: model cards whose files are not available, with the reason
    unavailable_models: dict[str, str] = field(default_factory=dict)
    #: regions that cannot be evaluated because they need an unavailable model
    unavailable_regions: tuple[str, ...] = ()
    #: the validation summary the status was computed from (None: never validated)
    summary_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "validation_summary": self.summary_file,
            "cutflow": {
                "compared": self.cutflow_compared,
                "passed": self.cutflow_passed,
                "mc_limited": self.cutflow_mc_limited,
            },
            "yields": {"compared": self.yield_compared, "passed": self.yield_passed},
            "coverage": {
                "compared": self.coverage_compared,
                "covered": self.coverage_covered,
                "variations": list(self.coverage_variations),
            },
            "tolerances": list(self.tolerances),
            "models": {"checked": self.models_checked, "passed": self.models_passed},
            "unavailable_models": dict(self.unavailable_models),
            "unavailable_regions": list(self.unavailable_regions),
        }


def validation_summary(analysis_id: str) -> tuple[Path, dict[str, Any]] | None:
    """The committed validation summary of an analysis (path and content), or None."""
    try:
        path = validation_dir() / analysis_id / "summary.json"
    except FileNotFoundError:
        return None
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable validation summary (%s); status computed without it", path, e)
        return None
    return path, doc if isinstance(doc, dict) else {}


def _percent(tolerances: tuple[float, ...]) -> str:
    if len(tolerances) == 1:
        return f"{100 * tolerances[0]:g} %"
    return "their tolerances"


def status(definition: Any) -> AnalysisStatus:
    """Status of an analysis from its :class:`~recast_ml.analysis.Definition` and its committed
    validation summary."""
    aid = str(definition.id)
    unavailable = dict(definition.unavailable_models())
    unavailable_regions: tuple[str, ...] = tuple(definition.unavailable())
    found = validation_summary(aid)
    parts: list[str] = []
    kw: dict[str, Any] = {}
    if found is None:
        parts.append("not validated")
    else:
        path, doc = found
        kw["summary_file"] = f"validation/{aid}/{path.name}"
        cut = doc.get("cutflow") or {}
        yld = doc.get("yield") or {}
        comparisons = doc.get("comparisons") or []
        tolerances = tuple(sorted({float(c["tolerance"]) for c in comparisons if "tolerance" in c}))

        def tol(kind: str) -> str:
            return _percent(tuple(sorted({float(c["tolerance"]) for c in comparisons if c.get("kind") == kind})))

        kw.update(
            cutflow_compared=int(cut.get("compared", 0)),
            cutflow_passed=int(cut.get("passed", 0)),
            cutflow_mc_limited=int(cut.get("mc_limited", 0)),
            yield_compared=int(yld.get("compared", 0)),
            yield_passed=int(yld.get("passed", 0)),
            tolerances=tolerances,
        )
        checks = (doc.get("technical") or {}).get("checks") or []  # validate: `technical:` model checks
        kw.update(models_checked=len(checks), models_passed=sum(bool(c.get("passed")) for c in checks))
        if kw["cutflow_compared"]:
            text = f"cutflows: {kw['cutflow_passed']}/{kw['cutflow_compared']} steps within {tol('cutflow')}"
            if kw["cutflow_mc_limited"]:
                text += f" ({kw['cutflow_mc_limited']} MC-limited)"
            parts.append(text)
        if kw["yield_compared"]:
            parts.append(f"yields: {kw['yield_passed']}/{kw['yield_compared']} within {tol('yield')}")
        cov = [c.get("coverage") or {} for c in (cut, yld)]  # absent in summaries before coverage
        kw.update(
            coverage_compared=sum(int(c.get("compared", 0)) for c in cov),
            coverage_covered=sum(int(c.get("covered", 0)) for c in cov),
            coverage_variations=tuple(dict.fromkeys(str(n) for c in cov for n in c.get("variations", []))),
        )
        if kw["coverage_compared"]:
            names = f" ({', '.join(kw['coverage_variations'])})" if kw["coverage_variations"] else ""
            parts.append(f"covered by ± envelope: {kw['coverage_covered']}/{kw['coverage_compared']}{names}")
        if not kw["cutflow_compared"] and not kw["yield_compared"]:
            parts.append("no published cutflow")
        if kw["models_checked"]:
            if kw["models_passed"] == kw["models_checked"]:
                parts.insert(0, "models verified" if kw["models_checked"] > 1 else "model verified")
            else:
                parts.insert(0, f"models: {kw['models_passed']}/{kw['models_checked']} checks passed")
    if unavailable_regions:
        # the cards' own reasons, without their parenthesised details
        reasons = sorted({r.split(" (")[0] for r in unavailable.values()})
        why = reasons[0] if len(reasons) == 1 else "models not available"
        parts.append(f"{len(unavailable_regions)} SRs unavailable: {why}")
    elif unavailable:
        parts.append(f"{len(unavailable)} models unavailable")
    return AnalysisStatus(
        analysis=aid,
        text="; ".join(parts),
        unavailable_models=unavailable,
        unavailable_regions=unavailable_regions,
        **kw,
    )


def expand_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Analysis arguments as given on the command line: ``all`` is every bundled analysis, a comma
    list is several; duplicates are dropped (first occurrence kept), order otherwise kept."""
    from .analysis import available

    out: list[str] = []
    for arg in names:
        for name in (p.strip() for p in str(arg).split(",")):
            if not name:
                continue
            for n in available() if name == "all" else [name]:
                if n not in out:
                    out.append(n)
    return out


def published_regions(definition: Any) -> dict[str, list[str]]:
    """Per region of a definition, what the experiment published for it: ``"SR numbers"`` (observed
    and background in ``signal_regions.csv``: the region enters the statistics) and
    ``"cutflow (<benchmark>)"`` / ``"yield (<benchmark>)"`` for each benchmark whose published
    cutflow or yield the committed validation compared with the region."""
    from .statistics import read_signal_regions

    out: dict[str, list[str]] = {str(r["name"]): [] for r in definition.doc["regions"]}
    sr_file = definition.directory / "signal_regions.csv"
    if sr_file.is_file():
        published = read_signal_regions(sr_file)
        for region, pub in definition.published_names().items():
            if pub in published:
                out[region].append("SR numbers")
    found = validation_summary(str(definition.id))
    for c in found[1].get("comparisons", []) if found else []:
        region, bench = c.get("region"), c.get("benchmark", "")
        label = f"{c.get('kind', 'cutflow')} ({bench})" if bench else str(c.get("kind", "cutflow"))
        if region in out and label not in out[region]:
            out[region].append(label)
    return out
