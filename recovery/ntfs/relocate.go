package ntfs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/winrepart/winrepart/diag"
)

// Errors of relocation. A *RelocateError unwraps to one of them and to
// ErrTailInUse.
var (
	// ErrUnmovable means clusters past the new end belong to a file whose
	// data this package does not move (see RelocateError.Files).
	ErrUnmovable = errors.New("ntfs: clusters past the new end cannot be moved")
	// ErrRecordFull means the runlist of a relocated attribute would no
	// longer fit its MFT record.
	ErrRecordFull = errors.New("ntfs: rewritten runlist does not fit its MFT record")
)

// UnmovableFile names an attribute whose clusters a relocation does not
// move, and why.
type UnmovableFile struct {
	Record   uint64   // base MFT record number of the file
	Path     string   // its path from the root ("" when it cannot be resolved)
	Attr     AttrType // the attribute holding the clusters
	AttrName string   // its name ("" for the unnamed one)
	Reason   string   // why it is not moved
	Err      error    // ErrUnsupported, or ErrRecordFull
}

// String renders the file as "record 40 (/a/b.txt) $DATA: compressed".
func (f UnmovableFile) String() string {
	attr := f.Attr.String()
	if f.AttrName != "" {
		attr += ":" + f.AttrName
	}
	name := ""
	if f.Path != "" {
		name = " (" + f.Path + ")"
	}
	return fmt.Sprintf("record %d%s %s: %s", f.Record, name, attr, f.Reason)
}

// maxReportedFiles bounds RelocateError.Files.
const maxReportedFiles = 32

// RelocateError reports a shrink that relocating data cannot make: a file
// past the new end that is not moved (Err is ErrUnmovable), or too few
// free clusters before the new end (ErrNoSpace).
type RelocateError struct {
	NewBytes     int64           // partition size asked for
	MinBytes     int64           // smallest partition size a relocating shrink can reach
	NeedClusters int64           // clusters in use past the new end
	FreeClusters int64           // free clusters before the new end
	Files        []UnmovableFile // the files refused (at most 32)
	More         int             // refused files not listed in Files
	Err          error           // ErrUnmovable or ErrNoSpace
}

func (e *RelocateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ntfs: cannot shrink to %d bytes", e.NewBytes)
	if errors.Is(e.Err, ErrNoSpace) {
		fmt.Fprintf(&b, ": %d clusters in use past the new end, %d free before it", e.NeedClusters, e.FreeClusters)
	}
	for i, f := range e.Files {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Files)-3+e.More)
			break
		}
		sep := "; "
		if i == 0 {
			sep = ": cannot move "
		}
		b.WriteString(sep + f.String())
	}
	fmt.Fprintf(&b, "; the smallest size reachable by moving data is %d bytes", e.MinBytes)
	return b.String()
}

// Unwrap returns Err and ErrTailInUse.
func (e *RelocateError) Unwrap() []error { return []error{e.Err, ErrTailInUse} }

// DataCopy is one copy a relocating shrink makes before its writes:
// Length bytes from byte Src of the volume to byte Dst. Sources lie past
// the new end, destinations in clusters free before it, so no copy
// overlaps another's source or destination, or its own.
type DataCopy struct {
	Src, Dst, Length int64 // bytes from the start of the volume
}

// ShrinkPlan is what PlanShrinkRelocating returns: copies to make first,
// then (after a flush) writes.
type ShrinkPlan struct {
	// Copies move data out of the cut-off tail into free clusters before
	// the new end; they leave every byte the volume uses unchanged.
	Copies []DataCopy
	// Writes change the metadata: MFT records (and their $MFTMirr
	// copies) with the new runlists, $Bitmap, and the shrink itself. Old
	// holds the bytes the volume holds once the copies are made.
	Writes []diag.Write
	// MovedFiles counts the files (MFT records) whose clusters move.
	MovedFiles int
	// MovedBytes is the sum of the copies' lengths.
	MovedBytes int64
}

// PlanShrinkRelocating plans shrinking the volume to fit a partition of
// newPartitionBytes bytes, as PlanShrink does, and, when opts.Relocate is
// set, first moves every cluster in use past the new end into free
// clusters before it. Without opts.Relocate, or when the tail is free, the
// plan has no copies and its writes are PlanShrink's.
//
// What moves: every non-resident attribute of every file: $DATA streams
// (unnamed and named, sparse ones keeping their holes, compressed ones
// keeping every compression unit's layout), directory indexes, $EA,
// $REPARSE_POINT, $SECURITY_DESCRIPTOR and the like, and non-resident
// $ATTRIBUTE_LISTs. A file with a list moves each extent of an attribute
// in the record that holds it, base or extension record: only that
// extent's mapping pairs change, never its VCN range, sizes, record or
// instance, so the list stays true. System files move too: $MFT's data
// and bitmap (records that lie in moved clusters are written where they
// were copied to, and the boot sector follows $MFT's and $MFTMirr's first
// clusters), $MFTMirr, $LogFile, $Bitmap, $Secure, $UpCase, $AttrDef and
// the files under $Extend. Refused, with a *RelocateError naming each
// file: encrypted attributes, $Boot, $BadClus, $MFT's extents held in
// extension records, and attribute extents whose new runlist would not
// fit their MFT record even with the attribute's pieces placed end to
// end (ErrRecordFull). The error's MinBytes is the smallest size a
// relocating shrink can reach.
//
// The order of the plan is what keeps the volume safe: copies write only
// free clusters, so until the writes begin the volume is unchanged; the
// writes then switch runlists and $Bitmap to the copies. Run the writes
// through a journal (their Old bytes are those after the copies).
func (v *Volume) PlanShrinkRelocating(newPartitionBytes int64, opts ResizeOptions) (*ShrinkPlan, error) {
	if !opts.Relocate {
		ws, err := v.PlanShrink(newPartitionBytes, opts)
		if err != nil {
			return nil, err
		}
		return &ShrinkPlan{Writes: ws}, nil
	}
	g, s, err := v.shrinkStart(newPartitionBytes, opts)
	if err != nil {
		return nil, err
	}
	st, err := v.bitmap()
	if err != nil {
		return nil, err
	}
	inUse, err := countSet(st, g.clusters, v.TotalClusters())
	if err != nil {
		return nil, err
	}
	if inUse == 0 {
		ws, err := v.planShrinkChecked(s, g, newPartitionBytes, opts)
		if err != nil {
			return nil, err
		}
		return &ShrinkPlan{Writes: ws}, nil
	}
	return v.relShrink(newPartitionBytes, g, opts)
}

// relShrink plans the relocation out of clusters g.clusters.. and the
// shrink after it.
func (v *Volume) relShrink(newPartitionBytes int64, g geometry, opts ResizeOptions) (*ShrinkPlan, error) {
	end := g.clusters
	cs := v.clusterSize
	used, err := v.relUsed()
	if err != nil {
		return nil, err
	}
	sc, err := v.relScan(end)
	if err != nil {
		return nil, err
	}
	var totalUsed, usedBelow int64
	for _, e := range used {
		totalUsed += e.n
		usedBelow += max(0, min(e.lcn+e.n, end)-e.lcn)
	}
	refuse := func(sentinel error, need, free int64) error {
		c := max(sc.fixedEnd, totalUsed, 16)
		return &RelocateError{NewBytes: newPartitionBytes, MinBytes: (c + 1) * cs, NeedClusters: need, FreeClusters: free,
			Files: sc.refused, More: sc.more, Err: sentinel}
	}
	var need int64
	for _, p := range sc.pieces {
		need += p.n
	}
	if len(sc.refused) > 0 {
		return nil, refuse(ErrUnmovable, need, end-usedBelow)
	}
	if need > end-usedBelow {
		return nil, refuse(ErrNoSpace, need, end-usedBelow)
	}
	// Placed as relPlace chooses; should a runlist then overflow its
	// record, placed once more with those attributes' pieces end to end.
	var moves []relMove
	var p *writePlan
	fixedEnd := sc.fixedEnd
	var join map[int]bool
	for try := 0; ; try++ {
		moves, err = relPlaceJoined(sc.pieces, newRelFree(relGaps(used, end)), join)
		if err != nil {
			return nil, err
		}
		// The dirty flag first (an interrupted change then still gets
		// chkdsk), then the records and $Bitmap, planned on the volume as
		// it is.
		p = &writePlan{v: v}
		if opts.SetDirty {
			if err := v.setDirty(p); err != nil {
				return nil, err
			}
		}
		if err := v.relRecords(p, sc, moves, end); err != nil {
			return nil, err
		}
		if len(sc.refused) == 0 {
			break
		}
		if try > 0 { // records that do not fit
			return nil, refuse(ErrUnmovable, need, end-usedBelow)
		}
		join = map[int]bool{}
		for i, ra := range sc.attrs {
			for _, f := range sc.refused {
				if f.Attr == ra.typ && f.AttrName == ra.name && f.Record == ra.base {
					join[i] = true
				}
			}
		}
		sc.refused, sc.more, sc.fixedEnd = nil, 0, fixedEnd
	}
	if err := v.relBitmap(p, used, moves, end); err != nil {
		return nil, err
	}
	// The writes above were planned where $MFT, $MFTMirr and $Bitmap
	// are now; those that land in clusters the copies move go to the
	// copies instead, and the boot sector follows $MFT and $MFTMirr.
	p.ws = relTranslate(p.ws, moves, cs)
	if err := v.relBoot(p, moves); err != nil {
		return nil, err
	}
	plan := &ShrinkPlan{MovedFiles: len(sc.files)}
	for _, m := range moves {
		plan.Copies = append(plan.Copies, DataCopy{Src: m.src * cs, Dst: m.dst * cs, Length: m.n * cs})
		plan.MovedBytes += m.n * cs
	}
	slices.SortFunc(plan.Copies, func(a, b DataCopy) int { return cmp.Compare(a.Dst, b.Dst) })
	// The shrink is planned on the volume as the relocation leaves it; its
	// own preflight checks the relocated accounting once more.
	base := v.r.r
	after := newRelView(base, plan.Copies, p.ws)
	v2, err := Open(after, v.size)
	if err != nil {
		return nil, fmt.Errorf("ntfs: internal error: relocated volume: %w", err)
	}
	o2 := opts
	o2.Relocate = false
	o2.AllowDirty = opts.AllowDirty || opts.SetDirty
	ws, err := v2.PlanShrink(newPartitionBytes, o2)
	if err != nil {
		return nil, fmt.Errorf("ntfs: internal error: shrink after relocation: %w", err)
	}
	seq := append(p.ws, ws...)
	plan.Writes, err = relMerge(newRelView(base, plan.Copies, nil), newRelView(base, plan.Copies, seq), seq)
	if err != nil {
		return nil, err
	}
	if err := checkWrites(plan.Writes); err != nil {
		return nil, fmt.Errorf("ntfs: internal error: %w", err)
	}
	return plan, nil
}

// relExtent is a run of clusters.
type relExtent struct{ lcn, n int64 }

// maxRelExtents bounds the used runs a relocation holds in memory (16
// bytes each).
const maxRelExtents = 1 << 23

// relUsed lists the runs of clusters $Bitmap marks in use.
func (v *Volume) relUsed() ([]relExtent, error) {
	var used []relExtent
	err := v.UsedRuns(func(first, count int64) error {
		if len(used) >= maxRelExtents {
			return errf(ErrUnsupported, "more than %d runs of used clusters", maxRelExtents)
		}
		used = append(used, relExtent{first, count})
		return nil
	})
	return used, err
}

// relGaps returns the free runs before cluster end, given the used runs
// in cluster order.
func relGaps(used []relExtent, end int64) []relExtent {
	var out []relExtent
	c := int64(0)
	for _, u := range used {
		if u.lcn >= end {
			break
		}
		if u.lcn > c {
			out = append(out, relExtent{c, u.lcn - c})
		}
		c = u.lcn + u.n
	}
	if c < end {
		out = append(out, relExtent{c, end - c})
	}
	return out
}

// relAttr identifies an attribute to relocate.
type relAttr struct {
	rec      uint64 // the record holding the attribute (extent)
	base     uint64 // the file's base record
	typ      AttrType
	name     string
	instance uint16
	last     int64 // one past its last cluster
}

// relPiece is the part of a run past the new end: n clusters from lcn,
// owned by attrs[owner]. A run of a compressed attribute has cu > 1, its
// compression unit in clusters: cluster x of the piece starts a unit when
// (x - phase) is a multiple of cu.
type relPiece struct {
	lcn, n    int64
	owner     int
	cu, phase int64
}

// relCUBoundary returns the last compression unit boundary of piece p in
// (lo, hi], or lo when there is none (or p is not compressed).
func relCUBoundary(p relPiece, lo, hi int64) int64 {
	if p.cu <= 1 {
		return lo
	}
	b := hi - ((hi-p.phase)%p.cu+p.cu)%p.cu
	if b <= lo {
		return lo
	}
	return b
}

// relRunPieces appends to ps the pieces of runs past cluster end, owned
// by attrs[owner]; cu is the attribute's compression unit in clusters (0
// when it is not compressed).
func relRunPieces(ps []relPiece, runs []Run, end, cu int64, owner int) []relPiece {
	for _, r := range runs {
		if lo, hi := max(r.LCN, end), r.LCN+r.Length; !r.Sparse && lo < hi {
			pc := relPiece{lcn: lo, n: hi - lo, owner: owner}
			if cu > 1 {
				pc.cu, pc.phase = cu, ((r.LCN-r.VCN)%cu+cu)%cu
			}
			ps = append(ps, pc)
		}
	}
	return ps
}

// relMaxCompressionUnit bounds the compression unit (log2 of clusters) a
// relocation aligns to: NTFS writes 4 (16 clusters); anything above 8 is
// treated as no unit at all.
const relMaxCompressionUnit = 8

// relScanResult is what relScan learns from the MFT.
type relScanResult struct {
	attrs    []relAttr
	pieces   []relPiece
	files    map[uint64]bool // the distinct files (base records) in attrs
	refused  []UnmovableFile // at most maxReportedFiles
	more     int             // refused beyond those
	fixedEnd int64           // one past the last cluster of any attribute that does not move
}

func (s *relScanResult) refuse(f UnmovableFile) {
	if len(s.refused) < maxReportedFiles {
		s.refused = append(s.refused, f)
	} else {
		s.more++
	}
}

// relScan reads every in-use MFT record, sorts its non-resident
// attributes into those that move and those that do not, and collects
// the pieces of the movable ones past cluster end.
func (v *Volume) relScan(end int64) (*relScanResult, error) {
	tc := v.TotalClusters()
	s := &relScanResult{files: map[uint64]bool{}}
	chunk := make([]byte, max(v.recordSize, (1<<20)/v.recordSize*v.recordSize))
	total := int64(v.mftRecords) * v.recordSize
	for off := int64(0); off < total; off += int64(len(chunk)) {
		b := chunk[:min(int64(len(chunk)), total-off)]
		if err := readFull(v.mft, b, off); err != nil {
			return nil, err
		}
		for ro := int64(0); ro+v.recordSize <= int64(len(b)); ro += v.recordSize {
			raw := b[ro : ro+v.recordSize]
			if string(raw[:4]) != "FILE" || binary.LittleEndian.Uint16(raw[offRecFlags:])&recordFlagInUse == 0 {
				continue
			}
			n := uint64((off + ro) / v.recordSize)
			rec, err := parseRecordInPlace(raw, n)
			if err != nil {
				return nil, err
			}
			base := n
			if rec.BaseRecord != 0 {
				base = rec.BaseRecord.Record()
			}
			for i := range rec.Attributes {
				a := &rec.Attributes[i]
				if !a.NonResident {
					continue
				}
				last, inTail := int64(-1), false
				for _, r := range a.Runs {
					if r.Sparse {
						continue
					}
					if r.LCN+r.Length > tc {
						return nil, &RecordError{Record: n, Offset: a.Offset, Err: errf(ErrOutOfRange, "%v run %v ends past cluster %d", a.Type, r, tc)}
					}
					last = max(last, r.LCN+r.Length)
					inTail = inTail || r.LCN+r.Length > end
				}
				if last < 0 {
					continue
				}
				reason := relUnmovable(rec, a)
				if reason != "" {
					s.fixedEnd = max(s.fixedEnd, last)
					if inTail {
						s.refuse(UnmovableFile{Record: base, Path: v.relPath(base), Attr: a.Type, AttrName: a.Name, Reason: reason, Err: ErrUnsupported})
					}
					continue
				}
				if !inTail {
					continue
				}
				s.files[base] = true
				idx := len(s.attrs)
				s.attrs = append(s.attrs, relAttr{rec: n, base: base, typ: a.Type, name: a.Name, instance: a.Instance, last: last})
				var cu int64
				if a.Flags&AttrFlagCompressed != 0 && a.CompressionUnit > 0 && a.CompressionUnit <= relMaxCompressionUnit {
					cu = 1 << a.CompressionUnit
				}
				s.pieces = relRunPieces(s.pieces, a.Runs, end, cu, idx)
			}
		}
	}
	return s, nil
}

// relUnmovable returns why attribute a of rec does not move, or "".
func relUnmovable(rec *Record, a *Attribute) string {
	n := rec.Number
	if rec.BaseRecord != 0 {
		// An extension record: the file is its base record's.
		n = rec.BaseRecord.Record()
	}
	dirIndex := a.Type == AttrIndexAllocation || a.Type == AttrBitmap
	// Every system file's clusters move as any file's do: a record's
	// runlist is the only thing that says where they are, with three
	// exceptions. The boot sector also points at the first clusters of
	// $MFT and $MFTMirr: relShrink rewrites those pointers when they move.
	// Records of $MFT and $Bitmap, being read and written by this very
	// plan, are followed to where the copies put them (relTranslate).
	// $Boot is cluster 0, and $BadClus:$Bad maps the bad clusters, which
	// are refused before this (ErrBadClusters). $LogFile moves as is: a
	// clean log says nothing about where it lies. ntfsresize moves all of
	// them too.
	//
	// A file with an $ATTRIBUTE_LIST moves every extent of its attributes
	// in the record that holds it, base or extension record (libntfs-3g
	// spills the runs of a fragmented $DATA into extension records), and
	// the list itself when non-resident. Each extent keeps its VCN range,
	// record and instance, so the list's entries (type, name, lowest VCN,
	// record, instance) stay true; only the extent's mapping pairs in its
	// own record change (see relSetRuns). $MFT's own extents in extension
	// records stay: finding them needs $MFT itself, and no test has one.
	//
	// Compressed attributes move too: a relocation changes LCNs only, so
	// each compression unit keeps its data clusters and its sparse tail in
	// the same VCNs, and a compressed unit stays compressed (see relRemap
	// and relPlace). Encrypted ones stay: no test covers them.
	//
	// Any other non-resident attribute ($SECURITY_DESCRIPTOR, as mkntfs
	// gives the root, $EA, $REPARSE_POINT, $LOGGED_UTILITY_STREAM) is
	// found through its runlist alone as well, and moves.
	movable := true
	switch n {
	case RecordMFT:
		movable = a.Name == "" && (a.Type == AttrData || a.Type == AttrBitmap)
	case RecordMFTMirr, RecordLogFile, RecordAttrDef, RecordBitmap, RecordUpCase:
		movable = a.Name == "" && a.Type == AttrData
	case RecordSecure:
		movable = (a.Type == AttrData && a.Name == "$SDS") || (dirIndex && (a.Name == "$SDH" || a.Name == "$SII"))
	case RecordBadClus:
		movable = false
	}
	switch {
	case n == RecordMFT && rec.BaseRecord != 0:
		return "an extent of $MFT held in an extension record"
	case n == RecordBoot:
		return "$Boot, the boot sectors"
	case n < 16 && !movable:
		return "a system file"
	case a.NameLength > 0 && a.NameOffset+2*a.NameLength > a.RunsOffset:
		return "its name lies after its mapping pairs"
	case a.Flags&AttrFlagEncrypted != 0:
		return "encrypted"
	}
	return ""
}

// relFileName returns the parent record and name of rec's $FILE_NAME,
// preferring a long (Win32 or POSIX) name to a DOS 8.3 one.
func relFileName(rec *Record) (parent uint64, name string, ok bool) {
	for _, a := range rec.Attributes {
		if a.Type != AttrFileName || a.NonResident || len(a.Value) < offFNName {
			continue
		}
		l := int(a.Value[offFNNameLength])
		if offFNName+2*l > len(a.Value) {
			continue
		}
		p := FileRef(binary.LittleEndian.Uint64(a.Value[offFNParent:])).Record()
		nm := decodeUTF16(a.Value[offFNName : offFNName+2*l])
		if !ok || a.Value[offFNNamespace] != 2 {
			parent, name, ok = p, nm, true
		}
		if a.Value[offFNNamespace] != 2 {
			break
		}
	}
	return parent, name, ok
}

// relPath resolves the path of record n from its $FILE_NAME parents, or
// returns "" (at most 256 levels).
func (v *Volume) relPath(n uint64) string {
	var parts []string
	for depth := 0; depth < 256; depth++ {
		if n == RecordRoot {
			slices.Reverse(parts)
			return "/" + strings.Join(parts, "/")
		}
		rec, err := v.ReadRecord(n)
		if err != nil {
			return ""
		}
		parent, name, ok := relFileName(rec)
		if !ok {
			return ""
		}
		parts = append(parts, name)
		n = parent
	}
	return ""
}

// relMove is a relocation of n clusters from src to dst.
type relMove struct{ src, dst, n int64 }

// relFree is a best-fit allocator over free runs: holes grouped by
// length, the distinct lengths kept sorted.
type relFree struct {
	lens  []int64           // distinct hole lengths, ascending
	holes map[int64][]int64 // length -> hole starts
	total int64
}

func newRelFree(gaps []relExtent) *relFree {
	f := &relFree{holes: map[int64][]int64{}}
	for i := len(gaps) - 1; i >= 0; i-- { // popped lowest start first
		f.add(gaps[i].lcn, gaps[i].n)
	}
	return f
}

func (f *relFree) add(lcn, n int64) {
	if n <= 0 {
		return
	}
	if _, ok := f.holes[n]; !ok {
		i, _ := slices.BinarySearch(f.lens, n)
		f.lens = slices.Insert(f.lens, i, n)
	}
	f.holes[n] = append(f.holes[n], lcn)
	f.total += n
}

// pop removes a hole of length lens[i] and returns its start.
func (f *relFree) pop(i int) (lcn, n int64) {
	n = f.lens[i]
	h := f.holes[n]
	lcn = h[len(h)-1]
	if len(h) == 1 {
		delete(f.holes, n)
		f.lens = slices.Delete(f.lens, i, i+1)
	} else {
		f.holes[n] = h[:len(h)-1]
	}
	f.total -= n
	return lcn, n
}

// take allocates n contiguous clusters from the smallest hole that holds
// them; ok is false when none does.
func (f *relFree) take(n int64) (lcn int64, ok bool) {
	i, _ := slices.BinarySearch(f.lens, n)
	if i == len(f.lens) {
		return 0, false
	}
	lcn, l := f.pop(i)
	f.add(lcn+n, l-n)
	return lcn, true
}

// relPlace chooses destinations for the pieces past the new end.
//
// When one hole holds them all, the pieces go there packed in their
// order, the smallest such hole first: the distance between any two
// moved clusters then only shrinks, so no LCN delta of a moved runlist
// grows and no run splits, and a runlist that filled its MFT record
// (libntfs-3g fills the extension records of a fragmented file to the
// last bytes) still fits it.
//
// Otherwise, why best fit: the pieces are grouped into units, runs of clusters that
// are contiguous past the end (a file's run, or files written one after
// another), and the largest units are placed first, each into the
// smallest free hole that holds it whole. A unit placed whole keeps every
// file in it exactly as contiguous as it was, and costs one copy; the
// smallest hole that fits leaves the large holes for the large units
// still to come, so the fewest units have to be split. A unit no hole
// holds is broken into its pieces, each placed the same way; only a piece
// larger than every hole is split, over the largest holes first, which
// gives it the fewest fragments. Fewer fragments keep runlists short (so
// they still fit their MFT records) and the copy list small.
//
// A split piece of a compressed attribute is cut at compression unit
// boundaries where the hole allows it, so that each unit's clusters stay
// together: readers (Windows, libntfs-3g) fetch and decompress a unit as
// a whole, and a unit in one place is one read, as its writer left it.
// Only a hole smaller than what is left of a unit splits the unit.
func relPlace(pieces []relPiece, free *relFree) ([]relMove, error) {
	return relPlaceJoined(pieces, free, nil)
}

// relPlaceJoined is relPlace, except that the pieces of each attribute
// in join (by owner) are first placed end to end, in VCN order, into one
// hole: the attribute then ends in one run where it had many, which is
// what an attribute whose remapped runlist overflowed its MFT record
// needs (a $MFT grown in many steps into the tail, say). It costs a copy
// per piece where a unit of neighbours would have cost one. An attribute
// no hole holds whole is placed like the rest.
func relPlaceJoined(pieces []relPiece, free *relFree, join map[int]bool) ([]relMove, error) {
	var moves []relMove
	if len(join) > 0 {
		groups := map[int][]relPiece{}
		var owners []int
		var rest []relPiece
		for _, p := range pieces { // in VCN order within an owner
			if !join[p.owner] {
				rest = append(rest, p)
				continue
			}
			if _, ok := groups[p.owner]; !ok {
				owners = append(owners, p.owner)
			}
			groups[p.owner] = append(groups[p.owner], p)
		}
		total := func(g []relPiece) (n int64) {
			for _, p := range g {
				n += p.n
			}
			return n
		}
		sort.SliceStable(owners, func(a, b int) bool { return total(groups[owners[a]]) > total(groups[owners[b]]) })
		for _, o := range owners {
			g := groups[o]
			dst, ok := free.take(total(g))
			if !ok {
				rest = append(rest, g...)
				continue
			}
			for _, p := range g {
				moves = append(moves, relMove{src: p.lcn, dst: dst, n: p.n})
				dst += p.n
			}
		}
		pieces = rest
	}
	ps := slices.Clone(pieces)
	slices.SortFunc(ps, func(a, b relPiece) int { return cmp.Compare(a.lcn, b.lcn) })
	type unit struct{ lo, hi int } // ps[lo:hi]
	var units []unit
	var size []int64
	for i := 0; i < len(ps); {
		j, n := i+1, ps[i].n
		for j < len(ps) && ps[j-1].lcn+ps[j-1].n == ps[j].lcn {
			n += ps[j].n
			j++
		}
		units = append(units, unit{i, j})
		size = append(size, n)
		i = j
	}
	var total int64
	for _, n := range size {
		total += n
	}
	if len(units) == 0 {
		return moves, nil
	}
	if dst, ok := free.take(total); ok {
		for i, u := range units {
			moves = append(moves, relMove{src: ps[u.lo].lcn, dst: dst, n: size[i]})
			dst += size[i]
		}
		slices.SortFunc(moves, func(a, b relMove) int { return cmp.Compare(a.src, b.src) })
		return moves, nil
	}
	order := make([]int, len(units))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
	for _, u := range order {
		lo, hi := units[u].lo, units[u].hi
		if dst, ok := free.take(size[u]); ok {
			moves = append(moves, relMove{src: ps[lo].lcn, dst: dst, n: size[u]})
			continue
		}
		for _, p := range ps[lo:hi] {
			if dst, ok := free.take(p.n); ok {
				moves = append(moves, relMove{src: p.lcn, dst: dst, n: p.n})
				continue
			}
			for src, rem := p.lcn, p.n; rem > 0; {
				if len(free.lens) == 0 {
					return nil, errf(ErrNoSpace, "no free clusters left for %d clusters at %d", rem, src)
				}
				dst, l := free.pop(len(free.lens) - 1)
				k := min(rem, l)
				if k < rem {
					k = relCUBoundary(p, src, src+k) - src
					if k == 0 { // the hole is smaller than the rest of the unit
						k = min(rem, l)
					}
				}
				moves = append(moves, relMove{src: src, dst: dst, n: k})
				free.add(dst+k, l-k)
				src, rem = src+k, rem-k
			}
		}
	}
	slices.SortFunc(moves, func(a, b relMove) int { return cmp.Compare(a.src, b.src) })
	return moves, nil
}

// relRemap rewrites a runlist: clusters at or past end are mapped through
// moves (sorted by source); the rest, holes included, stay. Runs that
// become contiguous are joined. No VCN changes its kind (data or hole),
// so a compressed attribute keeps every unit's layout, its data clusters
// then its sparse tail; a joined run may span units, as Windows writes
// contiguous units, and readers find units by VCN, not by run.
func relRemap(runs []Run, end int64, moves []relMove) ([]Run, error) {
	var out []Run
	emit := func(r Run) {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Sparse == r.Sparse && (r.Sparse || p.LCN+p.Length == r.LCN) {
				p.Length += r.Length
				return
			}
		}
		out = append(out, Run{VCN: r.VCN, LCN: r.LCN, Length: r.Length, Sparse: r.Sparse})
	}
	for _, r := range runs {
		if r.Sparse || r.LCN+r.Length <= end {
			emit(r)
			continue
		}
		vcn, lcn, n := r.VCN, r.LCN, r.Length
		if lcn < end {
			k := end - lcn
			emit(Run{VCN: vcn, LCN: lcn, Length: k})
			vcn, lcn, n = vcn+k, lcn+k, n-k
		}
		for n > 0 {
			i := relMoveAt(moves, lcn)
			if i == len(moves) || moves[i].src > lcn {
				return nil, fmt.Errorf("ntfs: internal error: cluster %d has no destination", lcn)
			}
			m := moves[i]
			k := min(n, m.src+m.n-lcn)
			emit(Run{VCN: vcn, LCN: m.dst + lcn - m.src, Length: k})
			vcn, lcn, n = vcn+k, lcn+k, n-k
		}
	}
	return out, nil
}

// relRecords plans the new runlists, one record write per record.
// Attributes whose runlist no longer fits are refused in sc.
func (v *Volume) relRecords(p *writePlan, sc *relScanResult, moves []relMove, end int64) error {
	for i := 0; i < len(sc.attrs); {
		j := i + 1
		for j < len(sc.attrs) && sc.attrs[j].rec == sc.attrs[i].rec {
			j++
		}
		n := sc.attrs[i].rec
		rec, err := v.ReadRecord(n)
		if err != nil {
			return err
		}
		var what []string
		full := false
		for _, ra := range sc.attrs[i:j] {
			a := relFind(rec, ra)
			if a == nil {
				return fmt.Errorf("ntfs: internal error: record %d lost %v %q", n, ra.typ, ra.name)
			}
			runs, err := relRemap(a.Runs, end, moves)
			if err != nil {
				return err
			}
			if err := relSetRuns(rec, a, runs); err != nil {
				if errors.Is(err, ErrNoSpace) {
					sc.fixedEnd = max(sc.fixedEnd, ra.last)
					sc.refuse(UnmovableFile{Record: ra.base, Path: v.relPath(ra.base), Attr: ra.typ, AttrName: ra.name,
						Reason: fmt.Sprintf("its new runlist of %d runs does not fit the MFT record", len(runs)), Err: ErrRecordFull})
					full = true
					break
				}
				return err
			}
			if rec, err = reparse(rec); err != nil {
				return fmt.Errorf("ntfs: internal error: relocated record %d: %w", n, err)
			}
			nm := ra.typ.String()
			if ra.name != "" {
				nm += ":" + ra.name
			}
			what = append(what, nm)
		}
		if !full {
			if err := p.record(rec, "relocated "+strings.Join(what, ", ")); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// relTranslate redirects the parts of writes that fall in clusters a
// move copies away (moves sorted by source) to the same bytes of the
// copy. Once the copies are made and the runlists switched, the source
// is cut off with the tail: a record of $MFT, a block of $MFTMirr or of
// $Bitmap that moved lives at the destination only.
func relTranslate(ws []diag.Write, moves []relMove, cs int64) []diag.Write {
	var out []diag.Write
	for _, w := range ws {
		for lo, hi := w.Offset, w.Offset+int64(len(w.New)); lo < hi; {
			i := relMoveAt(moves, lo/cs)
			to, shift := hi, int64(0)
			if i < len(moves) && moves[i].src <= lo/cs {
				m := moves[i]
				to, shift = min(hi, (m.src+m.n)*cs), (m.dst-m.src)*cs
			} else if i < len(moves) {
				to = min(hi, moves[i].src*cs)
			}
			a, b := lo-w.Offset, to-w.Offset
			out = append(out, diag.Write{Offset: lo + shift, Old: w.Old[a:b], New: w.New[a:b], What: w.What})
			lo = to
		}
	}
	return out
}

// relMoveAt returns the index of the first move (moves sorted by source)
// whose source ends after cluster c: the move of c when its source holds
// c, or len(moves).
func relMoveAt(moves []relMove, c int64) int {
	return sort.Search(len(moves), func(i int) bool { return moves[i].src+moves[i].n > c })
}

// relCluster returns where cluster c lies once moves are made.
func relCluster(c int64, moves []relMove) int64 {
	if i := relMoveAt(moves, c); i < len(moves) && moves[i].src <= c {
		return moves[i].dst + c - moves[i].src
	}
	return c
}

// relBoot plans the boot sector's pointers to $MFT and $MFTMirr when
// their first clusters move. (The backup boot sector is the shrink's to
// write, from this one.)
func (v *Volume) relBoot(p *writePlan, moves []relMove) error {
	mft := relCluster(int64(v.Boot.MFTLCN), moves)
	mirr := relCluster(int64(v.Boot.MFTMirrLCN), moves)
	if mft == int64(v.Boot.MFTLCN) && mirr == int64(v.Boot.MFTMirrLCN) {
		return nil
	}
	b := make([]byte, BootSectorSize)
	if err := readFull(v.r, b, 0); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[offMFTLCN:], uint64(mft))
	binary.LittleEndian.PutUint64(b[offMFTMirrLCN:], uint64(mirr))
	return p.add(0, b, "boot sector: $MFT and $MFTMirr moved")
}

// relSetRuns replaces the mapping pairs of attribute extent a in rec
// with runs, which map the same VCNs (a relocation changes LCNs only).
// The rest of the header stays byte for byte as its writer left it: the
// VCN range; the allocated, data, initialized and compressed sizes (an
// extent past VCN 0 may hold them as 0); the compression unit. The error
// wraps ErrNoSpace when the record has no room for the new pairs.
func relSetRuns(rec *Record, a *Attribute, runs []Run) error {
	if n := len(runs); n == 0 || runs[0].VCN != a.LowestVCN || runs[n-1].VCN+runs[n-1].Length-1 != a.HighestVCN {
		return fmt.Errorf("ntfs: internal error: record %d: new %v runs do not map VCNs %d..%d", rec.Number, a.Type, a.LowestVCN, a.HighestVCN)
	}
	attr, err := withPairs(rec, a, runs)
	if err != nil {
		return err
	}
	return putAttr(rec, a, attr)
}

// relFind finds the attribute ra in rec.
func relFind(rec *Record, ra relAttr) *Attribute {
	for i := range rec.Attributes {
		a := &rec.Attributes[i]
		if a.Type == ra.typ && a.Name == ra.name && a.Instance == ra.instance && a.NonResident {
			return a
		}
	}
	return nil
}

// relBitmap plans the $Bitmap changes: destinations marked in use, and
// every cluster past the new end marked free (the moved sources, and
// clusters marked in use that no record maps, which chkdsk would free).
func (v *Volume) relBitmap(p *writePlan, used []relExtent, moves []relMove, end int64) error {
	st, err := v.bitmap()
	if err != nil {
		return err
	}
	type bitOp struct {
		lcn, n int64
		set    bool
	}
	var ops []bitOp
	for _, m := range moves {
		ops = append(ops, bitOp{m.dst, m.n, true})
	}
	for _, u := range used {
		if lo, hi := max(u.lcn, end), u.lcn+u.n; lo < hi {
			ops = append(ops, bitOp{lo, hi - lo, false})
		}
	}
	slices.SortFunc(ops, func(a, b bitOp) int { return cmp.Compare(a.lcn, b.lcn) })
	// Byte ranges of $Bitmap to rewrite: each op's bytes, joined when
	// close, cut into pieces of at most relChunk bytes.
	var ranges [][2]int64
	for _, o := range ops {
		lo, hi := o.lcn>>3, (o.lcn+o.n+7)>>3
		if n := len(ranges); n > 0 && lo <= ranges[n-1][1]+relGap {
			ranges[n-1][1] = max(ranges[n-1][1], hi)
			continue
		}
		ranges = append(ranges, [2]int64{lo, hi})
	}
	k := 0
	for _, rg := range ranges {
		for lo := rg[0]; lo < rg[1]; lo += relChunk {
			hi := min(rg[1], lo+relChunk)
			buf := make([]byte, hi-lo)
			if err := readFull(st, buf, lo); err != nil {
				return err
			}
			for k > 0 && ops[k-1].lcn+ops[k-1].n > lo*8 {
				k-- // an op may span chunks
			}
			for ; k < len(ops) && ops[k].lcn < hi*8; k++ {
				o := ops[k]
				a, b := max(o.lcn, lo*8), min(o.lcn+o.n, hi*8)
				relSetBits(buf, a-lo*8, b-lo*8, o.set)
			}
			ext, err := st.extents(lo, hi-lo)
			if err != nil {
				return err
			}
			if err := p.extents(ext, buf, "$Bitmap: relocated clusters"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sizes of the writes a relocation plans: gaps up to relGap bytes between
// changed regions are rewritten unchanged rather than starting another
// write, and no write is longer than relChunk bytes.
const (
	relGap   = 4096
	relChunk = 1 << 20
)

// relSetBits sets or clears bits [a, b) of buf, whole bytes at a time
// where it can.
func relSetBits(buf []byte, a, b int64, set bool) {
	for a < b && a&7 != 0 {
		relBit(buf, a, set)
		a++
	}
	for ; a+8 <= b; a += 8 {
		if set {
			buf[a>>3] = 0xff
		} else {
			buf[a>>3] = 0
		}
	}
	for ; a < b; a++ {
		relBit(buf, a, set)
	}
}

func relBit(buf []byte, c int64, set bool) {
	if set {
		setBit(buf, c)
	} else {
		clearBit(buf, c)
	}
}

// relView reads a volume as it will be after copies (sorted by
// destination, never overlapping) and then writes (in order).
type relView struct {
	base   io.ReaderAt
	copies []DataCopy
	writes []diag.Write
	byOff  []int // indices of writes sorted by offset
	maxLen int64
}

func newRelView(base io.ReaderAt, copies []DataCopy, writes []diag.Write) *relView {
	o := &relView{base: base, copies: copies, writes: writes}
	o.byOff = make([]int, len(writes))
	for i, w := range writes {
		o.byOff[i] = i
		o.maxLen = max(o.maxLen, int64(len(w.New)))
	}
	sort.SliceStable(o.byOff, func(a, b int) bool { return writes[o.byOff[a]].Offset < writes[o.byOff[b]].Offset })
	return o
}

// ReadAt implements io.ReaderAt.
func (o *relView) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.base.ReadAt(p, off)
	if n < len(p) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	end := off + int64(len(p))
	i := sort.Search(len(o.copies), func(i int) bool { return o.copies[i].Dst+o.copies[i].Length > off })
	for ; i < len(o.copies) && o.copies[i].Dst < end; i++ {
		c := o.copies[i]
		lo, hi := max(off, c.Dst), min(end, c.Dst+c.Length)
		if err := readFull(o.base, p[lo-off:hi-off], c.Src+lo-c.Dst); err != nil {
			return 0, err
		}
	}
	j := sort.Search(len(o.byOff), func(j int) bool { return o.writes[o.byOff[j]].Offset >= off-o.maxLen })
	var hit []int
	for ; j < len(o.byOff) && o.writes[o.byOff[j]].Offset < end; j++ {
		hit = append(hit, o.byOff[j])
	}
	slices.Sort(hit)
	for _, k := range hit {
		w := o.writes[k]
		lo, hi := max(off, w.Offset), min(end, w.Offset+int64(len(w.New)))
		if lo < hi {
			copy(p[lo-off:hi-off], w.New[lo-w.Offset:hi-w.Offset])
		}
	}
	return len(p), nil
}

// relMerge turns a sequence of writes, each planned on the volume as the
// ones before it leave it, into one list of non-overlapping writes whose
// Old bytes come from before (the volume after the copies) and New bytes
// from after (after every write of seq). Regions closer than relGap are
// joined (up to relChunk bytes); the list keeps the order in which seq
// first touches each region.
func relMerge(before, after io.ReaderAt, seq []diag.Write) ([]diag.Write, error) {
	type span struct {
		lo, hi int64
		first  int
		what   []string
	}
	idx := make([]int, len(seq))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return seq[idx[a]].Offset < seq[idx[b]].Offset })
	var spans []span
	for _, i := range idx {
		w := seq[i]
		lo, hi := w.Offset, w.Offset+int64(len(w.New))
		if n := len(spans); n > 0 && lo <= spans[n-1].hi+relGap && max(hi, spans[n-1].hi)-spans[n-1].lo <= relChunk {
			s := &spans[n-1]
			s.hi = max(s.hi, hi)
			s.first = min(s.first, i)
			if len(s.what) < 3 && !slices.Contains(s.what, w.What) {
				s.what = append(s.what, w.What)
			}
			continue
		} else if n > 0 && lo < spans[n-1].hi {
			s := &spans[n-1] // overlapping but too long to join: extend anyway
			s.hi = max(s.hi, hi)
			s.first = min(s.first, i)
			continue
		}
		spans = append(spans, span{lo: lo, hi: hi, first: i, what: []string{w.What}})
	}
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	var out []diag.Write
	for _, s := range spans {
		old := make([]byte, s.hi-s.lo)
		neu := make([]byte, s.hi-s.lo)
		if err := readFull(before, old, s.lo); err != nil {
			return nil, err
		}
		if err := readFull(after, neu, s.lo); err != nil {
			return nil, err
		}
		if string(old) == string(neu) {
			continue
		}
		out = append(out, diag.Write{Offset: s.lo, Old: old, New: neu, What: strings.Join(s.what, "; ")})
	}
	return out, nil
}
