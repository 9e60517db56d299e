"""Truth classification (detector spec §2) against independent Python walks of the record and the
physics numbers of spec §15 (5)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepmc_samples import ZTAUTAU
from recast_ml import EventBatch
from recast_ml.pythia import PythiaGenerator
from recast_ml.truth import FLAGS, classify


@pytest.fixture(scope="module")
def ztautau():
    settings = ZTAUTAU
    return PythiaGenerator(settings, seed=3).generate(300)


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=4).generate(25)


def is_hadron(pid: int) -> bool:  # Pythia's ParticleDataEntry::isHadron
    a = abs(pid)
    if a <= 100 or 1000000 <= a <= 9000000 or a >= 9900000:
        return False
    if a in (130, 310):
        return True
    return not (a % 10 == 0 or (a // 10) % 10 == 0 or (a // 100) % 10 == 0)


def python_prompt(batch: EventBatch, ev: int, i: int) -> bool:
    """Definition of §2.3 written independently: no hadron (or 91/92) ancestor, beams skipped,
    tau ancestors allowed, muon ancestors not."""
    sl = batch.event_slice(ev)
    pid, status = batch.pid[sl], batch.status[sl]
    seen, todo = set(), [i]
    while todo:
        j = todo.pop()
        for p in batch.parents_of(ev, j).tolist():
            if p in seen or status[p] == 4:
                continue
            seen.add(p)
            if is_hadron(int(pid[p])) or abs(int(pid[p])) in (91, 92, 13):
                return False
            todo.append(p)
    return True


def test_promptness_equals_the_definition(ttbar):
    c = classify(ttbar)
    prompt = c.mask("prompt")
    checked = n_prompt = 0
    for ev in range(len(ttbar)):
        sl = ttbar.event_slice(ev)
        leptons = np.flatnonzero((ttbar.status[sl] == 1) & np.isin(np.abs(ttbar.pid[sl]), [11, 13, 22]))
        for i in leptons[:60]:
            expected = python_prompt(ttbar, ev, int(i))
            assert prompt[sl][i] == expected, (ev, i, int(ttbar.pid[sl][i]))
            checked += 1
            n_prompt += expected
    assert checked > 500
    assert 0 < n_prompt < checked


def test_prompt_leptons_in_ttbar_come_from_w(ttbar):
    c = classify(ttbar)
    sel = c.mask("prompt") & np.isin(np.abs(ttbar.pid), [11, 13])
    # every prompt e/mu descends from a W (or a tau from a W); non-prompt ones from hadrons
    for g in np.flatnonzero(sel):
        ev = int(np.searchsorted(ttbar.particle_offsets, g, side="right") - 1)
        sl = ttbar.event_slice(ev)
        todo, found = [int(g - sl.start)], False
        while todo and not found:
            j = todo.pop()
            for p in ttbar.parents_of(ev, j).tolist():
                found |= abs(int(ttbar.pid[sl][p])) == 24
                todo.append(p)
        assert found


def test_hadronic_tau_fraction_and_prongs(ztautau):
    c = classify(ztautau)
    n_taus = 2 * len(ztautau)  # Z -> tau tau
    had = int(ak.sum(ak.num(c.taus)))
    assert had / n_taus == pytest.approx(0.648, abs=0.05)  # PDG: 64.8 % hadronic
    prongs = ak.flatten(c.taus.prongs).to_numpy()
    assert np.mean(prongs == 1) == pytest.approx(0.77, abs=0.05)
    assert np.mean(prongs == 3) == pytest.approx(0.23, abs=0.05)
    assert set(np.abs(ak.flatten(c.taus.charge3).to_numpy()).tolist()) == {3}


def test_tau_visible_momentum_is_the_sum_of_visible_descendants(ztautau):
    c = classify(ztautau)
    for ev in range(20):
        sl = ztautau.event_slice(ev)
        for tau in c.taus[ev]:
            todo, stable = [int(tau.index)], set()
            children = {}
            for j in range(sl.stop - sl.start):
                for p in ztautau.parents_of(ev, j).tolist():
                    children.setdefault(p, []).append(j)
            while todo:
                j = todo.pop()
                for k in children.get(j, []):
                    if ztautau.status[sl][k] == 1:
                        stable.add(k)
                    todo.append(k)
            vis = [k for k in stable if abs(int(ztautau.pid[sl][k])) not in (12, 14, 16)]
            assert float(tau.e) == pytest.approx(float(ztautau.e[sl][vis].sum()), rel=1e-12)
            assert float(tau.px) == pytest.approx(float(ztautau.px[sl][vis].sum()), rel=1e-9, abs=1e-9)
            assert float(tau.e) < float(ztautau.e[sl][int(tau.index)])


def test_b_hadrons_in_ttbar_and_jet_inputs(ttbar):
    c = classify(ttbar)
    nb = [int(np.count_nonzero(c.mask("b_hadron")[ttbar.event_slice(i)])) for i in range(len(ttbar))]
    assert np.mean(np.array(nb) >= 2) > 0.9  # t -> b W twice
    jet_in = c.mask("jet_input")
    assert not np.any(jet_in & (np.abs(ttbar.pid) == 13))
    assert not np.any(jet_in & c.mask("invisible"))
    assert np.all(ttbar.status[jet_in] == 1)
    nus = (ttbar.status == 1) & np.isin(np.abs(ttbar.pid), [12, 14, 16])
    assert np.all(c.mask("invisible")[nus])
    assert not np.any(c.mask("invisible") & (ttbar.status != 1))


def test_same_result_for_any_thread_count(ttbar):
    one, three = classify(ttbar), classify(ttbar, threads=3)
    np.testing.assert_array_equal(one.flags, three.flags)
    assert ak.to_list(one.taus) == ak.to_list(three.taus)


def test_invisible_rule_lost_particles_and_heavy_charged(caplog):
    # one event: nu, neutralino, dark-matter code 9000022, K_L, neutron, photon, chargino, forward pion
    pid = np.array([12, 1000022, 9000022, 130, 2112, 22, 1000024, 211], np.int32)
    px = np.array([5.0, 5, 5, 5, 5, 5, 5, 0.1])
    pz = np.array([1.0, 1, 1, 1, 1, 1, 1, 200.0])  # the pion has |eta| ~ 8.3
    e = np.sqrt(px**2 + pz**2) + 1.0
    b = EventBatch.from_arrays([0, 8], px, np.zeros(8), pz, e, pid, np.ones(8, np.int32))
    c = classify(b)
    assert c.mask("invisible").tolist() == [True, True, True, False, False, False, False, False]
    assert c.mask("lost").tolist() == [False] * 7 + [True]
    assert c.mask("heavy_charged").tolist() == [False] * 6 + [True, False]
    assert c.heavy_charged == 1
    assert "not covered by detector emulation" in caplog.text
    assert c.mask("jet_input").tolist() == [False, False, False, True, True, True, True, False]
    assert set(FLAGS) >= {"stable", "prompt", "hadronic_tau", "b_hadron"}
