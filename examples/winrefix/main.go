// Command winrefix shows off the winrepart library: it inspects a Windows
// disk image or block device, plans the fix that gives WinRE the room the
// KB5034441 servicing needs, applies it behind a journal and verifies it.
//
// Usage:
//
//	winrefix [demo [--keep]]
//	winrefix inspect [--json] [--sector-size N] [--table-only] [PATH]
//	winrefix plan [--json] [--min-free SIZE] [--size SIZE] [PATH]
//	winrefix script [--format powershell|diskpart] [PATH]
//	winrefix apply [--yes] [--journal FILE] [--min-free SIZE] [--size SIZE] PATH
//	winrefix recover [--journal FILE] [--mode auto|forward|back] PATH
//
// With no command, winrefix runs the demo on a copy of an embedded sample
// Windows disk image; inspect, plan and script with no PATH work on it too.
//
// Exit status: 0 success, 1 failure (e.g. no readable partition table), 2
// usage error, 3 plan refused (nothing written).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
		{"script", "print the same decision as a Windows-side PowerShell or diskpart script", runScript},
		{"apply", "apply the plan behind a journal (--yes), then verify", runApply},
		{"recover", "finish or undo an interrupted apply from its journal", runRecover},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: winrefix <command> [flags] [PATH]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nWith no PATH, commands work on an embedded sample Windows disk image.")
	fmt.Fprintln(w, "Run 'winrefix <command> -h' for a command's flags.")
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "demo"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		code, err := c.run(ctx, args, stdout, stderr)
		var ue *usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "winrefix %s: %v\n", name, err)
			return exitUsage
		case err != nil:
			fmt.Fprintf(stderr, "winrefix %s: %v\n", name, err)
			if code == exitOK {
				code = exitFailed
			}
		}
		return code
	}
	fmt.Fprintf(stderr, "winrefix: unknown command %q\n", name)
	usage(stderr)
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
