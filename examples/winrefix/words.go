package main

import (
	"strings"

	"github.com/winrepart/winrepart/recovery"
)

// cliWords adds winrefix's own command and flag names to the operations
// the library's messages speak of: the library never names this tool (a
// vendor's UI shows its messages), so the tool says where it prints them
// how each operation is done with it. JSON output keeps the library's
// words.
var cliWords = strings.NewReplacer(
	"run the Windows-side script", "run the Windows-side script (winrefix script)",
	"allow changes to dirty volumes", "allow changes to dirty volumes (--allow-dirty)",
	"plan the fix", "plan the fix (winrefix plan)",
	"plan again allowing data to be moved", "plan again allowing data to be moved (without --no-relocate)",
	"recover with the journal", "recover with the journal (winrefix recover)",
	"inspect it with filesystems", "inspect it with filesystems (winrefix inspect)",
)

// withCLI returns s with winrefix's names added (see cliWords).
func withCLI(s string) string { return cliWords.Replace(s) }

// dirtyNote explains, after a successful apply, the volume-dirty warnings
// of the volumes it resized: the flag is set on purpose. Empty when the
// layout has none.
func dirtyNote(after *recovery.Layout) string {
	for _, p := range after.Problems {
		if p.Code == recovery.ProblemVolumeDirty {
			return "The volumes this apply changed carry NTFS's dirty flag on purpose, as ntfsresize sets it: Windows checks them with chkdsk at its next boot, and the volume-dirty warnings above go away then.\n"
		}
	}
	return ""
}
