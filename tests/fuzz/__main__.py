"""The long fuzz run (``scripts/fuzz.sh``): ``python -m fuzz [SECONDS | Nc] [options]`` from tests/.

Runs, in this order: the valid seeds, the saved corpus, the reproducers of issue 13, the
truncation sweep of every event seed, then seeded random cases round-robin over the parsers
until SECONDS have passed (default 300) or N cases per parser were run (``2000c``). Prints a
markdown table per parser, writes it with the command line, date and machine load to
validation/robustness/fuzz_table.md, and saves each new finding (one input per distinct
signature, minimised) to tests/fuzz/corpus/<parser>/.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import harness
from .cases import COST, PARSERS, Case, known_cases, random_case, seed_cases, truncations

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "validation" / "robustness" / "fuzz_table.md"


def fixed_cases(parsers: list[str], corpus: Path) -> Iterator[Case]:
    corpus_cases = harness.load_corpus(corpus)
    in_corpus = {c.digest for c in corpus_cases}
    known = [c for c in known_cases() if c.digest not in in_corpus]
    for source in (seed_cases(), corpus_cases, known):
        yield from (c for c in source if c.parser in parsers)
    for parser in ("hepmc3", "hepmc2", "lhe"):
        if parser in parsers:
            yield from truncations(parser)


def random_cases(parsers: list[str], seed: int, per_parser: int | None) -> Iterator[Case]:
    for i in itertools.count():
        if per_parser is not None and i >= per_parser * max(COST.values(), default=1):
            return
        for parser in parsers:
            step = int(COST.get(parser, 1))
            if i % step == 0 and (per_parser is None or i // step < per_parser):
                yield random_case(parser, seed, i // step)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/fuzz.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "budget", nargs="?", default="300", help="seconds of random cases (default 300) or Nc: N per parser"
    )
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    ap.add_argument("--parsers", default=",".join(PARSERS), help="comma-separated subset")
    ap.add_argument(
        "--hypothesis",
        type=int,
        default=0,
        metavar="N",
        help="also N property-based (hypothesis) examples per parser (tests/fuzz/properties.py)",
    )
    ap.add_argument("--corpus", type=Path, default=harness.CORPUS)
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--no-save", action="store_true", help="do not add findings to the corpus")
    ap.add_argument("--max-saves", type=int, default=4, help="new corpus entries per parser and run")
    ap.add_argument(
        "--seed-corpus",
        action="store_true",
        help="only (re)write the issue-13 reproducers into the corpus, with the outcome seen now",
    )
    args = ap.parse_args(argv)
    parsers = [p for p in args.parsers.split(",") if p]
    unknown = set(parsers) - set(PARSERS)
    if unknown:
        ap.error(f"unknown parsers {sorted(unknown)}; known: {', '.join(PARSERS)}")
    per_parser = int(args.budget[:-1]) if args.budget.endswith("c") else None
    seconds = None if per_parser is not None else float(args.budget.rstrip("s"))

    if args.seed_corpus:
        for r in harness.run_cases(list(known_cases()), jobs=args.jobs, timeout=args.timeout):
            print(harness.save(r.case, r, args.corpus).relative_to(REPO), r.outcome, file=sys.stderr)
        return 0

    # the commit the run starts from (the installed build is assumed to be made from it)
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (dirty)"
    start = time.time()
    results: list[harness.Result] = []
    fixed = list(fixed_cases(parsers, args.corpus))
    print(f"fuzz: {len(fixed)} fixed cases (seeds, corpus, issue-13 reproducers, truncation sweeps)", file=sys.stderr)
    for r in harness.run_cases(fixed, jobs=args.jobs, timeout=args.timeout):
        results.append(r)
    n_fixed = len(results)
    deadline = None if seconds is None else start + seconds
    for k, r in enumerate(harness.run_cases(random_cases(parsers, args.seed, per_parser), jobs=args.jobs,
                                            timeout=args.timeout, deadline=deadline)):  # fmt: skip
        results.append(r)
        if k % 500 == 499:
            print(f"fuzz: {k + 1} random cases, {time.time() - start:.0f} s", file=sys.stderr)
    n_hypothesis = 0
    if args.hypothesis:
        from . import properties

        hyp = properties.campaign(parsers, args.hypothesis, timeout=args.timeout)
        results += hyp
        n_hypothesis = len(hyp)
    elapsed = time.time() - start

    # findings: one corpus entry per new signature (known corpus signatures are not saved again)
    saved: list[str] = []
    seen = {r.signature for r in results[:n_fixed] if r.case.origin.startswith("corpus:")}
    per_parser_saves: dict[str, int] = {}
    min_deadline = time.time() + 120
    for r in results:
        if r.outcome not in harness.FINDINGS or r.signature in seen or r.case.origin.startswith("corpus:"):
            continue
        seen.add(r.signature)
        if args.no_save or per_parser_saves.get(r.case.parser, 0) >= args.max_saves:
            continue
        per_parser_saves[r.case.parser] = per_parser_saves.get(r.case.parser, 0) + 1
        case = harness.minimise(r, timeout=args.timeout) if time.time() < min_deadline else r.case
        saved.append(str(harness.save(case, r, args.corpus).relative_to(REPO)))

    table = harness.table(results, parsers)
    print(table)
    findings: dict[str, harness.Result] = {}
    for r in results:
        if r.outcome in harness.FINDINGS:
            findings.setdefault(r.signature, r)
    command = "scripts/fuzz.sh " + shlex.join(argv if argv is not None else sys.argv[1:])
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Fuzz campaign: outcome per parser",
        "",
        f"- command: `{command}` (seed {args.seed}, {args.jobs} jobs, hang timeout {args.timeout:g} s)",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')} (end); started at commit {commit}",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs (nproc), load: `{load}`",
        f"- cases: {len(results)} in {elapsed:.0f} s: {n_fixed} fixed (seeds, corpus, issue-13 reproducers, "
        f"truncation sweeps at every line boundary and inside every line, plain and gz) + "
        f"{len(results) - n_fixed - n_hypothesis} seeded random mutations + {n_hypothesis} property-based "
        "(hypothesis) structured inputs",
        "- outcomes: typed = recast_ml.RecastError/InputError/ConfigError/ModelError/FileNotFoundError with a "
        "message; untyped = any other exception or an empty message; crash = killed by a signal; hang = no "
        f"result in {args.timeout:g} s; silently accepted = known-invalid input (cut file, out-of-range card "
        "value ...) accepted, or an accepted input giving NaN momenta / NaN model outputs / a spectrum Pythia "
        "did not use; valid rejected = a valid seed refused",
        "",
        table,
        f"## Distinct findings ({len(findings)})",
        "",
    ]
    for sig, r in sorted(findings.items()):
        lines.append(f"- `{sig}` e.g. {harness.describe(r)[:300]}")
    if saved:
        lines += ["", f"New corpus entries: {len(saved)}", *[f"- {p}" for p in saved]]
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text("\n".join(lines) + "\n")
    print(f"fuzz: table written to {args.table}; {len(saved)} new corpus entries", file=sys.stderr)
    bad = sum(1 for r in results if r.outcome in harness.FINDINGS)
    return 1 if bad else 0


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
