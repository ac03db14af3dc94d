//go:build linux

package winrepart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BlockDevice is a Linux block device (a disk, a partition or a loop
// device) opened with [OpenBlockDevice].
type BlockDevice struct{ fileDevice }

// OpenBlockDevice opens a Linux block device. Its size and sector sizes
// come from the kernel (BLKGETSIZE64, BLKSSZGET, BLKPBSZGET) unless opts
// overrides the sector sizes.
//
// A writable open is exclusive (O_EXCL: the kernel refuses with EBUSY while
// a partition is mounted or otherwise held) and, in addition, refuses with
// a [*MountedError] when the device or any of its partitions appears in
// /proc/self/mountinfo.
func OpenBlockDevice(path string, opts OpenOptions) (*BlockDevice, error) {
	flag := unix.O_RDONLY | unix.O_CLOEXEC
	if opts.Writable {
		if err := checkNotMounted(path); err != nil {
			return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: err}
		}
		flag = unix.O_RDWR | unix.O_EXCL | unix.O_CLOEXEC
	}
	fd, err := openRetryBusy(path, flag)
	if err == unix.EBUSY && flag&unix.O_EXCL != 0 {
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: fmt.Errorf("%w: %w", ErrBusy, os.NewSyscallError("open", err))}
	}
	if err != nil {
		return nil, &DeviceError{Op: "open", Path: path, Offset: -1, Err: os.NewSyscallError("open", err)}
	}
	f := os.NewFile(uintptr(fd), path)
	fail := func(op string, err error) (*BlockDevice, error) {
		f.Close()
		return nil, &DeviceError{Op: op, Path: path, Offset: -1, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail("stat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fail("open", ErrNotDevice)
	}
	size, err := blockSize64(fd)
	if err != nil {
		return fail("ioctl BLKGETSIZE64", err)
	}
	d := &BlockDevice{fileDevice{f: f, path: path, size: size, writable: opts.Writable}}
	d.sector = opts.SectorSize
	if d.sector == 0 {
		ss, err := unix.IoctlGetUint32(fd, unix.BLKSSZGET)
		if err != nil {
			return fail("ioctl BLKSSZGET", err)
		}
		d.sector = int(ss)
	}
	d.physical = opts.PhysicalSectorSize
	if d.physical == 0 {
		pb, err := unix.IoctlGetUint32(fd, unix.BLKPBSZGET)
		if err != nil {
			return fail("ioctl BLKPBSZGET", err)
		}
		d.physical = int(pb)
		if d.physical < d.sector {
			d.physical = d.sector
		}
	}
	if err := checkSectorSizes(d.sector, d.physical); err != nil {
		return fail("open", err)
	}
	return d, nil
}

// busyRetries and busyWait bound how long a writable open waits out a
// transient EBUSY (about a quarter of a second in all).
const (
	busyRetries = 8
	busyWait    = 5 * time.Millisecond
)

// openRetryBusy opens path, retrying an exclusive open that fails with
// EBUSY a few times with growing pauses. The kernel releases an O_EXCL
// claim only when the last reference to the open file goes away, and a
// process forked by another goroutine of this program (any exec.Command)
// holds such a reference until it execs: a device closed a moment ago can
// look busy for a few milliseconds. A mounted partition stays busy and
// still fails, just slightly later.
func openRetryBusy(path string, flag int) (int, error) {
	wait := busyWait
	for i := 0; ; i++ {
		fd, err := unix.Open(path, flag, 0)
		if err != unix.EBUSY || flag&unix.O_EXCL == 0 || i == busyRetries {
			return fd, err
		}
		time.Sleep(wait)
		wait += wait / 2
	}
}

// blockSize64 asks the kernel for a block device's size in bytes.
func blockSize64(fd int) (int64, error) {
	var size uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); errno != 0 {
		return 0, errno
	}
	if size > 1<<62 {
		return 0, fmt.Errorf("implausible size %d", size)
	}
	return int64(size), nil
}

// RereadPartitions asks the kernel to re-read the partition table
// (BLKRRPART). The error wraps EBUSY when a partition is in use; callers
// usually report that as a warning, since the table on disk is written.
func (d *BlockDevice) RereadPartitions() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.f == nil {
		return &DeviceError{Op: "ioctl BLKRRPART", Path: d.path, Offset: -1, Err: ErrClosed}
	}
	rc, err := d.f.SyscallConn()
	if err != nil {
		return &DeviceError{Op: "ioctl BLKRRPART", Path: d.path, Offset: -1, Err: err}
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.BLKRRPART, 0)
	}); err != nil {
		return &DeviceError{Op: "ioctl BLKRRPART", Path: d.path, Offset: -1, Err: err}
	}
	if errno != 0 {
		return &DeviceError{Op: "ioctl BLKRRPART", Path: d.path, Offset: -1, Err: errno}
	}
	return nil
}

// Where the kernel describes block devices and mounts.
const (
	sysDevBlock    = "/sys/dev/block"
	procMountinfo  = "/proc/self/mountinfo"
	maxMountinfo   = 16 << 20 // bytes of mountinfo read at most
	maxSysfsDevLen = 64       // bytes of a sysfs "dev" file read at most
)

// checkNotMounted returns a [*MountedError] when the block device at path
// or one of its partitions is listed in /proc/self/mountinfo.
func checkNotMounted(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return ErrNotDevice
	}
	self := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	devs := map[string]string{self: path} // "major:minor" -> device name
	dir := filepath.Join(sysDevBlock, self)
	ents, err := os.ReadDir(dir)
	if err == nil {
		for _, e := range ents {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err != nil {
				continue
			}
			if mm, err := readSmall(filepath.Join(dir, e.Name(), "dev"), maxSysfsDevLen); err == nil {
				devs[strings.TrimSpace(mm)] = "/dev/" + e.Name()
			}
		}
	}
	f, err := os.Open(procMountinfo)
	if err != nil {
		return err
	}
	defer f.Close()
	return findMounted(io.LimitReader(f, maxMountinfo), devs)
}

// findMounted scans mountinfo text for a mount whose "major:minor" field is
// a key of devs.
func findMounted(r io.Reader, devs map[string]string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if name, ok := devs[fields[2]]; ok {
			return &MountedError{Device: name, MountPoint: unescapeMountinfo(fields[4])}
		}
	}
	return sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readSmall reads a small file, refusing one longer than limit bytes.
func readSmall(name string, limit int64) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > limit {
		return "", errors.New("file too long")
	}
	return string(b), nil
}

// claimImage locks the image file for writing and claims every loop
// device it backs (see [OpenImage]).
func (m *fileDevice) claimImage(fi os.FileInfo) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(m.f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		if err == unix.EAGAIN || err == unix.EACCES {
			return fmt.Errorf("%w: another process has the image locked", ErrBusy)
		}
		return os.NewSyscallError("fcntl F_OFD_SETLK", err)
	}
	m.locked = true
	loops, err := loopsBacking(fi)
	if err != nil {
		return err
	}
	for _, dev := range loops {
		if err := checkNotMounted(dev); err != nil {
			return err
		}
		fd, err := openRetryBusy(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC)
		if err == unix.EBUSY {
			return fmt.Errorf("%w: the loop device %s of the image is mounted or held by another process", ErrBusy, dev)
		}
		if err != nil {
			return &DeviceError{Op: "open", Path: dev, Offset: -1, Err: os.NewSyscallError("open", err)}
		}
		m.claims = append(m.claims, os.NewFile(uintptr(fd), dev))
	}
	return nil
}

// release undoes claimImage: it closes the claimed loop devices and
// unlocks the image explicitly (a child forked by another goroutine may
// share the open file description until it execs, and the lock lives as
// long as any descriptor of it does).
func (m *fileDevice) release() {
	for _, c := range m.claims {
		c.Close()
	}
	m.claims = nil
	if m.locked {
		lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
		unix.FcntlFlock(m.f.Fd(), unix.F_OFD_SETLK, &lk)
		m.locked = false
	}
}

// sysBlock lists the kernel's block devices.
const sysBlock = "/sys/block"

// loopsBacking returns /dev/loopN for every loop device whose backing file
// is the file fi describes.
func loopsBacking(fi os.FileInfo) ([]string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := readSmall(filepath.Join(sysBlock, e.Name(), "loop", "backing_file"), 4096)
		if err != nil {
			continue // not attached
		}
		bf, err := os.Stat(strings.TrimSuffix(strings.TrimSpace(b), " (deleted)"))
		if err != nil || !os.SameFile(bf, fi) {
			continue
		}
		out = append(out, "/dev/"+e.Name())
	}
	return out, nil
}
