#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (the fuzz tests of CTest):
#   run-fuzz-target.sh TARGET SECONDS WORK_DIR [SEED_COMMAND...]
# SEED_COMMAND, given WORK_DIR/seeds as its last argument, writes the seeds.
# A crash, a leak, an input slower than 10 s or a process over 1 GiB fails
# the run and leaves the input in WORK_DIR/artifacts.
set -euo pipefail
target=$1 seconds=$2 work=$3
shift 3
rm -rf "$work/seeds"
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
if [ $# -gt 0 ]; then "$@" "$work/seeds"; fi
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -artifact_prefix="$work/artifacts/" \
  -print_final_stats=1 "$work/corpus" "$work/seeds" 2>"$work/fuzz.log" || {
  tail -n 60 "$work/fuzz.log"
  exit 1
}
grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/fuzz.log"
