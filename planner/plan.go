package planner

import (
	"fmt"
	"slices"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery"
)

// WinRE partition identity on the two schemes.
var (
	winreGPTType = gpt.TypeWinRE
	winreAttrs   = gpt.AttrWinRE // 0x8000000000000001
)

const winreMBRType = mbr.TypeWinRE

var winreZeroType gpt.Type

// newFSMetadataBytes is what a freshly formatted WinRE volume is assumed
// to spend on NTFS metadata (used only to size a partition created by the
// Windows-side scripts).
const newFSMetadataBytes = 16 * MiB

// obstacle is a byte range the plan must not touch: a partition (for a
// logical partition, from its EBR on) or an extended container.
type obstacle struct {
	start, end int64 // bytes, end exclusive
	number     int
}

// change is the geometry a strategy chose.
type change struct {
	strategy   Strategy
	osNewEnd   int64 // new end of C: in bytes (exclusive); 0 = unchanged
	reStart    int64 // new WinRE extent in bytes, end exclusive
	reEnd      int64
	moveBackup bool // the backup GPT moves to the end of the disk first
}

// planner holds the state of one Plan call.
type planner struct {
	l  *recovery.Layout
	o  Options
	ss int64
	p  *Plan

	os, re *recovery.Partition
	geo    geometry
	obs    []obstacle

	wimBytes, freeBytes, requiredFree, needSize int64

	// reloc is what the shrink of C: moves out of its cut-off tail (nil
	// when the tail is free or C: does not shrink).
	reloc *Relocation
}

// New decides how to give the WinRE partition of l the free space the
// policy in opts asks for. It is pure: it reads l (which it never
// modifies) and returns a new Plan; it does no I/O and returns the same
// plan for the same input. A nil layout yields a refused plan.
//
// (The function cannot be called Plan: Go does not let a function share
// the name of the type it returns.)
//
// The strategies are tried least invasive first: noop, grow-in-place,
// move-left, shrink-os, relocate (see [Strategy]). Every reason to refuse
// is collected, not just the first.
func New(l *recovery.Layout, opts Options) *Plan {
	p := &Plan{Strategy: StrategyNone}
	if l == nil {
		p.refuse(CodeUnsupportedDisk, "no layout was given", "inspect the disk first")
		p.finish()
		return p
	}
	pl := &planner{l: l, o: opts.resolved(l), ss: int64(l.SectorSize), p: p}
	pl.run()
	p.finish()
	return p
}

func (p *Plan) refuse(c Code, msg, suggestion string) {
	p.Refused = true
	p.Reasons = append(p.Reasons, Reason{Code: c, Message: msg, Suggestion: suggestion})
}

func (p *Plan) finish() {
	if p.Refused {
		p.Steps = nil
		p.After = nil
	}
	if p.Summary == "" {
		p.Summary = p.summary()
	}
}

func (pl *planner) run() {
	l, p := pl.l, pl.p
	p.scheme, p.sectorSize, p.diskSize = l.Scheme, l.SectorSize, l.SizeBytes
	p.alignBytes = pl.o.AlignBytes
	p.diskGUID, p.diskSig, p.osNumber = l.DiskGUID, l.DiskSignature, l.OS
	p.Before = clonePartitions(l.Partitions)
	if l.WinRE != nil {
		p.reagent = l.WinRE.ReAgentPath
	}

	if !pl.checkDisk() {
		return
	}
	pl.checkTable()
	pl.findObstacles()
	if !pl.findRoles() {
		return
	}
	pl.size()
	if p.Strategy == StrategyNoop {
		p.After = clonePartitions(l.Partitions)
		p.Preconditions = pl.preconditions(nil, false)
		return
	}
	if p.Strategy == StrategyCreate {
		pl.planCreate()
		return
	}
	ch, ok := pl.choose()
	if !ok {
		return
	}
	pl.checkStates(ch)
	pl.build(ch)
}

// checkDisk refuses what cannot be planned at all.
func (pl *planner) checkDisk() bool {
	l, p := pl.l, pl.p
	switch {
	case l.Scheme != recovery.SchemeGPT && l.Scheme != recovery.SchemeMBR:
		p.refuse(CodeUnsupportedDisk, fmt.Sprintf("partitioning scheme %q is neither GPT nor MBR", l.Scheme),
			"partition the disk with Windows Setup; there is no WinRE partition to fix")
		return false
	case l.SectorSize < 512 || l.SectorSize > 65536 || l.SectorSize&(l.SectorSize-1) != 0:
		p.refuse(CodeUnsupportedDisk, fmt.Sprintf("logical sector size %d is not a power of two between 512 and 65536", l.SectorSize), "")
		return false
	case l.SizeBytes < 1*MiB:
		p.refuse(CodeDeviceTooSmall, fmt.Sprintf("device of %d bytes is smaller than 1 MiB", l.SizeBytes), "check that the whole disk or image was given")
		return false
	}
	return true
}

// checkTable turns the layout's errors into refusals and checks the table
// fits the device.
func (pl *planner) checkTable() {
	l, p := pl.l, pl.p
	for _, pr := range l.Problems {
		if pr.Severity != diag.Error {
			continue
		}
		// A broken table refuses as invalid-table; an error Inspect found
		// about Windows (ReAgent.xml, winre.wim, several WinRE candidates)
		// means the layout cannot be trusted, and an encrypted WinRE is
		// its own reason.
		code := CodeInvalidTable
		switch {
		case pr.Code == recovery.ProblemWinREBitLocker:
			code = CodeBitLockerWinRE
		case !pr.FromTable():
			code = CodeUnknownLayout
		}
		sugg := pr.Remedy
		if sugg == "" {
			sugg = "repair the partition table first (sgdisk -v / sfdisk --verify show what is wrong)"
		}
		p.refuse(code, string(pr.Code)+": "+pr.Message, sugg)
	}
	var last int64
	for i := range l.Partitions {
		last = max(last, l.Partitions[i].EndBytes(l.SectorSize))
	}
	if last > l.SizeBytes {
		p.refuse(CodeDeviceTooSmall, fmt.Sprintf("partitions end at byte %d but the device has only %d bytes", last, l.SizeBytes),
			"give the whole disk or the complete image; a truncated copy cannot be changed")
	}
	pl.geo = geometryOf(l, pl.ss)
	if pl.geo.tableEnd > l.SizeBytes && last <= l.SizeBytes {
		p.refuse(CodeDeviceTooSmall, fmt.Sprintf("the partition table reaches byte %d but the device has only %d bytes", pl.geo.tableEnd, l.SizeBytes),
			"give the whole disk or the complete image")
	}
}

func (pl *planner) findObstacles() {
	l := pl.l
	for i := range l.Partitions {
		q := &l.Partitions[i]
		o := obstacle{start: q.StartBytes(l.SectorSize), end: q.EndBytes(l.SectorSize), number: q.Number}
		if q.Logical {
			if ebr, ok := ebrOf(l, q.Number); ok {
				o.start = min(o.start, int64(ebr)*pl.ss)
			}
		}
		pl.obs = append(pl.obs, o)
	}
	slices.SortFunc(pl.obs, func(a, b obstacle) int {
		if a.start != b.start {
			return cmpInt(a.start, b.start)
		}
		return a.number - b.number
	})
}

// findRoles finds C: and the WinRE partition, or decides the layout is not
// understood. It returns false when nothing more can be planned.
func (pl *planner) findRoles() bool {
	l, p := pl.l, pl.p
	if l.OS != 0 {
		pl.os = l.Partition(l.OS)
	}
	if pl.os == nil {
		p.refuse(CodeUnknownLayout, "no Windows partition (C:) was found", "check that this is a Windows system disk, and inspect it with filesystems to see the role of each partition")
	}
	w := l.WinRE
	if w == nil {
		p.refuse(CodeUnknownLayout, "the layout carries no WinRE facts (inspected for the table only)", "inspect with filesystems so ReAgent.xml and winre.wim are read")
		return false
	}
	var candidates []int
	for i := range l.Partitions {
		if r := l.Partitions[i].Role; r == recovery.RoleWinRE || r == recovery.RoleRecovery {
			candidates = append(candidates, l.Partitions[i].Number)
		}
	}
	if w.ReAgentPath == "" && len(candidates) > 1 {
		p.refuse(CodeUnknownLayout, fmt.Sprintf("%d recovery partitions (%s) and no ReAgent.xml to tell which one is active", len(candidates), numberList(candidates)),
			"boot Windows and run reagentc /info, or restore C:\\Windows\\System32\\Recovery\\ReAgent.xml")
		return false
	}
	if pl.os == nil {
		return false
	}
	switch {
	case w.Partition == 0 && !w.Enabled:
		p.refuse(CodeWinREDisabled, "WinRE is disabled: winre.wim sits on C: and there is no WinRE partition to grow",
			"creating an NTFS filesystem is out of scope offline: run the Windows-side script, which creates the partition and runs reagentc /enable")
		p.Strategy = StrategyCreate
	case w.Partition == 0 || w.Partition == l.OS:
		if w.WIMBytes == 0 && w.Partition == 0 {
			p.refuse(CodeUnknownLayout, "WinRE is enabled but its image was not found", "boot Windows and run reagentc /info")
			return false
		}
		p.refuse(CodeWinREInsideOS, "WinRE lives on C: itself: there is no WinRE partition to grow",
			"run the Windows-side script, which creates a WinRE partition after C:")
		p.Strategy = StrategyCreate
	default:
		pl.re = l.Partition(w.Partition)
		if pl.re == nil {
			p.refuse(CodeUnknownLayout, fmt.Sprintf("ReAgent.xml points at partition %d, which the table does not have", w.Partition),
				"boot Windows and run reagentc /info; reagentc /disable then /enable rebuilds the pointer")
			return false
		}
		if pl.re.Role == recovery.RoleSystem || pl.re.Role == recovery.RoleESP || pl.re.Extended {
			p.refuse(CodeWinREInsideOS, fmt.Sprintf("WinRE lives in partition %d (%s), which also holds the boot files", pl.re.Number, pl.re.Role),
				"run the Windows-side script, which creates a WinRE partition after C:")
			p.Strategy = StrategyCreate
			pl.re = nil
		}
	}
	if pl.re != nil {
		p.oldWinRE = clonePartition(pl.re)
	}
	p.osBefore = clonePartition(pl.os)
	return true
}

// size computes the free space required and the WinRE partition size that
// gives it, and decides whether the plan is a noop.
func (pl *planner) size() {
	l, p, w := pl.l, pl.p, pl.l.WinRE
	pl.wimBytes = w.WIMBytes
	pl.requiredFree = pl.o.Policy.RequiredFreeBytes(w.WIMBytes)
	p.WinRE.RequiredFreeBytes = pl.requiredFree
	if pl.re == nil {
		// A partition to be created: image + required free + metadata.
		pl.needSize = alignUp(w.WIMBytes+pl.requiredFree+newFSMetadataBytes, pl.o.AlignBytes)
		pl.needSize = max(pl.needSize, alignUp(pl.o.TargetWinREBytes, pl.o.AlignBytes))
		return
	}
	re := pl.re
	pl.freeBytes = w.FreeBytes
	if re.FS != nil && re.FS.FreeBytes >= 0 && re.FS.Kind == recovery.FSNTFS {
		pl.freeBytes = re.FS.FreeBytes
	}
	if pl.freeBytes >= pl.requiredFree && re.SizeBytes >= pl.o.TargetWinREBytes {
		p.Strategy = StrategyNoop
		p.WinRE = WinRETarget{Partition: re.Number, NewSizeBytes: re.SizeBytes, ExpectedFreeBytes: pl.freeBytes, RequiredFreeBytes: pl.requiredFree}
		p.newWinRE = clonePartition(re)
		p.osAfter = clonePartition(pl.os)
		return
	}
	grow := max(pl.requiredFree-pl.freeBytes, 0)
	need := re.SizeBytes + grow + growOverhead(grow+pl.o.AlignBytes, clusterOf(re))
	pl.needSize = max(alignUp(need, pl.o.AlignBytes), alignUp(pl.o.TargetWinREBytes, pl.o.AlignBytes))
	_ = l
}

// growOverhead is what growing an NTFS volume by d bytes costs in the
// allocation bitmap, rounded up to clusters, plus one cluster of slack.
func growOverhead(d, cluster int64) int64 {
	bitmap := (d/cluster + 7) / 8
	return alignUp(bitmap, cluster) + cluster
}

func clusterOf(q *recovery.Partition) int64 {
	if q.FS != nil && q.FS.ClusterSize > 0 {
		return q.FS.ClusterSize
	}
	return 4096
}

// neighbours returns the end of the last obstacle before off and the
// start of the first obstacle at or after end, ignoring the partition
// with number skip and, for a primary partition, looking past nothing.
// lo defaults to the usable start, hi to limit.
func (pl *planner) neighbours(start, end int64, skip int, limit int64) (lo, hi int64, prev int) {
	lo, hi = pl.geo.usableStart, limit
	for _, o := range pl.obs {
		if o.number == skip || pl.isContainer(o.number, skip) {
			continue
		}
		if o.end <= start && o.end >= lo {
			lo, prev = o.end, o.number
		}
		if o.start >= end && o.start < hi {
			hi = o.start
		}
	}
	return lo, hi, prev
}

// isContainer reports whether number is the extended partition holding
// the logical partition inner.
func (pl *planner) isContainer(number, inner int) bool {
	q, in := pl.l.Partition(number), pl.l.Partition(inner)
	return q != nil && in != nil && q.Extended && in.Logical
}

// limits returns the usable end for re: the current one and the one after
// the backup GPT is moved to the end of the disk (equal when it cannot
// move). For a logical partition both are the end of its container.
func (pl *planner) limits(q *recovery.Partition) (cur, grown int64) {
	cur, grown = pl.geo.usableEnd, pl.geo.grownEnd
	if q.Logical {
		for i := range pl.l.Partitions {
			if e := &pl.l.Partitions[i]; e.Extended {
				end := e.EndBytes(pl.l.SectorSize)
				return min(cur, end), min(cur, end)
			}
		}
	}
	return cur, grown
}

// choose picks the least invasive strategy that fits, or refuses no-room.
func (pl *planner) choose() (change, bool) {
	re, os, S, a := pl.re, pl.os, pl.needSize, pl.o.AlignBytes
	ss := pl.l.SectorSize
	rs, rend := re.StartBytes(ss), re.EndBytes(ss)
	cur, grown := pl.limits(re)
	limits := []int64{cur}
	if grown > cur {
		limits = append(limits, grown)
	}
	// grow-in-place, then move-left, each first without moving the backup GPT.
	for _, lim := range limits {
		_, hi, _ := pl.neighbours(rs, rend, re.Number, lim)
		if rs+S <= hi {
			end := min(alignUp(rs+S, a), hi)
			return change{strategy: StrategyGrowInPlace, reStart: rs, reEnd: end, moveBackup: end > cur}, true
		}
	}
	for _, lim := range limits {
		lo, hi, _ := pl.neighbours(rs, rend, re.Number, lim)
		if re.Logical {
			break // moving a logical partition means moving its EBR: not done
		}
		ns := max(alignUp(lo, a), alignDown(hi-S, a))
		if ns < rs && ns+S <= hi {
			return change{strategy: StrategyMoveLeft, reStart: ns, reEnd: ns + S, moveBackup: ns+S > cur}, true
		}
	}
	osStart, osEnd := os.StartBytes(ss), os.EndBytes(ss)
	minOS := osStart + a // C: never shrinks below one alignment unit here; the FS check is stricter
	for _, lim := range limits {
		_, _, prev := pl.neighbours(rs, rend, re.Number, lim)
		if prev != os.Number || rs < osEnd || re.Logical || os.Logical {
			break
		}
		_, hi, _ := pl.neighbours(rs, rend, re.Number, lim)
		ns := alignDown(hi-S, a)
		if ns < osEnd && ns >= minOS {
			return change{strategy: StrategyShrinkOS, osNewEnd: ns, reStart: ns, reEnd: ns + S, moveBackup: ns+S > cur}, true
		}
	}
	// relocate: a new WinRE after C:, carved from its tail.
	if !os.Logical {
		for _, lim := range limits {
			_, hi, _ := pl.neighbours(osStart, osEnd, os.Number, lim)
			if rs >= osEnd && rs < hi {
				break // WinRE follows C: and shrink-os did not fit
			}
			ns := alignDown(hi-S, a)
			if ns >= minOS {
				ch := change{strategy: StrategyRelocate, reStart: ns, reEnd: ns + S, moveBackup: ns+S > cur}
				if ns < osEnd {
					ch.osNewEnd = ns
				}
				return ch, true
			}
		}
	}
	pl.p.refuse(CodeNoRoom, fmt.Sprintf("WinRE needs a %s partition (%s free for a %s winre.wim) and no placement fits on this disk",
		mib(S), mib(pl.requiredFree), mib(pl.wimBytes)),
		"free space after C: or the WinRE partition (for instance by shrinking a data partition), or enlarge the disk, then plan again")
	return change{}, false
}

// checkStates refuses changes to volumes that are not safe to change
// offline, and checks C:'s tail.
func (pl *planner) checkStates(ch change) {
	p, l := pl.p, pl.l
	moved := ch.reStart != pl.re.StartBytes(l.SectorSize)
	osTouched := ch.osNewEnd != 0 || moved
	if f := pl.os.FS; f != nil && f.Hibernated {
		p.refuse(CodeHibernated, "C: holds a hibernation image (hibernation or Fast Startup): Windows would resume with a stale view of the disk",
			"boot Windows and shut down fully (shutdown /s /t 0), or disable Fast Startup (powercfg /h off), then plan again")
	}
	type vol struct {
		name string
		q    *recovery.Partition
	}
	vols := []vol{{"WinRE", pl.re}}
	if osTouched {
		vols = append([]vol{{"C:", pl.os}}, vols...)
	}
	for _, v := range vols {
		f := v.q.FS
		if f == nil {
			p.refuse(CodeUnknownLayout, fmt.Sprintf("the filesystem of %s (partition %d) was not examined", v.name, v.q.Number), "inspect the disk with filesystems")
			continue
		}
		if f.BitLocker {
			code, sugg := CodeBitLockerWinRE, "decrypt the WinRE volume in Windows (manage-bde -off), or run the Windows-side script"
			if v.q == pl.os {
				code, sugg = CodeBitLockerOS, "an encrypted C: cannot be changed offline: run the Windows-side script, which suspends BitLocker for one reboot"
			}
			p.refuse(code, fmt.Sprintf("%s (partition %d) is BitLocker-encrypted", v.name, v.q.Number), sugg)
			continue
		}
		if f.Kind != recovery.FSNTFS {
			p.refuse(CodeUnknownLayout, fmt.Sprintf("%s (partition %d) holds %s, not NTFS", v.name, v.q.Number, f.Kind), "only NTFS volumes are resized")
			continue
		}
		if f.Hibernated && v.q != pl.os {
			p.refuse(CodeHibernated, fmt.Sprintf("%s (partition %d) holds a hibernation image", v.name, v.q.Number), "boot Windows and shut down fully, then plan again")
		}
		if f.Dirty && !pl.o.AllowDirty {
			p.refuse(CodeDirty, fmt.Sprintf("%s (partition %d) is marked dirty", v.name, v.q.Number),
				"boot Windows and run chkdsk /f on it, or allow changes to dirty volumes if you accept the risk")
		}
		if !f.LogFileClean {
			p.refuse(CodeLogNotClean, fmt.Sprintf("the $LogFile of %s (partition %d) is not clean: it was not unmounted cleanly", v.name, v.q.Number),
				"boot Windows and shut down fully, or run chkdsk /f on it")
		}
		if f.Err != "" {
			p.refuse(CodeUnknownLayout, fmt.Sprintf("%s (partition %d) could not be fully inspected: %s", v.name, v.q.Number, f.Err), "")
		}
	}
	if ch.osNewEnd != 0 {
		pl.checkTail(ch)
	}
	pl.checkReAgent(ch)
	if l.Scheme == recovery.SchemeMBR && moved && !pl.o.BCDPatching {
		why := "the executor was not asked to patch the BCD"
		if err := l.PatchableForMove(); err != nil {
			why = "the BCD cannot be patched offline: " + err.Error()
		}
		p.refuse(CodeBCDMove, fmt.Sprintf("on an MBR disk the BCD stores WinRE's start offset; moving it from byte %d to %d would break the WinRE boot entry, and %s",
			pl.re.StartBytes(l.SectorSize), ch.reStart, why),
			"run the Windows-side script, whose reagentc /disable and /enable rewrite the BCD")
	}
}

// checkTail refuses a shrink of C: past its last used cluster, unless
// the data in the cut-off tail can be moved (see [Relocator]).
func (pl *planner) checkTail(ch change) {
	f, p, ss := pl.os.FS, pl.p, pl.ss
	if f == nil || f.BitLocker || f.Kind != recovery.FSNTFS {
		return // already refused
	}
	shrink := pl.os.EndBytes(pl.l.SectorSize) - ch.osNewEnd
	newTotal := ch.osNewEnd - pl.os.StartBytes(pl.l.SectorSize) - ss
	used := f.TotalBytes - f.ShrinkableBytes
	if f.LastUsedCluster >= 0 && f.ClusterSize > 0 {
		used = max(used, (f.LastUsedCluster+1)*f.ClusterSize)
	}
	if f.ShrinkableBytes < 0 || f.TotalBytes <= 0 {
		p.refuse(CodeOSTailInUse, "how much of C:'s tail is free could not be measured", "inspect the disk with filesystems")
		return
	}
	if newTotal < used && !p.Refused {
		// Asking the relocator costs a read of C:'s MFT: only for a plan
		// that nothing else refuses.
		pl.reloc, _ = pl.relocate(ch.osNewEnd, shrink, used-newTotal)
	} else if newTotal < used {
		p.refuse(CodeOSTailInUse, fmt.Sprintf("C: must shrink by %s but %s of that tail is in use; the largest shrink possible without moving data is %s",
			mib(shrink), mibUp(used-newTotal), mib(max(f.ShrinkableBytes, 0))),
			"defragment C: in Windows (or shrink it with Disk Management, which moves data), or run the Windows-side script, then plan again")
	}
}

// planCreate fills in the geometry of a partition the Windows-side script
// would create after C:; the plan is already refused.
func (pl *planner) planCreate() {
	os, ss, a, S := pl.os, pl.l.SectorSize, pl.o.AlignBytes, pl.needSize
	osStart, osEnd := os.StartBytes(ss), os.EndBytes(ss)
	_, hi, _ := pl.neighbours(osStart, osEnd, os.Number, pl.geo.usableEnd)
	ns := alignDown(hi-S, a)
	p := pl.p
	if ns < osStart+a {
		p.refuse(CodeNoRoom, "no room for a new WinRE partition after C:", "free space after C: first")
		return
	}
	p.OSShrinkBytes = max(osEnd-ns, 0)
	nw := &recovery.Partition{Number: 0, StartLBA: uint64(ns / int64(ss)), EndLBA: uint64((ns+S)/int64(ss)) - 1, SizeBytes: S,
		GPTType: winreGPTType, Attributes: winreAttrs, Role: recovery.RoleWinRE, RoleReason: "to be created"}
	if pl.l.Scheme == recovery.SchemeMBR {
		nw.GPTType, nw.Attributes, nw.MBRType = gpt.Type{}, 0, winreMBRType
	}
	p.newWinRE = nw
	osA := clonePartition(os)
	if ns < osEnd {
		resizeTo(osA, ns, ss)
	}
	p.osAfter = osA
	p.WinRE = WinRETarget{Partition: 0, NewSizeBytes: S, ExpectedFreeBytes: S - pl.wimBytes - newFSMetadataBytes, RequiredFreeBytes: pl.requiredFree}
}
