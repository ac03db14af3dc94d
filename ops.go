package winrepart

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
	"github.com/winrepart/winrepart/winre/bcd"
)

// extentGap is the largest run of free clusters a copy skips: shorter gaps
// are copied along with their neighbours, which costs less than another
// seek and keeps the extent list short.
const extentGap = 1 << 20

// builder turns a plan's steps into journal operations. It plans each
// step's writes on an overlay of the device that already holds the steps
// before it, reading the device but never writing it.
type builder struct {
	l   *recovery.Layout
	p   *planner.Plan
	ss  int64
	ov  *overlay
	ops []journal.Op
	ao  ApplyOptions
}

// buildOps reads the disk through r (never writing it) and returns the
// journal operations that carry out p on the disk inspected as l.
func buildOps(r io.ReaderAt, l *recovery.Layout, p *planner.Plan, o ApplyOptions) ([]journal.Op, error) {
	b := &builder{l: l, p: p, ss: int64(l.SectorSize), ov: &overlay{base: r}, ao: o}
	for _, s := range p.Steps {
		if err := b.step(s); err != nil {
			return nil, fmt.Errorf("winrepart: preparing step %s: %w", s.Kind(), err)
		}
	}
	return b.ops, nil
}

func (b *builder) barrier(what string) { b.ops = append(b.ops, journal.Barrier{What: what}) }

// add journals writes planned on the volume that starts at base.
func (b *builder) add(base int64, ws []diag.Write) error {
	for _, w := range ws {
		w.Offset += base
		if err := b.write(w); err != nil {
			return err
		}
	}
	return nil
}

// write journals one write, unless it would leave the bytes as they are
// (a table piece that did not change, say): a write that changes nothing
// is work, and a region whose old and new bytes agree says nothing about
// how far a crashed run got.
func (b *builder) write(w diag.Write) error { return b.writeFrom(w, false) }

// errOldDiffers is writeFrom's: the bytes a write replaces are not its Old.
var errOldDiffers = errors.New("winrepart: the bytes to replace are not those planned")

// writeFrom is write; with checkOld, the bytes there must first be w.Old
// (errOldDiffers otherwise): w was planned on the disk as it was before.
func (b *builder) writeFrom(w diag.Write, checkOld bool) error {
	cur := make([]byte, len(w.New))
	if _, err := b.ov.ReadAt(cur, w.Offset); err != nil {
		return err
	}
	if checkOld && !bytes.Equal(cur, w.Old) {
		return errOldDiffers
	}
	if bytes.Equal(cur, w.New) {
		return nil
	}
	b.ov.write(w.Offset, w.New)
	b.ops = append(b.ops, journal.Write(w))
	return nil
}

// volume opens the NTFS volume at byte off, in a partition of size bytes,
// as the overlay shows it.
func (b *builder) volume(off, size int64) (*ntfs.Volume, error) {
	return ntfs.Open(section(b.ov, off, size), size)
}

func (b *builder) partition(n int) (*recovery.Partition, error) {
	q := b.l.Partition(n)
	if q == nil {
		return nil, fmt.Errorf("no partition %d", n)
	}
	return q, nil
}

// resizeOpts are the NTFS options of q's volume (see resizeOptions).
func (b *builder) resizeOpts(q *recovery.Partition) ntfs.ResizeOptions {
	return resizeOptions(q, b.ao)
}

func (b *builder) step(s planner.Step) error {
	switch s := s.(type) {
	case planner.TableEdit:
		// Committed by the write-table step, whose table is their result.
		return nil
	case planner.ShrinkFilesystem:
		return b.shrinkFilesystem(s)
	case planner.FixHiddenSectors:
		return b.fixHiddenSectors(s)
	case planner.GrowFilesystem:
		return b.growFilesystem(s)
	case planner.CopyData:
		return b.copyData(s)
	case planner.WriteTable:
		return b.writeTable(s)
	case planner.PatchReAgent:
		return b.patchReAgent(s)
	case planner.PatchBCD:
		return b.patchBCD(s)
	}
	// Unreachable while planner's step set is closed and covered above.
	return fmt.Errorf("%w: %s (%s)", ErrUnsupportedStep, s.Kind(), s.Detail())
}

// copyData moves the used clusters of a partition's volume.
func (b *builder) copyData(s planner.CopyData) error {
	q, err := b.partition(s.Partition)
	if err != nil {
		return err
	}
	v, err := b.volume(s.From, q.SizeBytes)
	if err != nil {
		return err
	}
	ext, err := usedExtents(v, s.SizeBytes)
	if err != nil {
		return err
	}
	b.ops = append(b.ops, journal.Copy{Src: s.From, Dst: s.Offset, Length: s.SizeBytes, Extents: ext,
		What: fmt.Sprintf("move partition %d's used clusters from byte %d to %d", s.Partition, s.From, s.Offset)})
	b.ov.copy(s.From, s.Offset, s.SizeBytes)
	b.barrier("WinRE data copied")
	return nil
}

// The NTFS steps (shrinking C:, fixing the hidden sectors of the moved
// WinRE volume, growing it) each open the volume where the step finds it
// (its Offset) on the overlay, so they see the steps before them.

// shrinkFilesystem shrinks C:'s volume to s.SizeBytes (the partition less
// one sector). Data in the cut-off tail is moved first: copies into free
// clusters, a barrier, then the metadata writes (which switch to the
// copies).
func (b *builder) shrinkFilesystem(s planner.ShrinkFilesystem) error {
	q, err := b.partition(s.Partition)
	if err != nil {
		return err
	}
	v, err := b.volume(s.Offset, q.SizeBytes)
	if err != nil {
		return err
	}
	// planOSShrink is what the planner's Relocator asked, so on an
	// unchanged disk it moves what the plan says it moves; the relocator's
	// own answer is reused when it holds here.
	sp, err := b.preparedShrink(s, q)
	prepared := sp != nil
	if sp == nil && err == nil {
		sp, err = planOSShrink(v, q, s.SizeBytes+b.ss, b.ao)
	}
	if err != nil {
		if s.MovedBytes == 0 && errors.Is(err, ntfs.ErrTailInUse) {
			return fmt.Errorf("%w: C:'s tail is in use where the plan found it free: %w", ErrChanged, err)
		}
		return err
	}
	if sp.MovedBytes != s.MovedBytes || sp.MovedFiles != s.MovedFiles {
		return fmt.Errorf("%w: the plan moves %d bytes of %d files out of C:'s tail, the disk now needs %d bytes of %d files",
			ErrChanged, s.MovedBytes, s.MovedFiles, sp.MovedBytes, sp.MovedFiles)
	}
	if err := b.relocationCopies(s.Offset, v.ClusterSize(), sp.Copies); err != nil {
		return err
	}
	// A prepared plan was made before this apply read the disk: every
	// byte it changes must still hold what it held then (after the
	// copies). The journal only snapshots the disk as it is now.
	for _, w := range sp.Writes {
		at := w.Offset
		w.Offset += s.Offset
		if err := b.writeFrom(w, prepared); errors.Is(err, errOldDiffers) {
			return fmt.Errorf("%w: C:'s volume changed since the relocation was planned: the bytes of %s at byte %d differ", ErrChanged, w.What, at)
		} else if err != nil {
			return err
		}
	}
	b.barrier(string(s.Kind()) + " done")
	return nil
}

// preparedShrink returns the relocation the planner's Relocator planned
// for step s when it holds for this apply (see preparedShrink), or nil.
func (b *builder) preparedShrink(s planner.ShrinkFilesystem, q *recovery.Partition) (*ntfs.ShrinkPlan, error) {
	ps, ok := s.Prepared.(*preparedShrink)
	if !ok || ps == nil || !sameReader(ps.r, b.ov.base) || ps.offset != s.Offset || ps.size != q.SizeBytes ||
		ps.newBytes != s.SizeBytes+b.ss || ps.opts != relocateOptions(q, b.ao) {
		return nil, nil
	}
	lo, hi := s.Offset, s.Offset+q.SizeBytes
	for _, o := range b.ops {
		switch o := o.(type) {
		case journal.Write:
			if o.Offset < hi && o.Offset+int64(len(o.New)) > lo {
				return nil, nil
			}
		case journal.Copy:
			if o.Dst < hi && o.Dst+o.Length > lo {
				return nil, nil
			}
		}
	}
	return ps.plan.Swap(nil), nil
}

// fixHiddenSectors writes the moved volume's new start into its boot
// sectors.
func (b *builder) fixHiddenSectors(s planner.FixHiddenSectors) error {
	q, err := b.partition(s.Partition)
	if err != nil {
		return err
	}
	v, err := b.volume(s.Offset, q.SizeBytes)
	if err != nil {
		return err
	}
	ws, err := v.PlanHiddenSectors(s.HiddenSectors)
	if err != nil {
		return err
	}
	return b.add(s.Offset, ws)
}

// growFilesystem grows the WinRE volume to fill its partition as it will
// be (s.SizeBytes plus the backup boot sector).
func (b *builder) growFilesystem(s planner.GrowFilesystem) error {
	q, err := b.partition(s.Partition)
	if err != nil {
		return err
	}
	size := s.SizeBytes + b.ss
	v, err := b.volume(s.Offset, size)
	if err != nil {
		return err
	}
	ws, err := v.PlanGrow(size, b.resizeOpts(q))
	if err != nil {
		return err
	}
	if err := b.add(s.Offset, ws); err != nil {
		return err
	}
	b.barrier(string(s.Kind()) + " done")
	return nil
}

// relocationCopies journals the data copies of a relocating shrink of the
// volume at base. Copies that move data by the same distance become one
// journal Copy with extents, as long as its source and destination spans
// stay apart (a non-overlapping copy can be rolled back); a Barrier
// follows, so every copy is on disk before a record points at it.
func (b *builder) relocationCopies(base, clusterSize int64, copies []ntfs.DataCopy) error {
	if len(copies) == 0 {
		return nil
	}
	if clusterSize%b.ss != 0 || base%b.ss != 0 {
		return fmt.Errorf("clusters of %d bytes at byte %d are not whole %d-byte sectors", clusterSize, base, b.ss)
	}
	cs := slices.Clone(copies)
	slices.SortFunc(cs, func(x, y ntfs.DataCopy) int {
		if c := cmp.Compare(x.Dst-x.Src, y.Dst-y.Src); c != 0 {
			return c
		}
		return cmp.Compare(x.Src, y.Src)
	})
	var ops []journal.Copy
	var total int64
	for _, c := range cs {
		total += c.Length
		d := c.Dst - c.Src
		if n := len(ops); n > 0 {
			last := &ops[n-1]
			span := base + c.Src + c.Length - last.Src
			if last.Dst-last.Src == d && span <= max(d, -d) && len(last.Extents) < journal.MaxExtents {
				last.Extents = append(last.Extents, journal.Extent{Offset: base + c.Src - last.Src, Length: c.Length})
				last.Length = span
				continue
			}
		}
		ops = append(ops, journal.Copy{Src: base + c.Src, Dst: base + c.Dst, Length: c.Length,
			Extents: []journal.Extent{{Offset: 0, Length: c.Length}}})
	}
	if len(b.ops)+len(ops) > journal.MaxOps/2 {
		return fmt.Errorf("relocation needs %d copies, more than the journal holds with the rest of the plan", len(ops))
	}
	for i := range ops {
		o := &ops[i]
		o.What = fmt.Sprintf("relocate %d bytes out of the cut-off tail (copy %d of %d)", o.Length, i+1, len(ops))
		b.ops = append(b.ops, *o)
		for _, e := range o.Extents {
			b.ov.copy(o.Src+e.Offset, o.Dst+e.Offset, e.Length)
		}
	}
	b.barrier(fmt.Sprintf("relocated %d bytes in %d copies", total, len(ops)))
	return nil
}

// hybridMBR keeps a hybrid MBR in step with the GPT: gpt.Table.Writes
// leaves a hybrid MBR alone, but an entry that mirrors a partition the plan
// moves or resizes must follow it, or the MBR side would point at the old
// extent (sgdisk and gdisk report it as a mismatch, and a BIOS-booting OS
// would read stale geometry). Entries are matched by their old extent.
func (b *builder) hybridMBR(s planner.WriteTable) (diag.Write, bool, error) {
	rec := s.GPT.ProtectiveMBR
	if rec == nil || rec.Kind() != mbr.KindHybrid {
		return diag.Write{}, false, nil
	}
	after := map[int]recovery.Partition{}
	for _, q := range b.p.After {
		after[q.Number] = q
	}
	neu := *rec
	changed := false
	for i, e := range neu.Entries {
		if e.IsEmpty() || e.Type == mbr.TypeGPTProtective {
			continue
		}
		for _, q := range b.p.Before {
			if uint64(e.StartLBA) != q.StartLBA || uint64(e.Sectors) != q.EndLBA-q.StartLBA+1 {
				continue
			}
			a, ok := after[q.Number]
			if !ok || a.StartLBA != q.StartLBA || a.EndLBA != q.EndLBA {
				if !ok || a.EndLBA >= 1<<32 {
					return diag.Write{}, false, fmt.Errorf("hybrid MBR entry %d mirrors partition %d, which the plan removes or moves beyond 2 TiB", i+1, q.Number)
				}
				e.StartLBA, e.Sectors = uint32(a.StartLBA), uint32(a.EndLBA-a.StartLBA+1)
				e.FirstCHS, e.LastCHS = mbr.CHSFromLBA(a.StartLBA), mbr.CHSFromLBA(a.EndLBA)
				neu.Entries[i] = e
				changed = true
			}
			break
		}
	}
	if !changed {
		return diag.Write{}, false, nil
	}
	data, err := neu.MarshalBinary()
	if err != nil {
		return diag.Write{}, false, err
	}
	return diag.Write{Offset: 0, New: data, What: "hybrid MBR (LBA 0), entries following the GPT"}, true, nil
}

// writeTable journals the new table in the order its package gives (UEFI
// order for GPT: backup array, backup header, primary array, primary
// header, protective MBR), with a flush after each piece.
func (b *builder) writeTable(s planner.WriteTable) error {
	var pieces []diag.Write
	var err error
	switch {
	case s.GPT != nil:
		pieces, err = s.GPT.Writes()
	case s.MBR != nil:
		pieces, err = s.MBR.Writes()
	default:
		return errors.New("write-table step without a table")
	}
	if err != nil {
		return err
	}
	if s.GPT != nil {
		if w, ok, err := b.hybridMBR(s); err != nil {
			return err
		} else if ok {
			pieces = append(pieces, w)
		}
	}
	for _, w := range pieces {
		n := len(b.ops)
		if err := b.write(w); err != nil {
			return err
		}
		if len(b.ops) > n {
			b.barrier("after " + w.What)
		}
	}
	return nil
}

// patchReAgent rewrites WinreLocation's offset in ReAgent.xml on C: and
// clears a stale ImageLocation while at it. The new text comes from
// recovery.ReAgentFile.Patch, the check the planner ran on what Inspect
// read: only the values change and the file takes its new length when it
// can, otherwise it keeps its length (see winre.PatchLocationCompact).
func (b *builder) patchReAgent(s planner.PatchReAgent) error {
	q, err := b.partition(s.Partition)
	if err != nil {
		return err
	}
	start := q.StartBytes(b.l.SectorSize)
	v, err := b.volume(start, q.SizeBytes)
	if err != nil {
		return err
	}
	f, err := recovery.ReadReAgentFile(v, s.Path)
	if err != nil {
		return err
	}
	ra, err := winre.ParseReAgent(f.Content)
	if err != nil {
		return err
	}
	if ra.WinreLocation.Offset != uint64(s.From) {
		return fmt.Errorf("%w: ReAgent.xml's offset is %d, the plan expected %d", ErrChanged, ra.WinreLocation.Offset, s.From)
	}
	patched, err := f.Patch(uint64(s.Offset))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReAgentPatch, err)
	}
	ws, err := v.PlanRewriteFile(s.Path, patched)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReAgentPatch, err)
	}
	if err := b.add(start, ws); err != nil {
		return err
	}
	b.barrier("ReAgent.xml patched")
	return nil
}

// patchBCD changes WinRE's partition offset in the BCD store (\Boot\BCD
// on the partition Inspect found it on) from s.From to s.Offset: only the
// 8-byte offset fields of the WinRE loader's device and osdevice and of its
// ramdisk options' SDI device, at the file's length, so no cell of the
// hive moves and its base block is left alone. The store must be clean
// (equal sequence numbers) and each of those elements must name this
// disk's signature and the old offset.
func (b *builder) patchBCD(s planner.PatchBCD) error {
	if err := b.l.PatchableForMove(); err != nil {
		return fmt.Errorf("%w: %s (%v)", ErrUnsupportedStep, s.Kind(), err)
	}
	q, err := b.partition(b.l.BCD.Partition)
	if err != nil {
		return err
	}
	start := q.StartBytes(b.l.SectorSize)
	v, err := b.volume(start, q.SizeBytes)
	if err != nil {
		return err
	}
	path := b.l.BCD.Path
	raw, err := v.ReadFile(path, bcd.MaxHiveSize)
	if err != nil {
		return err
	}
	st, err := bcd.Read(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChanged, err)
	}
	ws, err := st.PlanMBRMove(b.l.DiskSignature, uint64(s.From), uint64(s.Offset))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChanged, err)
	}
	patched := bytes.Clone(raw)
	for _, w := range ws {
		copy(patched[w.Offset:], w.New)
	}
	fws, err := v.PlanPatchFile(path, patched)
	if err != nil {
		return err
	}
	for _, w := range fws {
		if err := b.changed(start+w.Offset, w.New, w.What); err != nil {
			return err
		}
	}
	b.barrier("BCD patched")
	return nil
}

// changed journals only the runs of data that differ from what the overlay
// holds at off (runs less than 16 bytes apart are merged), so that a
// rewrite of a whole cluster journals the bytes it changes.
func (b *builder) changed(off int64, data []byte, what string) error {
	cur := make([]byte, len(data))
	if _, err := b.ov.ReadAt(cur, off); err != nil {
		return err
	}
	for i := 0; i < len(data); {
		if cur[i] == data[i] {
			i++
			continue
		}
		j, last := i, i
		for j < len(data) && j-last < 16 {
			if cur[j] != data[j] {
				last = j
			}
			j++
		}
		if err := b.write(diag.Write{Offset: off + int64(i), New: bytes.Clone(data[i : last+1]), What: what}); err != nil {
			return err
		}
		i = last + 1
	}
	return nil
}

// usedExtents lists the byte ranges of v's clusters that $Bitmap marks in
// use, merging runs separated by less than extentGap, clipped to limit
// bytes.
func usedExtents(v *ntfs.Volume, limit int64) ([]journal.Extent, error) {
	cs := v.ClusterSize()
	var ext []journal.Extent
	err := v.UsedRuns(func(first, count int64) error {
		off, end := first*cs, min((first+count)*cs, limit)
		if n := len(ext); n > 0 && off-(ext[n-1].Offset+ext[n-1].Length) < extentGap {
			ext[n-1].Length = end - ext[n-1].Offset
			return nil
		}
		ext = append(ext, journal.Extent{Offset: off, Length: end - off})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading $Bitmap: %w", err)
	}
	return ext, nil
}
