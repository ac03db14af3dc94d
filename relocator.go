package winrepart

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"

	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// NewRelocator returns the [planner.Relocator] of the disk r, inspected as
// l: it answers the planner by planning the relocating shrink of C: with
// the function and options Apply uses (planOSShrink), so a plan that
// moves data out of C:'s tail is one Apply can carry out as long as the
// disk does not change. It only reads r. Pass it in
// planner.Options.Relocator:
//
//	p := planner.New(l, planner.Options{Relocator: winrepart.NewRelocator(dev, l)})
//
// Each answer reads C:'s $Bitmap and MFT; the planner asks once, and only
// when C:'s cut-off tail is in use.
func NewRelocator(r io.ReaderAt, l *recovery.Layout) planner.Relocator {
	return &relocator{r: r, l: l}
}

type relocator struct {
	r io.ReaderAt
	l *recovery.Layout
}

// Relocation implements planner.Relocator.
func (x *relocator) Relocation(os *recovery.Partition, newPartitionBytes int64) (planner.Relocation, error) {
	if x.l == nil || os == nil {
		return planner.Relocation{}, errors.New("winrepart: relocator without a layout")
	}
	q := x.l.Partition(os.Number)
	if q == nil {
		return planner.Relocation{}, fmt.Errorf("winrepart: no partition %d", os.Number)
	}
	start := q.StartBytes(x.l.SectorSize)
	v, err := ntfs.Open(section(x.r, start, q.SizeBytes), q.SizeBytes)
	if err != nil {
		return planner.Relocation{}, err
	}
	opts := relocateOptions(q, ApplyOptions{})
	sp, err := v.PlanShrinkRelocating(newPartitionBytes, opts)
	if err != nil {
		return planner.Relocation{}, err
	}
	return planner.Relocation{MovedBytes: sp.MovedBytes, MovedFiles: sp.MovedFiles,
		Prepared: newPreparedShrink(x.r, start, q.SizeBytes, newPartitionBytes, opts, sp)}, nil
}

// preparedShrink is the relocating shrink a relocator planned, kept in
// the plan's step so that Apply need not plan it again: on a disk of a
// few hundred thousand files that is most of an apply's time. It holds
// for the reader it was planned on (the very same value), at the same
// place, size and options, and only while nothing before the shrink in
// the apply has changed the volume; Apply plans anew otherwise. The
// disk itself is checked as for a fresh plan: every write's old bytes
// are compared with the disk before the first write. It is used once:
// the apply takes it, so the caller's plan does not keep its writes in
// memory for the length of the run (a second apply plans anew).
type preparedShrink struct {
	r                      io.ReaderAt
	offset, size, newBytes int64
	opts                   ntfs.ResizeOptions
	plan                   atomic.Pointer[ntfs.ShrinkPlan]
}

func newPreparedShrink(r io.ReaderAt, offset, size, newBytes int64, opts ntfs.ResizeOptions, sp *ntfs.ShrinkPlan) *preparedShrink {
	ps := &preparedShrink{r: r, offset: offset, size: size, newBytes: newBytes, opts: opts}
	ps.plan.Store(sp)
	return ps
}

// sameReader reports whether a and b are the same reader value.
func sameReader(a, b io.ReaderAt) bool {
	if a == nil || b == nil {
		return false
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// resizeOptions are the NTFS options Apply resizes the volume of q with:
// the defaults, the dirty flag set unless o.KeepClean, and a volume
// already dirty allowed when the plan accepted it (the planner refuses
// dirty volumes unless told otherwise).
func resizeOptions(q *recovery.Partition, o ApplyOptions) ntfs.ResizeOptions {
	opts := ntfs.DefaultResizeOptions()
	opts.SetDirty = !o.KeepClean
	opts.AllowDirty = q.FS != nil && q.FS.Dirty
	return opts
}

// planOSShrink plans the shrink of C: (volume v, partition q) to fit a
// partition of newPartitionBytes, moving data out of its cut-off tail.
// Apply and the Relocator both call it, which is what keeps the plan and
// the apply in agreement.
func planOSShrink(v *ntfs.Volume, q *recovery.Partition, newPartitionBytes int64, o ApplyOptions) (*ntfs.ShrinkPlan, error) {
	return v.PlanShrinkRelocating(newPartitionBytes, relocateOptions(q, o))
}

// relocateOptions are resizeOptions with relocation.
func relocateOptions(q *recovery.Partition, o ApplyOptions) ntfs.ResizeOptions {
	opts := resizeOptions(q, o)
	opts.Relocate = true
	return opts
}
