"""Jet clustering of columnar events with FastJet in the C++ core (all events in one call, GIL
released, optional threads, deterministic output order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
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
) -> Any:
    """Inclusive jets of every event as an awkward array
    ``var * {px, py, pz, e, pt, eta, phi, mass, constituents}``, sorted by descending pT (ties:
    smallest constituent index first). ``inputs`` is a per-particle mask (default: status == 1);
    ``constituents`` are event-local particle indices."""
    import awkward as ak

    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown jet algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    mask = None if inputs is None else np.ascontiguousarray(inputs, dtype=np.uint8)
    cols = _core.cluster_jets(events._batch, mask, algorithm, float(R), float(pt_min), int(threads))
    contents = [ak.contents.NumpyArray(cols[f]) for f in _JET_FIELDS]
    contents.append(
        ak.contents.ListOffsetArray(
            ak.index.Index64(cols["constituent_offsets"]), ak.contents.NumpyArray(cols["constituents"])
        )
    )
    record = ak.contents.RecordArray(contents, [*_JET_FIELDS, "constituents"])
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(cols["jet_offsets"]), record))
