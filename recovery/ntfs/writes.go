package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/winrepart/winrepart/diag"
)

// WriteError reports a write of a list that could not be applied: its
// index in the list, and why.
type WriteError struct {
	Index  int   // position in the list, 0-based
	Offset int64 // Write.Offset
	Err    error // ErrStale, ErrBadWrite, or the I/O error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("ntfs: write %d at %#x: %v", e.Index, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *WriteError) Unwrap() error { return e.Err }

// ApplyWrites writes every Write's New bytes at its Offset, in list order.
// The writes are those the Plan methods return: Offset counts bytes from
// the start of the volume, and Old holds the bytes found there when the
// change was planned, as long as New.
//
// Before writing anything it checks the list: Old and New of equal length,
// no negative offset, no two writes overlapping (a *WriteError wrapping
// ErrBadWrite). When w is also an io.ReaderAt, it then reads every region
// and compares it with Old, refusing the whole list (ErrStale) if the
// volume changed since it was planned. A failing write stops the list; the
// writes before it are done, so callers that need atomicity journal the
// list first (Old is what an undo writes back).
func ApplyWrites(w io.WriterAt, ws []diag.Write) error {
	if err := checkWrites(ws); err != nil {
		return err
	}
	if r, ok := w.(io.ReaderAt); ok {
		if err := verifyOld(r, ws); err != nil {
			return err
		}
	}
	for i, x := range ws {
		if _, err := w.WriteAt(x.New, x.Offset); err != nil {
			return &WriteError{Index: i, Offset: x.Offset, Err: err}
		}
	}
	return nil
}

// UndoWrites writes back every Write's Old bytes, last write first: it
// reverts a list applied (completely or in part) by ApplyWrites.
func UndoWrites(w io.WriterAt, ws []diag.Write) error {
	if err := checkWrites(ws); err != nil {
		return err
	}
	for i := len(ws) - 1; i >= 0; i-- {
		if _, err := w.WriteAt(ws[i].Old, ws[i].Offset); err != nil {
			return &WriteError{Index: i, Offset: ws[i].Offset, Err: err}
		}
	}
	return nil
}

func checkWrites(ws []diag.Write) error {
	idx := make([]int, len(ws))
	for i, x := range ws {
		idx[i] = i
		if len(x.Old) != len(x.New) || x.Offset < 0 || x.Offset > 1<<62-int64(len(x.New)) {
			return &WriteError{Index: i, Offset: x.Offset, Err: errf(ErrBadWrite, "old %d bytes, new %d bytes", len(x.Old), len(x.New))}
		}
	}
	sort.Slice(idx, func(a, b int) bool { return ws[idx[a]].Offset < ws[idx[b]].Offset })
	for k := 1; k < len(idx); k++ {
		p, c := ws[idx[k-1]], ws[idx[k]]
		if p.Offset+int64(len(p.New)) > c.Offset {
			return &WriteError{Index: idx[k], Offset: c.Offset, Err: errf(ErrBadWrite, "overlaps write %d at %#x", idx[k-1], p.Offset)}
		}
	}
	return nil
}

func verifyOld(r io.ReaderAt, ws []diag.Write) error {
	var buf []byte
	for i, x := range ws {
		if cap(buf) < len(x.Old) {
			buf = make([]byte, len(x.Old))
		}
		b := buf[:len(x.Old)]
		if err := readFull(r, b, x.Offset); err != nil {
			return &WriteError{Index: i, Offset: x.Offset, Err: err}
		}
		if !bytes.Equal(b, x.Old) {
			return &WriteError{Index: i, Offset: x.Offset, Err: errf(ErrStale, "%s", x.What)}
		}
	}
	return nil
}

// writePlan accumulates the writes of one operation.
type writePlan struct {
	v  *Volume
	ws []diag.Write
}

// add plans writing b at off (volume bytes), reading the old bytes; a
// write that changes nothing is dropped.
func (p *writePlan) add(off int64, b []byte, what string) error {
	if off < 0 || off+int64(len(b)) > p.v.size {
		return errf(ErrOutOfRange, "write %d bytes at %d outside the %d-byte partition (%s)", len(b), off, p.v.size, what)
	}
	old := make([]byte, len(b))
	if err := readFull(p.v.r, old, off); err != nil {
		return err
	}
	if bytes.Equal(old, b) {
		return nil
	}
	p.ws = append(p.ws, diag.Write{Offset: off, Old: old, New: b, What: what})
	return nil
}

// mftMirror returns $MFTMirr's stream and how many MFT records it holds.
func (v *Volume) mftMirror() (*stream, int64, error) {
	rec, err := v.ReadRecord(RecordMFTMirr)
	if err != nil {
		return nil, 0, err
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		return nil, 0, err
	}
	if st.isRes {
		return nil, 0, &RecordError{Record: RecordMFTMirr, Err: errf(ErrBadAttribute, "resident $MFTMirr")}
	}
	return st, st.size / v.recordSize, nil
}

// record plans writing back rec.Raw (fixups applied, edited) as MFT
// record rec.Number: it bumps the update sequence number, re-protects a
// copy, checks the result parses, and writes it to $MFT and, for the
// records $MFTMirr holds, to the mirror too.
func (p *writePlan) record(rec *Record, what string) error {
	raw := bytes.Clone(rec.Raw)
	usn := UpdateSequenceNumber(raw) + 1
	if usn == 0 || usn == 0xFFFF {
		usn = 1
	}
	if err := ProtectFixups(raw, usn); err != nil {
		return err
	}
	if _, err := ParseRecord(raw, rec.Number); err != nil {
		return fmt.Errorf("ntfs: edited record %d does not parse: %w", rec.Number, err)
	}
	ext, err := p.v.RecordExtents(rec.Number)
	if err != nil {
		return err
	}
	if err := p.extents(ext, raw, fmt.Sprintf("MFT record %d: %s", rec.Number, what)); err != nil {
		return err
	}
	mirror, n, err := p.v.mftMirror()
	if err != nil {
		return err
	}
	if int64(rec.Number) < n {
		ext, err := mirror.extents(int64(rec.Number)*p.v.recordSize, p.v.recordSize)
		if err != nil {
			return err
		}
		return p.extents(ext, raw, fmt.Sprintf("$MFTMirr copy of record %d: %s", rec.Number, what))
	}
	return nil
}

// extents plans writing b over the given extents (FileOffset relative to
// the first one).
func (p *writePlan) extents(ext []Extent, b []byte, what string) error {
	if len(ext) == 0 {
		return nil
	}
	base := ext[0].FileOffset
	for _, e := range ext {
		lo := e.FileOffset - base
		if lo < 0 || lo+e.Length > int64(len(b)) {
			return errf(ErrOutOfRange, "extent %+v outside %d bytes", e, len(b))
		}
		if err := p.add(e.VolumeOffset, b[lo:lo+e.Length], what); err != nil {
			return err
		}
	}
	return nil
}

// streamRange plans writing bytes span[0] to span[1] of a non-resident
// stream mapped by runs; content holds the stream's bytes from byte base
// on.
func (p *writePlan) streamRange(runs []Run, content []byte, base int64, span [2]int64, what string) error {
	cs := p.v.clusterSize
	lo, hi := span[0], span[1]
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

// entryPatcher changes the $FILE_NAME keys of the entries of one index
// node (its header at hdr in b) that point to record target, and returns
// how many it changed. A resize sets $Bitmap's sizes (entrySizes); a
// rewrite follows a file's old sizes to its new ones (sizeFix).
type entryPatcher interface {
	patchEntries(b []byte, hdr int, target uint64) (int, error)
}

// updateDirEntries applies fix to every entry of directory dir's $I30
// index that points to record target: in $INDEX_ROOT (dir.Raw is edited
// and written back as a record) and in the $INDEX_ALLOCATION blocks in
// use (fixups re-applied per block).
func (v *Volume) updateDirEntries(p *writePlan, dir *Record, target uint64, fix entryPatcher) error {
	le := binary.LittleEndian
	root := dir.Find(AttrIndexRoot, "$I30")
	if root == nil || root.NonResident || len(root.Value) < offIRHeader+indexHeaderSize {
		return &RecordError{Record: dir.Number, Err: errf(ErrNoAttribute, "$INDEX_ROOT $I30")}
	}
	base := root.Offset + root.ValueOffset
	n, err := fix.patchEntries(dir.Raw[:base+len(root.Value)], base+offIRHeader, target)
	if err != nil {
		return &IndexError{Record: dir.Number, VCN: -1, Err: err}
	}
	if n > 0 {
		if err := p.record(dir, fmt.Sprintf("directory entry of record %d: sizes", target)); err != nil {
			return err
		}
	}
	if dir.Find(AttrIndexAllocation, "$I30") == nil {
		return nil
	}
	st, err := v.openStream(dir, AttrIndexAllocation, "$I30")
	if err != nil {
		return err
	}
	bsz := int64(le.Uint32(root.Value[offIRBlockSize:]))
	if bsz < FixupStride || bsz > maxRecordSize || bsz%FixupStride != 0 || st.isRes {
		return &IndexError{Record: dir.Number, VCN: -1, Err: errf(ErrBadIndex, "index block size %d", bsz)}
	}
	if st.size/bsz > maxIndexBlocks {
		return &IndexError{Record: dir.Number, VCN: -1, Err: errf(ErrBadIndex, "%d index blocks", st.size/bsz)}
	}
	b := make([]byte, bsz)
	for off := int64(0); off+bsz <= st.size; off += bsz {
		if err := readFull(st, b, off); err != nil {
			return err
		}
		if string(b[:4]) != "INDX" {
			continue // a block not in use
		}
		if err := ApplyFixups(b); err != nil {
			return &IndexError{Record: dir.Number, VCN: off / bsz, Err: err}
		}
		n, err := fix.patchEntries(b, offIndxHeader, target)
		if err != nil {
			return &IndexError{Record: dir.Number, VCN: off / bsz, Err: err}
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
		if err := p.extents(ext, bytes.Clone(b), fmt.Sprintf("index block %d of record %d: entry of record %d sizes", off/bsz, dir.Number, target)); err != nil {
			return err
		}
	}
	return nil
}

// setNonResident rewrites non-resident attribute a of rec (in rec.Raw,
// fixups applied) with new runs and sizes, keeping its header layout. The
// mapping pairs may grow or shrink; later attributes move and BytesInUse
// follows. HighestVCN becomes the end of runs minus one.
func setNonResident(rec *Record, a *Attribute, runs []Run, alloc, data, init, clusterSize int64) error {
	le := binary.LittleEndian
	attr, err := withPairs(rec, a, runs)
	if err != nil {
		return err
	}
	high := a.LowestVCN - 1
	if n := len(runs); n > 0 {
		high = runs[n-1].VCN + runs[n-1].Length - 1
	}
	le.PutUint64(attr[offAttrHighestVCN:], uint64(high))
	le.PutUint64(attr[offAttrAllocatedSize:], uint64(alloc))
	le.PutUint64(attr[offAttrDataSize:], uint64(data))
	le.PutUint64(attr[offAttrInitializedSize:], uint64(init))
	if a.Flags&(AttrFlagCompressed|AttrFlagSparse) != 0 && a.RunsOffset >= attrNonResidentHdrSize+8 {
		var c int64
		for _, r := range runs {
			if !r.Sparse {
				c += r.Length
			}
		}
		le.PutUint64(attr[offAttrCompressedSize:], uint64(c*clusterSize))
	}
	return putAttr(rec, a, attr)
}

// withPairs returns non-resident attribute a of rec with its mapping
// pairs those of runs and its length to match; the rest of the header is
// as it was.
func withPairs(rec *Record, a *Attribute, runs []Run) ([]byte, error) {
	pairs, err := EncodeRunlist(runs)
	if err != nil {
		return nil, err
	}
	newLen := (a.RunsOffset + len(pairs) + 7) &^ 7
	attr := make([]byte, newLen)
	copy(attr, rec.Raw[a.Offset:a.Offset+a.RunsOffset])
	copy(attr[a.RunsOffset:], pairs)
	binary.LittleEndian.PutUint32(attr[offAttrLength:], uint32(newLen))
	return attr, nil
}

// putAttr puts attr in place of attribute a in rec.Raw when the record
// has room for it; the error wraps ErrNoSpace when it has not.
func putAttr(rec *Record, a *Attribute, attr []byte) error {
	inUse := int(binary.LittleEndian.Uint32(rec.Raw[offRecBytesInUse:]))
	if grow := len(attr) - a.Length; inUse+grow > len(rec.Raw) {
		return &RecordError{Record: rec.Number, Offset: a.Offset, Err: errf(ErrNoSpace, "%v needs %d more bytes in a full record", a.Type, grow)}
	}
	spliceAttr(rec, a, attr, inUse)
	return nil
}

// spliceAttr puts attr in place of attribute a in rec.Raw (fixups
// applied, inUse bytes in use): the attributes after a move, the bytes
// the record gives up are zeroed, and BytesInUse follows. The caller has
// checked that the record has room.
func spliceAttr(rec *Record, a *Attribute, attr []byte, inUse int) {
	grow := len(attr) - a.Length
	tail := bytes.Clone(rec.Raw[a.Offset+a.Length : inUse])
	copy(rec.Raw[a.Offset:], attr)
	copy(rec.Raw[a.Offset+len(attr):], tail)
	if grow < 0 {
		clear(rec.Raw[inUse+grow : inUse])
	}
	binary.LittleEndian.PutUint32(rec.Raw[offRecBytesInUse:], uint32(inUse+grow))
}

// reparse parses rec.Raw again after an edit (the offsets of its
// attributes may have moved).
func reparse(rec *Record) (*Record, error) {
	raw := bytes.Clone(rec.Raw)
	if err := ProtectFixups(raw, UpdateSequenceNumber(raw)); err != nil {
		return nil, err
	}
	return ParseRecord(raw, rec.Number)
}
