package faultdev

import (
	"errors"
	"fmt"
	"sync"

	"github.com/winrepart/winrepart/blockdev"
)

// ErrPowerLost is returned by every write and sync after an injected
// power cut.
var ErrPowerLost = errors.New("faultdev: power lost")

// Inner is what a [Device] wraps: a device that reads and writes at
// offsets and knows its sizes ([blockdev.ReadWriter]). Its
// [blockdev.Syncer] power, when present, is called by [Device.Sync].
type Inner = blockdev.ReadWriter

// Device wraps an [Inner] device and injects faults. The zero fault
// configuration passes everything through. It is safe for concurrent use.
type Device struct {
	mu      sync.Mutex
	inner   Inner
	writes  int  // WriteAt calls so far, including failed ones
	stopAt  int  // index of the first failing write; -1 = never
	tearLen int  // bytes of write stopAt that reach the disk; 0 = none
	dead    bool // power is out
	lose    bool // keep writes volatile until Sync
	cache   *Mem // volatile pages, valid when lose
	dirty   map[int64]bool
	log     []Span
}

// Span is a byte range of one write.
type Span struct {
	Offset int64
	Length int
}

// New wraps inner with no faults armed.
func New(inner Inner) *Device {
	return &Device{inner: inner, stopAt: -1}
}

// Size returns the device size in bytes.
func (d *Device) Size() int64 { return d.inner.Size() }

// SectorSize returns the logical sector size in bytes.
func (d *Device) SectorSize() int { return d.inner.SectorSize() }

// StopAfter arms a power cut just before write k (0-based, counted from
// the last [Device.Crash] or from New): write k and everything after it
// fail with [ErrPowerLost] and change nothing.
func (d *Device) StopAfter(k int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopAt, d.tearLen = k, 0
}

// TearAt arms a power cut during write k: only its first n bytes, rounded
// down to a whole number of sectors, reach the device, then that write and
// everything after it fail with [ErrPowerLost].
func (d *Device) TearAt(k, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopAt, d.tearLen = k, n
}

// LoseUnflushed makes writes volatile: they are visible to reads but only
// reach the inner device at the next successful Sync, and [Device.Crash]
// discards them.
func (d *Device) LoseUnflushed() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.lose {
		d.lose = true
		d.cache = NewMem(d.inner.Size(), d.inner.SectorSize())
		d.dirty = make(map[int64]bool)
	}
}

// Writes returns the number of WriteAt calls since New or the last Crash,
// failed ones included.
func (d *Device) Writes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

// Log returns the offset and length of every WriteAt call since New or
// the last Crash, failed ones included.
func (d *Device) Log() []Span {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Span(nil), d.log...)
}

// Crashed reports whether an armed power cut has happened.
func (d *Device) Crashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dead
}

// Crash simulates the end of a power cut: volatile writes (see
// [Device.LoseUnflushed]) are discarded, every fault is disarmed and the
// write counter restarts at zero.
func (d *Device) Crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes, d.stopAt, d.tearLen, d.dead, d.log = 0, -1, 0, false, nil
	d.lose, d.cache, d.dirty = false, nil, nil
}

// ReadAt reads len(p) bytes at byte offset off, seeing volatile writes.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.inner.ReadAt(p, off); err != nil {
		return 0, err
	}
	if d.lose {
		d.overlay(p, off)
	}
	return len(p), nil
}

// overlay copies the dirty cached pages over p.
func (d *Device) overlay(p []byte, off int64) {
	for pg := off / PageSize; pg*PageSize < off+int64(len(p)); pg++ {
		if !d.dirty[pg] {
			continue
		}
		lo, hi := max(pg*PageSize, off), min((pg+1)*PageSize, off+int64(len(p)))
		d.cache.ReadAt(p[lo-off:hi-off], lo)
	}
}

// WriteAt writes p at byte offset off unless a fault stops it.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := d.writes
	d.writes++
	d.log = append(d.log, Span{off, len(p)})
	if d.dead {
		return 0, fmt.Errorf("write %d at %d: %w", k, off, ErrPowerLost)
	}
	if off < 0 || int64(len(p)) > d.inner.Size()-off {
		return 0, fmt.Errorf("%w: %d bytes at %d", ErrOutOfRange, len(p), off)
	}
	if d.stopAt >= 0 && k >= d.stopAt {
		d.dead = true
		n := 0
		if k == d.stopAt && d.tearLen > 0 {
			ss := d.inner.SectorSize()
			n = min(d.tearLen, len(p)) / ss * ss
		}
		if n > 0 {
			if err := d.store(p[:n], off); err != nil {
				return 0, err
			}
		}
		return n, fmt.Errorf("write %d at %d (%d of %d bytes stored): %w", k, off, n, len(p), ErrPowerLost)
	}
	if err := d.store(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *Device) store(p []byte, off int64) error {
	if !d.lose {
		_, err := d.inner.WriteAt(p, off)
		return err
	}
	// Fill partially written pages from the inner device first so the
	// cache always holds whole pages.
	for pg := off / PageSize; pg*PageSize < off+int64(len(p)); pg++ {
		if !d.dirty[pg] {
			var buf [PageSize]byte
			n := min(PageSize, d.inner.Size()-pg*PageSize)
			if _, err := d.inner.ReadAt(buf[:n], pg*PageSize); err != nil {
				return err
			}
			d.cache.WriteAt(buf[:n], pg*PageSize)
			d.dirty[pg] = true
		}
	}
	_, err := d.cache.WriteAt(p, off)
	return err
}

// Sync makes volatile writes durable and calls the inner device's Sync
// when it has one. It fails with [ErrPowerLost] after a power cut.
func (d *Device) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return fmt.Errorf("sync: %w", ErrPowerLost)
	}
	if d.lose {
		var buf [PageSize]byte
		for pg := range d.dirty {
			n := min(PageSize, d.inner.Size()-pg*PageSize)
			d.cache.ReadAt(buf[:n], pg*PageSize)
			if _, err := d.inner.WriteAt(buf[:n], pg*PageSize); err != nil {
				return err
			}
		}
		clear(d.dirty)
		d.cache = NewMem(d.inner.Size(), d.inner.SectorSize())
	}
	if s, ok := d.inner.(blockdev.Syncer); ok {
		return s.Sync()
	}
	return nil
}

// ConcurrentSync reports true: Sync may run beside ReadAt and WriteAt (all
// three hold the device's lock), and flushes every write that returned
// before it took the lock.
func (d *Device) ConcurrentSync() bool { return true }
