"""Pythia 8 (``pythia8mc``) event generation in memory, converted to the event model without files.

``Pythia.nextBatch`` returns an awkward array of full Pythia records; its columns go to the C++ core
in one call (:func:`from_pythia_batch`), which applies Pythia's own mother-list and HepMC status
conventions (see ``cpp/include/recast/pythia.hpp``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError, InputError
from .events import EventBatch

log = logging.getLogger(__name__)

MB_TO_PB = 1e9

#: Named settings for quick samples (13 TeV pp).
PRESETS: dict[str, list[str]] = {
    "ttbar": ["Beams:eCM = 13000.", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    "dijet": ["Beams:eCM = 13000.", "HardQCD:all = on", "PhaseSpace:pTHatMin = 200."],
}


def from_pythia_batch(
    batch: Any,
    *,
    first_event_number: int = 0,
    source: str = "<pythia>",
    variation_columns: Mapping[str, int] | None = None,
) -> EventBatch:
    """Convert the awkward output of ``Pythia.nextBatch`` to an :class:`EventBatch`;
    ``variation_columns`` (member name -> column of Pythia's weight vector) fill
    :attr:`EventBatch.variation_weights`."""
    import awkward as ak

    prt = batch["prt"]
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def flat(arr: Any, dtype: type) -> Any:
        return np.ascontiguousarray(ak.to_numpy(ak.flatten(arr, axis=1)), dtype=dtype)

    weight = None
    varied: dict[str, npt.NDArray[np.float64]] = {}
    if "info" in ak.fields(batch) and "weights" in ak.fields(batch["info"]):
        w = batch["info"]["weights"]
        if len(w) and ak.all(ak.num(w, axis=1) > 0):
            weight = ak.to_numpy(w[:, 0]).astype(np.float64)
        if variation_columns:
            width = ak.to_numpy(ak.num(w, axis=1)) if len(w) else np.zeros(0, dtype=np.int64)
            need = max(variation_columns.values()) + 1
            if len(w) and int(width.min()) < need:
                raise PythiaError(f"Pythia gave {int(width.min())} weights per event, expected at least {need}")
            for m, col in variation_columns.items():
                varied[m] = np.ascontiguousarray(ak.to_numpy(w[:, col]), dtype=np.float64)
    core = _core.EventBatch.from_pythia(
        offsets,
        flat(prt.id, np.int32),
        flat(prt.status, np.int32),
        flat(prt.mother1, np.int32),
        flat(prt.mother2, np.int32),
        flat(prt.daughter1, np.int32),
        flat(prt.p.px, np.float64),
        flat(prt.p.py, np.float64),
        flat(prt.p.pz, np.float64),
        flat(prt.p.e, np.float64),
        flat(prt.m, np.float64),
        weight=weight,
        first_event_number=first_event_number,
        source=source,
    )
    out = EventBatch(core)
    out.variation_weights = varied
    return out


class PythiaError(_core.RecastError):
    """Pythia could not be initialised or gave up generating; the message holds Pythia's own
    reasons (its error and abort messages)."""


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Lines that C/C++ code (Pythia's std::cout) writes to file descriptor 1 inside the block."""
    import ctypes

    libc = ctypes.CDLL(None)
    lines: list[str] = []
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            lines += tmp.read().decode("utf-8", "replace").splitlines()


_PYTHIA_MESSAGE = re.compile(r"^\s*\|\s+(\d+)\s+((?:Abort|Error) (?:from|in) .*?)\s*\|\s*$")


def pythia_errors(pythia: Any) -> list[str]:
    """Pythia's error and abort messages so far (from its message statistics), most severe first."""
    with _captured_stdout() as lines:
        pythia.stat()
    found = [m.group(2) for line in lines if (m := _PYTHIA_MESSAGE.match(line))]
    return sorted(found, key=lambda msg: not msg.startswith("Abort"))


class PythiaGenerator:
    """A configured, seeded Pythia 8 instance producing :class:`EventBatch` objects.

    ``settings`` are Pythia ``readString`` lines (or a key of :data:`PRESETS`). With ``slha``
    (an SLHA file for ``SLHA:file``), ``check_masses`` (PDG id -> GeV) are the masses Pythia must
    have taken from the file: checked after initialisation (InputError naming the file otherwise).
    A failed initialisation raises :class:`PythiaError` with Pythia's reasons.
    """

    def __init__(
        self,
        settings: Sequence[str] | str,
        *,
        seed: int = 1,
        slha: str | None = None,
        check_masses: Mapping[int, float] | None = None,
        weight_variations: Mapping[str, str] | None = None,
    ) -> None:
        import pythia8mc

        lines = PRESETS[settings] if isinstance(settings, str) else list(settings)
        self.weight_variations = dict(weight_variations or {})
        if self.weight_variations:  # in-run shower variations: one more weight per member and event
            from .variations import uncertainty_bands_settings

            before, after = uncertainty_bands_settings(self.weight_variations)
            lines = [*before, *lines, *after]  # the caller's lines may override the defaults before them
        self.settings = [
            *lines,
            "Random:setSeed = on",
            f"Random:seed = {int(seed)}",
            "Next:numberCount = 0",
            "Next:numberShowEvent = 0",
            "Print:quiet = on",
            "Print:verbosity = 2",  # errors and warnings recorded (for pythia_errors), not printed
        ]
        if slha is not None:
            self.settings += [f"SLHA:file = {slha}", "SLHA:verbose = 0"]
        self.seed = seed
        self.slha = slha
        self._pythia = pythia8mc.Pythia("", False)
        for s in self.settings:
            if not self._pythia.readString(s):
                raise ConfigError(f"Pythia rejected the setting {s!r}")
        with _captured_stdout() as noise:  # quiet as it is, init can print (e.g. SLHA reader warnings)
            ok = self._pythia.init()
        for line in noise:
            log.debug("pythia init: %s", line)
        if not ok:
            reasons = pythia_errors(self._pythia) or ["no message from Pythia"]
            where = f" with SLHA file {slha}" if slha else ""
            raise PythiaError(f"Pythia initialisation failed{where}: {'; '.join(reasons)}")
        if check_masses:
            self._check_masses(check_masses)
        self._variation_columns: dict[str, int] = {}
        if self.weight_variations:
            from .variations import weight_columns

            info = self._pythia.infoPython()
            names = [str(info.weightNameByIndex(i)) for i in range(int(info.numberOfWeights()))]
            self._variation_columns = weight_columns(names, list(self.weight_variations))
        self._generated = 0

    def _check_masses(self, masses: Mapping[int, float]) -> None:
        data = self._pythia.particleData
        wrong = []
        for pid, m in sorted(masses.items()):
            got = float(data.m0(pid))
            if not abs(got - m) <= 1e-6 * max(abs(m), 1.0):
                wrong.append(f"{pid}: {got:g} GeV in Pythia, {m:g} GeV in the file")
        if wrong:
            raise InputError(
                f"Pythia does not use the file's spectrum ({'; '.join(wrong)}); "
                "is the MASS block complete and readable by Pythia?",
                file=str(self.slha),
            )

    @property
    def cross_section_pb(self) -> float:
        """Pythia's estimate of the generated cross section (pb) so far."""
        return float(self._pythia.infoPython().sigmaGen()) * MB_TO_PB

    @property
    def cross_section_error_pb(self) -> float:
        return float(self._pythia.infoPython().sigmaErr()) * MB_TO_PB

    def generate(self, n_events: int, *, batch_size: int = 250, progress: bool = False) -> EventBatch:
        """Generate ``n_events`` events (failed events are skipped and retried)."""
        from tqdm import tqdm

        with tqdm(total=n_events, unit="ev", desc="pythia", disable=not progress, leave=False) as bar:
            out = self._generate(n_events, batch_size, bar.update)
        self._log_done()
        return out

    def batches(self, n_events: int, chunk_size: int = 2000, *, progress: bool = False) -> Iterator[EventBatch]:
        """``n_events`` events as batches of up to ``chunk_size``: the same events (and event
        numbers) as one :meth:`generate` call, without holding them all in memory."""
        from tqdm import tqdm

        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        with tqdm(total=n_events, unit="ev", desc="pythia", disable=not progress, leave=False) as bar:
            done = 0
            while done < n_events:
                batch = self._generate(min(chunk_size, n_events - done), 250, bar.update)
                done += len(batch)
                yield batch
        self._log_done()

    def _log_done(self) -> None:
        log.info(
            "generated %d events in all, sigma = %.4g +- %.2g pb",
            self._generated,
            self.cross_section_pb,
            self.cross_section_error_pb,
        )

    def _generate(self, n_events: int, batch_size: int, update: Callable[[int], object]) -> EventBatch:
        parts: list[EventBatch] = []
        got = 0
        empty = 0
        while got < n_events:
            want = min(batch_size, n_events - got)
            raw = self._pythia.nextBatch(want)
            empty = empty + 1 if len(raw) == 0 else 0
            if empty == 1:
                continue  # one failed event of a small request: try again
            if empty:
                reasons = pythia_errors(self._pythia) or ["no message from Pythia"]
                where = f" (SLHA file {self.slha})" if self.slha else ""
                raise PythiaError(f"Pythia gave up after {self._generated + got} events{where}: {'; '.join(reasons)}")
            batch = from_pythia_batch(
                raw,
                first_event_number=self._generated,
                source=f"<pythia seed={self.seed}>",
                variation_columns=self._variation_columns,
            )
            self._generated += len(batch)
            got += len(batch)
            parts.append(batch)
            update(len(batch))
        done = EventBatch.concatenate(parts)  # the variation weights too
        out = done._batch
        out.source = f"<pythia seed={self.seed}>"
        out.cross_section_pb = self.cross_section_pb
        out.cross_section_error_pb = self.cross_section_error_pb
        log.debug("generated %d events (%d in all so far)", got, self._generated)
        return done


def simplified_model_generator(
    model: str,
    *masses: float,
    seed: int = 1,
    ecm: float = 13000.0,
    slha_dir: str | None = None,
    settings: Sequence[str] = (),
    weight_variations: Mapping[str, str] | None = None,
) -> PythiaGenerator:
    """A generator for a simplified SUSY model of :mod:`recast_ml.slha`, e.g.
    ``simplified_model_generator("gluino_direct", 1400, 1000)`` (masses in GeV, as the model function
    takes them). The SLHA file is written to ``slha_dir`` (default: a temporary directory), kept
    only until Pythia has read it)."""
    import tempfile
    from pathlib import Path

    from . import slha

    if model in slha.SETTINGS_MODELS:  # ATLAS-HIGP-2024-32: a model made of Pythia lines only
        return settings_model_generator(
            model, *masses, seed=seed, ecm=ecm, settings=settings, weight_variations=weight_variations
        )
    spectrum = slha.model_spectrum(model, masses)
    check = {pid: spectrum.mass(pid) for pid in spectrum.masses}
    name = f"{model}_{'_'.join(f'{m:g}' for m in masses)}.slha"
    if slha_dir is not None:
        path = Path(slha_dir) / name
        path.write_text(spectrum.to_slha())
        return PythiaGenerator(
            [*slha.pythia_settings(model, ecm=ecm), *settings],
            seed=seed,
            slha=str(path),
            check_masses=check,
            weight_variations=weight_variations,
        )
    with tempfile.TemporaryDirectory(prefix="recast_ml_slha_") as tmp:  # Pythia reads it in init()
        path = Path(tmp) / name
        path.write_text(spectrum.to_slha())
        return PythiaGenerator(
            [*slha.pythia_settings(model, ecm=ecm), *settings],
            seed=seed,
            slha=str(path),
            check_masses=check,
            weight_variations=weight_variations,
        )


# ---- ATLAS-HIGP-2024-32: models without an SLHA file (slha.SETTINGS_MODELS) ----
def settings_model_generator(
    model: str,
    *masses: float,
    seed: int = 1,
    ecm: float = 13000.0,
    settings: Sequence[str] = (),
    weight_variations: Mapping[str, str] | None = None,
) -> PythiaGenerator:
    """A generator for a model of :data:`recast_ml.slha.SETTINGS_MODELS` (Pythia lines only, e.g.
    ``settings_model_generator("trsm_xsh", 485, 325)``: gg -> X -> S H -> H H H, H -> b bbar)."""
    from . import slha

    return PythiaGenerator(
        [*slha.settings_model(model, masses, ecm=ecm), *settings], seed=seed, weight_variations=weight_variations
    )


def generate(settings: Sequence[str] | str, n_events: int, *, seed: int = 1, progress: bool = False) -> EventBatch:
    """Generate ``n_events`` Pythia events in memory."""
    return PythiaGenerator(settings, seed=seed).generate(n_events, progress=progress)
