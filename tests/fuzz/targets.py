"""The fuzz targets: one small function per parser, run in a forked child on one input file.

A target returns normally when the input was accepted, raises whatever the package raises when it
was refused, and raises :class:`Invalid` when the input was accepted but the result is known to be
wrong (the *silently accepted* outcome: NaN momenta passed on, a model that computes NaN, a
spectrum Pythia did not use). The harness (harness.py) classifies the outcome; targets do not
catch anything. Each target is deterministic, so a (parser, input) pair always gives one outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
SEEDS = HERE / "seeds"
TOY_ANALYSIS = HERE.parent / "data" / "toy_analysis.yaml"


_CACHE: dict[str, Any] = {}  # inputs shared by the cases, built in the parent (warm)


class Invalid(Exception):
    """Raised by a target when an accepted input produced a result known to be wrong."""


def _finite(name: str, values: Any) -> None:
    a = np.asarray(values, dtype=np.float64)
    if a.size and not np.all(np.isfinite(a)):
        raise Invalid(f"{name}: {int(np.count_nonzero(~np.isfinite(a)))} non-finite values accepted")


# ---- event readers ------------------------------------------------------------------------------


def events(path: str, *, format: str = "auto") -> str:
    """HepMC3 / HepMC2 / LHE (plain or gz): stream the whole file in batches of 2 with
    ``recast_ml.iter_events``; every momentum, mass and weight accepted must be finite."""
    import recast_ml

    n = n_particles = 0
    for batch in recast_ml.iter_events(path, batch_size=2, format=format):
        for column in ("px", "py", "pz", "e", "mass", "weight"):
            _finite(column, getattr(batch, column))
        n += len(batch)
        n_particles += batch.n_particles
    return f"{n} events, {n_particles} particles"


# ---- detector cards and card expressions -----------------------------------------------------------


def _toy_events() -> Any:
    import recast_ml

    if "events" not in _CACHE:
        _CACHE["events"] = recast_ml.read_events(SEEDS / "events.hepmc3")
    return _CACHE["events"]


def card(path: str) -> str:
    """Detector card (TOML): ``DetectorCard.load`` + ``Detector`` + ``reconstruct`` of the three
    seed events; every reconstructed pT, eta, phi, mass and MET must be finite."""
    from recast_ml import Detector
    from recast_ml.cards import DetectorCard

    det = Detector(DetectorCard.load(path))
    out = det.reconstruct(_toy_events(), large_r=True)
    import awkward as ak

    for kind in ("electrons", "muons", "photons", "taus", "jets", "large_r_jets"):
        for field in ("pt", "eta", "phi", "mass"):
            _finite(f"{kind}.{field}", ak.to_numpy(ak.flatten(out[kind][field])))
    _finite("met.pt", ak.to_numpy(out["met"]["pt"]))
    return "card loaded"


def card_expr(path: str) -> str:
    """Card expression (spec §13.4): ``recast_ml.cards.Expression`` compiled and evaluated on a
    few kinematic points (any value, NaN included, is fine: the card loader checks ranges)."""
    from recast_ml.cards import Expression

    text = Path(path).read_bytes().decode("utf-8", "replace")
    expr = Expression(text, "fuzz")
    kin = {"pt": [25.0, 100.0], "eta": [0.5, -2.0], "abs_eta": [0.5, 2.0], "phi": [0.0, 1.0], "e": [30.0, 400.0],
           "et": [25.0, 100.0], "m": [0.0, 5.0], "set": [100.0, 300.0], "met": [50.0, 10.0]}  # fmt: skip
    expr.evaluate(**{k: np.array(v) for k, v in kin.items() if k in expr.variables})
    return "expression compiled"


# ---- analysis definitions and expressions -----------------------------------------------------------


def toy_table() -> dict[str, Any]:
    """Four events of jets, electrons and MET (the table of tests/test_analysis.py)."""
    if "table" not in _CACHE:
        _CACHE["table"] = _make_toy_table()
    return _CACHE["table"]  # type: ignore[no-any-return]


def _make_toy_table() -> dict[str, Any]:
    import awkward as ak

    from recast_ml.analysis import table_from_arrays

    def jet(pt: float, eta: float, phi: float) -> dict[str, float]:
        return {"pt": pt, "eta": eta, "phi": phi, "mass": 0.0}

    jets = ak.Array(
        [
            [jet(100, 0, 0), jet(50, 1, 2)],
            [jet(200, 0, 0), jet(80, 0.5, 1), jet(60, -1, -2), jet(45, 2, 3)],
            [jet(100, 0, 0), jet(90, 3, 1)],
            [],
        ]
    )
    el = {"pt": 30.0, "eta": 0.1, "phi": 0.1, "mass": 0.0, "tight": True}
    electrons = ak.Array([[], [dict(el, tight=False)], [el], []])
    met = ak.Array([{"pt": 50.0, "phi": 1.0}, {"pt": 100.0, "phi": 0.0}, {"pt": 10.0, "phi": 0.0}] * 1
                   + [{"pt": 5.0, "phi": 0.0}])  # fmt: skip
    return table_from_arrays({"jets": jets, "electrons": electrons}, {"met": met}, weight=[1.0, 2.0, 0.5, 1.0])


def analysis(path: str) -> str:
    """Analysis definition (YAML): ``Analysis.for_arrays`` + ``run_table`` on the toy table."""
    from recast_ml.analysis import Analysis

    table = toy_table()
    result = Analysis.for_arrays(path, table).run_table(table, cross_section=1.0)
    return f"{len(result.cutflows)} regions"


def expression(path: str) -> str:
    """Analysis expression: ``recast_ml.analysis.evaluate`` (compile + run) on the toy table."""
    from recast_ml.analysis import evaluate

    text = Path(path).read_bytes().decode("utf-8", "replace")
    values = evaluate(text, toy_table())
    return f"{len(values)} values"


# ---- models -------------------------------------------------------------------------------------


def _run_onnx(path: str) -> str:
    """Evaluate an ONNX file with ``recast_ml.OnnxModel`` (the C++ core) on 3 rows: zeros, ones,
    and typical values; every float output must be finite."""
    from recast_ml import OnnxModel

    model = OnnxModel(path)
    feeds = {}
    for t in model.inputs:
        shape = [3 if k == 0 and not isinstance(d, int) else (d if isinstance(d, int) and d > 0 else 1)
                 for k, d in enumerate(t.shape)]  # fmt: skip
        if np.prod(shape) > 10_000_000:
            raise Invalid(f"input {t.name}: shape {t.shape} too large to evaluate")
        x = np.zeros(shape, dtype=np.dtype(t.dtype))
        if x.ndim >= 1 and x.shape[0] >= 3 and x.dtype.kind == "f":
            x[1] = 1.0
            x[2] = 123.5
        feeds[t.name] = x
    outputs = model.run(feeds)
    for name, value in outputs.items():
        if np.asarray(value).dtype.kind == "f":
            _finite(f"output {name}", value)
    return f"{len(outputs)} outputs"


def model(path: str) -> str:
    """TMVA XML / lwtnn JSON / MVAUtils ROOT / ONNX / unknown bytes: ``recast_ml.models.convert_file`` (what
    ``recast-ml models convert`` runs), then the converted file evaluated by :func:`_run_onnx`."""
    from recast_ml.models import convert_file

    out = Path(path).with_name("converted.onnx")
    convert_file(path, out)
    import onnx as onnx_

    try:
        onnx_.checker.check_model(onnx_.load(str(out)), full_check=True)
    except Exception as e:  # the converter must not write what ONNX itself refuses
        raise Invalid(f"the converter wrote an invalid ONNX model ({out.stat().st_size} bytes): {e}") from None
    return _run_onnx(str(out))


def onnx(path: str) -> str:
    """An ONNX file loaded directly by ``recast_ml.OnnxModel`` and evaluated (:func:`_run_onnx`)."""
    return _run_onnx(path)


# ---- arrays given to the event loop ----------------------------------------------------------------

_SPECIAL = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _decode(node: Any) -> Any:
    if isinstance(node, list):
        return [_decode(v) for v in node]
    if isinstance(node, dict):
        return {k: _decode(v) for k, v in node.items()}
    return _SPECIAL.get(node, node) if isinstance(node, str) else node


def arrays(path: str) -> str:
    """``run()`` inputs: a JSON description of flat particle columns (strings "nan"/"inf" for
    special floats, "dtype:<name>" entries casting a column) given to ``EventBatch.from_arrays``,
    then ``Detector("atlas_run2").reconstruct``. The particle columns are the caller's, so NaN
    momenta may be accepted (no oracle) but must not crash."""
    from recast_ml import Detector, EventBatch

    doc = _decode(json.loads(Path(path).read_text()))
    cols = {}
    for key, value in doc["columns"].items():
        dtype = doc.get("dtypes", {}).get(key)
        # astype: numpy's C cast (out-of-range integers wrap), so the package, not np.asarray, sees the column
        cols[key] = np.asarray(value).astype(dtype) if dtype else value
    batch = EventBatch.from_arrays(copy=doc.get("copy", True), **cols)
    if len(batch):
        Detector("atlas_run2").reconstruct(batch, threads=int(doc.get("threads", 1)))
    return f"{len(batch)} events"


def table(path: str) -> str:
    """``run_table()`` inputs: JSON ``{"jets": [[{pt, eta, phi, mass}, ...], ...], "met": [...],
    "weight": [...]}`` through ``table_from_arrays`` into the toy analysis (``run_table``)."""
    import awkward as ak

    from recast_ml.analysis import Analysis, table_from_arrays

    doc = _decode(json.loads(Path(path).read_text()))
    tab = table_from_arrays(
        {"jets": ak.Array(doc["jets"]), "electrons": ak.Array(doc["electrons"])},
        {"met": ak.Array(doc["met"])},
        weight=doc.get("weight"),
    )
    result = Analysis.for_arrays(TOY_ANALYSIS, toy_table()).run_table(tab)
    return f"{len(result.cutflows)} regions"


# ---- SLHA ---------------------------------------------------------------------------------------


def _mass_block(text: str) -> dict[int, float]:
    """PDG id -> mass of the file's MASS block (a minimal reader for the oracle)."""
    masses: dict[int, float] = {}
    inside = False
    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        if re.match(r"(?i)^(block|decay)\b", body):
            inside = bool(re.match(r"(?i)^block\s+mass\b", body))
            continue
        if inside:
            parts = body.split()
            with contextlib.suppress(ValueError, IndexError):
                masses[int(parts[0])] = float(parts[1])
    return masses


def slha(path: str) -> str:
    """SLHA spectrum for Pythia (``recast-ml run --slha F --process gluino``):
    ``recast_ml.run.sample_generator``; the sparticle masses Pythia uses must be the file's
    (a file without a MASS block, or masses Pythia ignored, is silently wrong)."""
    from recast_ml.run import sample_generator
    from recast_ml.slha import SPARTICLES

    gen, _, _ = sample_generator(generate=None, slha_file=path, process="gluino", seed=1, cross_section=1.0)
    text = Path(path).read_bytes().decode("utf-8", "replace")
    masses = _mass_block(text)
    if not masses:
        raise Invalid("no MASS block, yet Pythia was initialised (its default spectrum)")
    data = gen._pythia.particleData
    for pid, m in masses.items():
        if pid in SPARTICLES and np.isfinite(m) and abs(abs(data.m0(pid)) - abs(m)) > 1e-6 * max(1.0, abs(m)):
            raise Invalid(f"mass of {pid}: file {m}, Pythia {data.m0(pid)}")
    return "spectrum used"


#: parser name -> target; the name is the corpus folder and the table row.
TARGETS: dict[str, Callable[..., str]] = {
    "hepmc3": events,
    "hepmc2": events,
    "lhe": events,
    "card": card,
    "card_expr": card_expr,
    "analysis": analysis,
    "expression": expression,
    "tmva": model,
    "lwtnn": model,
    "model_convert": model,
    "mvautils": model,
    "onnx": onnx,
    "arrays": arrays,
    "table": table,
    "slha": slha,
}


def warm() -> None:
    """Imports every module a target needs and builds the shared inputs, in the parent before it
    forks, so that a child spends its time in the parser, not in imports. Once per process."""
    if _CACHE.get("warm"):
        return
    import awkward  # noqa: F401
    import onnx.checker
    import onnx.helper  # noqa: F401
    import uproot  # noqa: F401

    import recast_ml.analysis
    import recast_ml.cards
    import recast_ml.convert.lwtnn
    import recast_ml.convert.mvautils
    import recast_ml.convert.tmva
    import recast_ml.models
    import recast_ml.onnx_tools
    import recast_ml.run

    recast_ml.analysis.Analysis.for_arrays(TOY_ANALYSIS, toy_table())  # YAML loader and schema cached
    _toy_events()
    recast_ml.Detector("atlas_run2")
    _CACHE["warm"] = True


def call(parser: str, path: str, options: dict[str, Any]) -> str:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return TARGETS[parser](path, **options)
