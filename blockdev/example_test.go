package blockdev_test

import (
	"bytes"
	"fmt"

	"github.com/winrepart/winrepart/blockdev"
)

// mem is a disk in memory: a [blockdev.ReadWriter] with the [blockdev.Syncer]
// power and no other.
type mem struct{ b []byte }

func (m *mem) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m.b[off:]), nil }
func (m *mem) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }
func (m *mem) Size() int64                              { return int64(len(m.b)) }
func (m *mem) SectorSize() int                          { return 512 }
func (m *mem) Sync() error                              { return nil }

// Callers take the smallest interface they need and discover optional
// powers by type assertion.
func Example() {
	var d blockdev.ReadWriter = &mem{b: make([]byte, 1<<20)}
	_, syncs := d.(blockdev.Syncer)
	_, concurrent := d.(blockdev.ConcurrentSyncer)
	_, rereads := d.(blockdev.PartitionRereader)
	fmt.Println("sync:", syncs, "concurrent sync:", concurrent, "reread:", rereads)
	// Output: sync: true concurrent sync: false reread: false
}

// A 4Kn image has its GPT header at byte 4096, LBA 1 of 4096-byte sectors.
func ExampleDetectSectorSize() {
	img := make([]byte, 16384)
	copy(img[4096:], "EFI PART")
	fmt.Println(blockdev.DetectSectorSize(bytes.NewReader(img), int64(len(img))))
	// Output: 4096
}
