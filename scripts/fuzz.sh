#!/usr/bin/env bash
# The long fuzz campaign (issue 13): every parser fed its seeds, the saved corpus, the issue-13
# reproducers, a truncation sweep of every event file and seeded random mutations, each case in a
# forked process. Prints a table per parser, writes it to validation/robustness/fuzz_table.md and
# saves new findings to tests/fuzz/corpus/. Exit status 1 if any case crashed, hung, raised an
# untyped exception or silently accepted known-invalid input.
#   scripts/fuzz.sh            # 300 s of random cases after the fixed ones
#   scripts/fuzz.sh 600        # 600 s
#   scripts/fuzz.sh 2000c      # 2000 random cases per parser (slha: fewer, see COST in cases.py)
#   scripts/fuzz.sh 60 --parsers lhe,hepmc3 --no-save --seed 7 --jobs 4
#   scripts/fuzz.sh 0 --hypothesis 500  # + 500 property-based (hypothesis) examples per parser
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${RECAST_VENV:-$root/.venv}/bin"
cd "$root/tests"
exec nice -n "${FUZZ_NICE:-10}" "$bin/python" -m fuzz "$@"
