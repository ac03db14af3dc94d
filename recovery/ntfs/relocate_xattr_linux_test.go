package ntfs

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// relSetCompressed sets the compression flag of directory dir on an
// ntfs-3g mount (mounted with -o compression): files created in it are
// then compressed.
func relSetCompressed(t *testing.T, dir string) {
	t.Helper()
	const name = "system.ntfs_attrib_be"
	b := make([]byte, 4)
	if n, err := syscall.Getxattr(dir, name, b); err != nil || n != 4 {
		t.Fatalf("getxattr %s %s: %d bytes, %v", dir, name, n, err)
	}
	binary.BigEndian.PutUint32(b, binary.BigEndian.Uint32(b)|0x800) // FILE_ATTRIBUTE_COMPRESSED
	if err := syscall.Setxattr(dir, name, b, 0); err != nil {
		t.Fatalf("setxattr %s %s: %v", dir, name, err)
	}
}
