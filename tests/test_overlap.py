"""Overlap-removal building blocks (§8.7): hand-computed cones and a brute-force reference."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from recast_ml.overlap import remove_overlaps


def objects(rows):
    return ak.Array([[dict(zip(("pt", "eta", "phi", "mass"), o, strict=True)) for o in ev] for ev in rows])


def test_fixed_cone_edges():
    a = objects([[(50, 0.0, 0.0, 0), (50, 1.0, 0.0, 0)], []])
    b = objects([[(30, 0.39, 0.0, 0)], [(30, 0.0, 0.0, 0)]])
    assert remove_overlaps(a, b, dr=0.4).to_list() == [[False, True], []]
    assert remove_overlaps(a, b, dr=0.39).to_list() == [[True, True], []]  # strict inequality
    # phi wraps around: dphi(3.1, -3.1) = 0.083
    a2, b2 = objects([[(20, 0.0, 3.1, 0)]]), objects([[(20, 0.0, -3.1, 0)]])
    assert remove_overlaps(a2, b2, dr=0.1).to_list() == [[False]]


def test_shrinking_cone_uses_the_right_pt():
    # min(0.4, 0.04 + 10/pT): pT = 25 -> 0.4 ; pT = 100 -> 0.14 ; pT = 50 -> 0.24
    a = objects([[(25, 0.0, 0.0, 0), (100, 2.0, 0.0, 0), (100, 3.0, 0.0, 0)]])
    b = objects([[(50, 0.35, 0.0, 0), (50, 2.15, 0.0, 0), (50, 3.13, 0.0, 0)]])
    shrink = (0.04, 10.0, 0.4)
    assert remove_overlaps(a, b, shrinking=shrink).to_list() == [[False, True, False]]
    # with the pT of b (50 GeV -> 0.24) the 0.15 and 0.13 separations are inside, 0.35 is not
    assert remove_overlaps(a, b, shrinking=shrink, cone_pt="b").to_list() == [[True, False, False]]


def test_rapidity_differs_from_pseudorapidity_for_massive_objects():
    # a heavy slow object: eta = 1.0 but y = asinh(pT sinh(eta) / mT) is much smaller
    pt, eta, m = 20.0, 1.0, 40.0
    y = np.arcsinh(pt * np.sinh(eta) / np.hypot(pt, m))
    a = objects([[(pt, eta, 0.0, m)]])
    b = objects([[(50, y + 0.05, 0.0, 0.0)]])
    assert remove_overlaps(a, b, dr=0.1).to_list() == [[True]]  # |d eta| = 1 - y - 0.05 is large
    assert remove_overlaps(a, b, dr=0.1, rapidity=True).to_list() == [[False]]
    with pytest.raises(ValueError, match="mass"):
        remove_overlaps(objects([[(1, 0, 0, 0)]])[["pt", "eta", "phi"]], b, rapidity=True)


def test_only_and_against_masks():
    a = objects([[(50, 0.0, 0.0, 0), (50, 1.0, 0.0, 0)]])
    b = objects([[(30, 0.1, 0.0, 0), (30, 1.1, 0.0, 0)]])
    removable = ak.Array([[True, False]])  # the second is protected (e.g. b-tagged)
    assert remove_overlaps(a, b, only=removable).to_list() == [[False, True]]
    active = ak.Array([[False, True]])  # only the second b object removes
    assert remove_overlaps(a, b, against=active).to_list() == [[True, False]]
    with pytest.raises(ValueError, match="shape"):
        remove_overlaps(a, b, only=ak.Array([[True]]))
    with pytest.raises(ValueError, match="events"):
        remove_overlaps(a, objects([[], []]))


def test_random_events_against_brute_force():
    rng = np.random.default_rng(11)

    def random_collection(n_events, mean):
        counts = rng.poisson(mean, n_events)
        n = counts.sum()
        flat = ak.zip(
            {
                "pt": rng.uniform(5, 200, n),
                "eta": rng.uniform(-2.5, 2.5, n),
                "phi": rng.uniform(-np.pi, np.pi, n),
                "mass": rng.uniform(0, 20, n),
            }
        )
        return ak.unflatten(flat, counts)

    a, b = random_collection(300, 5), random_collection(300, 3)
    for kwargs in ({"dr": 0.4}, {"shrinking": (0.04, 10.0, 0.4)}, {"dr": 0.6, "rapidity": True}):
        keep = remove_overlaps(a, b, **kwargs)
        for i in range(len(a)):
            for k, o in enumerate(a[i]):
                inside = False
                for p in b[i]:
                    if kwargs.get("rapidity"):
                        ya = np.arcsinh(o.pt * np.sinh(o.eta) / np.hypot(o.pt, o.mass))
                        yb = np.arcsinh(p.pt * np.sinh(p.eta) / np.hypot(p.pt, p.mass))
                    else:
                        ya, yb = o.eta, p.eta
                    dphi = np.mod(o.phi - p.phi + np.pi, 2 * np.pi) - np.pi
                    r = min(0.4, 0.04 + 10.0 / o.pt) if "shrinking" in kwargs else kwargs["dr"]
                    inside |= bool(np.hypot(ya - yb, dphi) < r)
                assert keep[i][k] == (not inside)
        assert 0 < ak.sum(~keep) < ak.sum(ak.num(a))
