//go:build linux

package winrepart

import (
	"golang.org/x/sys/unix"

	"github.com/winrepart/winrepart/internal/journal"
)

// Prefetch asks the kernel to start reading length bytes at off into the
// page cache (posix_fadvise WILLNEED) and returns at once. The journal
// calls it for the next chunk of a copy so that reading overlaps with
// writing; errors are ignored, as it is only a hint.
func (m *fileDevice) Prefetch(off, length int64) {
	if off < 0 || length <= 0 || off >= m.size {
		return
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.f == nil {
		return
	}
	_ = unix.Fadvise(int(m.f.Fd()), off, min(length, m.size-off), unix.FADV_WILLNEED)
}

// Images and block devices give the journal's copies their read-ahead.
var _ journal.Prefetcher = (*fileDevice)(nil)
