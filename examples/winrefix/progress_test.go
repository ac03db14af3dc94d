package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/winrepart/winrepart"
)

// fakeClock advances only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func ttyProgress(w *bytes.Buffer, c *fakeClock) *progress {
	return &progress{w: w, tty: true, now: c.now}
}

func TestProgressBarRateAndETA(t *testing.T) {
	var out bytes.Buffer
	clk := newFakeClock()
	pr := ttyProgress(&out, clk)
	f := pr.Func()
	const total = 400 << 20
	f(winrepart.Progress{Step: "copy WinRE", Op: 2, Ops: 10, BytesDone: 0, BytesTotal: total})
	if !strings.Contains(out.String(), "-- MiB/s") || !strings.Contains(out.String(), "ETA --:--") || !strings.Contains(out.String(), "3/10 copy WinRE") {
		t.Errorf("first line: %q", out.String())
	}
	// 100 MiB in 2 s: 50 MiB/s, 300 MiB left: 6 s.
	clk.add(2 * time.Second)
	out.Reset()
	f(winrepart.Progress{Step: "copy WinRE", Op: 2, Ops: 10, BytesDone: 100 << 20, BytesTotal: total})
	line := out.String()
	for _, want := range []string{"\r[######..................]", " 25.0%", "  50.0 MiB/s", "ETA 0:06"} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q: %q", want, line)
		}
	}
	// A report 10 ms later is not drawn; one 100 ms later is.
	clk.add(10 * time.Millisecond)
	out.Reset()
	f(winrepart.Progress{Step: "copy WinRE", Op: 2, Ops: 10, BytesDone: 101 << 20, BytesTotal: total})
	if out.Len() != 0 {
		t.Errorf("redrawn after 10 ms: %q", out.String())
	}
	clk.add(100 * time.Millisecond)
	f(winrepart.Progress{Step: "copy WinRE", Op: 2, Ops: 10, BytesDone: 102 << 20, BytesTotal: total})
	if out.Len() == 0 {
		t.Error("not redrawn after 110 ms")
	}
	// A new step is always drawn; the end too.
	out.Reset()
	f(winrepart.Progress{Step: "write the table", Op: 3, Ops: 10, BytesDone: 103 << 20, BytesTotal: total})
	clk.add(time.Millisecond)
	f(winrepart.Progress{Step: "write the table", Op: 9, Ops: 10, BytesDone: total, BytesTotal: total})
	if got := strings.Count(out.String(), "\r"); got != 2 {
		t.Errorf("%d redraws for a new step and the end, want 2: %q", got, out.String())
	}
	if !strings.Contains(out.String(), "100.0%") || !strings.Contains(out.String(), "ETA 0:00") {
		t.Errorf("final line: %q", out.String())
	}
	out.Reset()
	pr.Done()
	pr.Done()
	if out.String() != "\n" {
		t.Errorf("Done printed %q, want one newline", out.String())
	}
}

func TestProgressOffTerminal(t *testing.T) {
	var out bytes.Buffer
	clk := newFakeClock()
	pr := &progress{w: &out, now: clk.now}
	f := pr.Func()
	for i, step := range []string{"a", "a", "b", "b", "c"} {
		clk.add(time.Second)
		f(winrepart.Progress{Step: step, Op: i, Ops: 5, BytesDone: int64(i), BytesTotal: 5})
	}
	pr.Done()
	if want := "  1/5 a\n  3/5 b\n  5/5 c\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	// os.Stderr under go test is not a terminal, nor is a buffer.
	if newProgress(&out, false).tty {
		t.Error("a buffer taken for a terminal")
	}
}

func TestProgressQuiet(t *testing.T) {
	var out bytes.Buffer
	if f := newProgress(&out, true).Func(); f != nil {
		t.Error("quiet progress has a callback")
	}
	var nilProgress *progress
	nilProgress.Done() // safe
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 59 * time.Second: "0:59", 61 * time.Second: "1:01", 3*time.Hour + 2*time.Minute + 5*time.Second: "3:02:05"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}
