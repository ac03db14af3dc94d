package ntfs

import (
	"os"
	"testing"
)

// BenchmarkOpenLookup opens a volume and finds ReAgent.xml, as inspecting
// a Windows partition does; it reports the bytes read per iteration.
func BenchmarkOpenLookup(b *testing.B) {
	img, _ := buildContentVolume(b, 512, 4096)
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var read int64
	for b.Loop() {
		v, err := Open(f, fi.Size())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Lookup(`\Windows\System32\Recovery\ReAgent.xml`); err != nil {
			b.Fatal(err)
		}
		read = v.BytesRead()
	}
	b.ReportMetric(float64(read), "bytes-read/op")
}

// BenchmarkLookupMany looks up a name in the 300-entry directory (index
// root plus index allocation blocks) on an open volume.
func BenchmarkLookupMany(b *testing.B) {
	img, _ := buildContentVolume(b, 512, 4096)
	v := openImage(b, img)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Lookup(`\many\FILE-250.DAT`); err != nil {
			b.Fatal(err)
		}
	}
}
