package winrepart

import (
	"errors"
	"fmt"
	"io"

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
	sp, err := planOSShrink(v, q, newPartitionBytes, ApplyOptions{})
	if err != nil {
		return planner.Relocation{}, err
	}
	return planner.Relocation{MovedBytes: sp.MovedBytes, MovedFiles: sp.MovedFiles}, nil
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
	opts := resizeOptions(q, o)
	opts.Relocate = true
	return v.PlanShrinkRelocating(newPartitionBytes, opts)
}
