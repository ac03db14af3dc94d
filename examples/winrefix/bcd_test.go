package main

import (
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// TestPlanMBRFollowsBCD: on the MBR fixture, plan refuses the WinRE move
// while \Boot\BCD is a placeholder, and offers it (with a patch-bcd step)
// once System Reserved holds a real BCD whose WinRE entries name the WinRE
// partition; the script agrees with the plan's sizes either way.
func TestPlanMBRFollowsBCD(t *testing.T) {
	img := testutil.Fixture(t, "mbr-sysreserved")
	code, out, errOut := runCLI(t, "plan", img)
	if code != exitRefused || !strings.Contains(out, "bcd-move") {
		t.Fatalf("placeholder BCD: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "inspect", img)
	if code != exitOK || !strings.Contains(out, "bcd-unreadable") {
		t.Errorf("inspect does not say why the BCD cannot follow:\n%s", out)
	}
	bcdtest.Install(t, img, 1<<20, 100<<20, bcdtest.Build(t, bcdtest.Store{DiskSignature: 0x1f2e3d08, SystemOffset: 1 << 20, OSOffset: 101 << 20, WinREOffset: 3173 << 20}))
	code, out, errOut = runCLI(t, "plan", img)
	if code != exitOK || !strings.Contains(out, "patch-bcd") || !strings.Contains(out, "shrink-os") {
		t.Fatalf("real BCD: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "inspect", img)
	if code != exitOK || !strings.Contains(out, "WinRE's entries name the WinRE partition") || strings.Contains(out, "bcd-") {
		t.Errorf("inspect with a real BCD:\n%s", out)
	}
	code, out, errOut = runCLI(t, "script", img)
	if code != exitOK || !strings.Contains(out, "reagentc") {
		t.Errorf("script: exit %d\n%s%s", code, out, errOut)
	}
}
