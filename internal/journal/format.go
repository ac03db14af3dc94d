package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
)

// Layout of a journal file (all integers little-endian):
//
//	preamble (32 bytes)
//	  0  magic "WRPJRNL\x00"
//	  8  version (uint32) = 1
//	 12  header length H (uint32), JSON
//	 16  data length D (uint64)
//	 24  CRC-32C of the header bytes
//	 28  CRC-32C of the data bytes
//	header (H bytes of JSON, [fileHeader])
//	data   (D bytes, in op order: for each Write its new bytes then its
//	        old bytes; for each overlapping Copy the sums of its chunks)
//	records, each slotSize bytes (two identical recordSize-byte copies),
//	        appended as the run progresses
const (
	preambleSize   = 32
	offMagic       = 0
	offVersion     = 8
	offHeaderLen   = 12
	offDataLen     = 16
	offHeaderCRC   = 24
	offDataCRC     = 28
	formatVersion  = 2
	journalMagic   = "WRPJRNL\x00"
	recordSize     = 32
	slotSize       = 2 * recordSize
	sumSize        = 16         // bytes of a chunk sum: SHA-256, truncated
	recordMagic    = 0x52505257 // "WRPR"
	recOffMagic    = 0
	recOffSeq      = 4
	recOffKind     = 8
	recOffOp       = 12
	recOffChunk    = 16
	recOffReserved = 24
	recOffCRC      = 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recKind is the kind of a progress record.
type recKind uint8

const (
	// recStart: op Op began; written before its first device write.
	recStart recKind = 1
	// recCheckpoint: the device was synced; every op before Op is done
	// and, when Op is a Copy, its chunks before Chunk are done.
	recCheckpoint recKind = 2
	// recComplete: every op is done and the device was synced.
	recComplete recKind = 3
	// recRollbackBegin: a roll back began; only roll back may follow.
	recRollbackBegin recKind = 4
	// recRolledBack: every undoable op was undone and the device synced.
	recRolledBack recKind = 5
)

type record struct {
	seq   uint32
	kind  recKind
	op    uint32
	chunk uint64
}

func (r record) marshal() [recordSize]byte {
	var b [recordSize]byte
	binary.LittleEndian.PutUint32(b[recOffMagic:], recordMagic)
	binary.LittleEndian.PutUint32(b[recOffSeq:], r.seq)
	b[recOffKind] = byte(r.kind)
	binary.LittleEndian.PutUint32(b[recOffOp:], r.op)
	binary.LittleEndian.PutUint64(b[recOffChunk:], r.chunk)
	binary.LittleEndian.PutUint32(b[recOffCRC:], crc32.Checksum(b[:recOffCRC], castagnoli))
	return b
}

// parseRecord decodes b; ok is false for a torn or stale record.
func parseRecord(b []byte) (record, bool) {
	if len(b) < recordSize ||
		binary.LittleEndian.Uint32(b[recOffMagic:]) != recordMagic ||
		binary.LittleEndian.Uint32(b[recOffCRC:]) != crc32.Checksum(b[:recOffCRC], castagnoli) ||
		binary.LittleEndian.Uint32(b[recOffReserved:]) != 0 || b[recOffKind+1] != 0 ||
		b[recOffKind+2] != 0 || b[recOffKind+3] != 0 {
		return record{}, false
	}
	return record{
		seq:   binary.LittleEndian.Uint32(b[recOffSeq:]),
		kind:  recKind(b[recOffKind]),
		op:    binary.LittleEndian.Uint32(b[recOffOp:]),
		chunk: binary.LittleEndian.Uint64(b[recOffChunk:]),
	}, true
}

// fileHeader is the JSON header of a journal file.
type fileHeader struct {
	Format      string   `json:"format"` // "winrepart-journal"
	Summary     string   `json:"summary"`
	Meta        []byte   `json:"meta,omitempty"`
	DeviceSize  int64    `json:"device_size"`
	SectorSize  int      `json:"sector_size"`
	ChunkSize   int64    `json:"chunk_size"`
	Fingerprint string   `json:"fingerprint"` // hex SHA-256 over the old bytes of every Write
	Ops         []fileOp `json:"ops"`
}

type fileOp struct {
	Kind    string   `json:"kind"` // "write", "copy", "barrier"
	What    string   `json:"what,omitempty"`
	Offset  int64    `json:"offset,omitempty"`
	Length  int64    `json:"length,omitempty"`
	DataOff int64    `json:"data_offset,omitempty"`
	OldHash string   `json:"old_sha256,omitempty"`
	NewHash string   `json:"new_sha256,omitempty"`
	Src     int64    `json:"src,omitempty"`
	Dst     int64    `json:"dst,omitempty"`
	Extents []Extent `json:"extents"` // null: the whole range
	// Sums is the number of chunk sums a guarded Copy (see guardedCopies)
	// keeps in the data section at DataOff (one per chunk); 0 for other
	// copies.
	Sums int64 `json:"chunk_sums,omitempty"`
}

const formatName = "winrepart-journal"

// opKind tells the internal op kinds apart.
type opKind uint8

const (
	kindWrite opKind = iota + 1
	kindCopy
	kindBarrier
)

// op is the resolved, validated form of an [Op].
type op struct {
	kind   opKind
	what   string
	off    int64 // Write: device offset
	length int64 // Write: bytes; Copy: bytes
	newB   []byte
	oldB   []byte
	oldSum [32]byte
	newSum [32]byte
	src    int64
	dst    int64
	ext    []Extent // normalised; the whole range when all
	all    bool     // the Copy had nil Extents
	// guarded is set on a Copy whose source the run overwrites: it
	// overlaps its own destination, or a later Copy writes over it (see
	// guardedCopies).
	guarded bool
	// sums holds, for a guarded Copy, the sum of each chunk's source as it
	// was before the run (see chunkSum), sumSize bytes a chunk, in copy
	// order; nil for other ops.
	sums []byte
}

// copyRange is what guardedCopies needs of an op: whether it is a Copy,
// and its source and destination ranges.
type copyRange struct {
	copy             bool
	src, dst, length int64
}

// guardedCopies reports, for each op, whether it is a Copy whose source
// the run itself overwrites: its destination overlaps its source, or a
// later Copy's destination overlaps its source (the copies that move data
// out of C:'s cut-off tail, whose tail the WinRE copy fills afterwards).
// A log that lost its last records cannot tell whether such a copy's
// source still holds its data, so the journal keeps a sum of each chunk
// and recovery asks the disk (see proof.go). Ranges are whole Lengths,
// not extents: a conservative answer only costs sums.
//
// The check is quadratic in the number of copies, as [Journal.dependsOn]
// is; a journal holds at most [MaxOps] ops, and real plans a few copies.
func guardedCopies(ops []copyRange) []bool {
	g := make([]bool, len(ops))
	for i, o := range ops {
		if !o.copy {
			continue
		}
		src := span{o.src, o.src + o.length}
		g[i] = overlaps(src, span{o.dst, o.dst + o.length})
		for k := i + 1; k < len(ops) && !g[i]; k++ {
			if l := ops[k]; l.copy && overlaps(src, span{l.dst, l.dst + l.length}) {
				g[i] = true
			}
		}
	}
	return g
}

// overlapping reports whether a copy's source and destination overlap:
// then its first write already destroys data only the source held.
func (o *op) overlapping() bool {
	d := o.dst - o.src
	if d < 0 {
		d = -d
	}
	return d < o.length
}

// checkWrite validates a Write against the device geometry.
func checkWrite(off, n, size int64) error {
	switch {
	case n <= 0:
		return fmt.Errorf("empty write")
	case n > MaxWriteBytes:
		return fmt.Errorf("%d-byte write is larger than %d", n, MaxWriteBytes)
	case off < 0 || n > size-off:
		return fmt.Errorf("%d bytes at %d are outside the %d-byte device", n, off, size)
	}
	return nil
}

// checkCopy validates a Copy against the device geometry.
func checkCopy(src, dst, n, size int64, sector int) error {
	ss := int64(sector)
	switch {
	case n <= 0:
		return fmt.Errorf("empty copy")
	case src == dst:
		return fmt.Errorf("source and destination are the same")
	case src < 0 || dst < 0 || n > size-src || n > size-dst:
		return fmt.Errorf("copy of %d bytes from %d to %d is outside the %d-byte device", n, src, dst, size)
	case src%ss != 0 || dst%ss != 0 || n%ss != 0:
		return fmt.Errorf("copy of %d bytes from %d to %d is not aligned to %d-byte sectors", n, src, dst, sector)
	}
	return nil
}

func validSectorSize(s int) bool {
	return s >= 512 && s <= 65536 && bits.OnesCount(uint(s)) == 1
}

// fingerprint hashes the offsets and old bytes of every Write.
func fingerprint(ops []op) string {
	h := sha256.New()
	var b [16]byte
	for _, o := range ops {
		if o.kind != kindWrite {
			continue
		}
		binary.LittleEndian.PutUint64(b[:8], uint64(o.off))
		binary.LittleEndian.PutUint64(b[8:], uint64(o.length))
		h.Write(b[:])
		h.Write(o.oldB)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// encode returns the preamble, header and data of a journal.
func (j *Journal) encode() ([]byte, error) {
	var b bytes.Buffer
	if _, err := j.encodeTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeTo writes the preamble, header and data of a journal to w and
// returns the number of bytes written. The data section is written from
// the ops' own bytes, never gathered into one buffer: on a plan of a
// hundred thousand record writes that buffer, and its copy, were most of
// an apply's memory.
func (j *Journal) encodeTo(w io.Writer) (int64, error) {
	fh := fileHeader{
		Format: formatName, Summary: j.summary, Meta: j.meta,
		DeviceSize: j.devSize, SectorSize: j.sector, ChunkSize: j.chunk,
		Fingerprint: j.fingerprint,
	}
	var segs [][]byte // the data section, in order
	var dlen int64
	var dcrc uint32
	add := func(b []byte) {
		segs = append(segs, b)
		dlen += int64(len(b))
		dcrc = crc32.Update(dcrc, castagnoli, b)
	}
	for _, o := range j.ops {
		fo := fileOp{What: o.what}
		switch o.kind {
		case kindWrite:
			fo.Kind, fo.Offset, fo.Length = "write", o.off, o.length
			fo.DataOff = dlen
			fo.OldHash, fo.NewHash = hex.EncodeToString(o.oldSum[:]), hex.EncodeToString(o.newSum[:])
			add(o.newB)
			add(o.oldB)
		case kindCopy:
			fo.Kind, fo.Src, fo.Dst, fo.Length = "copy", o.src, o.dst, o.length
			if !o.all {
				fo.Extents = append(make([]Extent, 0, len(o.ext)), o.ext...)
			}
			if o.sums != nil {
				fo.DataOff, fo.Sums = dlen, int64(len(o.sums)/sumSize)
				add(o.sums)
			}
		case kindBarrier:
			fo.Kind = "barrier"
		}
		fh.Ops = append(fh.Ops, fo)
	}
	hdr, err := json.Marshal(fh)
	if err != nil {
		return 0, err
	}
	if len(hdr) > maxHeaderBytes {
		return 0, fmt.Errorf("%w: header of %d bytes is larger than %d", ErrInvalidOp, len(hdr), maxHeaderBytes)
	}
	pre := make([]byte, preambleSize)
	copy(pre[offMagic:], journalMagic)
	binary.LittleEndian.PutUint32(pre[offVersion:], formatVersion)
	binary.LittleEndian.PutUint32(pre[offHeaderLen:], uint32(len(hdr)))
	binary.LittleEndian.PutUint64(pre[offDataLen:], uint64(dlen))
	binary.LittleEndian.PutUint32(pre[offHeaderCRC:], crc32.Checksum(hdr, castagnoli))
	binary.LittleEndian.PutUint32(pre[offDataCRC:], dcrc)
	var n int64
	for _, b := range append([][]byte{pre, hdr}, segs...) {
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func corrupt(off int64, field, format string, args ...any) error {
	return &CorruptError{Offset: off, Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// parse reads a journal of size bytes from r. Every length is checked
// against the limits and against size before anything is allocated.
func parse(r io.ReaderAt, size int64) (*Journal, error) {
	if size < preambleSize {
		return nil, corrupt(0, "preamble", "file of %d bytes is shorter than %d", size, preambleSize)
	}
	var pre [preambleSize]byte
	if _, err := r.ReadAt(pre[:], 0); err != nil {
		return nil, fmt.Errorf("journal: reading preamble: %w", err)
	}
	if string(pre[offMagic:offMagic+8]) != journalMagic {
		return nil, corrupt(offMagic, "magic", "not a winrepart journal")
	}
	if v := binary.LittleEndian.Uint32(pre[offVersion:]); v != formatVersion {
		return nil, &CorruptError{Offset: offVersion, Field: "version", Reason: fmt.Sprintf("version %d, want %d", v, formatVersion), Err: ErrVersion}
	}
	hlen := int64(binary.LittleEndian.Uint32(pre[offHeaderLen:]))
	dlen64 := binary.LittleEndian.Uint64(pre[offDataLen:])
	if hlen > maxHeaderBytes || hlen > size-preambleSize {
		return nil, corrupt(offHeaderLen, "header length", "%d bytes does not fit", hlen)
	}
	if dlen64 > MaxDataBytes || int64(dlen64) > size-preambleSize-hlen {
		return nil, corrupt(offDataLen, "data length", "%d bytes does not fit", dlen64)
	}
	dlen := int64(dlen64)
	buf := make([]byte, hlen+dlen)
	if _, err := r.ReadAt(buf, preambleSize); err != nil {
		return nil, fmt.Errorf("journal: reading header: %w", err)
	}
	hdr, data := buf[:hlen], buf[hlen:]
	if crc32.Checksum(hdr, castagnoli) != binary.LittleEndian.Uint32(pre[offHeaderCRC:]) {
		return nil, corrupt(preambleSize, "header", "CRC mismatch")
	}
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(pre[offDataCRC:]) {
		return nil, corrupt(preambleSize+hlen, "data", "CRC mismatch")
	}
	var fh fileHeader
	if err := json.Unmarshal(hdr, &fh); err != nil {
		return nil, corrupt(preambleSize, "header", "%v", err)
	}
	j, err := fromHeader(&fh, data)
	if err != nil {
		return nil, err
	}
	j.recBase = preambleSize + hlen + dlen
	if err := j.readRecords(r, size); err != nil {
		return nil, err
	}
	return j, nil
}

// fromHeader validates a decoded header and builds the Journal.
func fromHeader(fh *fileHeader, data []byte) (*Journal, error) {
	bad := func(field, format string, args ...any) error { return corrupt(-1, field, format, args...) }
	switch {
	case fh.Format != formatName:
		return nil, bad("format", "%q, want %q", fh.Format, formatName)
	case len(fh.Summary) > maxSummaryBytes:
		return nil, bad("summary", "%d bytes", len(fh.Summary))
	case len(fh.Meta) > maxMetaBytes:
		return nil, bad("meta", "%d bytes", len(fh.Meta))
	case fh.DeviceSize <= 0:
		return nil, bad("device_size", "%d", fh.DeviceSize)
	case !validSectorSize(fh.SectorSize):
		return nil, bad("sector_size", "%d", fh.SectorSize)
	case fh.ChunkSize < int64(fh.SectorSize) || fh.ChunkSize > MaxChunkBytes || fh.ChunkSize%int64(fh.SectorSize) != 0:
		return nil, bad("chunk_size", "%d", fh.ChunkSize)
	case len(fh.Ops) > MaxOps:
		return nil, bad("ops", "%d ops, more than %d", len(fh.Ops), MaxOps)
	}
	j := &Journal{
		summary: fh.Summary, meta: fh.Meta, devSize: fh.DeviceSize,
		sector: fh.SectorSize, chunk: fh.ChunkSize, fingerprint: fh.Fingerprint,
	}
	ranges := make([]copyRange, len(fh.Ops))
	for i, fo := range fh.Ops {
		ranges[i] = copyRange{copy: fo.Kind == "copy", src: fo.Src, dst: fo.Dst, length: fo.Length}
	}
	guarded := guardedCopies(ranges)
	var used int64
	for i, fo := range fh.Ops {
		if len(fo.What) > maxWhatBytes {
			return nil, bad(fmt.Sprintf("op %d what", i), "%d bytes", len(fo.What))
		}
		o := op{what: fo.What}
		switch fo.Kind {
		case "write":
			if err := checkWrite(fo.Offset, fo.Length, fh.DeviceSize); err != nil {
				return nil, bad(fmt.Sprintf("op %d", i), "%v", err)
			}
			if fo.DataOff != used || 2*fo.Length > int64(len(data))-used {
				return nil, bad(fmt.Sprintf("op %d data_offset", i), "%d (+2x%d) does not follow %d in %d data bytes", fo.DataOff, fo.Length, used, len(data))
			}
			o.kind, o.off, o.length = kindWrite, fo.Offset, fo.Length
			o.newB = data[used : used+fo.Length : used+fo.Length]
			o.oldB = data[used+fo.Length : used+2*fo.Length : used+2*fo.Length]
			used += 2 * fo.Length
			o.newSum, o.oldSum = sha256.Sum256(o.newB), sha256.Sum256(o.oldB)
			if hex.EncodeToString(o.newSum[:]) != fo.NewHash || hex.EncodeToString(o.oldSum[:]) != fo.OldHash {
				return nil, bad(fmt.Sprintf("op %d", i), "stored bytes do not match their SHA-256")
			}
		case "copy":
			if err := checkCopy(fo.Src, fo.Dst, fo.Length, fh.DeviceSize, fh.SectorSize); err != nil {
				return nil, bad(fmt.Sprintf("op %d", i), "%v", err)
			}
			ext, err := normExtents(fo.Extents, fo.Length)
			if err != nil {
				return nil, bad(fmt.Sprintf("op %d extents", i), "%v", err)
			}
			o.kind, o.src, o.dst, o.length, o.ext, o.all = kindCopy, fo.Src, fo.Dst, fo.Length, ext, fo.Extents == nil
			// A guarded copy must carry the sum of every chunk: recovery
			// proves its progress on the disk with them.
			o.guarded = guarded[i]
			want := int64(0)
			if o.guarded {
				want = j.numChunks(&o)
			}
			if fo.Sums != want || (want > 0 && (fo.DataOff != used || want*sumSize > int64(len(data))-used)) {
				return nil, bad(fmt.Sprintf("op %d chunk_sums", i), "%d sums at %d, want %d following %d in %d data bytes", fo.Sums, fo.DataOff, want, used, len(data))
			}
			if want > 0 {
				o.sums = data[used : used+want*sumSize : used+want*sumSize]
				used += want * sumSize
			}
		case "barrier":
			o.kind = kindBarrier
		default:
			return nil, bad(fmt.Sprintf("op %d kind", i), "%q", fo.Kind)
		}
		j.ops = append(j.ops, o)
	}
	if used != int64(len(data)) {
		return nil, bad("data", "%d bytes unused", int64(len(data))-used)
	}
	if fp := fingerprint(j.ops); fp != fh.Fingerprint {
		return nil, bad("fingerprint", "%q does not match the stored old bytes", fh.Fingerprint)
	}
	j.log = newLog()
	return j, nil
}

// readRecords replays the progress log. Each record is stored twice, in
// one slot: a slot whose two copies both fail their checks ends the log
// when nothing after it holds a valid record (the torn remains of an
// interrupted append), and is corruption otherwise: a log is trusted only
// as far as it is proven, and records after a damaged one would be lost
// silently. A slot with one good copy is read from it (a flipped bit in
// the other). Two good copies that differ, a record out of sequence, or a
// well-formed record that makes no sense are corruption.
func (j *Journal) readRecords(r io.ReaderAt, size int64) error {
	j.log = newLog()
	j.recEnd = j.recBase
	var b [slotSize]byte
	for off := j.recBase; off < size; off += slotSize {
		n := min(int64(slotSize), size-off)
		if _, err := r.ReadAt(b[:n], off); err != nil {
			return fmt.Errorf("journal: reading record at %d: %w", off, err)
		}
		rec, ok, err := parseSlot(b[:n])
		if err != nil {
			return corrupt(off, "record", "%v", err)
		}
		if !ok {
			if later, err := validSlotAfter(r, off+slotSize, size); err != nil {
				return err
			} else if later >= 0 {
				return corrupt(off, "record", "damaged, yet a valid record follows at byte %d", later)
			}
			return nil
		}
		if rec.seq != j.seq {
			return corrupt(off, "record", "sequence number %d, want %d", rec.seq, j.seq)
		}
		if err := j.log.apply(j, rec); err != nil {
			return corrupt(off, "record", "%v", err)
		}
		j.seq++
		j.recEnd = off + slotSize
	}
	return nil
}

// parseSlot decodes a record slot: ok is false when neither copy is a
// well-formed record (a torn or damaged slot).
func parseSlot(b []byte) (record, bool, error) {
	var first, second []byte
	if len(b) >= recordSize {
		first = b[:recordSize]
	}
	if len(b) >= slotSize {
		second = b[recordSize:slotSize]
	}
	a, okA := parseRecord(first)
	c, okC := parseRecord(second)
	switch {
	case okA && okC && a != c:
		return record{}, false, errors.New("the two copies of the record differ")
	case okA:
		return a, true, nil
	case okC:
		return c, true, nil
	}
	return record{}, false, nil
}

// validSlotAfter returns the offset of the first record copy at or after
// off (on a copy boundary) that passes its checks, or -1. It reads in
// blocks, so a long damaged file costs few reads.
func validSlotAfter(r io.ReaderAt, off, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for size-off >= recordSize {
		n := min(int64(len(buf)), size-off) / recordSize * recordSize
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return -1, fmt.Errorf("journal: reading record at %d: %w", off, err)
		}
		for p := int64(0); p < n; p += recordSize {
			if _, ok := parseRecord(buf[p : p+recordSize]); ok {
				return off + p, nil
			}
		}
		off += n
	}
	return -1, nil
}
