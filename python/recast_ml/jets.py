"""Jet clustering of columnar events with FastJet in the C++ core (all events in one call, GIL
released, optional threads, deterministic output order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError
from .events import EventBatch

ALGORITHMS = ("antikt", "kt", "cambridge")
_JET_FIELDS = ("px", "py", "pz", "e", "pt", "eta", "phi", "mass")


def cluster(
    events: EventBatch,
    *,
    R: float = 0.4,
    algorithm: str = "antikt",
    pt_min: float = 0.0,
    inputs: npt.ArrayLike | None = None,
    threads: int = 1,
    trimming: tuple[float, float] | None = None,
    softdrop: tuple[float, float, float] | None = None,
    nsubjettiness: int = 0,
) -> Any:
    """Inclusive jets of every event as an awkward array
    ``var * {px, py, pz, e, pt, eta, phi, mass, constituents}``, sorted by descending pT (ties:
    smallest constituent index first). ``inputs`` is a per-particle mask (default: status == 1);
    ``constituents`` are event-local particle indices.

    Grooming (§8.6; ``pt_min`` applies to the groomed jet): ``trimming=(r_sub, f_cut)`` keeps the
    kt subjets of radius r_sub above f_cut x the jet pT; ``softdrop=(beta, z_cut, R0)`` declusters
    with Cambridge/Aachen. ``nsubjettiness=N`` adds ``tau1 .. tauN`` (beta = 1, exclusive-kt
    winner-take-all axes, normalised by sum pT x R) computed on the (groomed) constituents."""

    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown jet algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if trimming is not None and softdrop is not None:
        raise ConfigError("give either trimming or softdrop, not both")
    grooming = {}
    if trimming is not None:
        grooming = {"grooming": "trimming", "r_sub": float(trimming[0]), "f_cut": float(trimming[1])}
    if softdrop is not None:
        grooming = {"grooming": "softdrop", "beta": float(softdrop[0]), "z_cut": float(softdrop[1])}
        grooming["R0"] = float(softdrop[2])
    mask = None if inputs is None else np.ascontiguousarray(inputs, dtype=np.uint8)
    cols = _core.cluster_jets(
        events._batch,
        mask,
        algorithm,
        float(R),
        float(pt_min),
        int(threads),
        n_subjettiness=int(nsubjettiness),
        **grooming,  # type: ignore[arg-type]
    )
    return _jets_to_awkward(cols, "constituents")


def recluster(jets: Any, *, R: float = 1.0, pt_min: float = 0.0, f_cut: float = 0.0, use: Any = None) -> Any:
    """Reclustered jets (e.g. ATLAS RC jets): per event, the input objects (an awkward
    ``var * {pt, eta, phi, mass}`` collection, typically calibrated small-R jets; ``use`` an
    optional boolean mask of the same shape) clustered with anti-kt radius ``R``; inputs with
    pT < ``f_cut`` x pT(reclustered jet) are dropped (trimming), then jets below ``pt_min``.
    Returns ``var * {px, py, pz, e, pt, eta, phi, mass, inputs}`` with ``inputs`` the indices of the
    input objects in their event."""
    import awkward as ak

    counts = ak.to_numpy(ak.num(jets, axis=1)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pt, eta, phi, mass = (
        np.asarray(ak.to_numpy(ak.flatten(jets[f])), dtype=np.float64) for f in ("pt", "eta", "phi", "mass")
    )
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    mask = None if use is None else np.ascontiguousarray(ak.to_numpy(ak.flatten(use)), dtype=np.uint8)
    cols = _core.recluster_jets(offsets, px, py, pz, e, mask, float(R), float(pt_min), float(f_cut))
    return _jets_to_awkward(cols, "inputs")


def _jets_to_awkward(cols: dict[str, Any], constituents_name: str) -> Any:
    import awkward as ak

    contents = [ak.contents.NumpyArray(cols[f]) for f in _JET_FIELDS]
    contents.append(
        ak.contents.ListOffsetArray(
            ak.index.Index64(cols["constituent_offsets"]), ak.contents.NumpyArray(cols["constituents"])
        )
    )
    names = [*_JET_FIELDS, constituents_name]
    n_tau = int(cols["n_tau"])
    if n_tau:
        tau = cols["tau"].reshape(-1, n_tau)
        contents += [ak.contents.NumpyArray(np.ascontiguousarray(tau[:, k])) for k in range(n_tau)]
        names += [f"tau{k + 1}" for k in range(n_tau)]
    record = ak.contents.RecordArray(contents, names)
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(cols["jet_offsets"]), record))
