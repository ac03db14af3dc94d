package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// defaultJournal is where the journal of an image goes when --journal is
// not given: beside the image.
func defaultJournal(path string) string { return path + ".winrepart-journal" }

// isTerminal reports whether w is a character device (a terminal), where
// a progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressPrinter draws a one-line progress bar on a terminal, and prints
// each new step on its own line elsewhere.
func progressPrinter(w io.Writer) func(winrepart.Progress) {
	tty := isTerminal(w)
	last := ""
	return func(p winrepart.Progress) {
		if tty {
			pct := 0.0
			if p.BytesTotal > 0 {
				pct = 100 * float64(p.BytesDone) / float64(p.BytesTotal)
			}
			const width = 30
			filled := int(pct / 100 * width)
			fmt.Fprintf(w, "\r[%s%s] %5.1f%% %d/%d %-50.50s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, p.Op+1, p.Ops, p.Step)
			return
		}
		if p.Step != last {
			fmt.Fprintf(w, "  %d/%d %s\n", p.Op+1, p.Ops, p.Step)
			last = p.Step
		}
	}
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("apply", stderr)
	var pf planFlags
	pf.register(fs)
	yes := fs.Bool("yes", false, "apply the plan (without it, apply prints the plan and writes nothing)")
	journalPath := fs.String("journal", "", "journal file, not on the disk being changed (default: PATH.winrepart-journal)")
	fs.BoolVar(&pf.verbose, "v", false, "log every step, with timestamps, to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: winrefix apply [--yes] [-v] [--journal FILE] [--min-free SIZE] [--size SIZE] PATH")
		fs.PrintDefaults()
	}
	operands, err := pf.parse(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(operands) != 1 {
		return exitUsage, usagef("apply needs exactly one PATH (use 'winrefix demo' for the embedded sample)")
	}
	path := operands[0]
	if *journalPath == "" {
		*journalPath = defaultJournal(path)
	}
	return applyPath(ctx, path, *journalPath, pf, *yes, stdout, stderr)
}

// applyPath plans and, when yes, applies the fix to the image or device at
// path. It prints the plan, the progress and the verification.
func applyPath(ctx context.Context, path, journalPath string, pf planFlags, yes bool, stdout, stderr io.Writer) (int, error) {
	dev, err := openDevice(path, pf.sectorSize, yes)
	if err != nil {
		return exitFailed, err
	}
	defer dev.Close()
	l, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		return exitFailed, err
	}
	p := planner.New(l, withBCDPatching(pf.options(), l))
	fmt.Fprint(stdout, p.String())
	if p.Refused {
		return exitRefused, nil
	}
	if len(p.Steps) == 0 {
		fmt.Fprintln(stdout, "\nNothing to do.")
		return exitOK, nil
	}
	if !yes {
		fmt.Fprintln(stdout, "\nDry run: nothing was written. Run again with --yes to apply.")
		return exitOK, nil
	}
	if _, err := os.Stat(journalPath); err == nil {
		return exitFailed, fmt.Errorf("a journal already exists at %s: run 'winrefix recover --journal %s %s' first, or remove it", journalPath, journalPath, path)
	}
	fmt.Fprintf(stdout, "\nApplying (journal: %s)\n", journalPath)
	opts := winrepart.ApplyOptions{JournalPath: journalPath, Progress: progressPrinter(stderr)}
	if pf.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts.Progress = nil
	}
	res, err := winrepart.Apply(ctx, dev, p, opts)
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		if errors.Is(err, winrepart.ErrChanged) || errors.Is(err, winrepart.ErrReAgentPatch) || errors.Is(err, winrepart.ErrUnsupportedStep) {
			return exitRefused, err
		}
		if _, serr := os.Stat(journalPath); serr == nil {
			fmt.Fprintf(stderr, "winrefix: the journal is at %s; run 'winrefix recover --journal %s %s'\n", journalPath, journalPath, path)
		}
		return exitFailed, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "winrefix: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "Applied %d journaled operations: %s of metadata written, %s of data moved.\n",
		res.Ops, recovery.FormatBytes(res.BytesWritten), recovery.FormatBytes(res.BytesCopied))
	fmt.Fprintf(stdout, "Verified: the disk matches the plan.\n\nAfter:\n%s", res.After)
	if err := os.Remove(journalPath); err != nil {
		fmt.Fprintf(stderr, "winrefix: warning: removing the completed journal: %v\n", err)
	}
	return exitOK, nil
}

func runRecover(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("recover", stderr)
	journalPath := fs.String("journal", "", "the journal apply left behind (default: PATH.winrepart-journal)")
	mode := fs.String("mode", "auto", "auto (undo if possible, else finish), forward (finish) or back (undo)")
	sectorSize := fs.Int("sector-size", 0, "logical sector size in bytes for images (0: detect)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: winrefix recover [--journal FILE] [--mode auto|forward|back] PATH")
		fs.PrintDefaults()
	}
	operands, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(operands) != 1 {
		return exitUsage, usagef("recover needs exactly one PATH")
	}
	m, ok := map[string]winrepart.RecoverMode{"auto": winrepart.RecoverAuto, "forward": winrepart.RecoverForward, "back": winrepart.RecoverBack}[*mode]
	if !ok {
		return exitUsage, usagef("--mode must be auto, forward or back")
	}
	path := operands[0]
	if *journalPath == "" {
		*journalPath = defaultJournal(path)
	}
	dev, err := openDevice(path, *sectorSize, true)
	if err != nil {
		return exitFailed, err
	}
	defer dev.Close()
	res, err := winrepart.Recover(ctx, dev, *journalPath, m, progressPrinter(stderr))
	if err != nil {
		return exitFailed, err
	}
	fmt.Fprintf(stdout, "Recovered: %s.\n", res.Action)
	return exitOK, nil
}
