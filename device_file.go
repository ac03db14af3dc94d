package winrepart

import (
	"os"
	"sync"
)

// fileDevice is what an Image and a BlockDevice share: an open file with
// its size and sector sizes, reads and writes that are whole or fail with
// a typed error, and a lock that keeps Close from racing them.
type fileDevice struct {
	mu       sync.RWMutex // guards f against Close
	f        *os.File
	path     string
	size     int64
	sector   int
	physical int
	writable bool
	locked   bool       // f holds a whole-file lock, released at Close
	claims   []*os.File // loop devices of the image, claimed until Close
}

// Size returns the size in bytes, as it was when opened.
func (m *fileDevice) Size() int64 { return m.size }

// SectorSize returns the logical sector size in bytes.
func (m *fileDevice) SectorSize() int { return m.sector }

// PhysicalSectorSize returns the physical sector size in bytes.
func (m *fileDevice) PhysicalSectorSize() int { return m.physical }

// Path returns the path the device was opened from.
func (m *fileDevice) Path() string { return m.path }

// Writable reports whether the device was opened for writing.
func (m *fileDevice) Writable() bool { return m.writable }

// ReadAt reads len(p) bytes at byte offset off. It fails with an error
// wrapping [ErrOutOfRange] when the range is not inside the device.
func (m *fileDevice) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.f == nil {
		return 0, &DeviceError{Op: "read", Path: m.path, Offset: off, Err: ErrClosed}
	}
	return readFull(m.f, p, off, m.size, m.path)
}

// WriteAt writes all of p at byte offset off. It fails with an error
// wrapping [ErrReadOnly] when opened read-only and [ErrOutOfRange] when the
// range is not inside the device; images never grow.
func (m *fileDevice) WriteAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.f == nil {
		return 0, &DeviceError{Op: "write", Path: m.path, Offset: off, Err: ErrClosed}
	}
	if !m.writable {
		return 0, &DeviceError{Op: "write", Path: m.path, Offset: off, Err: ErrReadOnly}
	}
	return writeFull(m.f, p, off, m.size, m.path)
}

// Sync flushes written data to stable storage (fsync).
func (m *fileDevice) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.f == nil {
		return &DeviceError{Op: "sync", Path: m.path, Offset: -1, Err: ErrClosed}
	}
	if err := m.f.Sync(); err != nil {
		return &DeviceError{Op: "sync", Path: m.path, Offset: -1, Err: err}
	}
	return nil
}

// ConcurrentSync reports true: Sync (fsync) may run beside ReadAt and
// WriteAt (pread and pwrite), and makes durable every write that returned
// before it.
func (m *fileDevice) ConcurrentSync() bool { return true }

// Close closes the file. Further calls fail with [ErrClosed].
func (m *fileDevice) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return &DeviceError{Op: "close", Path: m.path, Offset: -1, Err: ErrClosed}
	}
	m.release()
	err := m.f.Close()
	m.f = nil
	if err != nil {
		return &DeviceError{Op: "close", Path: m.path, Offset: -1, Err: err}
	}
	return nil
}
