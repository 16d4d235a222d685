#!/usr/bin/env bash
# Benchmark of the mount, in one run on the same files:
#   - copy phase: `cp -a` of the corpus into a sevenzfs mount whose pool holds
#     it all (no commit yet), against `cp -a` through bindfs (a FUSE
#     passthrough) onto tmpfs;
#   - end to end: copy plus unmount until the daemon has exited with the
#     archive committed, against `7zz a` with the same mode, level and threads.
#
#   tools/bench-mount.sh [--files N] [--avg-size BYTES] [--kind K] [--mode solid|batched] [--level N]
#
# The corpus: see tools/bench-corpus.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=50000 avg=10240 kind=blobcache mode=solid level=5
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --level) level="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench-mount: unknown argument $1" >&2; exit 2 ;;
  esac
done
daemon="$root/build/fs/sevenzfs"
[ -x "$daemon" ] || { echo "bench-mount: build first ($daemon missing)" >&2; exit 1; }
command -v bindfs >/dev/null || { echo "bench-mount: bindfs is missing (tools/install-deps.sh)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
corpus="$(bench_corpus "$files" "$avg" "$kind")"
work="$bench_work"
input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
threads=$(nproc)
tmpfs="$work/tmpfs" bound="$work/bound" mnt="$work/mnt" archive="$work/mount-bench.7z"
mkdir -p "$tmpfs" "$bound" "$mnt"
cleanup() {
  fusermount3 -u -z "$bound" 2>/dev/null || true
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  umount "$tmpfs" 2>/dev/null || true
}
trap cleanup EXIT
seconds() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
find "$corpus" -type f -exec cat {} + > /dev/null  # warm the page cache for every contender

# bindfs onto tmpfs
mount -t tmpfs -o size=$((input_bytes * 2 + (256 << 20))) tmpfs "$tmpfs"
bindfs "$tmpfs" "$bound"
t0=$(seconds); cp -a "$corpus" "$bound/"; t1=$(seconds)
bindfs_copy=$(elapsed "$t0" "$t1")
cleanup

# sevenzfs: copy phase, then end to end
rm -f "$archive"
pool=$(( (input_bytes * 5 / 4 >> 20) + 256 ))M
"$daemon" -f -o "mode=$mode,level=$level,threads=$threads,pool_size=$pool" "$archive" "$mnt" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q " $mnt " /proc/mounts && break; sleep 0.1; done
t0=$(seconds); cp -a "$corpus" "$mnt/"; t1=$(seconds)
waits=$(getfattr -n user.sevenzfs.pool_waits --only-values "$mnt")
rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$daemon_pid/status)
fusermount3 -u "$mnt"
wait "$daemon_pid"; status=$?
t2=$(seconds)
[ "$status" -eq 0 ] || { echo "bench-mount: the daemon exited $status"; cat "$work/daemon.log"; exit 1; }
sevenzfs_copy=$(elapsed "$t0" "$t1")
sevenzfs_total=$(elapsed "$t0" "$t2")
sevenzfs_size=$(stat -c %s "$archive")


# 7zz with matching settings
solid=on; [ "$mode" = batched ] && solid=off
rm -f "$work/mount-bench-7zz.7z"
t0=$(seconds); 7zz a -t7z -m0=lzma2 -mx="$level" -mmt="$threads" -ms=$solid "$work/mount-bench-7zz.7z" "$corpus" >/dev/null; t1=$(seconds)
sevenzip_total=$(elapsed "$t0" "$t1")
sevenzip_size=$(stat -c %s "$work/mount-bench-7zz.7z")
7zz t "$archive" >/dev/null || echo "WARNING: the mount's archive fails 7zz t"

echo "corpus: $corpus ($files files, $input_bytes bytes); mode $mode, level $level, $threads threads"
printf '%-40s %9.1f s\n' "cp -a through bindfs onto tmpfs" "$bindfs_copy"
printf '%-40s %9.1f s   (pool waits %s, daemon peak RSS so far %d MiB)\n' "cp -a into sevenzfs (copy phase)" "$sevenzfs_copy" "$waits" $((rss_kib / 1024))
printf '%-40s %9.1f s   %12d B\n' "sevenzfs end to end (daemon exited)" "$sevenzfs_total" "$sevenzfs_size"
printf '%-40s %9.1f s   %12d B\n' "7zz a -mx=$level -mmt=$threads -ms=$solid" "$sevenzip_total" "$sevenzip_size"
echo
echo "ratios: copy phase / bindfs copy $(echo "scale=3; $sevenzfs_copy / $bindfs_copy" | bc -l) (target <= 1.0);" \
     "end to end / 7zz $(echo "scale=3; $sevenzfs_total / $sevenzip_total" | bc -l);" \
     "size / 7zz $(echo "scale=3; $sevenzfs_size / $sevenzip_size" | bc -l)"
