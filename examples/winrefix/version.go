package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// buildInfo is the source of version facts; tests replace it.
var buildInfo = debug.ReadBuildInfo

// versionString describes this build: the module version ("(devel)" for a
// build from a source tree, the tag for `go install ...@version`), the VCS
// revision and time and whether the tree had local changes, when the
// build recorded them, and the Go version.
func versionString() string {
	bi, ok := buildInfo()
	if !ok {
		return "winrefix (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var extra []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += "+modified"
		}
		extra = append(extra, "revision "+rev)
	}
	if when != "" {
		extra = append(extra, when)
	}
	if bi.GoVersion != "" {
		extra = append(extra, bi.GoVersion)
	}
	s := "winrefix " + v
	if bi.Main.Path != "" {
		s += " (" + bi.Main.Path
		if len(extra) > 0 {
			s += ", " + strings.Join(extra, ", ")
		}
		s += ")"
	}
	return s
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("version", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["version"])
		fs.PrintDefaults()
	}
	operands, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(operands) != 0 {
		return exitUsage, usagef("version takes no operands")
	}
	fmt.Fprintln(stdout, versionString())
	return exitOK, nil
}
