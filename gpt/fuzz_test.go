package gpt

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// fuzzSeeds returns small images: clean tables on 512 and 4096-byte
// sectors with 128 and 4 entries, and a few damaged variants.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, g := range []struct {
		ss, sectors, entries int
	}{{512, 80, 128}, {512, 80, 4}, {4096, 16, 128}, {4096, 16, 4}} {
		size := int64(g.ss * g.sectors)
		tab, err := New(size, g.ss, uuid.MustParse(diskGUID))
		if err != nil {
			t.Fatal(err)
		}
		if g.entries != DefaultEntries {
			n := uint64((g.entries*128 + g.ss - 1) / g.ss)
			tab.Header.NumberOfPartitionEntries, tab.Entries = uint32(g.entries), tab.Entries[:g.entries]
			tab.Header.FirstUsableLBA = 2 + n
			tab.BackupEntryLBA = tab.BackupHeaderLBA - n
			tab.Header.LastUsableLBA = tab.BackupEntryLBA - 1
		}
		first, last := tab.Header.FirstUsableLBA, tab.Header.LastUsableLBA
		mid := (first + last) / 2
		if _, err := tab.Add(entryWith(TypeBasicData, guidOS, first, mid, 0, "Basic data partition")); err != nil {
			t.Fatal(err)
		}
		if _, err := tab.Add(entryWith(TypeWinRE, guidRE, mid+1, last, AttrWinRE, "Windows RE tools")); err != nil {
			t.Fatal(err)
		}
		ws, err := tab.Writes()
		if err != nil {
			t.Fatal(err)
		}
		img := make([]byte, size)
		applyWritesMem(img, ws)
		ssFlag := byte(0)
		if g.ss == 4096 {
			ssFlag = 1
		}
		seeds = append(seeds, append([]byte{ssFlag}, img...))
		broken := bytes.Clone(img)
		broken[g.ss+offDiskGUID] ^= 1 // primary CRC
		seeds = append(seeds, append([]byte{ssFlag}, broken...))
	}
	return seeds
}

// fuzzDisk decodes a fuzz input: the first byte chooses the sector size
// (odd: 4096, else 512), the rest is the disk, whose size is rounded down
// to whole sectors. ok is false for an empty input.
func fuzzDisk(data []byte) (disk []byte, size int64, ss int, ok bool) {
	if len(data) < 1 {
		return nil, 0, 0, false
	}
	ss = 512
	if data[0]&1 == 1 {
		ss = 4096
	}
	disk = data[1:]
	return disk, int64(len(disk)) / int64(ss) * int64(ss), ss, true
}

// FuzzRead checks that Read never panics or allocates without bound, and
// that a table read, written back with Writes and read again is the same
// table, now clean in both copies. The first byte of the input chooses the
// sector size (odd: 4096), the rest is the disk.
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		disk, size, ss, ok := fuzzDisk(data)
		if !ok {
			return
		}
		tab, err := Read(bytes.NewReader(disk), size, ss)
		if err != nil {
			return
		}
		_ = tab.Verify()
		_ = tab.FreeExtents(0)
		ws, err := tab.Writes()
		if err != nil {
			return // a layout Writes refuses (e.g. a backup past the disk)
		}
		img := bytes.Clone(disk)
		for _, w := range ws {
			if w.Offset < 0 || w.Offset+int64(len(w.New)) > size {
				t.Fatalf("%s at %d+%d outside the %d-byte disk", w.What, w.Offset, len(w.New), size)
			}
			copy(img[w.Offset:], w.New)
		}
		again, err := Read(bytes.NewReader(img), size, ss)
		if err != nil {
			t.Fatalf("re-read after Writes: %v", err)
		}
		if again.Source != Primary || !again.Backup.Valid() {
			t.Fatalf("after Writes: source %v, backup %v", again.Source, again.Backup.Err)
		}
		want := tab.Clone()
		want.Source = Primary
		want.syncHeaderLBAs()
		again.Header.HeaderCRC32, want.Header.HeaderCRC32 = 0, 0
		again.Header.PartitionEntryArrayCRC32, want.Header.PartitionEntryArrayCRC32 = 0, 0
		if d := cmp.Diff(want.Header, again.Header); d != "" {
			t.Fatalf("header changed (-want +got):\n%s", d)
		}
		if d := cmp.Diff(tab.Entries, again.Entries); d != "" {
			t.Fatalf("entries changed (-want +got):\n%s", d)
		}
		if !bytes.Equal(tab.EntryExtra, again.EntryExtra) {
			t.Fatalf("entries' bytes past 128 changed")
		}
		if again.PrimaryEntryLBA != tab.PrimaryEntryLBA || again.BackupEntryLBA != tab.BackupEntryLBA || again.BackupHeaderLBA != tab.BackupHeaderLBA {
			t.Fatalf("layout changed: %d/%d/%d -> %d/%d/%d", tab.PrimaryEntryLBA, tab.BackupEntryLBA, tab.BackupHeaderLBA,
				again.PrimaryEntryLBA, again.BackupEntryLBA, again.BackupHeaderLBA)
		}
		for _, p := range again.Verify() {
			switch p.Code {
			case ProblemPrimaryInvalid, ProblemBackupInvalid, ProblemHeadersDiffer, ProblemArraysDiffer, ProblemAlternateLBA:
				t.Fatalf("after Writes: %v", p)
			}
		}
	})
}
