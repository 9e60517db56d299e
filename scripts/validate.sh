#!/usr/bin/env bash
# Full physics validation (slow; not part of the test suite): regenerates every benchmark of the
# validated analyses and rewrites validation/<ID>/ (report.html, plots, summary.json).
#   bash scripts/validate.sh [events per benchmark, default 12000]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
EVENTS="${1:-12000}"
for id in ATLAS-SUSY-2018-22 ATLAS-SUSY-2019-04; do
    .venv/bin/recast-ml validate "analyses/$id" -n "$EVENTS" --no-progress
done
