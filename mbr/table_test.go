package mbr

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// windowsLayout is the BIOS layout Windows Setup makes (System Reserved,
// C:, WinRE) plus an extended partition with three logicals.
const windowsLayout = `label: dos
label-id: 0x12345678
unit: sectors

start=2048, size=102400, type=7, bootable
start=104448, size=40960, type=7
start=145408, size=20480, type=27
start=165888, type=%s
size=10240, type=83
size=10240, type=82
size=8192, type=7
`

// tinyLayout packs the same shape into 64 sectors, for fuzz seeds and
// mutators that work on the whole image in memory.
const tinyLayout = `label: dos
label-id: 0x12345678
grain: 512
start=1, size=8, type=7, bootable
start=9, size=8, type=27
start=17, size=40, type=5
start=18, size=6, type=83
start=25, size=6, type=7
start=32, size=6, type=82
`

func TestReadMatchesSfdisk(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int64
		sectorSize int
		script     string
	}{
		{"extended-0f", 256 << 20, 512, sprintf(windowsLayout, "f")},
		{"extended-05", 256 << 20, 512, sprintf(windowsLayout, "5")},
		{"4kn-extended-0f", 4 << 30, 4096, sprintf(windowsLayout, "f")},
		{"tiny", 32 << 10, 512, tinyLayout},
		{"empty-extended", 16 << 20, 512, "label: dos\nstart=2048,size=4096,type=7\nstart=8192,type=5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sfdiskImage(t, tc.size, tc.sectorSize, tc.script)
			tbl, f := readImage(t, path, tc.sectorSize)
			st := sfdiskJSONSectors(t, path, tc.sectorSize)
			if diff := cmp.Diff(fromSfdisk(t, st.PartitionTable.Partitions), fromTable(tbl.Partitions())); diff != "" {
				t.Errorf("Partitions() differs from sfdisk --json (-sfdisk +ours):\n%s", diff)
			}
			if got := "0x" + sprintf("%08x", tbl.Record.DiskSignature); got != st.PartitionTable.ID {
				t.Errorf("disk signature %s, sfdisk says %s", got, st.PartitionTable.ID)
			}
			if ps := tbl.Verify(); len(ps) != 0 {
				t.Errorf("Verify found problems in an sfdisk-made table:\n%s", dumpProblems(ps))
			}
			if tbl.Broken != nil {
				t.Errorf("Broken = %v", tbl.Broken)
			}
			if k := tbl.Record.Kind(); k != KindMBR {
				t.Errorf("Kind = %v, want mbr", k)
			}
			checkWritesExact(t, tbl, f)
		})
	}
}

func sprintf(format string, args ...any) string { return fmtSprintf(format, args...) }

// TestDFTTExtended reads a hand-edited disk whose first EBR holds two data
// entries: Linux and Windows show six FAT partitions (the sample's own
// documentation), sfdisk drops one and says so.
func TestDFTTExtended(t *testing.T) {
	path := sample(t, "mbr-extended-dftt.zip", "ext-part-test-2.dd")
	tbl, f := readImage(t, path, 512)
	want := []Partition{
		{Number: 1, StartLBA: 63, Sectors: 52353, Type: TypeFAT16Small},
		{Number: 2, StartLBA: 52416, Sectors: 52416, Type: TypeFAT16Small},
		{Number: 3, StartLBA: 104832, Sectors: 52416, Type: TypeFAT16Small},
		{Number: 4, StartLBA: 157248, Sectors: 155232, Type: TypeExtendedCHS, Extended: true},
		{Number: 5, StartLBA: 157311, Sectors: 52353, Type: TypeFAT16Small, Logical: true},
		{Number: 6, StartLBA: 209727, Sectors: 52353, Type: TypeFAT16Small, Logical: true},
		{Number: 7, StartLBA: 262143, Sectors: 50337, Type: TypeFAT16, Logical: true},
	}
	if diff := cmp.Diff(want, tbl.Partitions()); diff != "" {
		t.Errorf("Partitions() (-want +got):\n%s", diff)
	}
	ps := tbl.Verify()
	if diff := cmp.Diff([]diag.Code{ProblemEBRMultipleData}, codes(ps)); diff != "" {
		t.Errorf("Verify codes (-want +got):\n%s\n%s", diff, dumpProblems(ps))
	}

	// sfdisk keeps only the first data entry of the EBR and warns.
	st, warn := sfdiskJSON(t, path)
	if !bytes.Contains([]byte(warn), []byte("Ignoring extra data")) {
		t.Errorf("sfdisk no longer warns about the extra entry: %q", warn)
	}
	got := fromSfdisk(t, st.PartitionTable.Partitions)
	ours := fromTable(tbl.Partitions())
	// Ours minus the second entry of EBR #0, renumbered, is what sfdisk shows.
	var expect []partView
	for _, p := range ours {
		switch {
		case p.Number == 6:
			continue
		case p.Number > 6:
			p.Number--
		}
		expect = append(expect, p)
	}
	if diff := cmp.Diff(expect, got); diff != "" {
		t.Errorf("sfdisk differs beyond the dropped entry (-ours +sfdisk):\n%s", diff)
	}
	checkWritesExact(t, tbl, f)
}

// TestDFTTWindowsXP reads a disk partitioned by Windows XP.
func TestDFTTWindowsXP(t *testing.T) {
	path := sample(t, "mbr-ntfs-xp-dftt.zip", "10-ntfs-disk.dd")
	tbl, f := readImage(t, path, 512)
	st, _ := sfdiskJSON(t, path)
	if diff := cmp.Diff(fromSfdisk(t, st.PartitionTable.Partitions), fromTable(tbl.Partitions())); diff != "" {
		t.Errorf("Partitions() differs from sfdisk --json (-sfdisk +ours):\n%s", diff)
	}
	starts := []uint64{}
	for _, p := range tbl.Partitions() {
		starts = append(starts, p.StartLBA)
	}
	if diff := cmp.Diff([]uint64{63, 96390}, starts); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
	if ps := tbl.Verify(); len(ps) != 0 {
		t.Errorf("Verify:\n%s", dumpProblems(ps))
	}
	checkWritesExact(t, tbl, f)
}

// TestWritesRebuildTable applies the writes to a blank disk and reads the
// same table back.
func TestWritesRebuildTable(t *testing.T) {
	path := sfdiskImage(t, 32<<10, 512, tinyLayout)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := tbl.Writes()
	if err != nil {
		t.Fatal(err)
	}
	blank := make([]byte, len(img))
	for _, w := range ws {
		copy(blank[w.Offset:], w.New)
	}
	again, err := Read(bytes.NewReader(blank), int64(len(blank)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffTables(tbl, again); diff != "" {
		t.Errorf("table read back from the writes differs (-first +again):\n%s", diff)
	}
	var whats []string
	for _, w := range ws {
		whats = append(whats, w.What)
	}
	want := []string{"EBR #0 at LBA 17", "EBR #1 at LBA 24", "EBR #2 at LBA 31", "MBR at LBA 0"}
	if diff := cmp.Diff(want, whats); diff != "" {
		t.Errorf("write order (-want +got):\n%s", diff)
	}
}

func TestHybrid(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	path := filepath.Join(t.TempDir(), "hybrid.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.Close()
	testutil.Run(t, "sgdisk", "-o", "-n", "1:2048:+16M", "-t", "1:0700", "-n", "2:0:+16M", "-t", "2:2700", path)
	testutil.Run(t, "sgdisk", "-h", "1:EE", path)
	tbl, f2 := readImage(t, path, 512)
	if k := tbl.Record.Kind(); k != KindHybrid {
		t.Fatalf("Kind = %v, want hybrid", k)
	}
	ps := tbl.Partitions()
	if len(ps) != 2 || ps[0].Type != TypeNTFS || ps[0].StartLBA != 2048 || ps[1].Type != TypeGPTProtective {
		t.Errorf("Partitions() = %+v, want the NTFS entry then 0xEE", ps)
	}
	if ps := tbl.Verify(); len(ps) != 0 {
		t.Errorf("Verify:\n%s", dumpProblems(ps))
	}
	checkWritesExact(t, tbl, f2)
}

func TestProtective(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int64
		sectorSize int
		want       uint32
	}{
		{"4kn", 64 << 20, 4096, 64<<20/4096 - 1},
		{"3tib", 3 << 40, 512, 0xFFFFFFFF},
		{"3tib-4kn", 3 << 40, 4096, 3<<40/4096 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sfdiskImage(t, tc.size, tc.sectorSize, "label: gpt\nsize=1MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n")
			tbl, f := readImage(t, path, tc.sectorSize)
			if k := tbl.Record.Kind(); k != KindProtective {
				t.Fatalf("Kind = %v, want protective", k)
			}
			e := tbl.Record.Entries[0]
			if e.StartLBA != 1 || e.Sectors != tc.want {
				t.Errorf("0xEE entry start %d size %d, want 1 and %d", e.StartLBA, e.Sectors, tc.want)
			}
			if ps := tbl.Verify(); len(ps) != 0 {
				t.Errorf("Verify:\n%s", dumpProblems(ps))
			}
			checkWritesExact(t, tbl, f)

			// Windows writes 0xFFFFFFFF whatever the disk size; it covers
			// the whole disk and sgdisk -v accepts it.
			tbl.Record.Entries[0].Sectors = 0xFFFFFFFF
			if ps := tbl.Verify(); len(ps) != 0 {
				t.Errorf("Verify with a 0xFFFFFFFF 0xEE entry:\n%s", dumpProblems(ps))
			}
			tbl.Record.Entries[0].Sectors = tc.want - 1
			if ps := tbl.Verify(); !hasCode(ps, ProblemProtectiveSize) {
				t.Errorf("a short 0xEE entry went unreported:\n%s", dumpProblems(ps))
			}
			tbl.Record.Entries[0].StartLBA = 2
			if ps := tbl.Verify(); !hasCode(ps, ProblemProtectiveStart) {
				t.Errorf("a 0xEE entry at LBA 2 went unreported:\n%s", dumpProblems(ps))
			}
		})
	}
}

func TestMBROverTwoTiB(t *testing.T) {
	path := sfdiskImage(t, 3<<40, 512, "label: dos\nstart=2048, size=1000000, type=7\n")
	tbl, _ := readImage(t, path, 512)
	if diff := cmp.Diff([]diag.Code{ProblemDiskTooLarge}, codes(tbl.Verify())); diff != "" {
		t.Errorf("Verify codes (-want +got):\n%s", diff)
	}
	// No free extent reaches past what an entry can start at.
	fe := tbl.FreeExtents(2048)
	if last := fe[len(fe)-1]; last.StartLBA+last.Sectors > 1<<32 {
		t.Errorf("free extent %+v goes beyond LBA 2^32", last)
	}
}

func TestReadErrors(t *testing.T) {
	good := make([]byte, 4096)
	good[510], good[511] = 0x55, 0xAA
	for _, tc := range []struct {
		name       string
		img        []byte
		size       int64
		sectorSize int
		want       error
	}{
		{"no-signature", make([]byte, 4096), 4096, 512, ErrNoBootSignature},
		{"short", good[:100], 4096, 512, ErrShortRecord},
		{"sector-size-1000", good, 4096, 1000, ErrSectorSize},
		{"sector-size-256", good, 4096, 256, ErrSectorSize},
		{"disk-too-small", good, 511, 512, ErrDiskSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.img), tc.size, tc.sectorSize)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read error %v, want %v", err, tc.want)
			}
		})
	}
	_, err := Read(bytes.NewReader(make([]byte, 512)), 512, 512)
	var re *RecordError
	if !errors.As(err, &re) || re.LBA != 0 {
		t.Errorf("error %v is not a *RecordError for LBA 0", err)
	}
}

// TestVerifyWhere: a problem of one partition names it in Where; one of
// the table as a whole leaves Where empty.
func TestVerifyWhere(t *testing.T) {
	tbl, err := New(64<<20, 512, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []uint64{2048, 8192, 16384} {
		if _, err := tbl.AddPrimary(start, 4096, TypeNTFS); err != nil {
			t.Fatal(err)
		}
	}
	tbl.Record.Entries[0].Status = 0x80
	tbl.Record.Entries[1].Status = 0x80
	tbl.Record.Entries[2].Status = 0x81
	var got []string
	for _, p := range tbl.Verify() {
		got = append(got, string(p.Code)+"@"+p.Where)
	}
	if diff := cmp.Diff([]string{"bad-boot-flag@partition 3", "multiple-active@"}, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
