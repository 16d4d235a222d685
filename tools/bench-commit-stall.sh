#!/usr/bin/env bash
# How long a commit stops the writers. Copies the corpus into a mount and
# commits it, then runs a writer that creates small files (4 KB each, one
# write and a close) for --seconds, and asks for a commit (the flush xattr)
# in the middle of it. Prints the writer's slowest operations, how long the
# flush took, and the ratio of the two: the share of a commit during which
# writers wait (issue 11: writers never stop beyond a brief snapshot).
#
#   tools/bench-commit-stall.sh [--files N] [--avg-size BYTES] [--kind blobcache|random|mixed] [--corpus DIR]
#                               [--mode batched|solid|hybrid] [--seconds S] [--daemon PATH]
#
# --daemon: another build of sevenzfs (to compare two builds in one sitting).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files=50000 avg=10240 kind=blobcache corpus="" mode=batched seconds=25 daemon="$root/build/fs/sevenzfs"
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --avg-size) avg="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --daemon) daemon="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench-commit-stall: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$daemon" ] || { echo "bench-commit-stall: build first ($daemon)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-commit-stall: python3 is missing (tools/install-deps.sh)" >&2; exit 1; }
source "$root/tools/bench-corpus.sh"
if [ -n "$corpus" ]; then
  [ -d "$corpus" ] || { echo "bench-commit-stall: no directory $corpus" >&2; exit 1; }
else
  corpus="$(bench_corpus "$files" "$avg" "$kind")"
fi
work="$bench_work"
mnt="$work/stall-mnt" archive="$work/stall.7z"
mkdir -p "$mnt"
rm -f "$archive"
cleanup() { fusermount3 -u -z "$mnt" 2>/dev/null || true; }
trap cleanup EXIT
"$daemon" -f -o "mode=$mode,level=5,threads=$(nproc)" "$archive" "$mnt" 2>"$work/stall-daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q " $mnt " /proc/mounts && break; sleep 0.1; done
grep -q " $mnt " /proc/mounts || { echo "bench-commit-stall: sevenzfs did not mount"; cat "$work/stall-daemon.log"; exit 1; }
cp -r --preserve=timestamps "$corpus" "$mnt/"
setfattr -n user.sevenzfs.flush -v 1 "$mnt"
echo "corpus: $corpus ($(find "$mnt" -type f | wc -l) files committed), mode $mode; writer for $seconds s, flush at $((seconds / 3)) s"

python3 - "$mnt/writer" "$seconds" >"$work/stall-writer.txt" <<'PY' &
import os, sys, time
directory, seconds = sys.argv[1], float(sys.argv[2])
os.makedirs(directory)
data = (os.urandom(1024) * 2 + b"log line\n" * 228)[:4096]
times = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    start = time.monotonic()
    with open(f"{directory}/{len(times):08d}.log", "wb") as f:
        f.write(data)
    times.append(time.monotonic() - start)
times.sort()
print(len(times), " ".join(f"{t:.3f}" for t in times[::-1][:5]), f"{times[len(times) // 2] * 1000:.2f}")
PY
writer_pid=$!
sleep $((seconds / 3))
t0=$(date +%s.%N)
setfattr -n user.sevenzfs.flush -v 1 "$mnt"
t1=$(date +%s.%N)
wait "$writer_pid"
commit=$(getfattr --absolute-names -n user.sevenzfs.last_commit_duration_seconds --only-values "$mnt")
commit_files=$(getfattr --absolute-names -n user.sevenzfs.last_commit_files --only-values "$mnt")
fusermount3 -u "$mnt"
wait "$daemon_pid" || { echo "bench-commit-stall: the daemon failed"; cat "$work/stall-daemon.log"; exit 1; }
read -r made slowest1 slowest2 slowest3 slowest4 slowest5 median_ms <"$work/stall-writer.txt"
flush=$(echo "$t1 - $t0" | bc -l)
printf 'writer: %d files in %d s, median op %s ms, slowest ops %s %s %s %s %s s\n' "$made" "$seconds" "$median_ms" \
  "$slowest1" "$slowest2" "$slowest3" "$slowest4" "$slowest5"
printf 'flush: %.2f s (the commit itself %s s, %s files)\n' "$flush" "$commit" "$commit_files"
printf 'longest writer stall / flush: %.3f\n' "$(echo "$slowest1 / $flush" | bc -l)"
7zz t "$archive" >/dev/null && echo "7zz t: ok ($(7zz l "$archive" | tail -1 | awk '{print $5}') files)"
