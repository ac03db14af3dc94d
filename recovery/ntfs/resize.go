package ntfs

import "github.com/winrepart/winrepart/diag"

// ResizeOptions tunes PlanShrink and PlanGrow. Start from
// DefaultResizeOptions.
type ResizeOptions struct {
	// SetDirty sets the dirty flag in $Volume (and its $MFTMirr copy) so
	// Windows runs chkdsk at the next boot, as ntfsresize does.
	SetDirty bool
	// AllowDirty resizes a volume that is already marked dirty.
	AllowDirty bool
	// ResetLogFile fills $LogFile with 0xFF bytes, as ntfsresize does.
	// The default keeps the log: resizing refuses any log that is not
	// clean, a clean log has nothing to replay and names no cluster past
	// the end, and leaving it avoids rewriting up to 64 MiB (and holding
	// it twice in the Write list); chkdsk, run because of the dirty flag,
	// checks the volume anyway.
	ResetLogFile bool
	// Relocate lets PlanShrinkRelocating move data out of the cut-off
	// tail instead of refusing (PlanShrink, which plans no copies,
	// ignores it).
	Relocate bool
}

// DefaultResizeOptions returns the recommended options: set the dirty
// flag, refuse dirty volumes, keep a clean $LogFile.
func DefaultResizeOptions() ResizeOptions { return ResizeOptions{SetDirty: true} }

// geometry is the size of a resized volume.
type geometry struct {
	totalSectors int64 // new TotalSectors
	clusters     int64 // new TotalClusters
	bitmapBytes  int64 // new $Bitmap data size
}

// newGeometry returns the geometry of the volume resized to fill a
// partition of newPartitionBytes bytes (its last sector the backup boot
// sector), or ErrBadSize when that partition holds fewer than 16 clusters.
func (v *Volume) newGeometry(newPartitionBytes int64) (geometry, error) {
	bps := int64(v.Boot.BytesPerSector)
	spc := v.clusterSize / bps
	var g geometry
	if newPartitionBytes < 2*bps {
		return g, errf(ErrBadSize, "partition of %d bytes", newPartitionBytes)
	}
	g.totalSectors = newPartitionBytes/bps - 1
	g.clusters = g.totalSectors / spc
	if g.clusters < 16 {
		return g, errf(ErrBadSize, "partition of %d bytes holds %d clusters", newPartitionBytes, g.clusters)
	}
	g.bitmapBytes = ((g.clusters+7)/8 + 7) &^ 7
	return g, nil
}

// PlanShrink plans shrinking the volume so that it fits a partition of
// newPartitionBytes bytes (the volume keeps its first byte; its last sector
// becomes the backup boot sector). Every cluster past the new end must be
// free: otherwise it returns a *ShrinkError. Nothing is written: the
// result is the list of writes, for ApplyWrites.
//
// The writes, in order: the dirty flag in $Volume and its $MFTMirr copy
// (unless opts.SetDirty is false); $LogFile filled with 0xFF (only with
// opts.ResetLogFile); the last bytes of $Bitmap, whose bits past the new
// last cluster are set; $Bitmap's data and initialized sizes (truncated to
// ceil(clusters/8) rounded up to 8 bytes, allocation kept); $BadClus:$Bad
// as one hole as long as the new volume; the sizes in $Bitmap's $FILE_NAME
// and its root directory entry; the backup boot sector at the new last
// sector; the primary boot sector's TotalSectors.
func (v *Volume) PlanShrink(newPartitionBytes int64, opts ResizeOptions) ([]diag.Write, error) {
	g, s, err := v.shrinkStart(newPartitionBytes, opts)
	if err != nil {
		return nil, err
	}
	return v.planShrinkChecked(s, g, newPartitionBytes, opts)
}

// shrinkStart is what every shrink checks first: the new geometry, that
// it is smaller than the volume, and the preflight refusals.
func (v *Volume) shrinkStart(newPartitionBytes int64, opts ResizeOptions) (geometry, *resizeFiles, error) {
	g, err := v.newGeometry(newPartitionBytes)
	if err != nil {
		return g, nil, err
	}
	if g.totalSectors >= int64(v.Boot.TotalSectors) || newPartitionBytes > v.size {
		return g, nil, errf(ErrBadSize, "%d bytes is not smaller than the volume (%d sectors of %d bytes)", newPartitionBytes, v.Boot.TotalSectors, v.Boot.BytesPerSector)
	}
	s, err := v.preflight(opts)
	return g, s, err
}

// planShrinkChecked is PlanShrink after its preflight.
func (v *Volume) planShrinkChecked(s *resizeFiles, g geometry, newPartitionBytes int64, opts ResizeOptions) ([]diag.Write, error) {
	// Only the cut-off tail of $Bitmap is read, in chunks; the new bitmap
	// differs from the old one only in its last bytes, whose bits past the
	// new end are set.
	tc := v.TotalClusters()
	st, err := v.bitmap()
	if err != nil {
		return nil, err
	}
	inUse, err := countSet(st, g.clusters, tc)
	if err != nil {
		return nil, err
	}
	if inUse > 0 {
		min, err := v.ShrinkLimit()
		if err != nil {
			return nil, err
		}
		return nil, &ShrinkError{NewBytes: newPartitionBytes, InUseClusters: inUse, MinBytes: min}
	}
	from := g.clusters / 8
	nb := make([]byte, g.bitmapBytes-from)
	if n := min(g.bitmapBytes, (tc+7)/8) - from; n > 0 {
		if err := readFull(st, nb[:n], from); err != nil {
			return nil, err
		}
	}
	for c := g.clusters; c < g.bitmapBytes*8; c++ {
		setBit(nb, c-from*8)
	}
	r := &resizer{v: v, sys: s, g: g, opts: opts}
	return r.plan(bitmapEdit{tail: nb, base: from, from: from, runs: s.bmAttr.Runs, alloc: s.bmAttr.AllocatedSize})
}

// PlanGrow plans growing the volume to fill a partition of
// newPartitionBytes bytes. The volume must have been opened on the
// enlarged partition (Size at least newPartitionBytes), whose new space
// follows the volume. $Bitmap grows to cover the new clusters; when its
// allocation is too small, free clusters are allocated for it (right after
// its last run when those are free, otherwise the first free ones), marked
// in use in the bitmap itself, and appended to its runlist. The other
// writes are those of PlanShrink.
func (v *Volume) PlanGrow(newPartitionBytes int64, opts ResizeOptions) ([]diag.Write, error) {
	g, err := v.newGeometry(newPartitionBytes)
	if err != nil {
		return nil, err
	}
	if g.totalSectors <= int64(v.Boot.TotalSectors) || newPartitionBytes > v.size {
		return nil, errf(ErrBadSize, "%d bytes is not larger than the volume (%d sectors of %d bytes) or exceeds the %d-byte partition opened", newPartitionBytes, v.Boot.TotalSectors, v.Boot.BytesPerSector, v.size)
	}
	if g.clusters > maxBitmapLoad*8 {
		return nil, errf(ErrBadSize, "%d clusters", g.clusters)
	}
	s, err := v.preflight(opts)
	if err != nil {
		return nil, err
	}
	tc := v.TotalClusters()
	bm, err := v.loadBitmap()
	if err != nil {
		return nil, err
	}
	nb := make([]byte, g.bitmapBytes)
	copy(nb, bm)
	for c := tc; c < min(int64(len(bm))*8, g.clusters); c++ {
		clearBit(nb, c) // bits past the old end may be set
	}
	for c := g.clusters; c < g.bitmapBytes*8; c++ {
		setBit(nb, c)
	}
	runs := append([]Run(nil), s.bmAttr.Runs...)
	alloc := s.bmAttr.AllocatedSize
	var fresh []Run
	if need := (g.bitmapBytes+v.clusterSize-1)/v.clusterSize - alloc/v.clusterSize; need > 0 {
		r, err := allocateRun(nb, g.clusters, runs, need)
		if err != nil {
			return nil, err
		}
		r.VCN = alloc / v.clusterSize
		fresh = append(fresh, r)
		if n := len(runs); n > 0 && !runs[n-1].Sparse && runs[n-1].LCN+runs[n-1].Length == r.LCN {
			runs[n-1].Length += r.Length
		} else {
			runs = append(runs, r)
		}
		alloc += need * v.clusterSize
	}
	r := &resizer{v: v, sys: s, g: g, opts: opts}
	return r.plan(bitmapEdit{tail: nb, base: 0, from: min(tc, g.clusters) / 8, runs: runs, alloc: alloc, fresh: fresh})
}

// allocateRun finds need free clusters below limit in nb, contiguous,
// preferring those right after the last run, marks them used and returns
// them as a run.
func allocateRun(nb []byte, limit int64, runs []Run, need int64) (Run, error) {
	free := func(lcn int64) bool {
		if lcn < 0 || lcn+need > limit {
			return false
		}
		for c := lcn; c < lcn+need; c++ {
			if bitSet(nb, c) {
				return false
			}
		}
		return true
	}
	lcn := int64(-1)
	if n := len(runs); n > 0 && !runs[n-1].Sparse && free(runs[n-1].LCN+runs[n-1].Length) {
		lcn = runs[n-1].LCN + runs[n-1].Length
	}
	for c, streak := int64(0), int64(0); lcn < 0 && c < limit; c++ {
		if bitSet(nb, c) {
			streak = 0
			continue
		}
		if streak++; streak == need {
			lcn = c - need + 1
		}
	}
	if lcn < 0 {
		return Run{}, errf(ErrNoSpace, "%d contiguous free clusters for $Bitmap", need)
	}
	for c := lcn; c < lcn+need; c++ {
		setBit(nb, c)
	}
	return Run{LCN: lcn, Length: need}, nil
}
