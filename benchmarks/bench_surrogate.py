"""Likelihood surrogates for global fits: time per ln L call of an efficiency map (recast::surrogate)
with all ATLAS-SUSY-2018-22 signal regions on a 17 x 17 gluino_direct grid (synthetic smooth
efficiencies: the cost does not depend on the values): from Python (the typed wrapper and the bare
binding), many points in one call (the C++ loop, GIL released), and from C++ without Python
(examples/cpp/surrogate_loglike --bench, built against the installed package).

    .venv/bin/python benchmarks/bench_surrogate.py [--output results/surrogate.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _timing import markdown_table, per_call, publish
from cpp_examples import build_examples
from recast_ml._data import analyses_dir
from recast_ml.effmap import EfficiencyMap, map_document
from recast_ml.statistics import LogLikelihood, read_signal_regions

REPO = Path(__file__).resolve().parents[1]
NOTE = (
    "Each call interpolates the 78 efficiencies in the located triangle (bucket grid: O(1)) and evaluates"
    " one profiled ln L per SR (an lgamma each); `best` chooses the SR on the Asimov data with ln L(0) "
    "precomputed, so best and combined both cost about one ln L per SR; "
    "before that precomputation (stats::best_expected_region called as is) best took 20.0 µs vs 12.5 µs "
    "for combined in the C++ example (load 6.3). The Python layers add the list conversion and string "
    "parsing (binding) and the dict/keyword handling (wrapper)."
)


def synthetic_map(path: Path) -> Path:
    published = read_signal_regions(analyses_dir() / "ATLAS-SUSY-2018-22" / "signal_regions.csv")
    mg, ml = np.meshgrid(np.linspace(1000, 2600, 17), np.linspace(0, 1600, 17), indexing="ij")
    keep = ml < mg - 100
    pts = np.stack([mg[keep], ml[keep]], axis=1)
    rng = np.random.default_rng(3)
    regions = {}
    for name, p in published.items():
        a, b, c = rng.uniform(0.01, 0.3), rng.uniform(800, 2400), rng.uniform(300, 900)
        eff = a * np.exp(-(((pts[:, 0] - b) / 600) ** 2) - ((pts[:, 1] / c) ** 2))
        regions[name] = {
            "n_obs": p.n_obs,
            "b": p.b,
            "b_err": p.b_err,
            "efficiency": eff,
            "efficiency_error": 0.1 * eff,
        }
    doc = map_document(
        analysis="ATLAS-SUSY-2018-22",
        model="gluino_direct",
        parameters=["m_gluino", "m_lsp"],
        points=pts,
        regions=regions,
        luminosity_fb=139.0,
        sqrt_s=13.0,
    )
    path.write_text(json.dumps(doc))
    return path


def example_binary(build: Path) -> Path:
    return build_examples(build, "surrogate_loglike") / "surrogate_loglike"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output", type=Path)
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    n = args.calls
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_map(Path(tmp) / "map.json")
        binary = example_binary(Path(tmp) / "build")
        m = EfficiencyMap(path)
        point, xs = [1650.0, 430.0], 0.01
        native = m.native
        n_sr = len(m.regions)
        t_py_best = per_call(lambda: m.loglike(point, xs, "best"), n)
        t_bind_best = per_call(lambda: native.loglike(point, xs, "best"), n)
        t_bind_comb = per_call(lambda: native.loglike(point, xs, "combined"), n)
        t_eff = per_call(lambda: m.efficiencies(point), n)
        rng = np.random.default_rng(1)
        many = np.stack([rng.uniform(1100, 2500, n), rng.uniform(0, 900, n)], axis=1)
        xs_many = np.full(n, xs)
        t_many = per_call(lambda: native.loglike_many(many, xs_many, "best"), 3) / n
        ll = LogLikelihood(
            list(read_signal_regions(analyses_dir() / "ATLAS-SUSY-2018-22" / "signal_regions.csv").values())
        )
        s = list(m.yields(point, xs).values())
        t_stats = per_call(lambda: ll(s), n)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        out = subprocess.run(
            [binary, "--bench", str(10 * n), path, str(xs), *map(str, point)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        cpp = {w[1]: float(w[3]) * 1e-6 for w in (line.split() for line in out.splitlines()) if w[0] == "bench"}
        load = os.getloadavg()
    ref = cpp["best"]
    rows = [
        ["C++ example (no Python): loglike, best SR", f"{cpp['best'] * 1e6:.2f} µs", "1"],
        [
            "C++ example (no Python): loglike, combined",
            f"{cpp['combined'] * 1e6:.2f} µs",
            f"{cpp['combined'] / ref:.2f}",
        ],
        ["binding `loglike_many` (C++ loop, per point), best", f"{t_many * 1e6:.2f} µs", f"{t_many / ref:.2f}"],
        ["binding `_core.EfficiencyMap.loglike`, best", f"{t_bind_best * 1e6:.2f} µs", f"{t_bind_best / ref:.2f}"],
        ["binding `_core.EfficiencyMap.loglike`, combined", f"{t_bind_comb * 1e6:.2f} µs", f"{t_bind_comb / ref:.2f}"],
        ["`recast_ml.EfficiencyMap.loglike`, best", f"{t_py_best * 1e6:.2f} µs", f"{t_py_best / ref:.2f}"],
        ["`recast_ml.EfficiencyMap.efficiencies` (dict of all SRs)", f"{t_eff * 1e6:.2f} µs", f"{t_eff / ref:.2f}"],
        ["for scale: `statistics.LogLikelihood` on given yields", f"{t_stats * 1e6:.2f} µs", f"{t_stats / ref:.2f}"],
    ]
    table = markdown_table(["what", "time per call", "ratio"], rows, align="lrr")
    publish(
        table,
        args.output,
        "Likelihood surrogates (efficiency maps)",
        f"`python benchmarks/bench_surrogate.py`: an efficiency map of the {n_sr} ATLAS-SUSY-2018-22 SRs on "
        f"{m.n_points} gluino_direct grid points ({native.n_simplices} triangles), ln L at one point inside "
        f"(Delta ln L per SR: Gaussian-profiled background, best expected SR or sum). {n} calls per row "
        f"(C++ example: {10 * n}). Load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
        "(2 cores shared with other jobs: compare the ratios, not the absolute times).\n\n"
        + NOTE
        + f" In this run the C++ call costs {cpp['best'] * 1e6 / n_sr:.3f} µs per SR.",
    )


if __name__ == "__main__":
    main()
