#!/usr/bin/env bash
# Runs in a private mount namespace (unshare -m): a tmpfs over /dev with the
# devices the daemon needs bound from the real /dev, and a datagram socket of
# our own at /dev/log, so that what the daemon sends to syslog in the
# background is caught here and printed. Nothing outside the namespace sees
# the tmpfs or the mount.
#   background_syslog.sh DAEMON ARCHIVE MOUNTPOINT WORKDIR
set -euo pipefail
daemon="$1" archive="$2" mnt="$3" work="$4"
mount --make-rprivate /
mkdir -p "$work/realdev"
mount --bind /dev "$work/realdev"
mount -t tmpfs tmpfs /dev
for device in fuse null zero urandom random tty; do
  [ -e "$work/realdev/$device" ] || continue
  touch "/dev/$device"
  mount --bind "$work/realdev/$device" "/dev/$device"
done
python3 - "$work/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(20)
with open(sys.argv[1], "wb", buffering=0) as out:
    try:
        while True:
            out.write(s.recv(65536) + b"\n")
    except socket.timeout:
        pass
PY
listener=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
# In the background (no -f): the parent returns once mounted.
"$daemon" "$archive" "$mnt"
echo written > "$mnt/new.txt"
fusermount3 -u "$mnt"
# The daemon commits after the unmount: wait until it let go of the archive.
for _ in $(seq 100); do
  pgrep -f -x "$daemon $archive $mnt" >/dev/null || break
  sleep 0.1
done
sleep 0.5
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
cat "$work/syslog.txt"
