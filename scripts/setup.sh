#!/usr/bin/env bash
# Sets up everything onnx-gptq needs on a fresh Debian/Ubuntu machine and builds it.
#   bash scripts/setup.sh            # deps + release-ish build in ./build (-Werror)
#   BUILD_DIR=b bash scripts/setup.sh
# Idempotent: skips what is already there. The tool itself needs only the C libraries;
# Python (onnx, onnxruntime, numpy) is for tests and benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

APT_PKGS="build-essential pkg-config meson ninja-build protobuf-c-compiler libprotobuf-c-dev \
libonnx-dev libopenblas-dev libcunit1-dev zlib1g-dev"

missing=""
for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if ! python3 -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
    echo "setup: installing Python test dependencies (onnx, onnxruntime, numpy)"
    python3 -m pip install --quiet onnx onnxruntime numpy 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages onnx onnxruntime numpy
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" -Dwerror=true >/dev/null
fi
log=$(mktemp)
ninja -C "$BUILD_DIR" >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 1; }
rm -f "$log"
echo "setup: built $BUILD_DIR/tools/onnx-gptq"
