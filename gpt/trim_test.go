package gpt

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
)

// The tests of this file check the trimmed form of Table.Entries and
// Copy.EntryArray: Read keeps entries up to the last one that is not all
// zero, and everything else treats the entries past them as zero.

// imageOf returns the bytes tab.Writes puts on a zeroed disk.
func imageOf(t *testing.T, tab *Table) []byte {
	t.Helper()
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, tab.DiskSize)
	applyWritesMem(img, ws)
	return img
}

// readMem reads the table of img (512-byte sectors).
func readMem(t *testing.T, img []byte) *Table {
	t.Helper()
	tab, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// writesMatch fails unless tab.Writes reproduces img byte for byte.
func writesMatch(t *testing.T, tab *Table, img []byte) []diag.Write {
	t.Helper()
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, bytes.NewReader(img), ws, 512)
	return ws
}

func TestReadKeepsEntriesUpToLastUsed(t *testing.T) {
	tab, err := New(goodSize, 512, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	// Entries 1 and 3 of 128: entry 2 is unused, the last used is 3.
	if err := tab.Set(1, entryWith(TypeESP, guidESP, 2048, 4095, 0, "EFI system partition")); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set(3, entryWith(TypeBasicData, guidOS, 4096, 8158, 0, "Basic data partition")); err != nil {
		t.Fatal(err)
	}
	img := imageOf(t, tab)
	got := readMem(t, img)
	if len(got.Entries) != 3 || got.Header.NumberOfPartitionEntries != 128 {
		t.Fatalf("%d entries of %d", len(got.Entries), got.Header.NumberOfPartitionEntries)
	}
	if d := cmp.Diff(tab.Entries[:3], got.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	if ps := got.Partitions(); len(ps) != 2 || ps[0].Number != 1 || ps[1].Number != 3 {
		t.Errorf("partitions %+v", ps)
	}
	for _, n := range []int{2, 4, 128, 129} {
		if e, used := got.Partition(n); used || e != (Entry{}) {
			t.Errorf("Partition(%d) = %+v, %v", n, e, used)
		}
	}
	p, b := got.Primary.EntryArray, got.Backup.EntryArray
	if len(p) != 3*MinEntrySize || cap(p) != len(p) || !bytes.Equal(p, img[2*512:2*512+3*MinEntrySize]) {
		t.Errorf("primary EntryArray %d bytes (cap %d)", len(p), cap(p))
	}
	if &p[0] != &b[0] {
		t.Error("identical arrays are not shared")
	}
	if pr := got.Verify(); pr != nil {
		t.Errorf("Verify: %v", pr)
	}
	writesMatch(t, got, img)
	arr, err := got.EntryArrayBytes()
	if err != nil || !bytes.Equal(arr, img[2*512:2*512+16384]) || crc32.ChecksumIEEE(arr) != got.Header.PartitionEntryArrayCRC32 {
		t.Errorf("EntryArrayBytes: %v, differs from the disk at %d", err, firstDiff(arr, img[2*512:2*512+16384]))
	}
}

func TestReadNoEntries(t *testing.T) {
	tab, err := New(goodSize, 512, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	img := imageOf(t, tab)
	got := readMem(t, img)
	if got.Entries != nil || got.EntryExtra != nil || got.Partitions() != nil {
		t.Errorf("entries %v, extra %v", got.Entries, got.EntryExtra)
	}
	if got.Primary.EntryArray == nil || len(got.Primary.EntryArray) != 0 || len(got.Backup.EntryArray) != 0 {
		t.Errorf("EntryArray %v / %v: want empty, not nil", got.Primary.EntryArray, got.Backup.EntryArray)
	}
	if pr := got.Verify(); pr != nil {
		t.Errorf("Verify: %v", pr)
	}
	writesMatch(t, got, img)
	if n, err := got.Add(entryWith(TypeESP, guidESP, 2048, 4095, 0, "")); err != nil || n != 1 || len(got.Entries) != 1 {
		t.Errorf("Add: %d %v, %d entries", n, err, len(got.Entries))
	}
}

// TestReadKeepsUnusedEntryWithBytes: an entry whose type is zero but
// whose other bytes are not is kept, and written back as it was.
func TestReadKeepsUnusedEntryWithBytes(t *testing.T) {
	tab := goodTable(t)
	tab.Entries[6].Name[0] = 'x' // entry 7: unused, with a leftover name
	tab.Entries[6].LastLBA = 99
	img := imageOf(t, tab)
	got := readMem(t, img)
	if len(got.Entries) != 7 || got.Entries[6] != tab.Entries[6] || len(got.Partitions()) != 3 {
		t.Fatalf("%d entries, entry 7 %+v", len(got.Entries), got.Entries[len(got.Entries)-1])
	}
	if d := cmp.Diff(tab.Entries[:7], got.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	writesMatch(t, got, img)
}

// TestWritesTrimmedAndFull: the trimmed, a longer and the full form of the
// same table write the same bytes, those on the disk.
func TestWritesTrimmedAndFull(t *testing.T) {
	img := goodImage(t)
	got := readMem(t, img)
	if len(got.Entries) != 3 {
		t.Fatalf("%d entries", len(got.Entries))
	}
	want := writesMatch(t, got, img)
	for _, n := range []int{4, 50, 128} {
		c := got.Clone()
		c.Entries = append(c.Entries, make([]Entry, n-len(c.Entries))...)
		ws := writesMatch(t, c, img)
		if d := cmp.Diff(want, ws); d != "" {
			t.Errorf("%d entries write differently (-trimmed +longer):\n%s", n, d)
		}
	}
	// The full form as New makes it.
	writesMatch(t, goodTable(t), img)
}

func TestEditsPastEntries(t *testing.T) {
	re := entryWith(TypeWinRE, guidRE, 6144, 8158, AttrWinRE, "Windows RE tools")
	got := readMem(t, goodImage(t))
	if err := got.Remove(3); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 {
		t.Errorf("Remove changed the length to %d", len(got.Entries))
	}
	if err := got.Set(10, re); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 10 || got.Entries[9] != re {
		t.Fatalf("Set(10): %d entries, entry 10 %+v", len(got.Entries), got.Entries[len(got.Entries)-1])
	}
	for i := 2; i < 9; i++ {
		if got.Entries[i] != (Entry{}) {
			t.Errorf("entry %d not zero: %+v", i+1, got.Entries[i])
		}
	}
	again := readMem(t, imageOf(t, got))
	if d := cmp.Diff(got.Entries, again.Entries); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	for _, tt := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"remove-past-entries", ErrNoSuchPartition, func() error { return got.Remove(50) }},
		{"remove-past-array", ErrNoSuchPartition, func() error { return got.Remove(129) }},
		{"resize-past-entries", ErrNoSuchPartition, func() error { return got.Resize(11, 7000) }},
		{"set-past-array", ErrNoSuchPartition, func() error { return got.Set(129, re) }},
		{"set-overlap-past-entries", ErrOverlap, func() error { return got.Set(100, re) }},
	} {
		if err := tt.fn(); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
	if len(got.Entries) != 10 {
		t.Errorf("failed edits changed the length to %d", len(got.Entries))
	}
	// A header claiming an array too big to write is refused before
	// anything is allocated.
	huge := got.Clone()
	huge.Header.NumberOfPartitionEntries = 1 << 31
	if err := huge.Set(1<<30, re); !errors.Is(err, ErrLayout) || len(huge.Entries) != 10 {
		t.Errorf("Set(1<<30) in a huge array: %v, %d entries", err, len(huge.Entries))
	}
	// Add takes the first unused entry of Entries.
	if err := got.Remove(10); err != nil {
		t.Fatal(err)
	}
	if n, err := got.Add(re); err != nil || n != 3 || len(got.Entries) != 10 {
		t.Errorf("Add: %d %v, %d entries", n, err, len(got.Entries))
	}
	// The trailing zero entries are not written, or read back.
	if again := readMem(t, imageOf(t, got)); len(again.Entries) != 3 {
		t.Errorf("read back %d entries", len(again.Entries))
	}

	// Add appends past Entries while the array has room.
	small, err := New(goodSize, 512, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	small.Header.NumberOfPartitionEntries, small.Entries = 4, nil
	for i := range 4 {
		first := uint64(2048 + 1024*i)
		if n, err := small.Add(Entry{Type: TypeLinuxFS, FirstLBA: first, LastLBA: first + 1023}); err != nil || n != i+1 || len(small.Entries) != i+1 {
			t.Fatalf("Add %d: %d %v, %d entries", i+1, n, err, len(small.Entries))
		}
	}
	if _, err := small.Add(Entry{Type: TypeLinuxFS, FirstLBA: 7000, LastLBA: 7001}); !errors.Is(err, ErrNoFreeEntry) {
		t.Errorf("full array: %v", err)
	}
}

// TestEntryExtraTrimmed: with 136-byte entries an entry whose 128 bytes
// are zero but whose extra bytes are not is kept, and EntryExtra is
// trimmed with Entries.
func TestEntryExtraTrimmed(t *testing.T) {
	tab := goodTable(t)
	// 120 entries of 136 bytes fill the 32 sectors of each array.
	tab.Header.SizeOfPartitionEntry, tab.Header.NumberOfPartitionEntries = 136, 120
	tab.Entries = tab.Entries[:120]
	tab.EntryExtra = make([]byte, 8*120)
	tab.EntryExtra[5*8+7] = 0xEE // entry 6, past its 128 bytes
	img := imageOf(t, tab)
	got := readMem(t, img)
	if len(got.Entries) != 6 || len(got.EntryExtra) != 6*8 || len(got.Primary.EntryArray) != 6*136 {
		t.Fatalf("%d entries, %d bytes of extra, %d of array", len(got.Entries), len(got.EntryExtra), len(got.Primary.EntryArray))
	}
	if !bytes.Equal(got.EntryExtra, tab.EntryExtra[:6*8]) || got.Entries[5] != (Entry{}) {
		t.Errorf("EntryExtra %v, entry 6 %+v", got.EntryExtra, got.Entries[5])
	}
	if d := cmp.Diff(tab.Entries[:6], got.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	writesMatch(t, got, img)

	// Set past the end extends EntryExtra with zeros.
	re, _ := got.Partition(3)
	if err := got.Remove(3); err != nil {
		t.Fatal(err)
	}
	if err := got.Set(9, re); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 9 || len(got.EntryExtra) != 9*8 || got.EntryExtra[5*8+7] != 0xEE ||
		!bytes.Equal(got.EntryExtra[6*8:], make([]byte, 3*8)) {
		t.Errorf("Set(9): %d entries, EntryExtra %v", len(got.Entries), got.EntryExtra)
	}
	// Without entry 6's extra byte, the last used entry ends the array.
	got.EntryExtra[5*8+7] = 0
	again := readMem(t, imageOf(t, got))
	if len(again.Entries) != 9 || len(again.EntryExtra) != 9*8 {
		t.Errorf("read back %d entries, %d bytes of extra", len(again.Entries), len(again.EntryExtra))
	}
	if err := got.Remove(9); err != nil {
		t.Fatal(err)
	}
	again = readMem(t, imageOf(t, got))
	if len(again.Entries) != 2 || len(again.EntryExtra) != 2*8 {
		t.Errorf("read back %d entries, %d bytes of extra", len(again.Entries), len(again.EntryExtra))
	}
}

// TestVerifyArraysDifferPastUsed: arrays that differ only past the entries
// in use still differ.
func TestVerifyArraysDifferPastUsed(t *testing.T) {
	img := goodImage(t)
	img[backupOff-32*512+99*MinEntrySize+offEntryName] = 'x' // backup entry 100
	fixArrayCRC(img, backupOff, 512)
	tab := readMem(t, img)
	if tab.Source != Primary || !tab.Backup.Valid() || len(tab.Backup.EntryArray) != 100*MinEntrySize || len(tab.Entries) != 3 {
		t.Fatalf("source %v, backup %v, %d bytes of backup array, %d entries", tab.Source, tab.Backup.Err, len(tab.Backup.EntryArray), len(tab.Entries))
	}
	if !hasCode(tab.Verify(), ProblemArraysDiffer) {
		t.Errorf("Verify lacks %s: %v", ProblemArraysDiffer, tab.Verify())
	}
	if err := tab.UseCopy(Backup); err != nil || len(tab.Entries) != 100 || tab.Entries[99].Name[0] != 'x' {
		t.Errorf("UseCopy(Backup): %v, %d entries", err, len(tab.Entries))
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, bytes.NewReader(img), ws[:2], 512) // the backup copy as it is
	applyWritesMem(img, ws)
	if p := readMem(t, img).Verify(); p != nil {
		t.Errorf("after Writes: %v", p)
	}
}

func TestSameArray(t *testing.T) {
	full := make([]byte, 1024)
	full[300] = 1
	c := func(size uint32, arr []byte) *Copy {
		return &Copy{Header: Header{SizeOfPartitionEntry: size, NumberOfPartitionEntries: 1024 / size}, EntryArray: arr[:usedBytes(arr, int(size))]}
	}
	p, b := c(256, full), c(128, full) // 512 and 384 bytes kept
	if len(p.EntryArray) != 512 || len(b.EntryArray) != 384 || !sameArray(p, b) || !sameArray(b, p) {
		t.Errorf("same bytes in entries of 256 and 128 bytes: %d/%d bytes kept", len(p.EntryArray), len(b.EntryArray))
	}
	other := bytes.Clone(full)
	other[400] = 1
	if sameArray(p, c(128, other)) || sameArray(c(128, other), p) {
		t.Error("different arrays are the same")
	}
	b.Header.NumberOfPartitionEntries = 16
	if sameArray(p, b) {
		t.Error("arrays of different sizes are the same")
	}
}

func TestUseCopyDiscardsEdits(t *testing.T) {
	tab := readMem(t, goodImage(t))
	want := tab.Clone()
	if err := tab.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set(20, want.Entries[0]); err != nil {
		t.Fatal(err)
	}
	for _, src := range []Source{Primary, Backup} {
		if err := tab.UseCopy(src); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want.Entries, tab.Entries); d != "" {
			t.Errorf("UseCopy(%v) (-want +got):\n%s", src, d)
		}
		tab.Entries[0].Name[0] = 'X'
	}
	if want.Primary.EntryArray[offEntryName] == 'X' {
		t.Error("an edit changed the array as read")
	}
}
