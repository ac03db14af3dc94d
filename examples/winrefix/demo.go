package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// runDemo shows the whole job on the embedded sample: a copy of a Windows 11
// disk image whose 529 MiB WinRE partition is too small for KB5034441 is
// inspected, planned, fixed behind a journal and verified.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("demo", stderr)
	keep := fs.Bool("keep", false, "keep the fixed image (its path is printed) instead of removing it")
	quiet := fs.Bool("q", false, "print no progress")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["demo"])
		fs.PrintDefaults()
	}
	operands, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(operands) != 0 {
		return exitUsage, usagef("demo takes no PATH; use 'winrefix apply PATH' for your own image")
	}
	path, cleanup, err := embeddedSample()
	if err != nil {
		return exitFailed, err
	}
	if *keep {
		cleanup = func() {}
	}
	defer cleanup()

	fmt.Fprintf(stdout, "winrefix demo: a copy of the embedded sample image %q at %s\n\n", sampleName, path)
	dev, err := openDevice(path, 0, true)
	if err != nil {
		return exitFailed, err
	}
	defer dev.Close()

	fmt.Fprintln(stdout, "== 1. Inspect")
	before, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		return exitFailed, err
	}
	fmt.Fprintln(stdout, withCLI(before.String()))

	fmt.Fprintln(stdout, "== 2. Plan")
	p := planner.New(before, planner.Options{})
	fmt.Fprintln(stdout, withCLI(p.String()))
	if p.Refused {
		return exitRefused, nil
	}

	fmt.Fprintln(stdout, "== 3. Apply, behind a journal")
	journalPath := filepath.Join(filepath.Dir(path), "demo.winrepart-journal")
	start := time.Now()
	prog := newProgress(stderr, *quiet)
	res, err := winrepart.Apply(ctx, dev, p, winrepart.ApplyOptions{JournalPath: journalPath, Progress: prog.Func()})
	prog.Done()
	if err != nil {
		return exitFailed, err
	}
	fmt.Fprintf(stdout, "%d journaled operations in %s: %s of metadata written, %s of WinRE data moved.\n\n",
		res.Ops, time.Since(start).Round(time.Millisecond), diag.FormatBytes(res.BytesWritten), diag.FormatBytes(res.BytesCopied))
	os.Remove(journalPath)

	fmt.Fprintln(stdout, "== 4. Verify: inspect again and compare with the plan")
	fmt.Fprintln(stdout, withCLI(res.After.String()))
	fmt.Fprintf(stdout, "The disk matches the plan. WinRE: %s free of %s required.\n",
		diag.FormatBytes(res.After.WinRE.FreeBytes), diag.FormatBytes(res.After.WinRE.RequiredFreeBytes))
	fmt.Fprint(stdout, dirtyNote(res.After))
	if *keep {
		fmt.Fprintf(stdout, "The fixed image is at %s.\n", path)
	}
	return exitOK, nil
}
