package planner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// Relocation is what shrinking C: takes when clusters past its new end
// are in use: their data is copied into free clusters before the new end
// and the files' runlists are switched to the copies.
type Relocation struct {
	// MovedBytes is the number of bytes copied (whole clusters).
	MovedBytes int64
	// MovedFiles is the number of files (MFT records) whose clusters move.
	MovedFiles int
	// Prepared is what the Relocator wants its executor to reuse, such as
	// the relocation it planned to answer: the planner passes it on in
	// [ShrinkFilesystem.Prepared] and never looks at it. It is not part
	// of a plan's JSON.
	Prepared any
}

// Relocator answers, for the planner, whether the NTFS volume on C: can
// be shrunk to fit a partition of newPartitionBytes by moving the data in
// its cut-off tail, and what that moves. It is the planner's only view of
// the disk beyond the [recovery.Layout]: the planner itself does no I/O,
// and with a nil Relocator it refuses a shrink of C: past its last used
// cluster (os-tail-in-use), as it did before relocation existed.
//
// An implementation must answer exactly as the executor will plan the
// shrink, so that a plan that relocates never fails to apply on an
// unchanged disk: winrepart.NewRelocator plans the relocating shrink with
// the executor's own function and options. On refusal it returns an error;
// a *[ntfs.RelocateError] (the files that cannot move, or too little free
// space, and the smallest size reachable) is reported in the refusal.
type Relocator interface {
	Relocation(os *recovery.Partition, newPartitionBytes int64) (Relocation, error)
}

// relocate asks the Relocator about a shrink of C: to osNewEnd whose tail
// is in use. It returns the relocation, or refuses the plan and returns
// false.
func (pl *planner) relocate(osNewEnd, shrink, inUse int64) (*Relocation, bool) {
	p, os := pl.p, pl.os
	f := os.FS
	noMove := fmt.Sprintf("C: must shrink by %s but %s of that tail is in use; the largest shrink possible without moving data is %s",
		mib(shrink), mibUp(inUse), mib(max(f.ShrinkableBytes, 0)))
	const sugg = "defragment C: in Windows (or shrink it with Disk Management, which moves data), or run the Windows-side script, then plan again"
	switch {
	case pl.o.NoRelocate:
		p.refuse(CodeOSTailInUse, noMove+" (moving data was turned off)", "plan again allowing data to be moved, or "+sugg)
		return nil, false
	case pl.o.Relocator == nil:
		p.refuse(CodeOSTailInUse, noMove+" (the plan was made without reading the disk, which moving data needs)", "plan with a relocator reading the disk, or "+sugg)
		return nil, false
	}
	newPart := osNewEnd - os.StartBytes(pl.l.SectorSize)
	r, err := pl.o.Relocator.Relocation(os, newPart)
	if err == nil {
		if r.MovedBytes < 0 || r.MovedFiles < 0 {
			p.refuse(CodeOSTailInUse, fmt.Sprintf("the relocator answered %d bytes of %d files", r.MovedBytes, r.MovedFiles), "")
			return nil, false
		}
		return &r, true
	}
	var re *ntfs.RelocateError
	if errors.As(err, &re) {
		largest := max(os.SizeBytes-re.MinBytes, 0)
		var why string
		if errors.Is(re.Err, ntfs.ErrNoSpace) {
			why = fmt.Sprintf("%s is in use past the new end and only %s is free before it",
				mibUp(re.NeedClusters*max(f.ClusterSize, 1)), mib(re.FreeClusters*max(f.ClusterSize, 1)))
		} else {
			var names []string
			for i, u := range re.Files {
				if i == 3 {
					names = append(names, fmt.Sprintf("and %d more", len(re.Files)-3+re.More))
					break
				}
				names = append(names, u.String())
			}
			why = "cannot move " + strings.Join(names, "; ")
		}
		p.refuse(CodeOSTailInUse, fmt.Sprintf("C: must shrink by %s but %s of that tail is in use and moving it fails: %s; the largest shrink possible moving data is %s (without moving data %s)",
			mib(shrink), mibUp(inUse), why, mib(largest), mib(max(f.ShrinkableBytes, 0))), sugg)
		return nil, false
	}
	p.refuse(CodeOSTailInUse, fmt.Sprintf("C: must shrink by %s but %s of that tail is in use, and moving it cannot be planned: %v", mib(shrink), mibUp(inUse), err), sugg)
	return nil, false
}
