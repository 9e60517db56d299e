"""Large-R jets (§8.6): grooming and N-subjettiness against python `fastjet`, reclustering, boson
and top labels against an independent walk of the record, and the pT/mass smearing closure."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import pytest

import recast_ml
from recast_ml.jets import cluster, recluster
from recast_ml.pythia import PythiaGenerator
from recast_ml.truth import classify


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=31).generate(60)


@pytest.fixture(scope="module")
def inputs(ttbar):
    return classify(ttbar).mask("jet_input")


def swig_event(ev, mask, i):
    """The jet inputs of event i as swig PseudoJets (user index = event-local particle index)."""
    b, e = ev.particle_offsets[i], ev.particle_offsets[i + 1]
    out = []
    for k in np.nonzero(mask[b:e])[0]:
        g = b + k
        p = fastjet.PseudoJet(float(ev.px[g]), float(ev.py[g]), float(ev.pz[g]), float(ev.e[g]))
        p.set_user_index(int(k))
        out.append(p)
    return out


def test_trimming_equals_fastjet_filter(ttbar, inputs):
    ours = cluster(ttbar, R=1.0, pt_min=100.0, inputs=inputs, trimming=(0.2, 0.05))
    trimmer = fastjet.Filter(fastjet.JetDefinition(fastjet.kt_algorithm, 0.2), fastjet.SelectorPtFractionMin(0.05))
    n_checked = 0
    for i in range(len(ttbar)):
        cs = fastjet.ClusterSequence(swig_event(ttbar, inputs, i), fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0))
        ref = [trimmer(j) for j in cs.inclusive_jets(0.0)]
        ref = sorted((j for j in ref if j.pt() >= 100.0), key=lambda j: -j.pt())
        assert len(ours[i]) == len(ref), f"event {i}"
        for mine, theirs in zip(ours[i], ref, strict=True):
            assert mine.pt == pytest.approx(theirs.pt(), rel=1e-10)
            assert mine.mass == pytest.approx(theirs.m(), rel=1e-7, abs=1e-6)
            assert sorted(mine.constituents.to_list()) == sorted(c.user_index() for c in theirs.constituents())
            n_checked += 1
    assert n_checked > 30
    ungroomed = cluster(ttbar, R=1.0, pt_min=100.0, inputs=inputs)
    assert ak.sum(ak.num(ungroomed)) >= ak.sum(ak.num(ours))  # grooming only lowers pT


def test_softdrop_equals_fjcontrib_through_python_fastjet(ttbar, inputs):
    ours = cluster(ttbar, R=0.8, pt_min=0.0, inputs=inputs, softdrop=(0.0, 0.1, 0.8))
    plain = cluster(ttbar, R=0.8, pt_min=0.0, inputs=inputs)
    arr = ttbar.to_awkward()
    # the constituents of every ungroomed jet with pT > 50 GeV as one "event" for python fastjet
    sel = ak.flatten(plain.pt > 50.0)
    jets_idx = ak.flatten(plain.constituents)[sel]
    event_of_jet = np.repeat(np.arange(len(ttbar)), ak.to_numpy(ak.num(plain)))[ak.to_numpy(sel)]
    parts = ak.zip(
        {
            "px": arr.px[event_of_jet][jets_idx],
            "py": arr.py[event_of_jet][jets_idx],
            "pz": arr.pz[event_of_jet][jets_idx],
            "E": arr.e[event_of_jet][jets_idx],
        }
    )
    # C/A with a radius beyond any jet, so that one jet holds all constituents (fjcontrib reclusters so)
    cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.cambridge_algorithm, 100.0))
    ref = cs.exclusive_jets_softdrop_grooming(njets=1, beta=0, symmetry_cut=0.1, R0=0.8)
    # every ungroomed jet gives one groomed jet (pt_min = 0): find the reference among those of its event
    assert len(ref) > 40
    for k in range(len(ref)):
        candidates = ours[event_of_jet[k]]
        d = np.abs(ak.to_numpy(candidates.pt) / ref.ptsoftdrop[k] - 1)
        best = int(np.argmin(d))
        assert d[best] < 1e-9
        assert candidates.mass[best] == pytest.approx(ref.msoftdrop[k], rel=1e-6, abs=1e-5)
        # and the groomed constituents are a subset of the jet's
        assert set(candidates.constituents[best].to_list()) <= set(ak.to_numpy(jets_idx[k]).tolist())


def reference_tau(px, py, pz, e, n, R0):
    parts = [fastjet.PseudoJet(*map(float, p)) for p in zip(px, py, pz, e, strict=True)]
    jd = fastjet.JetDefinition(fastjet.kt_algorithm, fastjet.JetDefinition.max_allowable_R, fastjet.WTA_pt_scheme)
    cs = fastjet.ClusterSequence(parts, jd)
    pt = np.hypot(px, py)
    rap = 0.5 * np.log((e + pz) / (e - pz))
    phi = np.arctan2(py, px)
    out = []
    for k in range(1, n + 1):
        if len(parts) <= k:
            out.append(0.0)
            continue
        axes = cs.exclusive_jets(k)
        d = np.full(len(parts), np.inf)
        for a in axes:
            dphi = np.mod(phi - a.phi_std() + np.pi, 2 * np.pi) - np.pi
            d = np.minimum(d, np.hypot(rap - a.rap(), dphi))
        out.append(float(np.sum(pt * d) / (np.sum(pt) * R0)))
    return out


def test_nsubjettiness_against_numpy_formula(ttbar, inputs):
    jets = cluster(ttbar, R=1.0, pt_min=150.0, inputs=inputs, trimming=(0.2, 0.05), nsubjettiness=3)
    n = 0
    for i in range(len(ttbar)):
        b = ttbar.particle_offsets[i]
        for j in jets[i]:
            g = b + np.asarray(j.constituents)
            ref = reference_tau(ttbar.px[g], ttbar.py[g], ttbar.pz[g], ttbar.e[g], 3, 1.0)
            assert [j.tau1, j.tau2, j.tau3] == pytest.approx(ref, rel=1e-9, abs=1e-12)
            assert j.tau1 >= j.tau2 >= j.tau3 >= 0
            n += 1
    assert n > 20


def test_recluster_equals_python_fastjet_with_trimming():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9, size=40)
    n = counts.sum()
    small = ak.unflatten(
        ak.zip(
            {
                "pt": rng.uniform(20, 400, n),
                "eta": rng.uniform(-2.5, 2.5, n),
                "phi": rng.uniform(-np.pi, np.pi, n),
                "mass": rng.uniform(0, 30, n),
            }
        ),
        counts,
    )
    use = small.pt > 25.0
    rc = recluster(small, R=1.0, pt_min=100.0, f_cut=0.05, use=use)
    for i in range(len(small)):
        parts = []
        for k, o in enumerate(small[i]):
            if not use[i][k]:
                continue
            px, py, pz = o.pt * np.cos(o.phi), o.pt * np.sin(o.phi), o.pt * np.sinh(o.eta)
            p = fastjet.PseudoJet(px, py, pz, float(np.sqrt(px**2 + py**2 + pz**2 + o.mass**2)))
            p.set_user_index(k)
            parts.append(p)
        ref = []
        if parts:
            cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0))
            for j in cs.inclusive_jets(0.0):
                kept = [c for c in j.constituents() if c.pt() >= 0.05 * j.pt()]
                tot = np.sum([[c.px(), c.py(), c.pz(), c.e()] for c in kept], axis=0)
                if np.hypot(tot[0], tot[1]) >= 100.0:
                    ref.append((np.hypot(tot[0], tot[1]), sorted(c.user_index() for c in kept)))
        ref.sort(key=lambda r: -r[0])
        assert len(rc[i]) == len(ref)
        for mine, (pt, members) in zip(rc[i], ref, strict=True):
            assert mine.pt == pytest.approx(pt, rel=1e-10)
            assert mine.inputs.to_list() == members


def reference_labels(ev, i, fat, dr):
    """Independent walk: last W/Z/H to quarks (H: or gluons) not from t/H, m > pole - 20;
    last top whose W (last copy) goes to quarks. Nearest within dr of each large-R jet."""
    b, e = ev.particle_offsets[i], ev.particle_offsets[i + 1]
    pid = ev.pid[b:e]
    parents = [ev.parents[ev.parent_offsets[b + k] : ev.parent_offsets[b + k + 1]] for k in range(e - b)]
    children: list[list[int]] = [[] for _ in range(e - b)]
    for k, ps in enumerate(parents):
        for p in ps:
            children[p].append(k)

    def last(k):
        while True:
            same = [c for c in children[k] if pid[c] == pid[k]]
            if not same:
                return k
            k = same[0]

    def ancestors_with(k, ids):
        seen, todo = set(), list(parents[k])
        while todo:
            p = todo.pop()
            if p in seen or ev.status[b + p] == 4:
                continue
            seen.add(p)
            if pid[p] != pid[k] and abs(pid[p]) in ids:
                return True
            todo.extend(parents[p])
        return False

    def to_partons(k, gluons):
        return any(1 <= abs(pid[c]) <= 5 or (gluons and pid[c] == 21) for c in children[k])

    poles = {23: 91.1876, 24: 80.379, 25: 125.0}
    targets = []
    for k in range(e - b):
        a = abs(pid[k])
        if not children[k] or last(k) != k:
            continue
        g = b + k
        if a in poles:
            m = np.sqrt(max(ev.e[g] ** 2 - ev.px[g] ** 2 - ev.py[g] ** 2 - ev.pz[g] ** 2, 0))
            if m > poles[a] - 20 and to_partons(k, a == 25) and not ancestors_with(k, {6, 25}):
                targets.append((a, g))
        if a == 6 and any(abs(pid[c]) == 24 and to_partons(last(c), False) for c in children[k]):
            targets.append((6, g))
    labels = []
    for j in fat:
        best, lab = dr, 0
        for a, g in targets:
            pt = np.hypot(ev.px[g], ev.py[g])
            d = np.hypot(
                np.arcsinh(ev.pz[g] / pt) - j.truth_eta,
                np.mod(np.arctan2(ev.py[g], ev.px[g]) - j.truth_phi + np.pi, 2 * np.pi) - np.pi,
            )
            if d < best:
                best, lab = d, a
        labels.append(lab)
    return labels


@pytest.fixture(scope="module")
def boosted_z():
    settings = [
        "Beams:eCM = 13000.",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakBosonAndParton:qqbar2gmZg = on",
        "PhaseSpace:pTHatMin = 300.",
        "23:onMode = off",
        "23:onIfAny = 1 2 3 4 5",
        "PartonLevel:MPI = off",
    ]
    return PythiaGenerator(settings, seed=8).generate(60)


def test_boson_and_top_labels_equal_an_independent_walk(ttbar, boosted_z):
    for events, detector in ((ttbar, "atlas_run2"), (boosted_z, "atlas_run2"), (boosted_z, "cms_run2")):
        det = recast_ml.Detector(detector)
        out = det.reconstruct(events, large_r=True).large_r_jets
        dr = det.card.to_dict()["large_r_jet"]["boson_label_dr"]
        for i in range(len(events)):
            assert out.label[i].to_list() == reference_labels(events, i, out[i], dr), f"event {i}"
    labels_z = ak.flatten(recast_ml.Detector("atlas_run2").reconstruct(boosted_z, large_r=True).large_r_jets.label)
    labels_t = ak.flatten(recast_ml.Detector("atlas_run2").reconstruct(ttbar, large_r=True).large_r_jets.label)
    assert ak.sum(labels_z == 23) > 0.5 * len(boosted_z)  # one boosted hadronic Z per event, mostly found
    assert ak.sum(labels_t == 6) > 10
    assert ak.sum(labels_t == 24) == 0


def test_large_r_acceptance_and_smearing_closure(ttbar):
    det = recast_ml.Detector("atlas_run2")
    truth = classify(ttbar).mask("jet_input")
    groomed = ak.flatten(cluster(ttbar, R=1.0, pt_min=100.0, inputs=truth, trimming=(0.2, 0.05)))
    ref = groomed[abs(groomed.eta) < 2.0]
    ref = ref[np.argsort(ak.to_numpy(ref.pt))]
    ok = ak.to_numpy(ref.mass) > 1.0
    pulls_pt, pulls_m = [], []
    for key in range(60):  # different event keys = independent smearing of the same jets
        fat = ak.flatten(det.reconstruct(ttbar, first_event_key=1000 * key, large_r=True).large_r_jets)
        fat = fat[np.argsort(ak.to_numpy(fat.truth_pt))]
        np.testing.assert_allclose(ak.to_numpy(fat.truth_pt), ak.to_numpy(ref.pt), rtol=1e-12)
        pulls_pt.append(ak.to_numpy((fat.pt / fat.truth_pt - 1) / 0.05))
        pulls_m.append(ak.to_numpy(fat.mass / ref.mass - 1)[ok] / 0.10)
    pt_pull, m_pull = np.concatenate(pulls_pt), np.concatenate(pulls_m)
    assert len(pt_pull) > 2500
    assert np.std(pt_pull) == pytest.approx(1.0, abs=0.03)
    assert np.std(m_pull) == pytest.approx(1.0, abs=0.03)
    assert abs(np.mean(pt_pull)) < 3 / np.sqrt(len(pt_pull))


def test_large_r_jets_only_when_requested(ttbar):
    det = recast_ml.Detector("atlas_run2")
    plain = det.reconstruct(ttbar)
    full = det.reconstruct(ttbar, large_r=True)
    assert "large_r_jets" not in plain.fields  # absent, not silently empty
    with pytest.raises(Exception, match="large_r_jets"):
        plain.large_r_jets  # noqa: B018
    assert ak.sum(ak.num(full.large_r_jets)) > 10
    # everything else is the same with or without them (large-R jets draw from their own stream)
    for kind in ("electrons", "muons", "photons", "taus", "jets", "met"):
        assert ak.to_list(plain[kind]) == ak.to_list(full[kind]), kind
