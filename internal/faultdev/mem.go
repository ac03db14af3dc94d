package faultdev

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// PageSize is the allocation unit of [Mem] in bytes.
const PageSize = 4096

// ErrOutOfRange reports a read or write that does not lie inside a device.
var ErrOutOfRange = errors.New("faultdev: access beyond the end of the device")

// Mem is an in-memory sparse device: a map of [PageSize] pages, zero where
// never written. It is safe for concurrent use.
type Mem struct {
	mu     sync.RWMutex
	size   int64
	sector int
	pages  map[int64]*[PageSize]byte
}

// NewMem returns an all-zero device of size bytes with the given logical
// sector size in bytes.
func NewMem(size int64, sectorSize int) *Mem {
	return &Mem{size: size, sector: sectorSize, pages: make(map[int64]*[PageSize]byte)}
}

// Size returns the device size in bytes.
func (m *Mem) Size() int64 { return m.size }

// SectorSize returns the logical sector size in bytes.
func (m *Mem) SectorSize() int { return m.sector }

// Sync does nothing: memory is as stable as it gets.
func (m *Mem) Sync() error { return nil }

func (m *Mem) check(n int, off int64) error {
	if off < 0 || int64(n) > m.size-off {
		return fmt.Errorf("%w: %d bytes at %d on a %d-byte device", ErrOutOfRange, n, off, m.size)
	}
	return nil
}

// ReadAt reads len(p) bytes at byte offset off.
func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	if err := m.check(len(p), off); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, in := pos/PageSize, int(pos%PageSize)
		n := min(PageSize-in, len(p)-done)
		if pg := m.pages[idx]; pg != nil {
			copy(p[done:done+n], pg[in:in+n])
		} else {
			clear(p[done : done+n])
		}
		done += n
	}
	return len(p), nil
}

// WriteAt writes all of p at byte offset off.
func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	if err := m.check(len(p), off); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, in := pos/PageSize, int(pos%PageSize)
		n := min(PageSize-in, len(p)-done)
		pg := m.pages[idx]
		if pg == nil {
			pg = new([PageSize]byte)
			m.pages[idx] = pg
		}
		copy(pg[in:in+n], p[done:done+n])
		done += n
	}
	return len(p), nil
}

// Clone returns an independent copy of the device.
func (m *Mem) Clone() *Mem {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := NewMem(m.size, m.sector)
	slab := make([][PageSize]byte, len(m.pages))
	k := 0
	for i, pg := range m.pages {
		slab[k] = *pg
		c.pages[i] = &slab[k]
		k++
	}
	return c
}

// Pages returns the number of allocated pages.
func (m *Mem) Pages() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.pages)
}

var zeroPage [PageSize]byte

// FirstDiff returns the byte offset of the first byte where m and o
// differ, or -1 when they hold the same bytes and have the same size.
// Missing pages compare as zeros, so the cost is proportional to the
// number of allocated pages, not to the device size.
func (m *Mem) FirstDiff(o *Mem) int64 {
	if m.size != o.size {
		return min(m.size, o.size)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	idx := make([]int64, 0, len(m.pages)+len(o.pages))
	for i := range m.pages {
		idx = append(idx, i)
	}
	for i := range o.pages {
		if m.pages[i] == nil {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for _, i := range idx {
		a, b := m.pages[i], o.pages[i]
		if a == nil {
			a = &zeroPage
		}
		if b == nil {
			b = &zeroPage
		}
		if *a != *b {
			for j := range a {
				if a[j] != b[j] {
					return i*PageSize + int64(j)
				}
			}
		}
	}
	return -1
}
