//go:build !linux

package winrepart

import "os"

// BlockDevice is a block device. Outside Linux it cannot be opened:
// [OpenBlockDevice] returns [ErrUnsupported].
type BlockDevice struct{ Image }

// OpenBlockDevice returns an error wrapping [ErrUnsupported]: block devices
// are only supported on Linux. Use [OpenImage] for image files.
func OpenBlockDevice(path string, opts OpenOptions) (*BlockDevice, error) {
	return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: ErrUnsupported}
}

// claimImage does nothing outside Linux: images are not locked there.
func (m *fileDevice) claimImage(fi os.FileInfo) error { return nil }

// release does nothing outside Linux.
func (m *fileDevice) release() {}
