"""Delphes ROOT files as event input, read with uproot + awkward (no ROOT needed), in chunks of
entries (memory bounded by a chunk whatever the file size). Two ways (``recast-ml run --events
FILE.root --delphes objects|truth``; ``run_job(..., delphes=...)``; default ``objects``):

**objects** (default): the reconstructed objects of the Delphes branches ``Jet``, ``Electron``,
``Muon``, ``Photon`` and ``MissingET`` are given to the analyses in the layout of recast's
detector output (the analysis' card fixes the field names); recast's detector emulation is not
run, so efficiencies, resolutions, jet algorithm and radius and the object definitions are the
*Delphes card's*. Fields (collection.field <- Delphes branch):

===========================  ===================================================================
``*.pt, eta, phi``           ``PT, Eta, Phi`` (GeV)
``jets.mass``                ``Jet.Mass``; electrons/muons: the PDG masses; photons: 0
``*.charge``                 ``Charge`` (``Jet.Charge``: Σ track charges); photons: 0
``jets.btag_<any WP>``       bit 0 of ``Jet.BTag`` (the Delphes card's first b-tag working point)
                             for *every* b-tag WP name: no per-WP masks
``jets.label``               ``Jet.Flavor``: 5 -> 5, 4 -> 4, else 0 (parton-based, no tau label)
``jets.n_tracks``            ``Jet.NCharged`` (charged constituents, no pT / eta requirement)
``jets.jvt``                 true (Delphes has no pile-up jet tagging; right for samples
                             without pile-up)
``taus``                     the ``Jet`` entries with bit 0 of ``Jet.TauTag``: jet momentum,
                             ``Jet.Charge``, ``label`` = ``Jet.NCharged``, every WP true
``*.wp_<any WP>``            true: the objects in the branch passed the Delphes card's one
                             identification efficiency, which stands for every WP
``*.iso_<any name>``         ``IsolationVar`` of the object (Delphes' relative isolation: Σ pT
                             in the Delphes card's cone / pT); leptons and photons failing the
                             Delphes card's own isolation are not in the branch at all
``*.lost``                   false
``large_r_jets``             empty (no large-R jets are read)
``met.pt, phi``              ``MissingET.MET, Phi``; ``x, y`` from them
``met.set``                  ``ScalarHT.HT`` (Σ pT of the visible Delphes objects, not the
                             calorimeter Σ E_T); missing (NaN) without the branch
``met.truth_pt, truth_phi``  ``GenMissingET.MET, Phi``; missing (NaN) without the branch
anything else                missing (NaN): ``truth_pt/eta/phi``, ``truth_index``,
                             ``track_pt``, fields a card adds
===========================  ===================================================================

Each analysis' result document says so: ``sample.object_source`` and ``sample.object_caveats``
(the differences from the card's object definitions that the analysis' expressions touch).

**truth**: the generator record in the ``Particle`` branch (``PID, Status, Px, Py, Pz, E, Mass,
M1, M2``; float32 in Delphes) becomes an :class:`~recast_ml.events.EventBatch` and goes through
recast's own detector emulation, exactly as a HepMC file would. Mothers are read with Pythia's
convention (Delphes' indices are 0-based, -1 = none): ``M2 < 0`` or ``M2 == M1``: one mother;
``M2 > M1`` for a hadron (status 1/2): the range ``M1..M2`` (string fragmentation); otherwise
the two mothers ``M1`` and ``M2``. Pile-up particles (``IsPU`` = 1) are dropped. What the branch
does not hold (production vertices) is not used by the emulation.

Event weights come from ``Event.Weight`` (1 without the branch), event numbers from
``Event.Number``. ``Event.CrossSection`` (the generator's) is not used: give ``--cross-section``.

Errors: a file that is not ROOT, a ROOT file without a ``Delphes`` tree, a missing branch or
unreadable (damaged, truncated) data raise :class:`recast_ml.InputError` naming the file (and
the branch and entries).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._core import ConfigError, InputError

if TYPE_CHECKING:
    from .analysis import Analysis, AnalysisResult
    from .events import EventBatch

log = logging.getLogger(__name__)

#: the tree Delphes writes
TREE = "Delphes"
#: how a Delphes file is used: its reconstructed objects or its truth particles
PATHS = ("objects", "truth")
DEFAULT_PATH = "objects"
#: entries read at once
CHUNK_SIZE = 200  # truth path, ~2,500 particles/event: peak RSS 215/359/857 MiB at 50/200/1000 events
#: the bit of Jet.BTag / Jet.TauTag taken as the tag (the Delphes card's first working point)
BTAG_BIT = 0
TAUTAG_BIT = 0
ELECTRON_MASS = 0.51099895e-3  # GeV (PDG)
MUON_MASS = 0.1056583755  # GeV (PDG)

_ROOT_MAGIC = b"root"

#: branches the objects path needs / uses when present
OBJECT_BRANCHES = (
    "Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.Mass", "Jet.BTag",
    "Electron.PT", "Electron.Eta", "Electron.Phi", "Electron.Charge",
    "Muon.PT", "Muon.Eta", "Muon.Phi", "Muon.Charge",
    "Photon.PT", "Photon.Eta", "Photon.Phi",
    "MissingET.MET", "MissingET.Phi",
)  # fmt: skip
OBJECT_OPTIONAL = (
    "Jet.Charge", "Jet.Flavor", "Jet.TauTag", "Jet.NCharged",
    "Electron.IsolationVar", "Muon.IsolationVar", "Photon.IsolationVar",
    "ScalarHT.HT", "GenMissingET.MET", "GenMissingET.Phi",
    "Event.Weight", "Event.Number",
)  # fmt: skip
#: branches the truth path needs / uses when present
TRUTH_BRANCHES = (
    "Particle.PID", "Particle.Status", "Particle.Px", "Particle.Py", "Particle.Pz", "Particle.E",
    "Particle.Mass", "Particle.M1", "Particle.M2",
)  # fmt: skip
TRUTH_OPTIONAL = ("Particle.IsPU", "Event.Weight", "Event.Number")

#: Delphes branch of each collection of the detector output (taus: tau-tagged jets)
_SOURCE = {"electrons": "Electron", "muons": "Muon", "photons": "Photon", "jets": "Jet", "taus": "Jet"}

#: what differs from the card's object definitions, per field (pattern on the analysis' expressions)
_FIELD_CAVEATS: tuple[tuple[str, str], ...] = (
    (
        r"\bbtag_\w+",
        "b-tagging: every btag_<WP> is bit 0 of Delphes' Jet.BTag (the Delphes card's b-tag working point); "
        "no per-WP masks, the WP the analysis names is not honoured",
    ),
    (
        r"\bwp_\w+",
        "identification: every wp_<WP> flag is true (the Delphes card's one efficiency stands for all WPs)",
    ),
    (
        r"\biso_\w+",
        "isolation: every iso_<name> is Delphes' IsolationVar (Σ pT in the Delphes card's cone / pT), and objects "
        "failing the Delphes card's isolation are absent; the card's track/calorimeter cones are not reproduced",
    ),
    (r"\bn_tracks\b", "n_tracks: Delphes' Jet.NCharged (charged constituents, no pT > 0.5 GeV / |eta| requirement)"),
    (r"\btrack_pt\b", "track_pt: missing (not in Delphes' jets)"),
    (r"\bjvt\b", "jvt: true for every jet (no pile-up jet tagging; right only for samples without pile-up)"),
    (r"\blabel\b", "jet label: from Delphes' Jet.Flavor (parton-based; 5 = b, 4 = c, else 0; no tau label)"),
    (
        r"\btruth_(pt|eta|phi|index)\b",
        "truth_pt/eta/phi/index of objects: missing (Delphes objects carry no truth link)",
    ),
    (r"\blost\b", "lost: false (Delphes keeps no lost objects)"),
    (r"\bset\b", "met.set: Delphes' ScalarHT.HT (Σ pT of the visible objects), not the calorimeter Σ E_T"),
)
_COLLECTION_CAVEATS = {
    "taus": "taus: the Delphes jets with bit 0 of Jet.TauTag (jet momentum, every tau WP true, label = NCharged)",
    "large_r_jets": "large_r_jets: empty (no large-R jets are read from Delphes)",
}


# ------------------------------------------------------------------------------------------------
# the file
# ------------------------------------------------------------------------------------------------
def is_root_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ROOT file (by its content: the "root" magic), whatever its suffix."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == _ROOT_MAGIC
    except OSError:
        return False


def root_inputs(files: Sequence[str | os.PathLike[str]]) -> bool:
    """True if every file is a ROOT file, False if none is; ConfigError for a mixture."""
    roots = [is_root_file(f) for f in files]
    if any(roots) and not all(roots):
        mixed = ", ".join(f"{f} ({'ROOT' if r else 'not ROOT'})" for f, r in zip(files, roots, strict=True))
        raise ConfigError(f"--events: the files of one sample must all be Delphes ROOT files or none: {mixed}")
    return bool(roots) and all(roots)


def _unreadable(path: Path, what: str, e: BaseException) -> InputError:
    return InputError(f"{path}: {what} ({type(e).__name__}: {' '.join(str(e).split())})")


class DelphesFile:
    """The ``Delphes`` tree of a ROOT file: ``with DelphesFile(path) as f: for first, arrays in
    f.chunks(branches, chunk_size): ...``. InputError for a file that uproot cannot read or that
    has no Delphes tree (naming the file and what it holds)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import uproot

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(2, "no such file", str(self.path))
        if not is_root_file(self.path):
            raise InputError(f"{self.path}: not a ROOT file (expected a Delphes ROOT file with a {TREE!r} tree)")
        try:
            self._file: Any = uproot.open(self.path)
            keys = dict(self._file.classnames())
        except Exception as e:  # uproot raises many types on damaged bytes (ValueError, OSError, ...)
            raise _unreadable(self.path, "cannot read the ROOT file", e) from e
        trees = [k.split(";")[0] for k, c in keys.items() if c == "TTree"]
        if TREE not in trees:
            self._file.close()
            held = ", ".join(f"{k.split(';')[0]} ({c})" for k, c in keys.items()) or "nothing"
            raise InputError(f"{self.path}: no {TREE!r} TTree: not a Delphes output file (it holds: {held})")
        try:
            self.tree: Any = self._file[TREE]
            self.n_events = int(self.tree.num_entries)
            # branch name (e.g. "Jet.PT", whatever its parent branch) -> branch, looked up once
            self._branches: dict[str, Any] = {}
            for b in self.tree.itervalues(recursive=True):
                self._branches.setdefault(b.name, b)
        except Exception as e:
            self._file.close()
            raise _unreadable(self.path, f"cannot read the {TREE!r} tree", e) from e

    def has(self, branch: str) -> bool:
        return branch in self._branches

    def require(self, branches: Sequence[str], purpose: str) -> None:
        """InputError naming the first missing branch (and what needs it)."""
        for b in branches:
            if not self.has(b):
                raise InputError(f"{self.path}: the {TREE!r} tree has no branch {b!r} ({purpose} needs it)")

    def chunks(
        self, branches: Sequence[str], chunk_size: int = CHUNK_SIZE, optional: Sequence[str] = ()
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(first entry, {branch: awkward array}) per chunk of ``chunk_size`` entries; optional
        branches that the tree lacks are left out."""
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        names = list(branches) + [b for b in optional if self.has(b)]
        for start in range(0, self.n_events, chunk_size):
            stop = min(start + chunk_size, self.n_events)
            out = {}
            for n in names:
                try:
                    out[n] = self._branches[n].array(entry_start=start, entry_stop=stop, library="ak")
                except Exception as e:
                    what = f"cannot read entries {start}-{stop - 1} of branch {n!r} of the {TREE!r} tree"
                    raise _unreadable(self.path, what, e) from e
            yield start, out

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DelphesFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class FileSummary:
    """What ``recast-ml events summary`` shows of a Delphes file (:func:`summarise`)."""

    events: int = 0
    particles: int | None = None  # Particle branch entries (None: no such branch)
    final_state: int | None = None  # of them with Status 1
    objects: dict[str, int] = field(default_factory=dict)  # collection -> entries, for the branches present
    sum_weights: float = 0.0
    cross_section_pb: float = math.nan  # Event.CrossSection of the last event (the generator's)


#: the object branches counted by :func:`summarise`: collection name -> Delphes branch
SUMMARY_OBJECTS = {"jets": "Jet.PT", "electrons": "Electron.PT", "muons": "Muon.PT", "photons": "Photon.PT"}


def summarise(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> FileSummary:
    """Counts of a Delphes file, read in chunks: events, truth particles (all / status 1),
    reconstructed objects per collection, Σ Event.Weight (1 per event without the branch) and the
    generator's Event.CrossSection; InputError naming the file for one that is not readable."""
    import awkward as ak

    out = FileSummary()
    with DelphesFile(path) as f:
        particles = f.has("Particle.Status")
        branches = [b for b in SUMMARY_OBJECTS.values() if f.has(b)] + (["Particle.Status"] if particles else [])
        optional = [b for b in ("Event.Weight", "Event.CrossSection") if f.has(b)]
        if particles:
            out.particles = out.final_state = 0
        out.objects = {name: 0 for name, b in SUMMARY_OBJECTS.items() if f.has(b)}
        for first, arrays in f.chunks(branches, chunk_size, optional):
            n = min(chunk_size, f.n_events - first)
            out.events += n
            out.sum_weights += float(_weights(arrays, n, f.path, first).sum())
            for name in out.objects:
                out.objects[name] += int(ak.sum(ak.num(arrays[SUMMARY_OBJECTS[name]], axis=1)))
            if particles:
                status = arrays["Particle.Status"]
                out.particles = (out.particles or 0) + int(ak.sum(ak.num(status, axis=1)))
                out.final_state = (out.final_state or 0) + int(ak.sum(status == 1))
            if "Event.CrossSection" in arrays and n:
                out.cross_section_pb = float(_first(arrays, "Event.CrossSection", math.nan, n)[-1])
    return out


# ------------------------------------------------------------------------------------------------
# helpers on awkward chunks
# ------------------------------------------------------------------------------------------------
def _flat(a: Any, dtype: type = np.float64) -> npt.NDArray[Any]:
    import awkward as ak

    return np.ascontiguousarray(ak.to_numpy(ak.flatten(a, axis=1)), dtype=dtype)


def _counts(a: Any) -> npt.NDArray[np.int64]:
    import awkward as ak

    return np.asarray(ak.to_numpy(ak.num(a, axis=1)), dtype=np.int64)


def _offsets(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _first(arrays: Mapping[str, Any], name: str, default: float, n: int) -> npt.NDArray[np.float64]:
    """The first entry per event of a one-entry branch (Event.*, MissingET.*), ``default`` where
    the branch is absent or empty."""
    import awkward as ak

    if name not in arrays:
        return np.full(n, default)
    return np.asarray(ak.to_numpy(ak.fill_none(ak.firsts(arrays[name], axis=1), default)), dtype=np.float64)


def _weights(arrays: Mapping[str, Any], n: int, path: Path, first: int) -> npt.NDArray[np.float64]:
    w = _first(arrays, "Event.Weight", 1.0, n)
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"Event.Weight is {w[k]}, expected a finite number", file=str(path), event=first + k)
    return w


def _event_numbers(arrays: Mapping[str, Any], n: int, first: int) -> npt.NDArray[np.int64]:
    import awkward as ak

    if "Event.Number" not in arrays:
        return np.arange(first, first + n, dtype=np.int64)
    fallback = np.arange(first, first + n, dtype=np.int64)
    num = ak.to_numpy(ak.fill_none(ak.firsts(arrays["Event.Number"], axis=1), -1)).astype(np.int64)
    return np.where(num >= 0, num, fallback)


# ------------------------------------------------------------------------------------------------
# (a) objects
# ------------------------------------------------------------------------------------------------
def object_table(
    arrays: Mapping[str, Any], schema: Mapping[str, Any], *, path: str | os.PathLike[str] = "<delphes>", first: int = 0
) -> dict[str, Any]:
    """The analysis input table (the layout of ``Analysis.run_table``, with the collections,
    fields and bool fields of ``schema`` = ``_core.detector_schema(card)``) from one chunk of
    Delphes branches (:data:`OBJECT_BRANCHES`, optional :data:`OBJECT_OPTIONAL`); the mapping is
    in the module docstring. ``first``: the chunk's first entry (for error messages)."""
    path = Path(path)
    n = len(arrays["MissingET.MET"])
    met_n = _counts(arrays["MissingET.MET"])
    if np.any(met_n < 1):
        k = int(np.flatnonzero(met_n < 1)[0])
        raise InputError("MissingET has no entry", file=str(path), event=first + k)

    def source(branch: str, mask: npt.NDArray[np.bool_] | None = None) -> dict[str, Any]:
        """Flat columns of one Delphes collection (optionally a subset of its objects)."""
        counts = _counts(arrays[f"{branch}.PT"])
        cols: dict[str, npt.NDArray[Any]] = {
            "pt": _flat(arrays[f"{branch}.PT"]),
            "eta": _flat(arrays[f"{branch}.Eta"]),
            "phi": _flat(arrays[f"{branch}.Phi"]),
        }
        m = cols["pt"].size
        if branch == "Jet":
            cols["mass"] = _flat(arrays["Jet.Mass"])
            cols["btag"] = ((_flat(arrays["Jet.BTag"], np.int64) >> BTAG_BIT) & 1).astype(np.float64)
            if "Jet.Flavor" in arrays:
                flavour = np.abs(_flat(arrays["Jet.Flavor"], np.int64))
                cols["label"] = np.where(np.isin(flavour, (4, 5)), flavour, 0).astype(np.float64)
            if "Jet.NCharged" in arrays:
                cols["n_tracks"] = _flat(arrays["Jet.NCharged"])
        else:
            cols["mass"] = np.full(m, {"Electron": ELECTRON_MASS, "Muon": MUON_MASS}.get(branch, 0.0))
        cols["charge"] = _flat(arrays[f"{branch}.Charge"]) if f"{branch}.Charge" in arrays else np.zeros(m)
        if f"{branch}.IsolationVar" in arrays:
            cols["iso"] = _flat(arrays[f"{branch}.IsolationVar"])
        if mask is not None:
            ev = np.repeat(np.arange(n), counts)
            cols = {k: v[mask] for k, v in cols.items()}
            counts = np.bincount(ev[mask], minlength=n).astype(np.int64)
        cols["offsets"] = _offsets(counts)
        return cols

    collections: dict[str, Any] = {}
    for name, fields in schema["collections"].items():
        bools = list(schema["bool_fields"].get(name, []))
        branch = _SOURCE.get(name)
        if name == "taus" and "Jet.TauTag" in arrays:
            src = source("Jet", ((_flat(arrays["Jet.TauTag"], np.int64) >> TAUTAG_BIT) & 1).astype(bool))
            src["label"] = src.pop("n_tracks", np.full(src["pt"].size, np.nan))
            src.pop("btag", None)
        elif branch is None or name == "taus":  # large_r_jets and unknown collections: empty
            src = {"offsets": np.zeros(n + 1, np.int64)}
        else:
            src = source(branch)
        m = int(src["offsets"][-1])
        cols: dict[str, npt.NDArray[np.float64]] = {}
        for f in fields:
            if f in src and f != "offsets":
                value = src[f]
            elif f.startswith("btag_") and "btag" in src:
                value = src["btag"]
            elif f.startswith("iso_") and "iso" in src:
                value = src["iso"]
            elif f.startswith("wp_") or f == "jvt":
                value = np.ones(m)
            elif f == "lost" or f in bools:  # (bools: a flag Delphes has no counterpart of)
                value = np.zeros(m)
            else:
                value = np.full(m, np.nan)
            cols[f] = np.ascontiguousarray(value, dtype=np.float64)
        collections[name] = {"offsets": src["offsets"], "fields": cols, "bool_fields": bools}

    met_pt = _first(arrays, "MissingET.MET", math.nan, n)
    met_phi = _first(arrays, "MissingET.Phi", math.nan, n)
    met_src = {
        "pt": met_pt,
        "phi": met_phi,
        "x": met_pt * np.cos(met_phi),
        "y": met_pt * np.sin(met_phi),
        "set": _first(arrays, "ScalarHT.HT", math.nan, n),
        "truth_pt": _first(arrays, "GenMissingET.MET", math.nan, n),
        "truth_phi": _first(arrays, "GenMissingET.Phi", math.nan, n),
    }
    records: dict[str, Any] = {}
    for name, fields in schema["records"].items():
        rec = {f: np.ascontiguousarray(met_src.get(f, np.full(n, np.nan)), dtype=np.float64) for f in fields}
        records[name] = {"fields": rec, "bool_fields": list(schema["bool_fields"].get(name, []))}
    return {
        "n_events": n,
        "collections": collections,
        "records": records,
        "weight": _weights(arrays, n, path, first),
        "event_number": _event_numbers(arrays, n, first),
    }


def iter_object_tables(
    path: str | os.PathLike[str], schema: Mapping[str, Any], chunk_size: int = CHUNK_SIZE
) -> Iterator[dict[str, Any]]:
    """:func:`object_table` of each chunk of a Delphes file."""
    with DelphesFile(path) as f:
        f.require(OBJECT_BRANCHES, "reading the Delphes objects (--delphes objects)")
        for first, arrays in f.chunks(OBJECT_BRANCHES, chunk_size, OBJECT_OPTIONAL):
            yield object_table(arrays, schema, path=f.path, first=first)


def _expression_texts(node: Any) -> list[str]:
    """Every expression text of a definition spec ({"text": ...} nodes) and object sources."""
    out: list[str] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k in ("text", "from") and isinstance(v, str):
                out.append(v)
            else:
                out += _expression_texts(v)
    elif isinstance(node, list):
        for v in node:
            out += _expression_texts(v)
    return out


def _card(analysis: Analysis) -> str:
    return analysis.detector.card.profile_name if analysis.detector is not None else "?"


def object_source(analysis: Analysis, files: Sequence[str | os.PathLike[str]], how: str) -> str:
    """Where the analysis' objects come from (``sample.object_source`` of its results)."""
    names = ", ".join(map(str, files))
    if how == "truth":
        return (
            f"Delphes truth: the Particle branch of {names} through recast's detector emulation "
            f"(card {_card(analysis)}); Delphes' reconstructed objects are not used"
        )
    return (
        f"Delphes objects: the branches Jet, Electron, Muon, Photon, MissingET of {names}; recast's detector "
        f"emulation (card {_card(analysis)}) is not run: efficiencies, resolutions, jet algorithm and radius and "
        "object definitions are the Delphes card's"
    )


def object_caveats(analysis: Analysis) -> list[str]:
    """How the objects of the Delphes objects path differ from the analysis card's definitions,
    for the fields and collections this analysis uses (``sample.object_caveats``)."""
    text = "\n".join(_expression_texts(analysis.definition.spec()))
    out = [caveat for pattern, caveat in _FIELD_CAVEATS if re.search(pattern, text)]
    out += [caveat for name, caveat in _COLLECTION_CAVEATS.items() if analysis._core.uses(name)]
    return out


# ------------------------------------------------------------------------------------------------
# (b) truth
# ------------------------------------------------------------------------------------------------
@dataclass
class TruthStats:
    """What the truth conversion met (for the caveats of the results)."""

    events: int = 0
    particles: int = 0
    pile_up_dropped: int = 0
    with_mothers: int = 0
    notes: list[str] = field(default_factory=list)


def mothers(
    m1: npt.NDArray[np.int64], m2: npt.NDArray[np.int64], status: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """(parent_offsets, parents) from Delphes' M1/M2 (event-local, -1 = none) with Pythia's
    convention: one mother (M2 < 0 or M2 == M1, or only M2 set), the range M1..M2 for hadrons
    (status 1/2) from string fragmentation, else the two mothers M1 and M2."""
    none = (m1 < 0) & (m2 < 0)
    single = ~none & ((m1 < 0) | (m2 < 0) | (m2 == m1))
    ranged = ~none & ~single & (m2 > m1) & ((status == 1) | (status == 2))
    two = ~none & ~single & ~ranged
    count = np.where(none, 0, np.where(single, 1, np.where(ranged, m2 - m1 + 1, 2))).astype(np.int64)
    start = np.where(single, np.where(m1 >= 0, m1, m2), np.minimum(m1, m2))
    step = np.where(ranged, 1, np.where(two, np.abs(m2 - m1), 0))
    offsets = _offsets(count)
    owner = np.repeat(np.arange(count.size), count)
    within = np.arange(int(offsets[-1]), dtype=np.int64) - offsets[owner]
    parents = (start[owner] + within * step[owner]).astype(np.int32)
    return offsets, parents


def truth_batch(
    arrays: Mapping[str, Any],
    *,
    path: str | os.PathLike[str] = "<delphes>",
    first: int = 0,
    stats: TruthStats | None = None,
) -> EventBatch:
    """An :class:`EventBatch` from one chunk of the Particle branch (:data:`TRUTH_BRANCHES`,
    optional :data:`TRUTH_OPTIONAL`); see the module docstring for the conventions."""
    from .events import EventBatch

    path = Path(path)
    counts = _counts(arrays["Particle.PID"])
    n_events = counts.size
    pid = _flat(arrays["Particle.PID"], np.int64)
    status = _flat(arrays["Particle.Status"], np.int64)
    m1 = _flat(arrays["Particle.M1"], np.int64)
    m2 = _flat(arrays["Particle.M2"], np.int64)
    ev = np.repeat(np.arange(n_events), counts)
    size = counts[ev]
    for name, m in (("M1", m1), ("M2", m2)):
        bad = np.flatnonzero(m >= size)
        if bad.size:
            k = int(bad[0])
            local = k - int(_offsets(counts)[ev[k]])
            raise InputError(
                f"Particle {local}: {name} = {m[k]} points outside the event's {size[k]} particles",
                file=str(path),
                event=first + int(ev[k]),
            )
    px, py, pz, e, mass = (_flat(arrays[f"Particle.{c}"]) for c in ("Px", "Py", "Pz", "E", "Mass"))
    parent_offsets, parents = mothers(m1, m2, status)
    if "Particle.IsPU" in arrays:
        keep = _flat(arrays["Particle.IsPU"], np.int64) == 0
        if not keep.all():
            offsets = _offsets(counts)
            new_counts = np.bincount(ev[keep], minlength=n_events).astype(np.int64)
            new_local = np.cumsum(keep) - 1 - _offsets(new_counts)[ev]  # event-local index after the cut
            owner = np.repeat(np.arange(keep.size), np.diff(parent_offsets))
            parent_global = offsets[ev[owner]] + parents
            link = keep[owner] & keep[parent_global]
            parents = new_local[parent_global[link]].astype(np.int32)
            parent_offsets = _offsets(np.bincount(owner[link], minlength=keep.size)[keep].astype(np.int64))
            if stats is not None:
                stats.pile_up_dropped += int((~keep).sum())
            pid, status, px, py, pz, e, mass = (c[keep] for c in (pid, status, px, py, pz, e, mass))
            counts = new_counts
    if stats is not None:
        stats.events += n_events
        stats.particles += int(pid.size)
        stats.with_mothers += int(np.count_nonzero(np.diff(parent_offsets)))
    return EventBatch.from_arrays(
        _offsets(counts),
        px,
        py,
        pz,
        e,
        pid.astype(np.int32),
        status.astype(np.int32),
        mass=mass,
        parent_offsets=parent_offsets,
        parents=parents,
        weight=_weights(arrays, n_events, path, first),
        event_number=_event_numbers(arrays, n_events, first),
        source=str(path),
    )


def iter_truth(
    path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE, *, stats: TruthStats | None = None
) -> Iterator[EventBatch]:
    """The Particle branch of a Delphes file as event batches of ``chunk_size`` events."""
    with DelphesFile(path) as f:
        f.require(TRUTH_BRANCHES, "reading the truth particles (--delphes truth)")
        for first, arrays in f.chunks(TRUTH_BRANCHES, chunk_size, TRUTH_OPTIONAL):
            yield truth_batch(arrays, path=f.path, first=first, stats=stats)


def truth_caveats(stats: TruthStats) -> list[str]:
    """What the truth path could not carry over from the generator record (``sample.object_caveats``)."""
    out = [
        "truth momenta and masses at Delphes' float32 precision",
        "mothers from Particle.M1/M2 (Pythia's convention: M1..M2 a range for hadrons from string fragmentation, "
        "else one or two mothers); Delphes stores no production vertices (the emulation does not use them)",
    ]
    if stats.pile_up_dropped:
        out.append(f"{stats.pile_up_dropped} pile-up particles (IsPU = 1) dropped")
    if stats.particles and stats.with_mothers == 0:
        out.append(
            "the Particle branch holds no mother links: promptness, hadronic taus and b-hadron labels cannot be "
            "derived from the decay history"
        )
    return out


# ------------------------------------------------------------------------------------------------
# running analyses on Delphes files
# ------------------------------------------------------------------------------------------------
def run_delphes(
    analyses: Sequence[Analysis],
    files: Sequence[str | os.PathLike[str]],
    *,
    how: str = DEFAULT_PATH,
    cross_section: float | None = None,
    luminosity: float | None = None,
    threads: int = 1,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = False,
) -> tuple[list[AnalysisResult], list[dict[str, Any]]]:
    """Runs the analyses (loaded for their detector cards) on the Delphes files of one sample
    (``how``: "objects" or "truth", see the module docstring). Returns one result per analysis
    and, per analysis, the keys to add to its results document's ``sample``
    (``object_source``, ``object_caveats``)."""
    from tqdm import tqdm

    from .analysis import AnalysisResult, prefetched, run_batches

    if how not in PATHS:
        raise ConfigError(f"--delphes {how!r}: expected one of {', '.join(PATHS)}")
    if not files:
        raise ConfigError("no Delphes files given")
    for ana in analyses:
        if ana.detector is None:
            raise ConfigError(f"{ana.id} was compiled for arrays; load it with Analysis.load(ID, detector=...)")
    bar = tqdm(unit="ev", desc="events", disable=not progress, leave=False)
    try:
        if how == "truth":
            stats = TruthStats()

            def batches() -> Iterator[EventBatch]:
                for path in files:
                    n = 0
                    for batch in iter_truth(path, chunk_size, stats=stats):
                        n += len(batch)
                        bar.update(len(batch))
                        yield batch
                    if n == 0:
                        raise InputError(f"{path}: the {TREE!r} tree holds no events")
                    log.info("%s: %d events (Delphes truth)", path, n)

            stream = prefetched(batches()) if threads >= 2 else batches()
            results = run_batches(analyses, stream, cross_section=cross_section, luminosity=luminosity, threads=threads)
            caveats = truth_caveats(stats)
            return results, [
                {"object_source": object_source(a, files, how), "object_caveats": caveats} for a in analyses
            ]

        # objects: one table per chunk and card, shared by the analyses of that card
        groups: dict[str, list[int]] = {}
        for k, ana in enumerate(analyses):
            assert ana.detector is not None
            groups.setdefault(ana.detector.card.hash, []).append(k)
        schemas = {h: _core.detector_schema(analyses[ks[0]].detector._detector) for h, ks in groups.items()}
        parts: list[list[AnalysisResult]] = [[] for _ in analyses]
        for path in files:
            n = 0
            with DelphesFile(path) as f:
                f.require(OBJECT_BRANCHES, "reading the Delphes objects (--delphes objects)")
                for first, arrays in f.chunks(OBJECT_BRANCHES, chunk_size, OBJECT_OPTIONAL):
                    for h, ks in groups.items():
                        table = object_table(arrays, schemas[h], path=f.path, first=first)
                        for k in ks:
                            res = analyses[k].run_table(
                                table, cross_section=cross_section, luminosity=luminosity, threads=threads
                            )
                            parts[k].append(res)
                    n += len(arrays["MissingET.MET"])
                    bar.update(len(arrays["MissingET.MET"]))
            if n == 0:
                raise InputError(f"{path}: the {TREE!r} tree holds no events")
            log.info("%s: %d events (Delphes objects)", path, n)
        results = []
        for done in parts:
            res = AnalysisResult.combine(done)
            res.detector = "delphes"
            results.append(res)
        return results, [
            {"object_source": object_source(a, files, how), "object_caveats": object_caveats(a)} for a in analyses
        ]
    finally:
        bar.close()


def summary_lines(sample: Mapping[str, Any]) -> list[str]:
    """Lines for the human summary: where the objects come from and how they differ from the card."""
    if "object_source" not in sample:
        return []
    return [f"objects: {sample['object_source']}"] + [f"  caveat: {c}" for c in sample.get("object_caveats", [])]
