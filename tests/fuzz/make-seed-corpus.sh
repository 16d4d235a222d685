#!/usr/bin/env bash
# Writes the seed corpus of the fuzz targets into OUT_DIR: small archives as
# 7zz writes them in several modes and as sevenzfs-pack writes them, plus each
# one's bare header (the bytes the start header points at), which the header
# parser target parses directly, free of CRCs.
#   make-seed-corpus.sh PATH/TO/sevenzfs-pack OUT_DIR
set -euo pipefail
pack=$(realpath "$1")
out=$(realpath -m "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

mkdir -p "$work/src/dir/sub" "$work/src/empty-dir"
printf 'hello\nworld\nhello\n' >"$work/src/a.txt"
printf 'second file, in a directory\n' >"$work/src/dir/b.txt"
head -c 600 /usr/bin/env >"$work/src/dir/sub/prefix.bin"  # the start of an ELF executable
: >"$work/src/empty"
ln -s a.txt "$work/src/link"
touch -d '2024-01-02 03:04:05' "$work/src" "$work/src"/* "$work/src/dir"/*

seven_zip() {  # NAME SWITCHES...
  local name=$1
  shift
  (cd "$work" && 7zz a -bso0 -bsp0 -snl "$@" "$out/$name.7z" src)
}
seven_zip 7zz-default
seven_zip 7zz-plain-header -mhc=off
seven_zip 7zz-not-solid -mhc=off -ms=off
seven_zip 7zz-store -mx=0 -mhc=off
seven_zip 7zz-bcj-lzma2 -m0=BCJ -m1=LZMA2 -mhc=off
seven_zip 7zz-bcj2 -mx=9 -mf=BCJ2 -mhc=off
seven_zip 7zz-ppmd -m0=PPMd -mhc=off
seven_zip 7zz-all-times -mtc=on -mta=on -mhc=off
seven_zip 7zz-encrypted-header -pseed -mhe=on
printf 'from standard input\n' | 7zz a -bso0 -bsp0 -si "$out/7zz-nameless.7z"
for mode in solid batched hybrid; do
  "$pack" --mode "$mode" --hybrid-threshold 16 "$out/sevenzfs-$mode.7z" "$work/src" >/dev/null
done
"$pack" --level 0 "$out/sevenzfs-stored.7z" "$work/src" >/dev/null
mkdir "$work/nothing"
"$pack" "$out/sevenzfs-empty.7z" "$work/nothing/." >/dev/null

# Bare headers: NextHeaderOffset and NextHeaderSize are bytes 12-19 and 20-27.
for archive in "$out"/*.7z; do
  read -r offset size < <(od -An -tu8 -j12 -N16 "$archive" | tr -s ' ' | sed 's/^ //')
  if [ "$size" -gt 0 ]; then
    tail -c +$((32 + offset + 1)) "$archive" | head -c "$size" >"${archive%.7z}.header"
  fi
done
echo "seed corpus: $(find "$out" -type f | wc -l) files in $out" >&2
