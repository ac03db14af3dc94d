package winrepart

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// TestRelocationCopies checks how a relocating shrink's copies become
// journal ops: copies moving data by the same distance share one Copy
// with extents while its source and destination spans stay apart, others
// get their own, a Barrier follows, and the overlay shows the copied data.
func TestRelocationCopies(t *testing.T) {
	disk := make([]byte, 2<<20)
	for i := range disk {
		disk[i] = byte(i / 4096)
	}
	b := &builder{ss: 512, ov: &overlay{base: bytes.NewReader(disk)}}
	const base = 64 << 10 // the volume's first byte on the disk
	copies := []ntfs.DataCopy{
		{Src: 600 << 10, Dst: 8 << 10, Length: 4096},    // distance -592 KiB
		{Src: 610 << 10, Dst: 18 << 10, Length: 8192},   // same distance: joined
		{Src: 700 << 10, Dst: 40 << 10, Length: 4096},   // another distance
		{Src: 1200 << 10, Dst: 608 << 10, Length: 4096}, // same distance, but the joined span would overlap its destination
	}
	if err := b.relocationCopies(base, 4096, copies); err != nil {
		t.Fatal(err)
	}
	want := []journal.Op{ // by distance, then source
		journal.Copy{Src: base + 700<<10, Dst: base + 40<<10, Length: 4096, Extents: []journal.Extent{{Offset: 0, Length: 4096}}},
		journal.Copy{Src: base + 600<<10, Dst: base + 8<<10, Length: 18 << 10,
			Extents: []journal.Extent{{Offset: 0, Length: 4096}, {Offset: 10 << 10, Length: 8192}}},
		journal.Copy{Src: base + 1200<<10, Dst: base + 608<<10, Length: 4096, Extents: []journal.Extent{{Offset: 0, Length: 4096}}},
	}
	if len(b.ops) != len(want)+1 {
		t.Fatalf("%d ops: %v", len(b.ops), b.ops)
	}
	if _, ok := b.ops[len(want)].(journal.Barrier); !ok {
		t.Errorf("last op %T, want a Barrier", b.ops[len(want)])
	}
	got := b.ops[:len(want)]
	for i := range got {
		c := got[i].(journal.Copy)
		c.What = ""
		got[i] = c
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	for _, c := range copies {
		buf := make([]byte, c.Length)
		if _, err := b.ov.ReadAt(buf, base+c.Dst); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, disk[base+c.Src:base+c.Src+c.Length]) {
			t.Errorf("overlay at %d does not show the copy from %d", base+c.Dst, base+c.Src)
		}
	}
	gap := make([]byte, 4096) // between the joined extents: not copied
	if _, err := b.ov.ReadAt(gap, base+12<<10); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gap, disk[base+12<<10:base+16<<10]) {
		t.Error("the gap between two joined extents was copied")
	}
}
