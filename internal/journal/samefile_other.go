//go:build !linux

package journal

import "os"

// dirOnBlockDevice cannot tell outside Linux and reports false.
func dirOnBlockDevice(dir string, dev os.FileInfo) (bool, error) { return false, nil }
