package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/recovery"
)

// build turns the chosen geometry into steps, the After list and the
// preconditions. On a refused plan it keeps only what the scripts need.
func (pl *planner) build(ch change) {
	p, l, ss := pl.p, pl.l, pl.l.SectorSize
	p.Strategy = ch.strategy
	re, os := pl.re, pl.os
	oldStart, oldEnd := re.StartBytes(ss), re.EndBytes(ss)
	moved := ch.reStart != oldStart
	newSize := ch.reEnd - ch.reStart
	growth := newSize - re.SizeBytes
	expFree := pl.freeBytes + growth - growOverhead(growth, clusterOf(re))
	if growth <= 0 {
		expFree = pl.freeBytes
	}
	p.WinRE = WinRETarget{Partition: re.Number, NewSizeBytes: newSize, ExpectedFreeBytes: expFree, RequiredFreeBytes: pl.requiredFree}

	// After: C: and WinRE changed, everything else as before.
	after := clonePartitions(l.Partitions)
	for i := range after {
		q := &after[i]
		switch q.Number {
		case os.Number:
			if ch.osNewEnd != 0 {
				resizeTo(q, ch.osNewEnd, ss)
				p.OSShrinkBytes = os.SizeBytes - q.SizeBytes
			}
			p.osAfter = clonePartition(q)
		case re.Number:
			q.StartLBA = uint64(ch.reStart / int64(ss))
			q.EndLBA = uint64(ch.reEnd/int64(ss)) - 1
			q.SizeBytes = newSize
			if l.Scheme == recovery.SchemeGPT {
				q.GPTType, q.Attributes = winreGPTType, q.Attributes|winreAttrs
			} else {
				q.MBRType = winreMBRType
			}
			q.Role = recovery.RoleWinRE
			if f := q.FS; f != nil {
				f.TotalBytes += growth
				f.FreeBytes = expFree
				f.ShrinkableBytes = max(f.ShrinkableBytes, 0) + growth
			}
			p.newWinRE = clonePartition(q)
		}
	}
	p.After = after
	touched := []int{re.Number}
	if ch.osNewEnd != 0 || moved {
		touched = append([]int{os.Number}, touched...)
	}
	p.touched = touched
	p.Preconditions = pl.preconditions(touched, moved)
	if p.Refused {
		return
	}

	var steps []Step
	add := func(s Step) { steps = append(steps, s) }
	lba := func(off int64) uint64 { return uint64(off / int64(ss)) }
	if ch.osNewEnd != 0 {
		osA := p.osAfter
		st := ShrinkFilesystem{Partition: os.Number, Offset: os.StartBytes(ss), SizeBytes: osA.SizeBytes - int64(ss),
			About: about("shrink the NTFS volume on C: by %s to %s (its partition size less one sector for the backup boot sector)", mib(p.OSShrinkBytes), mib(osA.SizeBytes-int64(ss)))}
		if r := pl.reloc; r != nil && (r.MovedBytes > 0 || r.MovedFiles > 0) {
			st.MovedBytes, st.MovedFiles, st.Prepared = r.MovedBytes, r.MovedFiles, r.Prepared
			st.Text += fmt.Sprintf(", first moving %s of %s out of the cut-off tail into free space before the new end", byteCount(r.MovedBytes), plural(r.MovedFiles, "file"))
			p.Notes = append(p.Notes, fmt.Sprintf("C:'s tail is in use: %s of %s move into free clusters before C:'s new end (copied first, then the file records and $Bitmap switch to the copies)",
				byteCount(r.MovedBytes), plural(r.MovedFiles, "file")))
		}
		add(st)
		add(ShrinkPartition{Partition: os.Number, StartLBA: osA.StartLBA, EndLBA: osA.EndLBA, Offset: os.StartBytes(ss), SizeBytes: osA.SizeBytes,
			About: about("end C: at LBA %d", osA.EndLBA)})
	}
	if moved {
		add(CopyData{Partition: re.Number, From: oldStart, Offset: ch.reStart, SizeBytes: re.SizeBytes,
			Backward: ch.reStart > oldStart && ch.reStart < oldEnd,
			About:    about("copy the %s of partition %d from byte %d to byte %d", mib(re.SizeBytes), re.Number, oldStart, ch.reStart)})
		add(FixHiddenSectors{Partition: re.Number, Offset: ch.reStart, HiddenSectors: lba(ch.reStart),
			About: about("set the hidden-sectors field of the moved NTFS boot sectors to %d", lba(ch.reStart))})
	}
	if ch.strategy == StrategyRelocate {
		add(DeletePartition{Partition: re.Number, StartLBA: re.StartLBA, EndLBA: re.EndLBA, Offset: oldStart, SizeBytes: re.SizeBytes,
			About: about("delete the old WinRE entry %d at LBA %d-%d (its unique GUID must stay unique; the space is left free)", re.Number, re.StartLBA, re.EndLBA)})
		s := CreatePartition{Partition: re.Number, StartLBA: lba(ch.reStart), EndLBA: lba(ch.reEnd) - 1, Offset: ch.reStart, SizeBytes: newSize}
		if l.Scheme == recovery.SchemeGPT {
			s.GPTType, s.Attributes, s.UniqueGUID = winreGPTType, re.Attributes|winreAttrs, re.UniqueGUID
			s.About = about("create WinRE in entry %d at LBA %d-%d with type %s, attributes 0x%016x and the old unique GUID %s, so the BCD still finds it",
				re.Number, s.StartLBA, s.EndLBA, winreGPTType, uint64(s.Attributes), re.UniqueGUID)
		} else {
			s.MBRType = winreMBRType
			s.About = about("create WinRE in entry %d at LBA %d-%d with type 0x27", re.Number, s.StartLBA, s.EndLBA)
		}
		add(s)
	} else {
		if moved {
			add(MovePartition{Partition: re.Number, From: oldStart, Offset: ch.reStart, StartLBA: lba(ch.reStart), EndLBA: lba(ch.reStart+re.SizeBytes) - 1, SizeBytes: re.SizeBytes,
				About: about("move WinRE's entry to start at LBA %d", lba(ch.reStart))})
		}
		add(GrowPartition{Partition: re.Number, StartLBA: lba(ch.reStart), EndLBA: lba(ch.reEnd) - 1, Offset: ch.reStart, SizeBytes: newSize,
			About: about("grow WinRE from %s to %s, ending at LBA %d", mib(re.SizeBytes), mib(newSize), lba(ch.reEnd)-1)})
		if l.Scheme == recovery.SchemeGPT {
			if re.GPTType != winreGPTType {
				add(SetType{Partition: re.Number, GPTType: winreGPTType, About: about("set the WinRE type GUID %s", winreGPTType)})
			}
			if re.Attributes|winreAttrs != re.Attributes {
				add(SetAttributes{Partition: re.Number, Attributes: re.Attributes | winreAttrs,
					About: about("set attributes 0x%016x (platform-required, no drive letter)", uint64(re.Attributes|winreAttrs))})
			}
		} else if re.MBRType != winreMBRType {
			add(SetType{Partition: re.Number, MBRType: winreMBRType, About: about("set type 0x27")})
		}
	}
	if ch.moveBackup {
		add(MoveBackupGPT{Offset: l.SizeBytes / int64(ss) * int64(ss), About: about("move the backup GPT to the end of the disk (it was not there: the disk grew)")})
	}
	wt := WriteTable{About: about("write the new partition table")}
	var err error
	if l.Scheme == recovery.SchemeGPT {
		wt.GPT, err = pl.newGPT(ch)
	} else {
		wt.MBR, err = pl.newMBR(ch)
	}
	if err != nil {
		p.refuse(CodeInvalidTable, err.Error(), "inspect the disk again; the layout and its table disagree")
		return
	}
	add(wt)
	add(GrowFilesystem{Partition: re.Number, Offset: ch.reStart, SizeBytes: newSize - int64(ss),
		About: about("grow the WinRE NTFS volume to %s; expect %s free (policy: %s)", mib(newSize-int64(ss)), mib(expFree), mib(pl.requiredFree))})
	if moved {
		add(PatchReAgent{Partition: os.Number, Path: pl.l.WinRE.ReAgentPath, From: oldStart, Offset: ch.reStart,
			About: about("rewrite WinreLocation offset in ReAgent.xml on C: from %d to %d", oldStart, ch.reStart)})
		if l.Scheme == recovery.SchemeMBR {
			add(PatchBCD{Partition: re.Number, From: oldStart, Offset: ch.reStart,
				About: about("patch the BCD's WinRE device elements from offset %d to %d", oldStart, ch.reStart)})
		}
	}
	p.Steps = steps
}

// preconditions pins the disk, the table bytes and the touched partitions.
func (pl *planner) preconditions(touched []int, moved bool) []Precondition {
	return factsOf(pl.l, touched, moved)
}

// factsOf renders the facts of l a plan depends on. Plan.Check calls it
// on the layout found at apply time and compares.
func factsOf(l *recovery.Layout, touched []int, moved bool) []Precondition {
	out := []Precondition{
		{Kind: PreDiskSize, Value: fmt.Sprint(l.SizeBytes)},
		{Kind: PreSectorSize, Value: fmt.Sprint(l.SectorSize)},
	}
	out = append(out, tablePreconditions(l)...)
	for _, n := range touched {
		q := l.Partition(n)
		if q == nil {
			out = append(out, Precondition{Kind: PrePartitionExtent, Partition: n, Value: "missing"})
			continue
		}
		out = append(out, Precondition{Kind: PrePartitionExtent, Partition: n, Value: fmt.Sprintf("%d-%d", q.StartLBA, q.EndLBA)})
		out = append(out, Precondition{Kind: PrePartitionType, Partition: n, Value: q.TypeString(l.Scheme)})
		if l.Scheme == recovery.SchemeGPT {
			out = append(out, Precondition{Kind: PrePartitionGUID, Partition: n, Value: q.UniqueGUID.String()})
		}
		if f := q.FS; f != nil {
			out = append(out, Precondition{Kind: PreFilesystem, Partition: n,
				Value: fmt.Sprintf("%s total=%d cluster=%d last-used-cluster=%d", f.Kind, f.TotalBytes, f.ClusterSize, f.LastUsedCluster)})
			out = append(out, Precondition{Kind: PreFilesystemState, Partition: n,
				Value: fmt.Sprintf("bitlocker=%t hibernated=%t dirty=%t log-clean=%t", f.BitLocker, f.Hibernated, f.Dirty, f.LogFileClean)})
		}
	}
	if moved && l.WinRE != nil {
		off := int64(-1)
		if q := l.Partition(l.WinRE.Partition); q != nil {
			off = q.StartBytes(l.SectorSize)
		}
		out = append(out, Precondition{Kind: PreReAgentOffset, Partition: l.OS, Value: fmt.Sprintf("%s offset=%d", l.WinRE.ReAgentPath, off)})
	}
	return out
}

// Check compares the plan's preconditions with the facts of now, the
// layout inspected again just before applying. It returns nil when every
// precondition holds, ErrRefused for a refused plan, and otherwise a
// *PreconditionError for the first that does not.
func (p *Plan) Check(now *recovery.Layout) error {
	if p.Refused {
		return ErrRefused
	}
	if now == nil {
		return &PreconditionError{Want: Precondition{Kind: PreDiskSize}, Found: "no layout"}
	}
	moved := slices.ContainsFunc(p.Preconditions, func(c Precondition) bool { return c.Kind == PreReAgentOffset })
	got := factsOf(now, p.touched, moved)
	for i, want := range p.Preconditions {
		if i >= len(got) || got[i] != want {
			found := "missing"
			for _, g := range got {
				if g.Kind == want.Kind && g.Partition == want.Partition {
					found = g.Value
					break
				}
			}
			return &PreconditionError{Want: want, Found: found}
		}
	}
	return nil
}

// Verify compares a disk inspected after applying p with what p said it
// would become: every partition's extent, type, unique GUID and attributes,
// a disk without error-level problems, and WinRE at its planned place with
// the free space the plan's policy asked for. Check runs before applying,
// Verify after; it returns an error wrapping ErrVerify listing every
// difference.
func (p *Plan) Verify(after *recovery.Layout) error {
	if after == nil {
		return fmt.Errorf("%w: no layout", ErrVerify)
	}
	var diffs []string
	want := map[int]recovery.Partition{}
	for _, q := range p.After {
		want[q.Number] = q
	}
	got := map[int]bool{}
	for _, q := range after.Partitions {
		got[q.Number] = true
		w, ok := want[q.Number]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("partition %d exists but the plan has none", q.Number))
			continue
		}
		if q.StartLBA != w.StartLBA || q.EndLBA != w.EndLBA {
			diffs = append(diffs, fmt.Sprintf("partition %d spans LBA %d-%d, planned %d-%d", q.Number, q.StartLBA, q.EndLBA, w.StartLBA, w.EndLBA))
		}
		if q.GPTType != w.GPTType || q.MBRType != w.MBRType || q.UniqueGUID != w.UniqueGUID || q.Attributes != w.Attributes {
			diffs = append(diffs, fmt.Sprintf("partition %d has type %s/%s guid %s attributes %s, planned %s/%s %s %s",
				q.Number, q.GPTType, q.MBRType, q.UniqueGUID, q.Attributes, w.GPTType, w.MBRType, w.UniqueGUID, w.Attributes))
		}
	}
	for n := range want {
		if !got[n] {
			diffs = append(diffs, fmt.Sprintf("partition %d is missing", n))
		}
	}
	for _, pr := range after.Problems {
		if pr.Severity == diag.Error {
			diffs = append(diffs, fmt.Sprintf("problem %s: %s", pr.Code, pr.Message))
		}
	}
	// The free space the plan promised, under the policy it was made with
	// (a caller's smaller minimum included).
	if w := after.WinRE; w == nil || w.Partition != p.WinRE.Partition || w.FreeBytes < p.WinRE.RequiredFreeBytes {
		diffs = append(diffs, fmt.Sprintf("WinRE after applying: %v; the plan promised partition %d with %d bytes free", w, p.WinRE.Partition, p.WinRE.RequiredFreeBytes))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrVerify, strings.Join(diffs, "\n  "))
	}
	return nil
}

// about is the About of a step, from a format.
func about(format string, args ...any) About { return About{Text: fmt.Sprintf(format, args...)} }
