#!/usr/bin/env bash
# README command 2: set everything up, then run the default test suite (no `slow` tests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
bin="${RECAST_VENV:-$root/.venv}/bin"
"$bin/ruff" check python tests benchmarks
"$bin/mypy"
exec "$bin/python" -m pytest "$@"
