#!/usr/bin/env bash
# reference.sh IMG PLAN_JSON: the fix winrefix would apply, done with the
# reference tools instead, for bench/run.sh to time beside winrefix apply.
# It reads the geometry from the plan (winrefix plan --json) so both
# pipelines produce the same layout:
#   1. ntfsresize shrinks the NTFS volume of C: (loop device over C:);
#   2. dd moves the whole WinRE partition to its new start (4 MiB blocks);
#   3. dd sets the moved boot sector's hidden-sectors field (ntfsresize
#      does not; winrefix does);
#   4. sfdisk rewrites the partition table (C: ends earlier, WinRE starts
#      earlier and ends later);
#   5. ntfsresize grows WinRE's NTFS volume to its new partition;
#   6. ntfscat + sed (before step 1) and ntfscp rewrite the WinreLocation offset in
#      C:\Windows\System32\Recovery\ReAgent.xml;
#   7. sync flushes the image (winrefix apply flushes too).
# Needs root (loop devices). Only GPT plans of the shrink-os strategy with
# these steps are supported.
set -euo pipefail
export LC_ALL=C
img=$1 plan=$2
ss=$(jq -r '.preconditions[] | select(.kind == "sector-size") | .value' "$plan")

step() { jq -r --arg k "$1" --arg f "$2" '[.steps[] | select(.kind == $k)][0][$f]' "$plan"; }

c_part=$(step shrink-filesystem partition)
c_off=$(step shrink-filesystem offset)
c_vol=$(step shrink-filesystem sizeBytes)
c_start=$(step shrink-partition startLBA)
c_end=$(step shrink-partition endLBA)
c_old=$(jq -r --argjson n "$c_part" '.before[] | select(.number == $n) | .sizeBytes' "$plan")
re_part=$(step copy-data partition)
re_from=$(step copy-data from)
re_to=$(step copy-data offset)
re_len=$(step copy-data sizeBytes)
re_start=$(step grow-partition startLBA)
re_end=$(step grow-partition endLBA)
re_size=$(step grow-partition sizeBytes)
hidden=$(step fix-hidden-sectors hiddenSectors)
reagent=$(step patch-reagent path | tr '\\' /)

loop=""
cleanup() { [[ -n $loop ]] && losetup -d "$loop" 2>/dev/null || true; }
trap cleanup EXIT
attach() { loop=$(losetup -f --show -o "$1" --sizelimit "$2" "$img"); }
detach() { losetup -d "$loop"; loop=""; }

# 1. Shrink C:. ntfscat refuses the volume once ntfsresize has marked it
# dirty, so ReAgent.xml is read (and patched) first.
attach "$c_off" "$c_old"
tmp=$(mktemp)
ntfscat "$loop" "$reagent" | sed "s/\\(<WinreLocation [^>]*offset=\"\\)$re_from\"/\\1$re_to\"/" >"$tmp"
echo y | ntfsresize -f -P -s "$c_vol" "$loop" >/dev/null
detach

# 2. Move WinRE (forward copy: the target is before the source).
dd if="$img" of="$img" bs=4M iflag=skip_bytes,count_bytes oflag=seek_bytes \
	skip="$re_from" seek="$re_to" count="$re_len" conv=notrunc status=none

# 3. Hidden sectors of the moved boot sector (offset 0x1C, 32 bits
# little-endian; 0 when the start is past 2^32 sectors, as mkntfs writes it).
((hidden < 1 << 32)) || hidden=0
le=$(printf '%08x' "$hidden" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "\\x%s", $i}')
printf "$le" | dd of="$img" bs=1 seek=$((re_to + 0x1C)) conv=notrunc status=none

# 4. The partition table.
sfdisk -q -d "$img" | awk -v c="$c_part" -v r="$re_part" -v img="$img" \
	-v csize=$((c_end - c_start + 1)) -v rstart="$re_start" -v rsize=$((re_end - re_start + 1)) '
	index($0, img c " :") == 1 { sub(/size= *[0-9]+/, "size=" csize) }
	index($0, img r " :") == 1 { sub(/start= *[0-9]+/, "start=" rstart); sub(/size= *[0-9]+/, "size=" rsize) }
	{ print }' | sfdisk -q --wipe never --wipe-partitions never --no-reread --no-tell-kernel "$img" >/dev/null 2>&1

# 5. Grow WinRE's volume to its partition.
attach "$re_to" "$re_size"
echo y | ntfsresize -f -P "$loop" >/dev/null
detach

# 6. ReAgent.xml on C:.
attach "$c_off" $(((c_end - c_start + 1) * ss))
ntfscp -f -q "$loop" "$tmp" "$reagent" >/dev/null 2>&1
rm -f "$tmp"
detach

# 7. Flush.
sync "$img"
