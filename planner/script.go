package planner

import (
	"fmt"
	"strings"

	"github.com/winrepart/winrepart/recovery"
)

// scriptFacts is what both Windows-side scripts need from the decision.
type scriptFacts struct {
	ok              bool   // false: no script can carry out this plan
	why             string // when !ok
	gpt             bool
	diskGUID        string // "{...}", GPT
	diskSig         uint32 // MBR
	diskSize        int64
	osOff, osSize   int64
	osNewSize       int64 // == osSize when C: is not shrunk
	reOff, reSize   int64 // old WinRE partition; reSize 0 when none
	newOff, newSize int64
	noop            bool
}

func (p *Plan) scriptFacts() scriptFacts {
	f := scriptFacts{gpt: p.scheme == recovery.SchemeGPT, diskSig: p.diskSig, diskSize: p.diskSize}
	f.diskGUID = "{" + p.diskGUID.String() + "}"
	if p.osBefore == nil || p.newWinRE == nil || p.osAfter == nil {
		f.why = "the plan does not know where C: and WinRE are or should be"
		if p.Strategy == StrategyNone && len(p.Reasons) > 0 {
			f.why = p.Reasons[0].String()
		}
		return f
	}
	ss := p.sectorSize
	f.ok = true
	f.noop = p.Strategy == StrategyNoop
	f.osOff, f.osSize = p.osBefore.StartBytes(ss), p.osBefore.SizeBytes
	f.osNewSize = p.osAfter.SizeBytes
	if p.oldWinRE != nil {
		f.reOff, f.reSize = p.oldWinRE.StartBytes(ss), p.oldWinRE.SizeBytes
	}
	f.newOff, f.newSize = p.newWinRE.StartBytes(ss), p.newWinRE.SizeBytes
	if p.scheme != recovery.SchemeGPT && p.scheme != recovery.SchemeMBR {
		f.ok, f.why = false, "unsupported partitioning scheme"
	}
	return f
}

const winreTypeText = "de94bba4-06d1-4d40-a16a-bfd50179d6ac"

// windowsSide says, for each refusal code the Windows-side scripts can
// get past, how they do it. A plan refused for any other code cannot be
// carried out from Windows either.
//
// The texts go into script comments through safeText: plain words, no
// quotes or semicolons.
var windowsSide = map[Code]string{
	CodeBitLockerOS:    "Windows resizes an encrypted C: while it runs, and the script suspends BitLocker on C: for one reboot before anything else",
	CodeBitLockerWinRE: "reagentc /disable moves winre.wim to C:, and the encrypted WinRE partition is deleted and made again",
	CodeHibernated:     "the running Windows owns its volumes: there is no stale hibernation image to resume from",
	CodeDirty:          "the running Windows checks its own volumes, and the script stops if Resize-Partition cannot shrink C:",
	CodeLogNotClean:    "the running Windows has replayed the NTFS log of its own volumes",
	CodeOSTailInUse:    "Resize-Partition moves data out of the tail of C:, after the script checks the minimum size Windows reports",
	CodeWinREInsideOS:  "the script creates a WinRE partition after C:, and reagentc /enable moves winre.wim into it",
	CodeWinREDisabled:  "the script creates a WinRE partition after C:, and reagentc /enable moves winre.wim into it",
	CodeBCDMove:        "reagentc /disable and /enable rewrite the WinRE entry of the BCD",
}

// WindowsSide reports whether the Windows-side scripts can still do the
// job of a plan refused offline for c, and how.
func (c Code) WindowsSide() (how string, ok bool) {
	how, ok = windowsSide[c]
	return how, ok
}

// Scriptable reports whether the Windows-side scripts can carry out the
// plan: it is not refused, or refused only for reasons the running Windows
// gets past (see [Code.WindowsSide]), and the plan knows where C: and
// WinRE are and should be.
func (p *Plan) Scriptable() bool {
	if !p.scriptFacts().ok {
		return false
	}
	for _, r := range p.Reasons {
		if _, ok := r.Code.WindowsSide(); !ok {
			return false
		}
	}
	return true
}

// header writes the comment lines that open a script: the summary and,
// for a refused plan, each reason with what the script does about it.
func (p *Plan) header(w func(string, ...any), comment string) {
	w("%s winrepart: %s", comment, safeText(p.Summary))
	if !p.Refused {
		return
	}
	if p.Scriptable() {
		w("%s Refused offline, done here from the running Windows instead:", comment)
	} else {
		w("%s Refused offline, and not possible from Windows either:", comment)
	}
	for _, r := range p.Reasons {
		how, ok := r.Code.WindowsSide()
		if !ok {
			how = "no script can get past this"
		}
		w("%s   %s: %s", comment, r.Code, safeText(how))
	}
}

// whyNot says why no script can carry out the plan.
func (p *Plan) whyNot(f scriptFacts) string {
	if !f.ok {
		return f.why
	}
	for _, r := range p.Reasons {
		if _, ok := r.Code.WindowsSide(); !ok {
			return r.String()
		}
	}
	return ""
}

// psStyle says how a PowerShell script reports and finds its disk.
type psStyle struct {
	// intune: an Intune remediation: it runs as SYSTEM, reports one line
	// on stdout (the last line is what Intune shows) and finds the disk
	// as the one holding the system drive, so that every machine with the
	// planned layout qualifies, whatever its disk GUID.
	intune bool
}

// PowerShellScript renders the plan's decision as a PowerShell script to
// run as administrator on the Windows installation that owns the disk. It
// is produced for refused plans too, when the running Windows can get past
// every reason (BitLocker, hibernation, an MBR move, a missing WinRE
// partition are exactly its use; see [Code.WindowsSide]); otherwise the
// script only says why and exits 1. The script:
//
//   - finds the disk by GPT disk GUID or MBR signature and checks its size,
//     and finds C: and WinRE by byte offset and size (never by number),
//     stopping when anything differs from the plan;
//   - checks that the target range is free once C: shrinks and the old
//     WinRE goes, by offsets;
//   - suspends BitLocker on C: for one reboot (and stops if it cannot,
//     when the plan was refused for BitLocker);
//   - clears a stale ImageLocation in ReAgent.xml, runs reagentc /disable
//     and checks winre.wim came back to C:;
//   - shrinks C:, deletes the old WinRE, creates the new one at the planned
//     offset with the WinRE type set at creation (GPT type GUID, MBR id 27),
//     sets GPT attributes 0x8000000000000001, formats it NTFS;
//   - runs reagentc /enable, and on any failure after /disable runs
//     reagentc /enable again so WinRE keeps working from C:.
//
// For a noop plan it checks the disk and says there is nothing to do.
func (p *Plan) PowerShellScript() string { return p.powerShell(psStyle{}) }

func (p *Plan) powerShell(st psStyle) string {
	f := p.scriptFacts()
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("#Requires -RunAsAdministrator")
	p.header(w, "#")
	if why := p.whyNot(f); why != "" {
		if st.intune {
			w("Write-Output 'winrepart cannot script this plan: %s'", psQuote(safeText(why)))
		} else {
			w("Write-Error 'winrepart cannot script this plan: %s'", psQuote(safeText(why)))
		}
		w("exit 1")
		return b.String()
	}
	w("$ErrorActionPreference = 'Stop'")
	if st.intune {
		// Intune reports the last line of stdout; stderr marks a script error.
		w("function Fail([string]$m) { Write-Output $m; exit 1 }")
	} else {
		w("function Fail([string]$m) { Write-Error $m; exit 1 }")
	}
	w("")
	w("# 1. The disk and layout this plan was made for.")
	style := "GPT"
	if !f.gpt {
		style = "MBR"
	}
	if st.intune {
		w("$sys = Get-Partition -DriveLetter $env:SystemDrive[0]")
		w("$disk = Get-Disk -Number $sys.DiskNumber")
		w("if ($disk.PartitionStyle -ne '%s') { Fail \"the system disk is $($disk.PartitionStyle), the plan is for %s\" }", style, style)
	} else {
		if f.gpt {
			w("$disk = @(Get-Disk | Where-Object { $_.PartitionStyle -eq 'GPT' -and $_.Guid -eq '%s' })", f.diskGUID)
		} else {
			w("$disk = @(Get-Disk | Where-Object { $_.PartitionStyle -eq 'MBR' -and $_.Signature -eq %d })", f.diskSig)
		}
		w("if ($disk.Count -ne 1) { Fail 'the planned disk was not found (or found twice)' }")
		w("$disk = $disk[0]")
	}
	w("if ($disk.Size -ne %d) { Fail \"disk size $($disk.Size) differs from the planned %d\" }", f.diskSize, f.diskSize)
	w("$parts = @(Get-Partition -DiskNumber $disk.Number)")
	w("$os = @($parts | Where-Object { $_.Offset -eq %d -and $_.Size -eq %d })", f.osOff, f.osSize)
	w("if ($os.Count -ne 1) { Fail 'C: is not where the plan expects it (offset %d, %d bytes)' }", f.osOff, f.osSize)
	w("$os = $os[0]")
	w("if ($os.DriveLetter -ne $env:SystemDrive[0]) { Fail 'the planned OS partition is not the running system drive' }")
	if f.reSize > 0 {
		w("$re = @($parts | Where-Object { $_.Offset -eq %d -and $_.Size -eq %d })", f.reOff, f.reSize)
		w("if ($re.Count -ne 1) { Fail 'WinRE is not where the plan expects it (offset %d, %d bytes)' }", f.reOff, f.reSize)
		w("$re = $re[0]")
	} else {
		w("$re = $null")
	}
	if f.noop {
		w("Write-Output 'WinRE already has the free space it needs; nothing to do.'")
		w("exit 0")
		return b.String()
	}
	w("# The new WinRE range [%d, %d) must be free once C: ends at %d and the old WinRE is gone.", f.newOff, f.newOff+f.newSize, f.osOff+f.osNewSize)
	w("foreach ($q in $parts) {")
	w("  if ($q.Offset -eq $os.Offset) { continue }")
	w("  if ($re -and $q.Offset -eq $re.Offset) { continue }")
	w("  if (($q.Offset -lt %d) -and (($q.Offset + $q.Size) -gt %d)) { Fail \"partition at offset $($q.Offset) overlaps the planned WinRE range\" }", f.newOff+f.newSize, f.newOff)
	w("}")
	if f.osNewSize < f.osSize {
		w("$min = (Get-PartitionSupportedSize -DiskNumber $disk.Number -PartitionNumber $os.PartitionNumber).SizeMin")
		w("if ($min -gt %d) { Fail \"C: cannot shrink to %d bytes (minimum $min)\" }", f.osNewSize, f.osNewSize)
	}
	w("")
	w("# 2. BitLocker: suspend protection on C: until the next reboot, before any change.")
	w("$bl = Get-BitLockerVolume -MountPoint $env:SystemDrive -ErrorAction SilentlyContinue")
	w("if ($bl -and $bl.ProtectionStatus -eq 'On') { Suspend-BitLocker -MountPoint $env:SystemDrive -RebootCount 1 | Out-Null }")
	if p.refusedFor(CodeBitLockerOS) {
		w("$bl = Get-BitLockerVolume -MountPoint $env:SystemDrive")
		w("if ($bl.ProtectionStatus -ne 'Off') { Fail 'BitLocker protection on C: could not be suspended; nothing was changed' }")
	}
	w("")
	w("# 3. Clear a stale staged image location, then disable WinRE (winre.wim moves to C:).")
	w("$xmlPath = Join-Path $env:SystemRoot 'System32\\Recovery\\ReAgent.xml'")
	w("if (Test-Path $xmlPath) {")
	w("  $xml = [xml](Get-Content -LiteralPath $xmlPath)")
	w("  $loc = $xml.WindowsRE.ImageLocation")
	w("  if ($loc -and ($loc.path -ne '' -or $loc.offset -ne '0')) {")
	w("    $loc.path = ''; $loc.offset = '0'; $loc.id = '0'; $loc.guid = '{00000000-0000-0000-0000-000000000000}'")
	w("    $xml.Save($xmlPath)")
	w("  }")
	w("}")
	quiet := ""
	if st.intune {
		quiet = " | Out-Null"
	}
	w("reagentc /disable%s", quiet)
	w("if ($LASTEXITCODE -ne 0) { Fail \"reagentc /disable failed ($LASTEXITCODE)\" }")
	w("function Rollback([string]$m) {")
	if st.intune {
		w("  reagentc /enable | Out-Null")
		w("  Write-Output \"$m; WinRE was enabled again from C:\"")
	} else {
		w("  Write-Warning \"$m; re-enabling WinRE from C:\"")
		w("  reagentc /enable")
	}
	w("  exit 1")
	w("}")
	w("if (-not (Test-Path (Join-Path $env:SystemRoot 'System32\\Recovery\\Winre.wim'))) { Rollback 'winre.wim is not on C: after reagentc /disable' }")
	w("")
	w("# 4. Repartition.")
	w("try {")
	if f.osNewSize < f.osSize {
		w("  Resize-Partition -DiskNumber $disk.Number -PartitionNumber $os.PartitionNumber -Size %d", f.osNewSize)
	}
	if f.reSize > 0 {
		w("  Remove-Partition -DiskNumber $disk.Number -PartitionNumber $re.PartitionNumber -Confirm:$false")
	}
	if f.gpt {
		w("  $new = New-Partition -DiskNumber $disk.Number -Offset %d -Size %d -GptType '{%s}'", f.newOff, f.newSize, winreTypeText)
		w("  $dp = Join-Path $env:TEMP 'winrepart-attributes.txt'")
		w("  \"select disk $($disk.Number)`nselect partition $($new.PartitionNumber)`ngpt attributes=0x8000000000000001`n\" | Out-File -LiteralPath $dp -Encoding ascii")
		w("  diskpart /s $dp%s", quiet)
		w("  if ($LASTEXITCODE -ne 0) { throw \"diskpart gpt attributes failed ($LASTEXITCODE)\" }")
	} else {
		w("  $dp = Join-Path $env:TEMP 'winrepart-create.txt'")
		w("  \"select disk $($disk.Number)`ncreate partition primary offset=%d size=%d id=27`n\" | Out-File -LiteralPath $dp -Encoding ascii", f.newOff/1024, f.newSize/MiB)
		w("  diskpart /s $dp%s", quiet)
		w("  if ($LASTEXITCODE -ne 0) { throw \"diskpart create failed ($LASTEXITCODE)\" }")
		w("  $new = Get-Partition -DiskNumber $disk.Number | Where-Object { $_.Offset -eq %d }", f.newOff)
		w("  if (-not $new) { throw 'the new WinRE partition was not found at offset %d' }", f.newOff)
	}
	w("  Format-Volume -Partition $new -FileSystem NTFS -NewFileSystemLabel 'Windows RE tools' -Confirm:$false | Out-Null")
	w("} catch {")
	w("  Rollback \"repartitioning failed: $($_.Exception.Message)\"")
	w("}")
	w("")
	w("# 5. Enable WinRE again: it moves winre.wim into the new partition and rewrites ReAgent.xml and the BCD.")
	w("reagentc /enable%s", quiet)
	w("if ($LASTEXITCODE -ne 0) { Fail \"reagentc /enable failed ($LASTEXITCODE); run it again after fixing the cause\" }")
	if st.intune {
		w("Write-Output 'WinRE was given its room: %d bytes at offset %d'", f.newSize, f.newOff)
		w("exit 0")
	} else {
		w("reagentc /info")
	}
	return b.String()
}

// refusedFor reports whether c is among the plan's reasons.
func (p *Plan) refusedFor(c Code) bool {
	for _, r := range p.Reasons {
		if r.Code == c {
			return true
		}
	}
	return false
}

func psQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// DiskpartScript renders the decision as a Windows batch file that runs
// diskpart and reagentc. diskpart addresses disks and partitions by
// number, so the batch first asks PowerShell for the numbers of the disk
// and partitions at the planned offsets and stops when they are not
// there; the rest follows [Plan.PowerShellScript].
func (p *Plan) DiskpartScript() string {
	f := p.scriptFacts()
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("@echo off")
	p.header(w, "rem")
	if why := p.whyNot(f); why != "" {
		w("echo winrepart cannot script this plan: %s", safeText(why))
		w("exit /b 1")
		return b.String()
	}
	w("setlocal")
	w("rem 1. Resolve disk and partition numbers from the planned offsets.")
	sel := fmt.Sprintf("$_.PartitionStyle -eq 'GPT' -and $_.Guid -eq '%s'", f.diskGUID)
	if !f.gpt {
		sel = fmt.Sprintf("$_.PartitionStyle -eq 'MBR' -and $_.Signature -eq %d", f.diskSig)
	}
	reFind := "0"
	if f.reSize > 0 {
		reFind = fmt.Sprintf("(@($p | ? { $_.Offset -eq %d -and $_.Size -eq %d })[0]).PartitionNumber", f.reOff, f.reSize)
	}
	ps := fmt.Sprintf("$d = @(Get-Disk | ? { %s }); if ($d.Count -ne 1 -or $d[0].Size -ne %d) { exit 1 }; $p = @(Get-Partition -DiskNumber $d[0].Number); "+
		"$o = @($p | ? { $_.Offset -eq %d -and $_.Size -eq %d }); if ($o.Count -ne 1) { exit 1 }; "+
		"foreach ($q in $p) { if ($q.Offset -ne %d -and $q.Offset -ne %d -and $q.Offset -lt %d -and ($q.Offset + $q.Size) -gt %d) { exit 1 } }; "+
		"Write-Output ('{0} {1} {2}' -f $d[0].Number, $o[0].PartitionNumber, %s)",
		sel, f.diskSize, f.osOff, f.osSize, f.osOff, f.reOff, f.newOff+f.newSize, f.newOff, reFind)
	w("set DISK=")
	w("for /f \"tokens=1-3\" %%%%a in ('powershell -NoProfile -Command \"%s\"') do (set DISK=%%%%a& set OSPART=%%%%b& set REPART=%%%%c)", strings.ReplaceAll(ps, "%", "%%"))
	w("if not defined DISK (echo The disk or its layout differs from the plan; nothing was changed. & exit /b 1)")
	if f.reSize > 0 {
		w("if \"%%REPART%%\"==\"\" (echo WinRE is not where the plan expects it. & exit /b 1)")
	}
	if f.noop {
		w("echo WinRE already has the free space it needs; nothing to do.")
		w("exit /b 0")
		return b.String()
	}
	w("rem 2. Suspend BitLocker on C: for one reboot, before any change (harmless when it is off).")
	w("manage-bde -status %%SystemDrive%% | find \"Protection On\" >nul && manage-bde -protectors -disable %%SystemDrive%% -RebootCount 1")
	if p.refusedFor(CodeBitLockerOS) {
		w("manage-bde -status %%SystemDrive%% | find \"Protection On\" >nul && (echo BitLocker protection on C: could not be suspended; nothing was changed. & exit /b 1)")
	}
	w("rem 3. Clear a stale staged image location, then disable WinRE.")
	w("powershell -NoProfile -Command \"$x = Join-Path $env:SystemRoot 'System32\\Recovery\\ReAgent.xml'; if (Test-Path $x) { $r = [xml](Get-Content -LiteralPath $x); $l = $r.WindowsRE.ImageLocation; if ($l -and ($l.path -ne '' -or $l.offset -ne '0')) { $l.path = ''; $l.offset = '0'; $l.id = '0'; $l.guid = '{00000000-0000-0000-0000-000000000000}'; $r.Save($x) } }\"")
	w("reagentc /disable")
	w("if errorlevel 1 (echo reagentc /disable failed; nothing was changed. & exit /b 1)")
	w("if not exist \"%%SystemRoot%%\\System32\\Recovery\\Winre.wim\" goto rollback")
	w("rem 4. Repartition.")
	w("set DP=%%TEMP%%\\winrepart-diskpart.txt")
	w("> \"%%DP%%\" echo select disk %%DISK%%")
	if f.osNewSize < f.osSize {
		shrinkMB := (f.osSize - f.osNewSize) / MiB
		w(">> \"%%DP%%\" echo select partition %%OSPART%%")
		w(">> \"%%DP%%\" echo shrink desired=%d minimum=%d", shrinkMB, shrinkMB)
	}
	if f.reSize > 0 {
		w(">> \"%%DP%%\" echo select partition %%REPART%%")
		w(">> \"%%DP%%\" echo delete partition override")
	}
	if f.gpt {
		w(">> \"%%DP%%\" echo create partition primary offset=%d size=%d id=%s", f.newOff/1024, f.newSize/MiB, winreTypeText)
		w(">> \"%%DP%%\" echo gpt attributes=0x8000000000000001")
	} else {
		w(">> \"%%DP%%\" echo create partition primary offset=%d size=%d id=27", f.newOff/1024, f.newSize/MiB)
	}
	w(">> \"%%DP%%\" echo format quick fs=ntfs label=\"Windows RE tools\"")
	w("diskpart /s \"%%DP%%\"")
	w("if errorlevel 1 goto rollback")
	w("rem 5. Enable WinRE: it moves winre.wim into the new partition and rewrites ReAgent.xml and the BCD.")
	w("reagentc /enable")
	w("if errorlevel 1 (echo reagentc /enable failed; run it again after fixing the cause. & exit /b 1)")
	w("reagentc /info")
	w("exit /b 0")
	w(":rollback")
	w("echo A step failed; re-enabling WinRE from C:.")
	w("reagentc /enable")
	w("exit /b 1")
	return b.String()
}

// safeText keeps the characters that mean nothing special in a batch file,
// a PowerShell comment or a single-quoted PowerShell string, and turns the
// rest into spaces: reasons may quote text read from an untrusted disk.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune(" .,:()/_-+=", r):
			return r
		}
		return ' '
	}, s)
}
