#!/usr/bin/env bash
# Installs the Debian 12 packages sevenzfs needs to build, test and benchmark.
# Idempotent: only missing packages are installed.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  liblzma-dev libfuse3-dev fuse3 libboost-dev libfmt-dev libgtest-dev
  7zip libarchive-tools python3-py7zr attr bindfs fuse-zip bc time util-linux rsync tar
  python3-prometheus-client systemd groff-base dpkg-dev
  # C libraries of other architectures: real code for the branch-filter read tests
  libc6-arm64-cross libc6-armhf-cross libc6-powerpc-cross libc6-sparc64-cross libc6-riscv64-cross
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages and not root; run as root or install them: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
