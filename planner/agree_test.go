package planner_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// TestScriptsAgreeWithPlan reads the numbers back out of the PowerShell and
// diskpart scripts of every fixture's plan and holds them against the
// offline plan's before and after partitions: the partitions the scripts
// look for, the size C: shrinks to, and where the new WinRE goes, its size
// and type. It covers the layouts whose offline fix differs most from the
// Windows-side one: WinRE before C: (relocated by copying offline) and an
// MBR disk whose BCD the offline plan patches (reagentc rewrites it in
// Windows).
func TestScriptsAgreeWithPlan(t *testing.T) {
	cases := map[string]func(t *testing.T, img string){}
	for _, name := range testutil.FixtureNames(t) {
		cases[name] = nil
	}
	// System Reserved with a real BCD naming WinRE: the plan moves WinRE
	// and patches the BCD (see examples/winrefix TestPlanMBRFollowsBCD).
	cases["mbr-sysreserved+bcd"] = func(t *testing.T, img string) {
		bcdtest.Install(t, img, 1<<20, 100<<20, bcdtest.Build(t, bcdtest.Store{DiskSignature: 0x1f2e3d08, SystemOffset: 1 << 20, OSOffset: 101 << 20, WinREOffset: 3173 << 20}))
	}
	checked := map[planner.Strategy]int{}
	for name, prep := range cases {
		t.Run(name, func(t *testing.T) {
			fixture := name
			if prep != nil {
				fixture = "mbr-sysreserved"
			}
			img := testutil.Fixture(t, fixture)
			if prep != nil {
				prep(t, img)
			}
			dev := testutil.OpenDisk(t, img, 0)
			l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			o := planner.Options{BCDPatching: l.PatchableForMove() == nil}
			p := planner.New(l, o)
			if p.Refused || p.Strategy == planner.StrategyNoop {
				return
			}
			if prep != nil && p.Strategy != planner.StrategyShrinkOS {
				t.Fatalf("the MBR disk with a BCD: %s, want shrink-os\n%s", p.Strategy, p)
			}
			ss := int64(l.SectorSize)
			osB, osA := role(t, p.Before, recovery.RoleOS), role(t, p.After, recovery.RoleOS)
			reB, reA := role(t, p.Before, recovery.RoleWinRE), role(t, p.After, recovery.RoleWinRE)
			ps, dp := p.PowerShellScript(), p.DiskpartScript()

			// The partitions both scripts look for are the plan's before.
			want := []int64{osB.StartBytes(l.SectorSize), osB.SizeBytes, reB.StartBytes(l.SectorSize), reB.SizeBytes}
			for _, s := range []struct{ name, text string }{{"PowerShell", ps}, {"diskpart", dp}} {
				got := ints(t, s.text, `\$_\.Offset -eq (\d+) -and \$_\.Size -eq (\d+)`)
				if len(got) < 4 || fmt.Sprint(got[:4]) != fmt.Sprint(want) {
					t.Errorf("%s looks for C: and WinRE at %v, the plan has %v", s.name, got, want)
				}
			}
			// C: ends where the plan ends it.
			if osA.SizeBytes < osB.SizeBytes {
				if got := ints(t, ps, `Resize-Partition .* -Size (\d+)`); len(got) != 1 || got[0] != osA.SizeBytes {
					t.Errorf("PowerShell resizes C: to %v, the plan to %d", got, osA.SizeBytes)
				}
				if got := ints(t, ps, `if \(\$min -gt (\d+)\)`); len(got) != 1 || got[0] != osA.SizeBytes {
					t.Errorf("PowerShell checks the shrink limit against %v, the plan shrinks to %d", got, osA.SizeBytes)
				}
				if got := ints(t, dp, `shrink desired=(\d+) minimum=(\d+)`); len(got) != 2 || got[0]*planner.MiB != osB.SizeBytes-osA.SizeBytes || got[1] != got[0] {
					t.Errorf("diskpart shrinks C: by %v MiB, the plan by %d bytes", got, osB.SizeBytes-osA.SizeBytes)
				}
			} else if osA.SizeBytes != osB.SizeBytes {
				t.Fatalf("C: grows from %d to %d", osB.SizeBytes, osA.SizeBytes)
			}
			// The new WinRE: place, size and type.
			reOff, reSize := reA.StartBytes(l.SectorSize), reA.SizeBytes
			if reA.EndLBA < reA.StartLBA || reOff%ss != 0 {
				t.Fatalf("after WinRE %+v", reA)
			}
			dpCreate := ints(t, dp, `create partition primary offset=(\d+) size=(\d+) id=`)
			if len(dpCreate) != 2 || dpCreate[0]*1024 != reOff || dpCreate[1]*planner.MiB != reSize {
				t.Errorf("diskpart creates WinRE at %v (KiB, MiB), the plan at byte %d, %d bytes", dpCreate, reOff, reSize)
			}
			if l.Scheme == recovery.SchemeGPT {
				got := ints(t, ps, `New-Partition .* -Offset (\d+) -Size (\d+) -GptType '\{de94bba4-06d1-4d40-a16a-bfd50179d6ac\}'`)
				if len(got) != 2 || got[0] != reOff || got[1] != reSize {
					t.Errorf("PowerShell creates WinRE at %v, the plan at %d, %d bytes", got, reOff, reSize)
				}
				for _, s := range []string{ps, dp} {
					if !regexp.MustCompile(`gpt attributes=0x8000000000000001`).MatchString(s) {
						t.Error("a script does not set the WinRE attributes")
					}
				}
				if reA.GPTType.String() != "de94bba4-06d1-4d40-a16a-bfd50179d6ac" || reA.Attributes != 0x8000000000000001 {
					t.Errorf("the plan's WinRE: type %s attributes %#x", reA.GPTType, uint64(reA.Attributes))
				}
			} else {
				got := ints(t, ps, `create partition primary offset=(\d+) size=(\d+) id=27`)
				if len(got) != 2 || got[0]*1024 != reOff || got[1]*planner.MiB != reSize || reA.MBRType != 0x27 {
					t.Errorf("PowerShell creates WinRE at %v (KiB, MiB), the plan at byte %d, %d bytes, type %#x", got, reOff, reSize, uint8(reA.MBRType))
				}
				if !regexp.MustCompile(`id=27\r?$`).MatchString(firstLine(dp, "create partition")) {
					t.Error("diskpart does not create WinRE with id 27")
				}
			}
			checked[p.Strategy]++
		})
	}
	t.Logf("scripts checked against the plan: %v", checked)
	if checked[planner.StrategyShrinkOS] == 0 || checked[planner.StrategyRelocate] == 0 {
		t.Errorf("no shrink-os or relocate plan was checked: %v", checked)
	}
}

// role returns the partition of ps with role r.
func role(t *testing.T, ps []recovery.Partition, r recovery.Role) recovery.Partition {
	t.Helper()
	for _, p := range ps {
		if p.Role == r {
			return p
		}
	}
	t.Fatalf("no %s partition in %+v", r, ps)
	return recovery.Partition{}
}

// ints returns the integers captured by every match of re in s, in order.
func ints(t *testing.T, s, re string) []int64 {
	t.Helper()
	var out []int64
	for _, m := range regexp.MustCompile(`(?m)`+re).FindAllStringSubmatch(s, -1) {
		for _, g := range m[1:] {
			n, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
	}
	return out
}

// firstLine returns the first line of s containing sub.
func firstLine(s, sub string) string {
	for _, l := range regexp.MustCompile(`\r?\n`).Split(s, -1) {
		if regexp.MustCompile(regexp.QuoteMeta(sub)).MatchString(l) {
			return l
		}
	}
	return ""
}
