//go:build !linux

package winrepart

// Prefetch does nothing outside Linux.
func (m *fileDevice) Prefetch(off, length int64) {}
