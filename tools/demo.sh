#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs and archives a
# sample of many small files that every Debian machine has (/usr/share/doc)
# with sevenzfs-pack, then lets 7-Zip test the result.
# (The daemon, sevenzfs ARCHIVE MOUNTPOINT, will take this demo's place.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
work="$(mktemp -d /tmp/sevenzfs-demo.XXXXXX)"
sample="${1:-/usr/share/doc}"
build/tools/sevenzfs-pack --mode solid --level 5 --threads "$(nproc)" "$work/sample.7z" "$sample"
7zz t "$work/sample.7z" | grep -E 'Files|Size|Compressed|Everything'
echo "archive: $work/sample.7z"
