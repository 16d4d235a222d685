#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs and runs the
# whole test suite: the pool tests under ThreadSanitizer and AddressSanitizer
# (+UBSan), then everything with ctest: unit, interop (7zz, bsdtar, py7zr), slow;
# then every libFuzzer target of tests/fuzz for FUZZ_SECONDS (60) each, in a
# clang build of its own (FUZZ_SECONDS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
pool_tests=(chunk_pool_test staging_store_test pool_stress_test)
for sanitizer in thread address,undefined; do
  dir="build-${sanitizer%%,*}"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEVENZFS_SANITIZE="$sanitizer" >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target "${pool_tests[@]}" >/dev/null
  for test in "${pool_tests[@]}"; do
    echo "== $test under $sanitizer sanitizer"
    TSAN_OPTIONS="suppressions=$PWD/tests/tsan-suppressions.txt halt_on_error=1" \
      ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
      "$dir/tests/$test" --gtest_brief=1
  done
done

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 1200)

fuzz_seconds=${FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEVENZFS_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j "$(nproc)" >/dev/null
  rm -rf build-fuzz/seeds
  bash tests/fuzz/make-seed-corpus.sh build-fuzz/seeds build/tools/sevenzfs-pack
  for target in build-fuzz/tests/fuzz/*_fuzz; do
    name=$(basename "$target")
    mkdir -p "build-fuzz/corpus/$name" build-fuzz/artifacts
    echo "== $name for $fuzz_seconds s"
    # A crash, a leak, an input slower than 10 s or a process over 1 GiB
    # fails the run and leaves the input in build-fuzz/artifacts.
    "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=1024 \
      -artifact_prefix="build-fuzz/artifacts/$name-" -print_final_stats=1 \
      "build-fuzz/corpus/$name" build-fuzz/seeds 2>"build-fuzz/$name.log" ||
      { tail -n 60 "build-fuzz/$name.log"; exit 1; }
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "build-fuzz/$name.log"
  done
fi
