"""Overlap-removal building blocks (detector-emulation spec §8.7), evaluated in the C++ core.

The detector emulation removes no overlaps: with inclusive jet inputs every isolated electron or
photon is also a jet, and each analysis must state its own sequence. Write it as ordered calls of
:func:`remove_overlaps`, each returning the keep-mask of one collection, e.g. the common ATLAS
Run-2 SUSY sequence::

    jets = jets[remove_overlaps(jets, electrons, dr=0.2, only=~jets.btagged)]
    electrons = electrons[remove_overlaps(electrons, jets, shrinking=(0.04, 10.0, 0.4))]
    jets = jets[remove_overlaps(jets, muons, dr=0.2, only=jets.n_tracks < 3)]
    muons = muons[remove_overlaps(muons, jets, shrinking=(0.04, 10.0, 0.4))]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._core import ConfigError, InputError


def _columns(objects: Any, name: str, need_mass: bool) -> list[Any]:
    import awkward as ak

    counts = ak.to_numpy(ak.num(objects, axis=1)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols: list[Any] = [offsets]
    for f in ("pt", "eta", "phi", "mass"):
        if f not in ak.fields(objects):
            if f == "mass" and not need_mass:
                cols.append(np.zeros(int(offsets[-1])))
                continue
            raise InputError(f"overlap removal: collection {name} has no field {f!r} (fields: {ak.fields(objects)})")
        cols.append(np.ascontiguousarray(ak.to_numpy(ak.flatten(objects[f], axis=1)), dtype=np.float64))
    return cols


def _flat_mask(mask: Any, objects: Any, what: str) -> Any:
    import awkward as ak

    if mask is None:
        return None
    if len(mask) != len(objects) or not ak.all(ak.num(mask, axis=1) == ak.num(objects, axis=1)):
        raise InputError(f"overlap removal: {what!r} must have the shape of its collection")
    return np.ascontiguousarray(ak.to_numpy(ak.flatten(mask, axis=1)), dtype=np.uint8)


def remove_overlaps(
    a: Any,
    b: Any,
    *,
    dr: float = 0.4,
    shrinking: tuple[float, float, float] | None = None,
    rapidity: bool = False,
    cone_pt: str = "a",
    only: Any = None,
    against: Any = None,
) -> Any:
    """Keep-mask (awkward, shaped like ``a``) of the objects of ``a`` that do *not* lie within the
    cone of any object of ``b`` in the same event.

    ``a`` and ``b`` are awkward ``var * {pt, eta, phi[, mass]}`` collections of the same events.
    The cone is ``dR < dr``, or with ``shrinking=(c, k, dr_max)`` ``dR < min(dr_max, c + k/pT)``
    (ATLAS: (0.04, 10 GeV, 0.4)) with the pT of the ``a`` object (``cone_pt="b"``: of the ``b``
    object). ``rapidity=True`` measures in (y, phi) (needs ``mass``). ``only`` (mask on ``a``)
    restricts which objects may be removed (e.g. protect b-tagged jets); ``against`` (mask on
    ``b``) which objects remove (e.g. jets with fewer than 3 tracks).
    """
    import awkward as ak

    if len(a) != len(b):
        raise InputError(f"overlap removal: the collections hold {len(a)} and {len(b)} events")
    if cone_pt not in ("a", "b"):
        raise ConfigError(f"cone_pt must be 'a' or 'b', got {cone_pt!r}")
    c, k, dr_max = shrinking if shrinking is not None else (0.04, 10.0, 0.4)
    ca = _columns(a, "a", rapidity)
    cb = _columns(b, "b", rapidity)
    keep = _core.remove_overlaps(
        ca[0],
        ca[1],
        ca[2],
        ca[3],
        ca[4],
        cb[0],
        cb[1],
        cb[2],
        cb[3],
        cb[4],
        dr=float(dr),
        shrinking=shrinking is not None,
        c=float(c),
        k_gev=float(k),
        dr_max=float(dr_max),
        use_rapidity=bool(rapidity),
        pt_of_b=cone_pt == "b",
        candidate_a=_flat_mask(only, a, "only"),
        active_b=_flat_mask(against, b, "against"),
    )
    return ak.unflatten(keep.astype(bool), ak.num(a, axis=1))
