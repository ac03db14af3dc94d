// Command winrefix shows off the winrepart library: it inspects a Windows
// disk image or block device, plans the fix that gives WinRE the room the
// KB5034441 servicing needs, applies it behind a journal and verifies it.
//
// Usage:
//
//	winrefix demo    [-q] [--keep]
//	winrefix inspect [--json] [--journal FILE] [--sector-size N] [--table-only] [PATH]
//	winrefix plan    [--json] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] [PATH]
//	winrefix script  [--format powershell|diskpart|intune] [--out DIR] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] [PATH]
//	winrefix apply   [--yes] [--json] [-q] [-v] [--plan FILE] [--journal FILE] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] PATH
//	winrefix recover [--json] [-q] [--journal FILE] [--keep-journal] [--mode auto|forward|back] [--sector-size N] PATH
//	winrefix version
//	winrefix --version
//
// With no command, winrefix runs the demo on a copy of an embedded sample
// Windows disk image; inspect, plan and script with no PATH work on it too.
//
// Exit status: 0 success, 1 failure (e.g. no readable partition table), 2
// usage error, 3 plan refused or the disk changed since it was planned
// (nothing written). With --json, a command prints one JSON object on
// stdout, errors included; README.md documents its keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitRefused = 3
)

// usageError marks errors in the command line itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error)
}

var commands []command

func init() {
	commands = []command{
		{"demo", "fix a copy of the embedded sample image: inspect, plan, apply, verify", runDemo},
		{"inspect", "print the partition table, roles, filesystem facts and the WinRE verdict", runInspect},
		{"plan", "print the plan that gives WinRE room (a dry run), or why there is none", runPlan},
		{"script", "print the same decision as a Windows-side PowerShell, diskpart or Intune script", runScript},
		{"apply", "apply the plan behind a journal (--yes), then verify", runApply},
		{"recover", "finish or undo an interrupted apply from its journal", runRecover},
		{"version", "print the version of winrefix and the library", runVersion},
	}
}

// usageLines holds each command's usage line: the flags it takes, as its
// -h and README.md show them (a test keeps the three in step).
var usageLines = map[string]string{
	"demo":    "usage: winrefix demo [-q] [--keep]",
	"inspect": "usage: winrefix inspect [--json] [--journal FILE] [--sector-size N] [--table-only] [PATH]",
	"plan":    "usage: winrefix plan [--json] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] [PATH]",
	"script":  "usage: winrefix script [--format powershell|diskpart|intune] [--out DIR] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] [PATH]",
	"apply":   "usage: winrefix apply [--yes] [--json] [-q] [-v] [--plan FILE] [--journal FILE] [--min-free SIZE] [--size SIZE] [--allow-dirty] [--no-relocate] [--sector-size N] PATH",
	"recover": "usage: winrefix recover [--json] [-q] [--journal FILE] [--keep-journal] [--mode auto|forward|back] [--sector-size N] PATH",
	"version": "usage: winrefix version",
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: winrefix <command> [flags] [PATH]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nWith no PATH, commands work on an embedded sample Windows disk image.")
	fmt.Fprintln(w, "Run 'winrefix <command> -h' for a command's flags, 'winrefix --version' for the version.")
}

func main() {
	// Ctrl-C and SIGTERM cancel the context: an apply stops at its next
	// safe point, with its journal kept, and says how to recover.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "demo"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-h", "--help", "-help", "help":
		usage(stdout)
		return exitOK
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		code, err := c.run(ctx, args, stdout, stderr)
		var ue *usageError
		var rep *reportedError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			code = exitUsage
		case err != nil && code == exitOK:
			code = exitFailed
		}
		if err != nil {
			fmt.Fprintf(stderr, "winrefix %s: %s\n", name, withCLI(err.Error()))
			// With --json, an error is one JSON object on stdout, unless
			// the command already printed its object with the error in it.
			if wantsJSON(args) && !errors.As(err, &rep) {
				newReport(name, true).print(stdout, code, err)
			}
		}
		return code
	}
	fmt.Fprintf(stderr, "winrefix: unknown command %q\n", name)
	usage(stderr)
	if wantsJSON(args) {
		newReport(name, true).print(stdout, exitUsage, usagef("unknown command %q", name))
	}
	return exitUsage
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("winrefix "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, allowing flags after the PATH operand too.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return operands, nil
		}
		operands = append(operands, args[0])
		args = args[1:]
	}
}
