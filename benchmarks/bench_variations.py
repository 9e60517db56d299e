"""What `--variations` costs against a nominal run, side by side in one run (issue 18).

The same sample (Pythia 8 gluino pairs, m(g~) = 1400 GeV, m(chi1) = 1000 GeV, ATLAS-SUSY-2018-22 with
its 16 BDTs; same seed, same number of events), generated and analysed in one process with
`run_batches`, interleaved `--repeat` times (best of):

  * nominal: no variations
  * isr,fsr: the nominal sample with Pythia's in-run shower-variation weights (4 members; Pythia's
    UncertaintyBands on) and the results reweighted per member (`AnalysisResult.reweighted`)
  * isr,fsr,isr_damped: plus one more sample with `SpaceShower:pTdampFudge = 0.25`
  * the reweighting alone: 4 members x the analysis' regions, on the nominal result

Generation, detector + analysis and reweighting are timed separately. Statistics (CLs with the
profiled signal uncertainty) are timed per SR for all SRs of the analysis.

    .venv/bin/python benchmarks/bench_variations.py [--events 1000] [--repeat 2] [--output results/variations.md]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from _timing import markdown_table, publish
from recast_ml import variations
from recast_ml.analysis import Analysis, run_batches
from recast_ml.pythia import simplified_model_generator
from recast_ml.statistics import cls_many, read_signal_regions

ANALYSIS = "ATLAS-SUSY-2018-22"


class Timed:
    """Wraps a generator's batches, timing the generation apart from the consumer and keeping the
    variation weights the batches carry."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches = batches
        self.seconds = 0.0
        self.weights: dict[str, list[np.ndarray]] = {}

    def __iter__(self) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            b = next(self.batches, None)
            self.seconds += time.perf_counter() - t0
            if b is None:
                return
            for m, w in b.variation_weights.items():
                self.weights.setdefault(m, []).append(w)
            yield b


def one_run(ana: Analysis, n: int, names: str | None) -> dict[str, float]:
    """Seconds of generation (Pythia init + events), detector + analysis, reweighting (what
    run_batches does per weight member after combining) and the extra samples."""
    vset = variations.resolve(names)
    t0 = time.perf_counter()
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=11, weight_variations=vset.weight_members)
    batches = Timed(gen.batches(n))
    init = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = run_batches([ana], batches, cross_section=0.0284)[0]
    engine = time.perf_counter() - t1 - batches.seconds
    t2 = time.perf_counter()
    for w in batches.weights.values():
        res.variations["x"] = res.reweighted(np.concatenate(w))
    reweight = time.perf_counter() - t2
    t3 = time.perf_counter()
    for lines in vset.sample_members.values():  # one more sample each, same seed
        g2 = simplified_model_generator("gluino_direct", 1400, 1000, seed=11, settings=lines)
        run_batches([ana], g2.batches(n), cross_section=0.0284)
    extra = time.perf_counter() - t3
    generate = init + batches.seconds
    return {
        "generate": generate,
        "engine": engine,
        "reweight": reweight,
        "extra": extra,
        "total": generate + engine + reweight + extra,
        "regions": float(len(res.cutflows)),
    }


def stats_cost(n_repeat: int = 200) -> tuple[float, float, int]:
    """Seconds per call of CLs for all published SRs of the analysis: plain, and with the profiled
    signal uncertainty (the 2 calls --variations adds per point are the syst one and one per member)."""
    ana = Analysis.load(ANALYSIS)
    pub = list(read_signal_regions(ana.definition.directory / "signal_regions.csv").values())
    n = np.array([p.n_obs for p in pub])
    b = np.array([p.b for p in pub])
    e = np.array([p.b_err for p in pub])
    s = np.array([max(p.s95_exp or 5.0, 1.0) for p in pub])
    up = np.full(len(pub), 0.2)
    down = np.full(len(pub), 0.15)
    t0 = time.perf_counter()
    for _ in range(n_repeat):
        cls_many(n, b, e, s)
    plain = (time.perf_counter() - t0) / n_repeat
    t1 = time.perf_counter()
    for _ in range(n_repeat):
        cls_many(n, b, e, s, signal_up=up, signal_down=down)
    syst = (time.perf_counter() - t1) / n_repeat
    return plain, syst, len(pub)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    ana = Analysis.load(ANALYSIS)
    setups = {"nominal": None, "isr,fsr (weights)": "isr,fsr", "isr,fsr,isr_damped": "isr,fsr,isr_damped"}
    best: dict[str, dict[str, float]] = {}
    load = []
    for _ in range(args.repeat):  # interleaved: a change of load hits every set-up alike
        for label, names in setups.items():
            load.append(os.getloadavg()[0])
            got = one_run(ana, args.events, names)
            if label not in best or got["total"] < best[label]["total"]:
                best[label] = got
    nominal = best["nominal"]["total"]
    rows = []
    for label, t in best.items():
        rows.append(
            [
                label,
                f"{t['generate']:.1f}",
                f"{t['engine']:.1f}",
                f"{1000 * t['reweight']:.1f}",
                f"{t['extra']:.1f}",
                f"{t['total']:.1f}",
                f"{t['total'] / nominal:.2f}x",
            ]
        )
    plain, syst, n_sr = stats_cost()
    table = markdown_table(
        ["set-up", "generation [s]", "detector + analysis [s]", "reweighting [ms]", "extra samples [s]", "total [s]",
         "cost vs nominal"],
        rows,
        "lrrrrrr",
    )  # fmt: skip
    table += (
        f"\n\nStatistics, all {n_sr} SRs of {ANALYSIS} in one vectorised call: CLs {1e6 * plain / n_sr:.2f} µs per SR, "
        f"CLs with the profiled signal uncertainty {1e6 * syst / n_sr:.2f} µs per SR ({syst / plain:.1f}x)."
    )
    description = (
        f"`benchmarks/bench_variations.py --events {args.events} --repeat {args.repeat}`: "
        f"{args.events} Pythia 8 gluino pairs (1400/1000 GeV, seed 11) through {ANALYSIS} (16 BDTs, "
        f"{int(best['nominal']['regions'])} regions) per set-up, best of {args.repeat} interleaved runs, one thread; "
        f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores during the runs."
    )
    publish(table, args.output, "Cost of --variations (issue 18)", description)


if __name__ == "__main__":
    main()
