package winrepart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// This file fixes disks whose ReAgent.xml is laid out as Windows writes it
// (UTF-8 byte order mark, CRLF, two-space indentation, no spare
// whitespace), for WinRE moves whose offsets have different numbers of
// digits, in both directions: the file must take its new length, with
// only the digits changed.

// winReAgent returns ReAgent.xml as Windows writes it, pointing at offset
// on the disk guid. full gives the Windows 10/11 element set (a file of
// about 1.1 KB, non-resident in 1 KiB MFT records); otherwise the Windows
// 8.1 set (small enough to be resident).
func winReAgent(offset int64, guid string, full bool) []byte {
	const z = "{00000000-0000-0000-0000-000000000000}"
	loc := fmt.Sprintf(`  <WinreLocation path="\Recovery\WindowsRE" id="0" offset="%d" guid="{%s}"/>`, offset, guid)
	lines := []string{`<?xml version='1.0' encoding='utf-8'?>`, ``, `<WindowsRE version="2.0">`,
		`  <WinreBCD id="{ec9e2cda-63d3-11ee-bd2c-af2423a570b6}"/>`, loc}
	if full {
		lines = append(lines,
			`  <ImageLocation path="" id="0" offset="0" guid="`+z+`"/>`,
			`  <PBRImageLocation path="" id="0" offset="0" guid="`+z+`" index="0"/>`,
			`  <PBRCustomImageLocation path="" id="0" offset="0" guid="`+z+`" index="0"/>`,
			`  <InstallState state="1"/>`, `  <OsInstallAvailable state="0"/>`, `  <CustomImageAvailable state="0"/>`,
			`  <IsAutoRepairOn state="1"/>`, `  <WinREStaged state="0"/>`, `  <OperationParam path=""/>`,
			`  <OperationPermanent state="0"/>`, `  <OsBuildVersion path=""/>`, `  <OemTool state="0"/>`,
			`  <IsServer state="0"/>`, `  <DownlevelWinreLocation path="" id="0" offset="0" guid="`+z+`"/>`,
			`  <IsWimBoot state="0"/>`, `  <NarratorScheduled state="0"/>`, `  <ScheduledOperation state="4"/>`)
	} else {
		lines = append(lines,
			`  <PBRImageLocation path="" id="0" offset="0" guid="`+z+`" index="0"/>`,
			`  <InstallState state="1"/>`,
			`  <OsBuildVersion path="9600.16384.amd64fre.winblue_rtm.130821-1623"/>`)
	}
	lines = append(lines, `</WindowsRE>`)
	return append([]byte("\xEF\xBB\xBF"), strings.Join(lines, "\r\n")...)
}

// rePart is one partition of a reagentCase disk, in MiB.
type rePart struct {
	n           int
	start, size int64
	kind        string // esp, msr, os, winre
}

type reagentCase struct {
	name     string
	diskMiB  int64
	parts    []rePart
	full     bool // the Windows 10/11 ReAgent.xml (non-resident) or the short one (resident)
	strategy planner.Strategy
	from, to int // digits of the old and new offsets
}

const reagentGUID = "5bc3b6ba-1e52-4b7c-9a2f-00000000012e"

// buildReAgentDisk makes the sparse disk image of c with sgdisk, and its
// C: and WinRE volumes with mkntfs and wimlib through loop devices (the
// volumes may be larger than memory).
func buildReAgentDisk(t *testing.T, c reagentCase) string {
	t.Helper()
	testutil.NeedTool(t, "sgdisk", "mkntfs", "wimlib-imagex", "losetup")
	img := filepath.Join(t.TempDir(), c.name+".img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(c.diskMiB * miniMiB); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := []string{"-U", reagentGUID}
	var reStart int64
	for _, p := range c.parts {
		code := map[string]string{"esp": "ef00", "msr": "0c01", "os": "0700", "winre": "de94bba4-06d1-4d40-a16a-bfd50179d6ac"}[p.kind]
		args = append(args, "-n", fmt.Sprintf("%d:%d:%d", p.n, p.start*2048, (p.start+p.size)*2048-1), "-t", fmt.Sprintf("%d:%s", p.n, code))
		if p.kind == "winre" {
			args = append(args, "-A", fmt.Sprintf("%d:set:0", p.n), "-A", fmt.Sprintf("%d:set:63", p.n))
			reStart = p.start * miniMiB
		}
	}
	testutil.Run(t, "sgdisk", append(args, img)...)
	wimSrc := writeTree(t, map[string][]byte{"sources/boot.bin": detBytes(24, 4*miniMiB), "Windows/System32/winload.efi": detBytes(25, 8192)})
	wim := filepath.Join(t.TempDir(), "winre.wim")
	testutil.Run(t, "wimlib-imagex", "capture", wimSrc, wim, "Microsoft Windows Recovery Environment (x64)", "--compress=none")
	wimData, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]map[string][]byte{
		"os": {
			"Windows/System32/Recovery/ReAgent.xml": winReAgent(reStart, reagentGUID, c.full),
			"Windows/System32/ntoskrnl.exe":         detBytes(21, 300<<10),
			"Users/user/Documents/notes.txt":        []byte("meeting notes\r\n"),
		},
		"winre": {"Recovery/WindowsRE/Winre.wim": wimData, "Recovery/WindowsRE/boot.sdi": detBytes(26, 1<<20)},
	}
	for _, p := range c.parts {
		tree, ok := trees[p.kind]
		if !ok {
			continue
		}
		dev := attachLoop(t, img, 0, "-o", fmt.Sprint(p.start*miniMiB), "--sizelimit", fmt.Sprint(p.size*miniMiB))
		testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", fmt.Sprint(p.start*2048), "-L", p.kind, dev)
		tw := filepath.Join(t.TempDir(), "tree.wim")
		testutil.Run(t, "wimlib-imagex", "capture", writeTree(t, tree), tw, "--compress=none")
		testutil.Run(t, "wimlib-imagex", "apply", tw, "1", dev)
	}
	return img
}

var (
	flsReAgentRE  = regexp.MustCompile(`(?m)^\++ r/r (\d+)-128-\d+:\s+ReAgent\.xml$`)
	istatDataRE   = regexp.MustCompile(`Type: \$DATA \(128-\d+\)\s+Name: N/A\s+(Resident|Non-Resident)\s+size: (\d+)`)
	ntfsinfoDataR = regexp.MustCompile(`(?s)Dumping attribute \$DATA \(0x80\).*?\n\s*Data size:\s*(\d+)`)
)

// judgeReAgent runs the independent readers on the volume at start (bytes)
// of size bytes in img and checks that ReAgent.xml holds exactly want.
func judgeReAgent(t *testing.T, img string, start, size int64, want []byte, resident bool) {
	t.Helper()
	testutil.NeedTool(t, "ntfscat", "ntfsinfo", "ntfsfix", "ntfsresize", "fls", "icat", "istat")
	const path = "/Windows/System32/Recovery/ReAgent.xml"
	dev := attachLoop(t, img, 0, "-r", "-o", fmt.Sprint(start), "--sizelimit", fmt.Sprint(size))
	if got, err := testutil.RunErrBytes("ntfscat", "-f", dev, path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ntfscat (%v):\n got %q\nwant %q", err, got, want)
	}
	info := testutil.Run(t, "ntfsinfo", "-f", "-F", path, dev)
	if m := ntfsinfoDataR.FindStringSubmatch(info); m == nil || m[1] != fmt.Sprint(len(want)) {
		t.Errorf("ntfsinfo: $DATA size %q, want %d\n%s", m, len(want), info)
	}
	if out, err := testutil.RunErr("ntfsfix", "-n", dev); err != nil || !strings.Contains(out, "processed successfully") {
		t.Errorf("ntfsfix -n: %v\n%s", err, out)
	}
	if out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", dev); err != nil || strings.Contains(out, "ERROR") || strings.Contains(strings.ToLower(out), "inconsisten") {
		t.Errorf("ntfsresize --info: %v\n%s", err, out)
	}
	sector := fmt.Sprint(start / 512)
	fls := testutil.Run(t, "fls", "-r", "-o", sector, img)
	m := flsReAgentRE.FindStringSubmatch(fls)
	if m == nil {
		t.Fatalf("fls -r lists no ReAgent.xml:\n%s", fls)
	}
	if got, err := testutil.RunErrBytes("icat", "-o", sector, img, m[1]); err != nil || !bytes.Equal(got, want) {
		t.Errorf("icat %s (%v): %d bytes, want %d", m[1], err, len(got), len(want))
	}
	ist := testutil.Run(t, "istat", "-o", sector, img, m[1])
	if d := istatDataRE.FindStringSubmatch(ist); d == nil || d[2] != fmt.Sprint(len(want)) || (d[1] == "Resident") != resident {
		t.Errorf("istat: $DATA %q, want %d bytes, resident %v\n%s", d, len(want), resident, ist)
	}
}

func TestApplyWindowsReAgent(t *testing.T) {
	testutil.NeedRoot(t)
	esp, msr := func(n int, s int64) rePart { return rePart{n, s, 16, "esp"} }, func(n int, s int64) rePart { return rePart{n, s, 16, "msr"} }
	const tb = 960_000 // MiB: a C: ending past 10^12 bytes
	cases := []reagentCase{
		// Windows 10 <= 1909: WinRE first at 1 MiB, relocated after C:.
		{name: "7-to-10-digits", diskMiB: 1200, full: true, strategy: planner.StrategyRelocate, from: 7, to: 10,
			parts: []rePart{{1, 1, 48, "winre"}, esp(2, 49), msr(3, 65), {4, 81, 1118, "os"}}},
		{name: "7-to-10-digits-resident", diskMiB: 1200, strategy: planner.StrategyRelocate, from: 7, to: 10,
			parts: []rePart{{1, 1, 48, "winre"}, esp(2, 49), msr(3, 65), {4, 81, 1118, "os"}}},
		{name: "7-to-13-digits", diskMiB: tb + 100, full: true, strategy: planner.StrategyRelocate, from: 7, to: 13,
			parts: []rePart{{1, 1, 48, "winre"}, esp(2, 49), msr(3, 65), {4, 81, tb + 18, "os"}}},
		// WinRE after a gap, moved left into it.
		{name: "8-to-7-digits", diskMiB: 1200, full: true, strategy: planner.StrategyMoveLeft, from: 8, to: 7,
			parts: []rePart{{1, 29, 48, "winre"}, esp(2, 77), msr(3, 93), {4, 109, 1090, "os"}}},
		{name: "13-to-12-digits-resident", diskMiB: 953_743, strategy: planner.StrategyMoveLeft, from: 13, to: 12,
			parts: []rePart{esp(1, 1), msr(2, 17), {3, 33, 953_500, "os"}, {4, 953_694, 48, "winre"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := buildReAgentDisk(t, c)
			dev, err := Open(img, OpenOptions{Writable: true})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			ctx := context.Background()
			l, err := recovery.Inspect(ctx, dev, recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := l.WinRE.ReAgent
			if f == nil || f.Room.Resident == c.full {
				t.Fatalf("ReAgent.xml facts %+v, want resident %v", f, !c.full)
			}
			p := planner.New(l, planner.Options{MinFreeBytes: 60 * miniMiB})
			if p.Refused || p.Strategy != c.strategy {
				t.Fatalf("plan: want strategy %s, got:\n%s", c.strategy, p)
			}
			var step *planner.PatchReAgent
			for _, s := range p.Steps {
				if r, ok := s.(planner.PatchReAgent); ok {
					step = &r
				}
			}
			if step == nil || len(strconv.FormatInt(step.From, 10)) != c.from || len(strconv.FormatInt(step.Offset, 10)) != c.to {
				t.Fatalf("patch-reagent step %+v, want %d to %d digits\n%s", step, c.from, c.to, p)
			}
			want := winReAgent(step.Offset, reagentGUID, c.full)
			if got, err := f.Patch(uint64(step.Offset)); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("the planner's patch (%v):\n got %q\nwant %q", err, got, want)
			}
			res, err := Apply(ctx, dev, p, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "journal")})
			if err != nil {
				t.Fatalf("Apply: %v\n%s", err, p)
			}
			dev.Close()
			if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
				t.Errorf("sgdisk -v:\n%s", out)
			}
			osA := res.After.Partition(l.OS)
			judgeReAgent(t, img, osA.StartBytes(512), osA.SizeBytes, want, !c.full)
			reA := res.After.Partition(p.WinRE.Partition)
			if reA.StartBytes(512) != step.Offset || res.After.WinRE.Partition != reA.Number || res.After.WinRE.FreeBytes < 60*miniMiB {
				t.Errorf("WinRE after: %+v, %s", reA, res.After.WinRE)
			}
			rdev := attachLoop(t, img, 0, "-r", "-o", fmt.Sprint(reA.StartBytes(512)), "--sizelimit", fmt.Sprint(reA.SizeBytes))
			if out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", rdev); err != nil || strings.Contains(out, "ERROR") {
				t.Errorf("WinRE: ntfsresize --info: %v\n%s", err, out)
			}
		})
	}
}
