package winre

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
)

// Problems Verify reports for a ReAgent.xml.
const (
	// ProblemNoInstallState: no <InstallState>, so reagentc cannot tell
	// whether WinRE is enabled.
	ProblemNoInstallState diag.Code = "no-install-state"
	// ProblemNoLocation: WinRE is enabled but <WinreLocation> is missing or
	// has no path.
	ProblemNoLocation diag.Code = "no-winre-location"
	// ProblemZeroOffset: WinRE is enabled but the location's offset is 0,
	// which no partition can start at.
	ProblemZeroOffset diag.Code = "zero-offset"
	// ProblemNoDiskIdentity: WinRE is enabled but the location has neither
	// a GPT disk GUID nor an MBR disk signature.
	ProblemNoDiskIdentity diag.Code = "no-disk-identity"
	// ProblemBothDiskIdentities: the location names both a GPT disk GUID
	// and an MBR disk signature.
	ProblemBothDiskIdentities diag.Code = "both-disk-identities"
	// ProblemStaleImageLocation: <ImageLocation> still names an image;
	// WinRE rebuilds fail until it is cleared.
	ProblemStaleImageLocation diag.Code = "stale-image-location"
	// ProblemStaged: <WinREStaged state="1"/>: an image is staged but not
	// installed.
	ProblemStaged diag.Code = "winre-staged"
	// ProblemDisabled: WinRE is disabled; the image sits in
	// \Windows\System32\Recovery until reagentc /enable runs.
	ProblemDisabled diag.Code = "winre-disabled"
)

// Verify diagnoses a parsed ReAgent.xml without failing: it returns the
// problems that would stop WinRE from booting or from being serviced, each
// with a remedy and the element concerned as its Where, or nil when there
// are none. A disabled WinRE is reported too (at info level), because
// KB5034441 cannot service it. Nothing here is an error: what ReAgent.xml
// says must be checked against the disk (see recovery.Inspect) before it
// can be called wrong.
func (r *ReAgent) Verify() []diag.Problem {
	var ps []diag.Problem
	add := func(c diag.Code, sev diag.Severity, elem, msg, remedy string) {
		ps = append(ps, diag.Problem{Code: c, Severity: sev, Where: elem, Message: msg, Remedy: remedy})
	}
	l := r.WinreLocation
	switch {
	case !r.InstallState.Present:
		add(ProblemNoInstallState, diag.Warning, elemInstallState, "no <InstallState> element",
			"run reagentc /disable then reagentc /enable in Windows to rewrite ReAgent.xml")
	case !r.Enabled():
		add(ProblemDisabled, diag.Info, elemInstallState, fmt.Sprintf("WinRE is disabled (InstallState %d)", r.InstallState.Value),
			"run `reagentc /enable` in Windows once WinRE has room")
	case !l.Present || l.Path == "":
		add(ProblemNoLocation, diag.Warning, elemWinreLocation, "WinRE is enabled but no location is recorded",
			"run reagentc /disable then reagentc /enable in Windows")
	default:
		if l.Offset == 0 {
			add(ProblemZeroOffset, diag.Warning, elemWinreLocation, "WinRE location has offset 0",
				"patch the offset to the recovery partition's start in bytes")
		}
		if l.GUID == uuid.Nil && l.ID == 0 {
			add(ProblemNoDiskIdentity, diag.Warning, elemWinreLocation, "WinRE location names no disk (nil guid, id 0)",
				"patch guid to the GPT disk GUID, or id to the MBR disk signature")
		}
		if l.GUID != uuid.Nil && l.ID != 0 {
			add(ProblemBothDiskIdentities, diag.Warning, elemWinreLocation,
				fmt.Sprintf("WinRE location names both a GPT disk (%s) and an MBR signature (%d)", l.GUID, l.ID),
				"keep the one matching the disk's partitioning scheme")
		}
	}
	if r.ImageLocation.Present && !r.ImageLocation.Unused() {
		add(ProblemStaleImageLocation, diag.Warning, elemImageLocation,
			fmt.Sprintf("ReAgent.xml has a non-empty ImageLocation (%q at offset %d): a stale one makes WinRE rebuilds fail",
				r.ImageLocation.Path, r.ImageLocation.Offset),
			"clear ImageLocation (the planner's patch does; in Windows: reagentc /disable, edit ReAgent.xml, reagentc /enable)")
	}
	if r.WinREStaged.Present && r.WinREStaged.Value != 0 {
		add(ProblemStaged, diag.Warning, elemWinREStaged, "a WinRE image is staged but not installed",
			"run reagentc /enable in Windows to finish, or clear the staged state")
	}
	return ps
}
