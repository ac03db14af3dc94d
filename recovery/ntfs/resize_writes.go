package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/winrepart/winrepart/diag"
)

// bitmapEdit is the new $Bitmap of a resize: its bytes from the first one
// that may change, its runlist and its allocation.
type bitmapEdit struct {
	tail  []byte // the new bitmap's bytes from byte base to its end
	base  int64
	from  int64 // first byte (>= base) that may differ, besides the bits of fresh
	runs  []Run // the new runlist
	alloc int64 // the new allocated size, in bytes
	fresh []Run // clusters newly allocated for $Bitmap (their bits lie inside tail)
}

// size returns the new bitmap's data size in bytes.
func (b bitmapEdit) size() int64 { return b.base + int64(len(b.tail)) }

// resizer plans the writes of a resize to geometry g that passed its
// checks (sys holds what preflight found), once the new $Bitmap is known.
type resizer struct {
	v    *Volume
	sys  *resizeFiles
	g    geometry
	opts ResizeOptions
	p    writePlan
}

// plan plans everything the resize writes, in this order: the dirty flag
// first (an interrupted resize then still gets chkdsk) and the $LogFile
// reset, as the options ask; $Bitmap's content; its record (runs and
// sizes) and $FILE_NAME sizes; $BadClus:$Bad; the root directory's entry
// of $Bitmap; the backup boot sector at the new last sector, then the
// primary.
func (r *resizer) plan(bm bitmapEdit) ([]diag.Write, error) {
	r.p = writePlan{v: r.v}
	if r.opts.SetDirty {
		if err := r.v.setDirty(&r.p); err != nil {
			return nil, err
		}
	}
	if r.opts.ResetLogFile {
		if err := r.v.resetLogFile(&r.p); err != nil {
			return nil, err
		}
	}
	if err := r.bitmapData(bm); err != nil {
		return nil, err
	}
	if err := r.bitmapRecord(bm); err != nil {
		return nil, err
	}
	if err := r.badClus(); err != nil {
		return nil, err
	}
	root, err := r.v.ReadRecord(RecordRoot)
	if err != nil {
		return nil, err
	}
	if err := r.v.updateDirEntries(&r.p, root, RecordBitmap, entrySizes{alloc: bm.alloc, data: bm.size()}); err != nil {
		return nil, err
	}
	if err := r.bootSectors(); err != nil {
		return nil, err
	}
	if err := checkWrites(r.p.ws); err != nil {
		return nil, fmt.Errorf("ntfs: internal error: %w", err)
	}
	return r.p.ws, nil
}

// bitmapData plans $Bitmap's content: the bytes from bm.from on, the whole
// fresh clusters, and the bytes holding the fresh clusters' bits.
func (r *resizer) bitmapData(bm bitmapEdit) error {
	cs := r.v.clusterSize
	ranges := [][2]int64{{bm.from, bm.size()}}
	for _, f := range bm.fresh {
		ranges = append(ranges, [2]int64{f.VCN * cs, (f.VCN + f.Length) * cs})
		for c := f.LCN; c < f.LCN+f.Length; c++ {
			if c>>3 < bm.base {
				return fmt.Errorf("ntfs: internal error: fresh cluster %d before bitmap byte %d", c, bm.base)
			}
			if c>>3 < bm.from {
				ranges = append(ranges, [2]int64{c >> 3, c>>3 + 1})
			}
		}
	}
	// Without fresh clusters every range lies inside tail; only fresh
	// clusters need the zero padding up to the allocated size.
	content := bm.tail
	if len(bm.fresh) > 0 {
		content = make([]byte, bm.alloc-bm.base)
		copy(content, bm.tail)
	}
	for _, rg := range mergeRanges(ranges) {
		if err := r.p.streamRange(bm.runs, content, bm.base, rg, "$Bitmap data"); err != nil {
			return err
		}
	}
	return nil
}

// bitmapRecord plans $Bitmap's record: the runs and sizes of its $DATA,
// and the sizes in its $FILE_NAME attributes.
func (r *resizer) bitmapRecord(bm bitmapEdit) error {
	s := r.sys
	rec := &Record{Number: s.bmRec.Number, Raw: bytes.Clone(s.bmRec.Raw)}
	if err := setNonResident(rec, s.bmAttr, bm.runs, bm.alloc, bm.size(), bm.size(), r.v.clusterSize); err != nil {
		return err
	}
	setFileNameSizes(rec, s.bmRec, bm.alloc, bm.size())
	return r.p.record(rec, "$Bitmap $DATA runs and sizes")
}

// badClus plans $BadClus:$Bad as one hole covering the new volume.
func (r *resizer) badClus() error {
	s, cs := r.sys, r.v.clusterSize
	vol := r.g.clusters * cs
	rec := &Record{Number: s.badRec.Number, Raw: bytes.Clone(s.badRec.Raw)}
	hole := []Run{{VCN: 0, LCN: -1, Length: r.g.clusters, Sparse: true}}
	if err := setNonResident(rec, s.badAttr, hole, vol, vol, min(s.badAttr.InitializedSize, vol), cs); err != nil {
		return err
	}
	return r.p.record(rec, "$BadClus:$Bad length")
}

// bootSectors plans the backup boot sector at the new last sector, then
// the primary boot sector's TotalSectors.
func (r *resizer) bootSectors() error {
	v, g := r.v, r.g
	bps := int64(v.Boot.BytesPerSector)
	boot := make([]byte, bps)
	if err := readFull(v.r, boot, 0); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(boot[offTotalSectors:], uint64(g.totalSectors))
	if err := r.p.add(g.totalSectors*bps, boot, "backup boot sector"); err != nil {
		return err
	}
	return r.p.add(offTotalSectors, bytes.Clone(boot[offTotalSectors:offTotalSectors+8]), fmt.Sprintf("boot sector: TotalSectors %d -> %d", v.Boot.TotalSectors, g.totalSectors))
}

// mergeRanges sorts and joins overlapping or touching ranges.
func mergeRanges(rs [][2]int64) [][2]int64 {
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

// setFileNameSizes sets the allocated and data sizes of every
// $FILE_NAME of rec (a copy of orig being edited).
func setFileNameSizes(rec, orig *Record, alloc, data int64) {
	for _, a := range orig.Attributes {
		if a.Type != AttrFileName || a.NonResident || len(a.Value) < offFNNameLength {
			continue
		}
		off := a.Offset + a.ValueOffset
		binary.LittleEndian.PutUint64(rec.Raw[off+offFNAllocSize:], uint64(alloc))
		binary.LittleEndian.PutUint64(rec.Raw[off+offFNDataSize:], uint64(data))
	}
}

// setDirty plans setting the dirty flag of $Volume.
func (v *Volume) setDirty(p *writePlan) error {
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

// resetLogFile plans filling $LogFile with 0xFF.
func (v *Volume) resetLogFile(p *writePlan) error {
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

// entrySizes sets the allocated and data sizes of a file in the
// directory entries pointing to it, whatever they held (a resize's
// $Bitmap).
type entrySizes struct {
	alloc, data int64
}

// patchEntries walks the index node whose header is at hdr in b and sets
// the sizes of the entries pointing to target. It returns how many
// entries it set.
func (s entrySizes) patchEntries(b []byte, hdr int, target uint64) (int, error) {
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
			le.PutUint64(b[k+offFNAllocSize:], uint64(s.alloc))
			le.PutUint64(b[k+offFNDataSize:], uint64(s.data))
			n++
		}
		off += length
	}
	return n, nil
}
