"""A Python columnar analysis chain written the way a scikit-hep user would, as the end-to-end
reference of `bench_chain.py`: recast's event reader, awkward arrays, python `fastjet` (anti-kt
R = 0.4), numpy smearing (jet pT resolution, MET from the visible particles), ONNX Runtime on ONE
BDT of ATLAS-SUSY-2018-22 (GGd1, both folds, its 11 inputs computed in numpy), and a cut-and-count.
Far less physics than `recast-ml run` (no truth classification, leptons, isolation, b-tagging,
overlap removal, 16 BDTs, 59 regions, statistics), deliberately — it is the cheap alternative a
user would write.

    python benchmarks/columnar_chain.py EVENTS.hepmc3[.gz]
"""

from __future__ import annotations

import sys
import time


def main(path: str) -> None:
    t0 = time.perf_counter()
    import awkward as ak
    import fastjet
    import numpy as np
    import onnxruntime as ort

    from recast_ml.analysis import find_definition, load_definition, load_model
    from recast_ml.io import read_events

    batch = read_events(path)
    ev = batch.to_awkward()
    apid = abs(ev.pid)
    invisible = (apid == 12) | (apid == 14) | (apid == 16) | (apid == 1000022) | (apid == 1000039)
    pt = np.hypot(ev.px, ev.py)
    eta = np.arcsinh(ev.pz / np.maximum(pt, 1e-9))
    visible = (ev.status == 1) & ~invisible & (abs(eta) < 4.9) & (pt > 0)
    parts = ak.zip({"px": ev.px[visible], "py": ev.py[visible], "pz": ev.pz[visible], "E": ev.e[visible]})
    jets = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)).inclusive_jets(
        min_pt=20.0
    )
    rng = np.random.default_rng(1)
    jpt = np.hypot(jets.px, jets.py)
    flat = ak.flatten(jpt)
    smear = ak.unflatten(
        1.0 + rng.normal(0.0, 0.1, len(flat)) * np.sqrt(20.0 / np.maximum(ak.to_numpy(flat), 20.0)), ak.num(jpt)
    )
    jeta = np.arcsinh(jets.pz / np.maximum(jpt, 1e-9))
    good = (jpt * smear > 50.0) & (abs(jeta) < 2.8)
    order = ak.argsort(jpt[good] * smear[good], ascending=False)
    sj_pt = (jpt * smear)[good][order]
    sj_eta = jeta[good][order]
    sj_px = (jets.px * smear)[good][order]
    sj_py = (jets.py * smear)[good][order]
    sj_pz = (jets.pz * smear)[good][order]
    metx = -ak.sum(ev.px[visible], axis=1)
    mety = -ak.sum(ev.py[visible], axis=1)
    met = ak.to_numpy(np.hypot(metx, mety)) * (1.0 + rng.normal(0.0, 0.05, len(ev)))
    ht = ak.to_numpy(ak.sum(sj_pt, axis=1))
    meff = ht + met
    # aplanarity from the momentum tensor of the signal jets
    pmat = np.zeros((len(ev), 3, 3))
    comps = (sj_px, sj_py, sj_pz)
    for i in range(3):
        for j in range(3):
            pmat[:, i, j] = ak.to_numpy(ak.sum(comps[i] * comps[j], axis=1))
    norm = np.trace(pmat, axis1=1, axis2=2)
    ok = norm > 0
    lam = np.zeros((len(ev), 3))
    lam[ok] = np.sort(np.linalg.eigvalsh(pmat[ok] / norm[ok, None, None]), axis=1)
    ap = 1.5 * lam[:, 0]

    def col(a: ak.Array, k: int) -> np.ndarray:
        return ak.to_numpy(ak.fill_none(ak.pad_none(a, 4, clip=True), 0.0))[:, k]

    x = np.column_stack(
        [met, meff, ap, *(col(sj_pt, k) for k in range(4)), *(col(sj_eta, k) for k in range(4))]
    ).astype(np.float32)
    definition = load_definition(find_definition("ATLAS-SUSY-2018-22"))
    card = definition.doc["models"]["GGd1"]
    score = np.zeros(len(ev), np.float32)
    number = batch.event_number
    for f in card["files"]:
        path_model = definition.directory / str(f["file"])
        sess = ort.InferenceSession(load_model(path_model, str(f["sha256"])), providers=["CPUExecutionProvider"])
        rows = number % 2 == int(f["route"])
        name = sess.get_inputs()[0].name
        score[rows] = sess.run(None, {name: x[rows]})[0].reshape(-1)[: int(rows.sum())]
    n_jets = ak.to_numpy(ak.num(sj_pt))
    passed = (met > 250) & (n_jets >= 4) & (meff > 1400) & (score >= 0.97)
    print(f"{len(ev)} events, {int(passed.sum())} pass SR-BDT-GGd1 (simplified), {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1])
