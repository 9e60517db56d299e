#!/usr/bin/env bash
# README command 1: set everything up, then run the main job on the bundled default.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec "${RECAST_VENV:-$root/.venv}/bin/recast-ml" demo "$@"
