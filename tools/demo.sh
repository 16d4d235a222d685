#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs, mounts a new
# archive, copies a sample of many small files in (/usr/share/doc, or the
# directory given), shows the live statistics with sevenzfs-ctl, unmounts with
# `sevenzfs-ctl unmount` (which returns once the archive holds everything and
# the daemon has exited), and lets 7-Zip test the archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
sample="${1:-/usr/share/doc}"
work="$(mktemp -d /tmp/sevenzfs-demo.XXXXXX)"
mkdir "$work/mnt"
ctl=build/tools/sevenzfs-ctl
build/fs/sevenzfs "$work/demo.7z" "$work/mnt"
echo "mounted $work/demo.7z on $work/mnt (in the background; logs: journalctl -t sevenzfs)"
cp -a "$sample" "$work/mnt/"
echo "copied $(find "$work/mnt" -type f | wc -l) files in; statistics before the commit:"
"$ctl" stats "$work/mnt" | grep -E '^(files|staged_files|staged_bytes|files_under_16k|files_under_1m|files_1m_or_more|pool_bytes|pool_free_bytes|commits_total) '
echo "unmounting: the final commit runs now"
"$ctl" unmount "$work/mnt"
7zz t "$work/demo.7z" | grep -E 'Files|Folders|Size|Compressed|Everything'
echo "archive: $work/demo.7z"
