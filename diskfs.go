package winrepart

import (
	"errors"
	"io"

	"github.com/diskfs/go-diskfs/backend"
)

// storageDevice adapts a go-diskfs backend.Storage to [Device].
type storageDevice struct {
	s        backend.Storage
	w        backend.WritableFile // nil when read-only
	path     string
	size     int64
	sector   int
	physical int
}

// FromStorage adapts a go-diskfs [backend.Storage] (for example from
// go-diskfs's backend/file New or OpenFromPath) to [Device], so go-diskfs
// users can pass what they already have. The size comes from Stat, or,
// when Stat reports no size (block devices), from seeking to the end.
// With opts.Writable the storage must be writable (its Writable method
// succeeds); otherwise writes fail with [ErrReadOnly]. The sector size is
// opts.SectorSize or detected with [DetectSectorSize]; the physical one
// defaults to the logical one.
//
// The returned Device does not own s: closing s is the caller's job. It
// has the [Syncer] power when the storage's file does.
func FromStorage(s backend.Storage, opts OpenOptions) (Device, error) {
	if s == nil {
		return nil, &DeviceError{Op: "open", Offset: -1, Err: errors.New("winrepart: nil storage")}
	}
	d := &storageDevice{s: s, path: s.Path()}
	fail := func(err error) (Device, error) {
		return nil, &DeviceError{Op: "open", Path: d.path, Offset: -1, Err: err}
	}
	if fi, err := s.Stat(); err == nil && fi.Mode().IsRegular() {
		d.size = fi.Size()
	} else {
		end, err := s.Seek(0, io.SeekEnd)
		if err != nil {
			return fail(err)
		}
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			return fail(err)
		}
		d.size = end
	}
	if opts.Writable {
		w, err := s.Writable()
		if err != nil {
			return fail(errors.Join(ErrReadOnly, err))
		}
		d.w = w
	}
	d.sector = opts.SectorSize
	if d.sector == 0 {
		d.sector = DetectSectorSize(s, d.size)
	}
	d.physical = opts.PhysicalSectorSize
	if d.physical == 0 {
		d.physical = d.sector
	}
	if err := checkSectorSizes(d.sector, d.physical); err != nil {
		return fail(err)
	}
	if _, ok := d.w.(Syncer); ok {
		return &syncingStorageDevice{d}, nil
	}
	return d, nil
}

func (d *storageDevice) Size() int64             { return d.size }
func (d *storageDevice) SectorSize() int         { return d.sector }
func (d *storageDevice) PhysicalSectorSize() int { return d.physical }

func (d *storageDevice) ReadAt(p []byte, off int64) (int, error) {
	return readFull(d.s, p, off, d.size, d.path)
}

func (d *storageDevice) WriteAt(p []byte, off int64) (int, error) {
	if d.w == nil {
		return 0, &DeviceError{Op: "write", Path: d.path, Offset: off, Err: ErrReadOnly}
	}
	return writeFull(d.w, p, off, d.size, d.path)
}

// syncingStorageDevice is a storageDevice whose writable file can Sync.
type syncingStorageDevice struct{ *storageDevice }

func (d *syncingStorageDevice) Sync() error {
	if err := d.w.(Syncer).Sync(); err != nil {
		return &DeviceError{Op: "sync", Path: d.path, Offset: -1, Err: err}
	}
	return nil
}
