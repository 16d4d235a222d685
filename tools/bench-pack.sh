#!/usr/bin/env bash
# Benchmark: sevenzfs-pack in each mode against 7zz on the same files, in one
# run. Prints wall time, MB/s, peak RSS and output size, and the ratios the
# targets are stated in (size and time against 7zz -mx=5 with one thread).
#
#   tools/bench-pack.sh [--files N] [--avg-size BYTES] [--kind blobcache|random|mixed] [--level N]
#
# The corpus: see tools/bench-corpus.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=50000 avg=10240 kind=blobcache level=5
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --level) level="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench-pack: unknown argument $1" >&2; exit 2 ;;
  esac
done
pack="$root/build/tools/sevenzfs-pack"
[ -x "$pack" ] || { echo "bench-pack: build first ($pack missing)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
corpus="$(bench_corpus "$files" "$avg" "$kind")"
work="$bench_work"
input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
sync

declare -A wall size
run() {  # name command...
  local name="$1"; shift
  local out="$work/$name.7z"
  rm -f "$out"
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
  read -r seconds rss_kb < "$work/time.txt"
  wall[$name]=$seconds
  size[$name]=$(stat -c %s "$out")
  printf '%-28s %8.1f s %8.1f MB/s %7d MiB %12d B %7.2f %%\n' "$name" "$seconds" \
    "$(echo "$input_bytes / 1000000 / $seconds" | bc -l)" $((rss_kb / 1024)) "${size[$name]}" \
    "$(echo "100 * ${size[$name]} / $input_bytes" | bc -l)"
}

echo "corpus: $corpus ($files files, $input_bytes bytes, kind $kind); level $level"
printf '%-28s %10s %13s %11s %14s %9s\n' tool wall speed "peak RSS" output "of input"
run 7zz-solid-mt1 7zz a -t7z -m0=lzma2 -mx="$level" -mmt=1 -ms=on "$work/7zz-solid-mt1.7z" "$corpus"
run sevenzfs-solid-t1 "$pack" --mode solid --level "$level" --threads 1 "$work/sevenzfs-solid-t1.7z" "$corpus"
run 7zz-nonsolid-mt1 7zz a -t7z -m0=lzma2 -mx="$level" -mmt=1 -ms=off "$work/7zz-nonsolid-mt1.7z" "$corpus"
run sevenzfs-batched-t1 "$pack" --mode batched --level "$level" --threads 1 "$work/sevenzfs-batched-t1.7z" "$corpus"
run sevenzfs-hybrid-t1 "$pack" --mode hybrid --level "$level" --threads 1 "$work/sevenzfs-hybrid-t1.7z" "$corpus"
run 7zz-solid-mt2 7zz a -t7z -m0=lzma2 -mx="$level" -mmt=2 -ms=on "$work/7zz-solid-mt2.7z" "$corpus"
run sevenzfs-solid-t2 "$pack" --mode solid --level "$level" --threads 2 "$work/sevenzfs-solid-t2.7z" "$corpus"
run 7zz-nonsolid-mt2 7zz a -t7z -m0=lzma2 -mx="$level" -mmt=2 -ms=off "$work/7zz-nonsolid-mt2.7z" "$corpus"
run sevenzfs-batched-t2 "$pack" --mode batched --level "$level" --threads 2 "$work/sevenzfs-batched-t2.7z" "$corpus"

ratio() { echo "scale=3; $1 / $2" | bc -l; }
echo
echo "ratios (sevenzfs / 7zz, same settings):"
echo "  solid   1 thread : size $(ratio "${size[sevenzfs-solid-t1]}" "${size[7zz-solid-mt1]}")  time $(ratio "${wall[sevenzfs-solid-t1]}" "${wall[7zz-solid-mt1]}")   (targets <= 1.02, <= 1.1)"
echo "  batched 1 thread : size $(ratio "${size[sevenzfs-batched-t1]}" "${size[7zz-nonsolid-mt1]}")  time $(ratio "${wall[sevenzfs-batched-t1]}" "${wall[7zz-nonsolid-mt1]}")   (targets <= 1.02, <= 1.1)"
echo "  solid   2 threads: size $(ratio "${size[sevenzfs-solid-t2]}" "${size[7zz-solid-mt2]}")  time $(ratio "${wall[sevenzfs-solid-t2]}" "${wall[7zz-solid-mt2]}")"
echo "  batched 2 threads: size $(ratio "${size[sevenzfs-batched-t2]}" "${size[7zz-nonsolid-mt2]}")  time $(ratio "${wall[sevenzfs-batched-t2]}" "${wall[7zz-nonsolid-mt2]}")"
for name in "${!size[@]}"; do
  7zz t "$work/$name.7z" >/dev/null || echo "WARNING: $name.7z fails 7zz t"
done
