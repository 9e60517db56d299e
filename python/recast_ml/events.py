"""Columnar event batches (the event model of the C++ core) and their numpy/awkward views."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core

_PARTICLE_COLUMNS = ("px", "py", "pz", "e", "mass", "pid", "status", "charge3")


class EventBatch:
    """Particles of many events as flat columns plus offsets.

    Columns are read-only numpy views of the C++ storage (no copies). Momenta and masses are in
    GeV; ``status`` follows the HepMC convention (1 final, 2 decayed, 4 beam, 11-200 generator
    specific); ``charge3`` is three times the electric charge; the parents of particle ``i`` are
    ``parents[parent_offsets[i]:parent_offsets[i+1]]`` as event-local indices.
    """

    __slots__ = ("_batch", "variation_weights")

    def __init__(self, batch: _core.EventBatch | _core.EventArrays | None = None) -> None:
        self._batch = batch if batch is not None else _core.EventBatch()
        #: the generator's variation weights per event (member name -> float64 array of
        #: ``n_events``; :mod:`recast_ml.variations`), empty when the source gave none
        self.variation_weights: dict[str, npt.NDArray[np.float64]] = {}

    @property
    def borrowed(self) -> bool:
        """True if the columns are the caller's numpy arrays (``from_arrays(..., copy=False)``)."""
        return isinstance(self._batch, _core.EventArrays)

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        offsets: npt.ArrayLike,
        px: npt.ArrayLike,
        py: npt.ArrayLike,
        pz: npt.ArrayLike,
        e: npt.ArrayLike,
        pid: npt.ArrayLike,
        status: npt.ArrayLike,
        *,
        mass: npt.ArrayLike | None = None,
        parent_offsets: npt.ArrayLike | None = None,
        parents: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        event_number: npt.ArrayLike | None = None,
        source: str = "<arrays>",
        copy: bool = True,
    ) -> EventBatch:
        """Build a batch from flat numpy columns.

        With ``copy=False`` the arrays are used in place by the C++ core (zero copy); they must
        then already have the core's dtypes (offsets, parent_offsets, event_number: int64;
        momenta, mass, weight: float64; pid, status, parents: int32) and be contiguous, and must
        not be modified while the batch is in use. With ``copy=True`` (default) anything
        array-like is converted and copied once.

        ``mass`` defaults to sqrt(E^2 - p^2); charges are computed from the PDG ids. NaN momenta
        and masses are accepted (missing values); infinite ones are not. Columns that are not
        1-d, have a non-numeric dtype or values outside their integer type (pid, status and parents
        are int32), inconsistent sizes, offsets or parent indices, and non-finite weights raise
        :class:`recast_ml.InputError` naming the column, the event and the particle.
        """
        factory = _core.EventBatch.from_arrays if copy else _core.EventArrays.from_arrays
        return cls(
            factory(
                offsets,
                px,
                py,
                pz,
                e,
                pid,
                status,
                mass=mass,
                parent_offsets=parent_offsets,
                parents=parents,
                weight=weight,
                event_number=event_number,
                source=source,
            )
        )

    @classmethod
    def from_awkward(
        cls, particles: Any, *, weight: npt.ArrayLike | None = None, source: str = "<awkward>"
    ) -> EventBatch:
        """Build a batch from an awkward array of events with particle fields
        ``px, py, pz, e (or E), pid`` and optionally ``status`` (default 1) and ``mass``.
        Malformed input raises :class:`recast_ml.InputError` naming the field."""
        import awkward as ak

        def bad(what: str) -> _core.InputError:
            return _core.InputError(f"{source}: {what}")

        try:
            particles = ak.Array(particles)
            fields = set(ak.fields(particles))
        except Exception as e:  # not something awkward can read
            raise bad(f"cannot read the particles as an awkward array ({type(e).__name__}: {e})") from e
        energy = "e" if "e" in fields else "E"
        missing = {"px", "py", "pz", energy, "pid"} - fields
        if missing:
            raise bad(f"awkward particles need fields {sorted(missing)}, got {sorted(fields)}")
        if particles.ndim != 2:
            shape = "var * {px, py, pz, e, pid, ...}"
            raise bad(f"expected events of particle records ({shape}), got type {ak.type(particles)}")
        try:
            counts = ak.to_numpy(ak.fill_none(ak.num(particles, axis=1), 0)).astype(np.int64)
        except Exception as e:
            raise bad(f"cannot count the particles of each event ({type(e).__name__}: {e})") from e
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

        def col(name: str) -> npt.NDArray[Any]:
            """A flat field as numpy (dtype and range are checked by from_arrays); None = NaN."""
            try:
                values = ak.to_numpy(ak.flatten(particles[name], axis=1), allow_missing=True)
            except Exception as e:
                raise bad(f"field {name!r} must hold one number per particle ({type(e).__name__}: {e})") from e
            if isinstance(values, np.ma.MaskedArray):
                if values.dtype.kind != "f" or name == "pid":
                    raise bad(f"field {name!r} has missing values (None); only float fields may (as NaN)")
                values = values.filled(np.nan)
            return np.asarray(values)

        n = int(offsets[-1])
        status = col("status") if "status" in fields else np.ones(n, np.int32)
        mass = col("mass") if "mass" in fields else None
        return cls.from_arrays(
            offsets,
            col("px"),
            col("py"),
            col("pz"),
            col(energy),
            col("pid"),
            status,
            mass=mass,
            weight=weight,
            source=source,
        )

    @classmethod
    def concatenate(cls, batches: Iterable[EventBatch]) -> EventBatch:
        """The events of ``batches`` in order, as one batch: their variation weights where all carry
        the same members, their source where all have the same one (the chunks of one file)."""
        out = cls()
        core = out._batch
        assert isinstance(core, _core.EventBatch)
        parts = list(batches)
        for b in parts:
            core.append(b._batch)
        if parts and all(b.source == parts[0].source for b in parts):  # e.g. the chunks of one file
            core.source = parts[0].source
        names = [set(b.variation_weights) for b in parts]
        if parts and names[0] and all(n == names[0] for n in names):
            out.variation_weights = {  # in the first batch's order (the order they are written in)
                m: np.concatenate([b.variation_weights[m] for b in parts]) for m in parts[0].variation_weights
            }
        return out

    # ---- sizes and metadata ------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._batch.n_events)

    @property
    def n_events(self) -> int:
        return int(self._batch.n_events)

    @property
    def n_particles(self) -> int:
        return int(self._batch.n_particles)

    @property
    def source(self) -> str:
        return str(self._batch.source)

    @property
    def cross_section_pb(self) -> float:
        """Cross section given by the source in pb (NaN if it gave none)."""
        return float(self._batch.cross_section_pb)

    @property
    def cross_section_error_pb(self) -> float:
        return float(self._batch.cross_section_error_pb)

    def __repr__(self) -> str:
        return f"<EventBatch {self.n_events} events, {self.n_particles} particles from {self.source!r}>"

    # ---- columns (zero-copy views) -----------------------------------------------------------
    @property
    def event_number(self) -> npt.NDArray[np.int64]:
        return self._batch.event_number

    @property
    def weight(self) -> npt.NDArray[np.float64]:
        return self._batch.weight

    @property
    def particle_offsets(self) -> npt.NDArray[np.int64]:
        return self._batch.particle_offsets

    @property
    def px(self) -> npt.NDArray[np.float64]:
        return self._batch.px

    @property
    def py(self) -> npt.NDArray[np.float64]:
        return self._batch.py

    @property
    def pz(self) -> npt.NDArray[np.float64]:
        return self._batch.pz

    @property
    def e(self) -> npt.NDArray[np.float64]:
        return self._batch.e

    @property
    def mass(self) -> npt.NDArray[np.float64]:
        return self._batch.mass

    @property
    def pid(self) -> npt.NDArray[np.int32]:
        return self._batch.pid

    @property
    def status(self) -> npt.NDArray[np.int32]:
        return self._batch.status

    @property
    def charge3(self) -> npt.NDArray[np.int32]:
        return self._batch.charge3

    @property
    def charge(self) -> npt.NDArray[np.float64]:
        return self._batch.charge3 / 3.0

    @property
    def parent_offsets(self) -> npt.NDArray[np.int64]:
        return self._batch.parent_offsets

    @property
    def parents(self) -> npt.NDArray[np.int32]:
        return self._batch.parents

    def event_slice(self, i: int) -> slice:
        """Slice of the particle columns belonging to event ``i``."""
        off = self.particle_offsets
        return slice(int(off[i]), int(off[i + 1]))

    def parents_of(self, event: int, particle: int) -> npt.NDArray[np.int32]:
        """Event-local parent indices of one particle."""
        g = int(self.particle_offsets[event]) + particle
        po = self.parent_offsets
        return self.parents[int(po[g]) : int(po[g + 1])]

    # ---- awkward ------------------------------------------------------------------------------
    def to_awkward(self) -> Any:
        """Events as an awkward array ``var * {px, py, pz, e, mass, pid, status, charge, parents}``
        built on the column buffers (no per-particle Python objects)."""
        import awkward as ak

        contents = {name: ak.contents.NumpyArray(getattr(self, name)) for name in _PARTICLE_COLUMNS}
        contents["charge"] = ak.contents.NumpyArray(self.charge)
        contents["parents"] = ak.contents.ListOffsetArray(
            ak.index.Index64(self.parent_offsets), ak.contents.NumpyArray(self.parents)
        )
        del contents["charge3"]
        record = ak.contents.RecordArray(list(contents.values()), list(contents.keys()))
        events = ak.contents.ListOffsetArray(ak.index.Index64(self.particle_offsets), record)
        return ak.Array(events)
