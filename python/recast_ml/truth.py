"""Truth classification of event particles (detector spec §2), computed by the C++ core."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from .cards import DetectorCard
from .events import EventBatch

log = logging.getLogger(__name__)

#: Flag name -> bit of :attr:`TruthClassification.flags`.
FLAGS: dict[str, int] = dict(_core.TRUTH_FLAGS)


@dataclass(frozen=True)
class TruthClassification:
    """Per-particle flag bits (one per particle of the batch) and the hadronic taus."""

    flags: npt.NDArray[np.uint16]
    taus: Any  # awkward: var * {index, px, py, pz, e, prongs, charge3}
    heavy_charged: int
    hadron_free: npt.NDArray[np.uint8]  # per event: no hadrons in the record (parton-level sample)

    def mask(self, name: str) -> npt.NDArray[np.bool_]:
        """Boolean mask of particles with flag ``name`` (see :data:`FLAGS`)."""
        mask: npt.NDArray[np.bool_] = (self.flags & FLAGS[name]) != 0
        return mask


def classify(
    events: EventBatch, card: DetectorCard | str | os.PathLike[str] | None = "atlas_run2", *, threads: int = 1
) -> TruthClassification:
    """Classify all particles: stable, invisible, lost, prompt, jet input, weakly-decaying b/c
    hadrons, hadronic taus (visible momentum, prongs, charge)."""
    import awkward as ak

    if card is not None and not isinstance(card, DetectorCard):
        card = DetectorCard.load(card)
    out = _core.classify_truth(events._batch, None if card is None else card._card, threads)
    t = out["taus"]
    fields = ["index", "px", "py", "pz", "e", "prongs", "charge3"]
    record = ak.contents.RecordArray([ak.contents.NumpyArray(t[f]) for f in fields], fields)
    taus = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(t["offsets"]), record))
    if out["heavy_charged"]:
        log.warning(
            "%d stable charged BSM particles met: not covered by detector emulation v1 (spec §2.2)",
            out["heavy_charged"],
        )
    return TruthClassification(
        flags=out["flags"], taus=taus, heavy_charged=int(out["heavy_charged"]), hadron_free=out["hadron_free"]
    )
