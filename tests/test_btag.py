"""b-tagging (detector spec §9): the default efficiencies quoted in §9.5, tag rates against the
per-jet probabilities, nesting and determinism."""

from __future__ import annotations

import itertools

import awkward as ak
import numpy as np
import pytest

from recast_ml.btag import LABELS, BTagger
from recast_ml.cards import DetectorCard
from recast_ml.pythia import PythiaGenerator

PT = [20, 50, 100, 150, 250, 400, 600, 1000, 2000]
ATLAS_77 = {  # spec §9.5 "Resulting defaults"
    "b": [0.670, 0.776, 0.808, 0.813, 0.800, 0.740, 0.660, 0.500, 0.320],
    "c": [0.161] * 9,
    "light": [0.0066, 0.0072, 0.0084, 0.0095, 0.0117, 0.0151, 0.0195, 0.0285, 0.0508],
}


@pytest.fixture(scope="module")
def tagger():
    return BTagger("atlas_run2")


@pytest.fixture(scope="module")
def ttbar():
    return PythiaGenerator("ttbar", seed=8).generate(150)


@pytest.mark.parametrize("label", ["b", "c", "light"])
def test_default_efficiencies_of_the_spec(tagger, label):
    got = tagger.probability("MV2c10_77", label, PT, 0.5)
    decimals = 4 if label == "light" else 3
    np.testing.assert_allclose(np.round(got, decimals), ATLAS_77[label], atol=1.01 * 10**-decimals)


def test_acceptance_edges(tagger):
    assert tagger.probability("MV2c10_77", "b", [19.9, 20.0], 0.5).tolist()[0] == 0.0
    assert float(tagger.probability("MV2c10_77", "b", [100.0], 2.5)[0]) == 0.0
    assert float(tagger.probability("MV2c10_77", "tau", [100.0], 1.0)[0]) == pytest.approx(1 / 22.0)


def test_tag_rates_agree_with_probabilities(tagger, ttbar):
    jets = tagger.tag_jets(ttbar)
    bit = 1 << tagger.working_points.index("MV2c10_77")
    pt = ak.flatten(jets.pt).to_numpy()
    eta = np.abs(ak.flatten(jets.eta).to_numpy())
    label = ak.flatten(jets.label).to_numpy()
    tagged = (ak.flatten(jets.btag).to_numpy() & bit) != 0
    n_b = 0
    for name in ("b", "c", "light"):
        sel = label == LABELS[name]
        p = np.array(
            [float(tagger.probability("MV2c10_77", name, [x], y)[0]) for x, y in zip(pt[sel], eta[sel], strict=True)]
        )
        expected, sigma = p.sum(), np.sqrt((p * (1 - p)).sum())
        assert abs(tagged[sel].sum() - expected) < 3 * max(sigma, 1.0), name
        n_b += sel.sum() if name == "b" else 0
    assert n_b / len(ttbar) > 1.2  # two b jets per ttbar event, some outside acceptance


def test_nested_working_points_and_determinism(tagger, ttbar):
    jets = tagger.tag_jets(ttbar)
    masks = ak.flatten(jets.btag).to_numpy()
    wps = tagger.working_points
    family = ["MV2c10_85", "MV2c10_77", "MV2c10_70", "MV2c10_60"]
    for loose, tight in itertools.pairwise(family):
        lb, tb = 1 << wps.index(loose), 1 << wps.index(tight)
        assert not np.any(((masks & tb) != 0) & ((masks & lb) == 0))  # tight passes imply loose passes
        assert np.any((masks & tb) != 0)
    again = tagger.tag_jets(ttbar, threads=2)
    assert ak.to_list(again) == ak.to_list(jets)
    shifted = tagger.tag_jets(ttbar, first_event_key=1000)
    assert ak.to_list(shifted.label) == ak.to_list(jets.label)
    assert ak.to_list(shifted.btag) != ak.to_list(jets.btag)


CMS_DEEPCSV_M = {  # spec §9.5 "Resulting defaults"
    "b": [0.631, 0.664, 0.707, 0.675, 0.631, 0.566, 0.522, 0.522, 0.522],
    "c": [0.120] * 9,
    "light": [0.0096, 0.0107, 0.0124, 0.0141, 0.0175, 0.0226, 0.0294, 0.0430, 0.0770],
}


@pytest.mark.parametrize("label", ["b", "c", "light"])
def test_cms_default_efficiencies_of_the_spec(label):
    got = BTagger("cms_run2").probability("DeepCSV_M", label, PT, 0.5)
    decimals = 4 if label == "light" else 3
    np.testing.assert_allclose(np.round(got, decimals), CMS_DEEPCSV_M[label], atol=1.01 * 10**-decimals)


def test_ghost_labels_leave_jets_unchanged(ttbar):
    from recast_ml import Detector
    from recast_ml.jets import cluster
    from recast_ml.truth import classify

    every_jet = 'schema = "recast_ml/detector-card"\nschema_version = 1\nextends = "CMS-Run2"\n'
    every_jet += "[jet]\nreco_pt_min = 0.0\nabs_eta_max = inf\n"  # all clustered jets emitted
    reco = Detector(DetectorCard.parse(every_jet, "cms_all_jets.toml")).reconstruct(ttbar)  # ghost b/c hadrons
    plain = cluster(ttbar, inputs=classify(ttbar, "cms_run2").mask("jet_input"), R=0.4, pt_min=10.0)
    assert ak.to_list(reco.jets.truth_pt) == ak.to_list(plain.pt)  # ghosts do not move the jets
    labels = ak.flatten(reco.jets.label).to_numpy()
    assert np.count_nonzero(labels == 5) / len(ttbar) > 1.2
    assert set(labels.tolist()) <= {0, 4, 5}  # no tau label in the ghost scheme
    cone = ak.flatten(BTagger("atlas_run2").tag_jets(ttbar).label).to_numpy()
    assert abs(np.count_nonzero(labels == 5) - np.count_nonzero(cone == 5)) < 0.2 * np.count_nonzero(cone == 5)
