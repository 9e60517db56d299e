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
from onnx import TensorProto, helper, numpy_helper

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


def echo_model(widths: list[int], scale: float = 1.0) -> bytes:
    """ONNX model returning its input tensors x0, x1, ... concatenated, times `scale`."""
    names = [f"x{t}" for t in range(len(widths))]
    nodes = [
        helper.make_node("Concat", names, ["joined"], axis=1),
        helper.make_node("Mul", ["joined", "scale"], ["echo"]),
    ]
    graph = helper.make_graph(
        nodes,
        "echo",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", w]) for x, w in zip(names, widths, strict=True)],
        [helper.make_tensor_value_info("echo", TensorProto.FLOAT, ["N", sum(widths)])],
        [numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def make_table(counts_override: dict[int, int] | None = None):
    rng = np.random.default_rng(7)
    jets = random_jets(
        rng, N_EVENTS, n_min=0, n_max=9, pt_mean=120, pt_min=20, abs_eta_max=2.8, mass_max=20, pt_ordered=True
    )
    met = random_met(rng, N_EVENTS, pt_mean=200, pt_min=20)
    numbers = rng.integers(0, 10**6, N_EVENTS)
    if counts_override:  # events given more jets (softer copies of their last jet, or 30 GeV)
        rows = ak.to_list(jets)
        for e, n in counts_override.items():
            while len(rows[e]) < n:
                last = rows[e][-1] if rows[e] else {"pt": 31.0, "eta": 0.1, "phi": 0.2, "mass": 1.0}
                rows[e].append({**last, "pt": last["pt"] * 0.9})
        jets = ak.Array(rows)
    return table_from_arrays({"jets": jets}, {"met": met}, event_number=numbers)


@pytest.fixture(scope="module")
def table():
    return make_table()


def definition(folder, block_size: int, inputs=INPUTS, tensors: int = 1, route: str | None = "count(jets) % 2") -> str:
    """The echo card: the inputs split over `tensors` input tensors; route files 0 (x 1) and 1
    (x 2, so that the route each event took shows in the outputs)."""
    split = np.array_split(np.arange(len(inputs)), tensors)
    widths = [len(part) for part in split]
    shas = []
    for k, scale in ((0, 1.0), (1, 2.0)):
        data = echo_model(widths, scale)
        (folder / f"echo{k}.onnx").write_bytes(data)
        shas.append(hashlib.sha256(data).hexdigest())
    cards = ""
    for t, part in enumerate(split):
        cards += f"      x{t}:\n"
        cards += "".join(f"      - {{name: {inputs[i][0]}, expr: '{inputs[i][1]}'{inputs[i][2]}}}\n" for i in part)
    outputs = "".join(f"      f{k}: {{tensor: echo, index: {k}}}\n" for k in range(len(inputs)))
    variables = "".join(f"  f{k}: echo.f{k}\n" for k in range(len(inputs)))
    route_line = f"    route: {route}\n" if route else ""
    return f"""format: recast_ml/analysis
format_version: 1
info: {{id: GATHER-1, experiment: toy, sqrt_s: 13, luminosity: 1}}
objects:
  - {{name: good, from: jets, select: "pt > 100"}}
models:
  echo:
    files:
      - {{file: {folder}/echo0.onnx, sha256: {shas[0]}, route: 0}}
      - {{file: {folder}/echo1.onnx, sha256: {shas[1]}, route: 1}}
{route_line}    block_size: {block_size}
    tensors:
{cards}    outputs:
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


def fed(res, width: int = len(INPUTS)) -> np.ndarray:
    return np.stack([res.variable(f"f{k}") for k in range(width)], axis=1).astype(np.float32)


def n_jets(table) -> np.ndarray:
    return np.diff(np.asarray(table["collections"]["jets"]["offsets"]))


@pytest.mark.parametrize("block_size", [1, 7, 128, 1024])
def test_the_fed_features_equal_the_hand_computed_ones(table, tmp_path, block_size):
    path = tmp_path / "echo.yaml"
    path.write_text(definition(tmp_path, block_size))
    res = Analysis.for_arrays(path, table).run_table(table, threads=2 if block_size == 7 else 1)
    # route count(jets) % 2: the file of route 1 doubles what it is fed (exact in float32)
    want = hand_features(table) * np.where(n_jets(table) % 2 == 1, 2, 1).astype(np.float32)[:, None]
    got = fed(res)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    kept = ~np.isnan(want[:, 0])
    assert 300 < kept.sum() < N_EVENTS  # events dropped for a missing input without pad
    # the block forms and the event-by-event forms agree exactly; the inputs that sum floats
    # (HT, meff, met_over_sqrt_ht) are compared exactly too: same order of additions
    np.testing.assert_array_equal(got[kept], want[kept])
    # every padded case occurs
    assert (got[kept, 6] != 0).all()
    assert (got[kept, 6] % 5 == 0).all()
    assert np.isin(got[kept, 7], (-7, -14)).any()
    assert not np.isin(got[kept, 7], (-7, -14)).all()
    # both routes are used
    assert len(set(n_jets(table)[kept] % 2)) == 2


def test_three_tensors_routed_by_event_number(table, tmp_path):
    """No route expression: event number modulo the number of files; the inputs in three tensors."""
    path = tmp_path / "echo3.yaml"
    path.write_text(definition(tmp_path, 1024, tensors=3, route=None))
    res = Analysis.for_arrays(path, table).run_table(table)
    parity = np.asarray(table["event_number"]) % 2
    want = hand_features(table) * np.where(parity == 1, 2, 1).astype(np.float32)[:, None]
    got = fed(res)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    kept = ~np.isnan(want[:, 0])
    np.testing.assert_array_equal(got[kept], want[kept])
    assert len(set(parity[kept])) == 2


BAD_EVENT = 400  # in the fourth slice of 128 events of a block of 1024


@pytest.fixture(scope="module")
def table17():
    """The table with 17 jets in BAD_EVENT: delta_ht of more than 16 objects is an error."""
    return make_table({BAD_EVENT: 17})


def test_an_input_that_fails_names_its_event(table17, tmp_path):
    """The error names that event, not its slice or block."""
    path = tmp_path / "bad.yaml"
    path.write_text(definition(tmp_path, 1024, inputs=[*INPUTS, ("dht", "delta_ht(jets)", ", pad: 0")]))
    with pytest.raises(InputError) as err:
        Analysis.for_arrays(path, table17).run_table(table17)
    assert f"event {BAD_EVENT}" in str(err.value)
    assert "delta_ht of 17 objects" in str(err.value)
    assert "input 'dht' of model 'echo'" in str(err.value)


def test_a_failure_where_the_value_is_not_needed_changes_nothing(table17, tmp_path):
    """An input before delta_ht is missing without pad in the 17-jet event, so that event gets no
    model and delta_ht's failure there is no error; its slice is gathered event by event and all
    other events get the same features as elsewhere, whatever the block size and threads."""
    inputs = [*INPUTS, ("inv", "1 / (count(jets) - 17)", ""), ("dht", "delta_ht(jets)", ", pad: 0")]
    outs = []
    for block_size, threads in ((1, 1), (129, 2), (1024, 1)):
        path = tmp_path / f"skip{block_size}.yaml"
        path.write_text(definition(tmp_path, block_size, inputs=inputs))
        outs.append(fed(Analysis.for_arrays(path, table17).run_table(table17, threads=threads), len(inputs)))
    n = n_jets(table17)
    want = hand_features(table17) * np.where(n % 2 == 1, 2, 1).astype(np.float32)[:, None]
    want[BAD_EVENT] = np.nan
    for got in outs:
        np.testing.assert_array_equal(np.isnan(got[:, 0]), np.isnan(want[:, 0]))
        kept = ~np.isnan(want[:, 0])
        np.testing.assert_array_equal(got[kept, : len(INPUTS)], want[kept])
        inv = (1 / (n[kept] - 17)).astype(np.float32) * np.where(n[kept] % 2 == 1, 2, 1).astype(np.float32)
        np.testing.assert_array_equal(got[kept, len(INPUTS)], inv)
        np.testing.assert_array_equal(got, outs[0])  # delta_ht too
    assert (outs[0][~np.isnan(outs[0][:, 0]), -1] != 0).any()
