#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs and runs the
# whole test suite with ctest: unit, interop (7zz, bsdtar, py7zr) and slow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 1200
