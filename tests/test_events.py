"""The columnar event model: construction from arrays, validation, awkward view."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from recast_ml import EventBatch, InputError, _core


def small_batch():
    # two events: (e+ e-) and (pi+, pi0 -> gamma gamma)
    return EventBatch.from_arrays(
        offsets=[0, 2, 6],
        px=[1, -1, 2, 0.5, 0.3, 0.2],
        py=[0, 0, 1, 0, 0.1, -0.1],
        pz=[3, -3, 0, 1, 0.5, 0.5],
        e=[np.sqrt(10), np.sqrt(10), 3, 2, 1, 1],
        pid=[-11, 11, 211, 111, 22, 22],
        status=[1, 1, 1, 2, 1, 1],
        parent_offsets=[0, 0, 0, 0, 0, 1, 2],
        parents=[1, 1],
        weight=[1.0, 0.5],
    )


def test_from_arrays_columns_and_defaults():
    b = small_batch()
    assert len(b) == 2
    assert b.n_particles == 6
    np.testing.assert_array_equal(b.charge3, [3, -3, 3, 0, 0, 0])
    np.testing.assert_allclose(b.mass[:2], 0.0, atol=1e-7)  # default mass = sqrt(E^2 - p^2)
    np.testing.assert_allclose(b.mass[2], np.sqrt(9 - 5))
    assert b.parents_of(1, 2).tolist() == [1]
    np.testing.assert_array_equal(b.event_number, [0, 1])
    assert not b.px.flags.writeable  # views of the C++ storage are read-only


def test_columns_are_views_not_copies():
    b = small_batch()
    px = b.px
    del b
    assert px.sum() == pytest.approx(3.0)  # the array keeps the batch alive


def test_to_awkward():
    arr = small_batch().to_awkward()
    assert ak.num(arr, axis=1).tolist() == [2, 4]
    assert arr.pid.tolist() == [[-11, 11], [211, 111, 22, 22]]
    assert arr.charge.tolist() == [[1.0, -1.0], [1.0, 0.0, 0.0, 0.0]]
    assert arr.parents.tolist() == [[[], []], [[], [], [1], [1]]]


def test_from_awkward_roundtrip():
    arr = small_batch().to_awkward()
    b = EventBatch.from_awkward(arr[["px", "py", "pz", "e", "pid", "status", "mass"]])
    np.testing.assert_array_equal(b.pid, small_batch().pid)
    with pytest.raises(ValueError, match=r"need fields \['pid'\]"):
        EventBatch.from_awkward(arr[["px", "py", "pz", "e"]])


def test_inconsistent_arrays_are_rejected():
    with pytest.raises(InputError, match="last particle offset"):
        EventBatch.from_arrays([0, 5], [1], [1], [1], [2], [11], [1])
    with pytest.raises(InputError, match=r"\(event 0\): particle 1 has parent index 7 outside \[0, 2\)"):
        EventBatch.from_arrays(
            [0, 2], [1, 1], [0, 0], [0, 0], [2, 2], [11, 11], [1, 1], parent_offsets=[0, 0, 1], parents=[7]
        )
    with pytest.raises(InputError, match="one entry per event"):
        EventBatch.from_arrays([0, 1], [1], [1], [1], [2], [11], [1], weight=[1.0, 2.0])


def test_concatenate():
    b = EventBatch.concatenate([small_batch(), small_batch()])
    assert len(b) == 4
    np.testing.assert_array_equal(b.particle_offsets, [0, 2, 6, 8, 12])
    assert b.parents_of(3, 3).tolist() == [1]


@pytest.mark.parametrize(
    ("pid", "q3"),
    [
        (1, -1),
        (2, 2),
        (-5, 1),
        (6, 2),
        (11, -3),
        (-13, 3),
        (12, 0),
        (22, 0),
        (23, 0),
        (24, 3),
        (-24, -3),
        (25, 0),
        (37, 3),
        (111, 0),
        (211, 3),
        (-211, -3),
        (130, 0),
        (310, 0),
        (311, 0),
        (321, 3),
        (-321, -3),
        (411, 3),
        (421, 0),
        (431, 3),
        (511, 0),
        (521, 3),
        (-521, -3),
        (531, 0),
        (541, 3),
        (443, 0),
        (2212, 3),
        (-2212, -3),
        (2112, 0),
        (3122, 0),
        (3222, 3),
        (3112, -3),
        (3312, -3),
        (3334, -3),
        (4122, 3),
        (5122, 0),
        (2224, 6),
        (1103, -2),
        (2203, 4),
        (1000021, 0),
        (1000022, 0),
        (1000024, 3),
        (-1000024, -3),
        (1000006, 2),
        (1000005, -1),
        (1000011, -3),
        (1000015, -3),
        (1000039, 0),
        (1009213, 3),
        (1000612, 3),
        (1000020040, 6),
    ],
)
def test_charge3_table(pid, q3):
    assert _core.charge3(np.array([pid], np.int32)).tolist() == [q3]


def test_zero_copy_input():
    px = np.array([1.0, -1.0, 2.0], np.float64)
    cols = {
        "offsets": np.array([0, 2, 3], np.int64),
        "px": px,
        "py": np.zeros(3),
        "pz": np.zeros(3),
        "e": np.array([2.0, 2.0, 3.0]),
        "pid": np.array([11, -11, 22], np.int32),
        "status": np.ones(3, np.int32),
    }
    b = EventBatch.from_arrays(**cols, copy=False)
    assert b.borrowed
    assert np.shares_memory(b.px, px)  # the core reads the caller's memory
    assert not b.px.flags.writeable
    np.testing.assert_array_equal(b.charge3, [-3, 3, 0])  # derived columns are computed
    np.testing.assert_allclose(b.mass, [np.sqrt(3), np.sqrt(3), np.sqrt(5)])
    assert b.parents_of(0, 1).tolist() == []
    copied = EventBatch.from_arrays(**cols)
    assert not copied.borrowed
    assert not np.shares_memory(copied.px, px)
    both = EventBatch.concatenate([b, copied])
    np.testing.assert_array_equal(both.px, np.concatenate([px, px]))
    np.testing.assert_array_equal(both.particle_offsets, [0, 2, 3, 5, 6])


def test_zero_copy_input_needs_core_dtypes():
    cols = {
        "offsets": np.array([0, 1], np.int64),
        "px": np.zeros(1),
        "py": np.zeros(1),
        "pz": np.zeros(1),
        "e": np.ones(1),
        "pid": np.array([22], np.int64),
        "status": np.ones(1, np.int32),
    }
    with pytest.raises(InputError, match=r"pid must be a contiguous 1-d int32 array for zero-copy input, got int64"):
        EventBatch.from_arrays(**cols, copy=False)
    cols["pid"] = np.array([22], np.int32)
    cols["px"] = np.zeros(1)
    assert EventBatch.from_arrays(**cols, copy=False).n_particles == 1
    strided = {k: np.repeat(v, 2) for k, v in cols.items() if k != "offsets"}
    strided["px"] = np.zeros(4)[::2]
    with pytest.raises(InputError, match="px must be a contiguous"):
        EventBatch.from_arrays(np.array([0, 2], np.int64), **strided, copy=False)
    cols["offsets"] = np.array([0, 3], np.int64)
    with pytest.raises(InputError, match="last particle offset"):
        EventBatch.from_arrays(**cols, copy=False)
