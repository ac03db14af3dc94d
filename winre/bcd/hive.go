package bcd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
)

// Limits on what a hive may make this package hold or do. A BCD store is
// typically 8-64 KiB and never more than a few hundred KiB.
const (
	// MaxHiveSize is the largest hive (base block plus hive bins) Read
	// accepts.
	MaxHiveSize = 32 << 20
	// MaxValueSize is the largest value data this package decodes.
	MaxValueSize = 1 << 20
	// maxListEntries bounds the entries of one subkey or value list.
	maxListEntries = 1 << 16
	// maxIndexDepth bounds index-root nesting (Windows never nests "ri").
	maxIndexDepth = 2
)

// Base block layout (offsets from the start of the file).
const (
	baseBlockSize  = 4096
	offSignature   = 0x00 // "regf"
	offPrimarySeq  = 0x04
	offSecondSeq   = 0x08
	offLastWritten = 0x0C // FILETIME
	offMajor       = 0x14
	offMinor       = 0x18
	offFileType    = 0x1C // 0: primary file
	offFileFormat  = 0x20 // 1: direct memory load
	offRootCell    = 0x24 // relative to the first hive bin
	offBinsSize    = 0x28 // bytes of hive bins after the base block
	offChecksum    = 0x1FC
	hbinHeaderSize = 0x20
	hbinAlign      = 4096
	// bigDataSegment is the most data one segment of a "db" record holds.
	bigDataSegment = 16344
	// noCell is the "no cell" offset.
	noCell = 0xFFFFFFFF
)

// Key node flags and value flags.
const (
	keyCompName   = 0x0020 // key name is Latin-1, not UTF-16LE
	valueCompName = 0x0001 // value name is Latin-1, not UTF-16LE
)

// Registry value types used by BCD stores.
const (
	RegSZ      = 1 // UTF-16LE string
	RegBinary  = 3
	RegDWORD   = 4
	RegMultiSZ = 7  // UTF-16LE strings, each NUL-terminated, then a NUL
	RegQWORD   = 11 // 64-bit little-endian
)

// Header is the hive's base block (the first 4096 bytes of the file).
type Header struct {
	// PrimarySequence and SecondarySequence (offsets 4 and 8) are equal in
	// a hive that was written completely.
	PrimarySequence, SecondarySequence uint32
	// LastWritten is a FILETIME (100 ns since 1601-01-01 UTC).
	LastWritten uint64
	// MajorVersion and MinorVersion: 1.3 to 1.6 in hives Windows writes.
	MajorVersion, MinorVersion uint32
	// FileType is 0 for a primary hive file (1 and 2 are log files).
	FileType uint32
	// FileFormat is 1 (direct memory load).
	FileFormat uint32
	// RootCell is the root key's cell offset, relative to the first hive
	// bin (file offset 4096).
	RootCell uint32
	// HiveBinsSize is the number of bytes of hive bins after the base
	// block.
	HiveBinsSize uint32
	// Checksum is the base block checksum at 0x1FC.
	Checksum uint32
}

// Hive is a registry hive held in memory. Its methods read keys and values
// on demand, checking every offset and length against the cells they lie
// in; a Hive allows a bounded amount of traversal (proportional to its
// size) so that a hostile hive whose lists repeat each other cannot make
// it work without end.
type Hive struct {
	// Header is the decoded base block.
	Header Header
	data   []byte // base block and hive bins
	bins   []int64
	work   int64 // list entries and value bytes left to decode
}

// headerChecksum is the XOR of the first 127 little-endian uint32s of the
// base block, with 0xFFFFFFFF mapped to 0xFFFFFFFE and 0 to 1.
func headerChecksum(b []byte) uint32 {
	var x uint32
	for i := 0; i < offChecksum; i += 4 {
		x ^= binary.LittleEndian.Uint32(b[i:])
	}
	switch x {
	case 0xFFFFFFFF:
		return 0xFFFFFFFE
	case 0:
		return 1
	}
	return x
}

// ReadHive reads and checks a hive's base block and hive bins from r,
// which holds size bytes. A hive whose sequence numbers differ is refused
// with a [*DirtyError]; a bad checksum with [ErrChecksum].
func ReadHive(r io.ReaderAt, size int64) (*Hive, error) {
	if size < baseBlockSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a base block", ErrNotHive, size)
	}
	base := make([]byte, baseBlockSize)
	if _, err := r.ReadAt(base, 0); err != nil {
		return nil, fmt.Errorf("bcd: reading the base block: %w", err)
	}
	if string(base[offSignature:offSignature+4]) != "regf" {
		return nil, ErrNotHive
	}
	le := binary.LittleEndian
	h := Header{
		PrimarySequence:   le.Uint32(base[offPrimarySeq:]),
		SecondarySequence: le.Uint32(base[offSecondSeq:]),
		LastWritten:       le.Uint64(base[offLastWritten:]),
		MajorVersion:      le.Uint32(base[offMajor:]),
		MinorVersion:      le.Uint32(base[offMinor:]),
		FileType:          le.Uint32(base[offFileType:]),
		FileFormat:        le.Uint32(base[offFileFormat:]),
		RootCell:          le.Uint32(base[offRootCell:]),
		HiveBinsSize:      le.Uint32(base[offBinsSize:]),
		Checksum:          le.Uint32(base[offChecksum:]),
	}
	if got := headerChecksum(base); got != h.Checksum {
		return nil, &CorruptError{Offset: offChecksum, What: "base block", Detail: fmt.Sprintf("checksum 0x%08x, computed 0x%08x", h.Checksum, got), Err: ErrChecksum}
	}
	if h.PrimarySequence != h.SecondarySequence {
		return nil, &DirtyError{Primary: h.PrimarySequence, Secondary: h.SecondarySequence}
	}
	if h.MajorVersion != 1 || h.MinorVersion < 2 || h.MinorVersion > 6 || h.FileType != 0 || h.FileFormat != 1 {
		return nil, fmt.Errorf("%w: version %d.%d, file type %d, format %d", ErrUnsupported, h.MajorVersion, h.MinorVersion, h.FileType, h.FileFormat)
	}
	bins := int64(h.HiveBinsSize)
	if bins == 0 || bins%hbinAlign != 0 {
		return nil, &CorruptError{Offset: offBinsSize, What: "base block", Detail: fmt.Sprintf("hive bins size %d is not a positive multiple of 4096", bins)}
	}
	if baseBlockSize+bins > MaxHiveSize {
		return nil, fmt.Errorf("%w: %d bytes of hive bins", ErrTooLarge, bins)
	}
	if baseBlockSize+bins > size {
		return nil, &CorruptError{Offset: offBinsSize, What: "base block", Detail: fmt.Sprintf("hive bins size %d runs past the end of the %d-byte file", bins, size)}
	}
	data := make([]byte, baseBlockSize+bins)
	copy(data, base)
	if _, err := r.ReadAt(data[baseBlockSize:], baseBlockSize); err != nil {
		return nil, fmt.Errorf("bcd: reading the hive bins: %w", err)
	}
	hv := &Hive{Header: h, data: data, work: 4*int64(len(data)) + 2*MaxValueSize}
	for off := int64(baseBlockSize); off < int64(len(data)); {
		b := data[off:]
		if len(b) < hbinHeaderSize || string(b[:4]) != "hbin" {
			return nil, &CorruptError{Offset: off, What: "hbin", Detail: "no hbin signature"}
		}
		if rel := int64(le.Uint32(b[4:])); rel != off-baseBlockSize {
			return nil, &CorruptError{Offset: off, What: "hbin", Detail: fmt.Sprintf("says it is at %d, found at %d", rel, off-baseBlockSize)}
		}
		n := int64(le.Uint32(b[8:]))
		if n < hbinAlign || n%hbinAlign != 0 || n > int64(len(b)) {
			return nil, &CorruptError{Offset: off, What: "hbin", Detail: fmt.Sprintf("size %d", n)}
		}
		hv.bins = append(hv.bins, off)
		off += n
	}
	return hv, nil
}

// corrupt returns a CorruptError at file offset off.
func corrupt(off int64, what, format string, args ...any) error {
	return &CorruptError{Offset: off, What: what, Detail: fmt.Sprintf(format, args...)}
}

// spend takes n units from the hive's work budget.
func (h *Hive) spend(n int64) error {
	if n > h.work {
		return fmt.Errorf("%w: the hive's lists and values add up to more than it could legitimately hold", ErrTooLarge)
	}
	h.work -= n
	return nil
}

// cell returns the payload of the allocated cell at rel (relative to the
// first hive bin) and the payload's file offset.
func (h *Hive) cell(rel uint32, what string) ([]byte, int64, error) {
	off := baseBlockSize + int64(rel)
	if rel == noCell || rel%8 != 0 || off+4 > int64(len(h.data)) {
		return nil, off, corrupt(off, what, "cell offset 0x%x is not a cell in the hive bins", rel)
	}
	i := sort.Search(len(h.bins), func(i int) bool { return h.bins[i] > off }) - 1
	if i < 0 {
		return nil, off, corrupt(off, what, "cell offset 0x%x is before the first hive bin", rel)
	}
	end := int64(len(h.data))
	if i+1 < len(h.bins) {
		end = h.bins[i+1]
	}
	if off < h.bins[i]+hbinHeaderSize {
		return nil, off, corrupt(off, what, "cell offset 0x%x is inside a hive bin header", rel)
	}
	raw := int32(binary.LittleEndian.Uint32(h.data[off:]))
	if raw >= 0 {
		return nil, off, corrupt(off, what, "cell is free (size %d)", raw)
	}
	n := -int64(raw)
	if n < 8 || off+n > end {
		return nil, off, corrupt(off, what, "cell size %d runs past its hive bin", n)
	}
	return h.data[off+4 : off+n], off + 4, nil
}

// Key is one registry key (an "nk" cell).
type Key struct {
	// Name is the key's name.
	Name string
	// Offset is the file offset of the key's nk record.
	Offset int64

	h          *Hive
	nSubkeys   uint32
	subkeyList uint32
	nValues    uint32
	valueList  uint32
}

// Root returns the hive's root key.
func (h *Hive) Root() (*Key, error) { return h.key(h.Header.RootCell) }

// key decodes the nk cell at rel.
func (h *Hive) key(rel uint32) (*Key, error) {
	p, off, err := h.cell(rel, "nk cell")
	if err != nil {
		return nil, err
	}
	if len(p) < 76 || string(p[:2]) != "nk" {
		return nil, corrupt(off, "nk cell", "no nk signature")
	}
	le := binary.LittleEndian
	flags := le.Uint16(p[2:])
	nl := int(le.Uint16(p[72:]))
	if 76+nl > len(p) {
		return nil, corrupt(off, "nk cell", "name of %d bytes runs past the cell", nl)
	}
	name, err := decodeName(p[76:76+nl], flags&keyCompName != 0)
	if err != nil {
		return nil, corrupt(off, "nk cell", "%v", err)
	}
	return &Key{Name: name, Offset: off, h: h,
		nSubkeys: le.Uint32(p[20:]), subkeyList: le.Uint32(p[28:]),
		nValues: le.Uint32(p[36:]), valueList: le.Uint32(p[40:])}, nil
}

// decodeName decodes a key or value name: Latin-1 when compressed, else
// UTF-16LE.
func decodeName(b []byte, compressed bool) (string, error) {
	if compressed {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("UTF-16 name of odd length %d", len(b))
	}
	return utf16String(b), nil
}

// utf16String decodes UTF-16LE bytes (an odd last byte is dropped).
func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Subkeys returns the key's subkeys in the order of its subkey list
// (Windows keeps it sorted by upper-cased name).
func (k *Key) Subkeys() ([]*Key, error) {
	if k.nSubkeys == 0 {
		return nil, nil
	}
	if k.nSubkeys > maxListEntries {
		return nil, fmt.Errorf("%w: key %q has %d subkeys", ErrTooLarge, k.Name, k.nSubkeys)
	}
	var rels []uint32
	if err := k.h.subkeyRefs(k.subkeyList, 0, &rels); err != nil {
		return nil, err
	}
	if uint32(len(rels)) != k.nSubkeys {
		return nil, corrupt(k.Offset, "nk cell", "key %q says %d subkeys, its lists hold %d", k.Name, k.nSubkeys, len(rels))
	}
	keys := make([]*Key, 0, len(rels))
	for _, r := range rels {
		sk, err := k.h.key(r)
		if err != nil {
			return nil, err
		}
		keys = append(keys, sk)
	}
	return keys, nil
}

// subkeyRefs appends the nk offsets of the subkey list at rel ("lf", "lh",
// "li", or "ri" of those).
func (h *Hive) subkeyRefs(rel uint32, depth int, out *[]uint32) error {
	p, off, err := h.cell(rel, "subkey list")
	if err != nil {
		return err
	}
	if len(p) < 4 {
		return corrupt(off, "subkey list", "too short")
	}
	n := int(binary.LittleEndian.Uint16(p[2:]))
	if err := h.spend(int64(n) + 1); err != nil {
		return err
	}
	sig := string(p[:2])
	step := 4
	switch sig {
	case "lf", "lh":
		step = 8
	case "li", "ri":
	default:
		return corrupt(off, "subkey list", "unknown signature %q", sig)
	}
	if 4+n*step > len(p) {
		return corrupt(off, "subkey list", "%d entries run past the cell", n)
	}
	for i := 0; i < n; i++ {
		r := binary.LittleEndian.Uint32(p[4+i*step:])
		if sig == "ri" {
			if depth+1 >= maxIndexDepth {
				return corrupt(off, "subkey list", "index roots nested too deep")
			}
			if err := h.subkeyRefs(r, depth+1, out); err != nil {
				return err
			}
			continue
		}
		if len(*out) >= maxListEntries {
			return fmt.Errorf("%w: more than %d subkeys", ErrTooLarge, maxListEntries)
		}
		*out = append(*out, r)
	}
	return nil
}

// Subkey returns the subkey called name, compared case-insensitively as
// Windows does, or an error wrapping [ErrNotFound].
func (k *Key) Subkey(name string) (*Key, error) {
	subs, err := k.Subkeys()
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: key %s\\%s", ErrNotFound, k.Name, name)
}

// Run is a piece of a value's data in the hive file.
type Run struct {
	// Offset is the file offset of the piece.
	Offset int64
	// Length is its length in bytes.
	Length int
}

// Value is one registry value (a "vk" cell) with its data.
type Value struct {
	// Name is the value's name ("" for the default value).
	Name string
	// Type is the registry type (RegBinary, RegSZ, ...).
	Type uint32
	// Data is the value's data.
	Data []byte
	// Runs says where Data lies in the hive file, in order: one run for
	// data in a cell or inline in the vk record, one per segment for big
	// data ("db").
	Runs []Run
	// Offset is the file offset of the vk record.
	Offset int64
}

// Values returns the key's values in the order of its value list.
func (k *Key) Values() ([]*Value, error) {
	if k.nValues == 0 {
		return nil, nil
	}
	if k.nValues > maxListEntries {
		return nil, fmt.Errorf("%w: key %q has %d values", ErrTooLarge, k.Name, k.nValues)
	}
	p, off, err := k.h.cell(k.valueList, "value list")
	if err != nil {
		return nil, err
	}
	n := int(k.nValues)
	if 4*n > len(p) {
		return nil, corrupt(off, "value list", "%d entries run past the cell", n)
	}
	if err := k.h.spend(int64(n)); err != nil {
		return nil, err
	}
	vals := make([]*Value, 0, n)
	for i := 0; i < n; i++ {
		v, err := k.h.value(binary.LittleEndian.Uint32(p[4*i:]))
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// Value returns the value called name (case-insensitive), or an error
// wrapping [ErrNotFound].
func (k *Key) Value(name string) (*Value, error) {
	vals, err := k.Values()
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if strings.EqualFold(v.Name, name) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: value %q of key %s", ErrNotFound, name, k.Name)
}

// value decodes the vk cell at rel and its data.
func (h *Hive) value(rel uint32) (*Value, error) {
	p, off, err := h.cell(rel, "vk cell")
	if err != nil {
		return nil, err
	}
	if len(p) < 20 || string(p[:2]) != "vk" {
		return nil, corrupt(off, "vk cell", "no vk signature")
	}
	le := binary.LittleEndian
	nl := int(le.Uint16(p[2:]))
	size := le.Uint32(p[4:])
	dataRel := le.Uint32(p[8:])
	v := &Value{Type: le.Uint32(p[12:]), Offset: off}
	if 20+nl > len(p) {
		return nil, corrupt(off, "vk cell", "name of %d bytes runs past the cell", nl)
	}
	if v.Name, err = decodeName(p[20:20+nl], le.Uint16(p[16:])&valueCompName != 0); err != nil {
		return nil, corrupt(off, "vk cell", "%v", err)
	}
	if size&0x80000000 != 0 { // data inline in the data offset field
		n := int(size &^ 0x80000000)
		if n > 4 {
			return nil, corrupt(off, "vk cell", "inline data of %d bytes", n)
		}
		v.Data = bytes.Clone(p[8 : 8+n])
		if n > 0 {
			v.Runs = []Run{{off + 8, n}}
		}
		return v, nil
	}
	if size == 0 {
		return v, nil
	}
	if size > MaxValueSize {
		return nil, fmt.Errorf("%w: value %q has %d bytes of data", ErrTooLarge, v.Name, size)
	}
	if err := h.spend(int64(size)); err != nil {
		return nil, err
	}
	if size > bigDataSegment && h.Header.MinorVersion >= 4 {
		return v, h.bigData(v, dataRel, int(size))
	}
	d, doff, err := h.cell(dataRel, "value data")
	if err != nil {
		return nil, err
	}
	if int(size) > len(d) {
		return nil, corrupt(doff, "value data", "%d bytes of data in a cell of %d", size, len(d))
	}
	v.Data = bytes.Clone(d[:size])
	v.Runs = []Run{{doff, int(size)}}
	return v, nil
}

// bigData reads the segments of a "db" record into v.
func (h *Hive) bigData(v *Value, rel uint32, size int) error {
	p, off, err := h.cell(rel, "db cell")
	if err != nil {
		return err
	}
	if len(p) < 8 || string(p[:2]) != "db" {
		return corrupt(off, "db cell", "no db signature")
	}
	n := int(binary.LittleEndian.Uint16(p[2:]))
	if want := (size + bigDataSegment - 1) / bigDataSegment; n != want {
		return corrupt(off, "db cell", "%d segments for %d bytes (want %d)", n, size, want)
	}
	list, loff, err := h.cell(binary.LittleEndian.Uint32(p[4:]), "db segment list")
	if err != nil {
		return err
	}
	if 4*n > len(list) {
		return corrupt(loff, "db segment list", "%d entries run past the cell", n)
	}
	v.Data = make([]byte, 0, size)
	for i := 0; i < n; i++ {
		seg, soff, err := h.cell(binary.LittleEndian.Uint32(list[4*i:]), "db segment")
		if err != nil {
			return err
		}
		take := min(bigDataSegment, size-len(v.Data))
		if take > len(seg) {
			return corrupt(soff, "db segment", "%d bytes wanted from a cell of %d", take, len(seg))
		}
		v.Data = append(v.Data, seg[:take]...)
		v.Runs = append(v.Runs, Run{soff, take})
	}
	return nil
}
