// Command ntfsresize shrinks or grows an NTFS volume in place without
// moving data, using package recovery/ntfs, and prints every write it
// makes.
//
// Usage:
//
//	go run ./examples/ntfsresize [--dry-run] [--keep-clean] --size BYTES IMAGE[:OFFSET:LENGTH]
//
// IMAGE is a whole-volume image, or a disk image with the partition given
// by its byte OFFSET and LENGTH. BYTES is the new partition size: smaller
// than LENGTH shrinks (every cluster past the new end must be free), larger
// grows (the bytes after the partition become part of it, so make room in
// the partition table first, or enlarge the image file). The partition
// table itself is not changed.
//
// Exit status: 0 success, 1 error, 2 usage, 3 refused (the reason is
// printed).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/winrepart/winrepart/recovery/ntfs"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// refusals are the errors that mean "this volume must not be resized".
var refusals = []error{
	ntfs.ErrTailInUse, ntfs.ErrDirty, ntfs.ErrHibernated, ntfs.ErrLogFileNotClean,
	ntfs.ErrVersion, ntfs.ErrBadClusters, ntfs.ErrAccounting, ntfs.ErrBitLocker,
	ntfs.ErrBitLockerToGo, ntfs.ErrNoSpace, ntfs.ErrUnsupported, ntfs.ErrBadSize,
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ntfsresize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "print the writes without making them")
	keepClean := fs.Bool("keep-clean", false, "do not set the dirty flag (no chkdsk at next boot)")
	size := fs.Int64("size", 0, "new partition size in bytes")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *size <= 0 {
		fmt.Fprintln(stderr, "usage: ntfsresize [--dry-run] [--keep-clean] --size BYTES IMAGE[:OFFSET:LENGTH]")
		return 2
	}
	path, off, length, err := parseTarget(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "ntfsresize:", err)
		return 2
	}
	flags := os.O_RDWR
	if *dry {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		fmt.Fprintln(stderr, "ntfsresize:", err)
		return 1
	}
	defer f.Close()
	if length < 0 {
		fi, err := f.Stat()
		if err != nil {
			fmt.Fprintln(stderr, "ntfsresize:", err)
			return 1
		}
		length = fi.Size() - off
	}
	grow := *size > length
	openLen := length
	if grow {
		openLen = *size // the new space must be readable
	}
	v, err := ntfs.Open(io.NewSectionReader(f, off, openLen), openLen)
	if err != nil {
		return fail(stderr, err)
	}
	opts := ntfs.DefaultResizeOptions()
	opts.SetDirty = !*keepClean
	var ws []ntfs.Write
	if grow {
		ws, err = v.PlanGrow(*size, opts)
	} else {
		ws, err = v.PlanShrink(*size, opts)
	}
	if err != nil {
		return fail(stderr, err)
	}
	var total int
	for _, w := range ws {
		fmt.Fprintf(stdout, "%s\n", w)
		total += len(w.New)
	}
	fmt.Fprintf(stdout, "%d writes, %d bytes\n", len(ws), total)
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing written")
		return 0
	}
	if err := ntfs.ApplyWrites(offsetRW{f, off}, ws); err != nil {
		fmt.Fprintln(stderr, "ntfsresize:", err)
		return 1
	}
	if err := f.Sync(); err != nil {
		fmt.Fprintln(stderr, "ntfsresize:", err)
		return 1
	}
	fmt.Fprintf(stdout, "resized the volume to a %d-byte partition\n", *size)
	return 0
}

func fail(stderr io.Writer, err error) int {
	for _, r := range refusals {
		if errors.Is(err, r) {
			fmt.Fprintln(stderr, "ntfsresize: refused:", err)
			return 3
		}
	}
	fmt.Fprintln(stderr, "ntfsresize:", err)
	return 1
}

// parseTarget splits IMAGE[:OFFSET:LENGTH]; length -1 means "to the end".
func parseTarget(s string) (path string, off, length int64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 {
		return s, 0, -1, nil
	}
	n := len(parts)
	if off, err = strconv.ParseInt(parts[n-2], 10, 64); err != nil || off < 0 {
		return "", 0, 0, fmt.Errorf("bad offset %q", parts[n-2])
	}
	if length, err = strconv.ParseInt(parts[n-1], 10, 64); err != nil || length <= 0 {
		return "", 0, 0, fmt.Errorf("bad length %q", parts[n-1])
	}
	return strings.Join(parts[:n-2], ":"), off, length, nil
}

// offsetRW shifts reads and writes by the partition offset, so that
// ApplyWrites checks the old bytes and writes inside the partition.
type offsetRW struct {
	f   *os.File
	off int64
}

func (o offsetRW) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, o.off+off) }
func (o offsetRW) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, o.off+off) }
