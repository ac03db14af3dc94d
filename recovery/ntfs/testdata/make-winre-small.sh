#!/bin/sh
# Regenerates winre-small.img.xz: a 2 MiB NTFS volume (512-byte sectors,
# 4 KiB clusters, label "WinRE") holding \Recovery\WindowsRE\ReAgent.xml.
# Needs mkntfs (ntfs-3g), wimlib-imagex and xz. mkntfs picks a random
# serial number and the current time, so the bytes differ between runs;
# the tests and examples only rely on what is listed in README.md.
set -eu
out=$(cd "$(dirname "$0")" && pwd)/winre-small.img.xz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
truncate -s 2M "$tmp/vol.img"
mkntfs -F -Q -s 512 -c 4096 -L WinRE "$tmp/vol.img" >/dev/null 2>&1
mkdir -p "$tmp/tree/Recovery/WindowsRE"
printf '%s\n' '<?xml version="1.0" encoding="utf-8"?>' \
  '<WindowsRE version="2.0"><WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{00000000-0000-0000-0000-000000000000}"/></WindowsRE>' \
  > "$tmp/tree/Recovery/WindowsRE/ReAgent.xml"
wimlib-imagex capture "$tmp/tree" "$tmp/tree.wim" >/dev/null
wimlib-imagex apply "$tmp/tree.wim" 1 "$tmp/vol.img" >/dev/null
xz -9 -c "$tmp/vol.img" > "$out"
