#!/usr/bin/env bash
# README command 1: set everything up, then run the main job on the bundled default:
# 3000 gluino-pair events (m(g~) = 1400 GeV, m(chi1) = 1000 GeV, g~ -> q q chi1) generated in memory
# with Pythia 8, ATLAS detector emulation, the validated analyses, CLs and r per signal region.
# Extra arguments go to `recast-ml run` (e.g. -n 10000, --threads 4, -o elsewhere).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec "${RECAST_VENV:-$root/.venv}/bin/recast-ml" run \
    --analysis ATLAS-SUSY-2018-22 --analysis ATLAS-SUSY-2019-04 \
    --generate gluino_direct:1400,1000 -n 3000 -o "$root/recast_out" "$@"
