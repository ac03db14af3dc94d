package ntfs

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/winrepart/winrepart/diag"
)

// Errors of the write side. Refusals (a volume this package will not
// change) and invalid requests unwrap to one of these.
var (
	// ErrTailInUse means a shrink would cut off clusters in use (see
	// ShrinkError); moving data is not supported.
	ErrTailInUse = errors.New("ntfs: clusters past the new end are in use")
	// ErrDirty means the volume carries the dirty flag (chkdsk pending) and
	// ResizeOptions.AllowDirty was not set.
	ErrDirty = errors.New("ntfs: volume is marked dirty")
	// ErrHibernated means Windows hibernated (or Fast Startup left) the
	// volume: its state lives in hiberfil.sys and any change is lost or
	// corrupts it.
	ErrHibernated = errors.New("ntfs: volume is hibernated")
	// ErrLogFileNotClean means $LogFile holds transactions Windows must
	// replay first.
	ErrLogFileNotClean = errors.New("ntfs: $LogFile is not clean")
	// ErrVersion means the NTFS version is not 3.0 or 3.1 (see VersionError).
	ErrVersion = errors.New("ntfs: unsupported NTFS version")
	// ErrBadClusters means $BadClus records bad clusters (see BadClustersError).
	ErrBadClusters = errors.New("ntfs: bad clusters recorded in $BadClus")
	// ErrAccounting means the clusters the MFT records use disagree with
	// $Bitmap (see AccountingError).
	ErrAccounting = errors.New("ntfs: cluster accounting disagrees with $Bitmap")
	// ErrBadSize means a requested size or position is impossible.
	ErrBadSize = errors.New("ntfs: invalid size")
	// ErrNoSpace means there are not enough free clusters or record bytes.
	ErrNoSpace = errors.New("ntfs: no space")
	// ErrBadWrite means a Write list is malformed (lengths, overlaps).
	ErrBadWrite = errors.New("ntfs: malformed write list")
	// ErrStale means the volume no longer holds a Write's Old bytes.
	ErrStale = errors.New("ntfs: volume changed since the writes were planned")
)

// ShrinkError reports a shrink refused because clusters past the new end
// are in use.
type ShrinkError struct {
	NewBytes      int64 // partition size asked for
	InUseClusters int64 // clusters in use at or past the new last cluster
	MinBytes      int64 // smallest partition size possible without moving data
}

func (e *ShrinkError) Error() string {
	return fmt.Sprintf("ntfs: cannot shrink to %d bytes: %d clusters in use past the new end; the minimum without moving data is %d bytes", e.NewBytes, e.InUseClusters, e.MinBytes)
}

// Unwrap returns ErrTailInUse.
func (e *ShrinkError) Unwrap() error { return ErrTailInUse }

// VersionError reports an NTFS version this package does not modify.
type VersionError struct {
	Major, Minor uint8
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("ntfs: NTFS version %d.%d, only 3.0 and 3.1 are supported", e.Major, e.Minor)
}

// Unwrap returns ErrVersion.
func (e *VersionError) Unwrap() error { return ErrVersion }

// BadClustersError reports clusters listed in $BadClus:$Bad.
type BadClustersError struct {
	Clusters int64 // clusters mapped by $Bad (bad clusters)
}

func (e *BadClustersError) Error() string {
	return fmt.Sprintf("ntfs: $BadClus lists %d bad clusters", e.Clusters)
}

// Unwrap returns ErrBadClusters.
func (e *BadClustersError) Unwrap() error { return ErrBadClusters }

// AccountingError reports a cluster used by an MFT record but free in
// $Bitmap, or used by two records.
type AccountingError struct {
	Record uint64   // MFT record whose runlist uses the cluster
	Type   AttrType // attribute of that record
	LCN    int64    // the cluster
	Other  uint64   // for a doubly used cluster, the first record using it; NoRecord otherwise
}

func (e *AccountingError) Error() string {
	if e.Other != NoRecord {
		return fmt.Sprintf("ntfs: cluster %d used by record %d (%v) and record %d", e.LCN, e.Record, e.Type, e.Other)
	}
	return fmt.Sprintf("ntfs: cluster %d used by record %d (%v) is free in $Bitmap", e.LCN, e.Record, e.Type)
}

// Unwrap returns ErrAccounting.
func (e *AccountingError) Unwrap() error { return ErrAccounting }

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

// maxBitmapLoad bounds the $Bitmap held in memory while planning a resize:
// 512 MiB maps 4 G clusters (16 TiB with 4 KiB clusters).
const maxBitmapLoad = 512 << 20

// rsState is what a resize learns before planning.
type rsState struct {
	bmRec   *Record
	bmAttr  *Attribute
	badRec  *Record
	badAttr *Attribute
}

// rsPreflight refuses volumes that must not be changed offline, including
// those whose runlists disagree with $Bitmap.
func (v *Volume) rsPreflight(opts ResizeOptions) (*rsState, error) {
	major, minor, err := v.Version()
	if err != nil {
		return nil, err
	}
	if major != 3 || minor > 1 {
		return nil, &VersionError{Major: major, Minor: minor}
	}
	dirty, err := v.Dirty()
	if err != nil {
		return nil, err
	}
	if dirty && !opts.AllowDirty {
		return nil, errf(ErrDirty, "run chkdsk in Windows first, or allow dirty volumes")
	}
	hib, err := v.Hibernated()
	if err != nil {
		return nil, err
	}
	if hib {
		return nil, errf(ErrHibernated, "hiberfil.sys holds a hibernation image; shut Windows down fully (no Fast Startup)")
	}
	clean, err := v.LogFileClean()
	if err != nil {
		return nil, err
	}
	if !clean {
		return nil, errf(ErrLogFileNotClean, "boot Windows and shut it down cleanly first")
	}
	s := &rsState{}
	if s.bmRec, s.bmAttr, err = v.rsSingleExtent(RecordBitmap, ""); err != nil {
		return nil, err
	}
	if s.badRec, s.badAttr, err = v.rsSingleExtent(RecordBadClus, "$Bad"); err != nil {
		return nil, err
	}
	var bad int64
	for _, r := range s.badAttr.Runs {
		if !r.Sparse {
			bad += r.Length
		}
	}
	if bad > 0 {
		return nil, &BadClustersError{Clusters: bad}
	}
	if err := v.rsCheckAccounting(); err != nil {
		return nil, err
	}
	return s, nil
}

// rsSingleExtent returns the non-resident $DATA attribute (named name) of a
// system file, which must sit in its base record in one extent.
func (v *Volume) rsSingleExtent(n uint64, name string) (*Record, *Attribute, error) {
	rec, err := v.ReadRecord(n)
	if err != nil {
		return nil, nil, err
	}
	if rec.Find(AttrAttributeList, "") != nil {
		return nil, nil, &RecordError{Record: n, Err: errf(ErrUnsupported, "system file with an attribute list")}
	}
	a := rec.Find(AttrData, name)
	if a == nil || !a.NonResident || a.LowestVCN != 0 {
		return nil, nil, &RecordError{Record: n, Err: errf(ErrNoAttribute, "non-resident $DATA %q", name)}
	}
	if a.Flags&(AttrFlagCompressed|AttrFlagEncrypted) != 0 {
		return nil, nil, &RecordError{Record: n, Offset: a.Offset, Err: errf(ErrUnsupported, "$DATA flags %#x", a.Flags)}
	}
	return rec, a, nil
}

// rsLoadBitmap reads the bytes of $Bitmap that map the volume.
func (v *Volume) rsLoadBitmap() ([]byte, error) {
	st, err := v.bitmap()
	if err != nil {
		return nil, err
	}
	n := (v.TotalClusters() + 7) / 8
	if n > maxBitmapLoad {
		return nil, &RecordError{Record: RecordBitmap, Err: errf(ErrUnsupported, "$Bitmap of %d bytes exceeds the %d-byte limit", n, maxBitmapLoad)}
	}
	bm := make([]byte, n)
	if err := readFull(st, bm, 0); err != nil {
		return nil, err
	}
	return bm, nil
}

func bitSet(bm []byte, c int64) bool { return bm[c>>3]&(1<<(c&7)) != 0 }

// clusterSet is a set of clusters kept in pages of 32 Ki clusters that are
// allocated on first use, so the accounting check holds memory in
// proportion to the clusters files map, not to the volume size (a 4 TiB
// volume's full bitmap is 128 MiB).
type clusterSet struct {
	pages    map[int64]*[clusterSetPage]byte
	lastPage int64
	last     *[clusterSetPage]byte
}

const clusterSetPage = 4096 // bytes per page: 32 Ki clusters

func (s *clusterSet) page(c int64, create bool) *[clusterSetPage]byte {
	n := c >> 15
	if s.last != nil && s.lastPage == n {
		return s.last
	}
	pg := s.pages[n]
	if pg == nil && create {
		if s.pages == nil {
			s.pages = map[int64]*[clusterSetPage]byte{}
		}
		pg = new([clusterSetPage]byte)
		s.pages[n] = pg
	}
	if pg != nil {
		s.lastPage, s.last = n, pg
	}
	return pg
}

func (s *clusterSet) has(c int64) bool {
	pg := s.page(c, false)
	return pg != nil && pg[(c>>3)&(clusterSetPage-1)]&(1<<(c&7)) != 0
}

func (s *clusterSet) add(c int64) {
	pg := s.page(c, true)
	pg[(c>>3)&(clusterSetPage-1)] |= 1 << (c & 7)
}
func setBit(bm []byte, c int64)   { bm[c>>3] |= 1 << (c & 7) }
func clearBit(bm []byte, c int64) { bm[c>>3] &^= 1 << (c & 7) }

// rsCheckAccounting reads every MFT record and checks that each cluster
// the runlists of in-use records (base and extension records alike) map
// is inside the volume, marked in use in $Bitmap, and used only once.
// Clusters marked in use that no record maps (leaks) are allowed: chkdsk
// frees them, and a shrink refuses them in the cut-off tail anyway.
//
// Its memory follows the runs the files have, not the volume size: it
// collects the runs (24 bytes each, contiguous runs of one attribute
// merged), sorts them by cluster, finds double use between neighbours and
// streams $Bitmap once in cluster order to find clusters marked free.
// Only when the runs would take more memory than the volume's bitmap (a
// badly fragmented volume) does it fall back to holding the bitmap and a
// set of the clusters seen, as ntfsresize does.
func (v *Volume) rsCheckAccounting() error {
	tc := v.TotalClusters()
	limit := max(int64(minAccountingExtents), (tc+7)/8/int64(unsafe.Sizeof(extentRef{})))
	if maxAccountingExtents > 0 {
		limit = int64(maxAccountingExtents)
	}
	var ext []extentRef
	err := v.rsEachRun(func(n uint64, a *Attribute, r Run) error {
		if k := len(ext) - 1; k >= 0 && ext[k].rec() == n && ext[k].typ() == a.Type && ext[k].lcn+ext[k].n == r.LCN {
			ext[k].n += r.Length
			return nil
		}
		if int64(len(ext)) >= limit {
			return errTooManyExtents
		}
		ext = append(ext, newExtentRef(n, a.Type, r.LCN, r.Length))
		return nil
	})
	if err == errTooManyExtents {
		ext = nil
		return v.rsCheckAccountingBitmap()
	}
	if err != nil {
		return err
	}
	slices.SortFunc(ext, func(a, b extentRef) int {
		if c := cmp.Compare(a.lcn, b.lcn); c != 0 {
			return c
		}
		return cmp.Compare(a.rec(), b.rec())
	})
	// Double use: with the runs sorted by start, a run overlaps an earlier
	// one exactly when it starts before the furthest end so far.
	var far int64
	var farRef extentRef
	for i, e := range ext {
		if i > 0 && e.lcn < far {
			first, second := farRef, e
			if second.rec() < first.rec() {
				first, second = second, first
			}
			return &AccountingError{Record: second.rec(), Type: second.typ(), LCN: e.lcn, Other: first.rec()}
		}
		if end := e.lcn + e.n; end > far {
			far, farRef = end, e
		}
	}
	// Clusters marked free: one forward pass over $Bitmap.
	st, err := v.bitmap()
	if err != nil {
		return err
	}
	w := bitmapWindow{r: st, buf: make([]byte, scanChunk), lo: -1}
	for _, e := range ext {
		if c, err := w.firstClear(e.lcn, e.n); err != nil {
			return err
		} else if c >= 0 {
			return &AccountingError{Record: e.rec(), Type: e.typ(), LCN: c, Other: NoRecord}
		}
	}
	return nil
}

// Bounds of the run list of rsCheckAccounting: it always may hold
// minAccountingExtents runs; tests set maxAccountingExtents to force the
// bitmap fallback.
const minAccountingExtents = 1 << 16

var maxAccountingExtents = 0

var errTooManyExtents = errors.New("ntfs: too many runs to collect")

// extentRef is a run of clusters and the attribute of the record mapping
// it: the record number (48 bits) and the attribute type (16 bits) share
// one word.
type extentRef struct {
	lcn, n int64
	ref    uint64
}

func newExtentRef(rec uint64, t AttrType, lcn, n int64) extentRef {
	return extentRef{lcn: lcn, n: n, ref: rec&(1<<48-1) | uint64(t&0xffff)<<48}
}
func (e extentRef) rec() uint64   { return e.ref & (1<<48 - 1) }
func (e extentRef) typ() AttrType { return AttrType(e.ref >> 48) }

// bitmapWindow reads $Bitmap forward in chunks for rsCheckAccounting.
type bitmapWindow struct {
	r   io.ReaderAt
	buf []byte
	lo  int64 // first byte of $Bitmap in buf, -1 before the first read
	n   int   // valid bytes in buf
}

// firstClear returns the first cluster of [lcn, lcn+n) whose bit is
// clear, or -1.
func (w *bitmapWindow) firstClear(lcn, n int64) (int64, error) {
	for c, end := lcn, lcn+n; c < end; {
		b := c >> 3
		if w.lo < 0 || b < w.lo || b >= w.lo+int64(w.n) {
			m, err := w.r.ReadAt(w.buf, b)
			if m <= 0 {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			w.lo, w.n = b, m
		}
		chunk := w.buf[b-w.lo : w.n]
		// Whole bytes first, then the bits of a partial one.
		for i, x := range chunk {
			base := (b + int64(i)) << 3
			if base >= end {
				return -1, nil
			}
			if x == 0xff && base >= c && base+8 <= end {
				continue
			}
			for k := max(c, base); k < min(end, base+8); k++ {
				if x&(1<<(k&7)) == 0 {
					return k, nil
				}
			}
		}
		c = (w.lo + int64(w.n)) << 3
	}
	return -1, nil
}

// rsEachRun calls fn for every allocated run of every non-resident
// attribute of every in-use MFT record, after checking it lies inside the
// volume.
func (v *Volume) rsEachRun(fn func(rec uint64, a *Attribute, r Run) error) error {
	tc := v.TotalClusters()
	chunk := make([]byte, max(v.recordSize, (1<<20)/v.recordSize*v.recordSize))
	total := int64(v.mftRecords) * v.recordSize
	for off := int64(0); off < total; off += int64(len(chunk)) {
		b := chunk[:min(int64(len(chunk)), total-off)]
		if err := readFull(v.mft, b, off); err != nil {
			return err
		}
		for ro := int64(0); ro+v.recordSize <= int64(len(b)); ro += v.recordSize {
			raw := b[ro : ro+v.recordSize]
			if string(raw[:4]) != "FILE" || binary.LittleEndian.Uint16(raw[offRecFlags:])&recordFlagInUse == 0 {
				continue
			}
			n := uint64((off + ro) / v.recordSize)
			rec, err := parseRecordInPlace(raw, n)
			if err != nil {
				return err
			}
			for _, a := range rec.Attributes {
				if !a.NonResident {
					continue
				}
				for _, r := range a.Runs {
					if r.Sparse {
						continue
					}
					if r.LCN+r.Length > tc {
						return &RecordError{Record: n, Offset: a.Offset, Err: errf(ErrOutOfRange, "%v run %v ends past cluster %d", a.Type, r, tc)}
					}
					if err := fn(n, &a, r); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// rsCheckAccountingBitmap is rsCheckAccounting holding the whole bitmap
// and a paged set of the clusters seen.
func (v *Volume) rsCheckAccountingBitmap() error {
	bm, err := v.rsLoadBitmap()
	if err != nil {
		return err
	}
	var seen clusterSet
	owner := map[int64]uint64{} // first record of each run start, for reports
	return v.rsEachRun(func(n uint64, a *Attribute, r Run) error {
		for c := r.LCN; c < r.LCN+r.Length; c++ {
			if !bitSet(bm, c) {
				return &AccountingError{Record: n, Type: a.Type, LCN: c, Other: NoRecord}
			}
			if seen.has(c) {
				// The owner is the record of the closest run start at or
				// before c (NoRecord when the table filled up).
				other, best := NoRecord, int64(-1)
				for lcn, o := range owner {
					if lcn <= c && lcn > best {
						other, best = o, lcn
					}
				}
				return &AccountingError{Record: n, Type: a.Type, LCN: c, Other: other}
			}
			seen.add(c)
		}
		if len(owner) < 1<<16 {
			owner[r.LCN] = n
		}
		return nil
	})
}

// geometry of a resized volume.
type rsGeom struct {
	totalSectors int64 // new TotalSectors
	clusters     int64 // new TotalClusters
	bitmapBytes  int64 // new $Bitmap data size
}

func (v *Volume) rsNewGeometry(newPartitionBytes int64) (rsGeom, error) {
	bps := int64(v.Boot.BytesPerSector)
	spc := v.clusterSize / bps
	var g rsGeom
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
	g, err := v.rsNewGeometry(newPartitionBytes)
	if err != nil {
		return nil, err
	}
	if g.totalSectors >= int64(v.Boot.TotalSectors) || newPartitionBytes > v.size {
		return nil, errf(ErrBadSize, "%d bytes is not smaller than the volume (%d sectors of %d bytes)", newPartitionBytes, v.Boot.TotalSectors, v.Boot.BytesPerSector)
	}
	s, err := v.rsPreflight(opts)
	if err != nil {
		return nil, err
	}
	return v.rsShrink(s, g, newPartitionBytes, opts)
}

// rsShrink is PlanShrink after its preflight.
func (v *Volume) rsShrink(s *rsState, g rsGeom, newPartitionBytes int64, opts ResizeOptions) ([]diag.Write, error) {
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
	return v.rsFinish(s, g, opts, nb, from, from, s.bmAttr.Runs, s.bmAttr.AllocatedSize, nil)
}

// countSet counts the set bits of clusters [lo, hi) of a bitmap, reading
// it in chunks.
func countSet(r io.ReaderAt, lo, hi int64) (int64, error) {
	var n int64
	buf := make([]byte, min(scanChunk, max(1, (hi-lo)/8+2)))
	for c := lo; c < hi; {
		if c&7 != 0 || hi-c < 8 {
			var b [1]byte
			if err := readFull(r, b[:], c>>3); err != nil {
				return 0, err
			}
			if b[0]&(1<<(c&7)) != 0 {
				n++
			}
			c++
			continue
		}
		m := min(int64(len(buf)), (hi-c)/8)
		if err := readFull(r, buf[:m], c>>3); err != nil {
			return 0, err
		}
		for _, x := range buf[:m] {
			n += int64(bits.OnesCount8(x))
		}
		c += m * 8
	}
	return n, nil
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
	g, err := v.rsNewGeometry(newPartitionBytes)
	if err != nil {
		return nil, err
	}
	if g.totalSectors <= int64(v.Boot.TotalSectors) || newPartitionBytes > v.size {
		return nil, errf(ErrBadSize, "%d bytes is not larger than the volume (%d sectors of %d bytes) or exceeds the %d-byte partition opened", newPartitionBytes, v.Boot.TotalSectors, v.Boot.BytesPerSector, v.size)
	}
	if g.clusters > maxBitmapLoad*8 {
		return nil, errf(ErrBadSize, "%d clusters", g.clusters)
	}
	s, err := v.rsPreflight(opts)
	if err != nil {
		return nil, err
	}
	tc := v.TotalClusters()
	bm, err := v.rsLoadBitmap()
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
		r, err := rsAllocate(nb, g.clusters, runs, need)
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
	return v.rsFinish(s, g, opts, nb, 0, min(tc, g.clusters)/8, runs, alloc, fresh)
}

// rsAllocate finds need free clusters below limit in nb, contiguous,
// preferring those right after the last run, marks them used and returns
// them as a run.
func rsAllocate(nb []byte, limit int64, runs []Run, need int64) (Run, error) {
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

// rsFinish plans everything a resize writes once the new bitmap, its runs
// and allocation are known. tail holds the new bitmap's bytes from byte
// base to its end; from (>= base) is the first byte that may differ
// besides the bits of fresh, the clusters newly allocated for $Bitmap
// (which lie inside tail).
func (v *Volume) rsFinish(s *rsState, g rsGeom, opts ResizeOptions, tail []byte, base, from int64, runs []Run, alloc int64, fresh []Run) ([]diag.Write, error) {
	p := &rsPlan{v: v}
	cs := v.clusterSize
	// 1. Dirty flag first: an interrupted resize then still gets chkdsk.
	if opts.SetDirty {
		if err := v.rsSetDirty(p); err != nil {
			return nil, err
		}
	}
	if opts.ResetLogFile {
		if err := v.rsResetLogFile(p); err != nil {
			return nil, err
		}
	}
	// 2. $Bitmap content: the changed bytes, plus whole fresh clusters.
	bl := base + int64(len(tail))
	ranges := [][2]int64{{from, bl}}
	for _, r := range fresh {
		ranges = append(ranges, [2]int64{r.VCN * cs, (r.VCN + r.Length) * cs})
		for c := r.LCN; c < r.LCN+r.Length; c++ {
			if c>>3 < base {
				return nil, fmt.Errorf("ntfs: internal error: fresh cluster %d before bitmap byte %d", c, base)
			}
			if c>>3 < from {
				ranges = append(ranges, [2]int64{c >> 3, c>>3 + 1})
			}
		}
	}
	// Without fresh clusters every range lies inside tail; only fresh
	// clusters need the zero padding up to the allocated size.
	content := tail
	if len(fresh) > 0 {
		content = make([]byte, alloc-base)
		copy(content, tail)
	}
	for _, rg := range rsMergeRanges(ranges) {
		if err := rsPlanStream(p, runs, cs, content, base, rg[0], rg[1], "$Bitmap data"); err != nil {
			return nil, err
		}
	}
	// 3. $Bitmap record: runs and sizes; its $FILE_NAME sizes.
	bmRec := &Record{Number: s.bmRec.Number, Raw: bytes.Clone(s.bmRec.Raw)}
	if err := rsSetNonResident(bmRec, s.bmAttr, runs, alloc, bl, bl, cs); err != nil {
		return nil, err
	}
	rsSetFileNameSizes(bmRec, s.bmRec, alloc, bl)
	if err := p.record(bmRec, "$Bitmap $DATA runs and sizes"); err != nil {
		return nil, err
	}
	// 4. $BadClus:$Bad: one hole covering the new volume.
	vol := g.clusters * cs
	badRec := &Record{Number: s.badRec.Number, Raw: bytes.Clone(s.badRec.Raw)}
	if err := rsSetNonResident(badRec, s.badAttr, []Run{{VCN: 0, LCN: -1, Length: g.clusters, Sparse: true}}, vol, vol, min(s.badAttr.InitializedSize, vol), cs); err != nil {
		return nil, err
	}
	if err := p.record(badRec, "$BadClus:$Bad length"); err != nil {
		return nil, err
	}
	// 5. Root directory entry of $Bitmap.
	if err := v.rsUpdateDirEntry(p, RecordRoot, RecordBitmap, alloc, bl); err != nil {
		return nil, err
	}
	// 6. Boot sectors: the backup at the new last sector, then the primary.
	bps := int64(v.Boot.BytesPerSector)
	boot := make([]byte, bps)
	if err := readFull(v.r, boot, 0); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint64(boot[offTotalSectors:], uint64(g.totalSectors))
	if err := p.add(g.totalSectors*bps, boot, "backup boot sector"); err != nil {
		return nil, err
	}
	if err := p.add(offTotalSectors, bytes.Clone(boot[offTotalSectors:offTotalSectors+8]), fmt.Sprintf("boot sector: TotalSectors %d -> %d", v.Boot.TotalSectors, g.totalSectors)); err != nil {
		return nil, err
	}
	if err := checkWrites(p.ws); err != nil {
		return nil, fmt.Errorf("ntfs: internal error: %w", err)
	}
	return p.ws, nil
}

// rsMergeRanges sorts and joins overlapping or touching ranges.
func rsMergeRanges(rs [][2]int64) [][2]int64 {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j][0] < rs[j-1][0]; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	var out [][2]int64
	for _, r := range rs {
		if r[0] >= r[1] {
			continue
		}
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// rsPlanStream plans writing bytes lo to hi of a non-resident stream
// mapped by runs; content holds the stream's bytes from byte base on.
func rsPlanStream(p *rsPlan, runs []Run, cs int64, content []byte, base, lo, hi int64, what string) error {
	for _, r := range runs {
		a, b := max(lo, r.VCN*cs), min(hi, (r.VCN+r.Length)*cs)
		if a >= b {
			continue
		}
		if r.Sparse {
			return errf(ErrBadRunlist, "%s: bytes %d..%d fall in a hole", what, a, b)
		}
		if err := p.add(r.LCN*cs+a-r.VCN*cs, content[a-base:b-base], fmt.Sprintf("%s bytes %d..%d", what, a, b)); err != nil {
			return err
		}
	}
	return nil
}

// rsSetFileNameSizes sets the allocated and data sizes of every
// $FILE_NAME of rec (a copy of orig being edited).
func rsSetFileNameSizes(rec, orig *Record, alloc, data int64) {
	for _, a := range orig.Attributes {
		if a.Type != AttrFileName || a.NonResident || len(a.Value) < offFNNameLength {
			continue
		}
		off := a.Offset + a.ValueOffset
		binary.LittleEndian.PutUint64(rec.Raw[off+offFNAllocSize:], uint64(alloc))
		binary.LittleEndian.PutUint64(rec.Raw[off+offFNDataSize:], uint64(data))
	}
}

// rsSetDirty plans setting the dirty flag of $Volume.
func (v *Volume) rsSetDirty(p *rsPlan) error {
	rec, err := v.ReadRecord(RecordVolume)
	if err != nil {
		return err
	}
	a := rec.Find(AttrVolumeInformation, "")
	if a == nil || a.NonResident || len(a.Value) < volumeInfoSize {
		return &RecordError{Record: RecordVolume, Err: errf(ErrNoAttribute, "$VOLUME_INFORMATION missing or short")}
	}
	off := a.Offset + a.ValueOffset + offVIFlags
	f := binary.LittleEndian.Uint16(rec.Raw[off:])
	if f&VolumeFlagDirty != 0 {
		return nil
	}
	binary.LittleEndian.PutUint16(rec.Raw[off:], f|VolumeFlagDirty)
	return p.record(rec, "$Volume: set the dirty flag (chkdsk at next boot)")
}

// maxLogFileReset bounds the $LogFile ResetLogFile rewrites in memory.
const maxLogFileReset = 256 << 20

// rsResetLogFile plans filling $LogFile with 0xFF.
func (v *Volume) rsResetLogFile(p *rsPlan) error {
	rec, err := v.ReadRecord(RecordLogFile)
	if err != nil {
		return err
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		return err
	}
	if st.isRes || st.size > maxLogFileReset {
		return &RecordError{Record: RecordLogFile, Err: errf(ErrUnsupported, "$LogFile of %d bytes (resident %v)", st.size, st.isRes)}
	}
	ext, err := st.extents(0, st.size)
	if err != nil {
		return err
	}
	ff := bytes.Repeat([]byte{0xFF}, int(st.size))
	return p.extents(ext, ff, "$LogFile reset to 0xFF")
}

// rsUpdateDirEntry sets the $FILE_NAME sizes in every entry of directory
// dir's $I30 index that points to record target: in $INDEX_ROOT (a record
// write) or in $INDEX_ALLOCATION blocks (fixups re-applied per block).
func (v *Volume) rsUpdateDirEntry(p *rsPlan, dir, target uint64, alloc, data int64) error {
	rec, err := v.ReadRecord(dir)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	root := rec.Find(AttrIndexRoot, "$I30")
	if root == nil || root.NonResident || len(root.Value) < offIRHeader+indexHeaderSize {
		return &RecordError{Record: dir, Err: errf(ErrNoAttribute, "$INDEX_ROOT $I30")}
	}
	base := root.Offset + root.ValueOffset
	if n, err := rsPatchEntries(rec.Raw[:base+len(root.Value)], base+offIRHeader, target, alloc, data); err != nil {
		return &IndexError{Record: dir, VCN: -1, Err: err}
	} else if n > 0 {
		if err := p.record(rec, fmt.Sprintf("directory entry of record %d: sizes", target)); err != nil {
			return err
		}
	}
	if rec.Find(AttrIndexAllocation, "$I30") == nil {
		return nil
	}
	st, err := v.openStream(rec, AttrIndexAllocation, "$I30")
	if err != nil {
		return err
	}
	bsz := int64(le.Uint32(root.Value[offIRBlockSize:]))
	if bsz < FixupStride || bsz > maxRecordSize || bsz%FixupStride != 0 || st.isRes {
		return &IndexError{Record: dir, VCN: -1, Err: errf(ErrBadIndex, "index block size %d", bsz)}
	}
	if st.size/bsz > maxIndexBlocks {
		return &IndexError{Record: dir, VCN: -1, Err: errf(ErrBadIndex, "%d index blocks", st.size/bsz)}
	}
	for off := int64(0); off+bsz <= st.size; off += bsz {
		b := make([]byte, bsz)
		if err := readFull(st, b, off); err != nil {
			return err
		}
		if string(b[:4]) != "INDX" {
			continue // unused block
		}
		if err := ApplyFixups(b); err != nil {
			return &IndexError{Record: dir, VCN: off / bsz, Err: err}
		}
		n, err := rsPatchEntries(b, offIndxHeader, target, alloc, data)
		if err != nil {
			return &IndexError{Record: dir, VCN: off / bsz, Err: err}
		}
		if n == 0 {
			continue
		}
		usn := UpdateSequenceNumber(b) + 1
		if usn == 0 || usn == 0xFFFF {
			usn = 1
		}
		if err := ProtectFixups(b, usn); err != nil {
			return err
		}
		ext, err := st.extents(off, bsz)
		if err != nil {
			return err
		}
		if err := p.extents(ext, b, fmt.Sprintf("index block %d of record %d: entry of record %d sizes", off/bsz, dir, target)); err != nil {
			return err
		}
	}
	return nil
}

// rsPatchEntries walks the index node whose header is at hdr in b and sets
// the sizes of the entries pointing to target. It returns how many it
// changed.
func rsPatchEntries(b []byte, hdr int, target uint64, alloc, data int64) (int, error) {
	le := binary.LittleEndian
	node, err := indexNode(b, hdr)
	if err != nil {
		return 0, err
	}
	start := hdr + int(le.Uint32(b[hdr+offIHEntries:]))
	n := 0
	for off := 0; off+offIEKey <= len(node); {
		e := node[off:]
		length := int(le.Uint16(e[offIELength:]))
		flags := le.Uint16(e[offIEFlags:])
		if length < offIEKey || off+length > len(node) || length%8 != 0 {
			return n, errf(ErrBadIndex, "entry at %d of length %d", start+off, length)
		}
		if flags&ieFlagLast != 0 {
			break
		}
		keyLen := int(le.Uint16(e[offIEKeyLength:]))
		if FileRef(le.Uint64(e[offIEFileRef:])).Record() == target && keyLen >= offFNNameLength && offIEKey+keyLen <= length {
			k := start + off + offIEKey
			le.PutUint64(b[k+offFNAllocSize:], uint64(alloc))
			le.PutUint64(b[k+offFNDataSize:], uint64(data))
			n++
		}
		off += length
	}
	return n, nil
}
