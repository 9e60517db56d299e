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

from .._core import ConfigError
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


def _not_a_folder(path: Path) -> Path | None:
    """``path`` or the nearest path above it that exists but is not a folder (None if none)."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def output_path_problem(path: str | os.PathLike[str], err: OSError | None = None, *, folder: bool = True) -> str:
    """Why an output ``path`` (a folder, or a file where ``folder`` is false) cannot be written, in
    words, for a message that names the path the user gave: "exists and is not a folder", "afile
    is a file, not a folder", "cannot write there (permission denied)"; ``err`` is the error met."""
    path = Path(path)
    block = _not_a_folder(path if folder else path.parent)
    if block is not None:
        return "exists and is not a folder" if block == path else f"{block} is a file, not a folder"
    if not folder and path.is_dir():
        return "is a folder"
    if err is None or isinstance(err, PermissionError):
        return "cannot write there (permission denied)"
    return f"cannot write there ({err.strerror or err})"


def check_output_folder(out: str | os.PathLike[str], option: str = "-o") -> None:
    """Checks, before any work is done, that the output folder ``out`` can be created and written:
    it is a folder or does not exist yet, no file stands where a folder above it belongs, and a
    temporary folder can be made in it (where it exists) and in the nearest existing folder above
    it (where the temporary folder of the outputs goes). Creates nothing; a problem is a
    ConfigError naming ``option out`` and the reason."""
    out = Path(out)
    if _not_a_folder(out) is not None:
        raise ConfigError(f"{option} {out}: {output_path_problem(out)}")
    probes = [out] if out.is_dir() else []
    probes.append(next(p for p in out.parents if p.is_dir()) if out.parents else Path("."))
    for folder in probes:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".recast_check_", dir=folder))
        except OSError as e:
            reason = output_path_problem(out, e)
            if folder not in (out, out.parent):
                reason = reason.replace("there", f"in {folder}", 1)
            raise ConfigError(f"{option} {out}: {reason}") from e


def staging_folder(out: str | os.PathLike[str], prefix: str, option: str = "-o") -> Path:
    """A new temporary folder beside the output folder ``out`` (its parent folders created), into
    which the outputs are written and from which they are moved into ``out`` only when all
    succeeded; a problem is a ConfigError naming ``option out`` (:func:`check_output_folder`)."""
    out = Path(out)
    check_output_folder(out, option)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    except OSError as e:
        raise ConfigError(f"{option} {out}: {output_path_problem(out, e)}") from e


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
    "check_output_folder",
    "distribution_histograms",
    "output_path_problem",
    "replace_folders",
    "run_distribution_histograms",
    "staging_folder",
    "write_run_exports",
    "write_validation_exports",
]
