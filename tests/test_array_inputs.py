"""Bad array input (issue 13): EventBatch.from_arrays / from_awkward and the analysis tables
(table_from_arrays, Analysis.run_table) refuse malformed columns with a recast_ml.InputError naming
the column (and the event and particle where there is one), never with a crash, a bare ValueError,
TypeError, KeyError or an awkward/numpy exception. NaN stays allowed where it means "missing"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from recast_ml import EventBatch, InputError, _core
from recast_ml.analysis import Analysis, table_from_arrays

TOY_ANALYSIS = Path(__file__).parent / "data" / "toy_analysis.yaml"

_CORE_DTYPES = {"offsets": np.int64, "parent_offsets": np.int64, "event_number": np.int64,
                "pid": np.int32, "status": np.int32, "parents": np.int32}  # fmt: skip


def columns(**change: Any) -> dict[str, Any]:
    """Two events: (e+ e-) and (pi+, pi0 -> gamma gamma), as from_arrays keywords."""
    cols: dict[str, Any] = {
        "offsets": [0, 2, 6],
        "px": [1.0, -1.0, 2.0, 0.5, 0.3, 0.2],
        "py": [0.0, 0.0, 1.0, 0.0, 0.1, -0.1],
        "pz": [3.0, -3.0, 0.0, 1.0, 0.5, 0.5],
        "e": [3.2, 3.2, 3.0, 2.0, 1.0, 1.0],
        "pid": [-11, 11, 211, 111, 22, 22],
        "status": [1, 1, 1, 2, 1, 1],
        "parent_offsets": [0, 0, 0, 0, 0, 1, 2],
        "parents": [1, 1],
        "weight": [1.0, 0.5],
    }
    cols.update(change)
    return {k: v for k, v in cols.items() if v is not None}


def core_typed(cols: dict[str, Any]) -> dict[str, Any]:
    """The same columns with the dtypes of the zero-copy path."""
    return {k: np.ascontiguousarray(v, dtype=_CORE_DTYPES.get(k, np.float64)) for k, v in cols.items()}


def refused(match: str, copy: bool = True, **change: Any) -> InputError:
    cols = columns(**change)
    with pytest.raises(InputError, match=match) as info:
        EventBatch.from_arrays(**(cols if copy else core_typed(cols)), copy=copy)
    assert type(info.value) is InputError
    return info.value


def test_the_columns_are_valid():
    for copy in (True, False):
        cols = columns()
        b = EventBatch.from_arrays(**(cols if copy else core_typed(cols)), copy=copy)
        assert (len(b), b.n_particles) == (2, 6)


# ---- integer overflow and range ----------------------------------------------------------------


@pytest.mark.parametrize("copy", [True, False])
def test_pid_of_minus_2_to_the_31_is_refused_not_a_segfault(copy):
    refused(r"<arrays> \(event 1\): particle 2: pid -2147483648 is not a PDG id", copy,
            pid=[-11, 11, 211, 111, -(2**31), 22])  # fmt: skip


def test_pid_outside_int32_names_column_event_and_particle():
    refused(r"\(event 1\): particle 1 \(pid\[3\]\): pid is 2147483648, expected an integer in "
            r"\[-2147483648, 2147483647\] \(int32\)", pid=[-11, 11, 211, 2**31, 22, 22])  # fmt: skip
    refused(
        r"\(event 0\): particle 0 \(pid\[0\]\): pid is -2147483649", pid=np.array([-(2**31) - 1, 11, 211, 111, 22, 22])
    )
    refused(r"pid\[5\]\): pid is 18446744073709551615", pid=np.array([11, 11, 211, 111, 22, 2**64 - 1], np.uint64))
    refused(r"pid must hold integers \(int32\)", pid=[11, 11, 211, 111, 22, 2**70])  # object array


def test_status_and_parents_outside_int32():
    refused(r"\(event 0\): particle 1 \(status\[1\]\): status is 1099511627776", status=[1, 2**40, 1, 2, 1, 1])
    refused(r"\(event 1\): particle 3, parents\[1\]: parents is 2147483648", parents=[1, 2**31])


def test_non_integral_offsets_are_refused_not_truncated():
    refused(r"offsets\[1\]: offsets is 1\.5, expected an integer", offsets=[0, 1.5, 6])
    refused(r"offsets\[1\]: offsets is nan", offsets=[0, float("nan"), 6])
    assert len(EventBatch.from_arrays(**columns(offsets=[0.0, 2.0, 6.0]))) == 2  # integral floats are fine


@pytest.mark.parametrize("copy", [True, False])
def test_huge_or_decreasing_offsets_are_refused_before_use(copy):
    refused(
        r"\(event 0\): offsets\[1\] = 1099511627776 exceeds the number of particles \(6\)", copy, offsets=[0, 2**40, 6]
    )
    refused(r"\(event 0\): particle offsets must be non-decreasing: offsets\[1\] = -1 < offsets\[0\] = 0", copy,
            offsets=[0, -1, 6])  # fmt: skip
    refused(r"last particle offset \(5\) must equal the number of particles \(6\)", copy, offsets=[0, 2, 5])
    refused(r"particle offsets must start with 0, got offsets\[0\] = 1", copy, offsets=[1, 2, 6])
    refused(r"offsets is empty", copy, offsets=[])


@pytest.mark.parametrize("copy", [True, False])
def test_parent_indices_and_offsets_out_of_range(copy):
    refused(r"\(event 1\): particle 3 has parent index 7 outside \[0, 4\)", copy, parents=[1, 7])
    refused(r"\(event 1\): particle 2 has parent index -1 outside \[0, 4\)", copy, parents=[-1, 1])
    # parent offsets past the end of parents: was an out-of-bounds read with copy=False
    refused(r"\(event 0\): particle 0: parent_offsets\[1\] = 5 exceeds the length of parents \(2\)", copy,
            parent_offsets=[0, 5, 1, 1, 1, 1, 2])  # fmt: skip
    refused(
        r"\(event 0\): particle 1: parent offsets must be non-decreasing", copy, parent_offsets=[0, 1, 0, 0, 0, 1, 2]
    )
    refused(r"parent offsets must have n_particles\+1 entries \(7\), got 3", copy, parent_offsets=[0, 1, 2])


def test_parents_without_parent_offsets():
    refused(r"parents given without parent_offsets: parents and parent_offsets must be given together",
            parent_offsets=None)  # fmt: skip
    refused(r"parent_offsets given without parents", False, parents=None)


# ---- shapes and dtypes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["offsets", "px", "pid", "parents", "weight"])
def test_columns_that_are_not_one_dimensional(name):
    value = columns()[name]
    refused(rf"{name} must be a one-dimensional array of .*, got shape \(2, {len(value)}\)", **{name: [value, value]})
    refused(rf"{name} must be a one-dimensional array of .*, got shape \(\)", **{name: 3})
    refused(rf"{name} cannot be read as an array", **{name: [value, value[:1]]})  # ragged


def test_columns_of_the_wrong_dtype():
    refused(r"px must hold real numbers \(float64\), got dtype <U1", px=list("abcdef"))
    refused(r"px must hold real numbers \(float64\), got dtype complex128", px=np.arange(6) * 1j)
    refused(r"mass must hold real numbers \(float64\), got dtype <U1", mass=list("abcdef"))  # was a segfault
    refused(r"pid must hold integers \(int32\), got dtype <U2", pid=["11"] * 6)
    with pytest.raises(InputError, match=r"status is missing \(None\): expected a 1-d array of integers \(int32\)"):
        EventBatch.from_arrays(**{**columns(), "status": None})
    refused(r"e must hold real numbers \(float64\), got TypeError", e=[1.0, {}, 1.0, 1.0, 1.0, 1.0])
    assert np.isnan(EventBatch.from_arrays(**columns(e=[1.0, None, 1.0, 1.0, 1.0, 1.0])).e[1])  # None = missing


def test_columns_of_the_wrong_length_are_named():
    refused(r"all particle columns must have the length of pid \(6\): pz has 5", pz=[0.0] * 5)
    refused(r"all particle columns must have the length of pid \(6\): mass has 7", mass=[0.0] * 7)
    refused(r"one entry per event \(2\): weight has 3", weight=[1.0, 1.0, 1.0])
    refused(r"one entry per event \(2\): event_number has 1", event_number=[7])


def test_zero_copy_input_names_the_expected_array():
    with pytest.raises(
        InputError, match=r"mine: px must be a contiguous 1-d float64 numpy array for zero-copy input, got list"
    ):
        EventBatch.from_arrays(**{**core_typed(columns()), "px": [0.0] * 6}, copy=False, source="mine")


# ---- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("name", ["px", "py", "pz", "e", "mass"])
def test_infinite_momenta_are_refused(copy, name):
    values = [1.0] * 6
    values[3] = -np.inf
    refused(rf"\(event 1\): particle 1: {name} is -inf, expected a finite number \(NaN marks a missing value\)", copy,
            **{name: values})  # fmt: skip


@pytest.mark.parametrize("copy", [True, False])
def test_nan_momenta_mean_missing_and_are_accepted(copy):
    cols = columns(px=[np.nan, -1.0, 2.0, 0.5, 0.3, 0.2], mass=[np.nan, 0.0, 0.1, 0.1, 0.0, 0.0])
    b = EventBatch.from_arrays(**(cols if copy else core_typed(cols)), copy=copy)
    assert np.isnan(b.px[0])
    assert np.isnan(b.mass[0])


@pytest.mark.parametrize("weight", [[np.inf, 1.0], [1.0, np.nan]])
def test_non_finite_weights_are_refused(weight):
    bad = int(np.flatnonzero(~np.isfinite(weight))[0])
    refused(rf"\(event {bad}\): weight is (inf|nan), expected a finite number", weight=weight)


def test_charge3_of_minus_2_to_the_31_does_not_crash():
    assert _core.charge3(np.array([-(2**31), 11], np.int32)).tolist() == [0, -3]


def test_the_source_names_the_input():
    with pytest.raises(InputError, match=r"^my arrays \(event 1\): particle 0: px is inf"):
        EventBatch.from_arrays(**columns(px=[1.0, 1.0, np.inf, 1.0, 1.0, 1.0]), source="my arrays")


# ---- awkward ------------------------------------------------------------------------------------------


def test_from_awkward_refuses_malformed_arrays_with_input_error():
    good = ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "e": 2.0, "pid": 11}], []])
    assert len(EventBatch.from_awkward(good)) == 2
    with pytest.raises(InputError, match=r"need fields \['pid'\]"):
        EventBatch.from_awkward(good[["px", "py", "pz", "e"]])
    with pytest.raises(InputError, match=r"expected events of particle records"):
        EventBatch.from_awkward(ak.flatten(good))
    with pytest.raises(InputError, match=r"<awkward>: px must be a one-dimensional array of real numbers, got shape"):
        EventBatch.from_awkward(ak.Array([[{"px": [1.0], "py": 0.0, "pz": 0.0, "e": 2.0, "pid": 11}]]))
    with pytest.raises(InputError, match=r"field 'pid' has missing values"):
        EventBatch.from_awkward(ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "e": 2.0, "pid": None}]]))
    with pytest.raises(InputError, match=r"\(event 0\): particle 0 \(pid\[0\]\): pid is 2147483648"):
        EventBatch.from_awkward(ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "e": 2.0, "pid": 2**31}]]))
    with pytest.raises(InputError, match=r"cannot read the particles"):
        EventBatch.from_awkward(object())
    missing_px = EventBatch.from_awkward(ak.Array([[{"px": None, "py": 0.0, "pz": 0.0, "e": 2.0, "pid": 11}]]))
    assert np.isnan(missing_px.px[0])


# ---- analysis tables ------------------------------------------------------------------------------------


def jets(*per_event: int) -> ak.Array:
    return ak.Array([[{"pt": 50.0 + i, "eta": 0.1, "phi": 0.2, "mass": 0.0} for i in range(n)] for n in per_event])


def electrons(n: int) -> ak.Array:
    return ak.Array([[{"pt": 20.0, "eta": 0.1, "phi": 0.1, "mass": 0.0, "tight": True}]] + [[]] * (n - 1))


def met(n: int) -> ak.Array:
    return ak.Array([{"pt": 50.0, "phi": 1.0}] * n)


def good_table() -> dict[str, Any]:
    return table_from_arrays({"jets": jets(2, 1), "electrons": electrons(2)}, {"met": met(2)}, weight=[1.0, 1.0])


def toy() -> Analysis:
    return Analysis.for_arrays(TOY_ANALYSIS, good_table())


def test_the_good_table_runs():
    assert toy().run_table(good_table()).cutflows


def test_table_from_arrays_event_count_mismatch():
    with pytest.raises(InputError, match=r"record 'met' has 1 events, expected 2"):
        table_from_arrays({"jets": jets(2, 1)}, {"met": met(1)})


@pytest.mark.parametrize(
    ("collections", "records", "match"),
    [
        # a record where a collection is expected (was an awkward AxisError)
        ({"jets": met(2)}, {}, r"collection 'jets' must be an array of lists of records"),
        ({"jets": ak.Array([[1.0, 2.0], []])}, {}, r"collection 'jets' must be an array of lists of records"),
        ({}, {"met": jets(1, 1)}, r"record 'met' must be an array of records"),
        ({}, {"met": ak.Array([1.0, 2.0])}, r"record 'met' must be an array of records"),
        # an irreducible union (was an awkward TypeError)
        ({}, {"met": ak.Array([{"pt": 1.0, "phi": True}, {"pt": 1.0, "phi": 1.0}])}, r"record 'met', field 'phi'"),
        ({"jets": ak.Array([[{"pt": "a"}]])}, {}, r"collection 'jets', field 'pt' must hold one number or bool"),
        ({"jets": ak.Array([[{"pt": [1.0]}]])}, {}, r"collection 'jets', field 'pt' must hold one number or bool"),
        ({"jets": 5}, {}, r"collection 'jets' cannot be used as a collection"),
    ],
)
def test_table_from_arrays_malformed_arrays(collections, records, match):
    with pytest.raises(InputError, match=match):
        table_from_arrays(collections, records)


def test_table_from_arrays_empty_and_missing_values():
    empty = table_from_arrays({"jets": ak.Array([]), "electrons": []}, {"met": []}, weight=[])  # was an AxisError
    assert empty["n_events"] == 0
    with pytest.raises(InputError, match=r"collection '(jets|electrons)' has other fields"):  # typed, from run_table
        toy().run_table(empty)
    t = table_from_arrays({"jets": ak.Array([[{"pt": None, "eta": 0.0}]])}, {"met": ak.Array([{"pt": None}])})
    assert np.isnan(t["collections"]["jets"]["fields"]["pt"][0])
    assert np.isnan(t["records"]["met"]["fields"]["pt"][0])


def test_table_from_arrays_weight_and_event_number():
    with pytest.raises(InputError, match=r"weight must be a one-dimensional array of numbers, got <U1"):
        table_from_arrays({"jets": jets(1)}, weight=["a"])
    with pytest.raises(
        InputError, match=r"weight must be a one-dimensional array of numbers, got float64 with shape \(1, 1\)"
    ):
        table_from_arrays({"jets": jets(1)}, weight=[[1.0]])
    with pytest.raises(InputError, match=r"event_number must be a one-dimensional array of integers, got float64"):
        table_from_arrays({"jets": jets(1)}, event_number=[1.5])
    with pytest.raises(InputError, match=r"weight has 1 entries for 2 events"):
        toy().run_table(
            table_from_arrays({"jets": jets(2, 1), "electrons": electrons(2)}, {"met": met(2)}, weight=[1.0])
        )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda t: t.pop("n_events"), r"the table has no 'n_events' entry"),
        (lambda t: t.update(n_events=-1), r"n_events must be a non-negative integer, got -1"),
        (lambda t: t.update(n_events=2.5), r"n_events must be a non-negative integer, got 2.5"),
        (lambda t: t.pop("collections"), r"the table has no 'collections' entry"),
        (lambda t: t.update(collections=[1]), r"collections must be a dict, got list"),
        (lambda t: t["collections"]["jets"].pop("offsets"), r"collection 'jets' has no 'offsets' entry"),
        (lambda t: t["collections"]["jets"].update(offsets=[0, 1.5, 3]), r"collection 'jets': offsets\[1\] is 1.5"),
        (lambda t: t["collections"]["jets"].update(offsets="abc"), r"'jets': offsets must be a 1-d array of integers"),
        (lambda t: t["collections"]["jets"].update(offsets=[0, 3, 2]), r"collection 'jets': offsets decrease"),
        (
            lambda t: t["collections"]["jets"]["fields"].update(pt=[[1.0, 2.0, 3.0]]),
            r"collection 'jets', field 'pt' must be a 1-d array of numbers, got 2 dimensions",
        ),
        (
            lambda t: t["collections"]["jets"]["fields"].update(pt=["a", "b", "c"]),
            r"collection 'jets', field 'pt' must be a 1-d numeric array, got dtype <U1",
        ),
        (lambda t: t["collections"]["jets"]["fields"].update(pt=[1.0]), r"field 'pt': 1 values for 3 objects"),
        (
            lambda t: t["collections"]["jets"]["fields"].update({1: [1.0, 2.0, 3.0]}),
            r"collection 'jets': fields: names must be strings, got int",
        ),
        (
            lambda t: t["collections"]["jets"]["fields"].update(btag=[1.0, 2.0, 3.0]),
            r"collection 'jets' has other fields",
        ),
        (
            lambda t: t["collections"]["electrons"].update(bool_fields=["nope"]),
            r"collection 'electrons': bool field 'nope' is not one of its fields",
        ),
        (lambda t: t["collections"]["electrons"].update(bool_fields=5), r"bool_fields must be a list of field names"),
        (lambda t: t["records"]["met"].pop("fields"), r"record 'met' has no 'fields' entry"),
        (lambda t: t["records"]["met"]["fields"].update(pt=[1.0]), r"record 'met', field 'pt': 1 values for 2 events"),
        (lambda t: t.update(weight=[1.0, np.nan]), r"\(event 1\): weight is nan, expected a finite number"),
        (lambda t: t.update(weight=[[1.0, 1.0]]), r"weight must be a 1-d array of numbers"),
        (lambda t: t.update(event_number=["a", "b"]), r"event_number must be a 1-d integer array"),  # was a segfault
        (lambda t: t.update(event_number=[[1, 2], [3]]), r"event_number cannot be read as an array"),  # likewise
        (lambda t: t.update(event_number=[1]), r"event_number has 1 entries for 2 events"),
    ],
)
def test_run_table_refuses_malformed_tables(change, match):
    table = good_table()
    change(table)
    with pytest.raises(InputError, match=match):
        toy().run_table(table)
