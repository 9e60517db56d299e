"""Jets from the core against the python `fastjet` package on the same inputs."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import pytest

from recast_ml import EventBatch
from recast_ml.jets import cluster
from recast_ml.pythia import PythiaGenerator

ALGS = {"antikt": fastjet.antikt_algorithm, "kt": fastjet.kt_algorithm, "cambridge": fastjet.cambridge_algorithm}


@pytest.fixture(scope="module")
def events():
    return PythiaGenerator("ttbar", seed=21).generate(12)


def visible_final_state(ev: EventBatch) -> np.ndarray:
    apid = np.abs(ev.pid)
    return (ev.status == 1) & (apid != 12) & (apid != 14) & (apid != 16)


def reference_jets(ev: EventBatch, mask, alg, R, pt_min):
    arr = ev.to_awkward()
    sel = ak.unflatten(mask, np.diff(ev.particle_offsets))
    idx = ak.local_index(arr.px)[sel]
    parts = ak.zip({"px": arr.px[sel], "py": arr.py[sel], "pz": arr.pz[sel], "E": arr.e[sel]})
    cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(ALGS[alg], R))
    jets = cs.inclusive_jets(min_pt=pt_min)
    consts = cs.constituent_index(min_pt=pt_min)
    out = []
    for i in range(len(ev)):
        rows = []
        for j in range(len(jets[i])):
            members = sorted(idx[i][consts[i][j]].to_list())
            p = jets[i][j]
            rows.append((-(p.px**2 + p.py**2), members[0], p.px, p.py, p.pz, p.E, members))
        rows.sort(key=lambda r: (r[0], r[1]))
        out.append(rows)
    return out


@pytest.mark.parametrize(
    ("alg", "R", "pt_min"), [("antikt", 0.4, 20.0), ("antikt", 1.0, 100.0), ("kt", 0.6, 10.0), ("cambridge", 0.8, 30.0)]
)
def test_jets_equal_python_fastjet(events, alg, R, pt_min):
    mask = visible_final_state(events)
    ours = cluster(events, R=R, algorithm=alg, pt_min=pt_min, inputs=mask)
    ref = reference_jets(events, mask, alg, R, pt_min)
    assert len(ours) == len(events)
    n_jets = 0
    for i in range(len(events)):
        assert len(ours[i]) == len(ref[i]), f"event {i}"
        for j, r in enumerate(ref[i]):
            jet = ours[i][j]
            np.testing.assert_allclose([jet.px, jet.py, jet.pz, jet.e], r[2:6], rtol=1e-12, atol=1e-9)
            assert jet.constituents.to_list() == r[6]
            n_jets += 1
    assert n_jets >= len(events)  # the comparison is not vacuous
    pt = ak.flatten(ours.pt).to_numpy()
    assert pt.min() >= pt_min
    np.testing.assert_allclose(pt, np.hypot(ak.flatten(ours.px), ak.flatten(ours.py)))


def test_threads_and_batch_split_give_identical_jets(events):
    one = cluster(events, pt_min=5.0)
    two = cluster(events, pt_min=5.0, threads=2)
    seven = cluster(events, pt_min=5.0, threads=7)
    assert ak.to_list(one) == ak.to_list(two) == ak.to_list(seven)
    first = EventBatch.concatenate([events])
    assert ak.to_list(cluster(first, pt_min=5.0)) == ak.to_list(one)


def test_default_inputs_are_status_one_and_bad_arguments(events):
    mask = events.status == 1
    assert ak.to_list(cluster(events, pt_min=20.0)) == ak.to_list(cluster(events, pt_min=20.0, inputs=mask))
    with pytest.raises(ValueError, match="unknown jet algorithm"):
        cluster(events, algorithm="siscone")
    with pytest.raises(ValueError, match="one entry per particle"):
        cluster(events, inputs=np.ones(3, bool))
    with pytest.raises(ValueError, match="R must be positive"):
        cluster(events, R=0.0)
