package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/winrepart/winrepart"
)

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

// progress shows how far Apply or Recover is. On a terminal it redraws one
// line: a bar, the percentage, the rate in MiB/s, the estimated time left,
// the journal operation and the step. Elsewhere (a pipe, a log file) it
// prints each new step on its own line and never a bar. Quiet, it prints
// nothing.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	now   func() time.Time // the clock; tests give a fake one

	start    time.Time // first report
	drawn    time.Time // last redraw on a terminal
	lastStep string
	drew     bool // a bar is on the screen: Done ends its line
}

// redrawEvery bounds how often the terminal line is redrawn: a copy
// reports every window, which can be many times a second.
const redrawEvery = 100 * time.Millisecond

// newProgress returns a progress printer for w (normally stderr).
func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, tty: isTerminal(w), quiet: quiet, now: time.Now}
}

// Func returns the callback to give Apply or Recover, or nil when quiet.
func (pr *progress) Func() func(winrepart.Progress) {
	if pr == nil || pr.quiet {
		return nil
	}
	return pr.report
}

func (pr *progress) report(p winrepart.Progress) {
	now := pr.now()
	if pr.start.IsZero() {
		pr.start = now
	}
	if !pr.tty {
		if p.Step != pr.lastStep {
			fmt.Fprintf(pr.w, "  %d/%d %s\n", p.Op+1, p.Ops, p.Step)
			pr.lastStep = p.Step
		}
		return
	}
	// Redraw on a new step, at the end, or when enough time passed.
	final := p.BytesTotal > 0 && p.BytesDone >= p.BytesTotal
	if p.Step == pr.lastStep && !final && pr.drew && now.Sub(pr.drawn) < redrawEvery {
		return
	}
	pr.lastStep, pr.drawn, pr.drew = p.Step, now, true
	fmt.Fprintf(pr.w, "\r%s", barLine(p, now.Sub(pr.start)))
}

// Done ends the bar's line on a terminal, so that what follows starts on
// a line of its own.
func (pr *progress) Done() {
	if pr != nil && pr.drew {
		fmt.Fprintln(pr.w)
		pr.drew = false
	}
}

// barLine renders one progress line for p, elapsed after the first
// report: bar, percentage, rate, time left, operation and step.
func barLine(p winrepart.Progress, elapsed time.Duration) string {
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = min(max(float64(p.BytesDone)/float64(p.BytesTotal), 0), 1)
	}
	const width = 24
	filled := int(frac * width)
	rate, eta := "   -- MiB/s", "ETA --:--"
	// A rate needs some time and some bytes to mean anything.
	if elapsed >= time.Second && p.BytesDone > 0 {
		bps := float64(p.BytesDone) / elapsed.Seconds()
		rate = fmt.Sprintf("%6.1f MiB/s", bps/(1<<20))
		if left := p.BytesTotal - p.BytesDone; left >= 0 {
			eta = "ETA " + clock(time.Duration(float64(left)/bps*float64(time.Second)))
		}
	}
	return fmt.Sprintf("[%s%s] %5.1f%% %s %s %d/%d %-40.40s",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*frac, rate, eta, p.Op+1, p.Ops, p.Step)
}

// clock renders d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
