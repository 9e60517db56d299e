"""Bounded fuzz run (issue 13, item 13): every saved corpus input (the reproducers of past findings,
tests/fuzz/corpus/), the valid seeds, the truncation sweep of each event seed at every line
boundary (plus a seeded sample of cuts inside lines and of gzip cuts) and a small seeded random
batch per parser, each case in a forked process (tests/fuzz/harness.py).

For every parser: no crash, no hang, no untyped exception (nor a typed one with an empty message),
no silent acceptance of known-invalid input, no valid seed rejected. About a minute on 2 cores;
the long campaign is ``scripts/fuzz.sh``.
"""

from __future__ import annotations

import os
import random

import pytest

from fuzz import harness
from fuzz.cases import PARSERS, random_case, seed_cases, truncations

#: seeded random cases per parser (slha: each case initialises Pythia, ~1 s)
RANDOM_PER_PARSER = 10
RANDOM_SEED = 20260113
SLOW = {"slha": 1}


def bounded_cases() -> list[harness.Case]:
    cases = [*seed_cases(), *harness.load_corpus()]
    rng = random.Random(RANDOM_SEED)
    for parser in ("hepmc3", "hepmc2", "lhe"):
        at_lines = list(truncations(parser, inside_lines=False, compressed=False))
        rest = [c for c in truncations(parser) if c.digest not in {a.digest for a in at_lines}]
        cases += at_lines + rng.sample(rest, min(12, len(rest)))
    for parser in PARSERS:
        cases += [random_case(parser, RANDOM_SEED, i) for i in range(SLOW.get(parser, RANDOM_PER_PARSER))]
    return cases


@pytest.fixture(scope="module")
def fuzz_results() -> dict[str, list[harness.Result]]:
    jobs = max(1, min(2, os.cpu_count() or 1))
    by_parser: dict[str, list[harness.Result]] = {p: [] for p in PARSERS}
    for r in harness.run_cases(bounded_cases(), jobs=jobs, timeout=20.0):
        by_parser[r.case.parser].append(r)
    return by_parser


@pytest.mark.parametrize("parser", PARSERS)
def test_no_crash_hang_untyped_error_or_silent_acceptance(fuzz_results, parser):
    results = fuzz_results[parser]
    assert results, f"no fuzz cases ran for {parser}"
    bad = [harness.describe(r) for r in results if not harness.outcome_is_acceptable(r)]
    assert not bad, f"{len(bad)} of {len(results)} {parser} cases failed:\n" + "\n".join(b[:400] for b in bad)


def test_the_corpus_covers_every_parser_and_the_issue_13_defects():
    corpus = harness.load_corpus()
    assert {c.parser for c in corpus} == set(PARSERS)
    notes = " | ".join(c.note for c in corpus)
    for defect in ("cut at an event boundary", "no footer", "header only", "damaged <event> tag",
                   "duplicated particle line", "extra token", "1e9", "NaN px", "non-UTF-8", "efficiency 7.5",
                   "eff_b = inf", "sigma_max = nan", "default_wp naming no WP", "boolean given as int",
                   "pt_resolution = inf", "20,000 nested parentheses", "5,000 nested calls", "15,000 unary minus",
                   "13,000-term sum", "NaN cut", 'cType="x"', "negative IVar", "res=nan", "res=1e400",
                   "duplicate VarIndex", "null weight", "1e400 weight", "layer_index -1", "empty file",
                   "random bytes", "an SLHA file", "no MASS block", "duplicate key"):  # fmt: skip
        assert defect in notes, defect
