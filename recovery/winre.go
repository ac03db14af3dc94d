package recovery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
)

// findWinRE reads ReAgent.xml on the OS volume, decides which partition
// holds the active WinRE, gives the remaining recovery-typed partitions
// their roles, and measures WinRE against the policy.
func (in *inspector) findWinRE(policy winre.Policy) {
	l := in.l
	w := &WinRE{}
	l.WinRE = w
	in.readReAgent(w)

	host := in.locateHost(w)
	// Recovery-typed partitions that are not the active WinRE.
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if !isRecoveryType(l, p) || (host != nil && p.Number == host.Number) {
			continue
		}
		switch {
		case p.SizeBytes > oemRecoveryBytes:
			p.Role, p.RoleReason = RoleOEM, fmt.Sprintf("recovery-typed but %s: a factory image, not WinRE", diag.FormatBytes(p.SizeBytes))
		case looksOEM(p):
			p.Role, p.RoleReason = RoleOEM, fmt.Sprintf("recovery-typed with vendor name %q", firstNonEmpty(p.Name, labelOf(p)))
		default:
			p.Role, p.RoleReason = RoleRecovery, "recovery-typed, but not the WinRE that ReAgent.xml points at"
		}
	}
	if host == nil {
		return
	}
	in.measure(w, host, policy)
}

func (in *inspector) readReAgent(w *WinRE) {
	l := in.l
	if l.OS == 0 {
		in.problem(ProblemNoWindows, diag.Warning, "point the tool at the disk that holds Windows",
			`no NTFS volume holding \Windows\System32 was found`)
		return
	}
	v := in.vols[l.OS]
	if v == nil {
		return // C: cannot be read (BitLocker): reported by assignRoles
	}
	raw, err := v.ReadFile(pathReAgent, maxReAgentBytes)
	if err != nil {
		if errors.Is(err, ntfs.ErrNotFound) {
			in.problem(ProblemNoReAgentXML, diag.Warning, "run `reagentc /info` in Windows to recreate it",
				`partition %d has no %s: where WinRE lives is guessed from the partition types`, l.OS, pathReAgent)
		} else {
			in.problem(ProblemReAgentUnreadable, diag.Error, "run chkdsk /f on C: in Windows",
				"partition %d: reading %s: %v", l.OS, pathReAgent, err)
		}
		return
	}
	ra, err := winre.ParseReAgent(raw)
	if err != nil {
		in.problem(ProblemReAgentInvalid, diag.Error, "run `reagentc /disable` then `reagentc /enable` in Windows to rewrite it",
			"partition %d: %s: %v", l.OS, pathReAgent, err)
		return
	}
	in.reagent, in.reagentPart = ra, l.OS
	w.ReAgentPath = pathReAgent
	w.ReAgent = NewReAgentFile(v, pathReAgent, raw)
	w.Enabled = ra.Enabled()
	// What ReAgent.xml says on its own (disabled, staged, a stale
	// ImageLocation, a location naming no disk) is winre's to judge;
	// locateHost checks the location against this disk.
	in.l.add(SourceWinRE, ra.Verify())
}

// locateHost finds the partition holding the active winre.wim and sets
// w's location fields; it returns nil when there is none.
func (in *inspector) locateHost(w *WinRE) *Partition {
	l := in.l
	ra := in.reagent
	switch {
	case ra != nil && ra.Enabled() && !ra.WinreLocation.Unused():
		loc := ra.WinreLocation
		if l.Scheme == SchemeGPT && loc.GUID != l.DiskGUID {
			in.problem(ProblemReAgentOtherDisk, diag.Error, "inspect the disk whose GUID ReAgent.xml names, or run `reagentc /disable` and `/enable` in Windows",
				"ReAgent.xml's WinreLocation names disk {%s}, this disk is {%s}", loc.GUID, l.DiskGUID)
			return nil
		}
		if l.Scheme == SchemeMBR && loc.ID != l.DiskSignature {
			in.problem(ProblemReAgentOtherDisk, diag.Error, "inspect the disk whose signature ReAgent.xml names, or run `reagentc /disable` and `/enable` in Windows",
				"ReAgent.xml's WinreLocation names disk signature %d (0x%08x), this disk has %d (0x%08x)", loc.ID, loc.ID, l.DiskSignature, l.DiskSignature)
			return nil
		}
		var host *Partition
		for i := range l.Partitions {
			p := &l.Partitions[i]
			if !p.Extended && uint64(p.StartBytes(l.SectorSize)) == loc.Offset {
				host = p
			}
		}
		if host == nil {
			in.problem(ProblemReAgentLocationNotFound, diag.Error, remedyInterrupted+"; otherwise run `reagentc /disable` and `reagentc /enable` in Windows so it records the right partition",
				"ReAgent.xml's WinreLocation offset %d matches no partition start", loc.Offset)
			return nil
		}
		in.setHost(w, host, loc.Path+`\winre.wim`, "ReAgent.xml's WinreLocation offset matches this partition's start")
		return host
	case ra != nil && !ra.Enabled():
		// Reported by ReAgent.Verify (winre-disabled).
		if _, ok := in.holds(l.OS, pathWIMOnOS); ok {
			host := l.Partition(l.OS)
			in.setHost(w, host, pathWIMOnOS, "")
			return host
		}
		return nil
	}
	// No usable ReAgent.xml: guess from the partitions that hold a WinRE.
	var candidates []*Partition
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if !isRecoveryType(l, p) || p.SizeBytes > oemRecoveryBytes || looksOEM(p) {
			continue
		}
		if _, ok := in.holds(p.Number, pathWinREFolder+`\winre.wim`); ok {
			candidates = append(candidates, p)
		}
	}
	switch len(candidates) {
	case 1:
		in.setHost(w, candidates[0], pathWinREFolder+`\winre.wim`, "the only recovery partition holding winre.wim (no ReAgent.xml to confirm)")
		w.Enabled = true
		return candidates[0]
	case 0:
		if l.OS != 0 {
			if _, ok := in.holds(l.OS, pathWIMOnOS); ok {
				host := l.Partition(l.OS)
				in.setHost(w, host, pathWIMOnOS, "")
				return host
			}
		}
		if l.OS != 0 {
			// Without Windows, no-windows already says all there is.
			in.problem(ProblemNoWinRE, diag.Warning, "install WinRE (reagentc /setreimage and /enable in Windows)",
				"no winre.wim was found on any partition")
		}
		return nil
	}
	nums := make([]string, len(candidates))
	for i, p := range candidates {
		nums[i] = fmt.Sprint(p.Number)
	}
	in.problem(ProblemSeveralWinRECandidates, diag.Error, "boot Windows and run `reagentc /info` to record which one is active",
		"partitions %s all hold winre.wim and no ReAgent.xml says which is active", strings.Join(nums, ", "))
	return nil
}

// setHost records host as the partition holding winre.wim at wimPath.
// reason, when not empty, makes it the WinRE partition.
func (in *inspector) setHost(w *WinRE, host *Partition, wimPath, reason string) {
	w.HostPartition = host.Number
	w.WIMPath = wimPath
	switch host.Role {
	case RoleOS, RoleSystem:
		w.Host = host.Role
		if reason != "" {
			in.problem(ProblemWinRESharesPartition, diag.Warning, "give WinRE a partition of its own after C: (the plan does when it can)",
				"WinRE lives inside partition %d (%s), not in a recovery partition of its own", host.Number, host.Role)
		}
		return
	}
	if !isRecoveryType(in.l, host) {
		in.problem(ProblemWinREWrongType, diag.Warning, "set the WinRE type (GPT de94bba4-06d1-4d40-a16a-bfd50179d6ac, MBR 0x27) so Windows hides it and BitLocker leaves it alone",
			"WinRE partition %d has type %s", host.Number, host.TypeString(in.l.Scheme))
	}
	host.Role, host.RoleReason = RoleWinRE, reason
	w.Host, w.Partition = RoleWinRE, host.Number
}

// measure fills in the WIM size, the free space and the verdict.
func (in *inspector) measure(w *WinRE, host *Partition, policy winre.Policy) {
	fs := host.FS
	if fs != nil && fs.BitLocker {
		in.problem(ProblemWinREBitLocker, diag.Error, "decrypt the WinRE partition in Windows (manage-bde -off) and run `reagentc /enable`",
			"the volume holding WinRE (partition %d) is BitLocker-encrypted: reagentc refuses it", host.Number)
		return
	}
	v := in.vols[host.Number]
	if v == nil {
		why := "no NTFS volume"
		switch {
		case fs != nil && fs.Err != "":
			why = "an NTFS volume that cannot be opened (" + fs.Err + ")"
		case fs != nil && fs.Kind != FSUnknown:
			why = "a " + string(fs.Kind) + " volume, not NTFS"
		}
		in.problem(ProblemWinREUnreadable, diag.Error, remedyInterrupted+"; otherwise rebuild WinRE in Windows (reagentc /disable, then /enable)",
			"partition %d, where WinRE should be, holds %s: WinRE cannot start from it", host.Number, why)
		return
	}
	f, err := v.Lookup(w.WIMPath)
	if err != nil {
		in.problem(ProblemWinREWIMMissing, diag.Error, "run `reagentc /disable` and `reagentc /enable` in Windows to put winre.wim back",
			"%s not found on partition %d: %v", w.WIMPath, host.Number, err)
		w.WIMPath = ""
	} else {
		w.WIMBytes = f.Size
		in.checkWIM(v, f, host.Number, w.WIMPath)
	}
	if fs.FreeBytes < 0 {
		in.fillUsage(fs, v)
	}
	w.FreeBytes = fs.FreeBytes
	// The verdict is the update's own requirement (250 MiB free, or more
	// when the caller's policy asks for more) plus ReAgentc's floor; the
	// planner's sizing policy, which also leaves room for a larger WIM, is
	// a target for fixes, not a test of today's disk.
	verdict := policy.Check(winre.Status{PartitionBytes: host.SizeBytes, FreeBytes: fs.FreeBytes, WIMBytes: w.WIMBytes})
	w.RequiredFreeBytes = max(policy.MinFreeBytes, winre.MinFreeKB5034441)
	meets := fs.FreeBytes >= w.RequiredFreeBytes && verdict.MeetsReAgentc
	// A disabled WinRE is not serviced at all: it cannot be said to meet the
	// requirement until it is enabled again.
	w.MeetsKB5034441 = meets && w.Enabled
	if !meets {
		in.problem(ProblemWinRETooSmall, diag.Warning, "plan the fix to see how WinRE can be given room (offline, or from the running Windows)",
			"WinRE (partition %d) has %s free; KB5034441 servicing needs %s (short by %s)",
			host.Number, diag.FormatBytes(w.FreeBytes), diag.FormatBytes(w.RequiredFreeBytes), diag.FormatBytes(w.RequiredFreeBytes-w.FreeBytes))
	}
}

// checkWIM reports a winre.wim that is not a WIM.
func (in *inspector) checkWIM(v *ntfs.Volume, f *ntfs.File, part int, path string) {
	r, err := v.OpenFile(f)
	if err != nil {
		in.problem(ProblemWinREWIMUnreadable, diag.Error, "run chkdsk on the volume in Windows", "partition %d: %s: %v", part, path, err)
		return
	}
	if _, err := winre.ParseWIMHeader(r, f.Size); err != nil {
		in.problem(ProblemWinREWIMInvalid, diag.Error, "restore winre.wim from installation media (install.wim's Windows\\System32\\Recovery\\winre.wim)",
			"partition %d: %s is not a valid WIM: %v", part, path, err)
	}
}
