"""Bit-identity check for refactors: every cutflow, yield, per-event variable (model scores
included) and region decision of the given analyses on an event file, saved to .npz and compared
exactly with an earlier snapshot.

    python scripts/snapshot.py --events sample.hepmc3.gz -a ATLAS-SUSY-2018-22 -a ATLAS-SUSY-2019-04 -o new.npz
    python scripts/snapshot.py --compare old.npz new.npz      # exit 1 on any difference

Comparison is exact (NaN equals NaN at the same place); it prints every array that differs with
the number of differing entries and the largest difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def take(events: list[str], analyses: list[str], chunk: int, threads: int) -> dict[str, np.ndarray]:
    from recast_ml.analysis import Analysis, run_files

    anas = [Analysis.load(a) for a in analyses]
    results = run_files(anas, events, chunk_size=chunk, threads=threads)
    out: dict[str, np.ndarray] = {}
    for ana, res in zip(anas, results, strict=True):
        p = ana.id
        for name, cf in res.cutflows.items():
            out[f"{p}/cutflow/{name}/names"] = np.array(cf.names, dtype=str)
            out[f"{p}/cutflow/{name}/n"] = np.asarray(cf.n)
            out[f"{p}/cutflow/{name}/sumw"] = np.asarray(cf.sumw)
            out[f"{p}/cutflow/{name}/sumw2"] = np.asarray(cf.sumw2)
        for name, b in res.bins.items():
            out[f"{p}/bins/{name}/edges"] = np.asarray(b.edges)
            out[f"{p}/bins/{name}/n"] = np.asarray(b.n)
            out[f"{p}/bins/{name}/sumw"] = np.asarray(b.sumw)
            out[f"{p}/bins/{name}/sumw2"] = np.asarray(b.sumw2)
        out[f"{p}/variable_names"] = np.array(res.variable_names, dtype=str)
        out[f"{p}/variables"] = np.asarray(res.variables)
        out[f"{p}/passed"] = np.asarray(res.passed)
    return out


def compare(old: Path, new: Path) -> int:
    a = dict(np.load(old))
    b = dict(np.load(new))
    bad = 0
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            print(f"only in {'new' if key not in a else 'old'}: {key}")
            bad += 1
            continue
        x, y = a[key], b[key]
        if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
            print(f"{key}: shape/type {x.shape} {x.dtype} -> {y.shape} {y.dtype}")
            bad += 1
            continue
        same = ((x == y) | (np.isnan(x) & np.isnan(y))) if x.dtype.kind == "f" else (x == y)
        if not np.all(same):
            n = int(np.size(same) - np.count_nonzero(same))
            msg = f"{key}: {n} of {x.size} entries differ"
            if x.dtype.kind == "f":
                d = np.abs(np.where(same, 0.0, np.nan_to_num(x - y, nan=np.inf)))
                msg += f", largest difference {d.max():.3g}"
            print(msg)
            bad += 1
    print(f"{len(set(a) | set(b))} arrays compared, {bad} differ")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", nargs="+")
    ap.add_argument("-a", "--analysis", action="append", default=[])
    ap.add_argument("-o", "--output", type=Path)
    ap.add_argument("--chunk", type=int, default=500, help="events per chunk (several chunks exercise merging)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not (args.events and args.analysis and args.output):
        ap.error("--events, --analysis and --output are needed (or --compare OLD NEW)")
    np.savez_compressed(args.output, **take(args.events, args.analysis, args.chunk, args.threads))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
