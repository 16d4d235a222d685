#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs, mounts a new
# archive, copies a sample of many small files in (/usr/share/doc, or the
# directory given), shows the live statistics, unmounts, waits for the daemon
# to finish the last commit, and lets 7-Zip test the archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
sample="${1:-/usr/share/doc}"
work="$(mktemp -d /tmp/sevenzfs-demo.XXXXXX)"
mkdir "$work/mnt"
build/fs/sevenzfs -f "$work/demo.7z" "$work/mnt" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q " $work/mnt " /proc/mounts && break; sleep 0.1; done
echo "mounted $work/demo.7z on $work/mnt (daemon pid $daemon)"
cp -a "$sample" "$work/mnt/"
echo "copied $(find "$work/mnt" -type f | wc -l) files in; statistics before the commit:"
getfattr -d "$work/mnt" 2>/dev/null | grep -E '^user.sevenzfs.(files_staged|bytes_staged|pool_chunks_total|pool_chunks_free|small_files|medium_files|large_files|commits)='
fusermount3 -u "$work/mnt"
echo "unmounted; waiting for the daemon to write the archive..."
status=0
wait "$daemon" || status=$?
[ "$status" -eq 0 ] || { echo "the daemon failed ($status):"; cat "$work/daemon.log"; exit "$status"; }
7zz t "$work/demo.7z" | grep -E 'Files|Folders|Size|Compressed|Everything'
echo "archive: $work/demo.7z"
