"""Cost of a model scan (`recast-ml scan`): time per point and its breakdown (generation, engine =
detector + analyses, statistics), the same scan on 1 and 2 local Dask workers side by side, and the
projected wall time of a 10,000-point pMSSM-style scan on a 100-worker cluster.

    python benchmarks/bench_scan.py --points 4 --events 1000 [--analysis all] [-o benchmarks/results/scan.md]

Each configuration runs in a fresh process (`python -m recast_ml scan`, as a user would) into its
own output folder; the per-point times come from the store (`t_generate`, `t_engine`, `t_stats`),
the wall time from the process. The load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(out: Path, workers: int, grid: str, events: int, analyses: list[str]) -> float:
    cmd = [sys.executable, "-m", "recast_ml", "scan", "--model", "gluino_direct", "--grid", grid]
    for a in analyses:
        cmd += ["--analysis", a]
    cmd += ["-n", str(events), "--workers", str(workers), "-o", str(out), "--no-progress"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def breakdown(store: Path) -> dict[str, float]:
    conn = sqlite3.connect(store)
    rows = conn.execute("SELECT t_generate, t_engine, t_stats FROM points WHERE status = 'done'").fetchall()
    conn.close()
    return {
        "points": len(rows),
        "generate": statistics.mean(r[0] for r in rows),
        "engine": statistics.mean(r[1] for r in rows),
        "stats": statistics.mean(r[2] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=4, help="gluino masses (one LSP mass): points of the scan")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--analysis", action="append", default=None)
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args()
    analyses = args.analysis or ["all"]
    masses = ",".join(str(1400 + 100 * k) for k in range(args.points))
    grid = f"m_gluino={masses} m_lsp=800"
    with tempfile.TemporaryDirectory() as tmp:
        wall = {}
        stats = {}
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}"
            wall[workers] = run(out, workers, grid, args.events, analyses)
            stats[workers] = breakdown(out / "scan.sqlite")
    load = os.getloadavg()
    b = stats[1]
    per_point = b["generate"] + b["engine"] + b["stats"]
    # 10,000 pMSSM points on 100 workers: each worker runs 100 points back to back; per point the
    # measured single-worker time (same events per point), plus the cluster start (measured here as
    # the wall time not spent in points, an upper bound for a running cluster)
    overhead = max(wall[1] - b["points"] * per_point, 0.0)
    projected_h = (10_000 / 100 * per_point + overhead) / 3600
    lines = [
        "# Model scans",
        "",
        f"`python benchmarks/bench_scan.py --points {args.points} --events {args.events}`: gluino_direct, "
        f"m_lsp = 800 GeV, m_gluino = {masses} GeV; analyses: {', '.join(analyses)}; {args.events} Pythia 8 "
        f"events per point; each configuration a separate `recast-ml scan` process (Dask LocalCluster). "
        f"Load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} on {os.cpu_count()} cores.",
        "",
        "| per point (1 worker, mean) | seconds | share |",
        "| --- | ---: | ---: |",
    ]
    for k in ("generate", "engine", "stats"):
        lines.append(f"| {k} | {b[k]:.2f} | {b[k] / per_point:.0%} |")
    lines += [
        f"| total | {per_point:.2f} | 100% |",
        "",
        "| scan of the same points | wall time [s] | speed-up |",
        "| --- | ---: | ---: |",
        f"| 1 worker | {wall[1]:.1f} | 1.00 |",
        f"| 2 workers | {wall[2]:.1f} | {wall[1] / wall[2]:.2f} |",
        "",
        f"Projection: 10,000 pMSSM-style points at {args.events} events each on a 100-worker cluster "
        f"(one core each, as here): 100 points per worker x {per_point:.1f} s + {overhead:.0f} s start-up "
        f"= **{projected_h:.1f} h** wall time (generation dominates; all analyses share one detector "
        "pass per point).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
