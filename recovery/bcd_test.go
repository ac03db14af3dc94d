package recovery_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// The mbr-sysreserved fixture: System Reserved (partition 1) at 1 MiB,
// C: at 101 MiB, WinRE (partition 3) at 3173 MiB, signature 0x1f2e3d08.
var sysreservedBCD = bcdtest.Store{DiskSignature: 0x1f2e3d08, SystemOffset: 1 << 20, OSOffset: 101 << 20, WinREOffset: 3173 << 20}

// inspectWithBCD inspects mbr-sysreserved with s's BCD in System Reserved.
func inspectWithBCD(t *testing.T, s bcdtest.Store) *recovery.Layout {
	t.Helper()
	img := testutil.Fixture(t, "mbr-sysreserved")
	bcdtest.Install(t, img, 1<<20, 100<<20, bcdtest.Build(t, s))
	dev := testutil.OpenDisk(t, img, 0)
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func codes(l *recovery.Layout) []string {
	var c []string
	for _, p := range l.Problems {
		c = append(c, string(p.Code))
	}
	return c
}

// TestInspectBCDChain: WinRE's chain in a real NTFS System Reserved is
// shown and resolves to partition 3; the text and JSON show it.
func TestInspectBCDChain(t *testing.T) {
	l := inspectWithBCD(t, sysreservedBCD)
	b := l.BCD
	if b == nil || b.Err != "" || b.Partition != 1 || !b.Resolves || len(b.WinRE) != 1 {
		t.Fatalf("BCD %+v", b)
	}
	c := b.WinRE[0]
	if c.Loader != "{"+bcdtest.WinRELoader.String()+"}" || c.WIMPath != `\Recovery\WindowsRE\Winre.wim` || c.SDIPath != `\Recovery\WindowsRE\boot.sdi` || len(c.Devices) != 3 {
		t.Fatalf("chain %+v", c)
	}
	for _, d := range c.Devices {
		if d.Partition != 3 || d.Offset != 3173<<20 {
			t.Errorf("%s: %+v", d.Element, d)
		}
	}
	if err := l.PatchableForMove(); err != nil {
		t.Errorf("PatchableForMove: %v", err)
	}
	for _, code := range codes(l) {
		if strings.HasPrefix(code, "bcd-") {
			t.Errorf("problem %s reported", code)
		}
	}
	txt := l.String()
	for _, want := range []string{`BCD:          partition 1, \Boot\BCD: WinRE's entries name the WinRE partition`,
		"osdevice", "ramdisksdidevice", `offset 3327131648)]\Recovery\WindowsRE\Winre.wim`, "-> partition 3", `\Recovery\WindowsRE\boot.sdi`} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
	js, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		BCD struct {
			Partition int  `json:"partition"`
			Resolves  bool `json:"resolves"`
			WinRE     []struct {
				Devices []struct {
					Element   string `json:"element"`
					Partition int    `json:"partition"`
					Offset    int64  `json:"offset"`
				} `json:"devices"`
			} `json:"winre"`
		} `json:"bcd"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	if v.BCD.Partition != 1 || !v.BCD.Resolves || len(v.BCD.WinRE) != 1 || len(v.BCD.WinRE[0].Devices) != 3 || v.BCD.WinRE[0].Devices[2].Element != "ramdisksdidevice" {
		t.Errorf("JSON bcd: %+v", v.BCD)
	}
}

// TestInspectBCDMismatch: entries naming another offset are a problem
// with a remedy, and the store is not patchable.
func TestInspectBCDMismatch(t *testing.T) {
	s := sysreservedBCD
	s.WinREOffset = 2000 << 20
	l := inspectWithBCD(t, s)
	if l.BCD == nil || l.BCD.Resolves {
		t.Fatalf("BCD %+v", l.BCD)
	}
	var found bool
	for _, p := range l.Problems {
		if p.Code == recovery.ProblemBCDWinREMismatch {
			found = p.Remedy != "" && strings.Contains(p.Message, "partition 3")
		}
	}
	if !found {
		t.Errorf("no %s problem with a remedy: %v", recovery.ProblemBCDWinREMismatch, l.Problems)
	}
	if err := l.PatchableForMove(); err == nil {
		t.Error("PatchableForMove accepted a mismatching store")
	}
}

// TestInspectBCDPlaceholder: the fixture's placeholder \Boot\BCD is not a
// hive; Inspect says so and the store is not patchable.
func TestInspectBCDPlaceholder(t *testing.T) {
	_, l := inspectFixture(t, "mbr-sysreserved")
	if l.BCD == nil || l.BCD.Err == "" || !strings.Contains(strings.Join(codes(l), " "), string(recovery.ProblemBCDUnreadable)) {
		t.Fatalf("BCD %+v, problems %v", l.BCD, codes(l))
	}
	err := l.PatchableForMove()
	if err == nil || !strings.Contains(err.Error(), "not a registry hive") {
		t.Errorf("PatchableForMove: %v", err)
	}
}
