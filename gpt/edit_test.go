package gpt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/winrepart/winrepart/mbr"
)

// TestNewMatchesSgdisk compares a fresh table with what sgdisk -o writes
// for the same disk and GUID, and has sgdisk verify ours.
func TestNewMatchesSgdisk(t *testing.T) {
	const size = 16 << 20
	ref := sgdiskImage(t, size, "-o", "-U", diskGUID)
	tab, err := New(size, 512, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, ref), ws[:4], 512)
	path := filepath.Join(t.TempDir(), "new.img")
	makeSparse(t, path, size)
	applyWrites(t, path, ws)
	sgdiskVerify(t, path)
	if p := readImage(t, path, 512).Verify(); p != nil {
		t.Errorf("Verify: %v", p)
	}
}

func TestNew4KnWithSgdisk(t *testing.T) {
	const size = 512 << 20
	tab, err := New(size, 4096, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Header.FirstUsableLBA != 6 || tab.BackupEntryLBA != size/4096-5 {
		t.Errorf("4Kn layout: first usable %d, backup array %d", tab.Header.FirstUsableLBA, tab.BackupEntryLBA)
	}
	x := tab.FreeExtents(0)
	if len(x) != 1 || x[0].FirstLBA != 256 {
		t.Fatalf("free extents %+v", x)
	}
	if _, err := tab.Add(entryWith(TypeESP, guidESP, 256, 256+260*256-1, 0, "EFI system partition")); err != nil {
		t.Fatal(err)
	}
	x = tab.FreeExtents(0)
	if _, err := tab.Add(entryWith(TypeWinRE, guidRE, x[0].FirstLBA, x[0].LastLBA, AttrWinRE, "Windows RE tools")); err != nil {
		t.Fatal(err)
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "4kn.img")
	makeSparse(t, path, size)
	applyWrites(t, path, ws)
	dev := loop4Kn(t, path)
	sgdiskVerify(t, dev)
	got := readImage(t, path, 4096)
	if d := cmp.Diff(usedEntries(tab.Entries), got.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	compareSfdisk(t, got, dev)
}

// TestEditWindowsLayout does what the WinRE fix does: delete WinRE, grow
// the OS partition, recreate WinRE in the aligned free space with its
// unique GUID, and checks sgdisk accepts the result.
func TestEditWindowsLayout(t *testing.T) {
	path := sgdiskImage(t, 64<<20, windowsLayout...)
	tab := readImage(t, path, 512)
	before := tab.Clone()
	re, _ := tab.Partition(4)
	if err := tab.Remove(4); err != nil {
		t.Fatal(err)
	}
	os3, _ := tab.Partition(3)
	if err := tab.Resize(3, os3.LastLBA+8<<11); err != nil {
		t.Fatal(err)
	}
	free := tab.FreeExtents(0)
	if len(free) != 1 {
		t.Fatalf("free extents %+v", free)
	}
	re.FirstLBA, re.LastLBA = free[0].FirstLBA, free[0].LastLBA
	if n, err := tab.Add(re); err != nil || n != 4 {
		t.Fatalf("Add: %d, %v", n, err)
	}
	if d := cmp.Diff(before.Entries[0], tab.Entries[0]); d != "" {
		t.Errorf("edit changed entry 1:\n%s", d)
	}
	if before.Entries[3].FirstLBA == tab.Entries[3].FirstLBA {
		t.Error("Clone shares entries with the table")
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	applyWrites(t, path, ws)
	sgdiskVerify(t, path)
	got := readImage(t, path, 512)
	if d := cmp.Diff(tab.Entries, got.Entries); d != "" {
		t.Errorf("entries after write (-want +got):\n%s", d)
	}
	compareSfdisk(t, got, path)
	if err := got.Move(4, got.Entries[3].FirstLBA-2048); !errors.Is(err, ErrOverlap) {
		t.Errorf("Move into partition 3: %v", err)
	}
}

func TestEditErrors(t *testing.T) {
	tab := goodTable(t)
	var pe *PartitionError
	err := tab.Set(2, entryWith(TypeBasicData, guidOS, 4000, 6143, 0, ""))
	if !errors.As(err, &pe) || pe.Other != 1 || !errors.Is(err, ErrOverlap) {
		t.Errorf("overlap: %v", err)
	}
	for _, tt := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"outside-usable", ErrOutsideUsable, func() error { return tab.Resize(3, 8159) }},
		{"below-usable", ErrOutsideUsable, func() error { return tab.Move(1, 10) }},
		{"start-after-end", ErrStartAfterEnd, func() error { return tab.Resize(2, 4000) }},
		{"unused-type", ErrUnusedType, func() error { _, err := tab.Add(Entry{FirstLBA: 7000, LastLBA: 7001}); return err }},
		{"no-such", ErrNoSuchPartition, func() error { return tab.Remove(9) }},
		{"no-such-0", ErrNoSuchPartition, func() error { return tab.Set(0, Entry{}) }},
		{"no-such-129", ErrNoSuchPartition, func() error { return tab.Resize(129, 1) }},
		{"move-overflow", ErrOutsideUsable, func() error { return tab.Move(1, ^uint64(0)-5) }},
		{"extra-size", ErrLayout, func() error {
			tab.EntryExtra = []byte{1}
			defer func() { tab.EntryExtra = nil }()
			return tab.Set(5, Entry{Type: TypeLinuxFS})
		}},
		{"shrink-disk", ErrOutsideUsable, func() error { return tab.ResizeDisk(3 << 20) }},
		{"disk-too-small", ErrDiskTooSmall, func() error { return tab.ResizeDisk(8 << 10) }},
		{"use-missing-copy", ErrCopyInvalid, func() error { return tab.UseCopy(Backup) }},
	} {
		if err := tt.fn(); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
	if d := cmp.Diff(goodTable(t).Entries, tab.Entries); d != "" {
		t.Errorf("failed edits changed the table:\n%s", d)
	}
	full, _ := New(goodSize, 512, uuid.Nil)
	full.Header.NumberOfPartitionEntries, full.Entries = 1, full.Entries[:1]
	if _, err := full.Add(entryWith(TypeLinuxFS, guidOS, 2048, 2048, 0, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := full.Add(entryWith(TypeLinuxFS, guidRE, 4096, 4096, 0, "")); !errors.Is(err, ErrNoFreeEntry) {
		t.Errorf("full table: %v", err)
	}
	if _, err := New(2048, 512, uuid.Nil); !errors.Is(err, ErrDiskTooSmall) {
		t.Errorf("tiny disk: %v", err)
	}
	if _, err := New(1<<20, 520, uuid.Nil); !errors.Is(err, ErrSectorSize) {
		t.Errorf("sector size 520: %v", err)
	}
	// Add fills in a random unique GUID; Remove zeroes the entry.
	if err := tab.Remove(2); err != nil {
		t.Fatal(err)
	}
	n, err := tab.Add(Entry{Type: TypeLinuxFS, FirstLBA: 4096, LastLBA: 5000})
	if err != nil || tab.Entries[n-1].UniqueGUID == uuid.Nil {
		t.Errorf("Add without GUID: %v %+v", err, tab.Entries[n-1])
	}
	if err := tab.Remove(n); err != nil || tab.Entries[n-1].IsUsed() || !cmp.Equal(tab.Entries[n-1], Entry{}) {
		t.Errorf("Remove: %v %+v", err, tab.Entries[n-1])
	}
}

// TestEntryExtraEdits checks that the edits keep EntryExtra in step with
// Entries in a table of 136-byte entries: Add and Remove clear the entry's
// extra bytes, Set and Resize keep them, Clone copies them, and Writes
// and Read carry them over.
func TestEntryExtraEdits(t *testing.T) {
	tab := goodTable(t)
	// 120 entries of 136 bytes fill the 32 sectors of each array.
	tab.Header.SizeOfPartitionEntry, tab.Header.NumberOfPartitionEntries = 136, 120
	tab.Entries = tab.Entries[:120]
	if _, err := tab.Writes(); !errors.Is(err, ErrLayout) {
		t.Fatalf("Writes without EntryExtra: %v", err)
	}
	if err := tab.Set(1, tab.Entries[0]); err != nil || len(tab.EntryExtra) != 8*120 {
		t.Fatalf("Set made %d bytes of EntryExtra: %v", len(tab.EntryExtra), err)
	}
	for i := range tab.EntryExtra {
		tab.EntryExtra[i] = byte(i/8 + 1)
	}
	extra := func(tab *Table, n int) []byte { return tab.EntryExtra[(n-1)*8 : n*8] }
	if err := tab.Resize(2, 6000); err != nil || !bytes.Equal(extra(tab, 2), bytes.Repeat([]byte{2}, 8)) {
		t.Errorf("Resize: %v, extra %v", err, extra(tab, 2))
	}
	c := tab.Clone()
	if err := tab.Remove(3); err != nil || !bytes.Equal(extra(tab, 3), make([]byte, 8)) || extra(c, 3)[0] != 3 {
		t.Errorf("Remove: %v, extra %v, clone's %v", err, extra(tab, 3), extra(c, 3))
	}
	extra(tab, 3)[0] = 9 // leftovers in an unused entry
	if n, err := tab.Add(entryWith(TypeLinuxFS, guidRE, 7000, 7100, 0, "")); err != nil || n != 3 ||
		!bytes.Equal(extra(tab, 3), make([]byte, 8)) || extra(tab, 4)[0] != 4 {
		t.Errorf("Add: %d %v, extra %v", n, err, tab.EntryExtra[2*8:4*8])
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, goodSize)
	applyWritesMem(img, ws)
	got, err := Read(bytes.NewReader(img), goodSize, 512)
	if err != nil || !bytes.Equal(got.EntryExtra, tab.EntryExtra) {
		t.Fatalf("read back: %v, EntryExtra differs at %d", err, firstDiff(got.EntryExtra, tab.EntryExtra))
	}
	if d := cmp.Diff(tab.Entries, got.Entries); d != "" {
		t.Errorf("entries read back (-want +got):\n%s", d)
	}
}

func TestFreeExtents(t *testing.T) {
	tab := goodTable(t)
	if x := tab.FreeExtents(0); x != nil {
		t.Errorf("full disk: %+v", x)
	}
	tab.Remove(2)
	tab.Entries[2].FirstLBA = 6200 // unaligned start
	want := []Extent{{4096, 6199}}
	if d := cmp.Diff(want, tab.FreeExtents(0)); d != "" {
		t.Errorf("1 MiB (-want +got):\n%s", d)
	}
	want = []Extent{{40, 2047}, {4096, 6199}}
	if d := cmp.Diff(want, tab.FreeExtents(4096)); d != "" {
		t.Errorf("4 KiB (-want +got):\n%s", d)
	}
	want = []Extent{{34, 2047}, {4096, 6199}}
	if d := cmp.Diff(want, tab.FreeExtents(1)); d != "" {
		t.Errorf("1 byte (-want +got):\n%s", d)
	}
	if x := want[1]; x.Sectors() != 2104 || x.SizeBytes(512) != 2104*512 {
		t.Errorf("extent size %d", x.Sectors())
	}
}

// TestRebuildCopies breaks one copy on disk, reads, writes back, and checks
// sgdisk finds the disk clean; UseCopy can prefer the backup deliberately.
func TestRebuildCopies(t *testing.T) {
	for _, tt := range []struct {
		name string
		off  func(size int64) int64
		src  Source
	}{
		{"primary", func(int64) int64 { return 512 + offDiskGUID }, Backup},
		{"backup", func(size int64) int64 { return size - 512 + offDiskGUID }, Primary},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const size = 64 << 20
			path := sgdiskImage(t, size, windowsLayout...)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{0xAB}, tt.off(size)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			tab := readImage(t, path, 512)
			if tab.Source != tt.src {
				t.Fatalf("source %v", tab.Source)
			}
			ws, err := tab.Writes()
			if err != nil {
				t.Fatal(err)
			}
			applyWrites(t, path, ws)
			sgdiskVerify(t, path)
			again := readImage(t, path, 512)
			if p := again.Verify(); p != nil {
				t.Errorf("Verify: %v", p)
			}
			if err := again.UseCopy(Backup); err != nil || again.Source != Backup || again.Header.MyLBA != size/512-1 {
				t.Errorf("UseCopy(Backup): %v %+v", err, again.Header)
			}
			ws, err = again.Writes()
			if err != nil {
				t.Fatal(err)
			}
			checkWritesMatch(t, fileAt(t, path), ws, 512)
		})
	}
}

// sparseDisk is an in-memory sparse disk: unwritten bytes read as zero.
type sparseDisk struct {
	size   int64
	chunks map[int64][]byte // 4 KiB chunks by offset
}

const chunk = 4096

func (d *sparseDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < d.size {
		o := off + int64(n)
		c := d.chunks[o/chunk*chunk]
		k := min(len(p)-n, chunk-int(o%chunk))
		if c == nil {
			clear(p[n : n+k])
		} else {
			copy(p[n:n+k], c[o%chunk:])
		}
		n += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *sparseDisk) WriteAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		o := off + int64(n)
		base := o / chunk * chunk
		c := d.chunks[base]
		if c == nil {
			c = make([]byte, chunk)
			d.chunks[base] = c
		}
		n += copy(c[o%chunk:], p[n:])
	}
	return len(p), nil
}

func TestThreeTiB(t *testing.T) {
	const size = 3 << 40
	for _, ss := range []int{512, 4096} {
		t.Run(itoa(ss), func(t *testing.T) {
			tab, err := New(size, ss, uuid.MustParse(diskGUID))
			if err != nil {
				t.Fatal(err)
			}
			sectors := uint64(size) / uint64(ss) // size overflows int on 32-bit platforms
			x := tab.FreeExtents(0)
			if len(x) != 1 {
				t.Fatalf("free %+v", x)
			}
			if _, err := tab.Add(entryWith(TypeBasicData, guidOS, x[0].FirstLBA, sectors-(1<<30)/uint64(ss)-1, 0, "Windows")); err != nil {
				t.Fatal(err)
			}
			x = tab.FreeExtents(0)
			if _, err := tab.Add(entryWith(TypeWinRE, guidRE, x[0].FirstLBA, x[0].LastLBA, AttrWinRE, "Windows RE tools")); err != nil {
				t.Fatal(err)
			}
			wantMBR := uint32(0xFFFFFFFF)
			if ss == 4096 {
				wantMBR = uint32(sectors - 1) // 3 TiB of 4 KiB sectors fits in 32 bits
			}
			if got := tab.ProtectiveMBR.Entries[0].Sectors; got != wantMBR {
				t.Errorf("protective MBR size %#x, want %#x", got, wantMBR)
			}
			ws, err := tab.Writes()
			if err != nil {
				t.Fatal(err)
			}
			d := &sparseDisk{size: size, chunks: map[int64][]byte{}}
			for _, w := range ws {
				d.WriteAt(w.New, w.Offset)
			}
			got, err := Read(d, size, ss)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(usedEntries(tab.Entries), got.Entries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if p := got.Verify(); p != nil {
				t.Errorf("Verify: %v", p)
			}
			if got.BackupHeaderLBA != sectors-1 || got.Entries[1].LastLBA <= 1<<32 && ss == 512 {
				t.Errorf("backup at %d, WinRE %+v", got.BackupHeaderLBA, got.Entries[1])
			}
			if ss == 512 {
				path := filepath.Join(t.TempDir(), "3tib.img")
				makeSparse(t, path, size)
				applyWrites(t, path, ws)
				sgdiskVerify(t, path)
				compareSfdisk(t, got, path)
			}
		})
	}
}

func TestWritesRefusesBadLayout(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Table)
	}{
		{"backup-past-disk", func(t *Table) { t.BackupHeaderLBA = 1 << 40 }},
		{"backup-array-in-usable", func(t *Table) { t.BackupEntryLBA = 100 }},
		{"primary-array-in-usable", func(t *Table) { t.PrimaryEntryLBA = 10 }},
		{"entries-count", func(t *Table) { t.Entries = append(t.Entries, Entry{}) }},
		{"entry-extra", func(t *Table) { t.EntryExtra = []byte{1} }},
		{"header-size", func(t *Table) { t.Header.HeaderSize = 100 }},
		{"usable", func(t *Table) { t.Header.FirstUsableLBA = 9000 }},
	} {
		tab := goodTable(t)
		tt.edit(tab)
		if _, err := tab.Writes(); !errors.Is(err, ErrLayout) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestHybridMBRLeftAlone(t *testing.T) {
	tab := goodTable(t)
	tab.ProtectiveMBR.Entries[1] = mbr.Entry{Type: mbr.TypeNTFS, StartLBA: 4096, Sectors: 2048}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.Offset == 0 {
			t.Errorf("hybrid MBR written: %s", w.What)
		}
	}
	tab.ResetProtectiveMBR()
	if tab.ProtectiveMBR.Kind() != mbr.KindProtective {
		t.Errorf("ResetProtectiveMBR: %v", tab.ProtectiveMBR.Kind())
	}
	// Writes of a table read without an MBR make a protective one.
	img := goodImage(t)
	clear(img[:512])
	got, err := Read(bytes.NewReader(img), goodSize, 512)
	if err != nil || got.ProtectiveMBR != nil {
		t.Fatalf("Read: %v, MBR %v", err, got.ProtectiveMBR)
	}
	ws, _ = got.Writes()
	if last := ws[len(ws)-1]; last.Offset != 0 || last.New[510] != 0x55 || last.New[450] != 0xEE {
		t.Errorf("no protective MBR written: %+v", last.What)
	}
}
