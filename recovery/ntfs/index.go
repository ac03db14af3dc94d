package ntfs

import (
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// $INDEX_ROOT value, INDX block and index entry layouts.
const (
	offIRAttrType     = 0x00
	offIRCollation    = 0x04
	offIRBlockSize    = 0x08
	offIRHeader       = 0x10
	offIHEntries      = 0x00 // relative to the index header
	offIHIndexLength  = 0x04
	offIHAllocated    = 0x08
	offIHFlags        = 0x0C
	indexHeaderSize   = 0x10
	offIndxVCN        = 0x10
	offIndxHeader     = 0x18
	offIEFileRef      = 0x00
	offIELength       = 0x08
	offIEKeyLength    = 0x0A
	offIEFlags        = 0x0C
	offIEKey          = 0x10
	ieFlagSubnode     = 0x01
	ieFlagLast        = 0x02
	collationFileName = 0x01

	// $FILE_NAME value layout.
	offFNParent     = 0x00
	offFNAllocSize  = 0x28
	offFNDataSize   = 0x30
	offFNAttributes = 0x38
	offFNNameLength = 0x40
	offFNNamespace  = 0x41
	offFNName       = 0x42
)

// Lookup bounds.
const (
	maxIndexDepth  = 32  // B+ tree levels followed before declaring a loop
	maxPathDepth   = 256 // path components
	maxNameLength  = 255 // UTF-16 code units in one name
	indexVCNShift  = 9   // VCN unit of index blocks smaller than a cluster
	maxIndexBlocks = 1 << 16
)

// File describes one file or directory found by Lookup. For files, the
// size, residency and runs are those of the unnamed $DATA stream.
type File struct {
	Record        uint64 // MFT record number of the base record
	Sequence      uint16 // its sequence number
	Name          string // name as stored in the directory entry (root: "")
	IsDir         bool
	Size          int64 // data size in bytes (0 for directories)
	AllocatedSize int64 // bytes of clusters allocated (0 when resident)
	Resident      bool  // data stored inside the MFT record
	Sparse        bool
	Compressed    bool
	Encrypted     bool
	Runs          []Run // clusters holding the data (nil when resident)
}

// upcaseTable loads $UpCase once.
func (v *Volume) upcaseTable() ([]uint16, error) {
	v.upOnce.Do(func() {
		rec, err := v.ReadRecord(RecordUpCase)
		if err != nil {
			v.upErr = err
			return
		}
		st, err := v.openStream(rec, AttrData, "")
		if err != nil {
			v.upErr = err
			return
		}
		if st.size < 2 || st.size > maxUpCaseSize || st.size%2 != 0 {
			v.upErr = &RecordError{Record: RecordUpCase, Err: errf(ErrBadAttribute, "$UpCase of %d bytes", st.size)}
			return
		}
		b := make([]byte, st.size)
		if err := readFull(st, b, 0); err != nil {
			v.upErr = err
			return
		}
		up := make([]uint16, len(b)/2)
		for i := range up {
			up[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		v.upcase = up
	})
	return v.upcase, v.upErr
}

func upper(up []uint16, c uint16) uint16 {
	if int(c) < len(up) {
		return up[c]
	}
	return c
}

// collate compares two names as $I30 indexes order them: code unit by
// code unit after mapping through $UpCase, then by length.
func collate(up []uint16, a, b []uint16) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := upper(up, a[i]), upper(up, b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// Lookup finds a file by its path from the root directory: components
// separated by `\` (or `/`), compared case-insensitively through the
// volume's $UpCase table, as Windows does. It walks each directory's $I30
// B+ tree ($INDEX_ROOT, then $INDEX_ALLOCATION blocks). A missing
// component gives a *PathError wrapping ErrNotFound.
func (v *Volume) Lookup(path string) (*File, error) {
	up, err := v.upcaseTable()
	if err != nil {
		return nil, err
	}
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '\\' || r == '/' })
	if len(parts) > maxPathDepth {
		return nil, &PathError{Path: path, Component: parts[maxPathDepth], Err: errf(ErrNotFound, "more than %d components", maxPathDepth)}
	}
	rec, err := v.ReadRecord(RecordRoot)
	if err != nil {
		return nil, err
	}
	name := ""
	for _, comp := range parts {
		if !rec.IsDir() {
			return nil, &PathError{Path: path, Component: comp, Err: ErrNotDirectory}
		}
		u := utf16.Encode([]rune(comp))
		if len(u) > maxNameLength {
			return nil, &PathError{Path: path, Component: comp, Err: errf(ErrNotFound, "name longer than %d", maxNameLength)}
		}
		ref, stored, err := v.searchDir(rec, up, u)
		if err != nil {
			return nil, &PathError{Path: path, Component: comp, Err: err}
		}
		next, err := v.ReadRecord(ref.Record())
		if err != nil {
			return nil, &PathError{Path: path, Component: comp, Err: err}
		}
		if !next.InUse() || (ref.Sequence() != 0 && next.Sequence != ref.Sequence()) || next.BaseRecord != 0 {
			return nil, &PathError{Path: path, Component: comp, Err: errf(ErrBadIndex, "entry points to record %d seq %d, found seq %d in use %v", ref.Record(), ref.Sequence(), next.Sequence, next.InUse())}
		}
		rec, name = next, stored
	}
	return v.fileOf(rec, name)
}

func (v *Volume) fileOf(rec *Record, name string) (*File, error) {
	f := &File{Record: rec.Number, Sequence: rec.Sequence, Name: name, IsDir: rec.IsDir()}
	if f.IsDir {
		return f, nil
	}
	ext, err := v.attrExtents(rec, AttrData, "")
	if err != nil {
		if isNoAttribute(err) {
			return f, nil
		}
		return nil, err
	}
	a := ext[0]
	f.Sparse = a.Flags&AttrFlagSparse != 0
	f.Compressed = a.Flags&AttrFlagCompressed != 0
	f.Encrypted = a.Flags&AttrFlagEncrypted != 0
	if !a.NonResident {
		f.Resident, f.Size = true, int64(len(a.Value))
		return f, nil
	}
	f.Size, f.AllocatedSize = a.DataSize, a.AllocatedSize
	for _, e := range ext {
		f.Runs = append(f.Runs, e.Runs...)
	}
	return f, nil
}

func isNoAttribute(err error) bool {
	re, ok := err.(*RecordError)
	if !ok {
		return false
	}
	d, ok := re.Err.(*detail)
	return ok && d.err == ErrNoAttribute
}

// dirIndex is what searchDir needs about one directory's $I30.
type dirIndex struct {
	rec       uint64
	blockSize int64
	vcnShift  uint
	alloc     *stream // nil when the index fits the root
}

// searchDir looks name up in the $I30 index of directory rec.
func (v *Volume) searchDir(dir *Record, up []uint16, name []uint16) (FileRef, string, error) {
	rootExt, err := v.attrExtents(dir, AttrIndexRoot, "$I30")
	if err != nil {
		return 0, "", err
	}
	root := rootExt[0]
	ierr := func(vcn int64, off int, format string, args ...any) error {
		return &IndexError{Record: dir.Number, VCN: vcn, Offset: off, Err: errf(ErrBadIndex, format, args...)}
	}
	if root.NonResident || len(root.Value) < offIRHeader+indexHeaderSize {
		return 0, "", ierr(-1, 0, "index root of %d bytes", len(root.Value))
	}
	le := binary.LittleEndian
	val := root.Value
	if AttrType(le.Uint32(val[offIRAttrType:])) != AttrFileName || le.Uint32(val[offIRCollation:]) != collationFileName {
		return 0, "", ierr(-1, offIRAttrType, "not a file name index")
	}
	ix := dirIndex{rec: dir.Number, blockSize: int64(le.Uint32(val[offIRBlockSize:]))}
	if ix.blockSize < minRecordSize || ix.blockSize > maxRecordSize || ix.blockSize&(ix.blockSize-1) != 0 {
		return 0, "", ierr(-1, offIRBlockSize, "index block size %d", ix.blockSize)
	}
	if v.clusterSize <= ix.blockSize {
		ix.vcnShift = uint(log2(v.clusterSize))
	} else {
		ix.vcnShift = indexVCNShift
	}
	node, err := indexNode(val, offIRHeader)
	if err != nil {
		return 0, "", &IndexError{Record: dir.Number, VCN: -1, Offset: offIRHeader, Err: err}
	}
	visited := map[int64]bool{}
	vcn := int64(-1)
	for depth := 0; ; depth++ {
		if depth > maxIndexDepth {
			return 0, "", ierr(vcn, 0, "deeper than %d levels", maxIndexDepth)
		}
		ref, stored, child, err := searchNode(node, up, name)
		if err != nil {
			off := 0
			if ne, ok := err.(*nodeError); ok {
				off = ne.off
			}
			return 0, "", &IndexError{Record: dir.Number, VCN: vcn, Offset: off, Err: err}
		}
		if child < 0 {
			if ref == 0 {
				return 0, "", ErrNotFound
			}
			return ref, stored, nil
		}
		if visited[child] || len(visited) >= maxIndexBlocks {
			return 0, "", ierr(child, 0, "index loop: block VCN %d visited twice", child)
		}
		visited[child] = true
		if ix.alloc == nil {
			st, err := v.openStream(dir, AttrIndexAllocation, "$I30")
			if err != nil {
				return 0, "", &IndexError{Record: dir.Number, VCN: child, Err: err}
			}
			ix.alloc = st
		}
		vcn = child
		node, err = v.indexBlock(&ix, vcn)
		if err != nil {
			return 0, "", err
		}
	}
}

func log2(n int64) int {
	i := 0
	for n > 1 {
		n >>= 1
		i++
	}
	return i
}

// indexBlock reads INDX block vcn and returns its entries region.
func (v *Volume) indexBlock(ix *dirIndex, vcn int64) ([]byte, error) {
	ierr := func(off int, err error) error {
		return &IndexError{Record: ix.rec, VCN: vcn, Offset: off, Err: err}
	}
	if vcn < 0 || vcn > (ix.alloc.size>>ix.vcnShift) {
		return nil, ierr(0, errf(ErrBadIndex, "child VCN %d outside $INDEX_ALLOCATION (%d bytes)", vcn, ix.alloc.size))
	}
	off := vcn << ix.vcnShift
	if off+ix.blockSize > ix.alloc.size {
		return nil, ierr(0, errf(ErrBadIndex, "block at byte %d past $INDEX_ALLOCATION (%d bytes)", off, ix.alloc.size))
	}
	b := make([]byte, ix.blockSize)
	if err := readFull(ix.alloc, b, off); err != nil {
		return nil, ierr(0, err)
	}
	if string(b[:4]) != "INDX" {
		return nil, ierr(0, errf(ErrBadIndex, "magic %q", b[:4]))
	}
	if err := ApplyFixups(b); err != nil {
		re := err.(*RecordError)
		return nil, ierr(re.Offset, re.Err)
	}
	if got := int64(binary.LittleEndian.Uint64(b[offIndxVCN:])); got != vcn {
		return nil, ierr(offIndxVCN, errf(ErrBadIndex, "block says it is VCN %d", got))
	}
	node, err := indexNode(b, offIndxHeader)
	if err != nil {
		return nil, ierr(offIndxHeader, err)
	}
	return node, nil
}

// indexNode returns the entries region described by the index header at
// hdr in b.
func indexNode(b []byte, hdr int) ([]byte, error) {
	le := binary.LittleEndian
	if hdr+indexHeaderSize > len(b) {
		return nil, errf(ErrBadIndex, "index header truncated")
	}
	start := uint64(hdr) + uint64(le.Uint32(b[hdr+offIHEntries:]))
	end := uint64(hdr) + uint64(le.Uint32(b[hdr+offIHIndexLength:]))
	if start < uint64(hdr+indexHeaderSize) || start > end || end > uint64(len(b)) {
		return nil, errf(ErrBadIndex, "entries %d..%d outside %d bytes", start, end, len(b))
	}
	return b[start:end], nil
}

type nodeError struct {
	off int
	err error
}

func (e *nodeError) Error() string { return e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

// searchNode scans one node's entries. It returns the match (ref != 0),
// or the child VCN to descend into (child >= 0), or neither (not found).
func searchNode(node []byte, up []uint16, name []uint16) (ref FileRef, stored string, child int64, err error) {
	le := binary.LittleEndian
	bad := func(off int, format string, args ...any) (FileRef, string, int64, error) {
		return 0, "", -1, &nodeError{off: off, err: errf(ErrBadIndex, format, args...)}
	}
	for off := 0; ; {
		if off+offIEKey > len(node) {
			return bad(off, "entries not terminated")
		}
		e := node[off:]
		length := int(le.Uint16(e[offIELength:]))
		keyLen := int(le.Uint16(e[offIEKeyLength:]))
		flags := le.Uint16(e[offIEFlags:])
		if length < offIEKey || length%8 != 0 || length > len(e) || offIEKey+keyLen > length {
			return bad(off, "entry length %d key %d", length, keyLen)
		}
		sub := int64(-1)
		if flags&ieFlagSubnode != 0 {
			if length < offIEKey+keyLen+8 {
				return bad(off, "entry of %d bytes has no room for a child VCN", length)
			}
			sub = int64(le.Uint64(e[length-8:]))
			if sub < 0 {
				return bad(off, "child VCN %d", sub)
			}
		}
		if flags&ieFlagLast != 0 {
			return 0, "", sub, nil
		}
		if keyLen < offFNName {
			return bad(off, "file name key of %d bytes", keyLen)
		}
		key := e[offIEKey : offIEKey+keyLen]
		nl := int(key[offFNNameLength])
		if offFNName+2*nl > keyLen {
			return bad(off, "name of %d units in a %d-byte key", nl, keyLen)
		}
		u := make([]uint16, nl)
		for i := range u {
			u[i] = le.Uint16(key[offFNName+2*i:])
		}
		c := collate(up, name, u)
		if c == 0 {
			r := FileRef(le.Uint64(e[offIEFileRef:]))
			if r == 0 {
				return bad(off, "entry with a zero file reference")
			}
			return r, string(utf16.Decode(u)), -1, nil
		}
		if c < 0 {
			return 0, "", sub, nil
		}
		off += length
	}
}
