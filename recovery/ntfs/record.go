package ntfs

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// FILE record header layout (byte offsets).
const (
	offRecLSN           = 0x08
	offRecSequence      = 0x10
	offRecLinkCount     = 0x12
	offRecAttrsOffset   = 0x14
	offRecFlags         = 0x16
	offRecBytesInUse    = 0x18
	offRecBytesAlloc    = 0x1C
	offRecBaseRecord    = 0x20
	offRecNextInstance  = 0x28
	offRecRecordNumber  = 0x2C // NTFS 3.1+
	recHeaderMinSize    = 0x30
	recordFlagInUse     = 0x0001
	recordFlagDirectory = 0x0002
)

// Attribute header layout (byte offsets from the attribute start).
const (
	offAttrType        = 0x00
	offAttrLength      = 0x04
	offAttrNonResident = 0x08
	offAttrNameLength  = 0x09
	offAttrNameOffset  = 0x0A
	offAttrFlags       = 0x0C
	offAttrInstance    = 0x0E
	// resident form
	offAttrValueLength   = 0x10
	offAttrValueOffset   = 0x14
	offAttrResidentFlags = 0x16
	attrResidentHdrSize  = 0x18
	// non-resident form
	offAttrLowestVCN       = 0x10
	offAttrHighestVCN      = 0x18
	offAttrRunsOffset      = 0x20
	offAttrCompressionUnit = 0x22
	offAttrAllocatedSize   = 0x28
	offAttrDataSize        = 0x30
	offAttrInitializedSize = 0x38
	offAttrCompressedSize  = 0x40
	attrNonResidentHdrSize = 0x40
	attrEnd                = 0xFFFFFFFF
)

// Attribute flags.
const (
	AttrFlagCompressed = 0x0001
	AttrFlagEncrypted  = 0x4000
	AttrFlagSparse     = 0x8000
)

// AttrType is an attribute type code.
type AttrType uint32

// Attribute types used by this package.
const (
	AttrStandardInformation AttrType = 0x10
	AttrAttributeList       AttrType = 0x20
	AttrFileName            AttrType = 0x30
	AttrObjectID            AttrType = 0x40
	AttrSecurityDescriptor  AttrType = 0x50
	AttrVolumeName          AttrType = 0x60
	AttrVolumeInformation   AttrType = 0x70
	AttrData                AttrType = 0x80
	AttrIndexRoot           AttrType = 0x90
	AttrIndexAllocation     AttrType = 0xA0
	AttrBitmap              AttrType = 0xB0
	AttrReparsePoint        AttrType = 0xC0
	AttrEAInformation       AttrType = 0xD0
	AttrEA                  AttrType = 0xE0
	AttrLoggedUtilityStream AttrType = 0x100
)

var attrNames = map[AttrType]string{
	AttrStandardInformation: "$STANDARD_INFORMATION", AttrAttributeList: "$ATTRIBUTE_LIST",
	AttrFileName: "$FILE_NAME", AttrObjectID: "$OBJECT_ID", AttrSecurityDescriptor: "$SECURITY_DESCRIPTOR",
	AttrVolumeName: "$VOLUME_NAME", AttrVolumeInformation: "$VOLUME_INFORMATION", AttrData: "$DATA",
	AttrIndexRoot: "$INDEX_ROOT", AttrIndexAllocation: "$INDEX_ALLOCATION", AttrBitmap: "$BITMAP",
	AttrReparsePoint: "$REPARSE_POINT", AttrEAInformation: "$EA_INFORMATION", AttrEA: "$EA",
	AttrLoggedUtilityStream: "$LOGGED_UTILITY_STREAM",
}

// String returns the attribute type's spec name, or its number.
func (t AttrType) String() string {
	if n, ok := attrNames[t]; ok {
		return n
	}
	return fmt.Sprintf("attr(%#x)", uint32(t))
}

// FileRef is an MFT reference: a record number (low 48 bits) and the
// record's sequence number (high 16 bits).
type FileRef uint64

// Record returns the MFT record number.
func (r FileRef) Record() uint64 { return uint64(r) & (1<<48 - 1) }

// Sequence returns the sequence number.
func (r FileRef) Sequence() uint16 { return uint16(r >> 48) }

// Record is one parsed MFT (FILE) record. Raw holds the record with its
// fixups applied; every offset in Record and its Attributes indexes Raw,
// so a patch can be computed in Raw, re-protected with ProtectFixups and
// written back at the same place.
type Record struct {
	Number         uint64  // MFT record number it was read as (NoRecord when unknown)
	Magic          [4]byte // "FILE" ("BAAD" is rejected)
	USAOffset      uint16
	USACount       uint16
	LSN            uint64
	Sequence       uint16
	LinkCount      uint16
	AttrsOffset    uint16
	Flags          uint16 // 0x1 in use, 0x2 directory
	BytesInUse     uint32
	BytesAllocated uint32
	BaseRecord     FileRef // zero for a base record
	NextInstance   uint16
	RecordNumber   uint32 // self reference (NTFS 3.1+; 0 before)
	Attributes     []Attribute
	Raw            []byte
}

// InUse reports the in-use flag.
func (r *Record) InUse() bool { return r.Flags&recordFlagInUse != 0 }

// IsDir reports the directory flag.
func (r *Record) IsDir() bool { return r.Flags&recordFlagDirectory != 0 }

// Attribute is one attribute header (and, for resident attributes, value)
// as stored in a record. Offsets are relative to the record start.
type Attribute struct {
	Type        AttrType
	Offset      int // start of the attribute header in the record
	Length      int // total length of the attribute, header included
	NonResident bool
	Name        string // UTF-16 decoded; "" for the unnamed stream
	NameOffset  int    // offset of the name from the attribute start
	NameLength  int    // UTF-16 code units
	Flags       uint16 // AttrFlagCompressed, AttrFlagEncrypted, AttrFlagSparse
	Instance    uint16

	// Resident attributes.
	Value         []byte // slice of Record.Raw
	ValueOffset   int    // offset of the value from the attribute start
	ResidentFlags uint8

	// Non-resident attributes.
	LowestVCN       int64
	HighestVCN      int64
	RunsOffset      int // offset of the mapping pairs from the attribute start
	CompressionUnit uint8
	AllocatedSize   int64
	DataSize        int64
	InitializedSize int64
	CompressedSize  int64 // only for compressed or sparse attributes
	Runs            []Run
}

// ParseRecord parses one MFT record from its on-disk bytes (fixups not yet
// applied). It works on a copy, which becomes Record.Raw. number is the
// record number it was read as, or NoRecord; errors carry it.
func ParseRecord(b []byte, number uint64) (*Record, error) {
	raw := make([]byte, len(b))
	copy(raw, b)
	return parseRecordInPlace(raw, number)
}

func parseRecordInPlace(raw []byte, number uint64) (*Record, error) {
	bad := func(off int, err error) (*Record, error) {
		return nil, &RecordError{Record: number, Offset: off, Err: err}
	}
	if len(raw) < minRecordSize || len(raw) > maxRecordSize {
		return bad(0, errf(ErrBadRecord, "record size %d", len(raw)))
	}
	var r Record
	r.Number = number
	copy(r.Magic[:], raw)
	if string(r.Magic[:]) != "FILE" {
		return bad(0, errf(ErrBadRecord, "magic %q", r.Magic[:]))
	}
	if err := ApplyFixups(raw); err != nil {
		var re *RecordError
		if asRecordError(err, &re) {
			return bad(re.Offset, re.Err)
		}
		return bad(0, err)
	}
	le := binary.LittleEndian
	r.USAOffset = le.Uint16(raw[offUSAOfs:])
	r.USACount = le.Uint16(raw[offUSACount:])
	r.LSN = le.Uint64(raw[offRecLSN:])
	r.Sequence = le.Uint16(raw[offRecSequence:])
	r.LinkCount = le.Uint16(raw[offRecLinkCount:])
	r.AttrsOffset = le.Uint16(raw[offRecAttrsOffset:])
	r.Flags = le.Uint16(raw[offRecFlags:])
	r.BytesInUse = le.Uint32(raw[offRecBytesInUse:])
	r.BytesAllocated = le.Uint32(raw[offRecBytesAlloc:])
	r.BaseRecord = FileRef(le.Uint64(raw[offRecBaseRecord:]))
	r.NextInstance = le.Uint16(raw[offRecNextInstance:])
	if r.AttrsOffset >= recHeaderMinSize {
		r.RecordNumber = le.Uint32(raw[offRecRecordNumber:])
	}
	r.Raw = raw
	if int(r.BytesAllocated) != len(raw) {
		return bad(offRecBytesAlloc, errf(ErrBadRecord, "bytes allocated %d, record size %d", r.BytesAllocated, len(raw)))
	}
	if r.BytesInUse > r.BytesAllocated || r.BytesInUse < 8 {
		return bad(offRecBytesInUse, errf(ErrBadRecord, "bytes in use %d", r.BytesInUse))
	}
	usaEnd := int(r.USAOffset) + 2*int(r.USACount)
	if int(r.AttrsOffset) < usaEnd || int(r.AttrsOffset)%8 != 0 || int(r.AttrsOffset)+8 > int(r.BytesInUse) {
		return bad(offRecAttrsOffset, errf(ErrBadRecord, "first attribute offset %#x", r.AttrsOffset))
	}
	off := int(r.AttrsOffset)
	limit := int(r.BytesInUse)
	// Count the attributes first (their lengths are checked below): one
	// allocation per record instead of a growing slice, which was a
	// third of a walk of the MFT's time.
	n := 0
	for o := off; o+8 <= limit && le.Uint32(raw[o:]) != attrEnd; n++ {
		l := int(le.Uint32(raw[o+4:]))
		if l < 16 || l > limit-o {
			break
		}
		o += l
	}
	r.Attributes = make([]Attribute, 0, n+1)
	for {
		if off+4 > limit {
			return bad(off, errf(ErrBadAttribute, "attribute list not terminated"))
		}
		if le.Uint32(raw[off:]) == attrEnd {
			break
		}
		a, err := parseAttribute(raw[:limit], off)
		if err != nil {
			return bad(off, err)
		}
		r.Attributes = append(r.Attributes, a)
		off += a.Length
	}
	return &r, nil
}

func asRecordError(err error, target **RecordError) bool {
	re, ok := err.(*RecordError)
	if ok {
		*target = re
	}
	return ok
}

// parseAttribute decodes the attribute header at off; b ends at the
// record's bytes in use.
func parseAttribute(b []byte, off int) (Attribute, error) {
	le := binary.LittleEndian
	var a Attribute
	if off+attrResidentHdrSize > len(b) {
		return a, errf(ErrBadAttribute, "header past the end of the record")
	}
	h := b[off:]
	a.Type = AttrType(le.Uint32(h[offAttrType:]))
	a.Offset = off
	length := le.Uint32(h[offAttrLength:])
	if length < attrResidentHdrSize || length%8 != 0 || uint64(length) > uint64(len(h)) {
		return a, errf(ErrBadAttribute, "%v length %d (room %d)", a.Type, length, len(h))
	}
	a.Length = int(length)
	h = h[:a.Length]
	a.NonResident = h[offAttrNonResident] != 0
	if h[offAttrNonResident] > 1 {
		return a, errf(ErrBadAttribute, "non-resident flag %d", h[offAttrNonResident])
	}
	a.NameLength = int(h[offAttrNameLength])
	a.NameOffset = int(le.Uint16(h[offAttrNameOffset:]))
	a.Flags = le.Uint16(h[offAttrFlags:])
	a.Instance = le.Uint16(h[offAttrInstance:])
	if a.NameLength > 0 {
		end := a.NameOffset + 2*a.NameLength
		if a.NameOffset < attrResidentHdrSize || end > a.Length {
			return a, errf(ErrBadAttribute, "%v name at %#x+%d outside the attribute", a.Type, a.NameOffset, a.NameLength)
		}
		a.Name = decodeUTF16(h[a.NameOffset:end])
	}
	if !a.NonResident {
		vlen := le.Uint32(h[offAttrValueLength:])
		a.ValueOffset = int(le.Uint16(h[offAttrValueOffset:]))
		a.ResidentFlags = h[offAttrResidentFlags]
		if a.ValueOffset < attrResidentHdrSize || uint64(a.ValueOffset)+uint64(vlen) > uint64(a.Length) {
			return a, errf(ErrBadAttribute, "%v value at %#x+%d outside the attribute (%d)", a.Type, a.ValueOffset, vlen, a.Length)
		}
		a.Value = h[a.ValueOffset : a.ValueOffset+int(vlen) : a.ValueOffset+int(vlen)]
		return a, nil
	}
	if a.Length < attrNonResidentHdrSize {
		return a, errf(ErrBadAttribute, "non-resident %v length %d", a.Type, a.Length)
	}
	a.LowestVCN = int64(le.Uint64(h[offAttrLowestVCN:]))
	a.HighestVCN = int64(le.Uint64(h[offAttrHighestVCN:]))
	a.RunsOffset = int(le.Uint16(h[offAttrRunsOffset:]))
	a.CompressionUnit = h[offAttrCompressionUnit]
	a.AllocatedSize = int64(le.Uint64(h[offAttrAllocatedSize:]))
	a.DataSize = int64(le.Uint64(h[offAttrDataSize:]))
	a.InitializedSize = int64(le.Uint64(h[offAttrInitializedSize:]))
	if a.Flags&(AttrFlagCompressed|AttrFlagSparse) != 0 && a.Length >= attrNonResidentHdrSize+8 {
		a.CompressedSize = int64(le.Uint64(h[offAttrCompressedSize:]))
	}
	switch {
	case a.LowestVCN < 0 || a.HighestVCN < a.LowestVCN-1 || a.HighestVCN > maxLCN:
		return a, errf(ErrBadAttribute, "%v VCN range %d..%d", a.Type, a.LowestVCN, a.HighestVCN)
	case a.AllocatedSize < 0 || a.DataSize < 0 || a.InitializedSize < 0 ||
		a.DataSize > a.AllocatedSize || a.InitializedSize > a.DataSize:
		return a, errf(ErrBadAttribute, "%v sizes allocated %d data %d initialized %d", a.Type, a.AllocatedSize, a.DataSize, a.InitializedSize)
	case a.RunsOffset < attrNonResidentHdrSize || a.RunsOffset >= a.Length:
		return a, errf(ErrBadAttribute, "%v mapping pairs offset %#x (length %d)", a.Type, a.RunsOffset, a.Length)
	}
	runs, err := DecodeRunlist(h[a.RunsOffset:], a.LowestVCN)
	if err != nil {
		if re, ok := err.(*RecordError); ok {
			return a, errf(re.Err, "at attribute offset %#x", a.RunsOffset+re.Offset)
		}
		return a, err
	}
	a.Runs = runs
	var n int64
	if len(runs) > 0 {
		last := runs[len(runs)-1]
		n = last.VCN + last.Length - a.LowestVCN
	}
	if n != a.HighestVCN-a.LowestVCN+1 {
		return a, errf(ErrBadRunlist, "%v runs cover %d clusters, VCN range %d..%d", a.Type, n, a.LowestVCN, a.HighestVCN)
	}
	return a, nil
}

// decodeUTF16 decodes little-endian UTF-16 (unpaired surrogates become
// U+FFFD). b has an even length.
func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Find returns the first attribute of the given type and name in the
// record, or nil.
func (r *Record) Find(t AttrType, name string) *Attribute {
	for i := range r.Attributes {
		if r.Attributes[i].Type == t && r.Attributes[i].Name == name {
			return &r.Attributes[i]
		}
	}
	return nil
}
