package mbr

import (
	"bytes"
	"testing"
)

// BenchmarkRead reads the tiny sfdisk layout: MBR and a chain of three
// EBRs.
func BenchmarkRead(b *testing.B) {
	path := sfdiskImage(b, 32<<10, 512, tinyLayout)
	img, err := readAll(path)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(img)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(r, int64(len(img)), 512); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify diagnoses the same table.
func BenchmarkVerify(b *testing.B) {
	path := sfdiskImage(b, 32<<10, 512, tinyLayout)
	img, err := readAll(path)
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ps := tbl.Verify(); len(ps) != 0 {
			b.Fatal(ps)
		}
	}
}
