"""Detector-emulation throughput vs FastJet-only clustering of the same particles.

Side by side in one run on the same Pythia 8 events (13 TeV, MPI and hadronisation on; default:
gluino pairs m(g~) = 1400 GeV, m(chi1) = 1000 GeV, g~ -> q q chi1, from recast_ml.slha; or tt~):
  * python `fastjet` (multi-event interface) clustering the jet inputs (anti-kt R = 0.4) - baseline
  * recast jet clustering alone (C++ core, same inputs)
  * recast Detector("atlas_run2").reconstruct: truth classification, e/mu/gamma/tau efficiencies
    and smearing, small-R and trimmed large-R jets, labels, b-tagging, MET - on 1 and 2 threads

    .venv/bin/python benchmarks/bench_reconstruct.py [--sample gluino|ttbar] [--events 500] [--repeat 3]
        [--output results/reconstruct.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np

import recast_ml
from _timing import best, markdown_table, publish
from recast_ml.jets import cluster
from recast_ml.pythia import PythiaGenerator, simplified_model_generator
from recast_ml.truth import classify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path)
    ap.add_argument("--sample", choices=("gluino", "ttbar"), default="gluino")
    args = ap.parse_args()

    if args.sample == "gluino":
        generator = simplified_model_generator("gluino_direct", 1400, 1000, seed=99)
        what = "gluino-pair (1400, 1000) GeV"
    else:
        generator = PythiaGenerator("ttbar", seed=99)
        what = "ttbar"
    events = generator.generate(args.events)
    inputs = classify(events).mask("jet_input")
    arr = events.to_awkward()
    sel = ak.unflatten(inputs, np.diff(events.particle_offsets))
    parts = ak.zip({"px": arr.px[sel], "py": arr.py[sel], "pz": arr.pz[sel], "E": arr.e[sel]})
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
    detector = recast_ml.Detector("atlas_run2")

    def fastjet_only() -> object:
        return fastjet.ClusterSequence(parts, jetdef).inclusive_jets(min_pt=10.0)

    rows = [
        ("python fastjet: clustering only (baseline)", best(fastjet_only, args.repeat)),
        ("recast: jet clustering only (C++)", best(lambda: cluster(events, inputs=inputs, pt_min=10.0), args.repeat)),
        ("recast: full detector emulation, 1 thread", best(lambda: detector.reconstruct(events), args.repeat)),
        (
            "recast: full detector emulation, 2 threads",
            best(lambda: detector.reconstruct(events, threads=2), args.repeat),
        ),
    ]
    base = rows[0][1]
    n_particles = events.n_particles / len(events)
    table = markdown_table(
        ["what", "events/s", "time / FastJet-only time"],
        ([name, f"{len(events) / t:,.0f}", f"{t / base:.2f}"] for name, t in rows),
        align="lrr",
    )
    publish(
        table,
        args.output,
        "Detector-emulation throughput",
        f"`python benchmarks/bench_reconstruct.py --sample {args.sample} --events {args.events} "
        f"--repeat {args.repeat}`: {len(events)} Pythia 8 {what} events at 13 TeV (MPI, hadronisation), "
        f"{n_particles:.0f} particles/event; best of {args.repeat}; 2-core machine.",
        summary=f"{len(events)} {what} events, {n_particles:.0f} particles/event, best of {args.repeat}",
    )


if __name__ == "__main__":
    main()
