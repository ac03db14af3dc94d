//go:build !linux

package journal

import "os"

// dirOnBlockDevice cannot tell outside Linux and reports false.
func dirOnBlockDevice(dir string, dev os.FileInfo) (bool, error) { return false, nil }

// lockFile does nothing outside Linux: callers must not run one journal
// from two processes at once.
func lockFile(f *os.File) error { return nil }

// unlockFile does nothing outside Linux.
func unlockFile(f *os.File) {}
