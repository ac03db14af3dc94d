#!/usr/bin/env bash
# run.sh: benchmarks of winrefix apply, inspect and plan on realistic sparse
# disk images, beside the reference tools and the physical limit, plus the
# Go micro-benchmarks of the parsers. Writes bench/results.md and prints it.
# See bench/README.md for what each figure means.
#
# Usage: bench/run.sh [--quick] [--runs N] [--no-micro] [--plan-only] [--case NAME]...
#   --quick     C: of 64 GiB only, one run, micro-benchmarks with -count 1
#   --case NAME only this apply case (repeatable), e.g. --case c4t-re529m
#               or --case reloc100k (a relocating case, see reloc_cases)
#   --runs N    runs per pipeline (default 3); figures are medians
#   --no-micro  skip the Go micro-benchmarks
#   --plan-only only the inspect + plan figures (no apply, no micro)
#
# Environment: BENCH_DIR (work directory, default a new temp dir, removed at
# the end unless BENCH_KEEP=1), BENCH_OUT (default bench/results.md).
#
# Needs root: the images are formatted through loop devices and the
# reference pipeline resizes volumes on loop devices (ntfsresize needs a
# device or file per volume). Page cache is dropped before every timed run.
set -euo pipefail
export LC_ALL=C TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
MiB=$((1024 * 1024))
GiB=$((1024 * MiB))

flags=${*:+ $*}
quick=0 runs=3 micro=1 apply=1 only=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--case) only+=("$2"); shift ;;
	--quick) quick=1 runs=1 ;;
	--runs) runs=$2; shift ;;
	--no-micro) micro=0 ;;
	--plan-only) apply=0 micro=0 ;;
	*) echo "usage: bench/run.sh [--quick] [--runs N] [--no-micro] [--plan-only] [--case NAME]..." >&2; exit 2 ;;
	esac
	shift
done

if [[ $(id -u) != 0 ]]; then
	echo "run.sh: needs root (loop devices for mkntfs, ntfscp and ntfsresize)" >&2
	exit 1
fi
for tool in go sgdisk sfdisk mkntfs ntfscp ntfscat ntfsresize ntfsfallocate ntfstruncate ntfsls mkfs.fat wimlib-imagex openssl jq losetup dd; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

out=${BENCH_OUT:-$here/results.md}
if [[ -n ${BENCH_DIR:-} ]]; then
	work=$BENCH_DIR
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/winrepart-bench.XXXXXX")
fi
loops=()
cleanup() {
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	[[ ${BENCH_KEEP:-0} == 1 || -n ${BENCH_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

log "work directory $work"
bin=$work/bin
rm -rf "$work/res"
mkdir -p "$bin" "$work/res"
(cd "$root" && go build -o "$bin/winrefix" ./examples/winrefix && go build -o "$bin/measure" ./bench/cmd/measure && go build -o "$bin/extents" ./bench/cmd/extents && go build -o "$bin/mkfiles" ./bench/cmd/mkfiles)

# detbytes KEY N: N deterministic pseudo-random (incompressible) bytes.
detbytes() {
	local key
	key=$(printf '%s' "$1" | sha256sum | cut -c1-32)
	{ openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true; } | head -c "$2"
}

# attach OFFSET SIZE IMG: a loop device over part of IMG, in $loop.
attach() {
	loop=$(losetup -f --show -o "$1" --sizelimit "$2" "$3")
	loops+=("$loop")
}
detach() { losetup -d "$loop"; }

# reagent_xml OFFSET GUID: ReAgent.xml as Windows writes it (CRLF).
reagent_xml() {
	local z='{00000000-0000-0000-0000-000000000000}'
	{
		echo "<?xml version='1.0' encoding='utf-8' standalone='yes'?>"
		echo '<WindowsRE version="2.0">'
		echo '<WinreBCD id="{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}"/>'
		echo "<WinreLocation path=\"\\Recovery\\WindowsRE\" id=\"0\" offset=\"$1\" guid=\"$2\"/>"
		echo "<ImageLocation path=\"\" id=\"0\" offset=\"0\" guid=\"$z\"/>"
		echo '<InstallState state="1"/>'
		echo '<WinREStaged state="0"/>'
		echo '<OsBuildVersion path="22621.1.amd64fre.ni_release.220506-1250"/>'
		echo '</WindowsRE>'
	} | sed 's/$/\r/'
}

# make_wim OUT MIB: an uncompressed WIM holding MIB MiB of random data (the
# bulk of a real winre.wim is compressed, hence incompressible, data).
make_wim() {
	local out=$1 mib=$2 d="$work/wimsrc"
	rm -rf "$d"
	mkdir -p "$d/Windows/System32" "$d/sources"
	detbytes "winload" 6144 >"$d/Windows/System32/winload.efi"
	detbytes "winre-$mib" $((mib * MiB)) >"$d/sources/boot.payload"
	wimlib-imagex capture "$d" "$out" "Microsoft Windows Recovery Environment (x64)" --compress=none >/dev/null
	rm -rf "$d"
}

# build_image IMG C_MIB RE_MIB WIM [TAIL]: a GPT disk (512-byte sectors)
# holding ESP 100 MiB, MSR 16 MiB, C: C_MIB (NTFS, mostly empty, 64 MiB of
# data near its start and ReAgent.xml), WinRE RE_MIB (NTFS holding WIM as
# \Recovery\WindowsRE\Winre.wim), 1 MiB of tail. TAIL, when not "-", is
# FILES:MIN:MAX:TAIL_MIB: FILES more files of MIN to MAX bytes go onto C:
# with everything else behind a filler, so that they fill C:'s last
# TAIL_MIB MiB or more (see fill_tail): a shrink of C: must move them.
build_image() {
	local img=$1 cmib=$2 remib=$3 wim=$4 tail=${5:--}
	local esp=2048 msr=$((2048 + 100 * 2048)) os=$((2048 + 116 * 2048))
	local re=$((os + cmib * 2048)) guid=5bc3b6ba-1e52-4b7c-9a2f-0000000000b1
	rm -f "$img"
	truncate -s $(((1 + 116 + cmib + remib + 1) * MiB)) "$img"
	sgdisk -o -U "$guid" \
		-n "1:$esp:$((msr - 1))" -t 1:EF00 -c "1:EFI system partition" -A 1:set:63 \
		-n "2:$msr:$((os - 1))" -t 2:0C01 -c "2:Microsoft reserved partition" -A 2:set:63 \
		-n "3:$os:$((re - 1))" -t 3:0700 -c "3:Basic data partition" \
		-n "4:$re:$((re + remib * 2048 - 1))" -t 4:2700 -A 4:set:0 -A 4:set:63 "$img" >/dev/null
	attach $((esp * 512)) $((100 * MiB)) "$img"
	mkfs.fat -F 32 -n SYSTEM "$loop" >/dev/null
	detach
	local t="$work/tree"
	rm -rf "$t"
	mkdir -p "$t/Windows/System32/Recovery" "$t/Users/user/Documents"
	reagent_xml $((re * 512)) "{$guid}" >"$t/Windows/System32/Recovery/ReAgent.xml"
	detbytes ntoskrnl 12288 >"$t/Windows/System32/ntoskrnl.exe"
	detbytes data $((64 * MiB)) >"$t/Users/user/Documents/data.bin"
	if [[ $tail != - ]]; then
		IFS=: read -r nfiles fmin fmax tailmib <<<"$tail"
		log "  $nfiles files of $fmin to $fmax bytes: $("$bin/mkfiles" "$t/Users/user/tail" "$nfiles" "$fmin" "$fmax" 1) bytes"
	fi
	wimlib-imagex capture "$t" "$work/tree.wim" --compress=none >/dev/null
	rm -rf "$t"
	attach $((os * 512)) $((cmib * MiB)) "$img"
	mkntfs -F -Q -q -s 512 -c 4096 -p "$os" -H 255 -S 63 -L Windows "$loop" $((cmib * 2048))
	if [[ $tail != - ]]; then
		fill_tail "$loop" $((cmib * MiB)) $((tailmib * MiB)) "$work/tree.wim"
	else
		wimlib-imagex apply "$work/tree.wim" 1 "$loop" >/dev/null
	fi
	detach
	mkdir -p "$t/Recovery/WindowsRE"
	reagent_xml $((re * 512)) "{$guid}" >"$t/Recovery/WindowsRE/ReAgent.xml"
	detbytes boot.sdi 4096 >"$t/Recovery/WindowsRE/boot.sdi"
	wimlib-imagex capture "$t" "$work/tree.wim" --compress=none >/dev/null
	attach $((re * 512)) $((remib * MiB)) "$img"
	# The boot sector's hidden-sectors field has 32 bits: past 2 TiB mkntfs
	# refuses the partition start, and the field stays 0.
	mkntfs -F -Q -q -s 512 -c 4096 -p $((re < 1 << 32 ? re : 0)) -H 255 -S 63 -L Recovery "$loop" $((remib * 2048))
	wimlib-imagex apply "$work/tree.wim" 1 "$loop" >/dev/null
	ntfscp -f -q "$loop" "$wim" /Recovery/WindowsRE/Winre.wim >/dev/null
	detach
	rm -rf "$t" "$work/tree.wim"
}

# quiet CMD...: runs CMD, showing its output (banners included) only if it fails.
quiet() {
	local out
	out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
}

# fill_tail DEV BYTES TAIL_BYTES WIM: applies WIM onto the new NTFS volume
# DEV of BYTES behind a filler, so that its files land in the last
# TAIL_BYTES or more of the volume, then frees the filler, all through
# libntfs-3g on the unmounted volume. libntfs-3g allocates data from the
# end of the MFT zone (the first eighth of the volume) upward, then wraps
# to the start: the filler (ntfsfallocate only marks its clusters) takes
# the data zone up to TAIL_BYTES + 128 MiB before the end (the slack covers
# the metadata mkntfs put there), the files go after it and what does not
# fit wraps below it, and ntfstruncate then frees the filler's clusters.
fill_tail() {
	local dev=$1 bytes=$2 tailb=$3 wim=$4 inode
	: >"$work/empty"
	ntfscp -f -q "$dev" "$work/empty" /filler >/dev/null
	quiet ntfsfallocate -f -l $((bytes - bytes / 8 - tailb - 128 * MiB)) "$dev" /filler
	wimlib-imagex apply "$wim" 1 "$dev" >/dev/null
	inode=$(ntfsls -f -i "$dev" | awk '$2 == "filler" {print $1}')
	[[ -n $inode ]] || { echo "run.sh: no /filler on the volume" >&2; exit 1; }
	quiet ntfstruncate -f "$dev" "$inode" 0
	rm -f "$work/empty"
}

# Cases: name C_MIB RE_MIB WIM_MIB MIN_FREE [TAIL] (TAIL: see build_image). A 1 GiB WinRE holding a
# 700 MiB WIM has ~320 MiB free, which meets the default 250 MiB policy,
# so those cases ask for 500 MiB free (--min-free) to make the fix grow it.
all_cases=("c64g-re529m 65536 529 420 250M" "c64g-re1g 65536 1024 700 500M"
	"c1t-re529m 1048576 529 420 250M" "c1t-re1g 1048576 1024 700 500M" "c4t-re529m 4194304 529 420 250M")
# Relocating cases (full run or --case, not --quick): C:'s tail is in use,
# so the fix moves files out of it first. reloc100k is the issue's disk:
# 32 GiB, C: holding 100,000 files of 1 to 20 KiB (~1 GiB), its last GiB
# full. reloc4t: C: 4 TiB, 2,000 files of 64 to 256 KiB (~310 MiB), its
# last 256 MiB full.
reloc_cases=("reloc100k 32121 529 420 250M 100000:1024:20480:1024" "reloc4t 4194304 529 420 250M 2000:65536:262144:256")
cases=()
plan_sizes=(65536)
if [[ ${#only[@]} -gt 0 ]]; then
	for c in "${all_cases[@]}" "${reloc_cases[@]}"; do
		for o in "${only[@]}"; do [[ ${c%% *} == "$o" ]] && cases+=("$c"); done
	done
	[[ ${#cases[@]} -gt 0 ]] || { echo "run.sh: no apply case named ${only[*]}" >&2; exit 2; }
	plan_sizes=()
elif [[ $quick == 1 ]]; then
	[[ $apply == 1 ]] && cases=("${all_cases[@]:0:2}")
else
	[[ $apply == 1 ]] && cases=("${all_cases[@]}" "${reloc_cases[@]}")
	plan_sizes+=(1048576 4194304)
fi

for w in 420 700; do
	[[ -f $work/winre-$w.wim ]] || { log "building a WIM of $w MiB of random data"; make_wim "$work/winre-$w.wim" "$w"; }
done
for c in ${cases[@]+"${cases[@]}"}; do
	read -r name cmib remib wmib minfree tail <<<"$c"
	if [[ ! -f $work/$name.img ]]; then
		log "building $name.img"
		build_image "$work/$name.img.tmp" "$cmib" "$remib" "$work/winre-$wmib.wim" "${tail:--}"
		mv "$work/$name.img.tmp" "$work/$name.img"
	fi
done

# cold: flush dirty pages and drop the page cache before a timed run.
cold() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# run_case NAME MIN_FREE RUN [TAIL]: time the three pipelines on fresh
# copies. With TAIL (a relocating case) there is no limit pipeline: the
# copy no fix can avoid also holds the files moved out of C:, which only
# the plan knows; the plan's moved bytes and files are recorded instead.
run_case() {
	local name=$1 minfree=$2 run=$3 tail=${4:--} base="$work/$name.img" img="$work/run.img" plan="$work/$name.plan.json"
	"$bin/winrefix" plan --json --min-free "$minfree" "$base" >"$plan"
	local used from to pipelines="apply reference limit"
	if [[ $tail != - ]]; then
		pipelines="apply reference"
		jq -r '[.steps[] | select(.kind == "shrink-filesystem")][0] | "\(.movedBytes // 0) \(.movedFiles // 0)"' "$plan" >"$work/res/$name.moved"
		read -r mb mf <"$work/res/$name.moved"
		((mb > 0)) || { echo "run.sh: the plan of $name moves nothing out of C:'s tail" >&2; exit 1; }
	fi
	used=$(jq -r --argjson n "$(jq '.winre.partition' "$plan")" '.before[] | select(.number == $n) | .filesystem.usedBytes' "$plan")
	from=$(jq -r '[.steps[] | select(.kind == "copy-data")][0].from' "$plan")
	to=$(jq -r '[.steps[] | select(.kind == "copy-data")][0].offset' "$plan")
	echo "$used" >"$work/res/$name.used"
	# The clusters WinRE's NTFS uses, as byte ranges of the image.
	local re_size
	re_size=$(jq -r --argjson n "$(jq '.winre.partition' "$plan")" '.before[] | select(.number == $n) | .sizeBytes' "$plan")
	"$bin/extents" "$base" "$from" "$re_size" >"$work/$name.extents"
	awk -v u="$used" '{s += $2} END {if (s != u) {print "run.sh: extents sum to " s ", used is " u > "/dev/stderr"; exit 1}}' "$work/$name.extents"
	for p in $pipelines; do
		cp --sparse=always "$base" "$img"
		rm -f "$img.winrepart-journal"
		cold
		local r="$work/res/$name.$p"
		case $p in
		apply) "$bin/measure" -o "$r" "$bin/winrefix" apply --yes --min-free "$minfree" "$img" >/dev/null 2>"$work/apply.err" ||
			{ cat "$work/apply.err" >&2; exit 1; } ;;
		reference) "$bin/measure" -o "$r" bash "$here/reference.sh" "$img" "$plan" ;;
		limit) "$bin/measure" -o "$r" bash -c 'while read -r off len; do
				dd if="$1" of="$1" bs=4M iflag=skip_bytes,count_bytes oflag=seek_bytes \
					skip="$off" seek=$((off - $2 + $3)) count="$len" conv=notrunc status=none || exit 1
			done <"$4" && sync "$1"' limit "$img" "$from" "$to" "$work/$name.extents" ;;
		esac
		if [[ $p != limit ]] && ! "$bin/winrefix" plan --min-free "$minfree" "$img" | head -1 | grep -q 'nothing to do'; then
			echo "run.sh: $p on $name did not fix the image:" >&2
			"$bin/winrefix" plan --min-free "$minfree" "$img" >&2
			exit 1
		fi
		log "$name run $run $p: $(tail -1 "$r")"
	done
	rm -f "$img"
}

for ((run = 1; run <= runs; run++)); do
	for c in ${cases[@]+"${cases[@]}"}; do
		read -r name cmib remib wmib minfree tail <<<"$c"
		run_case "$name" "$minfree" "$run" "${tail:--}"
	done
done

# Inspect + plan: the CLI on images of each size (built without the random
# data: only metadata is read).
rm -f "$work/plan-images"
for cmib in ${plan_sizes[@]+"${plan_sizes[@]}"}; do
	name=plan-$((cmib / 1024))g img="$work/$name.img"
	if [[ ! -f $img ]]; then
		log "building $name.img"
		build_image "$img" "$cmib" 529 "$work/winre-420.wim"
	fi
	echo "$img" >>"$work/plan-images"
	for ((run = 1; run <= runs; run++)); do
		cold
		"$bin/measure" -o "$work/res/$name.cli" "$bin/winrefix" plan "$img" >/dev/null
	done
	log "$name plan: $(tail -1 "$work/res/$name.cli")"
done

# The counting-ReaderAt benchmark (bench_test.go) over the same images.
if [[ ${#plan_sizes[@]} -gt 0 ]]; then
	log "go test -bench InspectPlan"
	(cd "$root" && WINREPART_BENCH_IMAGES="$(paste -sd, "$work/plan-images")" \
		go test -run '^$' -bench '^Benchmark(InspectPlan|BitmapTail)$' -benchmem -count "$runs" -benchtime 20x ./bench) >"$work/inspect.bench"
fi

if [[ $micro == 1 ]]; then
	log "micro-benchmarks"
	count=6
	[[ $quick == 1 ]] && count=1
	(cd "$root" && go test -run '^$' -bench '^Benchmark(Read|ReadGoDiskfs|Verify|ParseReAgent|PatchLocation|ParseWIMHeader|ReadXML|OpenLookup|LookupMany|NTFSBootSector|NTFSRecord)$' \
		-benchmem -count "$count" -benchtime 0.3s ./gpt ./mbr ./winre ./recovery/ntfs ./bench) >"$work/micro.bench"
fi

# ---- report ----
# median FILE KEY: the median of KEY=value over the lines of FILE.
median() {
	grep -o "$2=[0-9]*" "$1" | cut -d= -f2 | sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
fmt_s() { awk -v n="$1" 'BEGIN {printf "%.2f", n / 1e9}'; }
fmt_ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1e6}'; }
fmt_mib() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1048576}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

{
	echo "# winrepart benchmarks"
	echo
	echo "Generated by \`bench/run.sh$flags\` on $(date -u +%Y-%m-%d), $(nproc) CPUs,"
	echo "$(uname -sr), $(go version | cut -d' ' -f3), file system $(stat -f -c %T "$work") under the images."
	echo "Medians of $runs run(s); the page cache was dropped (sync; echo 3 > /proc/sys/vm/drop_caches)"
	echo "before every timed run. Bytes: rchar/wchar (read/write calls, cache hits included) and, in"
	echo "brackets, read_bytes/write_bytes (block layer) from /proc/PID/io of the whole process tree."
	echo
	if [[ $apply == 1 ]]; then
	echo "## Apply vs the reference tools vs one sequential copy"
	echo
	echo "| image | pipeline | wall s | read MiB | written MiB | peak RSS MiB | vs reference | vs limit |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for c in ${cases[@]+"${cases[@]}"}; do
		read -r name cmib remib wmib minfree tail <<<"$c"
		ref=$(median "$work/res/$name.reference" wall_ns)
		lim=0 pipelines="apply reference" what="WIM $wmib MiB, WinRE used $(fmt_mib "$(cat "$work/res/$name.used")") MiB"
		if [[ ${tail:--} == - ]]; then
			lim=$(median "$work/res/$name.limit" wall_ns) pipelines="apply reference limit"
		else
			read -r mb mf <"$work/res/$name.moved"
			what="$what, moves $(fmt_mib "$mb") MiB of $mf files out of C:"
		fi
		for p in $pipelines; do
			f="$work/res/$name.$p"
			wall=$(median "$f" wall_ns)
			echo "| $name ($what) | $p | $(fmt_s "$wall") |" \
				"$(fmt_mib "$(median "$f" rchar)") ($(fmt_mib "$(median "$f" read_bytes)")) |" \
				"$(fmt_mib "$(median "$f" wchar)") ($(fmt_mib "$(median "$f" write_bytes)")) |" \
				"$(awk -v k="$(median "$f" maxrss_kib)" 'BEGIN {printf "%.1f", k / 1024}') |" \
				"$(ratio "$wall" "$ref") | $(ratio "$wall" "$lim") |"
		done
	done
	echo
	fi
	if [[ ${#plan_sizes[@]} -gt 0 ]]; then
		echo "## winrefix plan (inspect + plan, cold cache)"
		echo
		echo "| image | wall ms | read MiB (rchar) | block reads MiB | peak RSS MiB |"
		echo "|---|---:|---:|---:|---:|"
		for cmib in "${plan_sizes[@]}"; do
			f="$work/res/plan-$((cmib / 1024))g.cli"
			echo "| C: $((cmib / 1024)) GiB | $(fmt_ms "$(median "$f" wall_ns)") | $(fmt_mib "$(median "$f" rchar)") |" \
				"$(fmt_mib "$(median "$f" read_bytes)") | $(awk -v k="$(median "$f" maxrss_kib)" 'BEGIN {printf "%.1f", k / 1024}') |"
		done
		echo
		echo "## recovery.Inspect + planner.New, and one scan of the bitmap tail, through a counting ReaderAt (warm cache)"
		echo
		echo '```'
		grep -E '^Benchmark' "$work/inspect.bench"
		echo '```'
	fi
	if [[ $micro == 1 ]]; then
		echo
		echo "## Parser micro-benchmarks"
		echo
		echo '```'
		if command -v benchstat >/dev/null; then (cd "$work" && benchstat micro.bench); else grep -E '^(Benchmark|goos|cpu|pkg)' "$work/micro.bench"; fi
		echo '```'
	fi
} >"$out"
cat "$out"
