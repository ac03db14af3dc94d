package mbr

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/winrepart/winrepart/diag"
)

// tinyImage returns the bytes of tinyLayout: MBR at 0; 1-8 active NTFS;
// 9-16 WinRE; extended 17-56 with EBRs at 17, 24, 31 holding logicals
// 18-23, 25-30, 32-37.
func tinyImage(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(sfdiskImage(t, 32<<10, 512, tinyLayout))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entryAt returns the 16 bytes of slot in the record at lba.
func entryAt(img []byte, lba, slot int) []byte {
	off := lba*512 + offEntries + slot*entrySize
	return img[off : off+entrySize]
}

func setEntry(img []byte, lba, slot int, e Entry) {
	copy(entryAt(img, lba, slot), e.appendBinary(nil))
}

func editEntry(img []byte, lba, slot int, edit func(*Entry)) {
	e := decodeEntry(entryAt(img, lba, slot))
	edit(&e)
	setEntry(img, lba, slot, e)
}

// Named mutators: each breaks the tiny image in one way.
var mutators = []struct {
	name    string
	mutate  func(img []byte)
	wantErr error     // Read must fail with this
	want    diag.Code // else Verify must report this
	logical int       // logical partitions expected when Read succeeds
}{
	{"no-signature", func(b []byte) { b[510] = 0 }, ErrNoBootSignature, "", 0},
	{"chain-loop", func(b []byte) {
		setEntry(b, 31, 1, Entry{Type: TypeExtendedCHS, StartLBA: 0, Sectors: 7})
	}, nil, ProblemChainLoop, 3},
	{"ebr-out-of-extended", func(b []byte) {
		editEntry(b, 24, 1, func(e *Entry) { e.StartLBA = 100 })
	}, nil, ProblemChainOutsideExtended, 2},
	{"ebr-beyond-disk", func(b []byte) {
		editEntry(b, 0, 2, func(e *Entry) { e.Sectors = 200 })
		editEntry(b, 24, 1, func(e *Entry) { e.StartLBA = 100 })
	}, nil, ProblemChainOutsideDisk, 2},
	{"ebr-no-signature", func(b []byte) { b[31*512+511] = 0 }, nil, ProblemChainNoSignature, 2},
	{"bad-boot-flag", func(b []byte) { editEntry(b, 0, 1, func(e *Entry) { e.Status = 0x12 }) }, nil, ProblemBadBootFlag, 3},
	{"bad-boot-flag-logical", func(b []byte) { editEntry(b, 24, 0, func(e *Entry) { e.Status = 0x01 }) }, nil, ProblemBadBootFlag, 3},
	{"multiple-active", func(b []byte) { editEntry(b, 0, 1, func(e *Entry) { e.Status = 0x80 }) }, nil, ProblemMultipleActive, 3},
	{"overlapping-primaries", func(b []byte) { editEntry(b, 0, 1, func(e *Entry) { e.StartLBA = 5 }) }, nil, ProblemOverlap, 3},
	{"overlapping-logicals", func(b []byte) { editEntry(b, 24, 0, func(e *Entry) { e.Sectors = 10 }) }, nil, ProblemOverlap, 3},
	{"outside-disk", func(b []byte) { editEntry(b, 0, 1, func(e *Entry) { e.StartLBA = 60; e.Sectors = 100 }) }, nil, ProblemOutsideDisk, 3},
	{"start-zero", func(b []byte) { editEntry(b, 24, 0, func(e *Entry) { e.StartLBA = 0 }) }, nil, ProblemStartZero, 3},
	{"multiple-extended", func(b []byte) {
		setEntry(b, 0, 3, Entry{Type: TypeExtendedLBA, StartLBA: 57, Sectors: 5})
	}, nil, ProblemMultipleExtended, 3},
	{"zero-size", func(b []byte) { setEntry(b, 0, 3, Entry{Type: TypeNTFS, StartLBA: 57}) }, nil, ProblemZeroSize, 3},
	{"stale-entry", func(b []byte) { setEntry(b, 0, 3, Entry{StartLBA: 57, Sectors: 3}) }, nil, ProblemStaleEntry, 3},
	{"logical-outside-extended", func(b []byte) { editEntry(b, 31, 0, func(e *Entry) { e.StartLBA = 30 }) }, nil, ProblemLogicalOutsideExtended, 3},
	{"covers-ebr", func(b []byte) { editEntry(b, 17, 0, func(e *Entry) { e.Sectors = 7 }) }, nil, ProblemCoversEBR, 3},
	{"ebr-multiple-links", func(b []byte) {
		setEntry(b, 17, 2, Entry{Type: TypeExtendedCHS, StartLBA: 30, Sectors: 3})
	}, nil, ProblemEBRMultipleLinks, 3},
	{"ebr-multiple-data", func(b []byte) {
		setEntry(b, 31, 2, Entry{Type: TypeLinux, StartLBA: 7, Sectors: 1})
	}, nil, ProblemEBRMultipleData, 4},
	{"chs-mismatch", func(b []byte) { editEntry(b, 0, 1, func(e *Entry) { e.FirstCHS = CHS{9, 9, 9} }) }, nil, ProblemCHSMismatch, 3},
}

func TestCorruptVariants(t *testing.T) {
	base := tinyImage(t)
	for _, m := range mutators {
		t.Run(m.name, func(t *testing.T) {
			img := bytes.Clone(base)
			m.mutate(img)
			tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
			if m.wantErr != nil {
				var re *RecordError
				if !errors.Is(err, m.wantErr) || !errors.As(err, &re) {
					t.Fatalf("Read error %v, want a *RecordError wrapping %v", err, m.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			ps := tbl.Verify()
			if !hasCode(ps, m.want) {
				t.Errorf("Verify does not report %s:\n%s", m.want, dumpProblems(ps))
			}
			if len(tbl.Logical) != m.logical {
				t.Errorf("%d logical partitions, want %d", len(tbl.Logical), m.logical)
			}
			// Whatever was salvaged is still written back byte for byte.
			checkWritesExact(t, tbl, bytes.NewReader(img))
		})
	}
}

func TestChainErrorUnwraps(t *testing.T) {
	img := tinyImage(t)
	setEntry(img, 31, 1, Entry{Type: TypeExtendedCHS, StartLBA: 0, Sectors: 7})
	tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	want := ChainError{EBRLBA: 17, Index: 3, Err: ErrChainLoop}
	if tbl.Broken == nil || *tbl.Broken != want || !errors.Is(tbl.Broken, ErrChainLoop) {
		t.Fatalf("Broken = %v, want %v", tbl.Broken, &want)
	}
}

func TestChainTooLong(t *testing.T) {
	const n = MaxChain + 10
	img := make([]byte, (n+2)*512)
	setEntry(img, 0, 0, Entry{Type: TypeExtendedLBA, StartLBA: 1, Sectors: n})
	for i := 0; i < n; i++ {
		// Link-only EBRs, each pointing at the next sector.
		setEntry(img, 1+i, 1, Entry{Type: TypeExtendedCHS, StartLBA: uint32(i + 1), Sectors: 1})
		img[(1+i)*512+510], img[(1+i)*512+511] = 0x55, 0xAA
	}
	img[510], img[511] = 0x55, 0xAA
	tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.EBRs) != MaxChain || !hasCode(tbl.Verify(), ProblemChainTooLong) {
		t.Errorf("%d EBRs, problems %v; want %d and chain-too-long", len(tbl.EBRs), codes(tbl.Verify()), MaxChain)
	}
}

// failingReader fails every read at or after offset from.
type failingReader struct {
	r    io.ReaderAt
	from int64
}

var errDevice = errors.New("device error")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.from {
		return 0, errDevice
	}
	return f.r.ReadAt(p, off)
}

func TestEBRReadError(t *testing.T) {
	img := tinyImage(t)
	_, err := Read(failingReader{bytes.NewReader(img), 24 * 512}, int64(len(img)), 512)
	var re *RecordError
	if !errors.As(err, &re) || re.LBA != 24 || !errors.Is(err, errDevice) || !errors.Is(err, ErrShortRecord) {
		t.Fatalf("Read error %v, want a *RecordError at LBA 24 wrapping the device error", err)
	}
}

func TestExtendedAtLBA0(t *testing.T) {
	img := make([]byte, 8<<10)
	setEntry(img, 0, 0, Entry{Type: TypeExtendedLBA, StartLBA: 0, Sectors: 16})
	img[510], img[511] = 0x55, 0xAA
	tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.EBRs) != 0 || tbl.Broken == nil || !errors.Is(tbl.Broken, ErrChainLoop) {
		t.Fatalf("EBRs %v, Broken %v; want none and a loop to the MBR", tbl.EBRs, tbl.Broken)
	}
	if _, err := tbl.Writes(); err != nil {
		t.Fatal(err)
	}
	if ps := tbl.Verify(); !hasCode(ps, ProblemStartZero) || !hasCode(ps, ProblemChainLoop) {
		t.Errorf("Verify:\n%s", dumpProblems(ps))
	}
}
