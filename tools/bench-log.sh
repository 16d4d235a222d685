#!/usr/bin/env bash
# A service's log in a mount. Generates a log of --mb MiB (timestamped
# request lines), archives its first half, then appends the second half in
# --chunk-mb pieces, committing after each, in two ways:
#
#   open:  the log stays open (O_APPEND), fsync after each piece;
#   shell: each piece is `cat piece >> log` then `sync log`, so the file is
#          closed between appends and only the archive holds it between them
#          (each commit's new bytes then begin with a dictionary reset: no
#          primer, the price of not decoding the archived log).
#
# Each way starts from the same archived first half, after a remount (so
# only the archive holds the log at first). Prints, per way, the slowest and
# the median append and commit, the total, the bytes the daemon wrote (to
# the disk, from /proc/PID/io), the archive size and its ratio to
# `7zz a` of the whole log with the same level and threads, and
# last_commit_continued_bytes of the last commit. The log lines mix fixed and
# varying fields, as a web service's do.
#
#   tools/bench-log.sh [--mb N] [--chunk-mb N] [--level N] [--threads N] [--other-mb N] [--daemon PATH]
#
# --other-mb: the archive also holds a file of N MiB of random bytes (stored),
#   archived before the log, so that a commit that writes the archive anew
#   copies it, and one that continues the log where it lies does not (the
#   7zz reference then holds it too).
# --daemon: another build of sevenzfs (to compare two builds in one sitting).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mb=64 chunk_mb=4 level=5 threads="$(nproc)" other_mb=0 daemon="$root/build/fs/sevenzfs"
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) mb="$2"; shift 2 ;;
    --chunk-mb) chunk_mb="$2"; shift 2 ;;
    --level) level="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --other-mb) other_mb="$2"; shift 2 ;;
    --daemon) daemon="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-log: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$daemon" ] || { echo "bench-log: build first ($daemon)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-log: python3 is missing (tools/install-deps.sh)" >&2; exit 1; }
command -v 7zz >/dev/null || { echo "bench-log: 7zz is missing (tools/install-deps.sh)" >&2; exit 1; }
work="$(mktemp -d /var/tmp/sevenzfs-bench-log.XXXXXX)"
mnt="$work/mnt"
mkdir -p "$mnt" "$work/pieces"
cleanup() {
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work" "$mb" "$chunk_mb" <<'PY'
import os, random, sys
work, mb, chunk_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
paths = ["/api/v1/items", "/api/v1/users", "/health", "/api/v2/search", "/static/app.js", "/login"]
agents = ["curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64)", "python-requests/2.28", "Go-http-client/1.1"]
lines, size, t = [], 0, 1_700_000_000.0
while size < mb << 20:
    t += rng.expovariate(50.0)
    line = (f"{t:.3f} INFO  request id={rng.getrandbits(48):012x} method={rng.choice(['GET', 'GET', 'POST'])} "
            f"path={rng.choice(paths)}/{rng.randrange(100000)} status={rng.choice([200, 200, 200, 304, 404, 500])} "
            f"bytes={rng.randrange(20000)} ms={rng.randrange(400)} agent=\"{rng.choice(agents)}\"\n")
    lines.append(line)
    size += len(line)
data = "".join(lines).encode()[: mb << 20]
data = data[: data.rfind(b"\n") + 1]
half = len(data) // 2
with open(f"{work}/log.txt", "wb") as f: f.write(data)
with open(f"{work}/first-half.txt", "wb") as f: f.write(data[:half])
piece, k = chunk_mb << 20, 0
for at in range(half, len(data), piece):
    with open(f"{work}/pieces/{k:04d}", "wb") as f: f.write(data[at:at + piece])
    k += 1
PY

mount_it() {
  "$daemon" -f -o "mode=solid,level=$level,threads=$threads" "$1" "$mnt" 2>>"$work/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do grep -q " $mnt " /proc/mounts && break; sleep 0.1; done
  grep -q " $mnt " /proc/mounts || { echo "bench-log: sevenzfs did not mount"; cat "$work/daemon.log"; exit 1; }
}
unmount_it() {
  fusermount3 -u "$mnt"
  wait "$daemon_pid"
}

# The archived first half, shared by both ways, after the other file.
others=()
if [ "$other_mb" -gt 0 ]; then
  head -c "$((other_mb << 20))" /dev/urandom >"$work/other.bin"
  others=(other.bin)
  mount_it "$work/base.7z"
  cp "$work/other.bin" "$mnt/other.bin"
  unmount_it
fi
mount_it "$work/base.7z"
cp "$work/first-half.txt" "$mnt/log.txt"
unmount_it

(cd "$work" && 7zz a -bd -mx="$level" -mmt="$threads" -ms=on 7zz.7z "${others[@]}" log.txt >/dev/null)
reference=$(stat -c %s "$work/7zz.7z")
echo "log: $mb MiB, first half archived, then pieces of $chunk_mb MiB; level $level, $threads threads;" \
  "other file $other_mb MiB"
echo "7zz a of the whole log (and the other file): $reference bytes"

for way in open shell; do
  cp "$work/base.7z" "$work/$way.7z"
  mount_it "$work/$way.7z"
  written_before=$(awk '/^write_bytes:/ {print $2}' "/proc/$daemon_pid/io")
  python3 - "$way" "$mnt/log.txt" "$work/pieces" >"$work/$way.times" <<'PY'
import os, statistics, subprocess, sys, time
way, log, pieces = sys.argv[1], sys.argv[2], sys.argv[3]
appends, commits = [], []
began = time.monotonic()
fd = os.open(log, os.O_WRONLY | os.O_APPEND) if way == "open" else None
for name in sorted(os.listdir(pieces)):
    with open(os.path.join(pieces, name), "rb") as f: data = f.read()
    start = time.monotonic()
    if fd is not None:
        os.write(fd, data)
    else:
        with open(log, "ab") as out: out.write(data)
    appended = time.monotonic()
    if fd is not None:
        os.fsync(fd)
    else:
        subprocess.run(["sync", log], check=True)
    appends.append(appended - start)
    commits.append(time.monotonic() - appended)
if fd is not None: os.close(fd)
total = time.monotonic() - began
print(f"append median {statistics.median(appends):.3f} s, slowest {max(appends):.3f} s; "
      f"commit median {statistics.median(commits):.3f} s, slowest {max(commits):.3f} s; "
      f"{len(commits)} commits in {total:.1f} s")
PY
  continued=$(getfattr --absolute-names --only-values -n user.sevenzfs.last_commit_continued_bytes "$mnt")
  written=$(( ($(awk '/^write_bytes:/ {print $2}' "/proc/$daemon_pid/io") - written_before) >> 20 ))
  unmount_it
  cmp -s <(7zz e -so "$work/$way.7z" log.txt) "$work/log.txt" || { echo "bench-log: $way: the archived log differs"; exit 1; }
  size=$(stat -c %s "$work/$way.7z")
  ratio=$(python3 -c "print(f'{$size / $reference:.4f}')")
  echo "$way: $(cat "$work/$way.times"); daemon wrote $written MiB (disk); archive $size bytes = ${ratio}x 7zz;" \
    "last commit continued $continued bytes"
done
