"""The column-wise gathering of model inputs (issue 14): what an ONNX model is fed, read back
through an identity model, equals features computed by hand in numpy from the same columns, for
every block size and across the slices a block is evaluated in; built-ins with a block form
(count, HT, meff, met_over_sqrt_ht) and without one, derived collections, divisions by zero,
padding, dropped events, normalisation and routing; an evaluation error is reported for its event."""

from __future__ import annotations

import hashlib
import math

import awkward as ak
import numpy as np
import pytest
from onnx import TensorProto, helper

from recast_ml import InputError
from recast_ml.analysis import Analysis, table_from_arrays
from toy_events import random_jets, random_met

N_EVENTS = 700  # > 5 slices of 128 events in a block of 1024

#: (name, expression, card options); the features the model is fed, in this order
INPUTS = [
    ("n", "count(jets)", ""),
    ("ht", "HT(jets)", ""),
    ("meff", "meff(jets)", ""),
    ("sig", "met_over_sqrt_ht(jets)", ", pad: -1"),  # missing without jets
    ("meff2", "meff(jets, 2)", ""),  # no block form (two arguments): event by event
    ("ht_good", "HT(good)", ""),  # a derived collection
    ("zero", "jets[0].pt / 0", ", pad: -5"),  # always missing
    ("ratio", "jets[0].pt / (count(jets) - 3)", ", pad: -7"),  # missing with 3 jets
    ("pt2", "jets[2].pt / 100", ""),  # no pad: events with < 3 jets get no model
    ("cosh0", "cosh(jets[0].eta)", ""),
    ("eta_last", "jets[-1].eta", ", pad: 9"),
    ("met", "met.pt", ", mean: 10, std: 4"),
    ("three", "3", ""),
]


def identity_model(width: int) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["echo"])],
        "echo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("echo", TensorProto.FLOAT, ["N", width])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    jets = random_jets(
        rng, N_EVENTS, n_min=0, n_max=9, pt_mean=120, pt_min=20, abs_eta_max=2.8, mass_max=20, pt_ordered=True
    )
    met = random_met(rng, N_EVENTS, pt_mean=200, pt_min=20)
    return table_from_arrays({"jets": jets}, {"met": met}, event_number=rng.integers(0, 10**6, N_EVENTS))


def definition(folder, block_size: int, extra_input: str = "") -> str:
    data = identity_model(len(INPUTS) + (1 if extra_input else 0))
    sha = hashlib.sha256(data).hexdigest()
    for k in (0, 1):
        (folder / f"echo{k}.onnx").write_bytes(data)
    inputs = "".join(f"      - {{name: {n}, expr: '{e}'{o}}}\n" for n, e, o in INPUTS) + extra_input
    outputs = "".join(f"      f{k}: {{tensor: echo, index: {k}}}\n" for k in range(len(INPUTS)))
    variables = "".join(f"  f{k}: echo.f{k}\n" for k in range(len(INPUTS)))
    return f"""format: recast_ml/analysis
format_version: 1
info: {{id: GATHER-1, experiment: toy, sqrt_s: 13, luminosity: 1}}
objects:
  - {{name: good, from: jets, select: "pt > 100"}}
models:
  echo:
    files:
      - {{file: {folder}/echo0.onnx, sha256: {sha}, route: 0}}
      - {{file: {folder}/echo1.onnx, sha256: {sha}, route: 1}}
    route: count(jets) % 2
    block_size: {block_size}
    tensors:
      x:
{inputs}    outputs:
{outputs}variables:
{variables}regions:
  - name: all
    cuts: []
"""


def hand_features(table) -> np.ndarray:
    """What the model must be fed (float32), NaN rows for events without a model, from the
    spec of each input: sums in object order, missing -> pad, (x + add) * multiply."""
    jets = table["collections"]["jets"]
    off, pt, eta = jets["offsets"], jets["fields"]["pt"], jets["fields"]["eta"]
    met = table["records"]["met"]["fields"]["pt"]
    rows = np.full((N_EVENTS, len(INPUTS)), np.nan, dtype=np.float32)
    for e in range(N_EVENTS):
        pts, etas = list(pt[off[e] : off[e + 1]]), list(eta[off[e] : off[e + 1]])
        n = len(pts)
        if n < 3:  # jets[2].pt has no pad
            continue
        ht = sum(pts)  # left to right, as the core
        ht_good = sum(p for p in pts if p > 100)
        values = [
            n,
            ht,
            ht + met[e],
            met[e] / math.sqrt(ht) if ht > 0 else -1,
            sum(pts[:2]) + met[e],
            ht_good,
            -5,
            pts[0] / (n - 3) if n != 3 else -7,
            pts[2] / 100,
            math.cosh(etas[0]),
            etas[-1],
            (met[e] - 10) * 0.25,
            3,
        ]
        rows[e] = np.array(values, dtype=np.float64).astype(np.float32)
    return rows


def fed(res) -> np.ndarray:
    return np.stack([res.variable(f"f{k}") for k in range(len(INPUTS))], axis=1).astype(np.float32)


@pytest.mark.parametrize("block_size", [1, 7, 128, 1024])
def test_the_fed_features_equal_the_hand_computed_ones(table, tmp_path, block_size):
    path = tmp_path / "echo.yaml"
    path.write_text(definition(tmp_path, block_size))
    res = Analysis.for_arrays(path, table).run_table(table, threads=2 if block_size == 7 else 1)
    got, want = fed(res), hand_features(table)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    kept = ~np.isnan(want[:, 0])
    assert 300 < kept.sum() < N_EVENTS  # events dropped for a missing input without pad
    # the block forms and the event-by-event forms agree exactly; the inputs that sum floats
    # (HT, meff, met_over_sqrt_ht) are compared exactly too: same order of additions
    np.testing.assert_array_equal(got[kept], want[kept])
    # every padded case occurs
    assert (got[kept, 6] == -5).all()
    assert (got[kept, 7] == -7).any()
    assert (got[kept, 7] != -7).any()
    # both routes are used
    assert len({int(x) % 2 for x in got[kept, 0]}) == 2


def test_an_input_that_fails_names_its_event(table, tmp_path):
    """delta_ht of more than 16 objects is an error: one event deep in the fourth slice of the
    block has 17 jets; the error names that event, not the slice."""
    jets = table["collections"]["jets"]
    off = np.asarray(jets["offsets"])
    counts = np.diff(off)
    bad = 400
    assert counts[bad] < 17
    new_counts = counts.copy()
    new_counts[bad] = 17
    # rebuild the jets with 17 in event `bad` (the others unchanged)
    fields = {k: [] for k in jets["fields"]}
    for e in range(N_EVENTS):
        for k, col in jets["fields"].items():
            vals = list(col[off[e] : off[e + 1]])
            while len(vals) < new_counts[e]:
                vals.append(vals[-1] * 0.9 if k == "pt" and vals else 30.0)
            fields[k].extend(vals)
    new_jets = ak.unflatten(ak.zip({k: np.array(v) for k, v in fields.items()}), new_counts)
    met = table["records"]["met"]["fields"]
    t2 = table_from_arrays(
        {"jets": new_jets},
        {"met": ak.zip({"pt": np.asarray(met["pt"]), "phi": np.asarray(met["phi"])})},
        event_number=table["event_number"],
    )
    path = tmp_path / "bad.yaml"
    path.write_text(definition(tmp_path, 1024, extra_input="      - {name: dht, expr: 'delta_ht(jets)', pad: 0}\n"))
    with pytest.raises(InputError) as err:
        Analysis.for_arrays(path, t2).run_table(t2)
    assert f"event {bad}" in str(err.value)
    assert "delta_ht of 17 objects" in str(err.value)
    assert "input 'dht' of model 'echo'" in str(err.value)
