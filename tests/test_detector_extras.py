"""Detector pieces beyond the default path: jet track counts (§8.5), JVT (§8.4), jet -> electron
fakes (§4.6), exclusive jet inputs (§2.7), the parton-fallback flavour label (§2.6/§9.1) and the
CMS soft-drop large-R jets (§8.6)."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import pytest

from recast_ml import Detector
from recast_ml.cards import DetectorCard
from recast_ml.jets import cluster
from recast_ml.pythia import PythiaGenerator
from recast_ml.truth import classify

HEADER = 'schema = "recast_ml/detector-card"\nschema_version = 1\nextends = "ATLAS-Run2"\n'


def card(body: str, name: str = "override.toml") -> DetectorCard:
    return DetectorCard.parse(HEADER + body, name)


#: Every clustered jet emitted (no cut on the smeared pT or eta), to compare with a clustering.
ALL_JETS = "[jet]\nreco_pt_min = 0.0\nabs_eta_max = inf\n"


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=41).generate(150)


def test_jet_track_counts_equal_a_count_over_constituents(ttbar):
    out = Detector(card(ALL_JETS)).reconstruct(ttbar).jets
    truth = classify(ttbar)
    jets = cluster(ttbar, R=0.4, pt_min=10.0, inputs=truth.mask("jet_input"))
    pt = np.hypot(ttbar.px, ttbar.py)
    eta = np.arcsinh(ttbar.pz / np.where(pt > 0, pt, 1))
    track = (ttbar.charge3 != 0) & (pt > 0.5) & (np.abs(eta) < 2.5)
    for i in range(len(ttbar)):
        b = ttbar.particle_offsets[i]
        expected = [int(track[b + np.asarray(c, dtype=np.int64)].sum()) for c in jets.constituents[i].to_list()]
        sums = [
            float(pt[b + np.asarray(c, dtype=np.int64)][track[b + np.asarray(c, dtype=np.int64)]].sum())
            for c in jets.constituents[i].to_list()
        ]
        assert out.n_tracks[i].to_list() == expected
        np.testing.assert_allclose(out.track_pt[i].to_numpy(), sums, rtol=1e-12)
    assert ak.all(out.jvt)  # JVT is disabled in the default card


def test_jets_are_emitted_above_reco_pt_min_within_abs_eta_max(ttbar):
    """§8.1: jets are emitted when their smeared pT > jet.reco_pt_min and |eta| < jet.abs_eta_max;
    the jets kept are exactly those of the uncut output passing the cuts (same smearing: the random
    numbers are keyed by the truth-jet rank, §14.4), and fake taus point at their own jet."""
    reco = Detector("atlas_run2").reconstruct(ttbar)
    every = Detector(card(ALL_JETS)).reconstruct(ttbar)
    jets, all_jets = reco.jets, every.jets
    assert ak.min(all_jets.pt) < 15.0
    assert ak.max(abs(all_jets.eta)) > 4.5
    assert ak.min(jets.pt) > 15.0
    assert ak.max(abs(jets.eta)) < 4.5
    expected = all_jets[(all_jets.pt > 15.0) & (abs(all_jets.eta) < 4.5)]
    for field in ("pt", "eta", "phi", "mass", "truth_pt", "wp_mask", "label", "n_tracks", "jvt"):
        assert ak.to_list(jets[field]) == ak.to_list(expected[field]), field
    tighter = Detector(card("[jet]\nreco_pt_min = 30.0\nabs_eta_max = 2.0\n")).reconstruct(ttbar).jets
    assert ak.min(tighter.pt) > 30.0
    assert ak.max(abs(tighter.eta)) < 2.0
    assert ak.to_list(tighter.pt) == ak.to_list(jets[(jets.pt > 30.0) & (abs(jets.eta) < 2.0)].pt)
    for ev in range(len(ttbar)):
        for tau in reco.taus[ev]:
            if tau.truth_index < 0:
                assert float(tau.pt) == float(jets[ev][-1 - int(tau.truth_index)].pt)
    # MET does not depend on the cut (the cut jets were below the hard-jet thresholds anyway)
    assert ak.to_list(reco.met.x) == ak.to_list(every.met.x)


def test_jvt_efficiency_closure(ttbar):
    det = Detector(card("[jet.jvt]\nenabled = true\n", "jvt.toml"))
    passed = total = 0
    for key in range(10):
        jets = ak.flatten(det.reconstruct(ttbar, first_event_key=10_000 * key).jets)
        inside = (jets.truth_pt >= 20) & (jets.truth_pt < 60) & (abs(jets.truth_eta) < 2.4)
        assert ak.all(jets.jvt[~inside])
        passed += int(ak.sum(jets.jvt[inside]))
        total += int(ak.sum(inside))
    assert total > 3000
    sigma = np.sqrt(total * 0.95 * 0.05)
    assert abs(passed - 0.95 * total) < 3 * sigma


def test_jet_to_electron_fakes(ttbar):
    rate = 0.2
    det = Detector(card(f"[electron.fake_from_jet]\nenabled = true\nrate = {rate}\n", "efake.toml"))
    base = Detector("atlas_run2").reconstruct(ttbar)
    out = det.reconstruct(ttbar)
    fakes = out.electrons[out.electrons.truth_index < 0]
    # real electrons, jets and MET are untouched
    assert ak.to_list(out.electrons[out.electrons.truth_index >= 0].pt) == ak.to_list(base.electrons.pt)
    assert ak.to_list(out.met.pt) == ak.to_list(base.met.pt)
    jets = out.jets
    eligible = (jets.pt >= 4.5) & (abs(jets.eta) < 2.47) & (jets.lost == 0)
    n_eligible = int(ak.sum(eligible))
    n_fake = int(ak.sum(ak.num(fakes)))
    assert abs(n_fake - rate * n_eligible) < 3 * np.sqrt(n_eligible * rate * (1 - rate))
    for i in range(len(ttbar)):
        for f in fakes[i]:
            j = jets[i][-1 - f.truth_index]
            assert (f.pt, f.eta, f.phi) == (j.pt, j.eta, j.phi)
            assert f.charge3 in (-3, 3)


def test_exclusive_jet_inputs_equal_a_python_selection():
    events = PythiaGenerator("ttbar", seed=43).generate(40)
    det = Detector(card(ALL_JETS + '[jet.inputs]\nmode = "exclusive"\n', "exclusive.toml"))
    out = det.reconstruct(events).jets
    truth = classify(events)
    keep = truth.mask("jet_input") & ~truth.mask("from_hadronic_tau")
    prompt = truth.mask("prompt") & truth.mask("stable")
    pt = np.hypot(events.px, events.py)
    eta = np.arcsinh(events.pz / np.where(pt > 0, pt, 1))
    phi = np.arctan2(events.py, events.px)
    electrons = prompt & (np.abs(events.pid) == 11)
    photons = prompt & (events.pid == 22)
    keep &= ~electrons
    keep &= ~(photons & (pt >= 10.0) & (np.abs(eta) < 2.37))  # photon candidates of the ATLAS card
    for i in range(len(events)):
        b, e = events.particle_offsets[i], events.particle_offsets[i + 1]
        for g in np.nonzero(photons[b:e])[0] + b:
            for k in np.nonzero(electrons[b:e])[0] + b:
                dphi = np.mod(phi[g] - phi[k] + np.pi, 2 * np.pi) - np.pi
                if np.hypot(eta[g] - eta[k], dphi) < 0.1 and keep[g]:
                    keep[g] = False
    arr = events.to_awkward()
    sel = ak.unflatten(keep, np.diff(events.particle_offsets))
    parts = ak.zip({"px": arr.px[sel], "py": arr.py[sel], "pz": arr.pz[sel], "E": arr.e[sel]})
    ref = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)).inclusive_jets(
        min_pt=10.0
    )
    for i in range(len(events)):
        np.testing.assert_allclose(
            np.sort(out.truth_pt[i].to_numpy()), np.sort(np.hypot(ref[i].px, ref[i].py).to_numpy()), rtol=1e-10
        )
    # the sample exercises the mode: prompt electrons and tau decay products were removed
    assert electrons.sum() > 5
    assert truth.mask("from_hadronic_tau").sum() > 0


def test_parton_fallback_labels_on_a_record_without_hadrons():
    settings = [
        "Beams:eCM = 13000.",
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        "HadronLevel:all = off",
        "PartonLevel:MPI = off",
    ]
    events = PythiaGenerator(settings, seed=44).generate(30)
    truth = classify(events)
    assert np.all(truth.hadron_free == 1)
    for name in ("ATLAS-Run2", "CMS-Run2"):
        header = HEADER.replace("ATLAS-Run2", name)
        jets = Detector(DetectorCard.parse(header + ALL_JETS, "all_jets.toml")).reconstruct(events).jets
        # truth.heavy_flavour.parton_fallback = false: no labels from partons
        off = header + ALL_JETS + "[truth.heavy_flavour]\nparton_fallback = false\n"
        assert ak.all(ak.flatten(Detector(DetectorCard.parse(off, "off.toml")).reconstruct(events).jets.label) == 0)
        n_b = 0
        for i in range(len(events)):
            b, e = events.particle_offsets[i], events.particle_offsets[i + 1]
            expected = [0] * len(jets[i])
            for flag, label in (("last_b_quark", 5), ("last_c_quark", 4)):
                for g in np.nonzero(truth.mask(flag)[b:e])[0] + b:
                    pt = np.hypot(events.px[g], events.py[g])
                    if pt == 0:  # incoming parton along the beam
                        continue
                    eta, phi = np.arcsinh(events.pz[g] / pt), np.arctan2(events.py[g], events.px[g])
                    d = np.hypot(
                        jets[i].truth_eta.to_numpy() - eta,
                        np.mod(jets[i].truth_phi.to_numpy() - phi + np.pi, 2 * np.pi) - np.pi,
                    )
                    if len(d) and d.min() < 0.3 and expected[int(np.argmin(d))] == 0:
                        expected[int(np.argmin(d))] = label
            assert jets.label[i].to_list() == expected, f"{name} event {i}"
            n_b += expected.count(5)
        assert n_b > 30  # two b quarks per ttbar event, mostly inside a jet


def test_cms_large_r_jets_are_soft_dropped(ttbar):
    out = Detector("cms_run2").reconstruct(ttbar, large_r=True).large_r_jets
    ref = cluster(
        ttbar, R=0.8, pt_min=150.0, inputs=classify(ttbar, "cms_run2").mask("jet_input"), softdrop=(0.0, 0.1, 0.8)
    )
    ref = ref[abs(ref.eta) < 2.4]
    assert ak.sum(ak.num(out)) > 50
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out.truth_pt)), ak.to_numpy(ak.flatten(ref.pt)), rtol=1e-12)
