package planner

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/recovery"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	gptS = recovery.SchemeGPT
	mbrS = recovery.SchemeMBR
)

func esp() tpart { return tpart{start: 1, size: 100, role: recovery.RoleESP, used: 30} }
func msr() tpart { return tpart{start: 101, size: 16, role: recovery.RoleMSR} }

// win11 is the KB5028997 layout: ESP, MSR, C:, a 600 MiB WinRE with 80 MiB
// free at the end of a 64 GiB disk.
func win11() tlayout {
	return tlayout{scheme: gptS, ss: 512, diskMiB: 65536, winre: 4, wimMiB: 500, parts: []tpart{
		esp(), msr(),
		{start: 117, size: 64811, role: recovery.RoleOS, used: 30000},
		{start: 64928, size: 600, role: recovery.RoleWinRE, used: 520},
	}}
}

type planCase struct {
	name  string
	tl    tlayout
	opts  Options
	want  Strategy
	codes []Code
}

func planCases() []planCase {
	var cs []planCase
	add := func(name string, tl tlayout, opts Options, want Strategy, codes ...Code) {
		cs = append(cs, planCase{name, tl, opts, want, codes})
	}

	tl := win11()
	tl.parts[3].used = 200
	add("noop", tl, Options{}, StrategyNoop)

	add("shrink-os", win11(), Options{}, StrategyShrinkOS)

	tl = win11()
	tl.ss = 4096
	tl.parts[0].size = 260
	tl.parts[1].start = 261
	tl.parts[2].start, tl.parts[2].size = 277, 64651
	add("shrink-os-4kn", tl, Options{}, StrategyShrinkOS)

	tl = win11()
	tl.diskMiB = 65536
	tl.parts = append(tl.parts[:3:3], tpart{start: 63928, size: 600, role: recovery.RoleWinRE, used: 520}, tpart{start: 64528, size: 1000, role: recovery.RoleOEM, used: 900})
	tl.parts[2].size = 63811
	add("shrink-os-oem-after", tl, Options{}, StrategyShrinkOS)

	tl = win11()
	tl.diskMiB, tl.tableMiB = 81920, 65536
	add("grow-in-place-grown-disk", tl, Options{}, StrategyGrowInPlace)

	tl = win11()
	tl.parts[2].size = 64011 // 800 MiB free between C: and WinRE
	add("move-left", tl, Options{}, StrategyMoveLeft)

	tl = win11()
	tl.parts = []tpart{
		{start: 1, size: 529, role: recovery.RoleWinRE, used: 480},
		{start: 530, size: 100, role: recovery.RoleESP, used: 30},
		{start: 630, size: 16, role: recovery.RoleMSR},
		{start: 646, size: 64889, role: recovery.RoleOS, used: 30000},
	}
	tl.winre = 1
	tl.wimMiB = 450
	add("relocate-old-layout", tl, Options{}, StrategyRelocate)

	mbrBase := func() tlayout {
		return tlayout{scheme: mbrS, ss: 512, diskMiB: 65536, winre: 3, wimMiB: 450, parts: []tpart{
			{start: 1, size: 500, role: recovery.RoleSystem, used: 60},
			{start: 501, size: 64435, role: recovery.RoleOS, used: 25000},
			{start: 64936, size: 600, role: recovery.RoleWinRE, used: 530},
		}}
	}
	add("mbr-shrink-os-refused", mbrBase(), Options{}, StrategyShrinkOS, CodeBCDMove)
	add("mbr-shrink-os-bcd-patching", mbrBase(), Options{BCDPatching: true}, StrategyShrinkOS)
	tl = mbrBase()
	tl.diskMiB = 70000
	add("mbr-grow-in-place", tl, Options{}, StrategyGrowInPlace)

	tl = win11()
	tl.parts[2].noFS = false
	tl.parts[2].fs = func(f *recovery.Filesystem) {
		*f = recovery.Filesystem{Kind: recovery.FSBitLocker, BitLocker: true, TotalBytes: -1, UsedBytes: -1, FreeBytes: -1, ShrinkableBytes: -1, LastUsedCluster: -1}
	}
	add("bitlocker-os", tl, Options{}, StrategyShrinkOS, CodeBitLockerOS)

	tl = win11()
	tl.parts[2].fs = func(f *recovery.Filesystem) { f.Hibernated, f.Dirty = true, true }
	tl.parts[3].fs = func(f *recovery.Filesystem) { f.LogFileClean = false }
	add("hibernated-dirty-log", tl, Options{}, StrategyShrinkOS, CodeHibernated, CodeDirty, CodeLogNotClean)

	tl = win11()
	tl.parts[2].fs = func(f *recovery.Filesystem) { f.Dirty = true }
	add("dirty-allowed", tl, Options{AllowDirty: true}, StrategyShrinkOS)

	tl = win11()
	tl.parts[2].usedTail = -1
	add("os-tail-in-use", tl, Options{}, StrategyShrinkOS, CodeOSTailInUse)

	tl = win11()
	tl.parts[2].size, tl.parts[2].used = 50, 40
	tl.parts[3].start = 167
	tl.parts = append(tl.parts, tpart{start: 767, size: 64768, role: recovery.RoleData, used: 1000})
	add("no-room", tl, Options{}, StrategyNone, CodeNoRoom)

	tl = win11()
	tl.problems = []recovery.Problem{{Source: recovery.SourceGPT, Problem: diag.Problem{Code: "gpt-backup-crc", Severity: diag.Error, Message: "backup header CRC mismatch", Remedy: "sgdisk -e (rebuild the backup from the primary)"}}}
	add("invalid-table", tl, Options{}, StrategyShrinkOS, CodeInvalidTable)

	tl = win11()
	tl.parts = append([]tpart{{start: 1, size: 0, role: recovery.RoleRecovery}}, tl.parts...)
	tl.parts = tl.parts[1:]
	tl.parts[0] = tpart{start: 1, size: 100, role: recovery.RoleRecovery, used: 90}
	tl.parts[1].start = 101
	tl.parts[1].size = 16
	tl.parts[1].role = recovery.RoleMSR
	tl.noReAgent = true
	add("unknown-layout", tl, Options{}, StrategyNone, CodeUnknownLayout)

	tl = win11()
	tl.diskMiB, tl.tableMiB = 60000, 65536
	add("device-too-small", tl, Options{}, StrategyShrinkOS, CodeDeviceTooSmall)

	tl = win11()
	tl.parts = tl.parts[:3]
	tl.parts[2].size = 65400
	tl.winre, tl.disabled = 0, true
	add("winre-disabled", tl, Options{}, StrategyCreate, CodeWinREDisabled)

	tl = win11()
	tl.parts = tl.parts[:3]
	tl.parts[2].size = 65400
	tl.winreOnOS = true
	add("winre-inside-os", tl, Options{}, StrategyCreate, CodeWinREInsideOS)

	add("explicit-size", win11(), Options{TargetWinREBytes: 2048 * MiB}, StrategyShrinkOS)
	return cs
}

func TestPlanGolden(t *testing.T) {
	for _, c := range planCases() {
		t.Run(c.name, func(t *testing.T) {
			p := New(c.tl.build(), c.opts)
			if p.Strategy != c.want {
				t.Errorf("strategy = %s, want %s\n%s", p.Strategy, c.want, p)
			}
			var codes []Code
			for _, r := range p.Reasons {
				codes = append(codes, r.Code)
			}
			if diff := cmp.Diff(c.codes, codes); diff != "" {
				t.Errorf("reason codes (-want +got):\n%s\n%s", diff, p)
			}
			if p.Refused != (len(c.codes) > 0) {
				t.Errorf("Refused = %v with reasons %v", p.Refused, codes)
			}
			js, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			got := p.String() + "\n==== PowerShell ====\n" + p.PowerShellScript() + "\n==== diskpart batch ====\n" +
				strings.ReplaceAll(p.DiskpartScript(), "\r\n", "\n")
			golden(t, filepath.Join("testdata", c.name+".golden"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func BenchmarkPlan(b *testing.B) {
	l := win11().build()
	b.ReportAllocs()
	for b.Loop() {
		New(l, Options{})
	}
}
