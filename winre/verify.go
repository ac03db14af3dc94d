package winre

import (
	"fmt"

	"github.com/google/uuid"
)

// ProblemCode names a kind of problem Verify can report.
type ProblemCode string

// Problems Verify reports for a ReAgent.xml.
const (
	// ProblemNoInstallState: no <InstallState>, so reagentc cannot tell
	// whether WinRE is enabled.
	ProblemNoInstallState ProblemCode = "no-install-state"
	// ProblemNoLocation: WinRE is enabled but <WinreLocation> is missing or
	// has no path.
	ProblemNoLocation ProblemCode = "no-winre-location"
	// ProblemZeroOffset: WinRE is enabled but the location's offset is 0,
	// which no partition can start at.
	ProblemZeroOffset ProblemCode = "zero-offset"
	// ProblemNoDiskIdentity: WinRE is enabled but the location has neither
	// a GPT disk GUID nor an MBR disk signature.
	ProblemNoDiskIdentity ProblemCode = "no-disk-identity"
	// ProblemBothDiskIdentities: the location names both a GPT disk GUID
	// and an MBR disk signature.
	ProblemBothDiskIdentities ProblemCode = "both-disk-identities"
	// ProblemStaleImageLocation: <ImageLocation> still names an image;
	// WinRE rebuilds fail until it is cleared.
	ProblemStaleImageLocation ProblemCode = "stale-image-location"
	// ProblemStaged: <WinREStaged state="1"/>: an image is staged but not
	// installed.
	ProblemStaged ProblemCode = "winre-staged"
	// ProblemDisabled: WinRE is disabled; the image sits in
	// \Windows\System32\Recovery until reagentc /enable runs.
	ProblemDisabled ProblemCode = "winre-disabled"
)

// Problem is one finding of Verify: what is wrong and what to do.
type Problem struct {
	// Code names the kind of problem.
	Code ProblemCode
	// Element is the element concerned, e.g. "WinreLocation".
	Element string
	// Message says what was found.
	Message string
	// Remedy says how to fix it.
	Remedy string
}

// String returns "code: message (remedy)".
func (p Problem) String() string {
	return fmt.Sprintf("%s: %s (%s)", p.Code, p.Message, p.Remedy)
}

// Verify diagnoses a parsed ReAgent.xml without failing: it returns the
// problems that would stop WinRE from booting or from being serviced, each
// with a remedy, or nil when there are none. A disabled WinRE is reported
// as a problem too, because KB5034441 cannot service it.
func (r *ReAgent) Verify() []Problem {
	var ps []Problem
	add := func(c ProblemCode, elem, msg, remedy string) {
		ps = append(ps, Problem{Code: c, Element: elem, Message: msg, Remedy: remedy})
	}
	l := r.WinreLocation
	switch {
	case !r.InstallState.Present:
		add(ProblemNoInstallState, elemInstallState, "no <InstallState> element",
			"run reagentc /disable then reagentc /enable in Windows to rewrite ReAgent.xml")
	case !r.Enabled():
		add(ProblemDisabled, elemInstallState, fmt.Sprintf("WinRE is disabled (state %d)", r.InstallState.Value),
			"run reagentc /enable in Windows once the recovery partition has room")
	case !l.Present || l.Path == "":
		add(ProblemNoLocation, elemWinreLocation, "WinRE is enabled but no location is recorded",
			"run reagentc /disable then reagentc /enable in Windows")
	default:
		if l.Offset == 0 {
			add(ProblemZeroOffset, elemWinreLocation, "WinRE location has offset 0",
				"patch the offset to the recovery partition's start in bytes")
		}
		if l.GUID == uuid.Nil && l.ID == 0 {
			add(ProblemNoDiskIdentity, elemWinreLocation, "WinRE location names no disk (nil guid, id 0)",
				"patch guid to the GPT disk GUID, or id to the MBR disk signature")
		}
		if l.GUID != uuid.Nil && l.ID != 0 {
			add(ProblemBothDiskIdentities, elemWinreLocation,
				fmt.Sprintf("WinRE location names both a GPT disk (%s) and an MBR signature (%d)", l.GUID, l.ID),
				"keep the one matching the disk's partitioning scheme")
		}
	}
	if r.ImageLocation.Present && !r.ImageLocation.Unused() {
		add(ProblemStaleImageLocation, elemImageLocation,
			fmt.Sprintf("ImageLocation still names %q at offset %d", r.ImageLocation.Path, r.ImageLocation.Offset),
			"clear it (ClearImageLocation) as Microsoft's resize script does")
	}
	if r.WinREStaged.Present && r.WinREStaged.Value != 0 {
		add(ProblemStaged, elemWinREStaged, "a WinRE image is staged but not installed",
			"run reagentc /enable in Windows to finish, or clear the staged state")
	}
	return ps
}
