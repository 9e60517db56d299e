"""Delphes ROOT input (recast_ml.delphes) on the real Delphes sample shared/data/delphes/delphes.root
(25 events, see its README): the objects path against the branches read directly with uproot, the
truth path against the Particle branch, Delphes' own GenMissingET and its daughter links (D1/D2,
which the conversion does not use), chunked reading, analyses run both ways, and typed errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import jsonschema
import numpy as np
import pytest
import uproot

from recast_ml import ConfigError, Detector, InputError, _core, delphes
from recast_ml.analysis import Analysis
from recast_ml.cli import main
from recast_ml.provenance import validate_run_document
from recast_ml.truth import classify

SCHEMAS = Path(__file__).parents[1] / "python" / "recast_ml" / "schemas"
ANALYSIS = "ATLAS-SUSY-2019-04"  # b-tags, isolation, WPs, n_tracks, jvt, charges, MET


@pytest.fixture(scope="module")
def sample(shared_data: Path) -> Path:
    return shared_data / "delphes" / "delphes.root"


@pytest.fixture(scope="module")
def tree(sample: Path):
    with uproot.open(sample) as f:
        yield f["Delphes"]


@pytest.fixture(scope="module")
def schema() -> dict:
    return dict(_core.detector_schema(Detector("atlas_run2")._detector))


@pytest.fixture(scope="module")
def truth(sample: Path):
    """The sample's Particle branch as one event batch."""
    (batch,) = delphes.iter_truth(sample, chunk_size=100)
    return batch


def concat_tables(tables: list[dict]) -> dict:
    """Chunk tables joined into one (offsets shifted), to compare chunkings."""
    out: dict = {"n_events": sum(t["n_events"] for t in tables)}
    for key in ("weight", "event_number"):
        out[key] = np.concatenate([t[key] for t in tables])
    out["collections"] = {}
    for name in tables[0]["collections"]:
        parts = [t["collections"][name] for t in tables]
        counts = np.concatenate([np.diff(p["offsets"]) for p in parts])
        fields = {f: np.concatenate([p["fields"][f] for p in parts]) for f in parts[0]["fields"]}
        out["collections"][name] = {"offsets": np.concatenate([[0], np.cumsum(counts)]), "fields": fields}
    out["records"] = {
        name: {
            f: np.concatenate([t["records"][name]["fields"][f] for t in tables])
            for f in tables[0]["records"][name]["fields"]
        }
        for name in tables[0]["records"]
    }
    return out


def first_entries(a: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.firsts(a)).astype(np.float64)


# ------------------------------------------------------------------------------------------------
# objects path
# ------------------------------------------------------------------------------------------------
def test_objects_match_the_branches_read_directly(sample, tree, schema):
    (table,) = delphes.iter_object_tables(sample, schema, chunk_size=100)
    assert table["n_events"] == tree.num_entries == 25
    jets = table["collections"]["jets"]
    # counts from Delphes' own size counters
    assert np.diff(jets["offsets"]).tolist() == tree["Jet_size"].array(library="np").tolist()
    for name, branch in (("electrons", "Electron"), ("muons", "Muon"), ("photons", "Photon")):
        got = np.diff(table["collections"][name]["offsets"])
        assert got.tolist() == tree[f"{branch}_size"].array(library="np").tolist(), name
    # leading-jet pT per event (max over the event's jets), b-tag bit 0, MET
    pt = tree["Jet.PT"].array()
    has = ak.to_numpy(ak.num(pt)) > 0
    lead = np.maximum.reduceat(jets["fields"]["pt"], jets["offsets"][:-1][has])
    np.testing.assert_array_equal(lead, ak.to_numpy(ak.max(pt, axis=1))[has].astype(np.float64))
    btag = ak.to_numpy(ak.flatten(tree["Jet.BTag"].array())) & 1
    assert btag.sum() > 0
    for wp in ("btag_MV2c10_70", "btag_DL1r_77"):
        np.testing.assert_array_equal(jets["fields"][wp], btag)
    np.testing.assert_array_equal(jets["fields"]["mass"], ak.to_numpy(ak.flatten(tree["Jet.Mass"].array())))
    np.testing.assert_array_equal(jets["fields"]["n_tracks"], ak.to_numpy(ak.flatten(tree["Jet.NCharged"].array())))
    assert set(np.unique(jets["fields"]["label"])) <= {0.0, 4.0, 5.0}
    met = table["records"]["met"]["fields"]
    np.testing.assert_array_equal(met["pt"], first_entries(tree["MissingET.MET"].array()))
    np.testing.assert_allclose(np.hypot(met["x"], met["y"]), met["pt"], rtol=1e-12)
    np.testing.assert_array_equal(met["truth_pt"], first_entries(tree["GenMissingET.MET"].array()))
    np.testing.assert_array_equal(met["set"], first_entries(tree["ScalarHT.HT"].array()))
    np.testing.assert_array_equal(table["weight"], first_entries(tree["Event.Weight"].array()))
    assert table["event_number"].tolist() == list(range(25))
    # electrons: charge, isolation; taus: the tau-tagged jets
    el = table["collections"]["electrons"]["fields"]
    np.testing.assert_array_equal(el["charge"], ak.to_numpy(ak.flatten(tree["Electron.Charge"].array())))
    np.testing.assert_array_equal(el["iso_ptvarcone20"], ak.to_numpy(ak.flatten(tree["Electron.IsolationVar"].array())))
    assert np.all(el["wp_tight"] == 1)
    assert np.all(el["mass"] == delphes.ELECTRON_MASS)
    tau_tag = ak.to_numpy(ak.flatten(tree["Jet.TauTag"].array())) & 1
    taus = table["collections"]["taus"]
    assert taus["offsets"][-1] == tau_tag.sum() > 0
    np.testing.assert_array_equal(taus["fields"]["pt"], jets["fields"]["pt"][tau_tag == 1])
    # what Delphes lacks: missing (NaN), no large-R jets
    assert np.all(np.isnan(jets["fields"]["truth_pt"]))
    assert np.all(np.isnan(jets["fields"]["track_pt"]))
    assert table["collections"]["large_r_jets"]["offsets"][-1] == 0
    # the layout is the card's: the analysis compiled for the detector runs on it
    assert {n: list(c["fields"]) for n, c in table["collections"].items()} == schema["collections"]


def test_chunked_objects_are_identical_to_one_chunk(sample, schema):
    whole = concat_tables(list(delphes.iter_object_tables(sample, schema, chunk_size=1000)))
    chunks = list(delphes.iter_object_tables(sample, schema, chunk_size=7))
    assert [t["n_events"] for t in chunks] == [7, 7, 7, 4]
    joined = concat_tables(chunks)
    for name, c in whole["collections"].items():
        np.testing.assert_array_equal(joined["collections"][name]["offsets"], c["offsets"])
        for f, v in c["fields"].items():
            np.testing.assert_array_equal(joined["collections"][name]["fields"][f], v)
    for f, v in whole["records"]["met"].items():
        np.testing.assert_array_equal(joined["records"]["met"][f], v)
    np.testing.assert_array_equal(joined["event_number"], whole["event_number"])


# ------------------------------------------------------------------------------------------------
# truth path
# ------------------------------------------------------------------------------------------------
def test_truth_particles_match_the_particle_branch(truth, tree):
    batch = truth
    p = tree.arrays(["Particle.Status", "Particle.Px", "Particle.Py", "Particle.Pz", "Particle.E", "Particle.PID"])
    assert len(batch) == 25
    assert np.diff(batch.particle_offsets).tolist() == tree["Particle_size"].array(library="np").tolist()
    final = ak.to_numpy(ak.flatten(p["Particle.Status"])) == 1
    ev = np.repeat(np.arange(25), np.diff(batch.particle_offsets))
    assert (
        np.bincount(ev[batch.status == 1], minlength=25).tolist() == ak.sum(p["Particle.Status"] == 1, axis=1).tolist()
    )
    for col, branch in (("px", "Px"), ("py", "Py"), ("pz", "Pz"), ("e", "E")):
        ref = ak.to_numpy(ak.flatten(p[f"Particle.{branch}"])).astype(np.float64)
        np.testing.assert_array_equal(getattr(batch, col)[final], ref[final])
    np.testing.assert_array_equal(batch.pid, ak.to_numpy(ak.flatten(p["Particle.PID"])))
    np.testing.assert_array_equal(batch.weight, first_entries(tree["Event.Weight"].array()))


def test_truth_invisible_momentum_matches_delphes_genmissinget(truth, tree):
    """recast's invisible particles (classification of the converted record) sum to Delphes' own
    GenMissingET (computed by Delphes from its particles) to float32 precision."""
    batch = truth
    inv = classify(batch).mask("invisible")
    ev = np.repeat(np.arange(len(batch)), np.diff(batch.particle_offsets))
    px = np.bincount(ev, batch.px * inv, minlength=len(batch))
    py = np.bincount(ev, batch.py * inv, minlength=len(batch))
    ref = first_entries(tree["GenMissingET.MET"].array())
    np.testing.assert_allclose(np.hypot(px, py), ref, atol=2e-3, rtol=1e-5)
    assert ref.max() > 50  # events with real neutrino momentum are among them


def daughters(d1: int, d2: int) -> list[int]:
    """Pythia's daughter list (Delphes' 0-based D1/D2, -1 = none)."""
    if d1 < 0 and d2 < 0:
        return []
    if d1 < 0:
        return [d2]
    if d2 < 0 or d2 == d1:
        return [d1]
    return list(range(d1, d2 + 1)) if d2 > d1 else [d2, d1]


def test_truth_mothers_agree_with_the_daughter_links(sample, tree):
    """The mothers read from M1/M2 against the independent daughter links D1/D2: every daughter
    link is a mother link, and every mother link is a daughter link except from the beam protons
    (Pythia lists only the first beam remnants among their daughters)."""
    batch = next(delphes.iter_truth(sample, chunk_size=4))
    d = tree.arrays(["Particle.D1", "Particle.D2", "Particle.Status"], entry_stop=4)
    n_links = 0
    for e in range(4):
        d1, d2, st = (ak.to_numpy(d[f"Particle.{c}"][e]) for c in ("D1", "D2", "Status"))
        parents = [set(batch.parents_of(e, i).tolist()) for i in range(len(d1))]
        for j in range(len(d1)):
            for child in daughters(int(d1[j]), int(d2[j])):
                assert j in parents[child], (e, j, child)
        for i, ps in enumerate(parents):
            for j in ps:
                n_links += 1
                assert i in daughters(int(d1[j]), int(d2[j])) or st[j] == 4, (e, i, j)
    assert n_links > 10000


def is_hadron_with(pid: int, quark: int) -> bool:
    a = abs(pid)
    return 100 <= a < 10000 and any((a // 10**k) % 10 == quark for k in (1, 2, 3))


def test_truth_weakly_decaying_b_and_c_hadrons_follow_the_daughter_links(truth, tree):
    """recast's b/c-hadron flags (which walk the converted mother links) equal a reference built
    from the daughter links: a b (c) hadron none of whose daughters is a b (c) hadron."""
    batch = truth
    flags = classify(batch)
    d = tree.arrays(["Particle.D1", "Particle.D2", "Particle.PID"])
    off = batch.particle_offsets
    n_b = 0
    for e in range(len(batch)):
        pid, d1, d2 = (ak.to_numpy(d[f"Particle.{c}"][e]) for c in ("PID", "D1", "D2"))
        for quark, name in ((5, "b_hadron"), (4, "c_hadron")):
            ref = [
                i
                for i in range(len(pid))
                if is_hadron_with(pid[i], quark)
                and (quark == 5 or not is_hadron_with(pid[i], 5))
                and not any(is_hadron_with(pid[j], quark) for j in daughters(int(d1[i]), int(d2[i])))
            ]
            got = np.flatnonzero(flags.mask(name)[off[e] : off[e + 1]]).tolist()
            assert got == ref, (e, name)
            n_b += len(ref) if quark == 5 else 0
    assert n_b > 0


def test_mother_conventions_by_hand():
    # 0: none; 1: one (M2 = -1); 2: carbon copy (M2 == M1); 3: hadron, range 0..2; 4: parton (73), two mothers
    # 5: only M2 set; 6: M2 < M1: two mothers
    m1 = np.array([-1, 0, 1, 0, 0, -1, 3])
    m2 = np.array([-1, -1, 1, 2, 3, 2, 1])
    status = np.array([4, 22, 23, 1, 73, 2, 71])
    offsets, parents = delphes.mothers(m1, m2, status)
    got = [parents[offsets[i] : offsets[i + 1]].tolist() for i in range(len(m1))]
    assert got == [[], [0], [1], [0, 1, 2], [0, 3], [2], [1, 3]]


def write_tree(path: Path, branches: dict, name: str = "Delphes") -> Path:
    """A TTree (not an RNTuple) with the given branch names, e.g. "Particle.PID"."""
    arrays = {k: ak.Array(v) for k, v in branches.items()}
    with uproot.recreate(path) as f:
        f.mktree(name, {k: a.type.content for k, a in arrays.items()}, counter_name=lambda c: "n" + c.replace(".", "_"))
        f[name].extend(arrays)
    return path


def test_pile_up_particles_are_dropped_and_mothers_renumbered(tmp_path):
    # beam, a pile-up pion, Z from the beam, mu-, mu+ from the Z
    path = write_tree(
        tmp_path / "pu.root",
        {
            "Particle.PID": [[2212, 211, 23, 13, -13]],
            "Particle.Status": [[4, 1, 22, 1, 1]],
            "Particle.IsPU": [[0, 1, 0, 0, 0]],
            "Particle.M1": [[-1, -1, 0, 2, 2]],
            "Particle.M2": [[-1, -1, -1, -1, -1]],
            **{f"Particle.{c}": [[0.0, 1.0, 0.0, 30.0, -30.0]] for c in ("Px", "Py")},
            "Particle.Pz": [[6500.0, 2.0, 10.0, 5.0, 5.0]],
            "Particle.E": [[6500.0, 2.5, 92.0, 43.0, 43.0]],
            "Particle.Mass": [[0.938, 0.1396, 91.2, 0.1057, 0.1057]],
        },
    )
    stats = delphes.TruthStats()
    (batch,) = delphes.iter_truth(path, stats=stats)
    assert batch.pid.tolist() == [2212, 23, 13, -13]
    assert [batch.parents_of(0, i).tolist() for i in range(4)] == [[], [0], [1], [1]]
    assert batch.event_number.tolist() == [0]
    assert batch.weight.tolist() == [1.0]
    assert stats.pile_up_dropped == 1
    assert any("1 pile-up particles" in c for c in delphes.truth_caveats(stats))


def test_mother_outside_the_event_is_an_input_error(tmp_path):
    cols = {f"Particle.{c}": [[1.0, 2.0], [3.0]] for c in ("Px", "Py", "Pz", "E", "Mass")}
    path = write_tree(
        tmp_path / "bad.root",
        {**cols, "Particle.PID": [[1, 2], [3]], "Particle.Status": [[2, 1], [1]],
         "Particle.M1": [[-1, 0], [4]], "Particle.M2": [[-1, -1], [-1]]},
    )  # fmt: skip
    with pytest.raises(InputError, match=r"bad\.root \(event 1\): Particle 0: M1 = 4 points outside"):
        list(delphes.iter_truth(path))


# ------------------------------------------------------------------------------------------------
# analyses on both paths, chunking, the run document
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return Analysis.load(ANALYSIS)


@pytest.mark.parametrize("how", ["objects", "truth"])
def test_analysis_runs_on_both_paths_and_chunking_changes_nothing(sample, analysis, how):
    (one,), (notes,) = delphes.run_delphes([analysis], [sample], how=how, cross_section=1.0, chunk_size=100)
    (chunked,), _ = delphes.run_delphes([analysis], [sample], how=how, cross_section=1.0, chunk_size=7)
    assert one.n_events == chunked.n_events == 25
    for region, cf in one.cutflows.items():
        assert cf.n[0] == 25, region  # "all events"
        np.testing.assert_array_equal(chunked.cutflows[region].n, cf.n)
        np.testing.assert_array_equal(chunked.cutflows[region].sumw, cf.sumw)
    np.testing.assert_array_equal(chunked.variables, one.variables)  # NaN == NaN position by position
    assert one.detector == ("delphes" if how == "objects" else "ATLAS-Run2")
    assert notes["object_source"].startswith(f"Delphes {how}")
    if how == "objects":
        caveats = "\n".join(notes["object_caveats"])
        for word in ("btag_", "wp_", "iso_", "n_tracks", "jvt"):  # fields this analysis uses
            assert word in caveats
        assert "large_r_jets" not in caveats
        assert "taus" not in caveats


def test_objects_and_truth_paths_see_the_same_events(truth, tree):
    """Independent reconstructions of the same events: the Delphes jets and recast's emulated jets
    agree on the leading-jet pT of events with a hard jet (different algorithms: within 25 %)."""
    lead_delphes = ak.to_numpy(ak.fill_none(ak.max(tree["Jet.PT"].array(), axis=1), 0.0))
    jets = Detector("atlas_run2").reconstruct(truth).jets
    lead_recast = ak.to_numpy(ak.fill_none(ak.max(jets.pt, axis=1), 0.0))
    hard = lead_delphes > 100
    assert hard.sum() >= 5
    np.testing.assert_allclose(lead_recast[hard], lead_delphes[hard], rtol=0.25)


def test_run_job_writes_the_object_source_into_the_results(sample, tmp_path, capsys):
    out = tmp_path / "out"
    copy = tmp_path / "sample.dat"  # detected by content, not by suffix
    shutil.copy(sample, copy)
    code = main(["run", "--events", str(copy), "--analysis", ANALYSIS, "--cross-section", "0.5",
                 "-o", str(out), "--no-progress", "--threads", "1"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "objects: Delphes objects" in text
    assert "caveat: b-tagging" in text
    doc = json.loads((out / "results.json").read_text())
    validate_run_document(doc)  # the whole run document, with the per-analysis part
    (ana,) = doc["analyses"]
    jsonschema.validate(ana, json.loads((SCHEMAS / "results.schema.json").read_text()))
    assert ana["sample"]["n_events"] == 25
    assert ana["sample"]["detector"] == "delphes"
    assert ana["sample"]["object_caveats"]
    assert ana["regions"][0]["cutflow"][0]["n"] == 25
    assert "Delphes objects" in (out / "report.html").read_text()
    code = main(["run", "--events", str(copy), "--analysis", ANALYSIS, "--cross-section", "0.5",
                 "-o", str(out), "--no-progress", "--threads", "2", "--delphes", "truth"])  # fmt: skip
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    validate_run_document(doc)
    (ana,) = doc["analyses"]
    assert ana["sample"]["object_source"].startswith("Delphes truth")
    assert ana["sample"]["detector"] == "ATLAS-Run2"
    assert ana["regions"][0]["cutflow"][0]["n"] == 25


def test_root_files_are_detected_by_content(sample, tmp_path):
    hepmc = tmp_path / "x.root"
    hepmc.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\n")
    assert delphes.is_root_file(sample)
    assert not delphes.is_root_file(hepmc)
    assert delphes.root_inputs([sample, sample])
    assert not delphes.root_inputs([hepmc])
    with pytest.raises(ConfigError, match="all be Delphes ROOT files or none"):
        delphes.root_inputs([sample, hepmc])


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def not_delphes(tmp_path) -> Path:
    return write_tree(tmp_path / "events.root", {"x": np.arange(3.0)}, name="Events")


@pytest.fixture
def truncated(sample, tmp_path) -> Path:
    data = sample.read_bytes()
    path = tmp_path / "truncated.root"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


@pytest.fixture
def damaged(sample, tree, tmp_path) -> Path:
    """The sample with the compressed payload of the first Particle.Px basket overwritten."""
    seek = int(tree["Particle.Px"].member("fBasketSeek")[0])
    data = bytearray(sample.read_bytes())
    data[seek + 120 : seek + 400] = b"\xff" * 280
    path = tmp_path / "damaged.root"
    path.write_bytes(bytes(data))
    return path


def test_root_file_without_a_delphes_tree(not_delphes, schema):
    with pytest.raises(
        InputError, match=r"events\.root: no 'Delphes' TTree: not a Delphes output file \(it holds: Events"
    ):
        list(delphes.iter_object_tables(not_delphes, schema))
    with pytest.raises(InputError, match=r"events\.root: no 'Delphes' TTree"):
        list(delphes.iter_truth(not_delphes))


def test_broken_files_give_typed_errors_naming_the_file(truncated, damaged, schema):
    with pytest.raises(InputError, match=r"truncated\.root: cannot read the ROOT file"):
        list(delphes.iter_truth(truncated))
    with pytest.raises(
        InputError, match=r"damaged\.root: cannot read entries 0-24 of branch 'Particle\.Px' of the 'Delphes' tree"
    ):
        list(delphes.iter_truth(damaged))


def test_missing_branch_is_named(sample, tmp_path, schema):
    with uproot.open(sample) as f:
        arrays = f["Delphes"].arrays(list(delphes.OBJECT_BRANCHES), entry_stop=3)
    branches = {b: arrays[b] for b in delphes.OBJECT_BRANCHES if b != "MissingET.Phi"}
    path = write_tree(tmp_path / "nomet.root", branches)
    with pytest.raises(InputError, match=r"nomet\.root: the 'Delphes' tree has no branch 'MissingET\.Phi'"):
        list(delphes.iter_object_tables(path, schema))
    with pytest.raises(InputError, match=r"has no branch 'Particle\.PID' \(reading the truth particles"):
        list(delphes.iter_truth(path))
    # without the optional branches: documented fallbacks (weights 1, no taus, NaN set/truth MET)
    (table,) = delphes.iter_object_tables(
        write_tree(tmp_path / "min.root", {**branches, "MissingET.Phi": arrays["MissingET.Phi"]}), schema
    )
    assert table["weight"].tolist() == [1.0, 1.0, 1.0]
    assert table["collections"]["taus"]["offsets"][-1] == 0
    assert np.all(np.isnan(table["records"]["met"]["fields"]["set"]))


@pytest.mark.parametrize(
    ("which", "how"),  # the damaged basket holds truth particles: the objects path does not read it
    [("not_delphes", "objects"), ("not_delphes", "truth"), ("truncated", "objects"), ("damaged", "truth")],
)
def test_cli_prints_one_line(which, how, request, tmp_path, capsys):
    path = request.getfixturevalue(which)
    code = main(["run", "--events", str(path), "--analysis", ANALYSIS, "--cross-section", "1",
                 "--delphes", how, "-o", str(tmp_path / "out"), "--no-progress", "--threads", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("recast-ml: error: ")
    assert path.name in err
    assert not (tmp_path / "out" / "results.json").exists()
