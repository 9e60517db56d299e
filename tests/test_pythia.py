"""In-memory Pythia 8 events against Pythia's own event record (pythia8mc)."""

from __future__ import annotations

import numpy as np
import pytest

from hepmc_samples import pythia_records
from recast_ml import EventBatch
from recast_ml.pythia import PRESETS, PythiaGenerator, from_pythia_batch


@pytest.fixture(scope="module")
def pythia_and_batch():
    pythia, records = pythia_records(4, seed=11, settings=PRESETS["ttbar"])
    return pythia, records, from_pythia_batch(records)


def test_columns_equal_the_pythia_records(pythia_and_batch):
    _, records, batch = pythia_and_batch
    assert len(batch) == 4
    for i, ev in enumerate(records.prt):
        sl = batch.event_slice(i)
        ev = ev[1:]  # the system entry is not a particle
        np.testing.assert_array_equal(batch.pid[sl], ev.id.to_numpy())
        for ours, theirs in [
            (batch.px, ev.p.px),
            (batch.py, ev.p.py),
            (batch.pz, ev.p.pz),
            (batch.e, ev.p.e),
            (batch.mass, ev.m),
        ]:
            np.testing.assert_array_equal(ours[sl], theirs.to_numpy())
    np.testing.assert_array_equal(batch.event_number, [0, 1, 2, 3])


def test_status_charge_and_mothers_match_pythia_particle_methods(pythia_and_batch):
    pythia, _, batch = pythia_and_batch
    event = pythia.event  # the last event of the batch
    i = len(batch) - 1
    sl = batch.event_slice(i)
    n = event.size()
    assert sl.stop - sl.start == n - 1
    for k in range(1, n):
        p = event[k]
        assert batch.status[sl][k - 1] == p.statusHepMC(), (k, p.id(), p.status())
        assert batch.charge3[sl][k - 1] == round(3 * p.charge()), (k, p.id())
        expected = sorted(m - 1 for m in p.motherList() if m > 0)
        assert sorted(batch.parents_of(i, k - 1).tolist()) == expected, (k, p.status())


def test_final_state_conserves_charge_and_momentum(pythia_and_batch):
    _, _, batch = pythia_and_batch
    for i in range(len(batch)):
        sl = batch.event_slice(i)
        final = batch.status[sl] == 1
        assert batch.charge3[sl][final].sum() == 6
        assert batch.e[sl][final].sum() == pytest.approx(13000.0, rel=1e-9)
        assert abs(batch.px[sl][final].sum()) < 1e-6


def test_generator_is_seeded_and_reports_cross_section():
    a = PythiaGenerator("ttbar", seed=5).generate(3)
    b = PythiaGenerator("ttbar", seed=5).generate(3)
    c = PythiaGenerator("ttbar", seed=6).generate(3)
    np.testing.assert_array_equal(a.px, b.px)
    assert a.n_particles != c.n_particles or not np.array_equal(a.px, c.px)
    assert 100 < a.cross_section_pb < 2000  # LO ttbar at 13 TeV, a few hundred pb
    with pytest.raises(ValueError, match="rejected the setting"):
        PythiaGenerator(["NoSuch:setting = 3"])


def test_batches_are_the_events_of_one_generate_call():
    whole = PythiaGenerator("ttbar", seed=8).generate(7)
    parts = list(PythiaGenerator("ttbar", seed=8).batches(7, chunk_size=3))
    assert [len(p) for p in parts] == [3, 3, 1]
    joined = EventBatch.concatenate(parts)
    for col in ("event_number", "particle_offsets", "px", "py", "pz", "e", "pid", "status", "parents"):
        np.testing.assert_array_equal(getattr(joined, col), getattr(whole, col), err_msg=col)
    with pytest.raises(ValueError, match="chunk_size"):
        next(PythiaGenerator("ttbar", seed=8).batches(7, chunk_size=0))
