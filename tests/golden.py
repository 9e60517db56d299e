"""Golden events: hand-built *reconstructed* events (objects after the detector stage, given
directly) for the bundled analyses, so that a test can write out from the spec, by hand, what every
variable, model input, cut and signal-region membership must be.

``reco_table(events)`` builds a core table with every field of the ATLAS Run-2 detector output
(defaults below, overridable per object), so that a bundled analysis compiles against it exactly as
it does against the detector. ``model_inputs(analysis, table)`` returns the feature vectors the core
gathers for each model card: the card's own input expressions evaluated in the analysis' context
(its objects and variables), with the card's padding and normalisation applied as the core does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recast_ml import _core
from recast_ml.analysis import (
    Analysis,
    AnalysisResult,
    compile_spec,
    find_definition,
    load_definition,
    table_from_arrays,
)

# one reconstructed object: kinematics plus any detector field (wp_loose, btag_DL1r_77, charge, ...)
Obj = Mapping[str, Any]

_DEFAULTS: dict[str, float | bool] = {"mass": 0.0, "charge": 0.0, "lost": False, "label": 0.0, "jvt": True}


def _schema() -> dict[str, Any]:
    from recast_ml.detector import Detector

    return dict(_core.detector_schema(Detector("atlas_run2")._detector))


def _default(field: str, bool_fields: Sequence[str]) -> float | bool:
    if field in _DEFAULTS:
        return _DEFAULTS[field]
    return False if field in bool_fields else 0.0


def reco_table(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``events``: one mapping per event with optional ``jets``, ``electrons``, ``muons``,
    ``photons``, ``taus``, ``large_r_jets`` (lists of objects with at least pt, eta, phi),
    ``met`` (``{"pt":, "phi":}``) and ``number`` (the event number; default: the index)."""
    import awkward as ak

    schema = _schema()
    collections = {}
    for name, fields in schema["collections"].items():
        bools = schema["bool_fields"].get(name, [])
        rows = []
        for ev in events:
            objs = []
            for o in ev.get(name, []):
                unknown = set(o) - set(fields)
                if unknown:
                    raise KeyError(f"{name}: no fields {sorted(unknown)} in the detector output")
                objs.append({f: o.get(f, _default(f, bools)) for f in fields})
            rows.append(objs)
        arr = (
            ak.Array(rows) if any(rows) else ak.Array([[{f: _default(f, bools) for f in fields}]] * len(events))[:, :0]
        )
        collections[name] = arr
    met = []
    for ev in events:
        m = dict(ev.get("met", {"pt": 0.0, "phi": 0.0}))
        pt, phi = float(m["pt"]), float(m["phi"])
        met.append(
            {
                "pt": pt,
                "phi": phi,
                "x": pt * math.cos(phi),
                "y": pt * math.sin(phi),
                "set": float(m.get("set", 0.0)),
                "truth_pt": pt,
                "truth_phi": phi,
            }
        )
    numbers = [int(ev.get("number", k)) for k, ev in enumerate(events)]
    return table_from_arrays(collections, {"met": ak.Array(met)}, event_number=np.array(numbers, dtype=np.int64))


def compile(analysis: str) -> Analysis:
    """The bundled analysis compiled against the full reconstructed-table layout."""
    return Analysis.for_arrays(analysis, reco_table([{}]))


def passed(result: AnalysisResult, region: str) -> list[bool]:
    return [bool(x) for x in result.region_mask(region)]


def first_failed_cut(ana: Analysis, event: Mapping[str, Any], region: str) -> str | None:
    """The name of the first cut of ``region`` (parents' cuts first) that ``event`` fails, or
    None when it passes them all: read off the region's cutflow for this event alone."""
    cf = ana.run_table(reco_table([event])).cutflow(region)
    n = np.asarray(cf.n)
    for k, name in enumerate(cf.names):
        if k > 0 and n[k] == 0:  # step 0 is the total
            return str(name)
    return None


def model_inputs(analysis: str, table: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per model card: the (n_events, n_inputs) matrix the core feeds to the model (raw input
    expressions evaluated after the analysis' objects and variables, padded and normalised as the
    card says; NaN rows where an input without ``pad`` is missing, i.e. the model is not run)."""
    definition = load_definition(find_definition(analysis))
    spec = definition.spec()
    extra = []
    cards: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for m in spec.get("models", []):
        for t in m["tensors"]:
            for k, i in enumerate(t["inputs"]):
                var = f"golden__{m['name']}__{t['name']}__{k}"
                extra.append({"name": var, "expr": i["expr"]})
                cards.setdefault(m["name"], []).append((var, i))
    spec["variables"] = list(spec["variables"]) + extra
    core = compile_spec(spec, _core.table_schema(dict(table)))
    raw = core.run_table(dict(table), 1, {})
    names = list(raw.variable_names)
    values = raw.variables
    out = {}
    for model, items in cards.items():
        cols = []
        for var, i in items:
            x = values[:, names.index(var)].copy()
            if i["pad"] is not None:
                x[np.isnan(x)] = i["pad"]
            cols.append((x + i["add"]) * i["multiply"])
        out[model] = np.stack(cols, axis=1)
    return out
