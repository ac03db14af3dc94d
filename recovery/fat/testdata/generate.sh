#!/bin/sh
# generate.sh OUTDIR: builds the FAT test volumes with dosfstools and
# mtools (see README.md). The tests run it to compare this package with
# mtools; the committed *.img.gz are its output, compressed, and seed the
# fuzzer.
set -eu
out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0

# content NAME BYTES: a file of recognisable, position-dependent bytes.
content() {
	awk -v n="$2" -v tag="$1" 'BEGIN { s = ""; i = 0; while (length(s) < n) { s = s sprintf("%s:%07d\n", tag, i++) } printf "%s", substr(s, 1, n) }' >"$work/$1"
}

# fill IMG: the same tree on every volume.
fill() {
	img=$1
	cs=$2     # cluster size, to size the fragmented file
	fsinfo=$3 # byte offset of the FSInfo sector (FAT32), or empty
	mmd -i "$img" ::/EFI ::/EFI/Microsoft ::/EFI/Microsoft/Boot ::/EFI/Boot
	mmd -i "$img" "::/A directory with a long name"
	content BCD 20000
	mcopy -i "$img" "$work/BCD" ::/EFI/Microsoft/Boot/BCD
	content bootx64 3000
	mcopy -i "$img" "$work/bootx64" ::/EFI/Boot/BOOTX64.EFI
	: >"$work/empty"
	mcopy -i "$img" "$work/empty" ::/EMPTY.TXT
	content long 777
	mcopy -i "$img" "$work/long" "::/A directory with a long name/Ünïcode file name, quite long indeed.txt"
	content lower 10
	mcopy -i "$img" "$work/lower" ::/lower.txt
	# Fragmentation: write a, b, c; delete b; write big, which fills b's
	# hole first and continues after c.
	content a $((2 * cs))
	content b $((2 * cs))
	content c $((2 * cs))
	mcopy -i "$img" "$work/a" ::/a.bin
	mcopy -i "$img" "$work/b" ::/b.bin
	mcopy -i "$img" "$work/c" ::/c.bin
	mdel -i "$img" ::/b.bin
	if [ "$fsinfo" ]; then
		# FAT32 allocators start at the FSInfo sector's next-free hint
		# (offset 492), past the hole: point it back at cluster 2.
		printf '\002\000\000\000' | dd of="$img" bs=1 seek=$((fsinfo + 492)) conv=notrunc status=none
	fi
	content big $((5 * cs + 123))
	mcopy -i "$img" "$work/big" ::/fragmented.bin
	# A directory with more entries than one cluster holds.
	mmd -i "$img" ::/many
	i=0
	while [ $i -lt 40 ]; do
		content "f$i" $((i * 7))
		mcopy -i "$img" "$work/f$i" "::/many/file number $i with a long name.dat"
		i=$((i + 1))
	done
}

# FAT12: 1 MiB, 512-byte clusters.
truncate -s 1M "$out/fat12.img"
mkfs.fat -F 12 -s 1 -n FAT12VOL -i 12121212 --invariant "$out/fat12.img" >/dev/null
fill "$out/fat12.img" 512 ""
# FAT16: 4 MiB, 512-byte clusters (8000 clusters).
truncate -s 4M "$out/fat16.img"
mkfs.fat -F 16 -s 1 -n FAT16VOL -i 16161616 --invariant "$out/fat16.img" >/dev/null
fill "$out/fat16.img" 512 ""
# FAT32: 34 MiB, 512-byte clusters (over 65525), one FAT.
truncate -s 34M "$out/fat32.img"
mkfs.fat -F 32 -s 1 -f 1 -n FAT32VOL -i 32323232 --invariant "$out/fat32.img" >/dev/null
fill "$out/fat32.img" 512 512
