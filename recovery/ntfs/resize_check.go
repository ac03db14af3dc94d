package ntfs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"unsafe"
)

// maxBitmapLoad bounds the $Bitmap held in memory while planning a resize:
// 512 MiB maps 4 G clusters (16 TiB with 4 KiB clusters).
const maxBitmapLoad = 512 << 20

// resizeFiles are the system files a resize rewrites, as preflight found
// them: the records and $DATA attributes of $Bitmap and $BadClus:$Bad.
type resizeFiles struct {
	bmRec   *Record
	bmAttr  *Attribute
	badRec  *Record
	badAttr *Attribute
}

// preflight refuses volumes that must not be changed offline, including
// those whose runlists disagree with $Bitmap.
func (v *Volume) preflight(opts ResizeOptions) (*resizeFiles, error) {
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
	s := &resizeFiles{}
	if s.bmRec, s.bmAttr, err = v.singleExtent(RecordBitmap, ""); err != nil {
		return nil, err
	}
	if s.badRec, s.badAttr, err = v.singleExtent(RecordBadClus, "$Bad"); err != nil {
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
	if err := v.checkAccounting(); err != nil {
		return nil, err
	}
	if err := v.checkBootPointers(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkBootPointers refuses a volume whose boot sector points at another
// first cluster of $MFT or $MFTMirr than their records say: the resize
// follows the records, so it would leave the boot sector's pointer where
// it was, possibly past the new end. chkdsk repairs such a volume.
func (v *Volume) checkBootPointers() error {
	if len(v.mft.runs) == 0 || v.mft.runs[0].Sparse || v.mft.runs[0].LCN != int64(v.Boot.MFTLCN) {
		first := int64(-1)
		if len(v.mft.runs) > 0 && !v.mft.runs[0].Sparse {
			first = v.mft.runs[0].LCN
		}
		return &RecordError{Record: RecordMFT, Err: errf(ErrInconsistent,
			"the boot sector says $MFT starts at cluster %d, its record says %d; run chkdsk /f in Windows", v.Boot.MFTLCN, first)}
	}
	_, a, err := v.singleExtent(RecordMFTMirr, "")
	if err != nil {
		return err
	}
	if len(a.Runs) == 0 || a.Runs[0].Sparse || a.Runs[0].LCN != int64(v.Boot.MFTMirrLCN) {
		first := int64(-1)
		if len(a.Runs) > 0 && !a.Runs[0].Sparse {
			first = a.Runs[0].LCN
		}
		return &RecordError{Record: RecordMFTMirr, Err: errf(ErrInconsistent,
			"the boot sector says $MFTMirr starts at cluster %d, its record says %d; run chkdsk /f in Windows", v.Boot.MFTMirrLCN, first)}
	}
	return nil
}

// singleExtent returns the non-resident $DATA attribute (named name) of a
// system file, which must sit in its base record in one extent.
func (v *Volume) singleExtent(n uint64, name string) (*Record, *Attribute, error) {
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

// loadBitmap reads the bytes of $Bitmap that map the volume.
func (v *Volume) loadBitmap() ([]byte, error) {
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

// checkAccounting reads every MFT record and checks that each cluster
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
func (v *Volume) checkAccounting() error {
	tc := v.TotalClusters()
	limit := max(int64(minAccountingExtents), (tc+7)/8/int64(unsafe.Sizeof(extentRef{})))
	if maxAccountingExtents > 0 {
		limit = int64(maxAccountingExtents)
	}
	// A volume with more MFT records than the list may hold runs, and a
	// small $Bitmap, goes to the bitmap check at once: the list would
	// most likely fill up, and its walk of the MFT (on a C: of 100,000
	// files, 100 MB read) would be thrown away. A large $Bitmap keeps the
	// list first: loading it is what the list is there to avoid.
	if int64(v.mftRecords) > limit && (tc+7)/8 <= directBitmapCheck && maxAccountingExtents == 0 {
		return v.checkAccountingBitmap()
	}
	var ext []extentRef
	err := v.eachRun(func(n uint64, a *Attribute, r Run) error {
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
		return v.checkAccountingBitmap()
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

// Bounds of the run list of checkAccounting: it always may hold
// minAccountingExtents runs; tests set maxAccountingExtents to force the
// bitmap fallback.
const minAccountingExtents = 1 << 16

var maxAccountingExtents = 0

// directBitmapCheck is the largest $Bitmap (bytes) checkAccounting loads
// without trying the run list first: 8 MiB, a volume of 256 GiB in 4 KiB
// clusters.
const directBitmapCheck = 8 << 20

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

// bitmapWindow reads $Bitmap forward in chunks for checkAccounting.
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

// eachRun calls fn for every allocated run of every non-resident
// attribute of every in-use MFT record, after checking it lies inside the
// volume.
func (v *Volume) eachRun(fn func(rec uint64, a *Attribute, r Run) error) error {
	tc := v.TotalClusters()
	return v.eachRecord(func(rec *Record) error {
		n := rec.Number
		for i := range rec.Attributes {
			a := &rec.Attributes[i] // not a copy: its address would escape
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
				if err := fn(n, a, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// eachRecord calls fn for every in-use MFT record, in record order,
// reading $MFT in chunks of about 1 MiB. The record fn gets lives in the
// chunk: it is valid only until fn returns.
func (v *Volume) eachRecord(fn func(rec *Record) error) error {
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
			rec, err := parseRecordInPlace(raw, uint64((off+ro)/v.recordSize))
			if err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAccountingBitmap is checkAccounting holding the whole bitmap
// and a paged set of the clusters seen.
func (v *Volume) checkAccountingBitmap() error {
	bm, err := v.loadBitmap()
	if err != nil {
		return err
	}
	var seen clusterSet
	owner := map[int64]uint64{} // first record of each run start, for reports
	return v.eachRun(func(n uint64, a *Attribute, r Run) error {
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
