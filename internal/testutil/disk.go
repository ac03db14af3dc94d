package testutil

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/winrepart/winrepart/blockdev"
)

// Disk is a disk image opened read-only for a test: a [blockdev.Reader]
// that also reports a physical sector size, equal to the logical one, as
// the root package's image files do. It lets the tests of the packages
// below the root package read fixtures without importing it.
type Disk struct {
	f      *os.File
	size   int64
	sector int
}

var _ blockdev.Reader = (*Disk)(nil)

// OpenDisk opens the image at path read-only until the end of the test.
// sectorSize is the logical sector size in bytes; 0 detects it with
// [blockdev.DetectSectorSize], as the root package's OpenImage does. A
// failure fails the test.
func OpenDisk(t testing.TB, path string, sectorSize int) *Disk {
	t.Helper()
	f, size := OpenSized(t, path)
	if sectorSize == 0 {
		sectorSize = blockdev.DetectSectorSize(f, size)
	}
	return &Disk{f: f, size: size, sector: sectorSize}
}

// OpenFixture unpacks the fixture name (see [Fixture]) and opens it with
// [OpenDisk], detecting its sector size. It returns the image path too,
// for the reference tools.
func OpenFixture(t testing.TB, name string) (*Disk, string) {
	t.Helper()
	path := Fixture(t, name)
	return OpenDisk(t, path, 0), path
}

// ReadAt reads len(p) bytes at byte offset off. A read that does not lie
// inside the image fails with nothing read; a short read is an error.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || int64(len(p)) > d.size || off > d.size-int64(len(p)) {
		return 0, fmt.Errorf("testutil: %d bytes at %d, beyond the image size %d", len(p), off, d.size)
	}
	n, err := d.f.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Size returns the image size in bytes.
func (d *Disk) Size() int64 { return d.size }

// SectorSize returns the logical sector size in bytes.
func (d *Disk) SectorSize() int { return d.sector }

// PhysicalSectorSize returns the logical sector size: an image has no
// physical sectors of its own.
func (d *Disk) PhysicalSectorSize() int { return d.sector }
