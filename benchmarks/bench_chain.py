"""The whole chain against the cheapest alternatives, side by side in one run (issue 14 goals).

Events: Pythia 8 gluino pairs (m(g~) = 1400 GeV, m(chi1) = 1000 GeV, g~ -> q q chi1; 13 TeV, MPI and
hadronisation on), written once as plain HepMC3 by recast (or `--file`).

In one process, on the same events (best of `--repeat`, interleaved):
  * python `fastjet` (multi-event interface) clustering the jet inputs (anti-kt R = 0.4) - baseline
  * recast jet clustering alone (C++ core, same inputs)
  * recast detector emulation alone
  * read + detector + ATLAS-SUSY-2018-22 (16 TMVA BDTs), read + detector + ATLAS-SUSY-2019-04 (NN),
    and read + detector + both in one pass (the detector output shared by the two analyses)
End to end (separate processes, wall time including start-up, best of `--repeat`):
  * `recast-ml run --analysis ATLAS-SUSY-2018-22 --events FILE` (detector, 16 BDTs, 59 regions, CLs)
  * `benchmarks/columnar_chain.py FILE`: a Python columnar chain as a scikit-hep user would write it
    (recast's reader, awkward, python fastjet, numpy smearing, onnxruntime on one BDT)

  * python `fastjet` given the same cores as recast (one share of the events per thread; it holds the
    GIL, so threads do not help it in one process)

Goals (issue 14): chain rate in one process, as `recast-ml run` runs it (default threads, one per
core) >= 0.6x python-fastjet clustering's best in one process; two analyses <= 1.1x one;
`recast-ml run` >= 1x the columnar chain's speed. The one-thread chain is shown beside it.

    .venv/bin/python benchmarks/bench_chain.py [--events 2000] [--repeat 3] [--file F] [--output results/chain.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np

import recast_ml
from _timing import markdown_table, publish
from recast_ml.analysis import Analysis, run_files
from recast_ml.io import HepMC3Writer, read_events
from recast_ml.jets import cluster
from recast_ml.truth import classify

HERE = Path(__file__).resolve().parent


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function; the functions are run in turn `repeat` times so that a
    change of machine load affects all of them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", type=Path, help="plain HepMC3 events (default: generate gluino pairs)")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_chain_") as d:
        run(args, Path(d))


def run(args: argparse.Namespace, tmp: Path) -> None:
    if args.file is None:
        from recast_ml.pythia import simplified_model_generator

        path = tmp / "gluino.hepmc3"
        generated = simplified_model_generator("gluino_direct", 1400, 1000, seed=99).generate(args.events)
        with HepMC3Writer(path) as w:
            w.write(generated)
    else:
        path = args.file
    events = read_events(path)
    n = len(events)
    inputs = classify(events).mask("jet_input")
    arr = events.to_awkward()
    sel = ak.unflatten(inputs, np.diff(events.particle_offsets))
    parts = ak.zip({"px": arr.px[sel], "py": arr.py[sel], "pz": arr.pz[sel], "E": arr.e[sel]})
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
    detector = recast_ml.Detector("atlas_run2")
    a22 = Analysis.load("ATLAS-SUSY-2018-22")
    a04 = Analysis.load("ATLAS-SUSY-2019-04")

    def chain(*anas: Analysis, threads: int = 1) -> Callable[[], object]:
        return lambda: run_files(list(anas), [path], chunk_size=500, threads=threads)

    # the baseline given the same cores in one process: python fastjet on one share of the events per
    # thread (it holds the GIL while clustering, so this measures whether threads help it at all)
    cores = os.cpu_count() or 1
    shares = [parts[i * n // cores : (i + 1) * n // cores] for i in range(cores)]

    def fastjet_threads() -> None:
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(lambda p: fastjet.ClusterSequence(p, jetdef).inclusive_jets(min_pt=10.0), shares))

    t = interleaved(
        {
            "fastjet": lambda: fastjet.ClusterSequence(parts, jetdef).inclusive_jets(min_pt=10.0),
            "fastjet_threads": fastjet_threads,
            "recast_cluster": lambda: cluster(events, inputs=inputs, pt_min=10.0),
            "detector": lambda: detector.reconstruct(events),
            "chain22": chain(a22),
            "chain04": chain(a04),
            "chain_both": chain(a22, a04),
            "chain22_threads": chain(a22, threads=cores),
        },
        args.repeat,
    )
    py = sys.executable
    cli = str(Path(py).with_name("recast-ml"))
    env_out = tmp / "run_out"
    run_cmd = [cli, "run", "--analysis", "ATLAS-SUSY-2018-22", "--events", str(path), "-o", str(env_out)]
    t_cli = min(wall([*run_cmd, "--no-progress"]) for _ in range(args.repeat))
    t_col = min(wall([py, str(HERE / "columnar_chain.py"), str(path)]) for _ in range(args.repeat))

    base = min(t["fastjet"], t["fastjet_threads"])  # python fastjet's best in one process
    rows = [
        ("python fastjet: clustering only (baseline)", t["fastjet"], ""),
        (f"python fastjet: clustering only, {cores} threads (one share of the events each)", t["fastjet_threads"], ""),
        ("recast: jet clustering only (C++)", t["recast_cluster"], ""),
        ("recast: detector emulation only", t["detector"], ""),
        (
            "recast: read + detector + SUSY-2018-22 (16 BDTs), one thread",
            t["chain22"],
            f"per core: {'meets' if base / t['chain22'] >= 0.6 else 'below'} 0.6",
        ),
        ("recast: read + detector + SUSY-2019-04 (NN), one thread", t["chain04"], ""),
        ("recast: read + detector + both analyses (one detector pass), one thread", t["chain_both"], ""),
        (
            f"recast: read + detector + SUSY-2018-22, default threads (one per core: `threads={cores}`; "
            "reader workers, detector, analysis)",
            t["chain22_threads"],
            f"goal >= 0.6 (in one process, {cores} cores)",
        ),
    ]
    table = markdown_table(
        ["in one process", "events/s", "rate / python-fastjet's best rate", "goal"],
        ([name, f"{n / s:,.0f}", f"{base / s:.2f}", goal] for name, s, goal in rows),
        align="lrrl",
    )
    both = t["chain_both"] / max(t["chain22"], t["chain04"])
    table2 = markdown_table(
        ["comparison", "ratio", "goal"],
        [
            ["two analyses / the costlier one alone (same pass)", f"{both:.2f}", "<= 1.1"],
            [
                "two analyses / the two run separately (detector twice)",
                f"{t['chain_both'] / (t['chain22'] + t['chain04']):.2f}",
                "",
            ],
            [
                f"`recast-ml run` end to end ({t_cli:.1f} s) vs columnar Python chain ({t_col:.1f} s): speed ratio",
                f"{t_col / t_cli:.2f}",
                ">= 1",
            ],
        ],
        align="lrl",
    )
    load = os.getloadavg()
    publish(
        table + "\n\n" + table2,
        args.output,
        "The whole chain",
        f"`python benchmarks/bench_chain.py --events {args.events} --repeat {args.repeat}`: {n} Pythia 8 "
        f"gluino-pair events (1400, 1000) GeV at 13 TeV (MPI, hadronisation), "
        f"{events.n_particles / n:.0f} particles/event, plain HepMC3 written by recast, read in chunks of 500 "
        "events (`run_files`); 1 thread unless said (default threads, as `recast-ml run` uses: reader "
        "workers, detector and analysis threads, and the next chunk read while the current one runs); the "
        "goal row is the chain in one process as a user runs it, against the baseline's best in one process "
        "(python fastjet holds the GIL: threads do not speed it up, see its threads row); best of "
        f"{args.repeat} interleaved runs; {os.cpu_count()}-core machine, load average "
        f"{load[0]:.1f}/{load[1]:.1f} at the end of the run. 'read + detector + analysis' rates include reading "
        f"the file; the clustering rows do not. End-to-end times are wall times of separate processes "
        f"(start-up, imports, model loading, statistics included).",
        summary=f"{n} events, {events.n_particles / n:.0f} particles/event, load {load[0]:.1f}",
    )


if __name__ == "__main__":
    main()
