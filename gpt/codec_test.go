package gpt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestGUIDOnDisk(t *testing.T) {
	// The ESP type as stored on disk (UEFI Appendix A mixed-endian form).
	disk := []byte{0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B}
	if got := Type(DecodeGUID(disk)); got != TypeESP {
		t.Errorf("decode: %v", got)
	}
	if got := AppendGUID(nil, uuid.UUID(TypeESP)); !bytes.Equal(got, disk) {
		t.Errorf("encode: % x", got)
	}
}

func TestTypes(t *testing.T) {
	if len(typeNames) < 31 {
		t.Errorf("%d well-known types", len(typeNames))
	}
	seen := map[string]Type{}
	for typ, name := range typeNames {
		if o, dup := seen[name]; dup {
			t.Errorf("name %q for %v and %v", name, typ, o)
		}
		seen[name] = typ
	}
	if TypeWinRE.String() != "de94bba4-06d1-4d40-a16a-bfd50179d6ac" || TypeWinRE.Name() != "Windows Recovery Environment" {
		t.Errorf("WinRE: %v %q", TypeWinRE, TypeWinRE.Name())
	}
	if n := mustType("01234567-89ab-cdef-0123-456789abcdef").Name(); n != "" {
		t.Errorf("unknown type named %q", n)
	}
	for _, s := range []string{"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", "{de94bba4-06d1-4d40-a16a-bfd50179d6ac}"} {
		if typ, err := ParseType(s); err != nil || typ != TypeWinRE {
			t.Errorf("ParseType(%s): %v %v", s, typ, err)
		}
	}
	if _, err := ParseType("winre"); err == nil {
		t.Error("ParseType accepted junk")
	}
}

func TestAttributes(t *testing.T) {
	for a, want := range map[Attributes]string{
		0:                                      "0x0000000000000000",
		AttrWinRE:                              "0x8000000000000001 (platform-required, no-drive-letter)",
		AttrNoBlockIO | AttrLegacyBIOSBootable: "0x0000000000000006 (no-block-io, legacy-bios-bootable)",
		AttrReadOnly | AttrShadowCopy | 1<<5:   "0x3000000000000020 (bit 5, read-only, shadow-copy)",
	} {
		if got := a.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint64(a), got, want)
		}
	}
	if !AttrWinRE.Has(AttrNoDriveLetter) || AttrWinRE.Has(AttrHidden|AttrNoDriveLetter) {
		t.Error("Has")
	}
}

func TestLabel(t *testing.T) {
	var e Entry
	for _, s := range []string{"", "Windows RE tools", "Новый том", "𝄞 clef", string(bytes.Repeat([]byte("a"), 36))} {
		if err := e.SetLabel(s); err != nil || e.Label() != s {
			t.Errorf("SetLabel(%q): %v, Label %q", s, err, e.Label())
		}
	}
	e.SetLabel("keep")
	// 35 units plus one surrogate pair is 37 code units.
	long := string(bytes.Repeat([]byte("a"), 35)) + "𝄞"
	if err := e.SetLabel(long); !errors.Is(err, ErrLabelTooLong) || e.Label() != "keep" {
		t.Errorf("SetLabel(37 units): %v, label %q", err, e.Label())
	}
	e.Name = [NameLen]uint16{'a', 0xD800, 'b'} // unpaired surrogate
	if got := e.Label(); got != "a\uFFFDb" {
		t.Errorf("Label with lone surrogate: %q", got)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	h := Header{Signature: Signature, Revision: Revision10, HeaderSize: 96, Reserved: 7, MyLBA: 1, AlternateLBA: 99,
		FirstUsableLBA: 34, LastUsableLBA: 66, DiskGUID: uuid.MustParse(diskGUID), PartitionEntryLBA: 2,
		NumberOfPartitionEntries: 128, SizeOfPartitionEntry: 128, PartitionEntryArrayCRC32: 0xdeadbeef, Extra: []byte{1, 2, 3, 4}}
	crc, err := h.CRC32()
	if err != nil {
		t.Fatal(err)
	}
	h.HeaderCRC32 = crc
	b, err := h.MarshalBinary()
	if err != nil || len(b) != 96 {
		t.Fatal(err, len(b))
	}
	var got Header
	if err := got.UnmarshalBinary(append(b, make([]byte, 416)...)); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(h, got); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	h.HeaderSize = 92
	if _, err := h.MarshalBinary(); !errors.Is(err, ErrHeaderSize) {
		t.Errorf("mismatched Extra: %v", err)
	}
	if err := got.UnmarshalBinary(b[:50]); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short header: %v", err)
	}

	e := entryWith(TypeWinRE, guidRE, 10, 20, AttrWinRE, "Windows RE tools")
	eb, _ := e.MarshalBinary()
	var ge Entry
	if err := ge.UnmarshalBinary(append(eb, 9, 8, 7, 6, 5, 4, 3, 2)); err != nil || len(eb) != 128 {
		t.Fatal(err)
	}
	if d := cmp.Diff(e, ge); d != "" {
		t.Errorf("entry (-want +got):\n%s", d)
	}
	if e.Sectors() != 11 || e.SizeBytes(4096) != 11*4096 || e.StartBytes(512) != 5120 || (Entry{FirstLBA: 5, LastLBA: 4}).Sectors() != 0 {
		t.Error("entry sizes")
	}
	if err := ge.UnmarshalBinary(eb[:127]); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short entry: %v", err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	tab, err := Read(bytes.NewReader(goodImage(t)), goodSize, 512)
	if err != nil {
		t.Fatal(err)
	}
	c := tab.Clone()
	if d := cmp.Diff(tab, c, cmp.Comparer(func(a, b error) bool { return a == b })); d != "" {
		t.Fatalf("clone differs:\n%s", d)
	}
	c.Entries[0].Name[0] = 'X'
	c.Primary.EntryArray[0] ^= 1
	c.ProtectiveMBR.Entries[0].Sectors = 1
	c.Header.DiskGUID = uuid.Nil
	if tab.Entries[0].Name[0] == 'X' || tab.Primary.EntryArray[0] == c.Primary.EntryArray[0] ||
		tab.ProtectiveMBR.Entries[0].Sectors == 1 || tab.Header.DiskGUID == uuid.Nil {
		t.Error("clone shares memory with the original")
	}
}

func TestReadRejectsGeometry(t *testing.T) {
	img := goodImage(t)
	for _, ss := range []int{0, 256, 520, 1 << 17} {
		if _, err := Read(bytes.NewReader(img), goodSize, ss); !errors.Is(err, ErrSectorSize) {
			t.Errorf("sector size %d: %v", ss, err)
		}
	}
	if _, err := Read(bytes.NewReader(img), 1024, 512); !errors.Is(err, ErrDiskTooSmall) {
		t.Errorf("tiny disk: %v", err)
	}
	// A reader shorter than the disk: the backup cannot be read.
	tab, err := Read(bytes.NewReader(img[:goodSize-512]), goodSize, 512)
	if err != nil || tab.Source != Primary || tab.Backup.Valid() || !hasCode(tab.Verify(), ProblemBackupInvalid) {
		t.Errorf("short reader: %v", err)
	}
}

func TestStrings(t *testing.T) {
	if Primary.String() != "primary" || Backup.String() != "backup" || Source(7).String() != "Source(7)" {
		t.Error("Source.String")
	}
	he := &HeaderError{Copy: Backup, LBA: 8191, Field: "MyLBA", Value: 1, Detail: "read at LBA 8191", Err: ErrMyLBA}
	if got := he.Error(); got != "gpt: MyLBA does not match the header's location: backup header at LBA 8191: MyLBA = 0x1 (read at LBA 8191)" {
		t.Errorf("HeaderError: %s", got)
	}
}
