# Sourced by the benchmark scripts: bench_corpus FILES AVG_SIZE KIND prints
# the path of a corpus made by ../shared/bench/make_corpus.py
# (SEVENZFS_CORPUS_TOOL overrides it), generated once and cached under
# ${SEVENZFS_BENCH_DIR:-/tmp/sevenzfs-bench}.
bench_work="${SEVENZFS_BENCH_DIR:-/tmp/sevenzfs-bench}"

bench_corpus() {
  local files="$1" avg="$2" kind="$3"
  local tool="${SEVENZFS_CORPUS_TOOL:-$(dirname "${BASH_SOURCE[0]}")/../../shared/bench/make_corpus.py}"
  local corpus="$bench_work/corpus-$kind-$files-$avg"
  mkdir -p "$bench_work"
  if [ ! -d "$corpus" ]; then
    [ -f "$tool" ] || { echo "bench: corpus generator $tool not found (set SEVENZFS_CORPUS_TOOL)" >&2; return 1; }
    python3 "$tool" --files "$files" --avg-size "$avg" --kind "$kind" --out "$corpus.tmp" >/dev/null
    mv "$corpus.tmp" "$corpus"
  fi
  echo "$corpus"
}
