"""HEPData submission YAML: ``submission.yaml`` plus one data file per table.

The layout is the one ``hepdata_lib`` writes and ``hepdata-validator`` checks (schema 1.1.1):
each table has ``independent_variables`` and ``dependent_variables``, every variable a
``header: {name, units}`` and ``values`` (``{value}``, with ``errors: [{symerror, label}]`` for
measured numbers); dependent variables carry ``qualifiers`` (√s, luminosity, cross section,
sample). A missing number (no published S95 for an r, a ratio to 0) is written as ``'-'``, HEPData's
mark for it. Tables:

* ``recast-ml run``: per analysis the signal regions (signal ± MC error, MC events, b ± Δb, n_obs,
  CLs_obs/exp, r_obs/exp, r_cons) and one cutflow per region (MC events, events at σ × L ± MC
  error, cumulative efficiency);
* ``recast-ml validate``: per benchmark and kind (cutflow, yield) the comparison recast / published
  (published, ours ± MC error, ratio ± error, status), and the cutflows of the regions that
  ``validation.yaml`` tabulates (``cutflow_tables:``, where nothing published is compared).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the longest table name the HEPData submission schema allows
MAX_NAME = 64
MISSING = "-"


def _number(x: Any) -> float | str:
    """A finite number as float, anything else (None, NaN, inf) as HEPData's missing mark."""
    if x is None or isinstance(x, bool):
        return MISSING
    try:
        v = float(x)
    except (TypeError, ValueError):
        return MISSING
    return v if math.isfinite(v) else MISSING


def variable(
    name: str,
    values: Sequence[Any],
    *,
    units: str | None = None,
    errors: Sequence[Any] | None = None,
    error_label: str = "stat",
    qualifiers: Sequence[Mapping[str, Any]] = (),
    errors_up: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """One HEPData variable; strings stay strings (labels), numbers are checked finite; a symmetric
    error per value where ``errors`` is given (finite and not 0: HEPData refuses zero errors), or an
    asymmetric one (``asymerror``: + ``errors_up[k]``, − ``errors[k]``) where ``errors_up[k]`` is
    given (not None), e.g. the one-sided upper MC error of a step with no MC event."""
    header: dict[str, Any] = {"name": name}
    if units is not None:
        header["units"] = units
    out_values = []
    for k, v in enumerate(values):
        entry: dict[str, Any] = {"value": v if isinstance(v, str) else _number(v)}
        if errors is not None and not isinstance(entry["value"], str):
            err = _number(errors[k])
            up = _number(errors_up[k]) if errors_up is not None and errors_up[k] is not None else None
            if up is not None and not isinstance(up, str) and not isinstance(err, str) and up != 0:
                # 0.0 - err: a zero downward error is written 0.0, not -0.0
                entry["errors"] = [{"asymerror": {"plus": up, "minus": 0.0 - err}, "label": error_label}]
            elif not isinstance(err, str) and err != 0:  # HEPData refuses all-zero errors: none given
                entry["errors"] = [{"symerror": err, "label": error_label}]
        out_values.append(entry)
    var: dict[str, Any] = {"header": header}
    if qualifiers:
        var["qualifiers"] = [dict(q) for q in qualifiers]
    var["values"] = out_values
    return var


@dataclass
class Table:
    """One HEPData table: its submission.yaml entry and its data file."""

    name: str
    description: str
    independent: list[dict[str, Any]]
    dependent: list[dict[str, Any]]
    keywords: list[dict[str, Any]] = field(default_factory=list)
    data_file: str = ""

    def data(self) -> dict[str, Any]:
        return {"independent_variables": self.independent, "dependent_variables": self.dependent}

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "keywords": self.keywords,
            "data_file": self.data_file,
        }


# ------------------------------------------------------------------------------------------------
# YAML emission. PyYAML's representer (pure Python even with libyaml's emitter) took 0.2 s of a
# 2 s `recast-ml run` for the ~90 small documents of a submission; the documents here hold only
# mappings with string keys, lists, strings, numbers, booleans and None, which this writes in
# PyYAML's block layout. tests/test_exports.py checks that yaml.safe_load reads back every value
# exactly (awkward strings, floats, nesting) and hepdata-validator checks the files.
# ------------------------------------------------------------------------------------------------
#: a string written without quotes: starts with a letter, only harmless characters, and not a
#: word YAML 1.1 reads as a boolean or null
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ ()./+-]*[A-Za-z0-9_)./+-]\Z|[A-Za-z]\Z")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
#: characters YAML treats as line breaks or a byte-order mark: escaped even in a unicode file
_BREAKS = re.compile("[\x85\u2028\u2029\ufeff]")


def _scalar(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return int.__repr__(x)
    if isinstance(x, float):
        if math.isnan(x):
            return ".nan"
        if math.isinf(x):
            return ".inf" if x > 0 else "-.inf"
        text = float.__repr__(x)
        if "." not in text and "e" in text:  # YAML 1.1 (PyYAML) reads 1e-07 as a string
            mantissa, exp = text.split("e")
            text = f"{mantissa}.0e{exp}"
        return text
    if isinstance(x, str):
        if _PLAIN.match(x) and x.lower() not in _RESERVED:
            return x
        if x.isprintable() and not _BREAKS.search(x):
            return "'" + x.replace("'", "''") + "'"
        return _double_quoted(x)
    raise TypeError(f"cannot write {type(x).__name__} to HEPData YAML")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(x: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped with YAML's
    own escapes (\\xXX, \\uXXXX, \\UXXXXXXXX: a character beyond U+FFFF is one escape, not
    a JSON surrogate pair, which YAML does not join)."""
    out = ['"']
    for ch in x:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and not _BREAKS.match(ch):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _emit(x: Any, indent: str, out: list[str]) -> None:
    """Block YAML of a non-empty mapping or list at ``indent`` (lists under a key not indented,
    as PyYAML writes them)."""
    if isinstance(x, Mapping):
        for k, v in x.items():
            key = _scalar(str(k))
            if isinstance(v, Mapping) and v:
                out.append(f"{indent}{key}:")
                _emit(v, indent + "  ", out)
            elif isinstance(v, list) and v:
                out.append(f"{indent}{key}:")
                _emit(v, indent, out)
            else:
                out.append(f"{indent}{key}: {_flow(v)}")
        return
    for v in x:
        if isinstance(v, (Mapping, list)) and v:
            first = len(out)
            _emit(v, indent + "  ", out)
            out[first] = indent + "- " + out[first][len(indent) + 2 :]
        else:
            out.append(f"{indent}- {_flow(v)}")


def _flow(v: Any) -> str:
    if isinstance(v, Mapping):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def dump_yaml(doc: Any) -> str:
    """``doc`` (mappings with string keys, lists, str, int, float, bool, None) as block YAML that
    ``yaml.safe_load`` reads back equal."""
    if not isinstance(doc, (Mapping, list)) or not doc:
        return _flow(doc) + "\n"
    out: list[str] = []
    _emit(doc, "", out)
    return "\n".join(out) + "\n"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") + ".yaml"


def write_submission(folder: Path, tables: Sequence[Table], comment: str) -> dict[str, Any]:
    """Writes ``submission.yaml`` and the tables' data files into ``folder`` (created); table
    names are made unique and at most 64 characters. Returns the description for
    ``results.json`` (paths relative to the folder's parent)."""
    folder.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    files: set[str] = set()
    docs: list[dict[str, Any]] = [{"comment": comment}]
    for t in tables:
        name = t.name if len(t.name) <= MAX_NAME else t.name[: MAX_NAME - 4] + "..."
        k = 1
        while name in names:
            k += 1
            suffix = f" ({k})"
            name = (t.name if len(t.name) + len(suffix) <= MAX_NAME else t.name[: MAX_NAME - len(suffix)]) + suffix
        names.add(name)
        t.name = name
        file = t.data_file or _file_name(name)
        stem, j = file[: -len(".yaml")], 1
        while file in files:
            j += 1
            file = f"{stem}_{j}.yaml"
        files.add(file)
        t.data_file = file
        (folder / file).write_text(dump_yaml(t.data()), encoding="utf-8")
        docs.append(t.entry())
    (folder / "submission.yaml").write_text("---\n".join(dump_yaml(d) for d in docs), encoding="utf-8")
    return {
        "submission": f"{folder.name}/submission.yaml",
        "tables": [{"name": t.name, "file": f"{folder.name}/{t.data_file}"} for t in tables],
        "format": "HEPData submission YAML (schema 1.1.1; hepdata_lib / hepdata-validator)",
    }


def _sqrt_s_gev(doc: Mapping[str, Any]) -> float | None:
    s = doc["analysis"].get("sqrt_s")
    return None if s is None else float(s) * 1000.0


def _qualifiers(doc: Mapping[str, Any], sample: str) -> list[dict[str, Any]]:
    q: list[dict[str, Any]] = []
    sqrt_s = _sqrt_s_gev(doc)
    if sqrt_s is not None:
        q.append({"name": "SQRT(S)", "value": sqrt_s, "units": "GeV"})
    lumi = doc["sample"].get("luminosity_fb")
    if lumi is not None:
        q.append({"name": "LUMINOSITY", "value": float(lumi), "units": "fb$^{-1}$"})
    xs = doc["sample"].get("cross_section_pb")
    if xs is not None:
        q.append({"name": "Signal cross section", "value": float(xs), "units": "pb"})
    q.append({"name": "Signal sample", "value": sample})
    return q


def _keywords(doc: Mapping[str, Any], observables: Sequence[str], phrases: Sequence[str]) -> list[dict[str, Any]]:
    kw: list[dict[str, Any]] = []
    sqrt_s = _sqrt_s_gev(doc)
    if sqrt_s is not None:
        kw.append({"name": "cmenergies", "values": [sqrt_s]})
    kw.append({"name": "observables", "values": list(observables)})
    kw.append({"name": "phrases", "values": list(phrases)})
    return kw


def signal_region_table(doc: Mapping[str, Any], sample: str) -> Table | None:
    """The SRs of one analysis' results document with their statistics (None without any)."""
    regions = doc.get("statistics", {}).get("regions") or []
    if not regions:
        return None
    aid = str(doc["analysis"]["id"])
    q = _qualifiers(doc, sample)
    lumi = doc["sample"].get("luminosity_fb")
    at = f"events at {lumi:g} fb$^{{-1}}$" if lumi is not None else "events"

    def col(key: str) -> list[Any]:
        return [r.get(key) for r in regions]

    dependent = [
        variable("Signal", col("signal"), units=at, errors=col("signal_error"), error_label="MC stat", qualifiers=q),
        variable("Signal MC events", col("mc_events"), qualifiers=q),
        variable("Background (published)", col("b"), units=at, errors=col("b_err"), error_label="total"),
        variable("Observed (published)", col("n_obs"), units=at),
        variable("CLs observed", col("cls_obs"), qualifiers=q),
        variable("CLs expected", col("cls_exp"), qualifiers=q),
        variable("r observed", col("r_obs"), qualifiers=q),
        variable("r expected", col("r_exp"), qualifiers=q),
        variable("r_cons observed", col("r_cons_obs"), qualifiers=q),
    ]
    return Table(
        name=f"{aid} signal regions",
        description=(
            f"{aid}: signal yield of recast_ml per signal region (MC statistical error) with the published "
            "background and observed events; CLs (pyhf uncorrelated-background model, qtilde, asymptotic) and "
            "r = s/S95 with the published 95% CL limits; r_cons = (s - 1.96 x MC error)/S95_obs."
        ),
        independent=[variable("Signal region", [str(r["region"]) for r in regions])],
        dependent=dependent,
        keywords=_keywords(doc, ["N", "CLs"], ["Signal regions", "Reinterpretation"]),
    )


def cutflow_tables(
    doc: Mapping[str, Any], sample: str, regions: Sequence[str] | None = None, label: str = ""
) -> list[Table]:
    """One cutflow table per region of one analysis' results document (``regions``: only those;
    ``label`` is appended to the table names, e.g. the benchmark)."""
    aid = str(doc["analysis"]["id"])
    q = _qualifiers(doc, sample)
    lumi = doc["sample"].get("luminosity_fb")
    at = f"events at {lumi:g} fb$^{{-1}}$" if lumi is not None else "events"
    out = []
    for reg in doc["regions"]:
        if regions is not None and reg["name"] not in regions:
            continue
        steps = reg["cutflow"]
        dependent = [variable("MC events", [s["n"] for s in steps], qualifiers=q)]
        if all("yield" in s for s in steps):
            dependent.append(
                variable(
                    "Signal",
                    [s["yield"] for s in steps],
                    units=at,
                    errors=[s["yield_error"] for s in steps],
                    error_label="MC stat",
                    qualifiers=q,
                )
            )
        dependent.append(variable("Cumulative efficiency", [s["efficiency_cumulative"] for s in steps], qualifiers=q))
        out.append(
            Table(
                name=f"{aid} cutflow {reg['name']}" + (f" {label}" if label else ""),
                description=f"{aid}: cutflow of region {reg['name']} (recast_ml), MC events and events at sigma x L.",
                independent=[variable("Cut", [str(s["name"]) for s in steps])],
                dependent=dependent,
                keywords=_keywords(doc, ["N"], ["Cutflow", "Reinterpretation"]),
            )
        )
    return out


def run_tables(summary: Mapping[str, Any]) -> list[Table]:
    """The tables of a ``recast-ml run`` results document: per analysis its SRs and cutflows."""
    inp = summary.get("input", {})
    sample = str(inp.get("generate") or inp.get("slha") or ", ".join(inp.get("events") or []) or "sample")
    tables: list[Table] = []
    for doc in summary["analyses"]:
        sr = signal_region_table(doc, sample)
        if sr is not None:
            tables.append(sr)
        tables += cutflow_tables(doc, sample)
    return tables


def validation_tables(
    analysis_id: str, comparisons: Sequence[Mapping[str, Any]], benchmarks: Mapping[str, Mapping[str, Any]]
) -> list[Table]:
    """Per benchmark and kind (cutflow, yield): recast vs the published numbers (``summary.json``
    ``comparisons`` entries). Cutflow values are efficiencies relative to the published
    normalisation step; yields are events at sigma x L."""
    tables = []
    for kind in ("cutflow", "yield"):
        for bench in sorted({str(c["benchmark"]) for c in comparisons if c["kind"] == kind}):
            cs = [c for c in comparisons if c["kind"] == kind and str(c["benchmark"]) == bench]
            info = benchmarks.get(bench, {})
            q: list[dict[str, Any]] = [{"name": "Benchmark", "value": bench}]
            if "model" in info:
                masses = ",".join(f"{m:g}" for m in info.get("masses", []))
                q.append({"name": "Model", "value": f"{info['model']}:{masses}"})
            if "cross_section_pb" in info:
                q.append({"name": "Signal cross section", "value": float(info["cross_section_pb"]), "units": "pb"})
            units = None if kind == "cutflow" else "events"  # cutflows: efficiencies, dimensionless
            tables.append(
                Table(
                    name=f"{analysis_id} validation {kind} {bench}",
                    description=(
                        f"{analysis_id}: recast_ml vs the published {kind}"
                        + (" (efficiency relative to the published normalisation step)" if kind == "cutflow" else "")
                        + f", benchmark {bench}; ratio = recast_ml / published with the MC error; "
                        "status: within the tolerance (passed), outside but MC-limited, or failed."
                    ),
                    independent=[variable("Step", [f"{c['region']}: {c['step']}" for c in cs])],
                    dependent=[
                        variable("Published", [c["published"] for c in cs], units=units, qualifiers=q),
                        variable(
                            "recast_ml",
                            [c["ours"] for c in cs],
                            units=units,
                            errors=[c["ours_error"] for c in cs],
                            errors_up=[c.get("ours_error_up") for c in cs],
                            error_label="MC stat",
                            qualifiers=q,
                        ),
                        variable(
                            "Ratio recast_ml/published",
                            [c["ratio"] for c in cs],
                            errors=[c["ratio_error"] for c in cs],
                            errors_up=[c.get("ratio_error_up") for c in cs],
                            error_label="MC stat",
                            qualifiers=q,
                        ),
                        variable("Tolerance", [c["tolerance"] for c in cs], qualifiers=q),
                        variable("Status", [str(c["status"]) for c in cs], qualifiers=q),
                    ],
                    keywords=[
                        {"name": "observables", "values": ["EFF" if kind == "cutflow" else "N"]},
                        {"name": "phrases", "values": ["Validation", "Cutflow" if kind == "cutflow" else "Yields"]},
                    ],
                )
            )
    return tables


__all__ = [
    "MISSING",
    "Table",
    "cutflow_tables",
    "run_tables",
    "signal_region_table",
    "validation_tables",
    "variable",
    "write_submission",
]
