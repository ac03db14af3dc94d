package planner

import (
	"fmt"
	"strings"
)

// IntuneScripts renders the plan as the two PowerShell scripts of a
// Microsoft Intune Remediations script package, for fleets where the disk
// cannot be serviced offline:
//
//   - detection finds the active WinRE from reagentc /info (the location
//     line names the disk and partition in every display language), and
//     exits 1 when WinRE is disabled, lives on the system drive, or has less
//     free space than the plan's sizing policy requires
//     (WinRE.RequiredFreeBytes); otherwise it exits 0. It writes exactly one
//     line to stdout, the one Intune shows, and changes nothing.
//   - remediation is [Plan.PowerShellScript] in the form Intune runs: as
//     SYSTEM, reporting one line on stdout and exiting 0 on success and 1
//     otherwise (stderr is left to real script errors). It finds the disk
//     as the one holding the system drive rather than by its GUID or
//     signature, so every machine whose layout matches the plan (the same
//     disk size, C: and WinRE at the same offsets) qualifies; on any other
//     it stops before changing anything.
//
// Both come from the same plan and policy. A plan no script can carry out
// (see [Plan.Scriptable]) gives a remediation that reports why and exits
// 1; a noop plan one that checks the layout and reports nothing to do.
func (p *Plan) IntuneScripts() (detection, remediation string) {
	return p.intuneDetection(), p.powerShell(psStyle{intune: true})
}

func (p *Plan) intuneDetection() string {
	required := p.WinRE.RequiredFreeBytes
	if required <= 0 {
		required = DefaultMinFreeBytes
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# winrepart detection: does WinRE have the free space KB5034441 servicing needs?")
	p.header(w, "#")
	w("# Exit 1 (remediate) when WinRE is disabled, on the system drive, or has less than %d bytes free; exit 0 otherwise.", required)
	w("$ErrorActionPreference = 'Stop'")
	w("$required = %d", required)
	w("try {")
	w("  $info = (reagentc /info | Out-String)")
	w("  if ($info -match 'harddisk(\\d+)\\\\partition(\\d+)') {")
	w("    $diskNumber = [int]$Matches[1]")
	w("    $partNumber = [int]$Matches[2]")
	w("  } else {")
	w("    Write-Output 'WinRE is disabled or its location is unknown'")
	w("    exit 1")
	w("  }")
	w("  $sys = Get-Partition -DriveLetter $env:SystemDrive[0]")
	w("  if ($sys.DiskNumber -eq $diskNumber -and $sys.PartitionNumber -eq $partNumber) {")
	w("    Write-Output 'WinRE lives on the system drive: it has no partition of its own'")
	w("    exit 1")
	w("  }")
	w("  $vol = Get-Partition -DiskNumber $diskNumber -PartitionNumber $partNumber | Get-Volume")
	w("  $free = [int64]$vol.SizeRemaining")
	w("  if ($free -lt $required) {")
	w("    Write-Output \"WinRE has $free bytes free, $required required\"")
	w("    exit 1")
	w("  }")
	w("  Write-Output \"WinRE has $free bytes free, $required required: compliant\"")
	w("  exit 0")
	w("} catch {")
	w("  Write-Output \"detection failed: $($_.Exception.Message)\"")
	w("  exit 1")
	w("}")
	return b.String()
}
