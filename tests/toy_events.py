"""Random jet/MET tables for analysis tests (awkward arrays; see recast_ml.analysis.table_from_arrays)."""

from __future__ import annotations

import awkward as ak
import numpy as np


def random_jets(
    rng: np.random.Generator,
    n: int,
    *,
    n_min: int,
    n_max: int,
    pt_mean: float,
    pt_min: float,
    abs_eta_max: float,
    mass_max: float = 0.0,
    pt_ordered: bool = False,
) -> ak.Array:
    """``n`` events with ``n_min``..``n_max`` jets: pT = pt_min + exponential(pt_mean), uniform
    eta/phi, mass uniform below ``mass_max`` (0: massless)."""
    counts = rng.integers(n_min, n_max + 1, n)
    total = int(counts.sum())
    flat = ak.zip(
        {
            "pt": rng.exponential(pt_mean, total) + pt_min,
            "eta": rng.uniform(-abs_eta_max, abs_eta_max, total),
            "phi": rng.uniform(-np.pi, np.pi, total),
            "mass": rng.uniform(0, mass_max, total) if mass_max > 0 else np.zeros(total),
        }
    )
    jets = ak.unflatten(flat, counts)
    return jets[ak.argsort(jets.pt, ascending=False)] if pt_ordered else jets


def random_met(rng: np.random.Generator, n: int, *, pt_mean: float, pt_min: float = 0.0) -> ak.Array:
    return ak.zip({"pt": rng.exponential(pt_mean, n) + pt_min, "phi": rng.uniform(-np.pi, np.pi, n)})
