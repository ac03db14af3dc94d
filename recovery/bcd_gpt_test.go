package recovery_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/fat"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// gptFixture is gpt-win11-standard (ESP 1, MSR 2, C: 3, WinRE 4) with the
// GUIDs a BCD for it names.
type gptFixture struct {
	img               string
	layout            *recovery.Layout // table only
	esp, os, winre    *recovery.Partition
	espStart, espSize int64
	store             bcdtest.Store
	sectorSize        int
}

func newGPTFixture(t *testing.T) *gptFixture {
	t.Helper()
	img := testutil.Fixture(t, "gpt-win11-standard")
	dev := testutil.OpenDisk(t, img, 0)
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{TableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &gptFixture{img: img, layout: l, esp: l.Partition(1), os: l.Partition(3), winre: l.Partition(4), sectorSize: l.SectorSize}
	g.espStart, g.espSize = g.esp.StartBytes(l.SectorSize), g.esp.SizeBytes
	g.store = bcdtest.Store{DiskGUID: l.DiskGUID, ESP: g.esp.UniqueGUID, OS: g.os.UniqueGUID, WinRE: g.winre.UniqueGUID}
	return g
}

// install puts s's BCD on the fixture's ESP (mcopy) and inspects the disk.
func (g *gptFixture) install(t *testing.T, s bcdtest.Store) *recovery.Layout {
	t.Helper()
	bcdtest.InstallESP(t, g.img, g.espStart, g.espSize, bcdtest.Build(t, s))
	return g.inspect(t)
}

func (g *gptFixture) inspect(t *testing.T) *recovery.Layout {
	t.Helper()
	dev := testutil.OpenDisk(t, g.img, 0)
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return l
}

// TestInspectBCDOnESP: a UEFI store on the FAT32 ESP whose WinRE chain
// names this disk's GUID and WinRE's unique GUID resolves to partition 4;
// text and JSON show the chain, and no BCD problem is reported.
func TestInspectBCDOnESP(t *testing.T) {
	g := newGPTFixture(t)
	l := g.install(t, g.store)
	b := l.BCD
	if b == nil || b.Err != "" || b.Partition != 1 || b.Path != recovery.PathBCDEFI || !b.Resolves || len(b.WinRE) != 1 {
		t.Fatalf("BCD %+v", b)
	}
	if l.WinRE == nil || l.WinRE.Partition != 4 {
		t.Fatalf("WinRE %+v", l.WinRE)
	}
	c := b.WinRE[0]
	if c.Loader != "{"+bcdtest.WinRELoader.String()+"}" || c.WIMPath != `\Recovery\WindowsRE\Winre.wim` || len(c.Devices) != 3 {
		t.Fatalf("chain %+v", c)
	}
	for _, d := range c.Devices {
		if d.Partition != 4 || d.Offset != -1 || !strings.Contains(d.Device, g.winre.UniqueGUID.String()) || !strings.Contains(d.Device, g.layout.DiskGUID.String()) {
			t.Errorf("%s: %+v", d.Element, d)
		}
	}
	for _, code := range codes(l) {
		if strings.HasPrefix(code, "bcd-") {
			t.Errorf("problem %s reported", code)
		}
	}
	// The planner's view is unchanged: GPT needs no patch.
	if err := l.PatchableForMove(); err == nil || !strings.Contains(err.Error(), "not an MBR disk") {
		t.Errorf("PatchableForMove: %v", err)
	}
	txt := l.String()
	for _, want := range []string{`BCD:          partition 1, \EFI\Microsoft\Boot\BCD: WinRE's entries name the WinRE partition`,
		"ramdisksdidevice", "partition(gpt disk {" + g.layout.DiskGUID.String() + "}, partition {" + g.winre.UniqueGUID.String() + "})",
		"-> partition 4"} {
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
			Partition int    `json:"partition"`
			Path      string `json:"path"`
			Resolves  bool   `json:"resolves"`
			WinRE     []struct {
				Devices []struct {
					Partition int   `json:"partition"`
					Offset    int64 `json:"offset"`
				} `json:"devices"`
			} `json:"winre"`
		} `json:"bcd"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	if v.BCD.Partition != 1 || v.BCD.Path != `\EFI\Microsoft\Boot\BCD` || !v.BCD.Resolves || len(v.BCD.WinRE) != 1 || len(v.BCD.WinRE[0].Devices) != 3 || v.BCD.WinRE[0].Devices[0].Partition != 4 {
		t.Errorf("JSON bcd: %+v", v.BCD)
	}
}

// TestInspectBCDOnESPMismatch: a chain naming another partition GUID, or
// WinRE's GUID on another disk, is bcd-winre-mismatch with a remedy.
func TestInspectBCDOnESPMismatch(t *testing.T) {
	other := uuid.MustParse("0badc0de-0000-4000-8000-000000000001")
	for _, c := range []struct {
		name string
		mess func(s *bcdtest.Store)
		part int // the partition the devices resolve to
	}{
		{"other partition", func(s *bcdtest.Store) { s.WinRE = other }, 0},
		{"C: instead of WinRE", func(s *bcdtest.Store) { s.WinRE = s.OS }, 3},
		{"other disk", func(s *bcdtest.Store) { s.DiskGUID = other }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGPTFixture(t)
			s := g.store
			c.mess(&s)
			l := g.install(t, s)
			if l.BCD == nil || l.BCD.Err != "" || l.BCD.Resolves {
				t.Fatalf("BCD %+v", l.BCD)
			}
			for _, d := range l.BCD.WinRE[0].Devices {
				if d.Partition != c.part {
					t.Errorf("%s names partition %d, want %d", d.Element, d.Partition, c.part)
				}
			}
			var found bool
			for _, p := range l.Problems {
				if p.Code == recovery.ProblemBCDWinREMismatch {
					found = p.Remedy != "" && p.Severity == diag.Warning && strings.Contains(p.Message, "partition 4")
				}
			}
			if !found {
				t.Errorf("no %s warning with a remedy: %v", recovery.ProblemBCDWinREMismatch, l.Problems)
			}
			if !strings.Contains(l.String(), "WinRE's entries do NOT all name the WinRE partition") {
				t.Errorf("text:\n%s", l)
			}
		})
	}
}

// TestInspectBCDOnCorruptESP: a FAT whose boot sector or whose chain of
// the store is broken is bcd-unreadable (a warning); Inspect still
// succeeds and finds WinRE.
func TestInspectBCDOnCorruptESP(t *testing.T) {
	for _, c := range []struct {
		name string
		mess func(t *testing.T, g *gptFixture, esp []byte)
		want string
	}{
		{"bad sector size", func(t *testing.T, g *gptFixture, esp []byte) {
			binary.LittleEndian.PutUint16(esp[11:], 300)
		}, "BPB_BytsPerSec"},
		{"loop in the store's chain", func(t *testing.T, g *gptFixture, esp []byte) {
			v, err := fat.Open(strings.NewReader(string(esp)), int64(len(esp)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := v.Lookup(recovery.PathBCDEFI)
			if err != nil {
				t.Fatal(err)
			}
			// The first cluster's FAT32 entry points at itself.
			off := int(v.BPB.ReservedSectors)*int(v.BPB.BytesPerSector) + 4*int(f.Cluster)
			binary.LittleEndian.PutUint32(esp[off:], f.Cluster)
		}, "loop in cluster chain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGPTFixture(t)
			bcdtest.InstallESP(t, g.img, g.espStart, g.espSize, bcdtest.Build(t, g.store))
			f, err := os.OpenFile(g.img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			esp := make([]byte, g.espSize)
			if _, err := f.ReadAt(esp, g.espStart); err != nil {
				t.Fatal(err)
			}
			c.mess(t, g, esp)
			if _, err := f.WriteAt(esp, g.espStart); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l := g.inspect(t)
			if l.BCD == nil || l.BCD.Partition != 1 || !strings.Contains(l.BCD.Err, c.want) || l.BCD.Resolves {
				t.Fatalf("BCD %+v", l.BCD)
			}
			var found bool
			for _, p := range l.Problems {
				if p.Code == recovery.ProblemBCDUnreadable {
					found = p.Severity == diag.Warning && p.Remedy != ""
				}
				if p.Code == recovery.ProblemBCDWinREMismatch {
					t.Errorf("mismatch reported for an unreadable store: %s", p.Message)
				}
			}
			if !found {
				t.Errorf("no %s warning: %v", recovery.ProblemBCDUnreadable, l.Problems)
			}
			if l.WinRE == nil || l.WinRE.Partition != 4 {
				t.Errorf("WinRE %+v", l.WinRE)
			}
		})
	}
}

// TestInspectESPWithoutStore: the fixtures' ESPs hold no BCD; that is no
// problem (the store may be on another disk's ESP) and no BCD is shown.
func TestInspectESPWithoutStore(t *testing.T) {
	for _, name := range []string{"gpt-win11-standard", "gpt-4kn-standard", "gpt-two-recovery"} {
		_, l := inspectFixture(t, name)
		if l.BCD != nil {
			t.Errorf("%s: BCD %+v", name, l.BCD)
		}
		for _, code := range codes(l) {
			if strings.HasPrefix(code, "bcd-") {
				t.Errorf("%s: problem %s", name, code)
			}
		}
		if strings.Contains(l.String(), "BCD:") {
			t.Errorf("%s: text shows a BCD", name)
		}
	}
}
