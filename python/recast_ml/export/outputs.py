"""The export files of ``recast-ml run`` and ``recast-ml validate`` (see the package doc)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import hepdata, pyhf_patch, yoda

if TYPE_CHECKING:
    from ..analysis import Analysis, AnalysisResult
    from ..validate import ValidationReport

log = logging.getLogger(__name__)

#: the folders ``recast-ml run`` writes beside results.json
#: (and ``distributions.yoda``, a file, where the report has distributions)
RUN_FOLDERS = ("pyhf", "hepdata", "distributions.yoda")
#: bins of the YODA histograms of the validation distributions (as the report's plots)
DISTRIBUTION_BINS = 40


def run_distribution_histograms(
    summary: Mapping[str, Any], analyses: Sequence[Analysis], results: Sequence[AnalysisResult]
) -> list[yoda.Histo1D]:
    """The run report's distributions as YODA histograms, on the report's bins
    (:func:`recast_ml.report.distribution_edges`; the last edge moved just above the largest value:
    YODA's bins are half-open) and in its units: events at L per bin where the events carry unit
    weights, else MC events (unweighted)."""
    from ..report import distribution_edges, run_distributions

    out = []
    for doc, ana, res in zip(summary["analyses"], analyses, results, strict=True):
        aid = str(doc["analysis"]["id"])
        dists, scale = run_distributions(doc, ana, res)
        for var, values, unit, published in dists:
            v = values[np.isfinite(values)]
            edges = distribution_edges(v, published).copy()
            if published is None and len(v):
                edges[-1] = max(edges[-1], np.nextafter(float(v.max()), np.inf))
            label = f"{var} [{unit}]" if unit else var
            weights = None if scale is None else np.full(len(v), scale)
            lumi = doc.get("sample", {}).get("luminosity_fb")
            ylabel = f"events at {lumi:g} fb^-1 per bin" if scale is not None and lumi else "MC events (unweighted)"
            out.append(
                yoda.Histo1D.fill(
                    f"/{aid}/{var}", edges, v, weights, title=f"{aid}: {var}", xlabel=label, ylabel=ylabel
                )
            )
    return out


def write_run_exports(
    summary: Mapping[str, Any],
    analyses: Sequence[Analysis],
    folder: Path,
    results: Sequence[AnalysisResult] | None = None,
) -> dict[str, Any]:
    """Writes ``pyhf/`` (per analysis a background-only workspace and the signal patch, see
    :mod:`.pyhf_patch`), ``hepdata/`` (SR and cutflow tables) and, with the ``results``,
    ``distributions.yoda`` (:func:`run_distribution_histograms`) into ``folder`` (the run's
    temporary folder) and returns the ``outputs`` entry of ``results.json`` (paths relative to
    the output folder)."""
    directories = {a.id: a.definition.directory for a in analyses}
    pyhf_dir = folder / "pyhf"
    pyhf_dir.mkdir()
    workspaces: list[dict[str, Any]] = []
    for doc in summary["analyses"]:
        aid = str(doc["analysis"]["id"])
        regions = (doc.get("statistics") or {}).get("regions") or []
        if not regions:
            continue
        for ws in pyhf_patch.workspaces(aid, regions, directories[aid]):
            desc = pyhf_patch.write(ws, pyhf_dir)
            desc["bkgonly"] = f"pyhf/{desc['bkgonly']}"
            desc["patch"] = f"pyhf/{desc['patch']}"
            workspaces.append({"analysis": aid, **desc})
    tables = hepdata.run_tables(summary)
    comment = "recast_ml run: " + ", ".join(str(d["analysis"]["id"]) for d in summary["analyses"])
    described: dict[str, Any] = {
        "results": "results.json",
        "report": "report.html",
        "pyhf": workspaces,
        "hepdata": hepdata.write_submission(folder / "hepdata", tables, comment),
    }
    histos = run_distribution_histograms(summary, analyses, results) if results is not None else []
    if histos:
        yoda.write(folder / "distributions.yoda", histos)
        described["yoda"] = {"file": "distributions.yoda", "histograms": [h.path for h in histos]}
    return described


def replace_folders(tmp: Path, out: Path, names: Sequence[str]) -> None:
    """Moves the folders ``tmp/NAME`` to ``out/NAME``, each in one rename; a folder of an earlier
    run there is moved into ``tmp`` first (removed with it)."""
    for name in names:
        if not (tmp / name).exists():
            continue
        if (out / name).exists():
            os.replace(out / name, tmp / f".old_{name}")
        os.replace(tmp / name, out / name)


def distribution_histograms(report: ValidationReport, distributions: Sequence[str]) -> list[yoda.Histo1D]:
    """Per distribution of ``validation.yaml`` and benchmark the histogram of the per-event values
    (unit weight per MC event, NaN = no value skipped), 40 equal bins over the range of all
    benchmarks' values (the last edge just above the largest value: no overflow)."""
    out = []
    for var in distributions:
        values = {
            name: v[np.isfinite(v)]
            for name, res in report.results.items()
            if var in res.variable_names
            for v in [res.variable(var)]
        }
        filled = [v for v in values.values() if len(v)]
        if not filled:
            continue
        everything = np.concatenate(filled)
        lo, hi = float(everything.min()), float(everything.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, DISTRIBUTION_BINS + 1)
        edges[-1] = np.nextafter(hi, np.inf)
        for name, v in values.items():
            out.append(
                yoda.Histo1D.fill(
                    f"/{report.analysis}/{name}/{var}",
                    edges,
                    v,
                    title=f"{report.analysis} {name}: {var}",
                    xlabel=var,
                    ylabel="MC events (unweighted)",
                )
            )
    return out


def write_validation_exports(report: ValidationReport, out: Path, distributions: Sequence[str]) -> dict[str, Any]:
    """Writes ``hepdata/`` (the comparisons with the published numbers, per benchmark and kind;
    the cutflows of ``report.cutflow_tables`` per benchmark) and ``distributions.yoda``
    (:func:`distribution_histograms`) into the validation folder ``out``, each replaced in one
    rename; returns their description (for ``summary.json``)."""
    summary = report.summary()
    tables = hepdata.validation_tables(report.analysis, summary["comparisons"], report.benchmarks)
    if report.cutflow_tables:
        for name, res in report.results.items():
            tables += hepdata.cutflow_tables(res.to_dict(), name, report.cutflow_tables, label=name)
    histos = distribution_histograms(report, distributions)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".recast_validate_", dir=out))
    described: dict[str, Any] = {}
    try:
        names = []
        if tables:
            described["hepdata"] = hepdata.write_submission(
                tmp / "hepdata", tables, f"recast_ml validate {report.analysis}: comparisons with the published numbers"
            )
            names.append("hepdata")
        if histos:
            yoda.write(tmp / "distributions.yoda", histos)
            described["yoda"] = {"file": "distributions.yoda", "histograms": [h.path for h in histos]}
            names.append("distributions.yoda")
        replace_folders(tmp, out, names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return described


__all__ = [
    "RUN_FOLDERS",
    "distribution_histograms",
    "replace_folders",
    "run_distribution_histograms",
    "write_run_exports",
    "write_validation_exports",
]
