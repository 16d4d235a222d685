#!/usr/bin/env bash
# Benchmark: sevenzfs-pack against 7zz on the same files, in one run. Prints
# wall time, CPU time (user + system: with 2 threads, CPU / wall shows how
# busy both cores were), MB/s, peak RSS and output size, and the ratios the
# targets are stated in (sevenzfs / 7zz with the same mode, level and threads).
#
#   tools/bench-pack.sh [--files N] [--avg-size BYTES] [--kind blobcache|random|mixed]
#                       [--corpus DIR] [--level N] [--modes "solid batched hybrid"] [--also NAME=PACK]...
#
# --corpus uses an existing tree instead of generating one (tools/bench-corpus.sh).
# --modes picks what runs (default all three); solid runs with 1 and 2 threads,
# batched with 1 and 2, hybrid with 1. --also adds a solid 2-thread run of
# another sevenzfs-pack build (another branch or setting) under NAME.
# Each mode also runs sevenzfs-bench-stream with 2 threads (the streaming
# pipeline: folders compressed as files are handed over in walk order, then
# one commit that copies them; see tools/bench_stream.cpp).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=50000 avg=10240 kind=blobcache level=5 corpus="" modes="solid batched hybrid" also=()
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --level) level="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --also) also+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-pack: unknown argument $1" >&2; exit 2 ;;
  esac
done
pack="$root/build/tools/sevenzfs-pack"
[ -x "$pack" ] || { echo "bench-pack: build first ($pack missing)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
if [ -n "$corpus" ]; then
  [ -d "$corpus" ] || { echo "bench-pack: no directory $corpus" >&2; exit 1; }
  mkdir -p "$bench_work"
  files=$(find "$corpus" -type f | wc -l)
  kind="given"
else
  corpus="$(bench_corpus "$files" "$avg" "$kind")"
fi
work="$bench_work"
input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
sync

declare -A wall cpu rss size
run() {  # name command...
  local name="$1"; shift
  local out="$work/$name.7z"
  rm -f "$out"
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
  read -r seconds rss_kb user system < "$work/time.txt"
  wall[$name]=$seconds
  cpu[$name]=$(echo "$user + $system" | bc -l)
  rss[$name]=$rss_kb
  size[$name]=$(stat -c %s "$out")
  printf '%-22s %8.1f s %8.1f s %8.1f MB/s %7d MiB %12d B %7.2f %%\n' "$name" "$seconds" "${cpu[$name]}" \
    "$(echo "$input_bytes / 1000000 / $seconds" | bc -l)" $((rss_kb / 1024)) "${size[$name]}" \
    "$(echo "100 * ${size[$name]} / $input_bytes" | bc -l)"
}
wants() { [[ " $modes " == *" $1 "* ]]; }
7zz_a() {  # name solid(on|off) threads
  run "$1" 7zz a -t7z -m0=lzma2 -mx="$level" -mmt="$3" -ms="$2" "$work/$1.7z" "$corpus"
}
stream="$root/build/tools/sevenzfs-bench-stream"
stream_a() {  # name mode threads
  run "$1" "$stream" --mode "$2" --level "$level" --threads "$3" "$work/$1.7z" "$corpus"
}
pack_a() {  # name mode threads [binary]
  run "$1" "${4:-$pack}" --mode "$2" --level "$level" --threads "$3" "$work/$1.7z" "$corpus"
}

echo "corpus: $corpus ($files files, $input_bytes bytes, kind $kind); level $level"
printf '%-22s %10s %10s %13s %11s %14s %9s\n' tool wall CPU speed "peak RSS" output "of input"
if wants solid; then
  7zz_a 7zz-solid-mt1 on 1
  pack_a sevenzfs-solid-t1 solid 1
  7zz_a 7zz-solid-mt2 on 2
  pack_a sevenzfs-solid-t2 solid 2
  stream_a stream-solid-t2 solid 2
fi
for extra in "${also[@]}"; do
  [ -n "${size[7zz-solid-mt2]:-}" ] || 7zz_a 7zz-solid-mt2 on 2
  pack_a "${extra%%=*}-solid-t2" solid 2 "${extra#*=}"
done
if wants batched; then
  7zz_a 7zz-nonsolid-mt1 off 1
  pack_a sevenzfs-batched-t1 batched 1
  7zz_a 7zz-nonsolid-mt2 off 2
  pack_a sevenzfs-batched-t2 batched 2
  stream_a stream-batched-t2 batched 2
fi
if wants hybrid; then
  [ -n "${size[7zz-nonsolid-mt1]:-}" ] || 7zz_a 7zz-nonsolid-mt1 off 1
  pack_a sevenzfs-hybrid-t1 hybrid 1
  [ -n "${size[7zz-nonsolid-mt2]:-}" ] || 7zz_a 7zz-nonsolid-mt2 off 2
  stream_a stream-hybrid-t2 hybrid 2
fi

ratio() { echo "scale=3; $1 / $2" | bc -l; }
compare() {  # label ours theirs targets
  printf '  %-18s: size %s  time %s  CPU %s  peak RSS %s   %s\n' "$1" "$(ratio "${size[$2]}" "${size[$3]}")" \
    "$(ratio "${wall[$2]}" "${wall[$3]}")" "$(ratio "${cpu[$2]}" "${cpu[$3]}")" "$(ratio "${rss[$2]}" "${rss[$3]}")" "$4"
}
echo
echo "ratios (sevenzfs / 7zz, same settings):"
if wants solid; then
  compare "solid   1 thread" sevenzfs-solid-t1 7zz-solid-mt1 "(targets: size <= 1.02, time <= 1.1)"
  compare "solid   2 threads" sevenzfs-solid-t2 7zz-solid-mt2 "(target: size <= 1.01)"
  compare "stream solid 2 thr" stream-solid-t2 7zz-solid-mt2 "(streaming pipeline)"
  echo "  sevenzfs solid 2 threads / 1 thread: size $(ratio "${size[sevenzfs-solid-t2]}" "${size[sevenzfs-solid-t1]}")  time $(ratio "${wall[sevenzfs-solid-t2]}" "${wall[sevenzfs-solid-t1]}")  CPU $(ratio "${cpu[sevenzfs-solid-t2]}" "${cpu[sevenzfs-solid-t1]}")"
fi
for extra in "${also[@]}"; do
  compare "${extra%%=*} solid 2 thr" "${extra%%=*}-solid-t2" 7zz-solid-mt2 ""
done
if wants batched; then
  compare "batched 1 thread" sevenzfs-batched-t1 7zz-nonsolid-mt1 "(targets: size <= 1.02, time <= 1.1)"
  compare "batched 2 threads" sevenzfs-batched-t2 7zz-nonsolid-mt2 ""
  compare "stream batched 2 thr" stream-batched-t2 7zz-nonsolid-mt2 "(streaming pipeline)"
fi
if wants hybrid; then
  compare "hybrid  1 thread" sevenzfs-hybrid-t1 7zz-nonsolid-mt1 "(against 7zz non-solid)"
  compare "stream hybrid 2 thr" stream-hybrid-t2 7zz-nonsolid-mt2 "(streaming pipeline, against 7zz non-solid)"
fi
for name in "${!size[@]}"; do
  7zz t "$work/$name.7z" >/dev/null || echo "WARNING: $name.7z fails 7zz t"
done
