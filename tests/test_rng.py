"""Philox4x32-10 counter-based random numbers against the spec (§14) and its reference code."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import load_spec_tool
from recast_ml import _core, rng


@pytest.fixture(scope="module")
def reference():
    return load_spec_tool("rng_reference")


@pytest.mark.parametrize(
    ("ctr", "key", "out"),
    [  # Random123 known-answer tests (spec §14.2)
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_known_answers(ctr, key, out):
    assert tuple(_core.philox4x32_10(ctr, key)) == out


@pytest.mark.parametrize(
    ("seed", "event", "stream", "block", "obj", "words", "ua", "ub", "z0", "z1"),
    [  # spec §14.6
        (
            12345,
            0,
            "electron",
            0,
            0,
            "3703b752 be19e8f1 9662cf64 09d48e90",
            0.21490045445101597,
            0.58744522212743466,
            -1.4955166730395739,
            -0.91574592650689857,
        ),
        (
            12345,
            0,
            "electron",
            1,
            0,
            "1f8bad54 0ab2e0b2 23ac7f6e ed585232",
            0.12322504849576915,
            0.139350860768027,
            1.3108029273897579,
            1.5713947789205387,
        ),
        (
            12345,
            7,
            "jet_smear",
            1,
            3,
            "5117aa6f 815ae64a 0ebe2ae6 4ab07a7a",
            0.31676736105451936,
            0.057589227644766428,
            1.4181160404621034,
            0.53677015419250584,
        ),
        (
            1099511627793,
            123456789012,
            "jet_btag",
            0,
            42,
            "122d57a1 bec0649d e9cdbfa1 eb025e99",
            0.07100437391641129,
            0.91329573033753708,
            1.9670613719826122,
            -1.1919300137245836,
        ),
    ],
)
def test_spec_vectors(seed, event, stream, block, obj, words, ua, ub, z0, z1):
    w = rng.words(seed, event, stream, block, obj)
    assert " ".join(f"{x:08x}" for x in w[0]) == words
    u = rng.uniforms(seed, event, stream, block, obj)
    assert (u[0][0], u[1][0]) == (ua, ub)  # exact: integer arithmetic and IEEE conversion
    z = rng.normals(seed, event, stream, block, obj)
    assert z[0][0] == pytest.approx(z0, rel=1e-12)
    assert z[1][0] == pytest.approx(z1, rel=1e-12)


def test_equals_reference_implementation_on_random_keys(reference):
    gen = np.random.default_rng(99)
    for _ in range(300):
        seed = int(gen.integers(0, 2**63))
        event = int(gen.integers(0, 2**63))
        obj = int(gen.integers(0, 2**32))
        block = int(gen.integers(0, 2**16))
        stream = str(gen.choice(list(reference.STREAMS)))
        ours = rng.uniforms(seed, event, stream, block, obj)
        assert (ours[0][0], ours[1][0]) == reference.uniforms(seed, event, stream, block, obj)
        zn = rng.normals(seed, event, stream, block, obj)
        np.testing.assert_allclose([zn[0][0], zn[1][0]], reference.normals(seed, event, stream, block, obj), rtol=1e-12)
    assert rng.STREAMS == reference.STREAMS


def test_vectorised_calls_equal_scalar_calls_and_are_independent_of_order():
    keys = np.arange(1000, dtype=np.uint64) * 7919
    objs = np.arange(1000, dtype=np.uint32) % 13
    ua, ub = rng.uniforms(42, keys, "muon", 0, objs)
    perm = np.random.default_rng(0).permutation(1000)
    pa, pb = rng.uniforms(42, keys[perm], "muon", 0, objs[perm])
    np.testing.assert_array_equal(pa, ua[perm])
    np.testing.assert_array_equal(pb, ub[perm])
    assert rng.uniforms(42, keys[17], "muon", 0, objs[17])[0][0] == ua[17]
    # broadcasting one event key against many objects
    a, _ = rng.uniforms(42, 5, "jet_btag", 0, np.arange(4))
    assert a.shape == (4,)
    assert len(set(a.tolist())) == 4


def test_distribution_moments():
    n = 200_000
    ua, ub = rng.uniforms(7, np.arange(n), "track", 0, 0)
    assert ua.min() > 0
    assert ua.max() < 1
    assert ua.mean() == pytest.approx(0.5, abs=5 * np.sqrt(1 / 12 / n))
    assert np.corrcoef(ua, ub)[0, 1] == pytest.approx(0, abs=5 / np.sqrt(n))
    z0, z1 = rng.normals(7, np.arange(n), "met", 1, 0)
    assert z0.mean() == pytest.approx(0, abs=5 / np.sqrt(n))
    assert z1.std() == pytest.approx(1, abs=5 / np.sqrt(2 * n))


def test_bad_stream():
    with pytest.raises(KeyError):
        rng.uniforms(1, 0, "no_such_stream", 0, 0)
    with pytest.raises(ValueError, match="outside"):
        rng.uniforms(1, 0, 0, 0, 0)
