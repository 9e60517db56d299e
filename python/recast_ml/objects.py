"""The objects of one detector pass over a chunk of events (``Detector.reconstruct_table``),
shared by every analysis compiled for the card (``Analysis.run_objects``; ``run_batches`` does
this: one detector pass per chunk and card). The columns stay in C++; ``collection(name)`` and
``to_awkward()`` are awkward arrays over zero-copy views of the flat float64 columns + offsets."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core


class ObjectTable:
    """Reconstructed objects of a chunk: collections electrons, muons, photons, taus, jets,
    large_r_jets (empty unless ``large_r``) and the record met, with the fields the analyses see
    (``Analysis.schema``). Immutable."""

    def __init__(self, core: _core.ObjectTable, *, card_hash: str, card_name: str) -> None:
        self.core = core
        self.card_hash = card_hash
        self.card_name = card_name

    def __len__(self) -> int:
        return int(self.core.n_events)

    def __repr__(self) -> str:
        return f"<ObjectTable {len(self)} events, card {self.card_name!r}, large_r={self.large_r}>"

    @property
    def n_events(self) -> int:
        return int(self.core.n_events)

    @property
    def large_r(self) -> bool:
        """Whether large-R jets were reconstructed (else ``large_r_jets`` is empty)."""
        return bool(self.core.large_r)

    @property
    def first_event_key(self) -> int:
        return int(self.core.first_event_key)

    @property
    def collections(self) -> list[str]:
        return list(self.core.collections)

    @property
    def records(self) -> list[str]:
        return list(self.core.records)

    @property
    def weight(self) -> npt.NDArray[np.float64]:
        return self.core.weight

    @property
    def event_number(self) -> npt.NDArray[np.int64]:
        return self.core.event_number

    def _record_content(self, name: str) -> Any:
        import awkward as ak

        fields = self.core.fields(name)
        return ak.contents.RecordArray(
            [ak.contents.NumpyArray(v) for v in fields.values()], list(fields), length=self.n_events
        )

    def collection(self, name: str) -> Any:
        """A collection (``var * {field: float64}``, one list per event) or a record
        (``{field: float64}``, e.g. ``met``) as an awkward array over the table's memory.
        0/1 flag fields (``bool_fields(name)``) are float64 like the others."""
        import awkward as ak

        return ak.Array(self._content(name))

    def _content(self, name: str) -> Any:
        import awkward as ak

        if name in self.core.collections:
            fields = self.core.fields(name)
            offsets = self.core.offsets(name)
            n_objects = int(offsets[-1])
            record = ak.contents.RecordArray(
                [ak.contents.NumpyArray(v) for v in fields.values()], list(fields), length=n_objects
            )
            return ak.contents.ListOffsetArray(ak.index.Index64(offsets), record)
        if name in self.core.records:
            return self._record_content(name)
        raise KeyError(f"no collection or record {name!r} (collections: {self.collections}; records: {self.records})")

    def bool_fields(self, name: str) -> list[str]:
        return list(self.core.bool_fields(name))

    def to_awkward(self) -> Any:
        """All collections and records as one awkward array of events (record fields by name)."""
        import awkward as ak

        names = [*self.collections, *self.records]
        return ak.Array(ak.contents.RecordArray([self._content(n) for n in names], names, length=self.n_events))
