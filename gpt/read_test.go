package gpt

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

func entryWith(typ Type, unique string, first, last uint64, attrs Attributes, label string) Entry {
	e := Entry{Type: typ, UniqueGUID: uuid.MustParse(unique), FirstLBA: first, LastLBA: last, Attributes: attrs}
	if err := e.SetLabel(label); err != nil {
		panic(err)
	}
	return e
}

// wantWindows returns the partitions windowsLayout makes on a disk whose
// last usable LBA is lastUsable, in sectors of ss bytes.
func wantWindows(ss int, lastUsable uint64) []Partition {
	mib := uint64(1<<20) / uint64(ss)
	esp := uint64(1 * mib)
	msr := esp + 20*mib
	os := msr + 16*mib
	re := os + 16*mib
	return []Partition{
		{1, entryWith(TypeESP, guidESP, esp, msr-1, 0, "EFI system partition")},
		{2, entryWith(TypeMSR, guidMSR, msr, os-1, 0, "Microsoft reserved partition")},
		{3, entryWith(TypeBasicData, guidOS, os, re-1, 0, "Basic data partition")},
		{4, entryWith(TypeWinRE, guidRE, re, lastUsable, AttrWinRE, "Windows RE tools")},
	}
}

func TestReadWindowsLayout512(t *testing.T) {
	const size = 64 << 20
	path := sgdiskImage(t, size, windowsLayout...)
	tab := readImage(t, path, 512)
	if tab.Source != Primary || !tab.Primary.Valid() || !tab.Backup.Valid() {
		t.Fatalf("source %v, primary %v, backup %v", tab.Source, tab.Primary.Err, tab.Backup.Err)
	}
	last := uint64(size/512 - 1)
	wantHeader := Header{Signature: Signature, Revision: Revision10, HeaderSize: 92, HeaderCRC32: tab.Header.HeaderCRC32,
		MyLBA: 1, AlternateLBA: last, FirstUsableLBA: 34, LastUsableLBA: last - 33, DiskGUID: uuid.MustParse(diskGUID),
		PartitionEntryLBA: 2, NumberOfPartitionEntries: 128, SizeOfPartitionEntry: 128,
		PartitionEntryArrayCRC32: tab.Header.PartitionEntryArrayCRC32}
	if d := cmp.Diff(wantHeader, tab.Header); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantWindows(512, last-33), tab.Partitions()); d != "" {
		t.Errorf("partitions (-want +got):\n%s", d)
	}
	if len(tab.Entries) != 4 { // the last entry used
		t.Errorf("%d entries", len(tab.Entries))
	}
	if got := tab.Verify(); got != nil {
		t.Errorf("Verify: %v", got)
	}
	compareSfdisk(t, tab, path)
	out := testutil.Run(t, "sgdisk", "-i", "4", path)
	for _, want := range []string{"Attribute flags: 8000000000000001", "Partition unique GUID: " + strings.ToUpper(guidRE),
		"(Windows RE)", "Partition name: 'Windows RE tools'"} {
		if !strings.Contains(out, want) {
			t.Errorf("sgdisk -i 4 lacks %q:\n%s", want, out)
		}
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, path), ws, 512)
	var whats []string
	for _, w := range ws {
		whats = append(whats, strings.Fields(w.What)[0]+" "+strings.Fields(w.What)[1])
	}
	if d := cmp.Diff([]string{"backup partition", "backup GPT", "primary partition", "primary GPT", "protective MBR"}, whats); d != "" {
		t.Errorf("write order (-want +got):\n%s", d)
	}
}

func TestRead4Kn(t *testing.T) {
	const size = 64 << 20
	testutil.NeedTool(t, "sgdisk")
	path := filepath.Join(t.TempDir(), "4kn.img")
	makeSparse(t, path, size)
	dev := loop4Kn(t, path)
	testutil.Run(t, "sgdisk", append(windowsLayout, dev)...)
	tab := readImage(t, path, 4096)
	last := uint64(size/4096 - 1)
	if tab.Header.FirstUsableLBA != 6 || tab.Header.LastUsableLBA != last-5 || tab.BackupHeaderLBA != last {
		t.Errorf("4Kn header %+v", tab.Header)
	}
	if d := cmp.Diff(wantWindows(4096, last-5), tab.Partitions()); d != "" {
		t.Errorf("partitions (-want +got):\n%s", d)
	}
	if got := tab.Verify(); got != nil {
		t.Errorf("Verify: %v", got)
	}
	compareSfdisk(t, tab, dev)
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, path), ws, 4096)

	// A 512e reading of a 4Kn disk finds no GPT at LBA 1.
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := Read(f, size, 512); !isErr(err, ErrNoSignature) {
		t.Errorf("reading 4Kn as 512: %v", err)
	}
}

func TestReadEntryCounts(t *testing.T) {
	for _, n := range []int{56, 200} {
		t.Run(itoa(n), func(t *testing.T) {
			path := sgdiskImage(t, 8<<20, "-o", "-U", diskGUID, "--resize-table="+itoa(n),
				"-n", "1:0:+1M", "-t", "1:0700", "-u", "1:"+guidOS, "-n", "3:0:+2M", "-t", "3:8300", "-u", "3:"+guidRE)
			tab := readImage(t, path, 512)
			if tab.Header.NumberOfPartitionEntries != uint32(n) || len(tab.Entries) != 3 {
				t.Fatalf("entries %d/%d", tab.Header.NumberOfPartitionEntries, len(tab.Entries))
			}
			if ps := tab.Partitions(); len(ps) != 2 || ps[1].Number != 3 {
				t.Errorf("partitions %+v", ps)
			}
			compareSfdisk(t, tab, path)
			ws, err := tab.Writes()
			if err != nil {
				t.Fatal(err)
			}
			checkWritesMatch(t, fileAt(t, path), ws, 512)
			small := hasCode(tab.Verify(), ProblemArraySmall)
			if small != (n < 128) {
				t.Errorf("entry-array-small = %v for %d entries: %v", small, n, tab.Verify())
			}
		})
	}
}

// TestLargeEntriesAndHeader builds a table with 256-byte entries, a
// 120-byte header and non-zero bytes in the extensions, writes it and reads
// it back byte for byte; sfdisk must agree on the partitions.
func TestLargeEntriesAndHeader(t *testing.T) {
	const size = 8 << 20
	tab, err := New(size, 512, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	tab.Header.SizeOfPartitionEntry = 256
	tab.Header.HeaderSize = 120
	tab.Header.Extra = bytes.Repeat([]byte{0}, 28)
	tab.Entries = make([]Entry, 128)
	tab.EntryExtra = make([]byte, 0, 128*128)
	for i := range tab.Entries {
		tab.EntryExtra = append(tab.EntryExtra, bytes.Repeat([]byte{byte(i)}, 128)...)
	}
	tab.Entries[5].Name[0] = 'x' // unused entry with leftovers
	n := uint64(64)              // 32 KiB of entries
	tab.Header.FirstUsableLBA = 2 + n
	tab.BackupEntryLBA = tab.BackupHeaderLBA - n
	tab.Header.LastUsableLBA = tab.BackupEntryLBA - 1
	if _, err := tab.Add(entryWith(TypeBasicData, guidOS, 2048, 4095, AttrHidden, "data")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Add(entryWith(TypeWinRE, guidRE, 4096, 8191, AttrWinRE, "WinRE ☃ 𝄞")); err != nil {
		t.Fatal(err)
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big-entries.img")
	makeSparse(t, path, size)
	applyWrites(t, path, ws)
	got := readImage(t, path, 512)
	if d := cmp.Diff(tab.Entries, got.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	if !bytes.Equal(tab.EntryExtra, got.EntryExtra) {
		t.Errorf("EntryExtra differs at byte %d", firstDiff(tab.EntryExtra, got.EntryExtra))
	}
	if got.Header.HeaderSize != 120 || len(got.Header.Extra) != 28 || got.Entries[1].Label() != "WinRE ☃ 𝄞" {
		t.Errorf("header %+v, label %q", got.Header, got.Entries[1].Label())
	}
	if p := got.Verify(); p != nil {
		t.Errorf("Verify: %v", p)
	}
	ws2, err := got.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, path), ws2, 512)
	compareSfdisk(t, got, path)
}

func TestGrownDisk(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	const size, grown = 64 << 20, 80 << 20
	path := sgdiskImage(t, size, windowsLayout...)
	if err := os.Truncate(path, grown); err != nil {
		t.Fatal(err)
	}
	tab := readImage(t, path, 512)
	if tab.Source != Primary || !tab.Backup.Valid() || tab.BackupHeaderLBA != size/512-1 {
		t.Fatalf("grown: source %v backup %v at %d", tab.Source, tab.Backup.Err, tab.BackupHeaderLBA)
	}
	if ps := tab.Verify(); len(ps) != 2 || ps[0].Code != ProblemBackupNotAtEnd || ps[1].Code != ProblemMBRProtectiveRange {
		t.Errorf("Verify: %v", ps)
	}
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, path), ws, 512)

	// Our ResizeDisk must produce what sgdisk -e produces.
	ref := filepath.Join(t.TempDir(), "ref.img")
	testutil.Run(t, "cp", "--sparse=always", path, ref)
	testutil.Run(t, "sgdisk", "-e", ref)
	if err := tab.ResizeDisk(grown); err != nil {
		t.Fatal(err)
	}
	if ws, err = tab.Writes(); err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, fileAt(t, ref), ws[:4], 512) // GPT structures; sgdisk may differ in MBR CHS bytes
	applyWrites(t, path, ws)
	sgdiskVerify(t, path)
	again := readImage(t, path, 512)
	if p := again.Verify(); p != nil || again.Header.LastUsableLBA != grown/512-34 {
		t.Errorf("after ResizeDisk: %v, last usable %d", p, again.Header.LastUsableLBA)
	}
	if again.ProtectiveMBR.Entries[0].Sectors != grown/512-1 {
		t.Errorf("protective MBR size %d", again.ProtectiveMBR.Entries[0].Sectors)
	}
}

func TestSample(t *testing.T) {
	img := sampleImage(t, "gpt-parted-blkid.img.xz")
	path := filepath.Join(t.TempDir(), "gpt.img")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Partitions()) != 5 || tab.Partitions()[0].FirstLBA != 34 {
		t.Errorf("partitions %+v", tab.Partitions())
	}
	compareSfdisk(t, tab, path)
	ws, err := tab.Writes()
	if err != nil {
		t.Fatal(err)
	}
	checkWritesMatch(t, bytes.NewReader(img), ws, 512)
	for _, p := range tab.Verify() {
		if p.Severity != diag.Info {
			t.Errorf("Verify: %v", p)
		}
	}
}

// sgdiskList parses "sgdisk -p" partition lines: number, start, end.
var sgdiskLine = regexp.MustCompile(`(?m)^\s+(\d+)\s+(\d+)\s+(\d+)\s`)

func TestSgdiskPrint(t *testing.T) {
	path := sgdiskImage(t, 64<<20, windowsLayout...)
	tab := readImage(t, path, 512)
	out := testutil.Run(t, "sgdisk", "-p", path)
	var got []string
	for _, m := range sgdiskLine.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+":"+m[2]+"-"+m[3])
	}
	var want []string
	for _, p := range tab.Partitions() {
		want = append(want, itoa(p.Number)+":"+itoa(int(p.FirstLBA))+"-"+itoa(int(p.LastLBA)))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sgdisk -p (-ours +sgdisk):\n%s", d)
	}
}

// TestProtectiveSizeAllOnes checks the protective MBR Windows writes: an
// 0xEE entry of 0xFFFFFFFF sectors whatever the disk size. UEFI allows it
// (it covers the whole disk) and sgdisk -v finds no problem with it, so
// Verify must not either; any other wrong size is still reported.
func TestProtectiveSizeAllOnes(t *testing.T) {
	path := sgdiskImage(t, 64<<20, windowsLayout...)
	const sizeField = 446 + 12 // first entry's sector count
	patch := func(v uint32) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(binary.LittleEndian.AppendUint32(nil, v), sizeField); err != nil {
			t.Fatal(err)
		}
	}
	patch(0xFFFFFFFF)
	sgdiskVerify(t, path)
	if ps := readImage(t, path, 512).Verify(); ps != nil {
		t.Errorf("0xFFFFFFFF protective size on a 64 MiB disk: %v", ps)
	}
	patch(0xFFFFFFFE)
	if ps := readImage(t, path, 512).Verify(); len(ps) != 1 || ps[0].Code != ProblemMBRProtectiveRange {
		t.Errorf("0xFFFFFFFE protective size: %v, want %s", ps, ProblemMBRProtectiveRange)
	}
}
