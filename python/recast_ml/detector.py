"""Detector emulation (shared/specs/detector-emulation.md), run by the C++ core."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from .cards import DetectorCard
from .events import EventBatch

if TYPE_CHECKING:
    from .objects import ObjectTable

_FIELDS = (
    "pt",
    "eta",
    "phi",
    "mass",
    "charge3",
    "wp_mask",
    "lost",
    "label",
    "truth_index",
    "truth_pt",
    "truth_eta",
    "truth_phi",
)


class Detector:
    """``Detector("atlas_run2").reconstruct(events)`` -> awkward array of events with fields
    ``electrons, muons, photons, taus, jets`` (``large_r_jets`` with ``large_r=True``) and ``met``.
    Objects carry smeared and truth kinematics (taus: visible momentum), charge, the working-point bit mask ``wp_mask``
    (b-tag bits for jets), ``label`` (jets: flavour 0/4/5/15; taus: prong count; large-R jets:
    |PDG id| 6/23/24/25 of a matched hadronic top/Z/W/H, else 0) and, for e/mu/gamma, the card's
    truth-isolation variables ``iso_<name>`` (§2.8). Jets also have ``n_tracks``/``track_pt``
    (§8.5) and ``jvt`` (§8.4) and are emitted with smeared pT > ``jet.reco_pt_min`` and
    |eta| < ``jet.abs_eta_max`` (§8.1); large-R jets the N-subjettiness ``tau1, tau2, tau3`` (§8.6;
    ``large_r_jets`` is empty when the card disables them). Fakes have ``truth_index = -1 - (index
    of their jet)``. ``met`` has x, y, pt, phi, set and the truth reference truth_x, truth_y,
    truth_pt, truth_set.

    Random numbers are keyed by (card run seed, event key = ``first_event_key`` + position,
    stream, object), so results do not depend on ``threads`` or on how a sample is split into
    batches, as long as ``first_event_key`` gives each batch's position in the sample.
    """

    def __init__(self, card: DetectorCard | str | os.PathLike[str] = "atlas_run2") -> None:
        self.card = card if isinstance(card, DetectorCard) else DetectorCard.load(card)
        self._detector = _core.Detector(self.card._card)

    @property
    def isolation_names(self) -> list[str]:
        """Truth-isolation variables of the card (fields ``iso_<name>`` of e/mu/gamma)."""
        return list(self._detector.isolation_names)

    def working_points(self, obj: str) -> list[str]:
        """Bit order of ``wp_mask`` for "electron", "muon", "photon" or "btag"."""
        return list(self._detector.working_points(obj))

    def reconstruct_table(
        self, events: EventBatch, *, first_event_key: int = 0, threads: int = 1, large_r: bool = False
    ) -> ObjectTable:
        """One detector pass as an :class:`~recast_ml.objects.ObjectTable` (objects kept in C++)
        that every analysis compiled for this card runs on (``Analysis.run_objects``); large-R jets
        only if ``large_r``."""
        from .objects import ObjectTable

        core = _core.reconstruct_table(self._detector, events._batch, first_event_key, threads, large_r)
        return ObjectTable(core, card_hash=self.card.hash, card_name=self.card.profile_name)

    def reconstruct(
        self, events: EventBatch, *, first_event_key: int = 0, threads: int = 1, large_r: bool = False
    ) -> Any:
        """Reconstructed objects of ``events`` (see the class). Large-R jets (§8.6) are built only
        with ``large_r=True``: they cost as much as the rest of the emulation together (a second
        clustering with R = 1.0, grooming, N-subjettiness) and most analyses do not use them, so by
        default the ``large_r_jets`` field is absent (reading it fails loudly instead of giving an
        empty collection); everything else is identical either way (their random numbers have their
        own stream). An analysis run builds them only when its definition uses them."""
        import awkward as ak

        cols = self._detector.reconstruct(events._batch, first_event_key, threads, large_r)
        iso_names = list(self._detector.isolation_names)
        lists = []
        kinds: tuple[str, ...] = ("electrons", "muons", "photons", "taus", "jets")
        if large_r:
            kinds += ("large_r_jets",)
        for kind in kinds:
            c = cols[kind]
            c["wp_mask"] = c.pop("mask")
            names = list(_FIELDS)
            arrays = [c[f] for f in _FIELDS]
            if kind in ("electrons", "muons", "photons") and iso_names:
                iso = c["isolation"].reshape(-1, len(iso_names))
                names += [f"iso_{n}" for n in iso_names]
                arrays += [np.ascontiguousarray(iso[:, k]) for k in range(len(iso_names))]
            if kind == "jets":
                names += ["n_tracks", "track_pt", "jvt"]
                arrays += [c["n_tracks"], c["track_pt"], c["jvt"].astype(bool)]
            if kind == "large_r_jets":
                tau = c["tau"].reshape(-1, 3)
                names += ["tau1", "tau2", "tau3"]
                arrays += [np.ascontiguousarray(tau[:, k]) for k in range(3)]
            record = ak.contents.RecordArray([ak.contents.NumpyArray(a) for a in arrays], names)
            lists.append(ak.contents.ListOffsetArray(ak.index.Index64(c["offsets"]), record))
        m = cols["met"]
        met_fields = {
            "x": m["x"],
            "y": m["y"],
            "pt": np.hypot(m["x"], m["y"]),
            "phi": np.arctan2(m["y"], m["x"]),
            "set": m["set"],
            "truth_x": m["truth_x"],
            "truth_y": m["truth_y"],
            "truth_pt": np.hypot(m["truth_x"], m["truth_y"]),
            "truth_set": m["truth_set"],
        }
        met = ak.contents.RecordArray([ak.contents.NumpyArray(v) for v in met_fields.values()], list(met_fields))
        return ak.Array(ak.contents.RecordArray([*lists, met], [*kinds, "met"]))
