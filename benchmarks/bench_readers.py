"""Event-file reading throughput: recast's C++ reader vs pyhepmc and the HepMC3 library.

All readers read the same files, side by side in one run; the table gives events/s and the ratio
to recast. Sample: Pythia 8 ttbar at 13 TeV with MPI and hadronisation (~250 kB per event in
HepMC3 ASCII), written by pyhepmc; ``--file`` adds files of your own (e.g. a recast-written sample;
``.gz`` files are also read decompressed).

recast is timed with its reader on one thread and with ``threads=2`` (the calling thread splits
the file at event boundaries, two workers parse). The ceiling row is what no parser of the file can
beat on one thread: reading the bytes (gzip: decompressing them, which stays on one thread) and
finding the line ends (``bytes.count(b"\\n")``, a memchr-speed scan).

    .venv/bin/python benchmarks/bench_readers.py [--events 200] [--repeat 3] [--file F] [--output results/readers.md]
"""

from __future__ import annotations

import argparse
import gzip
import os
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


def read_recast_2(path: Path) -> int:
    return sum(len(b) for b in recast_ml.iter_events(path, batch_size=100, threads=2))


def line_scan(path: Path) -> int:
    """The ceiling: the file's bytes in memory (decompressed) and its lines found; -2: no events."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    data.count(b"\n")
    return -2


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
    "recast, threads=2": read_recast_2,
    "pyhepmc (HepMC3 library)": read_pyhepmc,
    "pyhepmc + numpy view": read_pyhepmc_numpy,
    "HepMC3 library (pyHepMC3)": read_hepmc3_library,
    "ceiling: read + line scan": line_scan,
}
LIBRARY = "HepMC3 library (pyHepMC3)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", type=Path, action="append", default=[], help="also time this HepMC file")
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
        n_events = dict.fromkeys(files, args.events)
        for extra in args.file:
            label = extra.name
            files[label] = extra
            if extra.suffix == ".gz":
                plain = d / extra.stem
                with gzip.open(extra, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                files[plain.name + " (decompressed)"] = plain
        for label, path in files.items():
            if label not in n_events:
                n_events[label] = read_recast(path)

        rows = []
        summary = []
        for label, path in files.items():
            size_mb = path.stat().st_size / 1e6
            n_expected = n_events[label]
            times: dict[str, float] = {}
            for name, fn in READERS.items():
                n = fn(path)  # also warms the page cache for the timed calls
                if n == -1:
                    continue
                if n not in (n_expected, -2):
                    raise SystemExit(f"{name} read {n} events from {path}, expected {n_expected}")
                times[name] = best(lambda fn=fn, path=path: fn(path), args.repeat)
            ref_time = times["recast (C++ line parser)"]
            for name, t in times.items():
                eps = f"{n_expected / t:,.0f}" if name != "ceiling: read + line scan" else "-"
                lib = f"{times[LIBRARY] / t:.1f}" if LIBRARY in times else "-"
                rows.append((label, name, eps, f"{size_mb / t:,.1f}", f"{t / ref_time:.2f}", lib))
            kb = path.stat().st_size / n_expected / 1e3
            print(f"{label}: {n_expected} events, {kb:.0f} kB/event on disk", file=sys.stderr)
            ceiling = times["ceiling: read + line scan"]
            if LIBRARY in times:
                summary.append(
                    (
                        label,
                        f"{times[LIBRARY] / times['recast (C++ line parser)']:.1f}",
                        f"{times[LIBRARY] / times['recast, threads=2']:.1f}",
                        f"{times[LIBRARY] / ceiling:.1f}",
                    )
                )

    table = markdown_table(
        ["file", "reader", "events/s", "MB/s (on disk)", "time / recast time", "speed / HepMC3 library"],
        rows,
        align="llrrrr",
    )
    short = markdown_table(
        ["file", "recast 1 thread", "recast 2 threads", "ceiling (read + line scan)"],
        summary,
        align="lrrr",
    )
    load = os.getloadavg()[0]
    publish(
        table + "\n\nSpeed relative to the HepMC3 library (plain files):\n\n" + short,
        args.output,
        "Event-file reading throughput",
        f"`python benchmarks/bench_readers.py --events {args.events} --repeat {args.repeat}"
        + "".join(f" --file {f.name}" for f in args.file)
        + f"` (recast_ml {recast_ml.__version__}, pyhepmc {pyhepmc.__version__}); best of {args.repeat}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at the end; Pythia 8 ttbar 13 TeV with MPI and "
        "hadronisation.",
    )


if __name__ == "__main__":
    main()
