package ntfs

import (
	"encoding/binary"
	"fmt"

	"github.com/winrepart/winrepart/diag"
)

// FileRoom says how far the unnamed $DATA stream of a file can change
// length in place: the one check [Volume.PlanRewriteFile] makes before it
// plans anything, kept as a value so that a caller can record it when it
// inspects a volume and run the same check ([FileRoom.Check]) later,
// without the volume, on the length it means to write.
type FileRoom struct {
	// Path is the file's path as given to [Volume.FileRoom].
	Path string
	// Record is the MFT record number of the file's base record.
	Record uint64
	// Size is the file's length in bytes.
	Size int64
	// Resident is true when the data lives inside the MFT record.
	Resident bool
	// MaxSize is the largest length the file can be rewritten at. For
	// resident data it is the value length the record has room for: the
	// $DATA attribute may take every free byte of the record, keeping the
	// attribute 8-byte aligned. For non-resident data it is the allocated
	// size: the file may grow into its last cluster's slack, but no
	// cluster is allocated.
	MaxSize int64
	// Fixed, when not empty, says why the length cannot change at all (the
	// data is spread over several attribute extents); the file can then
	// only be rewritten at Size.
	Fixed string
}

// Check reports whether [Volume.PlanRewriteFile] can rewrite the file with
// n bytes: nil, or a *RoomError.
func (r FileRoom) Check(n int64) error {
	switch {
	case n == r.Size:
		return nil
	case n < 0:
		return &RoomError{Room: r, Want: n, Err: ErrBadSize}
	case r.Fixed != "":
		return &RoomError{Room: r, Want: n, Err: ErrUnsupported}
	case n > r.MaxSize:
		return &RoomError{Room: r, Want: n, Err: ErrNoSpace}
	}
	return nil
}

// RoomError reports a file that cannot be rewritten at the length asked
// for. It unwraps to ErrNoSpace (the MFT record or the allocated clusters
// are too small), ErrUnsupported (the length cannot change, see
// FileRoom.Fixed) or ErrBadSize (a negative length).
type RoomError struct {
	Room FileRoom // what the file has
	Want int64    // the length asked for
	Err  error    // the sentinel
}

func (e *RoomError) Error() string {
	r := e.Room
	where := fmt.Sprintf("its %d allocated bytes", r.MaxSize)
	if r.Resident {
		where = fmt.Sprintf("its MFT record %d, which has room for %d", r.Record, r.MaxSize)
	}
	switch {
	case e.Err == ErrUnsupported:
		return fmt.Sprintf("%v: %s cannot change length from %d to %d bytes: %s", e.Err, r.Path, r.Size, e.Want, r.Fixed)
	case e.Err == ErrBadSize:
		return fmt.Sprintf("%v: %s: length %d", e.Err, r.Path, e.Want)
	}
	return fmt.Sprintf("%v: %s cannot grow from %d to %d bytes in %s", e.Err, r.Path, r.Size, e.Want, where)
}

// Unwrap returns the sentinel.
func (e *RoomError) Unwrap() error { return e.Err }

// firstUserRecord is the first MFT record that is not reserved for NTFS
// metadata files.
const firstUserRecord = 16

// rwFile is what a rewrite needs of a file: its base record, the extents
// of its unnamed $DATA and, when non-resident, the stream over them.
type rwFile struct {
	path string
	name string // as stored in the directory entry
	rec  *Record
	ext  []Attribute
	st   *stream // nil when resident
	room FileRoom
}

// FileRoom looks the file at path up (see Lookup) and says how far its
// unnamed $DATA can change length in place. Files that cannot be
// rewritten at all give an error: directories, NTFS metadata files
// (records below 16), sparse, compressed and encrypted data, data whose initialized size is below its size, and
// resident data held outside the base record (ErrUnsupported).
func (v *Volume) FileRoom(path string) (FileRoom, error) {
	f, err := v.rwOpen(path)
	if err != nil {
		return FileRoom{}, err
	}
	return f.room, nil
}

func (v *Volume) rwOpen(path string) (*rwFile, error) {
	f, err := v.Lookup(path)
	if err != nil {
		return nil, err
	}
	if f.IsDir {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrNotFound, "is a directory")}
	}
	if f.Record < firstUserRecord {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, "record %d is NTFS metadata", f.Record)}
	}
	rec, err := v.ReadRecord(f.Record)
	if err != nil {
		return nil, err
	}
	ext, err := v.attrExtents(rec, AttrData, "")
	if err != nil {
		return nil, err
	}
	unsupported := func(format string, args ...any) (*rwFile, error) {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, format, args...)}
	}
	a := ext[0]
	if a.Flags&(AttrFlagCompressed|AttrFlagEncrypted|AttrFlagSparse) != 0 {
		return unsupported("$DATA flags %#x", a.Flags)
	}
	rf := &rwFile{path: path, name: f.Name, rec: rec, ext: ext, room: FileRoom{Path: path, Record: rec.Number}}
	if !a.NonResident {
		if _, err := v.newStream(rec.Number, ext); err != nil {
			return nil, err
		}
		d := rec.Find(AttrData, "")
		if d == nil || d.Offset != a.Offset || d.Instance != a.Instance {
			return unsupported("resident $DATA outside the base record")
		}
		free := int(rec.BytesAllocated) - int(rec.BytesInUse)
		rf.room.Size = int64(len(a.Value))
		rf.room.Resident = true
		rf.room.MaxSize = int64(max((a.Length+free)&^7-a.ValueOffset, len(a.Value)))
		return rf, nil
	}
	st, err := v.newStream(rec.Number, ext)
	if err != nil {
		return nil, err
	}
	if st.initSize < st.size {
		return unsupported("initialized size %d below size %d", st.initSize, st.size)
	}
	for _, r := range st.runs {
		if r.Sparse && r.VCN*v.clusterSize < st.size {
			return unsupported("hole at VCN %d", r.VCN)
		}
	}
	rf.st = st
	rf.room.Size = st.size
	rf.room.MaxSize = st.size
	switch d := rec.Find(AttrData, ""); {
	case len(ext) != 1 || d == nil || d.Offset != a.Offset || d.Instance != a.Instance:
		rf.room.Fixed = fmt.Sprintf("$DATA in %d extents", len(ext))
	case a.LowestVCN != 0:
		rf.room.Fixed = fmt.Sprintf("$DATA starts at VCN %d", a.LowestVCN)
	default:
		// Every allocated cluster is mapped (newStream checked the runs
		// cover HighestVCN; allocated size is what they cover).
		rf.room.MaxSize = max(st.size, min(a.AllocatedSize, (a.HighestVCN+1)*v.clusterSize))
	}
	return rf, nil
}

// PlanRewriteFile plans replacing the whole content of the existing file
// at path with content, of any length that [Volume.FileRoom] allows (see
// [FileRoom.Check]; a *RoomError otherwise). It keeps everything else as
// it is: timestamps, the other attributes, the clusters.
//
//   - Resident data is resized inside its MFT record: the attributes after
//     $DATA move, the attribute length, value length and the record's bytes
//     in use follow, 8-byte alignment is kept, and the record is written
//     back with a new update sequence number (and to $MFTMirr when it holds
//     a copy).
//   - Non-resident data is rewritten in its clusters; its data and
//     initialized sizes change, its allocation does not. When it shrinks,
//     the bytes it gives up in its last clusters are zeroed.
//   - The sizes in the file's $FILE_NAME attributes, and in the entries of
//     its parent directories' $I30 indexes ($INDEX_ROOT in the directory's
//     record, $INDEX_ALLOCATION blocks with their fixups re-applied) follow
//     where they held the old sizes: an allocated size equal to the old one
//     (for resident data, the value length rounded up to 8 bytes, as
//     ntfs-3g and Windows keep it) becomes the new one, and a data size
//     equal to the old length becomes the new length. Sizes that were
//     already stale (Windows leaves zeros in the record's own $FILE_NAME)
//     stay as they are.
//
// A content of the file's current length gives the writes of
// PlanPatchFile.
func (v *Volume) PlanRewriteFile(path string, content []byte) ([]diag.Write, error) {
	f, err := v.rwOpen(path)
	if err != nil {
		return nil, err
	}
	return v.rwPlan(f, content)
}

// rwPlan plans the writes of PlanRewriteFile for the file f.
func (v *Volume) rwPlan(f *rwFile, content []byte) ([]diag.Write, error) {
	path := f.path
	n := int64(len(content))
	if err := f.room.Check(n); err != nil {
		return nil, err
	}
	p := &writePlan{v: v}
	rec := f.rec
	a := f.ext[0]
	what := "content of " + path
	if n == f.room.Size {
		if !a.NonResident {
			copy(rec.Raw[a.Offset+a.ValueOffset:], content)
			if err := p.record(rec, what); err != nil {
				return nil, err
			}
			return p.ws, nil
		}
		xs, err := f.st.extents(0, n)
		if err != nil {
			return nil, err
		}
		if err := p.extents(xs, content, what); err != nil {
			return nil, err
		}
		return p.ws, nil
	}
	oldAlloc, newAlloc := a.AllocatedSize, a.AllocatedSize
	if !a.NonResident {
		oldAlloc, newAlloc = (f.room.Size+7)&^7, (n+7)&^7
	}
	fix := sizeFix{oldAlloc: oldAlloc, newAlloc: newAlloc, oldData: f.room.Size, newData: n}
	// $FILE_NAME attributes come before $DATA (attributes are sorted by
	// type), so their offsets survive a resident resize; patch them first.
	parents := fix.fileNames(rec)
	if !a.NonResident {
		if err := resizeResident(rec, &a, content); err != nil {
			return nil, err
		}
		if err := p.record(rec, fmt.Sprintf("%s (%d -> %d bytes)", what, f.room.Size, n)); err != nil {
			return nil, err
		}
	} else {
		// Content first, then the sizes that make it visible.
		span := max(n, f.room.Size)
		buf := make([]byte, span)
		copy(buf, content)
		xs, err := f.st.extents(0, span)
		if err != nil {
			return nil, err
		}
		if err := p.extents(xs, buf, what); err != nil {
			return nil, err
		}
		le := binary.LittleEndian
		le.PutUint64(rec.Raw[a.Offset+offAttrDataSize:], uint64(n))
		le.PutUint64(rec.Raw[a.Offset+offAttrInitializedSize:], uint64(n))
		if err := p.record(rec, fmt.Sprintf("%s: $DATA sizes %d -> %d bytes", path, f.room.Size, n)); err != nil {
			return nil, err
		}
	}
	for _, parent := range parents {
		dir, err := v.readParent(parent, rec.Number)
		if err != nil {
			return nil, err
		}
		if err := v.updateDirEntries(p, dir, rec.Number, fix); err != nil {
			return nil, err
		}
	}
	if err := checkWrites(p.ws); err != nil {
		return nil, fmt.Errorf("ntfs: internal error: %w", err)
	}
	return p.ws, nil
}

// resizeResident replaces the value of resident attribute a of rec (in
// rec.Raw, fixups applied) with value, moving the attributes after it. The
// caller has checked the record has room.
func resizeResident(rec *Record, a *Attribute, value []byte) error {
	le := binary.LittleEndian
	newLen := (a.ValueOffset + len(value) + 7) &^ 7
	inUse := int(le.Uint32(rec.Raw[offRecBytesInUse:]))
	grow := newLen - a.Length
	end := a.Offset + a.Length
	if inUse+grow > len(rec.Raw) || end > inUse {
		return &RecordError{Record: rec.Number, Offset: a.Offset, Err: errf(ErrNoSpace, "%v of %d bytes needs %d more bytes, the record has %d free", a.Type, len(value), grow, len(rec.Raw)-inUse)}
	}
	attr := make([]byte, newLen)
	copy(attr, rec.Raw[a.Offset:a.Offset+a.ValueOffset])
	copy(attr[a.ValueOffset:], value)
	le.PutUint32(attr[offAttrLength:], uint32(newLen))
	le.PutUint32(attr[offAttrValueLength:], uint32(len(value)))
	spliceAttr(rec, a, attr, inUse)
	return nil
}

// sizeFix is a change of a file's sizes, applied to the copies of them in
// $FILE_NAME values where they held the old ones.
type sizeFix struct {
	oldAlloc, newAlloc int64
	oldData, newData   int64
}

// apply updates the sizes of the $FILE_NAME value fn; it reports whether
// it changed anything.
func (s sizeFix) apply(fn []byte) bool {
	if len(fn) < offFNDataSize+8 {
		return false
	}
	le := binary.LittleEndian
	changed := false
	if int64(le.Uint64(fn[offFNAllocSize:])) == s.oldAlloc && s.oldAlloc != s.newAlloc {
		le.PutUint64(fn[offFNAllocSize:], uint64(s.newAlloc))
		changed = true
	}
	if int64(le.Uint64(fn[offFNDataSize:])) == s.oldData && s.oldData != s.newData {
		le.PutUint64(fn[offFNDataSize:], uint64(s.newData))
		changed = true
	}
	return changed
}

// fileNames updates the $FILE_NAME attributes of rec (in rec.Raw) and
// returns the record numbers of their parent directories, each once.
func (s sizeFix) fileNames(rec *Record) []uint64 {
	var parents []uint64
	for _, a := range rec.Attributes {
		if a.Type != AttrFileName || a.NonResident || len(a.Value) < offFNName {
			continue
		}
		off := a.Offset + a.ValueOffset
		s.apply(rec.Raw[off : off+len(a.Value)])
		dir := FileRef(binary.LittleEndian.Uint64(rec.Raw[off+offFNParent:])).Record()
		seen := false
		for _, d := range parents {
			seen = seen || d == dir
		}
		if !seen {
			parents = append(parents, dir)
		}
	}
	return parents
}

// readParent reads record n, which a $FILE_NAME of record child names as
// its parent directory.
func (v *Volume) readParent(n, child uint64) (*Record, error) {
	dir, err := v.ReadRecord(n)
	if err != nil {
		return nil, err
	}
	if !dir.IsDir() {
		return nil, &RecordError{Record: n, Err: errf(ErrNotDirectory, "parent of record %d", child)}
	}
	return dir, nil
}

// patchEntries walks the index node whose header is at hdr in b and
// applies s to the entries pointing to target. It returns how many it
// changed.
func (s sizeFix) patchEntries(b []byte, hdr int, target uint64) (int, error) {
	le := binary.LittleEndian
	node, err := indexNode(b, hdr)
	if err != nil {
		return 0, err
	}
	n := 0
	for off := 0; off+offIEKey <= len(node); {
		e := node[off:]
		length := int(le.Uint16(e[offIELength:]))
		keyLen := int(le.Uint16(e[offIEKeyLength:]))
		flags := le.Uint16(e[offIEFlags:])
		if length < offIEKey || length > len(e) || length%8 != 0 || offIEKey+keyLen > length {
			return n, errf(ErrBadIndex, "entry at %d of length %d key %d", off, length, keyLen)
		}
		if flags&ieFlagLast != 0 {
			return n, nil
		}
		if FileRef(le.Uint64(e[offIEFileRef:])).Record() == target && keyLen >= offFNName {
			if s.apply(e[offIEKey : offIEKey+keyLen]) {
				n++
			}
		}
		off += length
	}
	return n, errf(ErrBadIndex, "entries not terminated")
}
