package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// dirOnBlockDevice reports whether the filesystem holding dir lives on the
// block device dev or on one of its partitions. It compares the
// filesystem's device number with the block device's, and follows
// /sys/dev/block/MAJ:MIN of a partition to its whole disk. Stacked devices
// (device mapper, loop devices over files on the disk, RAID) are not
// followed.
func dirOnBlockDevice(dir string, dev os.FileInfo) (bool, error) {
	var ds syscall.Stat_t
	if err := syscall.Stat(dir, &ds); err != nil {
		return false, err
	}
	bs, ok := dev.Sys().(*syscall.Stat_t)
	if !ok {
		return false, nil
	}
	fsDev, blk := uint64(ds.Dev), uint64(bs.Rdev)
	if fsDev == blk {
		return true, nil
	}
	// Is the filesystem's device a partition of blk?
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major(fsDev), minor(fsDev))
	if _, err := os.Stat(filepath.Join(sys, "partition")); err != nil {
		return false, nil
	}
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return false, nil
	}
	return strings.TrimSpace(string(b)) == fmt.Sprintf("%d:%d", major(blk), minor(blk)), nil
}

func major(d uint64) uint64 { return (d>>8)&0xfff | (d>>32)&^0xfff }
func minor(d uint64) uint64 { return d&0xff | (d>>12)&^0xff }

// lockFile takes an exclusive, non-blocking flock on f.
func lockFile(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if err == syscall.EWOULDBLOCK {
			return fmt.Errorf("%w: %s", ErrBusy, f.Name())
		}
		return fmt.Errorf("journal: locking %s: %w", f.Name(), err)
	}
	return nil
}

// unlockFile releases the flock on f explicitly. Closing f alone is not
// enough: a child forked by another goroutine (any exec.Command in the
// same process) shares the open file description until it execs, and the
// lock lives as long as any descriptor of it does. LOCK_UN releases it for
// all of them at once.
func unlockFile(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
