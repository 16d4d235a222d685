#!/usr/bin/env bash
# Benchmark of reading back through a mount, in one run on the same archive:
#   - `diff -r` of the corpus against a fresh sevenzfs mount of a solid 7zz
#     archive of it (every file read once, in directory order), against
#     `7zz x` of the same archive (the target: at most 3x);
#   - `cat` of one large archived file through the mount (a forward read must
#     be linear), against `7zz e -so` of it.
# Each figure is the median of --runs runs; every mount is fresh (cold cache).
#
#   tools/bench-mount-read.sh [--files N] [--avg-size BYTES] [--kind K] [--large-mib N] [--runs N]
#
# The corpus: see tools/bench-corpus.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=5000 avg=10240 kind=blobcache large_mib=128 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --large-mib) large_mib="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench-mount-read: unknown argument $1" >&2; exit 2 ;;
  esac
done
daemon="$root/build/fs/sevenzfs"
[ -x "$daemon" ] || { echo "bench-mount-read: build first ($daemon missing)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
corpus="$(bench_corpus "$files" "$avg" "$kind")"
work="$bench_work/mount-read"
mnt="$work/mnt"
mkdir -p "$work" "$mnt"
name="$(basename "$corpus")"
solid="$work/solid-$name.7z"
large="$work/large-$name-$large_mib.7z"
if [ ! -f "$solid" ]; then
  (cd "$corpus/.." && 7zz a -bd -t7z -m0=lzma2 -mx=5 -ms=on "$solid.tmp" "$name" >/dev/null)
  mv "$solid.tmp" "$solid"
fi
if [ ! -f "$large" ]; then
  big="$work/large.bin"
  : > "$big"
  while [ "$(stat -c %s "$big")" -lt $((large_mib << 20)) ]; do
    find "$corpus" -type f -print0 | sort -z | xargs -0 cat >> "$big"
  done
  truncate -s $((large_mib << 20)) "$big"
  (cd "$work" && 7zz a -bd -t7z -m0=lzma2 -mx=5 "$large.tmp" large.bin >/dev/null)
  mv "$large.tmp" "$large"
  rm -f "$big"
fi
daemon_pid=""
cleanup() {
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  [ -z "$daemon_pid" ] || wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$work/x"
}
trap cleanup EXIT
seconds() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mount_it() {
  "$daemon" -f "$1" "$mnt" 2>"$work/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do grep -q " $mnt " /proc/mounts && return 0; sleep 0.1; done
  echo "bench-mount-read: the mount did not appear"; cat "$work/daemon.log"; exit 1
}
unmount_it() {
  fusermount3 -u "$mnt"
  wait "$daemon_pid"
  daemon_pid=""
}

# One run of each contender, in turn, so that noise hits both alike.
diff_times=() extract_times=() cat_times=() pipe_times=()
for _ in $(seq "$runs"); do
  rm -rf "$work/x"
  t0=$(seconds); 7zz x -bd -y -o"$work/x" "$solid" >/dev/null; t1=$(seconds)
  extract_times+=("$(echo "$t1 - $t0" | bc -l)")
  rm -rf "$work/x"
  sync; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
  mount_it "$solid"
  t0=$(seconds)
  diff -r "$corpus" "$mnt/$name" >/dev/null || { echo "bench-mount-read: the mount differs from the corpus"; exit 1; }
  t1=$(seconds)
  diff_times+=("$(echo "$t1 - $t0" | bc -l)")
  unmount_it

  t0=$(seconds); 7zz e -so "$large" large.bin >/dev/null; t1=$(seconds)
  pipe_times+=("$(echo "$t1 - $t0" | bc -l)")
  mount_it "$large"
  t0=$(seconds); cat "$mnt/large.bin" >/dev/null; t1=$(seconds)
  cat_times+=("$(echo "$t1 - $t0" | bc -l)")
  unmount_it
done
diff_s=$(printf '%s\n' "${diff_times[@]}" | median)
extract_s=$(printf '%s\n' "${extract_times[@]}" | median)
cat_s=$(printf '%s\n' "${cat_times[@]}" | median)
pipe_s=$(printf '%s\n' "${pipe_times[@]}" | median)
echo "corpus: $corpus ($files files); archives made by 7zz -mx=5; median of $runs runs"
printf '%-44s %8.2f s\n' "diff -r corpus MOUNT (solid archive)" "$diff_s"
printf '%-44s %8.2f s\n' "7zz x (solid archive)" "$extract_s"
printf '%-44s %8.2f s\n' "cat MOUNT/large.bin ($large_mib MiB)" "$cat_s"
printf '%-44s %8.2f s\n' "7zz e -so large.bin" "$pipe_s"
echo "ratios: diff -r through the mount / 7zz x $(echo "scale=2; $diff_s / $extract_s" | bc -l) (target <= 3);" \
     "cat / 7zz e -so $(echo "scale=2; $cat_s / $pipe_s" | bc -l)"
