package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"syscall"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// Error codes of the JSON error object: stable, kebab-case, never
// reused with another meaning. README.md lists them.
const (
	errCodeUsage          = "usage"           // the command line is wrong (exit 2)
	errCodeRefused        = "refused"         // the plan is refused, nothing written (exit 3)
	errCodeChanged        = "changed"         // the disk changed since it was planned, nothing written (exit 3)
	errCodeUnsupported    = "unsupported"     // the plan needs a step done offline that cannot be (exit 3)
	errCodePendingJournal = "pending-journal" // an interrupted apply left a journal: recover first
	errCodeBusy           = "busy"            // the device or a partition is mounted or in use
	errCodeNotFound       = "not-found"       // PATH or the journal does not exist
	errCodeInterrupted    = "interrupted"     // stopped by a signal at a safe point; the journal is kept
	errCodeVerify         = "verify-failed"   // the result does not match the plan
	errCodeJournal        = "journal"         // the journal is corrupt, of another disk, or cannot go that way
	errCodeBadPlan        = "bad-plan"        // the saved plan of apply --plan is incomplete or malformed
	errCodeFailed         = "failed"          // anything else (exit 1)
)

// errorJSON is the "error" member of a JSON report.
type errorJSON struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Reasons []reasonJSON `json:"reasons,omitempty"`
}

// reasonJSON is a refusal reason, with the keys of plan --json.
type reasonJSON struct {
	Code       planner.Code `json:"code"`
	Message    string       `json:"message"`
	Suggestion string       `json:"suggestion,omitempty"`
}

// report is the one JSON object a command prints with --json. Its keys
// are stable: new ones may be added, none change meaning.
type report struct {
	Command  string     `json:"command"`
	OK       bool       `json:"ok"`
	ExitCode int        `json:"exitCode"`
	Error    *errorJSON `json:"error,omitempty"`
	Path     string     `json:"path,omitempty"`
	Journal  string     `json:"journal,omitempty"`
	// DryRun is set by apply without --yes: nothing was written.
	DryRun bool `json:"dryRun,omitempty"`
	// Changed says whether the disk was written.
	Changed  bool          `json:"changed"`
	Plan     *planner.Plan `json:"plan,omitempty"`
	Applied  *appliedJSON  `json:"applied,omitempty"`
	Recover  *recoverJSON  `json:"recovered,omitempty"`
	Warnings []string      `json:"warnings"`
}

// appliedJSON is what apply did.
type appliedJSON struct {
	Ops          int              `json:"ops"`
	BytesWritten int64            `json:"bytesWritten"`
	BytesCopied  int64            `json:"bytesCopied"`
	Verified     bool             `json:"verified"`
	After        *recovery.Layout `json:"after,omitempty"`
}

// recoverJSON is what recover did.
type recoverJSON struct {
	// Action is rolled-forward, rolled-back, already-complete or
	// already-rolled-back.
	Action string `json:"action"`
	// State is where the journal stood before, e.g. "9 of 34 ops done".
	State string `json:"state"`
	// JournalRemoved is true when the journal was removed.
	JournalRemoved bool `json:"journalRemoved"`
	// ForeignRegions counts the regions of an already complete or rolled
	// back journal that hold neither its old nor its new bytes.
	ForeignRegions int `json:"foreignRegions"`
}

// newReport starts the report of command; nil when JSON is not wanted, so
// that commands can call its methods unconditionally.
func newReport(command string, enabled bool) *report {
	if !enabled {
		return nil
	}
	return &report{Command: command, Warnings: []string{}}
}

// plan records the plan.
func (r *report) plan(p *planner.Plan) {
	if r != nil {
		r.Plan = p
	}
}

// applied records Apply's result.
func (r *report) applied(res *winrepart.ApplyResult) {
	if r == nil || res == nil {
		return
	}
	r.Changed = res.Ops > 0
	r.Applied = &appliedJSON{Ops: res.Ops, BytesWritten: res.BytesWritten, BytesCopied: res.BytesCopied, After: res.After}
	r.Warnings = append(r.Warnings, res.Warnings...)
}

// print finishes the report with the command's outcome and writes it to w
// as one JSON object. It returns code.
func (r *report) print(w io.Writer, code int, err error) int {
	r.ExitCode, r.OK = code, code == exitOK && err == nil
	if err != nil || code != exitOK {
		r.Error = errorOf(code, err, r.Plan)
	}
	if r.Applied != nil && r.OK {
		r.Applied.Verified = true
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(r) //nolint:errcheck // stdout gone: nothing left to tell
	return code
}

// errorOf classifies the outcome of a command: a stable code and a
// message. p, when not nil, is the plan the command made; its reasons go
// with a refusal.
func errorOf(code int, err error, p *planner.Plan) *errorJSON {
	e := &errorJSON{Code: errCodeFailed}
	if err != nil {
		e.Message = err.Error()
	}
	var ue *usageError
	switch {
	case p != nil && p.Refused && err == nil:
		e.Code, e.Message = errCodeRefused, p.Summary
		for _, r := range p.Reasons {
			e.Reasons = append(e.Reasons, reasonJSON(r))
		}
	case err == nil:
		e.Message = "exit status " + strconv.Itoa(code)
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		e.Code = errCodeUsage
	case errors.Is(err, errPendingJournal):
		e.Code = errCodePendingJournal
	case errors.Is(err, context.Canceled):
		e.Code = errCodeInterrupted
	case errors.Is(err, winrepart.ErrChanged), errors.Is(err, planner.ErrPrecondition):
		e.Code = errCodeChanged
	case errors.Is(err, winrepart.ErrRefused), errors.Is(err, planner.ErrRefused):
		e.Code = errCodeRefused
	case errors.Is(err, winrepart.ErrUnsupportedStep), errors.Is(err, winrepart.ErrReAgentPatch):
		e.Code = errCodeUnsupported
	case errors.Is(err, winrepart.ErrVerify):
		e.Code = errCodeVerify
	case errors.Is(err, winrepart.ErrMounted), errors.Is(err, winrepart.ErrBusy), errors.Is(err, winrepart.ErrJournalBusy), errors.Is(err, syscall.EBUSY):
		e.Code = errCodeBusy
	case errors.Is(err, winrepart.ErrJournalCorrupt), errors.Is(err, winrepart.ErrJournalVersion), errors.Is(err, winrepart.ErrJournalMismatch),
		errors.Is(err, winrepart.ErrIrreversible), errors.Is(err, winrepart.ErrRolledBack), errors.Is(err, winrepart.ErrJournalOnDevice),
		errors.Is(err, winrepart.ErrUnproven):
		e.Code = errCodeJournal
	case errors.Is(err, planner.ErrSavedPlan):
		e.Code = errCodeBadPlan
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, winrepart.ErrNoJournal):
		e.Code = errCodeNotFound
	}
	return e
}

// errPendingJournal marks the CLI's own finding of a journal left by an
// interrupted apply.
var errPendingJournal = errors.New("a journal of an interrupted apply exists")

// reportedError wraps an error a command already printed as JSON, so that
// run does not print it again.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// reported returns code and an error run will not print again (nil when
// err is nil).
func reported(code int, err error) (int, error) {
	if err == nil {
		return code, nil
	}
	return code, &reportedError{err}
}

// wantsJSON reports whether the command line asks for JSON output: a
// --json or -json flag before any "--".
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

// printRecover prints recover's JSON object for the result res and error
// err of winrepart.Recover, and returns recover's exit status.
func printRecover(stdout io.Writer, path, journalPath string, res *winrepart.RecoverResult, err error) (int, error) {
	rep := newReport("recover", true)
	rep.Path, rep.Journal = path, journalPath
	code := exitOK
	if err != nil {
		code = exitFailed
	} else {
		rep.Recover = &recoverJSON{Action: strings.ReplaceAll(res.Action.String(), " ", "-"),
			State: res.State, JournalRemoved: res.JournalRemoved, ForeignRegions: res.ForeignRegions}
		rep.Changed = res.Action.Changed()
		rep.Warnings = append(rep.Warnings, res.Warnings...)
	}
	rep.print(stdout, code, err)
	return reported(code, err)
}
