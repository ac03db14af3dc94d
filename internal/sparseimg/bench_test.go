package sparseimg

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkUnpackFixture unpacks the project's standard fixture (a
// 3.6 GiB disk) into a sparse file, as testutil.Fixture does.
func BenchmarkUnpackFixture(b *testing.B) {
	packed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gpt-win11-standard.img.sgz"))
	if err != nil {
		b.Skip(err)
	}
	dst, err := os.Create(filepath.Join(b.TempDir(), "out.img"))
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	b.SetBytes(int64(len(packed)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unpack(dst, bytes.NewReader(packed)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPackFixture packs the unpacked standard fixture again,
// skipping its holes with SEEK_DATA.
func BenchmarkPackFixture(b *testing.B) {
	packed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gpt-win11-standard.img.sgz"))
	if err != nil {
		b.Skip(err)
	}
	img, err := os.Create(filepath.Join(b.TempDir(), "img"))
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	size, err := Unpack(img, bytes.NewReader(packed))
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := Pack(&out, img, size); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), packed) {
		b.Error("repacking the fixture changed it")
	}
}
