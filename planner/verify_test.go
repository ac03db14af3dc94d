package planner

import (
	"errors"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/recovery"
)

// TestVerify holds a plan against the layout it leads to (which must
// pass) and against that layout broken one way at a time (each must fail
// with ErrVerify, naming what differs).
func TestVerify(t *testing.T) {
	l := win11().build()
	p := New(l, Options{})
	if p.Refused {
		t.Fatalf("plan refused:\n%s", p)
	}
	if err := p.Verify(afterLayout(l, p)); err != nil {
		t.Fatalf("the planned layout: %v", err)
	}
	re := func(a *recovery.Layout) *recovery.Partition { return a.Partition(p.WinRE.Partition) }
	for _, tc := range []struct {
		name, says string
		mutate     func(a *recovery.Layout)
	}{
		{"extent", "spans LBA", func(a *recovery.Layout) { re(a).EndLBA-- }},
		{"type", "has type", func(a *recovery.Layout) { re(a).GPTType = gpt.TypeBasicData }},
		{"attributes", "has type", func(a *recovery.Layout) { re(a).Attributes = 0 }},
		{"missing", "is missing", func(a *recovery.Layout) { a.Partitions = a.Partitions[:len(a.Partitions)-1] }},
		{"extra", "the plan has none", func(a *recovery.Layout) {
			a.Partitions = append(a.Partitions, recovery.Partition{Number: 9})
		}},
		{"error problem", "problem x-broken", func(a *recovery.Layout) {
			a.Problems = append(a.Problems, recovery.Problem{Source: recovery.SourceRecovery, Problem: diag.Problem{Code: "x-broken", Severity: diag.Error, Message: "broken"}})
		}},
		{"short of room", "bytes free", func(a *recovery.Layout) {
			w := *a.WinRE
			w.FreeBytes = p.WinRE.RequiredFreeBytes - 1
			a.WinRE = &w
		}},
		{"no WinRE", "WinRE after applying", func(a *recovery.Layout) { a.WinRE = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := afterLayout(l, p)
			tc.mutate(a)
			err := p.Verify(a)
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Verify = %v; want ErrVerify saying %q", err, tc.says)
			}
		})
	}
	// A warning is no reason to fail.
	a := afterLayout(l, p)
	a.Problems = append(a.Problems, recovery.Problem{Source: recovery.SourceRecovery, Problem: diag.Problem{Code: "volume-dirty", Severity: diag.Warning}})
	if err := p.Verify(a); err != nil {
		t.Errorf("a warning failed Verify: %v", err)
	}
	if err := p.Verify(nil); !errors.Is(err, ErrVerify) {
		t.Errorf("Verify(nil) = %v", err)
	}
}
