#!/usr/bin/env bash
# generate.sh builds the Windows disk-image fixtures in this directory with
# the reference tools (sgdisk, sfdisk, mkntfs, ntfscp, mkfs.fat,
# wimlib-imagex), packs each one with internal/cmd/sparseimg into
# <name>.img.sgz and writes the golden outputs of sfdisk --json and sgdisk -v
# into golden/. See README.md for what each fixture holds.
#
# Usage: testdata/generate.sh (as root) [fixture-name...]   (default: all)
#
# Needs root only for the 4Kn fixture (a loop device with 4096-byte sectors
# for sgdisk and sfdisk). Every GUID, disk signature, volume serial and FAT
# volume id is fixed; mkntfs -T and mkfs.fat --invariant fix most
# timestamps. Re-running it rewrites the same images (NTFS metadata written
# by ntfs-3g may still differ in a few random fields, see README.md).
set -euo pipefail
export LC_ALL=C TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
samples=${WINREPART_SAMPLES:-$root/../shared/samples}
MiB=$((1024 * 1024))

for tool in sgdisk sfdisk mkntfs ntfscp ntfsls mkfs.fat wimlib-imagex openssl xz go losetup; do
	command -v "$tool" >/dev/null || { echo "generate.sh: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/winrepart-fixtures.XXXXXX")
loops=()
cleanup() {
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

sparseimg="$work/sparseimg"
(cd "$root" && go build -o "$sparseimg" ./internal/cmd/sparseimg)

# Fixed timestamps for captured files (2023-10-31 12:00 UTC).
stamp=202310311200

# detbytes KEY N: N deterministic pseudo-random bytes derived from KEY.
detbytes() {
	local key
	key=$(printf '%s' "$1" | sha256sum | cut -c1-32)
	{ openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true; } | head -c "$2"
}

# GUIDs: disk N -> 5bc3b6ba-1e52-4b7c-9a2f-0000000000NN,
# partition P of fixture N -> a1b2c3d4-NNPP-4e5f-8a9b-0c1d2e3f4a5b.
disk_guid() { printf '5bc3b6ba-1e52-4b7c-9a2f-0000000000%02d' "$1"; }
part_guid() { printf 'a1b2c3d4-%02d%02d-4e5f-8a9b-0c1d2e3f4a5b' "$1" "$2"; }

# reagent_xml OFFSET GUID ID STATE PATH: ReAgent.xml as Windows writes it
# (UTF-8 without BOM, CRLF line ends).
reagent_xml() {
	local offset=$1 guid=$2 id=$3 state=$4 path=$5
	local z='{00000000-0000-0000-0000-000000000000}'
	{
		echo "<?xml version='1.0' encoding='utf-8' standalone='yes'?>"
		echo '<WindowsRE version="2.0">'
		echo '<WinreBCD id="{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}"/>'
		echo "<WinreLocation path=\"$path\" id=\"$id\" offset=\"$offset\" guid=\"$guid\"/>"
		echo "<ImageLocation path=\"\" id=\"0\" offset=\"0\" guid=\"$z\"/>"
		echo "<PBRImageLocation path=\"\" id=\"0\" offset=\"0\" guid=\"$z\" index=\"0\"/>"
		echo "<PBRCustomImageLocation path=\"\" id=\"0\" offset=\"0\" guid=\"$z\" index=\"0\"/>"
		echo "<InstallState state=\"$state\"/>"
		echo '<OsInstallAvailable state="0"/>'
		echo '<CustomImageAvailable state="0"/>'
		echo '<IsAutoRepairOn state="1"/>'
		echo '<WinREStaged state="0"/>'
		echo '<OperationParam path=""/>'
		echo '<OperationPermanent state="0"/>'
		echo '<OsBuildVersion path="22621.1.amd64fre.ni_release.220506-1250"/>'
		echo '<OemTool state="0"/>'
		echo '<IsServer state="0"/>'
		echo "<DownlevelWinreLocation path=\"\" offset=\"0\" guid=\"$z\" id=\"0\"/>"
		echo '<IsWimBoot state="0"/>'
		echo '<NarratorScheduled state="0"/>'
		echo '<ScheduledOperation state="5"/>'
		echo '</WindowsRE>'
	} | sed 's/$/\r/'
}

# make_wim OUT PAD_MIB BUILD: a real WIM whose one image holds a few small
# files and a zero-filled file of PAD_MIB MiB (the bulk of a real winre.wim,
# kept as zeros so fixtures pack small).
make_wim() {
	local out=$1 pad=$2 build=$3
	local d="$work/wimsrc.$build"
	rm -rf "$d"
	mkdir -p "$d/Windows/System32/config" "$d/Windows/System32/Recovery" "$d/sources"
	detbytes "winload-$build" 6144 >"$d/Windows/System32/winload.efi"
	{ printf 'regf'; detbytes "winre-system-$build" 4092; } >"$d/Windows/System32/config/SYSTEM"
	printf 'Windows Recovery Environment %s\r\n' "$build" >"$d/Windows/System32/Recovery/version.txt"
	truncate -s $((pad * MiB)) "$d/sources/recovery.pad"
	find "$d" -exec touch -h -t "$stamp" {} +
	wimlib-imagex capture "$d" "$out" "Microsoft Windows Recovery Environment (x64)" \
		"Windows RE $build" --compress=none >/dev/null
	rm -rf "$d"
}

# serial_ntfs VOL HEX16: set the NTFS volume serial number (boot sector
# offset 0x48, little-endian) in the boot sector and its backup (the last
# sector of the partition).
serial_ntfs() {
	local vol=$1 hex=$2 ss=$3 size le
	size=$(stat -c %s "$vol")
	le=$(echo "$hex" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "\\x%s", $i}')
	printf "$le" | dd of="$vol" bs=1 seek=72 conv=notrunc status=none
	printf "$le" | dd of="$vol" bs=1 seek=$((size - ss + 72)) conv=notrunc status=none
}

# ntfs_volume OUT SIZE_MIB SECTOR START_LBA LABEL SERIAL TREE [BIGFILE DEST]:
# format an NTFS volume image the size of its partition, apply the
# directory TREE into it with wimlib (times, names and attributes kept),
# and optionally copy one big file into it with ntfscp.
ntfs_volume() {
	local out=$1 mib=$2 ss=$3 start=$4 label=$5 serial=$6 tree=$7
	rm -f "$out"
	truncate -s $((mib * MiB)) "$out"
	mkntfs -F -Q -T -q -s "$ss" -c 4096 -p "$start" -H 255 -S 63 -L "$label" "$out" $((mib * MiB / ss))
	serial_ntfs "$out" "$serial" "$ss"
	if [[ -n $tree ]]; then
		find "$tree" -exec touch -h -t "$stamp" {} +
		wimlib-imagex capture "$tree" "$work/tree.wim" --compress=none >/dev/null
		wimlib-imagex apply "$work/tree.wim" 1 "$out" >/dev/null
		rm -f "$work/tree.wim"
	fi
	if [[ $# -ge 9 ]]; then
		ntfscp -f -q "$out" "$8" "$9" >/dev/null
	fi
}

# tree_os DIR REAGENT [extra]: the C: volume's content.
tree_os() {
	local d=$1 reagent=$2
	rm -rf "$d"
	mkdir -p "$d/Windows/System32/config" "$d/Windows/System32/Recovery" "$d/Users/user/Documents"
	detbytes ntoskrnl 12288 >"$d/Windows/System32/ntoskrnl.exe"
	detbytes hal 4096 >"$d/Windows/System32/hal.dll"
	{ printf 'regf'; detbytes system-hive 8188; } >"$d/Windows/System32/config/SYSTEM"
	printf '%s' "$reagent" >"$d/Windows/System32/Recovery/ReAgent.xml"
	printf 'Shopping list\r\nmilk\r\nbread\r\n' >"$d/Users/user/Documents/notes.txt"
	printf 'Quarterly report draft\r\n' >"$d/Users/user/Documents/report.txt"
	detbytes photo 20000 >"$d/Users/user/Documents/photo.jpg"
}

# tree_winre DIR REAGENT: the WinRE volume's content except winre.wim.
tree_winre() {
	local d=$1 reagent=$2
	rm -rf "$d"
	mkdir -p "$d/Recovery/WindowsRE"
	printf '%s' "$reagent" >"$d/Recovery/WindowsRE/ReAgent.xml"
	detbytes boot.sdi 4096 >"$d/Recovery/WindowsRE/boot.sdi"
}

# place VOL DISK OFFSET_BYTES: copy a volume image into the disk image,
# keeping holes.
place() {
	dd if="$1" of="$2" bs=1M seek=$(($3 / MiB)) conv=notrunc,sparse status=none
	rm -f "$1"
}

# esp DISK OFFSET MIB SECTOR ID: a FAT32 ESP. Without mtools the BCD
# placeholder cannot be written; see README.md.
esp() {
	local disk=$1 off=$2 mib=$3 ss=$4 id=$5
	local v="$work/esp.vol"
	rm -f "$v"
	truncate -s $((mib * MiB)) "$v"
	mkfs.fat -F 32 -S "$ss" -n SYSTEM --invariant "$v" >/dev/null
	# --invariant fixes timestamps but also the volume id (0x1234abcd), so
	# the id goes into the boot sector (0x43) and its backup (sector 6).
	local le
	le=$(echo "$id" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "\\x%s", $i}')
	printf "$le" | dd of="$v" bs=1 seek=$((0x43)) conv=notrunc status=none
	printf "$le" | dd of="$v" bs=1 seek=$((6 * ss + 0x43)) conv=notrunc status=none
	if command -v mmd >/dev/null && command -v mcopy >/dev/null; then
		mmd -i "$v" ::/EFI ::/EFI/Microsoft ::/EFI/Microsoft/Boot
		printf 'BCD placeholder\r\n' >"$work/BCD"
		mcopy -i "$v" "$work/BCD" ::/EFI/Microsoft/Boot/BCD
	fi
	place "$v" "$disk" "$off"
}

# A GPT layout is a list of "name:sizeMiB:code:attrs:label" items; gpt_disk
# lays them out from 1 MiB, 1 MiB aligned, and records each partition's
# start LBA in START[n] (1-based) and size in MiB in SIZE[n].
declare -a START SIZE
gpt_disk() {
	local disk=$1 n=$2 ss=$3 tail_mib=$4
	shift 4
	local lba=$((MiB / ss)) i=0 args=() total_mib=1 item name mib code attrs label
	for item in "$@"; do
		IFS=: read -r name mib code attrs label <<<"$item"
		total_mib=$((total_mib + mib))
	done
	total_mib=$((total_mib + tail_mib))
	rm -f "$disk"
	truncate -s $((total_mib * MiB)) "$disk"
	args=(-o -U "$(disk_guid "$n")")
	for item in "$@"; do
		IFS=: read -r name mib code attrs label <<<"$item"
		i=$((i + 1))
		START[i]=$lba
		SIZE[i]=$mib
		args+=(-n "$i:$lba:$((lba + mib * MiB / ss - 1))" -t "$i:$code" -u "$i:$(part_guid "$n" "$i")")
		[[ -n $label ]] && args+=(-c "$i:$label")
		for bit in $attrs; do args+=(-A "$i:set:$bit"); done
		lba=$((lba + mib * MiB / ss))
	done
	on_device "$disk" "$ss" sgdisk "${args[@]}" >/dev/null
}

# on_device DISK SECTOR CMD ARGS...: run CMD with the disk as last argument,
# through a loop device with 4096-byte sectors when SECTOR is 4096.
on_device() {
	local disk=$1 ss=$2
	shift 2
	if [[ $ss == 512 ]]; then
		"$@" "$disk"
		return
	fi
	local l
	l=$(losetup -f --show --sector-size "$ss" "$disk")
	loops+=("$l")
	"$@" "$l" && rc=0 || rc=$?
	losetup -d "$l"
	return $rc
}

# Standard Windows partition items.
ESP_ITEM="esp:100:EF00:63:EFI system partition"
MSR_ITEM="msr:16:0C01:63:Microsoft reserved partition"
OS_ITEM="os:3072:0700::Basic data partition"
WINRE_ITEM="winre:529:2700:0 63:"

wim_new="$work/winre-22621.wim" # 420 MiB padding: the KB5034441 case in 529 MiB
wim_old="$work/winre-19041.wim" # an older, smaller winre.wim

# windows_gpt NAME N SECTOR WINRE_INDEX OPTIONS ITEMS...: build a GPT
# Windows disk. OPTIONS is a comma list: hiber, bitlocker, disabled, hybrid,
# grow=<MiB>, tail=<MiB>. Items named "oldre" get the older WIM.
windows_gpt() {
	local name=$1 n=$2 ss=$3 winre=$4 opts=$5
	shift 5
	local disk="$work/$name.img" tail=1 i item pname mib code attrs label
	[[ $opts =~ tail=([0-9]+) ]] && tail=${BASH_REMATCH[1]}
	gpt_disk "$disk" "$n" "$ss" "$tail" "$@"
	local guid="{$(disk_guid "$n")}" reagent
	if [[ $opts == *disabled* ]]; then
		reagent=$(reagent_xml 0 '{00000000-0000-0000-0000-000000000000}' 0 0 "")
	else
		reagent=$(reagent_xml $((START[winre] * ss)) "$guid" 0 1 '\Recovery\WindowsRE')
	fi
	i=0
	for item in "$@"; do
		IFS=: read -r pname mib code attrs label <<<"$item"
		i=$((i + 1))
		local off=$((START[i] * ss)) serial
		serial=$(printf '%02d%02d1e5cafe0c0de' "$n" "$i")
		case $pname in
		esp) esp "$disk" "$off" "$mib" "$ss" "$(printf '1a2b%02d%02d' "$n" "$i")" ;;
		os)
			if [[ $opts == *bitlocker* ]]; then
				xz -dc "$samples/bitlocker-windows.img.xz" |
					dd of="$disk" bs=1M seek=$((off / MiB)) conv=notrunc,sparse status=none
				continue
			fi
			tree_os "$work/os" "$reagent"
			if [[ $opts == *disabled* ]]; then
				ntfs_volume "$work/os.vol" "$mib" "$ss" "${START[i]}" Windows "$serial" "$work/os" \
					"$wim_new" /Windows/System32/Recovery/Winre.wim
			else
				ntfs_volume "$work/os.vol" "$mib" "$ss" "${START[i]}" Windows "$serial" "$work/os"
			fi
			if [[ $opts == *hiber* ]]; then
				# wimlib's default capture rules skip \hiberfil.sys: copy it in.
				{ printf 'HIBR'; detbytes hiberfil 8188; } >"$work/hiberfil.sys"
				ntfscp -f -q "$work/os.vol" "$work/hiberfil.sys" /hiberfil.sys >/dev/null
			fi
			place "$work/os.vol" "$disk" "$off"
			;;
		winre | oldre)
			local wim=$wim_new
			[[ $pname == oldre ]] && wim=$wim_old
			tree_winre "$work/re" "$reagent"
			ntfs_volume "$work/re.vol" "$mib" "$ss" "${START[i]}" Recovery "$serial" "$work/re" \
				"$wim" /Recovery/WindowsRE/Winre.wim
			place "$work/re.vol" "$disk" "$off"
			;;
		image | data)
			local t="$work/oem"
			rm -rf "$t"
			mkdir -p "$t/$label"
			printf '%s partition of %s\r\n' "$label" "$name" >"$t/$label/README.txt"
			detbytes "$name-$label" 8192 >"$t/$label/manifest.bin"
			ntfs_volume "$work/oem.vol" "$mib" "$ss" "${START[i]}" "$label" "$serial" "$t"
			place "$work/oem.vol" "$disk" "$off"
			;;
		esac
	done
	if [[ $opts == *hybrid* ]]; then
		sgdisk -h 3:EE "$disk" >/dev/null
	fi
	if [[ $opts =~ grow=([0-9]+) ]]; then
		truncate -s +$((BASH_REMATCH[1] * MiB)) "$disk"
	fi
	finish "$name" "$ss" gpt
}

# windows_mbr NAME N SIGNATURE WINRE_INDEX SFDISK_LINES ITEMS...: build an
# MBR Windows disk from an sfdisk script; ITEMS name each partition's
# content by number ("1:sysres:100" ...).
windows_mbr() {
	local name=$1 n=$2 sig=$3 winre=$4 script=$5 size_mib=$6
	shift 6
	local disk="$work/$name.img" item num role mib
	rm -f "$disk"
	truncate -s $((size_mib * MiB)) "$disk"
	printf 'label: dos\nlabel-id: %s\nunit: sectors\n\n%s\n' "$sig" "$script" | sfdisk -q "$disk"
	local reagent off
	off=$(sfdisk --json "$disk" | awk -v want="${disk}$winre" '$0 ~ "\"node\": \"" want "\"" {f=1} f && /"start"/ {gsub(/[^0-9]/, ""); print; exit}')
	reagent=$(reagent_xml $((off * 512)) '{00000000-0000-0000-0000-000000000000}' $((sig)) 1 '\Recovery\WindowsRE')
	for item in "$@"; do
		IFS=: read -r num role <<<"$item"
		local start size serial
		read -r start size < <(sfdisk --json "$disk" | awk -v want="${disk}$num" '
			$0 ~ "\"node\": \"" want "\"" {f=1}
			f && /"start"/ {gsub(/[^0-9]/, ""); s=$0}
			f && /"size"/ {gsub(/[^0-9]/, ""); print s, $0; exit}')
		mib=$((size * 512 / MiB))
		serial=$(printf '%02d%02d1e5cafe0c0de' "$n" "$num")
		case $role in
		sysres)
			local t="$work/sr"
			rm -rf "$t"
			mkdir -p "$t/Boot"
			detbytes "bootmgr-$name" 8192 >"$t/bootmgr"
			printf 'BCD placeholder\r\n' >"$t/Boot/BCD"
			ntfs_volume "$work/v" "$mib" 512 "$start" "System Reserved" "$serial" "$t"
			;;
		os)
			tree_os "$work/os" "$reagent"
			ntfs_volume "$work/v" "$mib" 512 "$start" Windows "$serial" "$work/os"
			;;
		winre)
			tree_winre "$work/re" "$reagent"
			ntfs_volume "$work/v" "$mib" 512 "$start" Recovery "$serial" "$work/re" \
				"$wim_new" /Recovery/WindowsRE/Winre.wim
			;;
		data)
			local t="$work/data"
			rm -rf "$t"
			mkdir -p "$t/Data"
			printf 'data volume %s of %s\r\n' "$num" "$name" >"$t/Data/README.txt"
			ntfs_volume "$work/v" "$mib" 512 "$start" Data "$serial" "$t"
			;;
		esac
		place "$work/v" "$disk" $((start * 512))
	done
	finish "$name" 512 mbr
}

# finish NAME SECTOR SCHEME: pack the image and write its goldens. The
# device path in sfdisk's JSON is replaced by NAME.img.
finish() {
	local name=$1 ss=$2 scheme=$3
	local disk="$work/$1.img"
	(
		cd "$work"
		if [[ $ss == 512 ]]; then
			sfdisk --json "$name.img" 2>/dev/null >"$here/golden/$name.sfdisk.json"
			if [[ $scheme == gpt ]]; then
				sgdisk -v "$name.img" >"$here/golden/$name.sgdisk-v.txt" 2>&1
			fi
		else
			local l
			l=$(losetup -f --show --sector-size "$ss" "$name.img")
			loops+=("$l")
			sfdisk --json "$l" 2>/dev/null | sed "s#$l#$name.img#g" >"$here/golden/$name.sfdisk.json"
			sgdisk -v "$l" 2>&1 | sed "s#$l#$name.img#g" >"$here/golden/$name.sgdisk-v.txt"
			losetup -d "$l"
		fi
	)
	"$sparseimg" pack "$disk" "$here/$name.img.sgz"
	printf '%-24s %6d MiB -> %7d bytes packed\n' "$name" $(($(stat -c %s "$disk") / MiB)) "$(stat -c %s "$here/$name.img.sgz")"
	rm -f "$disk"
}

want() { [[ ${#selected[@]} -eq 0 ]] || [[ " ${selected[*]} " == *" $1 "* ]]; }
selected=("$@")
mkdir -p "$here/golden"

make_wim "$wim_new" 420 22621
make_wim "$wim_old" 250 19041

# 1-2: Microsoft's recommended layout; WinRE too small, then large enough.
want gpt-win11-standard &&
	windows_gpt gpt-win11-standard 1 512 4 "" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
want gpt-win11-compliant &&
	windows_gpt gpt-win11-compliant 2 512 4 "" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "winre:1024:2700:0 63:"
# 3: Windows 10 <= 1909 clean install, recovery first.
want gpt-win10-winre-first &&
	windows_gpt gpt-win10-winre-first 3 512 1 "" "winre:529:2700:0 63:Basic data partition" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM"
# 4: an old recovery partition first and the active WinRE after C:.
want gpt-two-recovery &&
	windows_gpt gpt-two-recovery 4 512 5 "" "oldre:529:2700:0 63:Basic data partition" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 5: OEM image and support partitions after WinRE.
want gpt-oem-after-winre &&
	windows_gpt gpt-oem-after-winre 5 512 4 "" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM" \
		"image:3072:2700:0 63:Image" "data:256:0700::DELLSUPPORT"
# 6: fixture 1 on a disk grown by 2 GiB; the backup GPT is not at the end.
want gpt-grown &&
	windows_gpt gpt-grown 6 512 4 "grow=2048" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 7: fixture 1 on 4096-byte sectors, ESP 260 MiB.
want gpt-4kn-standard &&
	windows_gpt gpt-4kn-standard 7 4096 4 "" "esp:260:EF00:63:EFI system partition" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 8: BIOS: System Reserved (active), C:, recovery 0x27.
want mbr-sysreserved &&
	windows_mbr mbr-sysreserved 8 0x1f2e3d08 3 "start=2048, size=204800, type=7, bootable
start=206848, size=6291456, type=7
start=6498304, size=1083392, type=27" 3703 1:sysres 2:os 3:winre
# 9: primary C: and an extended partition with three logical ones.
want mbr-extended-logical &&
	windows_mbr mbr-extended-logical 9 0x1f2e3d09 6 "start=2048, size=6291456, type=7, bootable
start=6293504, size=1667072, type=f
start=6295552, size=262144, type=7
start=6559744, size=1083392, type=27
start=7645184, size=313344, type=7" 3888 1:os 5:data 6:winre 7:data
# 10: fixture 1 with a hybrid MBR (C: mirrored in the MBR after the 0xEE entry).
want gpt-hybrid &&
	windows_gpt gpt-hybrid 10 512 4 "hybrid" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 11: C: hibernated (hiberfil.sys starts with HIBR).
want gpt-hibernated &&
	windows_gpt gpt-hibernated 11 512 4 "hiber" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 12: C: encrypted with BitLocker (the Windows-made sample at its start).
want gpt-bitlocker-os &&
	windows_gpt gpt-bitlocker-os 12 512 4 "bitlocker" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM" "$WINRE_ITEM"
# 13: no WinRE partition; WinRE disabled, winre.wim on C:.
want gpt-winre-disabled &&
	windows_gpt gpt-winre-disabled 13 512 0 "disabled" "$ESP_ITEM" "$MSR_ITEM" "$OS_ITEM"
exit 0
