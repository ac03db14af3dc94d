package blockdev

import "io"

// Reader is a disk that is only read: its bytes at offsets, its size and
// its logical sector size. ReadAt either fills the whole buffer or returns
// an error.
type Reader interface {
	io.ReaderAt
	// Size returns the disk size in bytes.
	Size() int64
	// SectorSize returns the logical sector size in bytes (512 or 4096):
	// the unit of LBAs in partition tables.
	SectorSize() int
}

// ReadWriter is a [Reader] that is also written. WriteAt either writes
// the whole buffer or returns an error; an access past Size fails.
type ReadWriter interface {
	Reader
	io.WriterAt
}

// Device is a disk: an image file, a block device or anything else that
// reads and writes bytes at offsets and knows its size and sector sizes.
// Reads and writes either transfer every byte asked for or return an
// error; an access past Size fails (the devices of package
// [github.com/winrepart/winrepart] with an error wrapping its
// ErrOutOfRange).
type Device interface {
	ReadWriter
	// PhysicalSectorSize returns the physical sector size in bytes, at
	// least SectorSize.
	PhysicalSectorSize() int
}

// Closer is a [Device] opened from a path, which must be closed.
type Closer interface {
	Device
	io.Closer
	Pather
}

// Pather is the optional power of a disk to name the file or block device
// it was opened from. The journal uses it to refuse a journal file kept on
// the disk it protects.
type Pather interface {
	// Path returns the path the disk was opened from; "" when unknown.
	Path() string
}

// Syncer is the optional power of a disk to flush written data to stable
// storage.
type Syncer interface {
	Sync() error
}

// ConcurrentSyncer is the optional promise of a [Syncer] that Sync may run
// while ReadAt and WriteAt calls run on other goroutines, and makes durable
// at least every write that returned before Sync was called. A copy may
// then flush each part while it copies the next, instead of stopping to
// wait for every flush. ConcurrentSync returns false to decline the
// promise.
type ConcurrentSyncer interface {
	Syncer
	ConcurrentSync() bool
}

// PartitionRereader is the optional power of a disk to ask the operating
// system kernel to re-read its partition table after the table was
// rewritten. An error wrapping EBUSY means the kernel kept its old view (a
// partition is in use); callers usually report it as a warning.
type PartitionRereader interface {
	RereadPartitions() error
}

// efiPartSignature is the GPT header signature, found at LBA 1.
const efiPartSignature = "EFI PART"

// DetectSectorSize guesses the logical sector size of a disk image of size
// bytes: 4096 when a GPT header signature ("EFI PART") is at byte 4096 and
// not at byte 512, else 512. Read errors count as "no signature there".
func DetectSectorSize(r io.ReaderAt, size int64) int {
	has := func(off int64) bool {
		if off+int64(len(efiPartSignature)) > size {
			return false
		}
		var b [len(efiPartSignature)]byte
		if _, err := r.ReadAt(b[:], off); err != nil {
			return false
		}
		return string(b[:]) == efiPartSignature
	}
	if !has(512) && has(4096) {
		return 4096
	}
	return 512
}
