package mbr

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/diag"
)

// microLayout is tinyLayout in 16 sectors: small enough for the fuzzer to
// mutate quickly, with the chain intact.
const microLayout = `label: dos
label-id: 0x12345678
grain: 512
start=1, size=2, type=7, bootable
start=3, size=2, type=27
start=5, size=11, type=f
start=6, size=2, type=83
start=9, size=2, type=7
start=12, size=2, type=82
`

// fuzzSeeds returns small disk images made by sfdisk, or nothing when
// sfdisk is missing (the hand-made seeds below still run).
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, s := range []struct {
		size   int64
		script string
	}{{8 << 10, microLayout}, {32 << 10, tinyLayout}, {8 << 10, "label: dos\nlabel-id: 0x1\ngrain: 512\nstart=1,size=4,type=7\nstart=5,size=8,type=5\n"}} {
		if _, err := lookPath("sfdisk"); err != nil {
			break
		}
		b, err := os.ReadFile(sfdiskImage(f, s.size, 512, s.script))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	// Hand-made: a chain that loops, and a protective MBR.
	loop := make([]byte, 8<<10)
	putEntry(loop, 0, 0, Entry{Type: TypeExtendedLBA, StartLBA: 2, Sectors: 10})
	putEntry(loop, 2, 0, Entry{Type: TypeLinux, StartLBA: 1, Sectors: 1})
	putEntry(loop, 2, 1, Entry{Type: TypeExtendedLBA, StartLBA: 0, Sectors: 3})
	seeds = append(seeds, loop)
	prot := make([]byte, 4<<10)
	putEntry(prot, 0, 0, Entry{Type: TypeGPTProtective, StartLBA: 1, Sectors: 7, FirstCHS: CHS{0, 2, 0}, LastCHS: CHS{0xff, 0xff, 0xff}})
	return append(seeds, prot)
}

// putEntry writes e into slot of the record at lba (512-byte sectors) and
// gives the record its signature.
func putEntry(img []byte, lba, slot int, e Entry) {
	off := lba*512 + offEntries + slot*entrySize
	copy(img[off:off+entrySize], e.appendBinary(nil))
	img[lba*512+510], img[lba*512+511] = 0x55, 0xAA
}

func FuzzRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[:Size])
		f.Add(s[5*Size : 6*Size])
	}
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		err := r.UnmarshalBinary(b)
		if len(b) < Size {
			if !errors.Is(err, ErrShortRecord) {
				t.Fatalf("%d bytes: error %v, want ErrShortRecord", len(b), err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrNoBootSignature) {
			t.Fatalf("unexpected error %v", err)
		}
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(out, b[:Size]); i >= 0 {
			t.Fatalf("MarshalBinary differs from the input at byte %d", i)
		}
		var again Record
		_ = again.UnmarshalBinary(out)
		if again != r {
			t.Fatal("record changed across a round trip")
		}
		_ = r.Kind().String()
		for _, e := range r.Entries {
			_ = e.Type.String() + e.FirstCHS.String()
		}
	})
}

func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, shift uint8) {
		ss := 512 << (shift % 4)
		tbl, err := Read(bytes.NewReader(data), int64(len(data)), ss)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) && !errors.Is(err, ErrDiskSize) {
				t.Fatalf("error %v is neither a *RecordError nor ErrDiskSize", err)
			}
			return
		}
		if len(tbl.EBRs) > MaxChain || len(tbl.Logical) > 4*MaxChain {
			t.Fatalf("%d EBRs, %d logicals: beyond the caps", len(tbl.EBRs), len(tbl.Logical))
		}
		ps := tbl.Verify()
		for _, p := range ps {
			if p.Code == "" || p.Message == "" || p.Remedy == "" || p.Severity < diag.Info || p.Severity > diag.Error {
				t.Fatalf("malformed problem %+v", p)
			}
		}
		if len(ps) > 40*maxReports {
			t.Fatalf("%d problems: the report is not bounded", len(ps))
		}
		_ = tbl.Partitions()
		_ = tbl.FreeExtents(8)
		ws, err := tbl.Writes()
		if err != nil {
			t.Fatalf("Writes of a table from Read: %v", err)
		}
		blank := make([]byte, len(data))
		for _, w := range ws {
			if i := firstDiff(w.New, data[w.Offset:w.Offset+Size]); i >= 0 {
				t.Fatalf("%s differs from the disk at byte %d", w.What, i)
			}
			copy(blank[w.Offset:], w.New)
		}
		again, err := Read(bytes.NewReader(blank), int64(len(blank)), ss)
		if err != nil {
			t.Fatalf("reading back the writes: %v", err)
		}
		if b := tbl.Broken; b != nil && b.Index == 0 && errors.Is(b.Err, ErrNoBootSignature) {
			// The unsigned first EBR was not written; on the blank disk it
			// reads as a never-used extended partition.
			again.Broken = b
		}
		if diff := diffTables(tbl, again); diff != "" {
			t.Fatalf("table read back from its writes differs (-first +again):\n%s", diff)
		}
	})
}

// diffTables compares two tables with cmp.Diff, comparing Broken by value
// (its Err is a sentinel, compared by identity).
func diffTables(a, b *Table) string {
	ca, cb := *a, *b
	ca.Broken, cb.Broken = nil, nil
	var diff string
	if !reflect.DeepEqual(&ca, &cb) { // cheap check first: the fuzzer calls this per input
		diff = cmp.Diff(&ca, &cb)
	}
	switch {
	case (a.Broken == nil) != (b.Broken == nil):
		diff += fmt.Sprintf("Broken: %v vs %v\n", a.Broken, b.Broken)
	case a.Broken != nil && *a.Broken != *b.Broken:
		diff += fmt.Sprintf("Broken: %+v vs %+v\n", *a.Broken, *b.Broken)
	}
	return diff
}
