"""Event files: HepMC3 / HepMC2 ASCII and LHE, plain or gzip-compressed, read by the C++ core."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from . import _core
from .events import EventBatch

log = logging.getLogger(__name__)

FORMATS = ("auto", "hepmc3", "hepmc2", "lhe")

#: the first two bytes of gzip data: how event, model and SLHA files are recognised as compressed
#: (by content, as the C++ readers decide, whatever the suffix)
GZIP_MAGIC = b"\x1f\x8b"


class EventFile:
    """Streaming reader: ``with EventFile(path) as f: for batch in f.batches(1000): ...``.

    The format is detected from the content (``format`` forces one). Malformed input raises
    :class:`recast_ml.InputError` naming the file, line and event; a missing file raises
    :class:`FileNotFoundError`.

    ``threads`` > 1 parses HepMC3/HepMC2 events on that many worker threads while the calling
    thread splits the file at event boundaries (gzip decompression stays on one thread). Events,
    their order, cross section, weight names and errors (the first in file order, with its file,
    line and event) are the same as with one thread. LHE files are read on one thread.

    HepMC events with several weights: the first is the nominal (:attr:`EventBatch.weight`), the
    others are :attr:`EventBatch.variation_weights` keyed by their names (the run information's
    ``W`` line in HepMC3, the ``N`` line in HepMC2; by index, ``"1"``, ``"2"``, ..., where the file
    names none), e.g. the shower-variation weights ``recast-ml run --write-events`` wrote. A batch
    whose events do not all carry the same weights keeps only the nominal one (a warning).
    """

    def __init__(self, path: str | os.PathLike[str], format: str = "auto", *, threads: int = 1) -> None:
        if format not in FORMATS:
            raise _core.ConfigError(f"unknown event format {format!r}; expected one of {FORMATS}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise _core.ConfigError(f"threads must be an integer >= 1, got {threads!r}")
        self.path = Path(path)
        self.threads = threads
        self._reader: _core.EventReader | None = _core.open_events(str(self.path), format, threads)
        self._peeked: EventBatch | None = None  # read by peek(), returned by the next read()
        self._warned_weights = False
        log.debug("opened %s (%s, %d thread(s))", self.path, self._reader.format, threads)

    @property
    def format(self) -> str:
        return str(self._open().format)

    @property
    def weight_names(self) -> list[str]:
        return list(self._open().weight_names)

    @property
    def tools(self) -> list[str]:
        """The run information's tool lines read so far (HepMC3 ``T`` lines before the first
        event, e.g. ``"recast_ml|0.1.0|HepMC3Writer"``: the program that wrote the file); empty
        for HepMC2 and LHE. Complete once an event has been read (or peeked)."""
        return list(self._open().tools)

    @property
    def cross_section_pb(self) -> float:
        """Latest cross section the file gave (pb), NaN if none yet."""
        return float(self._open().cross_section_pb)

    @property
    def events_read(self) -> int:
        return int(self._open().events_read)

    def _open(self) -> _core.EventReader:
        if self._reader is None:
            raise ValueError(f"{self.path}: reader is closed")
        return self._reader

    def read(self, max_events: int) -> EventBatch:
        """Next ``max_events`` events (fewer at the end; empty at end of file); after
        :meth:`peek`, the peeked events followed by as many more as make ``max_events`` (all the
        peeked ones if they are more), so that a peek does not change how a file is chunked."""
        if max_events < 1:
            raise _core.ConfigError("max_events must be >= 1")
        if self._peeked is not None:
            batch, self._peeked = self._peeked, None
            if 0 < len(batch) < max_events:
                more = self._read(max_events - len(batch))
                if len(more):
                    batch = EventBatch.concatenate([batch, more])
            return batch
        return self._read(max_events)

    def _read(self, max_events: int) -> EventBatch:
        """The next events from the reader, with their named weights as variation weights."""
        core = self._open().read(max_events)
        batch = EventBatch(core)
        names = list(core.extra_weight_names)
        if names:
            values = core.extra_weights
            columns: dict[str, np.ndarray] = {}
            for k, name in enumerate(names):
                if name in columns:
                    log.warning("%s: a second weight named %r; the first is kept", self.path, name)
                    continue
                columns[name] = np.ascontiguousarray(values[:, k])
            batch.variation_weights = columns
        elif core.extra_weights_dropped and not self._warned_weights:
            self._warned_weights = True
            log.warning(
                "%s: the events do not all carry the same weights (names or count change): only the nominal "
                "weight is kept for them",
                self.path,
            )
        return batch

    def peek(self, max_events: int) -> EventBatch:
        """The next ``max_events`` events without consuming them: the next :meth:`read` returns
        this batch (a stream, e.g. standard input, is still read once). Afterwards the reader's
        properties (:attr:`tools`, :attr:`cross_section_pb`, ...) are those after these events."""
        if self._peeked is None:
            self._peeked = self.read(max_events)
        return self._peeked

    def batches(self, batch_size: int = 1000) -> Iterator[EventBatch]:
        while True:
            batch = self.read(batch_size)
            if len(batch) == 0:
                return
            yield batch

    def close(self) -> None:
        self._reader = None
        self._peeked = None

    def __enter__(self) -> EventFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def as_paths(files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """One event file or the files (parts) of one sample, as a list of paths."""
    return [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(f) for f in files]


def iter_events(
    path: str | os.PathLike[str], batch_size: int = 1000, format: str = "auto", *, threads: int = 1
) -> Iterator[EventBatch]:
    """Iterate over an event file in batches of ``batch_size`` events (``threads``: see EventFile)."""
    with EventFile(path, format, threads=threads) as f:
        yield from f.batches(batch_size)


def read_events(
    path: str | os.PathLike[str], max_events: int | None = None, format: str = "auto", *, threads: int = 1
) -> EventBatch:
    """Read a whole event file (or its first ``max_events`` events) into one batch."""
    with EventFile(path, format, threads=threads) as f:
        return f.read(max_events if max_events is not None else 2**62)


class HepMC3Writer:
    """Writes a sample to a HepMC3 ASCII file batch by batch (``.gz``: compressed), as
    :func:`write_hepmc3` does for one batch::

        with HepMC3Writer("sample.hepmc3.gz", cross_section_pb=0.0284) as out:
            for batch in batches:
                out.write(batch)

    The file is written as ``<path>.part`` and gets its name when the ``with`` block ends normally
    (:meth:`close`); on an exception the partial file is removed (:meth:`discard`).

    The batches' :attr:`EventBatch.variation_weights` (e.g. Pythia's shower-variation weights)
    are written after the nominal weight (named ``Default``), under their member names, and read
    back by :class:`EventFile` (and the HepMC3 library) by name; every batch must carry the same
    names as the first."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cross_section_pb: float | None = None,
        cross_section_error_pb: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.cross_section_pb = cross_section_pb
        self.cross_section_error_pb = cross_section_error_pb
        self.dropped_links = 0
        self._writer: _core.HepMC3Writer | None = _core.HepMC3Writer(os.fspath(path))

    @property
    def events_written(self) -> int:
        return self._open().events_written

    def _open(self) -> _core.HepMC3Writer:
        if self._writer is None:
            raise ValueError(f"{self.path}: the writer is closed")
        return self._writer

    def write(self, events: EventBatch) -> int:
        """Append ``events``; returns the number of parent links dropped (see :func:`write_hepmc3`).
        The cross section written is the writer's, else the batch's."""
        xs = events.cross_section_pb if self.cross_section_pb is None else self.cross_section_pb
        err = events.cross_section_error_pb if self.cross_section_error_pb is None else self.cross_section_error_pb
        names = list(events.variation_weights)
        weights = (
            np.column_stack([np.asarray(events.variation_weights[m], dtype=np.float64) for m in names])
            if names
            else None
        )
        dropped = int(self._open().write(events._batch, float(xs), float(err), names, weights))
        self.dropped_links += dropped
        return dropped

    def close(self) -> None:
        """Finish the file and give it its final name."""
        writer = self._open()
        writer.close()
        self._writer = None
        log.info(
            "wrote %d events to %s (%d parent links dropped)", writer.events_written, self.path, self.dropped_links
        )

    def discard(self) -> None:
        """Abandon the file: the partial ``<path>.part`` is removed."""
        self._writer = None  # the C++ writer's destructor removes it

    def __enter__(self) -> HepMC3Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def write_hepmc3(
    events: EventBatch,
    path: str | os.PathLike[str],
    *,
    cross_section_pb: float | None = None,
    cross_section_error_pb: float | None = None,
) -> int:
    """Write ``events`` as a HepMC3 ASCII file (gzip-compressed if ``path`` ends in ``.gz``), e.g. a
    generated signal sample to keep or to hand to other tools. The cross section (default: the
    batch's, e.g. Pythia's estimate) is stored as GenCrossSection. Production vertices are rebuilt
    from the parent lists; parent links a HepMC graph cannot hold (a parent later in the record, or
    one already ending in a vertex with other parents, as in Pythia's initial-state history) are
    dropped and counted: returns that count (decay chains and final-state particles are kept).
    The batch's :attr:`EventBatch.variation_weights` are written too (see :class:`HepMC3Writer`)."""
    with HepMC3Writer(path, cross_section_pb=cross_section_pb, cross_section_error_pb=cross_section_error_pb) as out:
        return out.write(events)
