"""Detector emulation closure (spec §15 (2)-(4)): efficiencies and resolutions reproduced
statistically against the card, identical output for any thread count and batch split."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hepmc_samples import ZTAUTAU
from recast_ml import Detector, EventBatch
from recast_ml.cards import DetectorCard
from recast_ml.pythia import PythiaGenerator

N = 200_000


def single_particles(pid: int, pt: float, eta: float, n: int = N, mass: float = 0.0) -> EventBatch:
    """n events with one particle each (no parents: prompt), at fixed truth kinematics."""
    phi = np.linspace(-3.0, 3.0, n)
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pz = np.full(n, pt * math.sinh(eta))
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return EventBatch.from_arrays(
        np.arange(n + 1, dtype=np.int64),
        px,
        py,
        pz,
        e,
        np.full(n, pid, np.int32),
        np.ones(n, np.int32),
        mass=np.full(n, mass),
    )


@pytest.fixture(scope="module")
def atlas():
    return Detector("atlas_run2")


@pytest.mark.parametrize(
    ("obj", "pid", "pt", "eta"),
    [("electron", 11, 40.0, 0.5), ("electron", -11, 8.0, 2.1), ("muon", 13, 5.5, 1.2), ("photon", 22, 60.0, 0.3)],
)
def test_efficiency_closure(atlas, obj, pid, pt, eta):
    out = atlas.reconstruct(single_particles(pid, pt, eta))
    objs = ak.flatten(out[obj + "s"])
    assert len(objs) == N  # every candidate is emitted, passing or not (§3.2)
    card = atlas.card
    kin = {"pt": pt, "et": pt, "e": pt * math.cosh(eta), "eta": eta, "abs_eta": abs(eta), "phi": 0.0, "m": 0.0}
    mask = objs.wp_mask.to_numpy()
    for bit, wp in enumerate(atlas.working_points(obj)):
        eff = float(card.efficiency(obj, wp, **kin))
        passed = np.count_nonzero(mask & (1 << bit)) / N
        sigma = math.sqrt(eff * (1 - eff) / N)
        assert abs(passed - eff) < 3 * sigma + 1e-12, (wp, passed, eff)


def test_working_points_are_nested(atlas):
    out = atlas.reconstruct(single_particles(11, 12.0, 1.0, n=50_000))
    mask = ak.flatten(out.electrons.wp_mask).to_numpy()
    wps = atlas.working_points("electron")
    loose, medium, tight = (1 << wps.index(w) for w in ("loose", "medium", "tight"))
    assert not np.any(((mask & tight) != 0) & ((mask & medium) == 0))
    assert not np.any(((mask & medium) != 0) & ((mask & loose) == 0))
    assert np.any(mask & tight)


@pytest.mark.parametrize(("pid", "pt", "eta"), [(11, 50.0, 0.4), (11, 200.0, 1.8), (22, 30.0, 0.9)])
def test_energy_resolution_closure(atlas, pid, pt, eta):
    objs = ak.flatten(atlas.reconstruct(single_particles(pid, pt, eta))["electrons" if pid == 11 else "photons"])
    e_true = pt * math.cosh(eta)
    e_smeared = objs.pt.to_numpy() * math.cosh(eta)
    name = "electron" if pid == 11 else "photon"
    sigma = float(atlas.card.function(f"{name}.resolution").evaluate(e=e_true, abs_eta=abs(eta)))
    pulls = (e_smeared - e_true) / sigma
    assert pulls.std() == pytest.approx(1.0, rel=0.03)
    assert abs(pulls.mean()) < 3 / math.sqrt(N)


def test_muon_curvature_resolution_and_charge_flips(atlas):
    pt, eta = 100.0, 0.7
    objs = ak.flatten(atlas.reconstruct(single_particles(13, pt, eta)).muons)
    s = float(atlas.card.function("muon.resolution").evaluate(pt=pt, abs_eta=eta))
    kappa = -1.0 / pt  # mu- has charge -1
    kappa_s = np.sign(objs.charge3.to_numpy()) / objs.pt.to_numpy()
    pulls = (kappa_s / kappa - 1) / s
    assert pulls.std() == pytest.approx(1.0, rel=0.03)
    # at 10 TeV the relative width saturates at sigma_max = 0.5: flips when z < -2
    high = ak.flatten(atlas.reconstruct(single_particles(13, 10_000.0, 0.3)).muons)
    flips = np.count_nonzero(high.charge3.to_numpy() > 0) / N
    expected = 0.5 * math.erfc(2 / math.sqrt(2))
    assert abs(flips - expected) < 3 * math.sqrt(expected * (1 - expected) / N)


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=12).generate(300)


def test_jet_energy_resolution_closure(atlas, ttbar):
    # jets far (> 4 sigma) above the reco_pt_min cut on the smeared pT; three run seeds
    pulls = []
    for seed in (1, 2, 3):
        text = (
            f'schema = "recast_ml/detector-card"\nschema_version = 1\nextends = "ATLAS-Run2"\nrng.run_seed = {seed}\n'
        )
        jets = ak.flatten(Detector(DetectorCard.parse(text, "seed.toml")).reconstruct(ttbar).jets)
        jets = jets[jets.truth_pt > 40]
        truth_pt = jets.truth_pt.to_numpy()
        rel = atlas.card.function("jet.resolution").evaluate(pt=truth_pt)
        pulls.append((jets.pt.to_numpy() / truth_pt - 1) / rel)
    pulls = np.concatenate(pulls)
    assert len(pulls) > 3000
    assert pulls.std() == pytest.approx(1.0, rel=0.05)
    assert abs(pulls.mean()) < 4 / math.sqrt(len(pulls))


def test_identical_for_threads_and_batch_splits(atlas, ttbar):
    whole = atlas.reconstruct(ttbar)
    assert ak.to_list(atlas.reconstruct(ttbar, threads=2)) == ak.to_list(whole)
    sl = ttbar.event_slice(149)
    first = EventBatch.from_arrays(
        ttbar.particle_offsets[:151],
        ttbar.px[: sl.stop],
        ttbar.py[: sl.stop],
        ttbar.pz[: sl.stop],
        ttbar.e[: sl.stop],
        ttbar.pid[: sl.stop],
        ttbar.status[: sl.stop],
        mass=ttbar.mass[: sl.stop],
        parent_offsets=ttbar.parent_offsets[: sl.stop + 1],
        parents=ttbar.parents[: ttbar.parent_offsets[sl.stop]],
    )
    part = atlas.reconstruct(first)
    assert ak.to_list(part) == ak.to_list(whole[:150])
    # a batch holding events 150.. must be told its position in the sample
    key_shifted = atlas.reconstruct(first, first_event_key=150)
    assert ak.to_list(key_shifted.jets.pt) != ak.to_list(whole[:150].jets.pt)


def test_custom_card_seed_changes_the_draws(ttbar):
    base = Detector("atlas_run2").reconstruct(ttbar)
    reseeded = Detector(
        DetectorCard.parse(
            'schema = "recast_ml/detector-card"\nschema_version = 1\nextends = "ATLAS-Run2"\n[rng]\nrun_seed = 7\n',
            "seed.toml",
        )
    ).reconstruct(ttbar)
    # the same truth jets (those far above the reco_pt_min cut on the smeared pT), other smearing
    hard, hard_reseeded = base.jets[base.jets.truth_pt > 60], reseeded.jets[reseeded.jets.truth_pt > 60]
    assert ak.to_list(hard.truth_pt) == ak.to_list(hard_reseeded.truth_pt)
    assert ak.to_list(hard.pt) != ak.to_list(hard_reseeded.pt)


PERFECT = """
schema = "recast_ml/detector-card"
schema_version = 1
extends = "ATLAS-Run2"
[electron.resolution]
regions = [{ abs_eta_min = 0.0, abs_eta_max = 10.0, N = 0.0, S = 0.0, C = 0.0 }]
[photon.resolution]
regions = [{ abs_eta_min = 0.0, abs_eta_max = 10.0, N = 0.0, S = 0.0, C = 0.0 }]
[muon.resolution]
regions = [{ abs_eta_min = 0.0, abs_eta_max = 10.0, a = 0.0, b = 0.0 }]
[jet.resolution]
values = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
[met.soft_term]
kind = "pf_unclustered"
response = 1.0
particle_pt_min = 0.0
particle_abs_eta_max = 4.9
noise_sigma_xy = 0.0
"""


def test_met_reduces_to_truth_met_without_smearing(ttbar):
    # spec §10.3 / §15 (6): no smearing, no noise, perfect soft term -> truth MET, up to the muons
    # outside the tracker (|eta| > 2.5), whose momentum is missing by construction
    out = Detector(DetectorCard.parse(PERFECT, "perfect.toml")).reconstruct(ttbar)
    lost_x = np.zeros(len(ttbar))
    lost_y = np.zeros(len(ttbar))
    pt = np.hypot(ttbar.px, ttbar.py)
    abs_eta = np.abs(np.arcsinh(ttbar.pz / np.maximum(pt, 1e-300)))
    lost = (ttbar.status == 1) & (np.abs(ttbar.pid) == 13) & (abs_eta > 2.5) & (abs_eta <= 4.9)
    for i in range(len(ttbar)):
        sl = ttbar.event_slice(i)
        lost_x[i] = ttbar.px[sl][lost[sl]].sum()
        lost_y[i] = ttbar.py[sl][lost[sl]].sum()
    np.testing.assert_allclose(out.met.x.to_numpy(), out.met.truth_x.to_numpy() + lost_x, atol=1e-6)
    np.testing.assert_allclose(out.met.y.to_numpy(), out.met.truth_y.to_numpy() + lost_y, atol=1e-6)
    # truth MET = minus the visible transverse momentum in acceptance, computed independently
    from recast_ml.truth import classify

    c = classify(ttbar)
    vis = c.mask("stable") & ~c.mask("invisible") & (abs_eta <= 4.9)
    tx = [-ttbar.px[ttbar.event_slice(i)][vis[ttbar.event_slice(i)]].sum() for i in range(len(ttbar))]
    np.testing.assert_allclose(out.met.truth_x.to_numpy(), tx, atol=1e-6)


def test_default_met_is_degraded_and_noisy(atlas, ttbar):
    out = atlas.reconstruct(ttbar)
    diff = (out.met.pt - out.met.truth_pt).to_numpy()
    assert 5.0 < diff.std() < 60.0  # track soft term + object smearing + 5 GeV noise per component
    assert np.all(out.met.set.to_numpy() > 0)


def test_truth_smeared_met(ttbar):
    text = "\n".join(
        [
            'schema = "recast_ml/detector-card"',
            "schema_version = 1",
            'extends = "ATLAS-Run2"',
            "[met]",
            'mode = "truth_smeared"',
        ]
    )
    card = DetectorCard.parse(text, "smeared.toml")
    out = Detector(card).reconstruct(ttbar)
    truth_pt = out.met.truth_pt.to_numpy()
    # direction kept, magnitude |MET + sigma z| with sigma from the card's expression
    np.testing.assert_allclose(
        np.cos(out.met.phi.to_numpy() - np.arctan2(out.met.truth_y, out.met.truth_x)), 1.0, atol=1e-9
    )
    expr = "min( ((set<180)*(set/180) + (set>=180)) * 0.45*sqrt(max(set,180)), 15 + 0.5*sqrt(met) )"
    from recast_ml.cards import Expression

    sigma = Expression(expr).evaluate(set=out.met.truth_set.to_numpy(), met=truth_pt)
    big = truth_pt > 5 * sigma
    pulls = (out.met.pt.to_numpy()[big] - truth_pt[big]) / sigma[big]
    assert big.sum() > 100
    assert pulls.std() == pytest.approx(1.0, abs=0.2)


def test_electron_charge_flip_rate(atlas):
    # ATLAS card: 1.5 % for 2.0 <= |eta| < 2.47 and pT >= 100 GeV (spec §4.5)
    objs = ak.flatten(atlas.reconstruct(single_particles(11, 150.0, 2.2)).electrons)
    flipped = np.count_nonzero(objs.charge3.to_numpy() > 0) / N  # e- has charge3 = -3
    assert abs(flipped - 0.015) < 3 * math.sqrt(0.015 * 0.985 / N)
    low = ak.flatten(atlas.reconstruct(single_particles(11, 50.0, 0.5)).electrons)
    assert abs(np.count_nonzero(low.charge3.to_numpy() > 0) / N - 0.0005) < 3 * math.sqrt(0.0005 / N)


def test_electron_dressing(atlas):
    # an electron, a collinear photon (dR = 0.05) and a separate photon (dR = 0.5), all prompt
    pt = np.array([40.0, 12.0, 30.0])
    eta = np.array([0.3, 0.35, 0.8])
    phi = np.array([0.0, 0.0, 0.0])
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    ev = EventBatch.from_arrays(
        [0, 3], px, py, pz, e, np.array([11, 22, 22], np.int32), np.ones(3, np.int32), mass=np.zeros(3)
    )
    card = DetectorCard.parse(PERFECT, "perfect.toml")
    out = Detector(card).reconstruct(ev)
    (el,) = out.electrons[0]
    dressed = np.array([px[0] + px[1], py[0] + py[1], pz[0] + pz[1]])
    assert float(el.truth_pt) == pytest.approx(math.hypot(dressed[0], dressed[1]))
    assert float(el.pt) == pytest.approx(float(el.truth_pt))  # no smearing in this card
    assert [int(p.truth_index) for p in out.photons[0]] == [2]  # the dressing photon is no photon


def test_truth_isolation_hand_computed():
    # electron (pT 40) with: a charged pion at dR 0.1 (pT 4), a photon at dR 0.15 (pT 3),
    # a muon at dR 0.1 (pT 5), a neutrino at dR 0.05 (pT 9) and a charged pion at dR 0.35 (pT 6)
    pid = np.array([11, 211, 22, 13, 12, -211], np.int32)
    pt = np.array([40.0, 4.0, 3.0, 5.0, 9.0, 6.0])
    eta = np.array([0.0, 0.1, 0.0, -0.1, 0.05, 0.35])
    phi = np.array([0.0, 0.0, 0.15, 0.0, 0.0, 0.0])
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    mass = np.array([0.000511, 0.1396, 0.0, 0.1057, 0.0, 0.1396])
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    ev = EventBatch.from_arrays([0, 6], px, py, pz, e, pid, np.ones(6, np.int32), mass=mass)
    det = Detector(DetectorCard.parse(PERFECT.replace("[truth]", ""), "perfect.toml"))
    assert "ptvarcone20" in det.isolation_names
    (el,) = det.reconstruct(ev).electrons[0]
    # the photon at dR 0.15 is no dressing photon (dr = 0.1); cones: ptvarcone20 = min(10/40, 0.2)
    assert float(el.iso_ptvarcone20) == pytest.approx((4.0 + 5.0) / 40.0)  # tracks: pion + muon
    assert float(el.iso_ptvarcone30) == pytest.approx((4.0 + 5.0) / 40.0)  # R = min(0.25, 0.3)
    assert float(el.iso_topoetcone20) == pytest.approx((4.0 + 3.0) / 40.0)  # calo: no muon, no neutrino
    assert float(el.iso_topoetcone40) == pytest.approx(4.0 + 3.0 + 6.0)  # absolute, dR 0.35 inside 0.4


@pytest.fixture(scope="module")
def ztautau():
    settings = [
        *ZTAUTAU,
        "PartonLevel:MPI = off",  # not needed for these closures; keeps the sample quick
    ]
    return PythiaGenerator(settings, seed=5).generate(1000)


def test_tau_identification_closure(atlas, ztautau):
    taus = ak.flatten(atlas.reconstruct(ztautau).taus)
    prongs = taus.label.to_numpy()
    assert len(taus) > 300
    card = atlas.card
    for bit, wp in enumerate(atlas.working_points("tau")):
        fn = card.function("tau.id", wp)
        passed = (taus.wp_mask.to_numpy() & (1 << bit)) != 0
        for n_prong in (1, 3):
            sel = prongs == n_prong
            p = fn.evaluate(prongs=n_prong, pt=taus.truth_pt.to_numpy()[sel])
            expected, sigma = p.sum(), np.sqrt((p * (1 - p)).sum())
            assert abs(passed[sel].sum() - expected) < 3 * sigma, (wp, n_prong)
    other = ~np.isin(prongs, [1, 3])
    assert np.all(taus.wp_mask.to_numpy()[other] == 0)  # only 1- and 3-prong taus are identified
    assert set(np.abs(taus.charge3.to_numpy()).tolist()) == {3}


def test_met_closure_with_hard_taus(ztautau):
    out = Detector(DetectorCard.parse(PERFECT, "perfect.toml")).reconstruct(ztautau)
    assert ak.sum(ak.num(out.taus[out.taus.wp_mask > 0])) > 200
    pt = np.hypot(ztautau.px, ztautau.py)
    abs_eta = np.abs(np.arcsinh(ztautau.pz / np.maximum(pt, 1e-300)))
    lost = (ztautau.status == 1) & (np.abs(ztautau.pid) == 13) & (abs_eta > 2.5) & (abs_eta <= 4.9)
    lx = np.array([ztautau.px[ztautau.event_slice(i)][lost[ztautau.event_slice(i)]].sum() for i in range(len(ztautau))])
    np.testing.assert_allclose(out.met.x.to_numpy(), out.met.truth_x.to_numpy() + lx, atol=1e-6)


def _track_counts(events, ev, jet_eta, jet_phi, dr=0.2, pt_min=1.0, abs_eta_max=2.5):
    """Charged stable particles with pT > pt_min, |eta| < abs_eta_max within dr of each jet axis
    (the track counting of §7.5, computed here from the record)."""
    s = events.event_slice(ev)
    px, py, pz = events.px[s], events.py[s], events.pz[s]
    pt = np.hypot(px, py)
    ok = (events.status[s] == 1) & (events.charge3[s] != 0) & (pt > pt_min)
    eta = np.arcsinh(pz[ok] / pt[ok])
    phi = np.arctan2(py[ok], px[ok])
    sel = np.abs(eta) < abs_eta_max
    eta, phi = eta[sel], phi[sel]
    dphi = np.abs((phi[None, :] - np.asarray(jet_phi)[:, None] + np.pi) % (2 * np.pi) - np.pi)
    d = np.hypot(eta[None, :] - np.asarray(jet_eta)[:, None], dphi)
    return np.count_nonzero(d < dr, axis=1)


def test_jet_to_tau_fakes(atlas, ttbar):
    """§7.5: every eligible jet (truth pT > jet_pt_min, in the tau acceptance, no hadronic tau
    near) fakes a tau at each WP with the card's rate for its track count (1 or 3 tracks, else 0).
    The observed fake counts over ten run seeds must match the sum of the card's rates over the
    eligible jets within 3 sigma (binomial); each fake's prong count is its jet's track count."""
    reco = atlas.reconstruct(ttbar)
    taus = ak.flatten(reco.taus)
    fakes = taus[taus.truth_index < 0]
    assert len(fakes) > 0
    # a fake takes the smeared momentum of its jet; its prong count is its track count (1 or 3)
    for ev in range(len(ttbar)):
        for tau in reco.taus[ev]:
            if tau.truth_index < 0:
                jet = reco.jets[ev][-1 - int(tau.truth_index)]
                assert float(tau.pt) == float(jet.pt)
                assert int(tau.label) in (1, 3)
    wps = atlas.working_points("tau")
    card = atlas.card.to_dict()["tau"]
    fake_card = card["fake_from_jet"]
    rates = {w: fake_card["wp"][w] for w in wps}
    crack = card["crack"]
    # eligible jets and their track counts, from the record; jets within 0.6 of any tau lepton are
    # left out of both counts (the emulator excludes jets within 0.2 of a visible hadronic tau)
    pid = ttbar.pid
    eligible = []  # (event, jet index, tracks)
    for ev in range(len(ttbar)):
        jets = reco.jets[ev]
        if len(jets) == 0:
            continue
        teta, tphi = jets.truth_eta.to_numpy(), jets.truth_phi.to_numpy()
        tracks = _track_counts(ttbar, ev, teta, tphi, fake_card["track_dr"], fake_card["track_pt_min"],
                               fake_card["track_abs_eta_max"])  # fmt: skip
        s = ttbar.event_slice(ev)
        is_tau = np.abs(pid[s]) == 15
        tx, ty, tz = ttbar.px[s][is_tau], ttbar.py[s][is_tau], ttbar.pz[s][is_tau]
        tpt = np.hypot(tx, ty)
        keep = tpt > 0
        tau_eta, tau_phi = np.arcsinh(tz[keep] / tpt[keep]), np.arctan2(ty[keep], tx[keep])
        for j in range(len(jets)):
            ae = abs(teta[j])
            if not (jets.truth_pt[j] > fake_card["jet_pt_min"] and ae < card["abs_eta_max"]):
                continue
            if crack["policy"] == "drop" and crack["abs_eta_min"] <= ae < crack["abs_eta_max"]:
                continue
            dphi = np.abs((tau_phi - tphi[j] + np.pi) % (2 * np.pi) - np.pi)
            if np.any(np.hypot(tau_eta - teta[j], dphi) < 0.6):
                continue
            eligible.append((ev, j, int(tracks[j])))
    assert len(eligible) > 500
    by_jet = {(ev, j): t for ev, j, t in eligible}
    for ev in range(len(ttbar)):  # the prong count of a fake is the track count of its jet
        for tau in reco.taus[ev]:
            if tau.truth_index < 0 and (ev, -1 - int(tau.truth_index)) in by_jet:
                assert int(tau.label) == by_jet[(ev, -1 - int(tau.truth_index))]
    seeds = range(1, 11)
    observed = dict.fromkeys(wps, 0)
    for seed in seeds:
        det = Detector(DetectorCard.parse(f'schema = "recast_ml/detector-card"\nschema_version = 1\n'
                                          f'extends = "ATLAS-Run2"\nrng.run_seed = {seed}\n', "seed.toml"))  # fmt: skip
        r = det.reconstruct(ttbar)
        event = np.repeat(np.arange(len(ttbar)), ak.num(r.taus).to_numpy())
        index = ak.flatten(r.taus.truth_index).to_numpy()
        mask = ak.flatten(r.taus.wp_mask).to_numpy()
        for ev, ti, m in zip(event, index, mask, strict=True):
            if ti < 0 and (int(ev), -1 - int(ti)) in by_jet:
                for bit, w in enumerate(wps):
                    observed[w] += bool(int(m) & (1 << bit))
    for w in wps:
        p = np.array(
            [rates[w]["one_track"] if t == 1 else rates[w]["three_track"] if t == 3 else 0.0 for *_, t in eligible]
        )
        expected = len(seeds) * p.sum()
        sigma = math.sqrt(len(seeds) * np.sum(p * (1 - p)))
        assert expected > 10
        assert abs(observed[w] - expected) < 3 * sigma, (w, observed[w], expected, sigma)
    assert set(np.abs(fakes.charge3.to_numpy()).tolist()) <= {3}
