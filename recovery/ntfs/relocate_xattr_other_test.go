//go:build !linux

package ntfs

import "testing"

// relSetCompressed needs Linux's xattr calls on an ntfs-3g mount, as do
// the tests that call it.
func relSetCompressed(t *testing.T, dir string) {
	t.Helper()
	t.Skip("setting NTFS attributes through ntfs-3g xattrs needs Linux")
}
