package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// parseSize reads a size such as "250M", "1G", "300MiB", "262144000" (bytes).
// Units are binary: K/KiB, M/MiB, G/GiB, T/TiB; "MB" and "GB" are accepted
// as the same binary units, as diskpart uses them.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10},
		{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional unit (K, M, G, T)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// sizeFlag is a flag.Value holding a byte count.
type sizeFlag struct{ bytes int64 }

func (f *sizeFlag) String() string {
	if f == nil || f.bytes == 0 {
		return ""
	}
	return strconv.FormatInt(f.bytes, 10)
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.bytes = n
	return nil
}

// planFlags are the flags shared by plan, script and apply.
type planFlags struct {
	minFree    sizeFlag
	size       sizeFlag
	allowDirty bool
	noRelocate bool
	sectorSize int
	verbose    bool    // apply -v: log steps to stderr
	quiet      bool    // apply -q: no progress
	planFile   string  // apply --plan: a saved plan
	report     *report // apply --json: the report being filled in
}

func (pf *planFlags) register(fs *flag.FlagSet) {
	fs.Var(&pf.minFree, "min-free", "free space WinRE must have after the fix (default 250M)")
	fs.Var(&pf.size, "size", "explicit WinRE partition size (default: the sizing policy's)")
	fs.BoolVar(&pf.allowDirty, "allow-dirty", false, "plan changes to volumes whose NTFS dirty flag is set")
	fs.BoolVar(&pf.noRelocate, "no-relocate", false, "refuse to shrink C: past its last used cluster instead of moving the data in its tail")
	fs.IntVar(&pf.sectorSize, "sector-size", 0, "logical sector size in bytes for images (0: detect)")
}

// options returns the planner options of the flags for the disk r,
// inspected as l: the relocator reads r.
func (pf *planFlags) options(r io.ReaderAt, l *recovery.Layout) planner.Options {
	o := planner.Options{MinFreeBytes: pf.minFree.bytes, TargetWinREBytes: pf.size.bytes, AllowDirty: pf.allowDirty,
		NoRelocate: pf.noRelocate, Relocator: winrepart.NewRelocator(r, l)}
	return withBCDPatching(o, l)
}

func (pf *planFlags) check() error {
	if pf.sectorSize != 0 && pf.sectorSize != 512 && pf.sectorSize != 4096 {
		return usagef("--sector-size must be 512 or 4096")
	}
	if pf.planFile != "" && (pf.minFree.bytes != 0 || pf.size.bytes != 0 || pf.allowDirty || pf.noRelocate) {
		return usagef("--plan applies a saved plan as it was made: --min-free, --size, --allow-dirty and --no-relocate belong to plan")
	}
	return nil
}

// planFor returns the plan for the disk r inspected as l: the saved plan
// of --plan, whose preconditions must hold on l, or a new one. On error it
// also returns the exit status: 3 for a saved plan the disk no longer
// fits, 1 for one that cannot be read.
func (pf *planFlags) planFor(r io.ReaderAt, l *recovery.Layout) (*planner.Plan, int, error) {
	if pf.planFile == "" {
		return planner.New(l, pf.options(r, l)), exitOK, nil
	}
	f, err := os.Open(pf.planFile)
	if err != nil {
		return nil, exitFailed, err
	}
	defer f.Close()
	p, err := planner.ReadJSON(f)
	if err != nil {
		return nil, exitFailed, fmt.Errorf("reading the saved plan %s: %w", pf.planFile, err)
	}
	if p.Refused {
		return p, exitOK, nil
	}
	if err := p.Check(l); err != nil {
		return nil, exitRefused, fmt.Errorf("the saved plan %s no longer fits the disk: %w", pf.planFile, err)
	}
	return p, exitOK, nil
}

// parse parses args with fs and checks the shared flags.
func (pf *planFlags) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	operands, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	return operands, pf.check()
}

// planOperand inspects the PATH operand (or the embedded sample) read-only
// and plans it.
func (pf *planFlags) planOperand(ctx context.Context, operands []string, stderr io.Writer) (*planner.Plan, error) {
	path, cleanup, err := target(operands, stderr)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	dev, err := openDevice(path, pf.sectorSize, false)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	// A disk an apply left half-changed is planned only after recover:
	// planning from its present state would plan the wrong change.
	if st, err := winrepart.PendingJournal(dev, defaultJournal(path)); err == nil && st.Pending {
		return nil, pendingError(st, path)
	}
	l, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		return nil, err
	}
	return planner.New(l, pf.options(dev, l)), nil
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("plan", stderr)
	var pf planFlags
	pf.register(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["plan"])
		fs.PrintDefaults()
	}
	operands, err := pf.parse(fs, args)
	if err != nil {
		return exitUsage, err
	}
	p, err := pf.planOperand(ctx, operands, stderr)
	if err != nil {
		return exitFailed, err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return exitFailed, err
		}
	} else {
		fmt.Fprint(stdout, withCLI(p.String()))
	}
	if p.Refused {
		return exitRefused, nil
	}
	return exitOK, nil
}

func runScript(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("script", stderr)
	var pf planFlags
	pf.register(fs)
	format := fs.String("format", "powershell", "script format: powershell, diskpart, or intune (a detection and a remediation script)")
	outDir := fs.String("out", "", "write the script(s) into this directory instead of stdout (winrepart-fix.ps1, winrepart-fix.cmd, or winrepart-detect.ps1 and winrepart-remediate.ps1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLines["script"])
		fs.PrintDefaults()
	}
	operands, err := pf.parse(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if *format != "powershell" && *format != "diskpart" && *format != "intune" {
		return exitUsage, usagef("--format must be powershell, diskpart or intune")
	}
	p, err := pf.planOperand(ctx, operands, stderr)
	if err != nil {
		return exitFailed, err
	}
	var files []scriptFile
	switch *format {
	case "diskpart":
		files = []scriptFile{{"winrepart-fix.cmd", "", p.DiskpartScript()}}
	case "intune":
		det, rem := p.IntuneScripts()
		files = []scriptFile{{"winrepart-detect.ps1", "detection script", det}, {"winrepart-remediate.ps1", "remediation script", rem}}
	default:
		files = []scriptFile{{"winrepart-fix.ps1", "", p.PowerShellScript()}}
	}
	if err := writeScripts(stdout, *outDir, files); err != nil {
		return exitFailed, err
	}
	switch {
	case p.Strategy == planner.StrategyNoop && !p.Refused:
		fmt.Fprintln(stderr, "winrefix script: nothing to do: "+p.Summary)
	case p.Refused && p.Scriptable():
		fmt.Fprintln(stderr, "winrefix script: the plan is refused offline; the script does the job from the running Windows (its header says why)")
		return exitRefused, nil
	case p.Refused:
		fmt.Fprintln(stderr, "winrefix script: the plan is refused and no Windows-side script can carry it out either: "+p.Summary)
		return exitRefused, nil
	}
	return exitOK, nil
}

// scriptFile is one script the script command prints or writes.
type scriptFile struct {
	name, what, text string
}

// writeScripts prints files to stdout (each under a comment line naming it
// when there are several) or, with dir, writes each into dir.
func writeScripts(stdout io.Writer, dir string, files []scriptFile) error {
	if dir == "" {
		for i, f := range files {
			if len(files) > 1 {
				if i > 0 {
					fmt.Fprintln(stdout)
				}
				fmt.Fprintf(stdout, "# ===== %s: save as %s =====\n", f.what, f.name)
			}
			fmt.Fprint(stdout, f.text)
		}
		return nil
	}
	for _, f := range files {
		text := f.text
		if strings.HasSuffix(f.name, ".cmd") {
			text = strings.ReplaceAll(text, "\r\n", "\n") // already CRLF
			text = strings.ReplaceAll(text, "\n", "\r\n")
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
