package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/recovery"
)

// defaultJournal is where the journal of an image goes when --journal is
// not given: beside the image.
func defaultJournal(path string) string { return path + ".winrepart-journal" }

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("apply", stderr)
	var pf planFlags
	pf.register(fs)
	yes := fs.Bool("yes", false, "apply the plan (without it, apply prints the plan and writes nothing)")
	journalPath := fs.String("journal", "", "journal file, not on the disk being changed (default: PATH.winrepart-journal)")
	fs.BoolVar(&pf.verbose, "v", false, "log every step, with timestamps, to stderr")
	fs.StringVar(&pf.planFile, "plan", "", "apply this saved plan (plan --json output) instead of planning again; its preconditions are checked against the disk")
	asJSON := fs.Bool("json", false, "print one JSON object (plan, result or error) instead of text")
	fs.BoolVar(&pf.quiet, "q", false, "print no progress")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["apply"])
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
	if *asJSON {
		rep := newReport("apply", true)
		rep.Path, rep.Journal, rep.DryRun = path, *journalPath, !*yes
		pf.report = rep
		code, err := applyPath(ctx, path, *journalPath, pf, *yes, io.Discard, stderr)
		rep.print(stdout, code, err)
		return reported(code, err)
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
	if st, err := winrepart.PendingJournal(dev, journalPath); err == nil && st.Pending {
		return exitFailed, pendingError(st, path)
	}
	l, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		return exitFailed, err
	}
	p, code, err := pf.planFor(dev, l)
	if err != nil {
		return code, err
	}
	pf.report.plan(p)
	fmt.Fprint(stdout, withCLI(p.String()))
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
		return exitFailed, fmt.Errorf("%w at %s: run 'winrefix recover --journal %s %s' first, or remove it", errPendingJournal, journalPath, journalPath, path)
	}
	fmt.Fprintf(stdout, "\nApplying (journal: %s)\n", journalPath)
	prog := newProgress(stderr, pf.quiet)
	opts := winrepart.ApplyOptions{JournalPath: journalPath, Progress: prog.Func()}
	if pf.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts.Progress = nil
	}
	res, err := winrepart.Apply(ctx, dev, p, opts)
	prog.Done()
	pf.report.applied(res)
	if err != nil {
		if errors.Is(err, winrepart.ErrChanged) || errors.Is(err, winrepart.ErrReAgentPatch) || errors.Is(err, winrepart.ErrUnsupportedStep) {
			return exitRefused, err
		}
		if errors.Is(err, winrepart.ErrInterrupted) {
			fmt.Fprintf(stderr, "winrefix: the change was interrupted after writing began; the journal is at %s: run 'winrefix recover --journal %s %s'\n", journalPath, journalPath, path)
		}
		return exitFailed, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "winrefix: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "Applied %d journaled operations: %s of metadata written, %s of data moved.\n",
		res.Ops, diag.FormatBytes(res.BytesWritten), diag.FormatBytes(res.BytesCopied))
	fmt.Fprintf(stdout, "Verified: the disk matches the plan.\n\nAfter:\n%s", withCLI(res.After.String()))
	fmt.Fprint(stdout, dirtyNote(res.After))
	if err := os.Remove(journalPath); err != nil {
		fmt.Fprintf(stderr, "winrefix: warning: removing the completed journal: %v\n", err)
	}
	return exitOK, nil
}

func runRecover(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("recover", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object (result or error) instead of text")
	quiet := fs.Bool("q", false, "print no progress")
	journalPath := fs.String("journal", "", "the journal apply left behind (default: PATH.winrepart-journal)")
	mode := fs.String("mode", "auto", "auto (undo if possible, else finish), forward (finish) or back (undo)")
	sectorSize := fs.Int("sector-size", 0, "logical sector size in bytes for images (0: detect)")
	keep := fs.Bool("keep-journal", false, "keep the journal once the disk is in its old or new state (default: remove it)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["recover"])
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
	prog := newProgress(stderr, *quiet)
	res, err := winrepart.Recover(ctx, dev, *journalPath, winrepart.RecoverOptions{Mode: m, Progress: prog.Func(), KeepJournal: *keep})
	prog.Done()
	if err == nil && !*asJSON {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "winrefix: warning: %s\n", w)
		}
	}
	if *asJSON {
		return printRecover(stdout, path, *journalPath, res, err)
	}
	if err != nil {
		return exitFailed, err
	}
	fmt.Fprintf(stdout, "Recovered: %s.\n", res.Action)
	if res.JournalRemoved {
		fmt.Fprintf(stdout, "Removed the journal %s (the disk is in its final state).\n", *journalPath)
	}
	return exitOK, nil
}

// pendingError explains an interrupted change found before any other work.
func pendingError(st *winrepart.JournalStatus, path string) error {
	why := st.State
	if st.Err != nil {
		why += ": " + st.Err.Error()
	}
	return fmt.Errorf("%w: %s (%s); the disk may be half-changed: run 'winrefix recover --journal %s %s' first", errPendingJournal, st.Path, why, st.Path, path)
}
