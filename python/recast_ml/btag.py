"""Jet flavour labels and b-tagging (detector spec §9), computed by the C++ core."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from .cards import DetectorCard
from .events import EventBatch

LABELS = {"light": 0, "c": 4, "b": 5, "tau": 15}


class BTagger:
    """b-tagging of a detector card: ``BTagger("atlas_run2").tag_jets(events)``."""

    def __init__(self, card: DetectorCard | str | os.PathLike[str] = "atlas_run2") -> None:
        self.card = card if isinstance(card, DetectorCard) else DetectorCard.load(card)
        self._tagger = _core.BTagger(self.card._card)

    @property
    def working_points(self) -> list[str]:
        """Working-point names in bit order."""
        return list(self._tagger.working_points)

    def probability(self, wp: str, label: str, pt: npt.ArrayLike, abs_eta: float) -> npt.NDArray[np.float64]:
        """Tag probability (§9.2) of jets with truth ``label`` at truth ``pt`` and ``abs_eta``."""
        pts = np.atleast_1d(np.asarray(pt, dtype=np.float64))
        return self._tagger.probability(self.working_points.index(wp), LABELS[label], pts, float(abs_eta))

    def tag_jets(self, events: EventBatch, *, run_seed: int = 1, first_event_key: int = 0, threads: int = 1) -> Any:
        """Truth jets (card's anti-kt R and truth_pt_min, §2.7 inputs) with flavour ``label``
        (0 light, 4 c, 5 b, 15 tau) and the working-point bit mask ``btag``, as an awkward array."""
        import awkward as ak

        cols = self._tagger.tag_jets(events._batch, self.card._card, run_seed, first_event_key, threads)
        fields = ["pt", "eta", "phi", "mass", "label", "btag"]
        record = ak.contents.RecordArray([ak.contents.NumpyArray(cols[f]) for f in fields], fields)
        return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(cols["jet_offsets"]), record))
