package bcd_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/winre/bcd"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// The store of the MBR fixture: disk signature 0x1f2e3d08, System Reserved
// at 1 MiB, C: at 101 MiB, WinRE at 3173 MiB.
var winreStore = bcdtest.Store{DiskSignature: 0x1f2e3d08, SystemOffset: 1 << 20, OSOffset: 101 << 20, WinREOffset: 3173 << 20}

// TestWinREStoreAgainstHivexml reads a store written by hivexsh and
// compares it with hivexml, then follows WinRE's chain.
func TestWinREStoreAgainstHivexml(t *testing.T) {
	b := bcdtest.Build(t, winreStore)
	s := read(t, b)
	compareWithHivexml(t, b, s)
	chains, err := s.WinRE()
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 1 {
		t.Fatalf("%d chains", len(chains))
	}
	c := chains[0]
	if c.OSLoader != bcdtest.OSLoader || c.Loader != bcdtest.WinRELoader || c.Options != bcdtest.WinREOptions ||
		c.SDIPath != `\Recovery\WindowsRE\boot.sdi` || c.Device.Ramdisk.Path != `\Recovery\WindowsRE\Winre.wim` {
		t.Errorf("chain %+v", c)
	}
	devs := c.Devices()
	if len(devs) != 3 {
		t.Fatalf("%d devices", len(devs))
	}
	for _, d := range devs {
		ps := d.Device.Partitions()
		if len(ps) != 1 || ps[0].Style != bcd.StyleMBR || ps[0].Offset != winreStore.WinREOffset || ps[0].DiskSignature != winreStore.DiskSignature {
			t.Errorf("%s %s: %v", d.Object, d.Element, d.Device)
		}
	}
}

// TestPlanMBRMove patches the WinRE offset and checks with hivexml that
// exactly the three WinRE device elements changed, each only in its
// offset, and that the base block and the file length did not.
func TestPlanMBRMove(t *testing.T) {
	b := bcdtest.Build(t, winreStore)
	s := read(t, b)
	const newOff = 2972 << 20
	ws, err := s.PlanMBRMove(winreStore.DiskSignature, winreStore.WinREOffset, newOff)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 {
		t.Fatalf("%d writes, want 3 (device, osdevice, ramdisksdidevice)", len(ws))
	}
	patched := bytes.Clone(b)
	for _, w := range ws {
		if w.Offset < 4096 || len(w.Old) != 8 || len(w.New) != 8 {
			t.Fatalf("write %+v", w)
		}
		if !bytes.Equal(b[w.Offset:w.Offset+8], w.Old) {
			t.Fatalf("write at %d: old bytes % x, file has % x", w.Offset, w.Old, b[w.Offset:w.Offset+8])
		}
		copy(patched[w.Offset:], w.New)
	}
	// The oracle: hivexml of both, equal except the three elements.
	before, after := hivexml(t, b), hivexml(t, patched)
	changed := diffNodes(t, "", before, after)
	want := []string{
		`\Objects\{` + bcdtest.WinRELoader.String() + `}\Elements\11000001`,
		`\Objects\{` + bcdtest.WinRELoader.String() + `}\Elements\21000001`,
		`\Objects\{` + bcdtest.WinREOptions.String() + `}\Elements\31000003`,
	}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("hivexml: changed %q, want %q", changed, want)
	}
	for _, w := range ws {
		if got := binary.LittleEndian.Uint64(patched[w.Offset:]); got != newOff {
			t.Errorf("offset at %d is %d", w.Offset, got)
		}
	}
	ps := read(t, patched)
	c, err := ps.WinRE()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c[0].Devices() {
		if p := d.Device.Partitions()[0]; p.Offset != newOff {
			t.Errorf("%s after patching: %v", d.Element, d.Device)
		}
	}
	// Planning again from the new offset is a no-op; from the old one on
	// the patched store, a refusal is not needed either: every element is
	// already at the new offset.
	if ws2, err := ps.PlanMBRMove(winreStore.DiskSignature, winreStore.WinREOffset, newOff); err != nil || len(ws2) != 0 {
		t.Errorf("re-planning on the patched store: %d writes, %v", len(ws2), err)
	}
}

// diffNodes returns the paths of values that differ between two hivexml
// trees, failing on any structural difference.
func diffNodes(t *testing.T, path string, a, b xNode) []string {
	t.Helper()
	var out []string
	if a.Name != b.Name || len(a.Nodes) != len(b.Nodes) || len(a.Values) != len(b.Values) {
		t.Fatalf("%s: structure differs", path)
	}
	for i := range a.Values {
		va, vb := a.Values[i], b.Values[i]
		if va.Key != vb.Key || va.Type != vb.Type || !reflect.DeepEqual(va.Runs, vb.Runs) {
			t.Fatalf("%s: value %q moved or changed type", path, va.Key)
		}
		if !bytes.Equal(va.dataOf(t), vb.dataOf(t)) {
			out = append(out, path)
		}
	}
	for i := range a.Nodes {
		if !reflect.DeepEqual(a.Nodes[i].Runs, b.Nodes[i].Runs) {
			t.Fatalf("%s\\%s: key cell moved", path, a.Nodes[i].Name)
		}
		out = append(out, diffNodes(t, path+`\`+a.Nodes[i].Name, a.Nodes[i], b.Nodes[i])...)
	}
	return out
}

// TestPlanMBRMoveRefusals: entries naming another disk or offset, and
// stores without WinRE, give ErrPatch and no writes.
func TestPlanMBRMoveRefusals(t *testing.T) {
	s := read(t, bcdtest.Build(t, winreStore))
	for _, c := range []struct {
		name     string
		sig      uint32
		old, neu uint64
	}{
		{"other disk", 0x12345678, winreStore.WinREOffset, 1 << 30},
		{"other offset", winreStore.DiskSignature, winreStore.OSOffset, 1 << 30},
	} {
		ws, err := s.PlanMBRMove(c.sig, c.old, c.neu)
		if !errors.Is(err, bcd.ErrPatch) || ws != nil {
			t.Errorf("%s: %d writes, %v", c.name, len(ws), err)
		}
	}
	sample := read(t, testutil.SampleBytes(t, samples[0], ""))
	if _, err := sample.PlanMBRMove(1, 2, 3); !errors.Is(err, bcd.ErrPatch) || !errors.Is(err, bcd.ErrNotFound) {
		t.Errorf("install medium: %v", err)
	}
}
