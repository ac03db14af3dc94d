package planner

import (
	"fmt"
)

// CodeReAgentPatch is the refusal code for a move whose new WinRE offset
// ReAgent.xml cannot take offline: its MFT record or clusters have no room
// for the longer text and it has no spare whitespace or line ends to give
// up (see recovery.ReAgentFile.Patch).
const CodeReAgentPatch Code = "reagent-patch"

// checkReAgent refuses a move the patch-reagent step could not carry out.
// It runs the executor's own check (recovery.ReAgentFile.Patch) on the
// ReAgent.xml Inspect recorded; a layout without that record (built by
// hand rather than inspected) is not checked here, and apply still is.
func (pl *planner) checkReAgent(ch change) {
	l := pl.l
	if ch.reStart == pl.re.StartBytes(l.SectorSize) || l.WinRE == nil || l.WinRE.ReAgent == nil {
		return
	}
	if _, err := l.WinRE.ReAgent.Patch(uint64(ch.reStart)); err != nil {
		pl.p.refuse(CodeReAgentPatch, fmt.Sprintf("moving WinRE to byte %d needs a new offset in %s, which cannot be written offline: %v", ch.reStart, l.WinRE.ReAgent.Path, err),
			"run the Windows-side script, whose reagentc /disable and /enable rewrite ReAgent.xml")
	}
}
