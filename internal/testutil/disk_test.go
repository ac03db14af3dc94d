package testutil

import (
	"bytes"
	"os"
	"testing"
)

func TestOpenFixtureSectorSize(t *testing.T) {
	for name, want := range map[string]int{"gpt-win11-standard": 512, "gpt-4kn-standard": 4096} {
		d, path := OpenFixture(t, name)
		if d.SectorSize() != want || d.PhysicalSectorSize() != want {
			t.Errorf("%s: sector sizes %d/%d, want %d", name, d.SectorSize(), d.PhysicalSectorSize(), want)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if d.Size() != fi.Size() {
			t.Errorf("%s: size %d, file holds %d", name, d.Size(), fi.Size())
		}
	}
	if d := OpenDisk(t, Fixture(t, "gpt-4kn-standard"), 512); d.SectorSize() != 512 {
		t.Errorf("explicit sector size ignored: %d", d.SectorSize())
	}
}

func TestDiskReadAt(t *testing.T) {
	d, path := OpenFixture(t, "gpt-win11-standard")
	f, _ := OpenSized(t, path)
	// The GPT header, and the last sector of the image (the backup header).
	for _, off := range []int64{512, d.Size() - 512} {
		b, want := make([]byte, 512), make([]byte, 512)
		if _, err := f.ReadAt(want, off); err != nil {
			t.Fatal(err)
		}
		if n, err := d.ReadAt(b, off); n != 512 || err != nil || !bytes.Equal(b, want) || !bytes.HasPrefix(b, []byte("EFI PART")) {
			t.Errorf("ReadAt(%d) = %d, %v; bytes %q...", off, n, err, b[:8])
		}
	}
	for _, off := range []int64{-1, d.Size() - 511, d.Size()} {
		if n, err := d.ReadAt(make([]byte, 512), off); n != 0 || err == nil {
			t.Errorf("ReadAt(%d) past the image = %d, %v; want 0 and an error", off, n, err)
		}
	}
}
