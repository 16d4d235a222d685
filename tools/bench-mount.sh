#!/usr/bin/env bash
# Benchmark of the mount against its peers, in one run on the same files.
# For each mode (solid, batched, hybrid):
#   - sevenzfs end to end: `cp -r` of the corpus into the mount (keeping
#     modification times, see copy_in), then unmount
#     until the daemon has exited with the archive committed;
#   - sevenzfs copy phase: the `cp -r` alone;
#   - sevenzfs-pack with the same settings;
#   - `7zz a` with matching settings (-ms=off for batched, on otherwise:
#     hybrid archives small files solid; -snl stores symlinks as links, as
#     `cp -r` copies them, where 7zz would store their targets' content);
# and once: fuse-zip (`cp -r` in, unmount, daemon waited for) and `cp -r`
# through bindfs (a FUSE passthrough) onto tmpfs. Each line gives wall time,
# MB/s, files/s, peak RSS (/usr/bin/time -f %M; the daemon's own for the
# mounts), archive size, and the ratios against 7zz measured in this run.
# For each mount it also prints the CPU the daemon and `cp` used (user +
# system) and their floor: that CPU spread over every core, the shortest end
# to end this machine allows for the work done, as a ratio to 7zz's wall.
# When the floor is above a target, only less work (not better overlap) can
# meet it.
#
#   tools/bench-mount.sh [--quick] [--files N] [--avg-size BYTES] [--kind blobcache|random|mixed]
#                        [--corpus DIR] [--modes "solid batched hybrid"] [--level N] [--pool SIZE]
#                        [--no-peers]
#
# --quick: 2,000 files and the solid mode only, for a smoke test.
# --corpus: an existing tree (e.g. a source package unpacked with `apt-get
#   source`, or /usr/share/doc) instead of a generated one (tools/bench-corpus.sh).
# --pool: the daemon's pool_size (default: the corpus + 25 % + 256M, so the
#   copy phase never waits for a commit; give a quarter of the corpus for
#   "data 4x the pool").
# --no-peers: skip fuse-zip and bindfs.
# Workloads of issue 11 (run them on an otherwise idle machine):
#   --files 50000 --avg-size 10240 --kind blobcache     (the default)
#   --kind mixed
#   --corpus /usr/share                                 (after installing docs)
#   --files 100000 --avg-size 100 --modes batched, then --files 1000000 (files/s at 100k and 1M)
#   --files 30000 --avg-size 10240 --pool 128M          (300 MiB through a 128 MiB pool)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=50000 avg=10240 kind=blobcache level=5 corpus="" modes="solid batched hybrid" pool="" peers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) files=2000; modes=solid; shift ;;
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --level) level="$2"; shift 2 ;;
    --pool) pool="$2"; shift 2 ;;
    --no-peers) peers=0; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "bench-mount: unknown argument $1" >&2; exit 2 ;;
  esac
done
daemon="$root/build/fs/sevenzfs"
pack="$root/build/tools/sevenzfs-pack"
[ -x "$daemon" ] && [ -x "$pack" ] || { echo "bench-mount: build first" >&2; exit 1; }
for tool in bindfs fuse-zip 7zz bc; do
  command -v "$tool" >/dev/null || { echo "bench-mount: $tool is missing (tools/install-deps.sh)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench-mount: /usr/bin/time is missing (tools/install-deps.sh)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
if [ -n "$corpus" ]; then
  [ -d "$corpus" ] || { echo "bench-mount: no directory $corpus" >&2; exit 1; }
  kind="given"
else
  corpus="$(bench_corpus "$files" "$avg" "$kind")"
fi
files=$(find "$corpus" -type f -o -type l | wc -l)
work="$bench_work"
input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
threads=$(nproc)
[ -n "$pool" ] || pool=$(( (input_bytes * 5 / 4 >> 20) + 256 ))M
tmpfs="$work/tmpfs" bound="$work/bound" mnt="$work/mnt"
mkdir -p "$tmpfs" "$bound" "$mnt"
cleanup() {
  fusermount3 -u -z "$bound" 2>/dev/null || true
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  umount "$tmpfs" 2>/dev/null || true
}
trap cleanup EXIT
now() { date +%s.%N; }
calc() { echo "$1" | bc -l; }
# 7zz's -ms for a mode: hybrid archives small files solid, so its yardstick
# is 7-Zip's solid archive.
solid_switch() { if [ "$1" = batched ]; then echo off; else echo on; fi; }
# Modification times are kept, as 7zz archives the corpus with its own: a
# plain `cp -r` gives every file the time of the copy, whose 100 ns ticks
# cost a 7z header about a byte per file more after compression (on
# /usr/share, all of the 53 KB by which the mount's header was larger).
copy_in() {  # cp -r SRC DST; on failure says why (its first lines) and stops; its CPU in cp.cpu
  /usr/bin/time -f "%U %S" -o "$work/cp.cpu" cp -r --preserve=timestamps "$1" "$2" 2>"$work/cp.err" ||
    { echo "bench-mount: cp -r into $2 failed:"; head -3 "$work/cp.err"; exit 1; }
}
cpu_seconds() { calc "$(sed 's/ / + /' "$1")"; }  # a file of "user system" from /usr/bin/time
mounted() { for _ in $(seq 100); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; return 1; }
find "$corpus" -type f -exec cat {} + >/dev/null  # warm the page cache for every contender

declare -A wall rss size cpu
row() {  # name seconds rss_kib size
  wall[$1]=$2 rss[$1]=$3 size[$1]=$4
  printf '%-34s %8.1f s %8.1f MB/s %9.0f files/s %7s MiB %12s B\n' "$1" "$2" "$(calc "$input_bytes / 1000000 / $2")" \
    "$(calc "$files / $2")" "$([ "$3" = - ] && echo - || echo $(($3 / 1024)))" "$4"
}
timed() {  # name output command...: runs it under /usr/bin/time
  local name="$1" out="$2"; shift 2
  rm -f "$out"
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
  local seconds rss_kib user system; read -r seconds rss_kib user system <"$work/time.txt"
  cpu[$name]=$(calc "$user + $system")
  row "$name" "$seconds" "$rss_kib" "$(stat -c %s "$out")"
}

echo "corpus: $corpus ($files files, $input_bytes bytes, kind $kind); level $level, $threads threads, pool $pool"
printf '%-34s %10s %13s %17s %11s %14s\n' contender wall speed files "peak RSS" archive
if [ "$peers" = 1 ]; then
  # Two pages per file (the data's last page, the inode): small files take
  # more of tmpfs than their bytes; inodes unlimited for a million files.
  mount -t tmpfs -o size=$((input_bytes * 2 + files * 8192 + (256 << 20))),nr_inodes=0 tmpfs "$tmpfs"
  bindfs "$tmpfs" "$bound"
  t0=$(now); copy_in "$corpus" "$bound/"; t1=$(now)
  row "cp -r through bindfs onto tmpfs" "$(calc "$t1 - $t0")" - 0
  cleanup
  rm -f "$work/fuse-zip.zip"
  /usr/bin/time -f "%M" -o "$work/fuse-zip.rss" fuse-zip -f "$work/fuse-zip.zip" "$mnt" 2>"$work/fuse-zip.log" &
  zip_pid=$!
  mounted "$mnt" || { echo "bench-mount: fuse-zip did not mount"; cat "$work/fuse-zip.log"; exit 1; }
  t0=$(now); copy_in "$corpus" "$mnt/"; fusermount3 -u "$mnt"; wait "$zip_pid"; t1=$(now)
  row "fuse-zip cp + unmount (zip)" "$(calc "$t1 - $t0")" "$(cat "$work/fuse-zip.rss")" "$(stat -c %s "$work/fuse-zip.zip")"
fi

for mode in $modes; do
  archive="$work/mount-$mode.7z"
  rm -f "$archive"
  /usr/bin/time -f "%U %S %M" -o "$work/daemon.time" \
    "$daemon" -f -o "mode=$mode,level=$level,threads=$threads,pool_size=$pool" "$archive" "$mnt" 2>"$work/daemon.log" &
  daemon_pid=$!
  mounted "$mnt" || { echo "bench-mount: sevenzfs did not mount"; cat "$work/daemon.log"; exit 1; }
  t0=$(now); copy_in "$corpus" "$mnt/"; t1=$(now)
  waits=$(getfattr --absolute-names -n user.sevenzfs.pool_waits_total --only-values "$mnt")
  fusermount3 -u "$mnt"
  status=0; wait "$daemon_pid" || status=$?
  t2=$(now)
  [ "$status" -eq 0 ] || { echo "bench-mount: the daemon exited $status"; cat "$work/daemon.log"; exit 1; }
  row "sevenzfs $mode copy phase" "$(calc "$t1 - $t0")" - -
  read -r daemon_user daemon_system daemon_rss < <(tail -1 "$work/daemon.time")
  row "sevenzfs $mode end to end" "$(calc "$t2 - $t0")" "$daemon_rss" "$(stat -c %s "$archive")"
  cpu[sevenzfs $mode end to end]=$(calc "$daemon_user + $daemon_system + $(cpu_seconds "$work/cp.cpu")")
  printf '  (CPU: daemon %.1f s, cp %.1f s: on %d cores at least %.1f s end to end)\n' \
    "$(calc "$daemon_user + $daemon_system")" "$(cpu_seconds "$work/cp.cpu")" "$threads" \
    "$(calc "${cpu[sevenzfs $mode end to end]} / $threads")"
  echo "  (pool waits during the copy: $waits)"
  7zz t "$archive" >/dev/null || echo "WARNING: the $mode mount's archive fails 7zz t"
  timed "sevenzfs-pack $mode" "$work/pack-$mode.7z" \
    "$pack" --mode "$mode" --level "$level" --threads "$threads" "$work/pack-$mode.7z" "$corpus"
  solid=$(solid_switch "$mode")
  timed "7zz a -ms=$solid ($mode)" "$work/7zz-$mode.7z" \
    7zz a -t7z -m0=lzma2 -mx="$level" -mmt="$threads" -ms=$solid -snl "$work/7zz-$mode.7z" "$corpus"
done

ratio() { calc "scale=3; $1 / $2"; }
echo
echo "ratios against 7zz with matching settings, this run:"
for mode in $modes; do
  reference="7zz a -ms=$(solid_switch "$mode") ($mode)"
  printf '  %-8s end to end %s (target <= 0.55)  size %s  peak RSS %s  |  sevenzfs-pack time %s  size %s\n' "$mode" \
    "$(ratio "${wall[sevenzfs $mode end to end]}" "${wall[$reference]}")" \
    "$(ratio "${size[sevenzfs $mode end to end]}" "${size[$reference]}")" \
    "$(ratio "${rss[sevenzfs $mode end to end]}" "${rss[$reference]}")" \
    "$(ratio "${wall[sevenzfs-pack $mode]}" "${wall[$reference]}")" \
    "$(ratio "${size[sevenzfs-pack $mode]}" "${size[$reference]}")"
  printf '  %-8s CPU floor of the end to end / 7zz %s  (CPU %s of 7zz'"'"'s)\n' "" \
    "$(ratio "$(calc "${cpu[sevenzfs $mode end to end]} / $threads")" "${wall[$reference]}")" \
    "$(ratio "${cpu[sevenzfs $mode end to end]}" "${cpu[$reference]}")"
  if [ "$peers" = 1 ]; then
    printf '  %-8s copy phase / bindfs cp %s (target <= 0.8)  end to end / fuse-zip %s\n' "" \
      "$(ratio "${wall[sevenzfs $mode copy phase]}" "${wall[cp -r through bindfs onto tmpfs]}")" \
      "$(ratio "${wall[sevenzfs $mode end to end]}" "${wall[fuse-zip cp + unmount (zip)]}")"
  fi
done
