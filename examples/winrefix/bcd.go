package main

import (
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// withBCDPatching lets the plan move WinRE on an MBR disk when the
// executor can make the BCD follow: the store was found, read, is clean
// and its WinRE entries name the WinRE partition. Otherwise the planner
// refuses the move (bcd-move) and inspect's bcd-* problems say why.
func withBCDPatching(o planner.Options, l *recovery.Layout) planner.Options {
	o.BCDPatching = l.PatchableForMove() == nil
	return o
}
