#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds sevenzfs and runs the
# whole test suite: the pool tests under ThreadSanitizer and AddressSanitizer
# (+UBSan), then everything with ctest: unit, interop (7zz, bsdtar, py7zr), slow.
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
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 1200
