package winrepart

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/winrepart/winrepart/blockdev"
)

// Sentinel errors returned (wrapped in a [*DeviceError]) by the device layer.
var (
	// ErrReadOnly reports a write to a device opened without
	// [OpenOptions.Writable].
	ErrReadOnly = errors.New("winrepart: device is read-only")
	// ErrOutOfRange reports a read or write that does not lie entirely
	// inside the device.
	ErrOutOfRange = errors.New("winrepart: access beyond the end of the device")
	// ErrMounted reports a writable open of a block device that is, or has
	// a partition that is, mounted.
	ErrMounted = errors.New("winrepart: device or one of its partitions is mounted")
	// ErrUnsupported reports a feature this platform does not provide, such
	// as block devices outside Linux.
	ErrUnsupported = errors.New("winrepart: not supported on this platform")
	// ErrSectorSize reports a sector size that is not a power of two
	// between 512 and 65536, or a physical size smaller than the logical one.
	ErrSectorSize = errors.New("winrepart: invalid sector size")
	// ErrClosed reports use of a device after Close.
	ErrClosed = errors.New("winrepart: device is closed")
	// ErrNotDevice reports a path that is neither a regular file nor a
	// block device.
	ErrNotDevice = errors.New("winrepart: not a regular file or block device")
	// ErrBusy reports a writable open of a disk another process holds: an
	// image file another writer has locked (another apply or recover, a
	// running virtual machine), or a block device, or a loop device of an
	// image, that another process has claimed exclusively.
	ErrBusy = errors.New("winrepart: device is in use by another process")
)

// DeviceError describes a failed device operation. It unwraps to Err,
// which is one of the sentinels above or an error from the operating
// system.
type DeviceError struct {
	Op     string // "open", "read", "write", "sync", "ioctl BLKGETSIZE64", ...
	Path   string // the device or image path, "" when unknown
	Offset int64  // byte offset of a read or write; -1 when not applicable
	Err    error  // the cause
}

// Error implements error.
func (e *DeviceError) Error() string {
	s := e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at byte %d", e.Offset)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *DeviceError) Unwrap() error { return e.Err }

// MountedError names the mount point that made a writable open refuse.
// It unwraps to [ErrMounted].
type MountedError struct {
	Device     string // the block device (or partition) that is mounted, e.g. "/dev/loop0p1"
	MountPoint string // where it is mounted, as listed in /proc/self/mountinfo
}

// Error implements error.
func (e *MountedError) Error() string {
	return fmt.Sprintf("%v: %s is mounted on %s", ErrMounted, e.Device, e.MountPoint)
}

// Unwrap returns [ErrMounted].
func (e *MountedError) Unwrap() error { return ErrMounted }

// Device is a disk: an image file, a block device or anything else that
// reads and writes bytes at offsets and knows its size and sector sizes.
// It is [blockdev.Device]; the devices this package opens fail an access
// past Size with an error wrapping [ErrOutOfRange].
type Device = blockdev.Device

// DeviceCloser is a [Device] opened from a path, which must be closed. It
// is [blockdev.Closer].
type DeviceCloser = blockdev.Closer

// Syncer is the optional power of a [Device] to flush written data to
// stable storage ([blockdev.Syncer]). Callers find it by type assertion.
type Syncer = blockdev.Syncer

// ConcurrentSyncer is the optional promise of a [Syncer] that Sync may run
// beside reads and writes ([blockdev.ConcurrentSyncer]). [Apply] then
// flushes each part of a data copy while it copies the next part, instead
// of stopping to wait for every flush. The devices this package opens
// (images and block devices) keep the promise.
type ConcurrentSyncer = blockdev.ConcurrentSyncer

// PartitionRereader is the optional power of a [Device] to ask the
// kernel to re-read its partition table ([blockdev.PartitionRereader]).
type PartitionRereader = blockdev.PartitionRereader

// OpenOptions tells [Open], [OpenImage], [OpenBlockDevice] and
// [FromStorage] how to open a device.
type OpenOptions struct {
	// Writable opens the device for writing. Devices are read-only by
	// default.
	Writable bool
	// SectorSize overrides the logical sector size in bytes; 0 detects it
	// (from the kernel for block devices, with [DetectSectorSize] for
	// images).
	SectorSize int
	// PhysicalSectorSize overrides the physical sector size in bytes; 0
	// detects it (from the kernel for block devices; images use the
	// logical size).
	PhysicalSectorSize int
}

// Open opens path as an image file or, when it is a block device, with
// [OpenBlockDevice].
func Open(path string, opts OpenOptions) (DeviceCloser, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
	}
	switch {
	case fi.Mode().IsRegular():
		img, err := OpenImage(path, opts)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return img, nil
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		d, err := OpenBlockDevice(path, opts)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: ErrNotDevice}
}

// DetectSectorSize guesses the logical sector size of a disk image of size
// bytes: 4096 when a GPT header signature ("EFI PART") is at byte 4096 and
// not at byte 512, else 512. It is [blockdev.DetectSectorSize].
func DetectSectorSize(r io.ReaderAt, size int64) int {
	return blockdev.DetectSectorSize(r, size)
}

// validSectorSize reports whether n is a power of two in [512, 65536].
func validSectorSize(n int) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// checkSectorSizes validates a logical/physical pair.
func checkSectorSizes(logical, physical int) error {
	if !validSectorSize(logical) || !validSectorSize(physical) || physical < logical {
		return fmt.Errorf("%w: logical %d, physical %d", ErrSectorSize, logical, physical)
	}
	return nil
}

// Image is a disk image in a regular file.
type Image struct{ fileDevice }

// OpenImage opens a disk image file. Its size is the file size; its sector
// size is opts.SectorSize or else detected with [DetectSectorSize].
//
// A writable open is exclusive. On Linux it takes an open file
// description lock (F_OFD_SETLK) on the whole file, held until Close, and
// fails with an error wrapping [ErrBusy] when another process holds one
// (another writable open; by the same mechanism, untested, a QEMU virtual
// machine running from the image).
// It also refuses the image while a loop device backed by it has a
// mounted partition (a [*MountedError]) or is claimed exclusively by
// another process ([ErrBusy]), and claims such loop devices itself until
// Close, so that none is mounted while the image changes. Elsewhere images
// are not locked.
func OpenImage(path string, opts OpenOptions) (*Image, error) {
	flag := os.O_RDONLY
	if opts.Writable {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: ErrNotDevice}
	}
	img := &Image{fileDevice{f: f, path: path, size: fi.Size(), writable: opts.Writable}}
	if opts.Writable {
		// Locked from here to Close: from the checks before a change to
		// its end, no other writer may touch the image.
		if err := img.claimImage(fi); err != nil {
			img.release()
			f.Close()
			return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
		}
	}
	img.sector = opts.SectorSize
	if img.sector == 0 {
		img.sector = DetectSectorSize(f, img.size)
	}
	img.physical = opts.PhysicalSectorSize
	if img.physical == 0 {
		img.physical = img.sector
	}
	if err := checkSectorSizes(img.sector, img.physical); err != nil {
		f.Close()
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
	}
	return img, nil
}

// checkRange fails when [off, off+n) is not inside [0, size).
func checkRange(op, path string, off int64, n int, size int64) error {
	if off < 0 || int64(n) > size || off > size-int64(n) {
		return &DeviceError{Op: op, Path: path, Offset: off,
			Err: fmt.Errorf("%w: %d bytes at %d, device size %d", ErrOutOfRange, n, off, size)}
	}
	return nil
}

// readFull reads exactly len(p) bytes at off from r, inside size.
func readFull(r io.ReaderAt, p []byte, off, size int64, path string) (int, error) {
	if err := checkRange("read", path, off, len(p), size); err != nil {
		return 0, err
	}
	done := 0
	for done < len(p) {
		n, err := r.ReadAt(p[done:], off+int64(done))
		done += n
		if done == len(p) {
			break
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return done, &DeviceError{Op: "read", Path: path, Offset: off + int64(done), Err: err}
		}
		if n == 0 {
			return done, &DeviceError{Op: "read", Path: path, Offset: off + int64(done), Err: io.ErrNoProgress}
		}
	}
	return done, nil
}

// writeFull writes all of p at off to w, inside size.
func writeFull(w io.WriterAt, p []byte, off, size int64, path string) (int, error) {
	if err := checkRange("write", path, off, len(p), size); err != nil {
		return 0, err
	}
	done := 0
	for done < len(p) {
		n, err := w.WriteAt(p[done:], off+int64(done))
		done += n
		if done == len(p) {
			break
		}
		if err != nil {
			return done, &DeviceError{Op: "write", Path: path, Offset: off + int64(done), Err: err}
		}
		if n == 0 {
			return done, &DeviceError{Op: "write", Path: path, Offset: off + int64(done), Err: io.ErrShortWrite}
		}
	}
	return done, nil
}
