// Command ntfsresize shrinks or grows an NTFS volume in place, using package
// recovery/ntfs, and prints every write it makes. A shrink moves the data
// in the cut-off tail into free clusters before the new end first, unless
// --no-relocate is given.
//
// Usage:
//
//	go run ./examples/ntfsresize [--dry-run] [--keep-clean] [--no-relocate] --size BYTES IMAGE[:OFFSET:LENGTH]
//
// IMAGE is a whole-volume image, or a disk image with the partition given
// by its byte OFFSET and LENGTH. BYTES is the new partition size, compared
// with the volume's partition as its boot sector records it (the volume
// plus its backup boot sector): smaller shrinks, larger grows (the bytes
// after the volume become part of it, so make room in the partition table
// first, or enlarge the image file: `truncate -s N vol.img` then
// `--size N vol.img`). The partition table itself is not changed.
//
// A relocating shrink copies data first, flushes, then makes its metadata
// writes. This example writes directly, without the journal the library's
// Apply uses: a crash between the copies and the writes leaves the volume
// as it was (the copies only fill free clusters), but one during the
// writes can leave it half changed.
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

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// refusals are the errors that mean "this volume must not be resized".
var refusals = []error{
	ntfs.ErrTailInUse, ntfs.ErrDirty, ntfs.ErrHibernated, ntfs.ErrLogFileNotClean,
	ntfs.ErrVersion, ntfs.ErrBadClusters, ntfs.ErrAccounting, ntfs.ErrBitLocker,
	ntfs.ErrBitLockerToGo, ntfs.ErrNoSpace, ntfs.ErrUnsupported, ntfs.ErrBadSize,
	ntfs.ErrUnmovable, ntfs.ErrRecordFull, ntfs.ErrInconsistent,
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ntfsresize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "print the writes without making them")
	keepClean := fs.Bool("keep-clean", false, "do not set the dirty flag (no chkdsk at next boot)")
	noRelocate := fs.Bool("no-relocate", false, "refuse a shrink past the last used cluster instead of moving data")
	size := fs.Int64("size", 0, "new partition size in bytes")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *size <= 0 {
		fmt.Fprintln(stderr, "usage: ntfsresize [--dry-run] [--keep-clean] [--no-relocate] --size BYTES IMAGE[:OFFSET:LENGTH]")
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
	// Open as much as the new size needs: an enlarged image file, or the
	// bytes after a partition given by OFFSET and LENGTH.
	openLen := max(length, *size)
	v, err := ntfs.Open(io.NewSectionReader(f, off, openLen), openLen)
	if err != nil {
		return fail(stderr, err)
	}
	bps := int64(v.Boot.BytesPerSector)
	current := (int64(v.Boot.TotalSectors) + 1) * bps // the volume and its backup boot sector
	if *size/bps == current/bps {
		fmt.Fprintf(stderr, "ntfsresize: the volume already fills a %d-byte partition\n", current)
		return 3
	}
	opts := ntfs.DefaultResizeOptions()
	opts.SetDirty = !*keepClean
	opts.Relocate = !*noRelocate
	var ws []diag.Write
	var copies []ntfs.DataCopy
	if *size > current {
		ws, err = v.PlanGrow(*size, opts)
	} else {
		var p *ntfs.ShrinkPlan
		if p, err = v.PlanShrinkRelocating(*size, opts); err == nil {
			ws, copies = p.Writes, p.Copies
			if len(copies) > 0 {
				fmt.Fprintf(stdout, "relocating %d bytes of %d files in %d copies\n", p.MovedBytes, p.MovedFiles, len(copies))
			}
		}
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
	if err := copyData(offsetRW{f, off}, copies); err != nil {
		fmt.Fprintln(stderr, "ntfsresize:", err)
		return 1
	}
	if len(copies) > 0 {
		if err := f.Sync(); err != nil {
			fmt.Fprintln(stderr, "ntfsresize:", err)
			return 1
		}
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

// copyData makes the relocation copies, 1 MiB at a time.
func copyData(rw offsetRW, copies []ntfs.DataCopy) error {
	buf := make([]byte, 1<<20)
	for _, c := range copies {
		for done := int64(0); done < c.Length; {
			b := buf[:min(int64(len(buf)), c.Length-done)]
			if _, err := rw.ReadAt(b, c.Src+done); err != nil {
				return fmt.Errorf("reading %d bytes at %d: %w", len(b), c.Src+done, err)
			}
			if _, err := rw.WriteAt(b, c.Dst+done); err != nil {
				return fmt.Errorf("writing %d bytes at %d: %w", len(b), c.Dst+done, err)
			}
			done += int64(len(b))
		}
	}
	return nil
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
