package ntfs

import (
	"encoding/binary"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// Well-known MFT record numbers.
const (
	RecordMFT     = 0
	RecordMFTMirr = 1
	RecordLogFile = 2
	RecordVolume  = 3
	RecordAttrDef = 4
	RecordRoot    = 5
	RecordBitmap  = 6
	RecordBoot    = 7
	RecordBadClus = 8
	RecordSecure  = 9
	RecordUpCase  = 10
	RecordExtend  = 11
)

// Bounds on structures read from disk.
const (
	maxAttrListSize = 4 << 20   // $ATTRIBUTE_LIST value
	maxExtents      = 1 << 16   // attribute extents gathered through a list
	maxUpCaseSize   = 128 << 10 // 65536 UTF-16 code units
)

// Volume is an NTFS volume opened read-only on an io.ReaderAt holding one
// partition. Its methods are safe for concurrent use.
type Volume struct {
	Boot BootSector // the primary boot sector

	r           *countingReader
	size        int64 // partition size in bytes
	clusterSize int64
	recordSize  int64
	mft         *stream // $MFT unnamed $DATA
	mftRecords  uint64

	upOnce sync.Once
	upcase []uint16
	upErr  error
}

type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// BytesRead returns how many bytes the volume has read from its
// io.ReaderAt since Open (or since the last ResetBytesRead).
func (v *Volume) BytesRead() int64 { return v.r.n.Load() }

// ResetBytesRead sets the counter behind BytesRead to zero.
func (v *Volume) ResetBytesRead() { v.r.n.Store(0) }

// Open opens the NTFS volume in r, a partition of size bytes whose byte 0
// is the boot sector. It parses the boot sector, checks that the volume
// fits the partition (TotalSectors*BytesPerSector <= size; Windows makes
// the volume one sector shorter than the partition so the backup boot
// sector can sit in the partition's last sector), that $MFT and $MFTMirr
// start inside the volume, and reads $MFT's own record to learn where the
// rest of the MFT lives (it may be fragmented and even need an attribute
// list).
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	v := &Volume{r: &countingReader{r: r}, size: size}
	var b [BootSectorSize]byte
	if size < BootSectorSize {
		return nil, &GeometryError{Field: "PartitionSize", Value: size, Limit: BootSectorSize}
	}
	if err := readFull(v.r, b[:], 0); err != nil {
		return nil, err
	}
	bs, err := ParseBootSector(b[:])
	if err != nil {
		return nil, err
	}
	v.Boot = *bs
	v.clusterSize = bs.ClusterSize()
	v.recordSize = bs.MFTRecordSize()
	bps := int64(bs.BytesPerSector)
	if bs.TotalSectors > uint64(size/bps) {
		return nil, &GeometryError{Field: "TotalSectors", Value: int64(min(bs.TotalSectors, 1<<62)), Limit: size / bps}
	}
	tc := bs.TotalClusters()
	if tc < 16 {
		return nil, &GeometryError{Field: "TotalClusters", Value: tc, Limit: 16}
	}
	lastMFT := (tc*v.clusterSize - v.recordSize) / v.clusterSize // a whole record fits
	if bs.MFTLCN > uint64(lastMFT) {
		return nil, &GeometryError{Field: "MFTLCN", Value: int64(min(bs.MFTLCN, 1<<62)), Limit: lastMFT}
	}
	if bs.MFTMirrLCN > uint64(lastMFT) {
		return nil, &GeometryError{Field: "MFTMirrLCN", Value: int64(min(bs.MFTMirrLCN, 1<<62)), Limit: lastMFT}
	}
	if err := v.loadMFT(); err != nil {
		return nil, err
	}
	return v, nil
}

// Size returns the partition size given to Open, in bytes.
func (v *Volume) Size() int64 { return v.size }

// ClusterSize returns the cluster size in bytes.
func (v *Volume) ClusterSize() int64 { return v.clusterSize }

// TotalClusters returns the number of clusters in the volume.
func (v *Volume) TotalClusters() int64 { return v.Boot.TotalClusters() }

// MFTRecords returns the number of records the $MFT data holds.
func (v *Volume) MFTRecords() uint64 { return v.mftRecords }

func (v *Volume) loadMFT() error {
	raw := make([]byte, v.recordSize)
	if err := readFull(v.r, raw, int64(v.Boot.MFTLCN)*v.clusterSize); err != nil {
		return err
	}
	rec, err := parseRecordInPlace(raw, RecordMFT)
	if err != nil {
		return err
	}
	// Bootstrap: the base record's first $DATA extent maps at least the
	// first records, which is where any extension records of $MFT live.
	a := rec.Find(AttrData, "")
	if a == nil || !a.NonResident || a.LowestVCN != 0 {
		return &RecordError{Record: RecordMFT, Offset: 0, Err: errf(ErrNoAttribute, "$MFT has no non-resident $DATA starting at VCN 0")}
	}
	boot, err := v.newStream(RecordMFT, []Attribute{*a})
	if err != nil {
		return err
	}
	if err := v.checkMFTStream(boot, a.Offset, false); err != nil {
		return err
	}
	v.mft = boot
	v.mftRecords = uint64(boot.size / v.recordSize)
	if v.mftRecords < 16 {
		return &RecordError{Record: RecordMFT, Offset: a.Offset, Err: errf(ErrBadAttribute, "$MFT holds %d records", v.mftRecords)}
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		return err
	}
	if err := v.checkMFTStream(st, a.Offset, true); err != nil {
		return err
	}
	v.mft = st
	v.mftRecords = uint64(st.size / v.recordSize)
	return nil
}

// checkMFTStream refuses an $MFT whose sizes the volume cannot hold: a
// sparse run, more clusters mapped than the volume has, or a data size
// past what the runs map or below the initialized size. Every scan of the
// MFT reads up to its data size, so a lying size would make a scan of a
// small image read terabytes of zeros. The sizes are checked against the
// runs only for the complete stream (the bootstrap one holds the base
// record's extent alone).
func (v *Volume) checkMFTStream(st *stream, off int, complete bool) error {
	bad := func(format string, args ...any) error {
		return &RecordError{Record: RecordMFT, Offset: off, Err: errf(ErrBadAttribute, format, args...)}
	}
	tc := v.Boot.TotalClusters()
	var mapped int64
	for _, r := range st.runs {
		if r.Sparse {
			return bad("$MFT has a sparse run %v", r)
		}
		if r.Length > tc-mapped {
			return bad("$MFT maps more than the volume's %d clusters", tc)
		}
		mapped += r.Length
	}
	if st.initSize > st.size || complete && st.size > mapped*v.clusterSize {
		return bad("$MFT data size %d, initialized %d, with %d bytes mapped", st.size, st.initSize, mapped*v.clusterSize)
	}
	return nil
}

// ReadRecord reads and parses MFT record n.
func (v *Volume) ReadRecord(n uint64) (*Record, error) {
	if n >= v.mftRecords {
		return nil, &RecordError{Record: n, Err: errf(ErrBadRecord, "record number beyond the %d records of $MFT", v.mftRecords)}
	}
	raw := make([]byte, v.recordSize)
	if err := readFull(v.mft, raw, int64(n)*v.recordSize); err != nil {
		return nil, err
	}
	rec, err := parseRecordInPlace(raw, n)
	if err != nil {
		return nil, err
	}
	if rec.AttrsOffset >= recHeaderMinSize && rec.RecordNumber != uint32(n) {
		return nil, &RecordError{Record: n, Offset: offRecRecordNumber, Err: errf(ErrBadRecord, "record says it is number %d", rec.RecordNumber)}
	}
	return rec, nil
}

// Extent is a byte range of a file or record mapped onto the volume.
type Extent struct {
	FileOffset   int64 // offset within the file, attribute or record
	VolumeOffset int64 // offset from the start of the volume (the partition)
	Length       int64 // bytes
}

// RecordExtents returns where MFT record n sits on the volume: one extent,
// or more when the record straddles clusters of a fragmented $MFT.
func (v *Volume) RecordExtents(n uint64) ([]Extent, error) {
	if n >= v.mftRecords {
		return nil, &RecordError{Record: n, Err: errf(ErrBadRecord, "record number beyond the %d records of $MFT", v.mftRecords)}
	}
	return v.mft.extents(int64(n)*v.recordSize, v.recordSize)
}

// attrExtents gathers every extent of attribute (t, name) of the file
// whose base record is base, following $ATTRIBUTE_LIST when present, in
// VCN order. Resident attributes have exactly one extent.
func (v *Volume) attrExtents(base *Record, t AttrType, name string) ([]Attribute, error) {
	var out []Attribute
	list := base.Find(AttrAttributeList, "")
	if list == nil || t == AttrAttributeList {
		for _, a := range base.Attributes {
			if a.Type == t && a.Name == name {
				out = append(out, a)
			}
		}
	} else {
		entries, err := v.attributeList(base, list)
		if err != nil {
			return nil, err
		}
		cache := map[uint64]*Record{base.Number: base}
		for _, e := range entries {
			if e.Type != t || e.Name != name {
				continue
			}
			if len(out) >= maxExtents {
				return nil, &RecordError{Record: base.Number, Offset: list.Offset, Err: errf(ErrBadAttribute, "more than %d extents", maxExtents)}
			}
			n := e.Ref.Record()
			rec, ok := cache[n]
			if !ok {
				rec, err = v.ReadRecord(n)
				if err != nil {
					return nil, err
				}
				if rec.BaseRecord.Record() != base.Number || !rec.InUse() {
					return nil, &RecordError{Record: n, Offset: offRecBaseRecord, Err: errf(ErrBadAttribute, "extension record belongs to record %d, not %d", rec.BaseRecord.Record(), base.Number)}
				}
				if len(cache) > maxExtents {
					return nil, &RecordError{Record: base.Number, Offset: list.Offset, Err: errf(ErrBadAttribute, "too many extension records")}
				}
				cache[n] = rec
			}
			var found *Attribute
			for i := range rec.Attributes {
				a := &rec.Attributes[i]
				if a.Type == t && a.Name == name && a.Instance == e.Instance {
					found = a
					break
				}
			}
			if found == nil {
				return nil, &RecordError{Record: n, Err: errf(ErrNoAttribute, "%v %q instance %d listed in record %d's attribute list", t, name, e.Instance, base.Number)}
			}
			out = append(out, *found)
		}
	}
	if len(out) == 0 {
		return nil, &RecordError{Record: base.Number, Err: errf(ErrNoAttribute, "%v %q", t, name)}
	}
	if len(out) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].LowestVCN < out[j].LowestVCN })
	}
	return out, nil
}

// AttrListEntry is one entry of an $ATTRIBUTE_LIST.
type AttrListEntry struct {
	Type      AttrType
	Length    int
	Name      string
	LowestVCN int64
	Ref       FileRef // record holding the attribute extent
	Instance  uint16
	Offset    int // offset of the entry within the list value
}

// $ATTRIBUTE_LIST entry layout.
const (
	offALType       = 0x00
	offALLength     = 0x04
	offALNameLength = 0x06
	offALNameOffset = 0x07
	offALLowestVCN  = 0x08
	offALRef        = 0x10
	offALInstance   = 0x18
	alMinEntry      = 0x1A
)

// ParseAttributeList decodes an $ATTRIBUTE_LIST value.
func ParseAttributeList(b []byte) ([]AttrListEntry, error) {
	le := binary.LittleEndian
	var out []AttrListEntry
	for off := 0; off < len(b); {
		if off+alMinEntry > len(b) {
			return nil, &RecordError{Record: NoRecord, Offset: off, Err: errf(ErrBadAttribute, "attribute list entry truncated")}
		}
		e := AttrListEntry{
			Type:      AttrType(le.Uint32(b[off+offALType:])),
			Length:    int(le.Uint16(b[off+offALLength:])),
			LowestVCN: int64(le.Uint64(b[off+offALLowestVCN:])),
			Ref:       FileRef(le.Uint64(b[off+offALRef:])),
			Instance:  le.Uint16(b[off+offALInstance:]),
			Offset:    off,
		}
		nl, no := int(b[off+offALNameLength]), int(b[off+offALNameOffset])
		if e.Length < alMinEntry || off+e.Length > len(b) || (nl > 0 && (no < alMinEntry || no+2*nl > e.Length)) {
			return nil, &RecordError{Record: NoRecord, Offset: off, Err: errf(ErrBadAttribute, "attribute list entry length %d name %d@%d", e.Length, nl, no)}
		}
		if nl > 0 {
			e.Name = decodeUTF16(b[off+no : off+no+2*nl])
		}
		out = append(out, e)
		off += e.Length
		if e.Type == 0 { // padding after the last entry in some writers
			break
		}
	}
	return out, nil
}

func (v *Volume) attributeList(base *Record, a *Attribute) ([]AttrListEntry, error) {
	var val []byte
	if !a.NonResident {
		val = a.Value
	} else {
		if a.DataSize > maxAttrListSize {
			return nil, &RecordError{Record: base.Number, Offset: a.Offset, Err: errf(ErrBadAttribute, "attribute list of %d bytes", a.DataSize)}
		}
		st, err := v.newStream(base.Number, []Attribute{*a})
		if err != nil {
			return nil, err
		}
		val = make([]byte, st.size)
		if err := readFull(st, val, 0); err != nil {
			return nil, err
		}
	}
	entries, err := ParseAttributeList(val)
	if err != nil {
		if re, ok := err.(*RecordError); ok {
			re.Record = base.Number
		}
		return nil, err
	}
	return entries, nil
}

// openStream opens the data of attribute (t, name) of a file.
func (v *Volume) openStream(base *Record, t AttrType, name string) (*stream, error) {
	ext, err := v.attrExtents(base, t, name)
	if err != nil {
		return nil, err
	}
	return v.newStream(base.Number, ext)
}
