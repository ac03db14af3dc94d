// Command extents prints the byte ranges of an NTFS volume's clusters that
// its $Bitmap marks in use, one "offset length" pair per line, offsets in
// bytes from the start of the image, adjacent clusters merged. run.sh uses
// it to copy exactly the bytes WinRE uses for the physical-limit pipeline.
//
// Usage:
//
//	extents IMAGE VOLUME_OFFSET VOLUME_BYTES
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/winrepart/winrepart/recovery/ntfs"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "extents:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: extents IMAGE VOLUME_OFFSET VOLUME_BYTES")
	}
	off, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return err
	}
	size, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return err
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	v, err := ntfs.Open(io.NewSectionReader(f, off, size), size)
	if err != nil {
		return err
	}
	cs := v.ClusterSize()
	w := bufio.NewWriter(out)
	if err := v.UsedRuns(func(first, count int64) error {
		_, err := fmt.Fprintf(w, "%d %d\n", off+first*cs, count*cs)
		return err
	}); err != nil {
		return err
	}
	return w.Flush()
}
