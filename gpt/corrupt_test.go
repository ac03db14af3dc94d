package gpt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/mbr"
)

const goodSize = 4 << 20 // 8192 sectors of 512 bytes

// goodTable is a clean 4 MiB table with three partitions.
func goodTable(t testing.TB) *Table {
	t.Helper()
	tab, err := New(goodSize, 512, uuid.MustParse(diskGUID))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{
		entryWith(TypeESP, guidESP, 2048, 4095, 0, "EFI system partition"),
		entryWith(TypeBasicData, guidOS, 4096, 6143, 0, "Basic data partition"),
		entryWith(TypeWinRE, guidRE, 6144, 8158, AttrWinRE, "Windows RE tools"),
	} {
		if _, err := tab.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return tab
}

// goodImage returns the bytes of goodTable on a zeroed disk.
func goodImage(t testing.TB) []byte {
	t.Helper()
	ws, err := goodTable(t).Writes()
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, goodSize)
	applyWritesMem(img, ws)
	return img
}

// Byte offsets of the headers in goodImage.
const (
	primaryOff = 512
	backupOff  = goodSize - 512
)

// mutator names a way of damaging goodImage.
type mutator struct {
	name string
	mess func(b []byte)
}

func setHeader32(off, field int, v uint32) func([]byte) {
	return func(b []byte) { le32(b, off+field, v); fixHeaderCRC(b, off) }
}

func setHeader64(off, field int, v uint64) func([]byte) {
	return func(b []byte) { le64(b, off+field, v); fixHeaderCRC(b, off) }
}

func TestCorruptCopies(t *testing.T) {
	tests := []struct {
		mutator
		primary, backup error // wanted sentinels; nil = copy valid
	}{
		{mutator{"primary-no-signature", func(b []byte) { b[primaryOff] = 'X' }}, ErrNoSignature, nil},
		{mutator{"primary-header-crc", func(b []byte) { b[primaryOff+offDiskGUID] ^= 1 }}, ErrHeaderCRC, nil},
		{mutator{"primary-header-size-small", setHeader32(primaryOff, offHeaderSize, 91)}, ErrHeaderSize, nil},
		{mutator{"primary-header-size-big", func(b []byte) { le32(b, primaryOff+offHeaderSize, 513) }}, ErrHeaderSize, nil},
		{mutator{"primary-mylba", setHeader64(primaryOff, offMyLBA, 7)}, ErrMyLBA, nil},
		{mutator{"primary-entry-size-small", setHeader32(primaryOff, offSizeOfEntry, 64)}, ErrEntrySize, nil},
		{mutator{"primary-entry-size-odd", setHeader32(primaryOff, offSizeOfEntry, 132)}, ErrEntrySize, nil},
		{mutator{"primary-entries-0xffffffff", setHeader32(primaryOff, offNumberOfEntries, 0xFFFFFFFF)}, ErrEntryArrayTooBig, nil},
		{mutator{"primary-array-past-disk", setHeader64(primaryOff, offPartitionEntry, 1<<40)}, ErrEntryArrayPlace, nil},
		{mutator{"primary-array-on-header", setHeader64(primaryOff, offPartitionEntry, 1)}, ErrEntryArrayPlace, nil},
		{mutator{"primary-array-in-usable", setHeader64(primaryOff, offFirstUsableLBA, 10)}, ErrEntryArrayOverlap, nil},
		{mutator{"primary-usable-inverted", setHeader64(primaryOff, offLastUsableLBA, 20)}, ErrUsableRange, nil},
		{mutator{"primary-usable-past-disk", setHeader64(primaryOff, offLastUsableLBA, 9000)}, ErrUsableRange, nil},
		{mutator{"primary-usable-holds-header", setHeader64(primaryOff, offFirstUsableLBA, 1)}, ErrUsableRange, nil},
		{mutator{"primary-array-crc", func(b []byte) { b[2*512+offEntryName] ^= 1 }}, ErrEntryArrayCRC, nil},
		{mutator{"backup-no-signature", func(b []byte) { b[backupOff+3] = 0 }}, nil, ErrNoSignature},
		{mutator{"backup-mylba", setHeader64(backupOff, offMyLBA, 1)}, nil, ErrMyLBA},
		{mutator{"backup-array-crc", func(b []byte) { b[backupOff-32*512+200] ^= 0x80 }}, nil, ErrEntryArrayCRC},
		{mutator{"both-crc", func(b []byte) { b[primaryOff+offMyLBA] ^= 1; b[backupOff+offMyLBA] ^= 1 }}, ErrHeaderCRC, ErrHeaderCRC},
		{mutator{"both-different", func(b []byte) { b[primaryOff] = 0; le32(b, backupOff+offSizeOfEntry, 8); fixHeaderCRC(b, backupOff) }}, ErrNoSignature, ErrEntrySize},
		{mutator{"blank", func(b []byte) { clear(b) }}, ErrNoSignature, ErrNoSignature},
	}
	good := goodTable(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := goodImage(t)
			tt.mess(img)
			tab, err := Read(bytes.NewReader(img), goodSize, 512)
			if tt.primary != nil && tt.backup != nil {
				var re *ReadError
				if !errors.As(err, &re) || !errors.Is(re.Primary, tt.primary) || !errors.Is(re.Backup, tt.backup) {
					t.Fatalf("Read: %v, want ReadError{%v, %v}", err, tt.primary, tt.backup)
				}
				if !errors.Is(err, tt.primary) || !errors.Is(err, tt.backup) {
					t.Errorf("ReadError does not unwrap to both: %v", err)
				}
				var he *HeaderError
				if !errors.As(err, &he) || he.Copy != Primary || he.LBA != 1 {
					t.Errorf("HeaderError %+v", he)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			c, other, src, code := tab.Primary, tab.Backup, Backup, ProblemPrimaryInvalid
			want := tt.primary
			if tt.backup != nil {
				c, other, src, code, want = tab.Backup, tab.Primary, Primary, ProblemBackupInvalid, tt.backup
			}
			if !errors.Is(c.Err, want) || !other.Valid() || tab.Source != src {
				t.Fatalf("copy error %v (want %v), other %v, source %v", c.Err, want, other.Err, tab.Source)
			}
			var he *HeaderError
			if !errors.As(c.Err, &he) || he.Copy != src%2+1 || he.LBA != c.LBA || he.Field == "" {
				t.Errorf("HeaderError %+v", he)
			}
			if d := cmp.Diff(usedEntries(good.Entries), tab.Entries); d != "" && tt.backup == nil {
				t.Errorf("entries from the backup (-want +got):\n%s", d)
			}
			if !hasCode(tab.Verify(), code) {
				t.Errorf("Verify lacks %s: %v", code, tab.Verify())
			}
			// Writing the table back repairs the broken copy.
			ws, err := tab.Writes()
			if err != nil {
				t.Fatal(err)
			}
			applyWritesMem(img, ws)
			fixed, err := Read(bytes.NewReader(img), goodSize, 512)
			if err != nil {
				t.Fatal(err)
			}
			if p := fixed.Verify(); p != nil || fixed.Source != Primary {
				t.Errorf("after repair: source %v, %v", fixed.Source, p)
			}
			if d := cmp.Diff(usedEntries(good.Entries), fixed.Entries); d != "" {
				t.Errorf("repaired entries (-want +got):\n%s", d)
			}
		})
	}
}

// allCodes lists every diag.Code; TestVerifyCodes checks each is produced.
var allCodes = []diag.Code{
	ProblemPrimaryInvalid, ProblemBackupInvalid, ProblemHeadersDiffer, ProblemAlternateLBA, ProblemArraysDiffer,
	ProblemBackupNotAtEnd, ProblemRevision, ProblemReservedNonzero, ProblemArraySmall, ProblemZeroDiskGUID,
	ProblemStartAfterEnd, ProblemOutsideDisk, ProblemOutsideUsable, ProblemOverlap, ProblemDuplicateGUID,
	ProblemZeroUniqueGUID, ProblemUnaligned, ProblemMBRMissing, ProblemMBRNotProtective, ProblemMBRProtectiveRange,
	ProblemMBRManyProtective, ProblemMBRHybrid, ProblemHybridMismatch,
}

func TestVerifyCodes(t *testing.T) {
	byBytes := []struct {
		mutator
		want []diag.Code
	}{
		{mutator{"primary-crc", func(b []byte) { b[primaryOff+offDiskGUID] ^= 1 }}, []diag.Code{ProblemPrimaryInvalid}},
		{mutator{"backup-crc", func(b []byte) { b[backupOff+offDiskGUID] ^= 1 }}, []diag.Code{ProblemBackupInvalid}},
		{mutator{"backup-disk-guid", func(b []byte) { b[backupOff+offDiskGUID] ^= 1; fixHeaderCRC(b, backupOff) }}, []diag.Code{ProblemHeadersDiffer}},
		{mutator{"backup-alternate", setHeader64(backupOff, offAlternateLBA, 5)}, []diag.Code{ProblemAlternateLBA}},
		{mutator{"backup-array", func(b []byte) { b[backupOff-32*512+offEntryName] ^= 1; fixArrayCRC(b, backupOff, 512) }}, []diag.Code{ProblemArraysDiffer, ProblemHeadersDiffer}},
		{mutator{"revision", func(b []byte) {
			setHeader32(primaryOff, offRevision, 0x20000)(b)
			setHeader32(backupOff, offRevision, 0x20000)(b)
		}}, []diag.Code{ProblemRevision}},
		{mutator{"reserved", func(b []byte) {
			setHeader32(primaryOff, offReserved, 1)(b)
		}}, []diag.Code{ProblemReservedNonzero}},
		{mutator{"sector-tail", func(b []byte) { b[primaryOff+400] = 1 }}, []diag.Code{ProblemReservedNonzero}},
		{mutator{"alternate-past-disk", setHeader64(primaryOff, offAlternateLBA, 1<<40)}, []diag.Code{ProblemAlternateLBA}},
	}
	seen := map[diag.Code]bool{}
	for _, tt := range byBytes {
		t.Run(tt.name, func(t *testing.T) {
			img := goodImage(t)
			tt.mess(img)
			tab, err := Read(bytes.NewReader(img), goodSize, 512)
			if err != nil {
				t.Fatal(err)
			}
			checkCodes(t, tab.Verify(), tt.want, seen)
		})
	}
	byTable := []struct {
		name string
		edit func(t *Table)
		want []diag.Code
	}{
		{"grown", func(t *Table) { t.DiskSize += 1 << 20 }, []diag.Code{ProblemBackupNotAtEnd, ProblemMBRProtectiveRange}},
		{"small-array", func(t *Table) { t.Header.NumberOfPartitionEntries = 4 }, []diag.Code{ProblemArraySmall}},
		{"zero-disk-guid", func(t *Table) { t.Header.DiskGUID = uuid.Nil }, []diag.Code{ProblemZeroDiskGUID}},
		{"start-after-end", func(t *Table) { t.Entries[1].FirstLBA = 6200 }, []diag.Code{ProblemStartAfterEnd}},
		{"outside-disk", func(t *Table) { t.Entries[2].LastLBA = 9000 }, []diag.Code{ProblemOutsideDisk}},
		{"outside-usable", func(t *Table) { t.Entries[2].LastLBA = 8180 }, []diag.Code{ProblemOutsideUsable}},
		{"overlap", func(t *Table) { t.Entries[0].LastLBA = 4096 }, []diag.Code{ProblemOverlap}},
		{"duplicate-guid", func(t *Table) { t.Entries[1].UniqueGUID = t.Entries[0].UniqueGUID }, []diag.Code{ProblemDuplicateGUID}},
		{"zero-guid", func(t *Table) { t.Entries[1].UniqueGUID = uuid.Nil }, []diag.Code{ProblemZeroUniqueGUID}},
		{"unaligned", func(t *Table) { t.Entries[1].FirstLBA = 4097 }, []diag.Code{ProblemUnaligned}},
		{"mbr-missing", func(t *Table) { t.ProtectiveMBR = nil }, []diag.Code{ProblemMBRMissing}},
		{"mbr-classic", func(t *Table) { t.ProtectiveMBR.Entries[0].Type = mbr.TypeNTFS }, []diag.Code{ProblemMBRNotProtective}},
		{"mbr-empty", func(t *Table) { t.ProtectiveMBR.Entries[0] = mbr.Entry{} }, []diag.Code{ProblemMBRNotProtective}},
		{"mbr-short", func(t *Table) { t.ProtectiveMBR.Entries[0].Sectors-- }, []diag.Code{ProblemMBRProtectiveRange}},
		{"mbr-two-ee", func(t *Table) { t.ProtectiveMBR.Entries[3] = t.ProtectiveMBR.Entries[0] }, []diag.Code{ProblemMBRManyProtective}},
		{"hybrid", func(t *Table) {
			t.ProtectiveMBR.Entries[1] = mbr.Entry{Type: mbr.TypeEFISystem, StartLBA: 2048, Sectors: 2048}
		}, []diag.Code{ProblemMBRHybrid}},
		{"hybrid-mismatch", func(t *Table) {
			t.ProtectiveMBR.Entries[1] = mbr.Entry{Type: mbr.TypeNTFS, StartLBA: 4096, Sectors: 100}
		}, []diag.Code{ProblemMBRHybrid, ProblemHybridMismatch}},
	}
	for _, tt := range byTable {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Read(bytes.NewReader(goodImage(t)), goodSize, 512)
			if err != nil {
				t.Fatal(err)
			}
			if p := tab.Verify(); p != nil {
				t.Fatalf("good table: %v", p)
			}
			tt.edit(tab)
			checkCodes(t, tab.Verify(), tt.want, seen)
		})
	}
	for _, c := range allCodes {
		if !seen[c] {
			t.Errorf("no test produces %s", c)
		}
	}
}

func checkCodes(t *testing.T, ps []diag.Problem, want []diag.Code, seen map[diag.Code]bool) {
	t.Helper()
	got := map[diag.Code]bool{}
	for _, p := range ps {
		got[p.Code] = true
		seen[p.Code] = true
		if p.Message == "" || p.Remedy == "" {
			t.Errorf("problem without message or remedy: %+v", p)
		}
	}
	for _, c := range want {
		if !got[c] {
			t.Errorf("Verify lacks %s: %v", c, ps)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Verify gives %d codes, want %v: %v", len(got), want, ps)
	}
}

// TestVerifyWhere: problems of one partition name it in Where, as mbr's
// do; problems of the table as a whole leave Where empty.
func TestVerifyWhere(t *testing.T) {
	tab, err := Read(bytes.NewReader(goodImage(t)), goodSize, 512)
	if err != nil {
		t.Fatal(err)
	}
	tab.Entries[1].UniqueGUID = uuid.Nil
	tab.Header.DiskGUID = uuid.Nil
	want := map[diag.Code]string{ProblemZeroUniqueGUID: "partition 2", ProblemZeroDiskGUID: ""}
	ps := tab.Verify()
	for _, p := range ps {
		w, ok := want[p.Code]
		if !ok {
			t.Errorf("unexpected problem %v", p)
			continue
		}
		if p.Where != w {
			t.Errorf("%s: Where %q, want %q", p.Code, p.Where, w)
		}
		delete(want, p.Code)
	}
	if len(want) != 0 {
		t.Errorf("missing problems %v in %v", want, ps)
	}
}
