"""Event-file reading throughput: recast's C++ reader vs pyhepmc and the HepMC3 library.

All readers read the same files, side by side in one run; the table gives events/s and the ratio
to recast. Sample: Pythia 8 ttbar at 13 TeV with MPI and hadronisation (~250 kB per event in
HepMC3 ASCII), written by pyhepmc.

    .venv/bin/python benchmarks/bench_readers.py [--events 200] [--repeat 3] [--output results/readers.md]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import pyhepmc  # noqa: E402

import recast_ml  # noqa: E402
from _timing import best, markdown_table, publish  # noqa: E402
from hepmc_samples import pythia_records, to_genevents  # noqa: E402


def read_recast(path: Path) -> int:
    return sum(len(b) for b in recast_ml.iter_events(path, batch_size=100))


def read_pyhepmc(path: Path) -> int:
    n = 0
    with pyhepmc.open(path) as f:
        for _ in f:
            n += 1
    return n


def read_pyhepmc_numpy(path: Path) -> int:
    # what a columnar user of pyhepmc does: read, then take the numpy view of the particles
    n = 0
    with pyhepmc.open(path) as f:
        for ev in f:
            p = ev.numpy.particles
            _ = (p.px, p.py, p.pz, p.e, p.pid, p.status)
            n += 1
    return n


def read_hepmc3_library(path: Path) -> int:
    import ctypes

    # the `hepmc3` wheel: bindings of the HepMC3 library itself; its libHepMC3.so.4 lies in
    # <prefix>/lib, which the bindings' build-time rpath does not name
    ctypes.CDLL(str(Path(sys.prefix) / "lib" / "libHepMC3.so.4"), mode=ctypes.RTLD_GLOBAL)
    from pyHepMC3 import HepMC3

    if path.suffix == ".gz":
        return -1
    reader = HepMC3.ReaderAscii(str(path)) if "hepmc3" in path.name else HepMC3.ReaderAsciiHepMC2(str(path))
    n = 0
    while True:
        evt = HepMC3.GenEvent()
        reader.read_event(evt)
        if reader.failed():
            break
        n += 1
    reader.close()
    return n


READERS: dict[str, Callable[[Path], int]] = {
    "recast (C++ line parser)": read_recast,
    "pyhepmc (HepMC3 library)": read_pyhepmc,
    "pyhepmc + numpy view": read_pyhepmc_numpy,
    "HepMC3 library (pyHepMC3)": read_hepmc3_library,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _, records = pythia_records(args.events, seed=2024)
        events = to_genevents(records)
        files = {}
        for fmt in ("HepMC3", "HepMC2"):
            path = d / f"ttbar.{fmt.lower()}"
            with pyhepmc.open(path, "w", format=fmt) as f:
                for g in events:
                    f.write(g)
            files[fmt] = path
            gz = d / f"ttbar.{fmt.lower()}.gz"
            with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
            files[fmt + ".gz"] = gz

        rows = []
        for label, path in files.items():
            size_mb = path.stat().st_size / 1e6
            ref_time = None
            for name, fn in READERS.items():
                n = fn(path)  # also warms the page cache for the timed calls
                if n < 0:
                    continue
                if n != args.events:
                    raise SystemExit(f"{name} read {n} events from {path}, expected {args.events}")
                t = best(lambda fn=fn, path=path: fn(path), args.repeat)
                if ref_time is None:
                    ref_time = t
                rows.append((label, name, n / t, size_mb / t, t / ref_time))
            kb = path.stat().st_size / args.events / 1e3
            print(f"{label}: {args.events} events, {kb:.0f} kB/event on disk", file=sys.stderr)

    table = markdown_table(
        ["file", "reader", "events/s", "MB/s (on disk)", "time / recast time"],
        ([f, r, f"{eps:,.0f}", f"{mbs:,.1f}", f"{ratio:.1f}"] for f, r, eps, mbs, ratio in rows),
        align="llrrr",
    )
    publish(
        table,
        args.output,
        "Event-file reading throughput",
        f"`python benchmarks/bench_readers.py --events {args.events} --repeat {args.repeat}` "
        f"(recast_ml {recast_ml.__version__}, pyhepmc {pyhepmc.__version__}); best of {args.repeat}, "
        "one core, Pythia 8 ttbar 13 TeV with MPI and hadronisation.",
    )


if __name__ == "__main__":
    main()
