"""Detector-emulation throughput and its cost per stage vs FastJet-only clustering of the same particles.

Side by side in one run on the same Pythia 8 events (13 TeV, MPI and hadronisation on; default:
gluino pairs m(g~) = 1400 GeV, m(chi1) = 1000 GeV, g~ -> q q chi1, from recast_ml.slha; or tt~):
  * python `fastjet` (multi-event interface) clustering the jet inputs (anti-kt R = 0.4) - baseline
  * recast jet clustering alone (C++ core, same inputs)
  * recast Detector("atlas_run2").reconstruct without large-R jets (1 and 2 threads) and with them
  * the time per stage of the emulation (µs/event, one thread, large-R jets on, smallest over the
    repeats), from the core's `profile` option

With `--baseline DIR` (a directory holding another build of the `recast_ml` package, e.g. a copy of
site-packages/recast_ml taken before a change) the same measurements run for both builds, each in its
own process, alternating repeat by repeat on the same events, and the tables show before and after
side by side; every rate is also given relative to the python-fastjet rate measured in the same
process, by wall time and by process CPU time (less disturbed by other jobs on a loaded machine; for
two threads it sums both). The machine load (1-minute load average) is printed before and after.

    .venv/bin/python benchmarks/bench_reconstruct.py [--sample gluino|ttbar] [--events 500] [--repeat 3]
        [--baseline DIR] [--output results/reconstruct.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _timing import markdown_table, publish

COLUMNS = ("particle_offsets", "px", "py", "pz", "e", "mass", "pid", "status", "parent_offsets", "parents")
ROWS = (
    ("fastjet", "python fastjet: clustering only (baseline)"),
    ("cluster", "recast: jet clustering only (C++)"),
    ("det1", "recast: detector emulation, 1 thread"),
    ("det2", "recast: detector emulation, 2 threads"),
    ("det1_large_r", "recast: detector emulation + large-R jets, 1 thread"),
)


def worker(events_path: str) -> None:
    """One repeat of every measurement on the saved events; prints JSON {row: seconds, "stages": ...}."""
    import awkward as ak
    import fastjet

    from recast_ml import EventBatch, _core
    from recast_ml.cards import DetectorCard
    from recast_ml.jets import cluster
    from recast_ml.truth import classify

    with np.load(events_path) as f:
        c = {k: f[k] for k in f.files}
    events = EventBatch.from_arrays(
        c["particle_offsets"],
        c["px"],
        c["py"],
        c["pz"],
        c["e"],
        c["pid"],
        c["status"],
        mass=c["mass"],
        parent_offsets=c["parent_offsets"],
        parents=c["parents"],
    )
    inputs = classify(events).mask("jet_input")
    arr = events.to_awkward()
    sel = ak.unflatten(inputs, np.diff(events.particle_offsets))
    parts = ak.zip({"px": arr.px[sel], "py": arr.py[sel], "pz": arr.pz[sel], "E": arr.e[sel]})
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
    det = _core.Detector(DetectorCard.load("atlas_run2")._card)

    def reco(threads: int, large_r: bool) -> None:
        try:
            det.reconstruct(events._batch, 0, threads, large_r)
        except TypeError:  # a build before the large_r argument: large-R jets always on
            det.reconstruct(events._batch, 0, threads)

    out: dict[str, Any] = {}

    def timed(key: str, fn: Any) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out[key], out[key + "_cpu"] = time.perf_counter() - t0, time.process_time() - c0

    timed("fastjet", lambda: fastjet.ClusterSequence(parts, jetdef).inclusive_jets(min_pt=10.0))
    timed("cluster", lambda: cluster(events, inputs=inputs, pt_min=10.0))
    timed("det1", lambda: reco(1, False))
    timed("det2", lambda: reco(2, False))
    timed("det1_large_r", lambda: reco(1, True))
    try:  # per-stage minimum of three profiled runs
        runs = [det.reconstruct(events._batch, 0, 1, True, True)["profile"] for _ in range(3)]
        out["stages"] = {s: min(r[s] for r in runs) for s in runs[0]}
    except TypeError:  # a build without the profile option
        out["stages"] = None
    print(json.dumps(out))


def run_worker(package_dir: str | None, events_path: str) -> dict[str, Any]:
    env = dict(os.environ)
    if package_dir:
        env["PYTHONPATH"] = os.pathsep.join([package_dir, env.get("PYTHONPATH", "")])
    here = Path(__file__).resolve().parent
    cmd = [sys.executable, str(here / "bench_reconstruct.py"), "--worker", events_path]
    res = subprocess.run(cmd, env=env, cwd=here, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path)
    ap.add_argument("--sample", choices=("gluino", "ttbar"), default="gluino")
    ap.add_argument("--baseline", help="directory holding an older build of the recast_ml package")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from recast_ml.pythia import PythiaGenerator, simplified_model_generator

    if args.sample == "gluino":
        generator = simplified_model_generator("gluino_direct", 1400, 1000, seed=99)
        what = "gluino-pair (1400, 1000) GeV"
    else:
        generator = PythiaGenerator("ttbar", seed=99)
        what = "ttbar"
    events = generator.generate(args.events)
    n = len(events)
    n_particles = events.n_particles / n
    builds = {"after": None} if not args.baseline else {"before": args.baseline, "after": None}
    results: dict[str, list[dict[str, Any]]] = {b: [] for b in builds}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "events.npz")
        np.savez(path, **{c: getattr(events, c) for c in COLUMNS})
        for _ in range(args.repeat):  # interleaved: before, after, before, after, ...
            for build, pkg in builds.items():
                results[build].append(run_worker(pkg, path))
    load_after = os.getloadavg()[0]

    def best(build: str, row: str) -> float:
        return min(r[row] for r in results[build])

    header = ["what"]
    for build in builds:
        header += [f"events/s ({build})", f"rate / python-fastjet ({build})", f"CPU-time ratio ({build})"]
    rows = []
    for key, name in ROWS:
        cells = [name]
        for build in builds:
            t, base = best(build, key), best(build, "fastjet")
            cpu, cpu_base = best(build, key + "_cpu"), best(build, "fastjet_cpu")
            cells += [f"{n / t:,.0f}", f"{base / t:.2f}", f"{cpu_base / cpu:.2f}"]
        rows.append(cells)
    table = markdown_table(header, rows, align="l" + "r" * (len(header) - 1))

    # per-stage cost: the smallest time of each stage over the repeats (the least disturbed by load)
    stage_runs = {}
    for build in builds:
        runs = [r["stages"] for r in results[build] if r["stages"]]
        if runs:
            stage_runs[build] = {s: min(r[s] for r in runs) for s in runs[0]}
    if stage_runs:
        names = list(next(iter(stage_runs.values())))
        s_header = ["stage (µs/event, 1 thread, large-R on)"] + [f"{b}" for b in stage_runs]
        s_rows = [[s] + [f"{stage_runs[b].get(s, 0.0) * 1e6 / n:,.1f}" for b in stage_runs] for s in names]
        s_rows.append(["total"] + [f"{sum(stage_runs[b].values()) * 1e6 / n:,.1f}" for b in stage_runs])
        table += "\n\n" + markdown_table(s_header, s_rows, align="l" + "r" * len(stage_runs))
    publish(
        table,
        args.output,
        "Detector-emulation throughput",
        f"`python benchmarks/bench_reconstruct.py --sample {args.sample} --events {args.events} "
        f"--repeat {args.repeat}{' --baseline DIR' if args.baseline else ''}`: {n} Pythia 8 {what} events at "
        f"13 TeV (MPI, hadronisation), {n_particles:.0f} particles/event; best of {args.repeat}, builds "
        f"alternating repeat by repeat, each in its own process; 2-core machine, load average "
        f"{load_before:.1f} before / {load_after:.1f} after.",
        summary=f"{n} {what} events, {n_particles:.0f} particles/event, best of {args.repeat}, "
        f"load {load_before:.1f} -> {load_after:.1f}",
    )


if __name__ == "__main__":
    main()
