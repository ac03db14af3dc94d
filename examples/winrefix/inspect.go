package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/sparseimg"
	"github.com/winrepart/winrepart/recovery"
)

// embeddedSample unpacks the embedded sample disk image into a temporary
// directory and returns its path and a function that removes it.
func embeddedSample() (string, func(), error) {
	dir, err := os.MkdirTemp("", "winrefix-sample-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, sampleName+".img")
	f, err := os.Create(path)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	src, err := sampleImage()
	if err == nil {
		_, err = sparseimg.Unpack(f, src)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("unpacking the embedded sample: %w", err)
	}
	return path, cleanup, nil
}

// target resolves the PATH operand: the one given, or the embedded sample.
func target(operands []string, stderr io.Writer) (path string, cleanup func(), err error) {
	switch len(operands) {
	case 0:
		path, cleanup, err = embeddedSample()
		if err == nil {
			fmt.Fprintf(stderr, "winrefix: no PATH given; using the embedded sample image %s (a copy in %s)\n", sampleName, path)
		}
		return path, cleanup, err
	case 1:
		return operands[0], func() {}, nil
	}
	return "", nil, usagef("expected one PATH, got %d", len(operands))
}

func openDevice(path string, sectorSize int, writable bool) (winrepart.DeviceCloser, error) {
	return winrepart.Open(path, winrepart.OpenOptions{SectorSize: sectorSize, Writable: writable})
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("inspect", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	sectorSize := fs.Int("sector-size", 0, "logical sector size in bytes for images (0: detect)")
	tableOnly := fs.Bool("table-only", false, "read the partition table only: no filesystems, no WinRE verdict")
	journalPath := fs.String("journal", "", "where an interrupted apply's journal would be (default: PATH.winrepart-journal)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["inspect"])
		fs.PrintDefaults()
	}
	operands, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if *sectorSize != 0 && *sectorSize != 512 && *sectorSize != 4096 {
		return exitUsage, usagef("--sector-size must be 512 or 4096")
	}
	path, cleanup, err := target(operands, stderr)
	if err != nil {
		return exitFailed, err
	}
	defer cleanup()

	dev, err := openDevice(path, *sectorSize, false)
	if err != nil {
		return exitFailed, err
	}
	defer dev.Close()

	// A half-done change first: the disk may look fine or broken, and
	// only recover can tell which state it is meant to be in.
	if len(operands) > 0 {
		if *journalPath == "" {
			*journalPath = defaultJournal(path)
		}
		if st, err := winrepart.PendingJournal(dev, *journalPath); err == nil && st.Pending {
			return exitFailed, pendingError(st, path)
		}
	}
	layout, err := recovery.Inspect(ctx, dev, recovery.Options{TableOnly: *tableOnly})
	if err != nil {
		return exitFailed, err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(layout)
	}
	fmt.Fprintf(stdout, "Disk:         %s\n", path)
	// Problems an interrupted change leaves say to recover with its
	// journal: name the command for this disk (the journal is not at the
	// default path, or the check above would have found it).
	text := strings.ReplaceAll(withCLI(layout.String()), "(winrefix recover)", "(winrefix recover --journal FILE "+path+")")
	fmt.Fprint(stdout, text)
	return exitOK, nil
}
