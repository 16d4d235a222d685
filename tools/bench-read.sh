#!/usr/bin/env bash
# Benchmark: reading archived content through sevenzfs's reader against 7zz
# on the same archives, in one run (see sevenzfs-bench-read for what is
# measured). Makes two archives with 7zz -mx=5: the corpus solid (default
# 5,000 files of ~10 KB), and one large file built from the corpus.
#
#   tools/bench-read.sh [--files N] [--avg-size BYTES] [--kind blobcache|random|mixed] [--large-mib N] [--runs N]
#
# The corpus: see tools/bench-corpus.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=5000 avg=10240 kind=blobcache large_mib=128 runs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --large-mib) large_mib="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bench-read: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench="$root/build/tools/sevenzfs-bench-read"
[ -x "$bench" ] || { echo "bench-read: build first ($bench missing)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
corpus="$(bench_corpus "$files" "$avg" "$kind")"
work="$bench_work/read"
mkdir -p "$work"
solid="$work/solid-$kind-$files-$avg.7z"
large="$work/large-$kind-$files-$avg-$large_mib.7z"
if [ ! -f "$solid" ]; then
  (cd "$corpus/.." && 7zz a -bd -t7z -m0=lzma2 -mx=5 -ms=on "$solid.tmp" "$(basename "$corpus")" >/dev/null)
  mv "$solid.tmp" "$solid"
fi
if [ ! -f "$large" ]; then
  # The corpus concatenated until the file is large_mib MiB: compressible like the corpus.
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
"$bench" --runs "$runs" "$solid" "$large"
