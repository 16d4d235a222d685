#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs and runs the
# whole test suite: the pool tests under ThreadSanitizer and AddressSanitizer
# (+UBSan), the soak test against the daemon under ASan+UBSan, then everything
# else with ctest: unit, interop (7zz, bsdtar, py7zr), e2e, slow;
# then every libFuzzer target of tests/fuzz for FUZZ_SECONDS (60) each, in a
# clang build of its own (FUZZ_SECONDS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
# CI has 30 minutes: each phase says how long it took.
phase_start=$SECONDS
phase_done() {
  echo "== $1 took $((SECONDS - phase_start)) s (total $SECONDS s)"
  phase_start=$SECONDS
}
bash tools/install-deps.sh
phase_done "installing what is missing"
pool_tests=(chunk_pool_test staging_store_test pool_stress_test)
for sanitizer in thread address,undefined; do
  dir="build-${sanitizer%%,*}"
  # Unity builds: the sanitizer builds compile the libraries in batches of
  # files, which parse their headers once (the daemon for the soak test in
  # 3.3 min instead of 4.9). The release build below, the one measured and
  # installed, compiles file by file.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEVENZFS_SANITIZE="$sanitizer" -DCMAKE_UNITY_BUILD=ON >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target "${pool_tests[@]}" >/dev/null
  for test in "${pool_tests[@]}"; do
    echo "== $test under $sanitizer sanitizer"
    TSAN_OPTIONS="suppressions=$PWD/tests/tsan-suppressions.txt halt_on_error=1" \
      ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
      "$dir/tests/$test" --gtest_brief=1
  done
  phase_done "the pool tests under $sanitizer"
done

# The soak test (label slow; about 30 s) against a daemon built with
# ASan+UBSan: many writers and periodic commits, the archive compared with the
# writers' model, sanitizer reports and peak RSS checked. It runs here instead
# of in the release build below.
cmake --build build-address -j "$(nproc)" --target sevenzfs soak_test >/dev/null
echo "== soak_test against the daemon built with address,undefined sanitizers"
UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" build-address/tests/soak_test --gtest_brief=1
phase_done "the soak test under address,undefined"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
phase_done "the release build"
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 1200 -E '^soak\.')
phase_done "ctest"

fuzz_seconds=${FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEVENZFS_FUZZ=ON -DCMAKE_UNITY_BUILD=ON \
    -DSEVENZFS_FUZZ_SECONDS="$fuzz_seconds" -DSEVENZFS_SEED_PACK="$PWD/build/tools/sevenzfs-pack" >/dev/null
  cmake --build build-fuzz -j "$(nproc)" >/dev/null
  (cd build-fuzz && ctest -L fuzz --output-on-failure -V -j "$(nproc)")
  phase_done "the fuzz targets"
fi
