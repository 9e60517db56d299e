#!/usr/bin/env bash
# Fetch the ONNX Runtime C/C++ API headers (Debian trixie's libonnxruntime-dev, ORT 1.21, C API v21)
# into a build cache, WITHOUT touching the system's apt configuration: apt-get runs against a private
# sources list, private package lists and a private cache. The runtime itself is NOT taken from the
# .deb; it is dlopen'ed at run time from the PyPI onnxruntime wheel (see cpp/src/onnx_runtime.cpp).
#
# usage: scripts/fetch-ort-headers.sh [CACHE_DIR]
#   CACHE_DIR defaults to $RECAST_DEPS_CACHE or ~/.cache/recast_ml/deps.
# On success prints the include directory (containing onnxruntime_c_api.h) on stdout.
set -euo pipefail

cache="${1:-${RECAST_DEPS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/recast_ml/deps}}"
dest="$cache/onnxruntime-headers"
if [ -f "$dest/include/onnxruntime_c_api.h" ]; then
    echo "$dest/include"
    exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "fetch-ort-headers: apt-get/dpkg-deb not available; set ONNXRUNTIME_ROOT to an ONNX Runtime SDK instead" >&2
    exit 1
fi

# Reuse the Debian mirror this machine is already configured with (deb822 or one-line format).
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):.*\/debian\/?$/) {print $i; exit}}' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
    echo "fetch-ort-headers: no Debian mirror found in /etc/apt; set ONNXRUNTIME_ROOT to an ONNX Runtime SDK instead" >&2
    exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "fetch-ort-headers: $keyring missing (install debian-archive-keyring)" >&2; exit 1; }

work="$cache/apt-trixie"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb [signed-by=$keyring] $mirror trixie main" > "$work/sources.list"
apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
)
echo "fetch-ort-headers: downloading libonnxruntime-dev from Debian trixie into $work" >&2
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download libonnxruntime-dev >&2)
deb=$(ls "$work"/debs/libonnxruntime-dev_*.deb | head -n 1)
rm -rf "$work/unpacked" && mkdir -p "$work/unpacked"
dpkg-deb -x "$deb" "$work/unpacked"
hdr=$(dirname "$(find "$work/unpacked" -name onnxruntime_c_api.h | head -n 1)")
[ -f "$hdr/onnxruntime_c_api.h" ] || { echo "fetch-ort-headers: onnxruntime_c_api.h not found in $deb" >&2; exit 1; }
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/include"
cp -r "$hdr"/. "$dest.tmp/include/"
printf 'source: %s\nfetched: %s\n' "$(basename "$deb")" "$(date -u +%FT%TZ)" > "$dest.tmp/PROVENANCE"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "$dest/include"
