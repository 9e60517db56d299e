#!/usr/bin/env bash
# Sets up everything recast_ml needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (compiler, zlib; chromium for the report test) -> .venv with the Python
#   dependencies -> ONNX Runtime headers in the build cache -> the package itself (C++ core +
#   bindings) built and installed.
# Sourced by scripts/main.sh and scripts/test.sh; safe to re-run (incremental rebuild).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
VENV="${RECAST_VENV:-$root/.venv}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. system build tools (only what is missing; needs root or sudo)
need=()
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/toml++/toml.h ] || [ -f /usr/include/toml++/toml.hpp ] || need+=(libtomlplusplus-dev)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)  # resolved analysis definitions (C++ loader)
"$PY" -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# test-only, like the test extras below: tests/test_report_browser.py renders the HTML reports in
# headless Chromium (Debian package chromium; the test fails where the bootstrap ran without it)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

# 2. virtual environment with the build and run-time dependencies
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.recast-deps"
deps_hash=$(sha256sum pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
    say "installing Python dependencies"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" - <<'PYEOF' > "$VENV/.recast-requirements.txt"
import tomllib
cfg = tomllib.load(open("pyproject.toml", "rb"))
reqs = cfg["build-system"]["requires"] + cfg["project"]["dependencies"] + cfg["project"]["optional-dependencies"]["test"]
print("\n".join(reqs))
PYEOF
    "$VENV/bin/python" -m pip install -q -r "$VENV/.recast-requirements.txt"
    echo "$deps_hash" > "$stamp"
fi

# 3. ONNX Runtime headers (unless the user brings an SDK)
if [ -z "${ONNXRUNTIME_ROOT:-}" ]; then
    bash scripts/fetch-ort-headers.sh >/dev/null
fi

# 4. build and install the package (incremental: build/ is kept)
say "building recast_ml (C++ core + bindings)"
"$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps \
    -Cbuild.verbose=false -Ccmake.define.CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .
version=$("$VENV/bin/recast-ml" --version)  # fails the bootstrap if the install is broken
say "ready: $version"
