package journal

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Journal is a journaled list of ops: the plan summary and caller
// metadata, the device it belongs to, the old and new bytes of every
// Write, and the progress made so far. Create writes a new one, Open reads
// one back. A Journal is not safe for concurrent use, and two processes
// must not run the same journal at once.
type Journal struct {
	path        string
	summary     string
	meta        []byte
	devSize     int64
	sector      int
	chunk       int64
	fingerprint string
	ops         []op
	log         logState
	recBase     int64 // file offset of the first record
	recEnd      int64 // file offset of the next record
	seq         uint32
	buf         []byte // the copy buffer, reused
	wrote       bool   // a device write was attempted through this value
}

// CreateOptions are the optional parts of a new journal.
type CreateOptions struct {
	// Summary describes the change for people, e.g. the plan's dry run.
	Summary string
	// Meta is kept verbatim for the caller (a serialised plan, say); at
	// most 16 MiB.
	Meta []byte
	// ChunkBytes is the copy chunk size in bytes, a multiple of the sector
	// size of at most [MaxChunkBytes]; 0 means [DefaultChunkBytes]. A
	// copy's chunks are never larger than the distance it moves data.
	ChunkBytes int64
}

// Create validates ops against dev, reads the old bytes of every Write
// region from dev, and writes a new journal file at path, which must not
// exist yet. The file and its directory are synced before Create returns,
// so the journal is durable before the first device write.
//
// Create refuses (with [ErrSameDevice]) a path on the device itself: when
// dev has a Path() string method naming an image file, a journal path that
// is the same file; when it names a Linux block device, a journal whose
// directory lies on a filesystem on that device or on one of its
// partitions. A device without a Path method cannot be checked; the caller
// must then keep the journal elsewhere itself.
func Create(path string, dev Device, ops []Op, opts CreateOptions) (*Journal, error) {
	j := &Journal{
		path: path, summary: opts.Summary, meta: opts.Meta,
		devSize: dev.Size(), sector: dev.SectorSize(), chunk: opts.ChunkBytes,
	}
	if j.chunk == 0 {
		j.chunk = DefaultChunkBytes
	}
	switch {
	case j.devSize <= 0:
		return nil, fmt.Errorf("%w: device size %d", ErrInvalidOp, j.devSize)
	case !validSectorSize(j.sector):
		return nil, fmt.Errorf("%w: sector size %d", ErrInvalidOp, j.sector)
	case j.chunk < int64(j.sector) || j.chunk > MaxChunkBytes || j.chunk%int64(j.sector) != 0:
		return nil, fmt.Errorf("%w: chunk size %d", ErrInvalidOp, j.chunk)
	case len(ops) > MaxOps:
		return nil, fmt.Errorf("%w: %d ops, more than %d", ErrInvalidOp, len(ops), MaxOps)
	case len(opts.Summary) > maxSummaryBytes || len(opts.Meta) > maxMetaBytes:
		return nil, fmt.Errorf("%w: summary or meta too large", ErrInvalidOp)
	}
	// The writes' new and old bytes live in one buffer, in the order the
	// file holds them (fewer, larger allocations than two per write).
	var wbytes int64
	for _, o := range ops {
		if w, ok := o.(Write); ok {
			wbytes += 2 * int64(len(w.New))
		}
	}
	var wbuf []byte
	if wbytes <= MaxDataBytes {
		wbuf = make([]byte, 0, wbytes)
	}
	var data int64
	for i, o := range ops {
		opErr := func(err error) error {
			return &OpError{Op: i, What: o.Describe(), Err: fmt.Errorf("%w: %v", ErrInvalidOp, err)}
		}
		if len(o.Describe()) > maxWhatBytes {
			return nil, opErr(fmt.Errorf("description longer than %d bytes", maxWhatBytes))
		}
		var r op
		switch o := o.(type) {
		case Write:
			n := int64(len(o.New))
			if err := checkWrite(o.Offset, n, j.devSize); err != nil {
				return nil, opErr(err)
			}
			if data += 2 * n; data > MaxDataBytes {
				return nil, opErr(fmt.Errorf("writes hold more than %d bytes", MaxDataBytes))
			}
			at := len(wbuf)
			wbuf = append(wbuf, o.New...)
			wbuf = append(wbuf, make([]byte, n)...)
			r = op{kind: kindWrite, what: o.What, off: o.Offset, length: n,
				newB: wbuf[at : at+int(n) : at+int(n)], oldB: wbuf[at+int(n) : at+2*int(n) : at+2*int(n)]}
			if _, err := dev.ReadAt(r.oldB, o.Offset); err != nil {
				return nil, &OpError{Op: i, What: o.What, Err: fmt.Errorf("reading old bytes: %w", err)}
			}
			r.oldSum, r.newSum = sha256.Sum256(r.oldB), sha256.Sum256(r.newB)
		case Copy:
			if err := checkCopy(o.Src, o.Dst, o.Length, j.devSize, j.sector); err != nil {
				return nil, opErr(err)
			}
			ext, err := normExtents(o.Extents, o.Length)
			if err != nil {
				return nil, opErr(err)
			}
			r = op{kind: kindCopy, what: o.What, src: o.Src, dst: o.Dst, length: o.Length, ext: ext, all: o.Extents == nil}
		case Barrier:
			r = op{kind: kindBarrier, what: o.What}
		default:
			return nil, opErr(fmt.Errorf("unknown op type %T", o))
		}
		j.ops = append(j.ops, r)
	}
	if err := checkSameDevice(path, dev); err != nil {
		return nil, err
	}
	if err := checkOrder(j.ops); err != nil {
		return nil, err
	}
	ranges := make([]copyRange, len(j.ops))
	for i, o := range j.ops {
		ranges[i] = copyRange{copy: o.kind == kindCopy, src: o.src, dst: o.dst, length: o.length}
	}
	for i, g := range guardedCopies(ranges) {
		j.ops[i].guarded = g
	}
	for i := range j.ops {
		o := &j.ops[i]
		if !o.guarded {
			continue
		}
		if data += j.numChunks(o) * sumSize; data > MaxDataBytes {
			return nil, &OpError{Op: i, What: o.what, Err: fmt.Errorf("%w: writes and chunk sums hold more than %d bytes", ErrInvalidOp, MaxDataBytes)}
		}
		sums, err := j.computeSums(dev, i)
		if err != nil {
			return nil, &OpError{Op: i, What: o.what, Err: fmt.Errorf("reading the source: %w", err)}
		}
		o.sums = sums
	}
	j.fingerprint = fingerprint(j.ops)
	n, err := writeDurably(path, j.encodeTo)
	if err != nil {
		return nil, fmt.Errorf("journal: writing %s: %w", path, err)
	}
	j.recBase, j.recEnd = n, n
	j.log = newLog()
	return j, nil
}

// fileSync syncs a journal file. Tests that simulate crashes of the
// device only (never of the journal file) may replace it to save time.
var fileSync = (*os.File).Sync

// writeDurably creates path (which must not exist) holding what write
// writes, durably and atomically: it goes to path+".partial" first, which
// is synced and then linked to path (a link, unlike a rename, never
// replaces an existing file), and the directory is synced. A crash before
// the link leaves no journal at path, only the partial file, and no
// device write happened. It returns the number of bytes written.
func writeDurably(path string, write func(io.Writer) (int64, error)) (int64, error) {
	n, err := writeFile(path, write)
	if err != nil {
		return 0, err
	}
	return n, syncDir(filepath.Dir(path))
}

// writeFile is writeDurably but for the directory's sync.
func writeFile(path string, write func(io.Writer) (int64, error)) (int64, error) {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return 0, err
	}
	if err := fileSync(f); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return 0, err
		}
		// A filesystem without hard links (FAT on a USB stick): rename,
		// after checking that nothing is at path.
		if _, serr := os.Lstat(path); serr == nil {
			return 0, fmt.Errorf("%s: %w", path, os.ErrExist)
		}
		if err := os.Rename(tmp, path); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open reads the journal at path. The file is untrusted: every length in
// it is bounded before use, and a torn last progress record is ignored.
func Open(path string) (*Journal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j, err := parse(f, fi.Size())
	if err != nil {
		return nil, err
	}
	j.path = path
	return j, nil
}

// Wrote reports whether a Run or Recover through this Journal value
// attempted any device write. When a first Run fails and Wrote is false,
// the device is as it was and the journal file may be removed.
func (j *Journal) Wrote() bool { return j.wrote }

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// Summary returns the summary given to [Create].
func (j *Journal) Summary() string { return j.summary }

// Meta returns the caller metadata given to [Create].
func (j *Journal) Meta() []byte { return j.meta }

// DeviceSize returns the size in bytes of the device the journal is for.
func (j *Journal) DeviceSize() int64 { return j.devSize }

// SectorSize returns the logical sector size in bytes of that device.
func (j *Journal) SectorSize() int { return j.sector }

// Ops returns the journaled ops. Copies report their normalised extents
// (sorted, merged), or nil when they copy everything.
func (j *Journal) Ops() []Op {
	out := make([]Op, len(j.ops))
	for i, o := range j.ops {
		switch o.kind {
		case kindWrite:
			out[i] = Write{Offset: o.off, New: append([]byte(nil), o.newB...), What: o.what}
		case kindCopy:
			c := Copy{Src: o.src, Dst: o.dst, Length: o.length, What: o.what}
			if !o.all {
				c.Extents = append(make([]Extent, 0, len(o.ext)), o.ext...)
			}
			out[i] = c
		case kindBarrier:
			out[i] = Barrier{What: o.what}
		}
	}
	return out
}

// logState is what the progress records say.
type logState struct {
	cpOp        int   // ops before cpOp are durably done
	cpChunk     int64 // chunks of op cpOp (a Copy) durably done
	lastStarted int   // highest op with a start record; -1
	irrevOp     int   // first started overlapping Copy; -1
	complete    bool
	rollingBack bool
	rolledBack  bool
}

func newLog() logState { return logState{lastStarted: -1, irrevOp: -1} }

var errBadRecord = errors.New("record out of order")

// apply folds one record into the state.
func (l *logState) apply(j *Journal, r record) error {
	if l.complete || l.rolledBack {
		return fmt.Errorf("%w: record after the end of the journal", errBadRecord)
	}
	n := uint64(len(j.ops))
	switch r.kind {
	case recStart:
		if uint64(r.op) >= n || r.chunk != 0 || l.rollingBack {
			return fmt.Errorf("%w: start of op %d", errBadRecord, r.op)
		}
		i := int(r.op)
		l.lastStarted = max(l.lastStarted, i)
		if o := &j.ops[i]; o.kind == kindCopy && o.overlapping() && l.irrevOp < 0 {
			l.irrevOp = i
		}
	case recCheckpoint:
		if uint64(r.op) > n || l.rollingBack {
			return fmt.Errorf("%w: checkpoint at op %d", errBadRecord, r.op)
		}
		i := int(r.op)
		limit := uint64(0)
		if i < len(j.ops) && j.ops[i].kind == kindCopy {
			limit = uint64(j.numChunks(&j.ops[i]))
		}
		if r.chunk > limit || i < l.cpOp || (i == l.cpOp && int64(r.chunk) < l.cpChunk) {
			return fmt.Errorf("%w: checkpoint at op %d chunk %d", errBadRecord, r.op, r.chunk)
		}
		l.cpOp, l.cpChunk = i, int64(r.chunk)
	case recComplete:
		if l.rollingBack || r.op != uint32(n) || r.chunk != 0 {
			return fmt.Errorf("%w: completion", errBadRecord)
		}
		l.complete, l.cpOp, l.cpChunk = true, len(j.ops), 0
	case recRollbackBegin:
		if l.irrevOp >= 0 || r.op != 0 || r.chunk != 0 {
			return fmt.Errorf("%w: roll back after an irreversible step", errBadRecord)
		}
		l.rollingBack, l.cpOp, l.cpChunk = true, 0, 0
	case recRolledBack:
		if !l.rollingBack || r.op != 0 || r.chunk != 0 {
			return fmt.Errorf("%w: roll back end", errBadRecord)
		}
		l.rolledBack = true
	default:
		return fmt.Errorf("%w: unknown kind %d", errBadRecord, r.kind)
	}
	return nil
}

// chunkSize returns the chunk size of a Copy: the journal's chunk size,
// but never more than the distance the copy moves data, rounded down to
// whole sectors (at least one, as copies are sector-aligned).
func (j *Journal) chunkSize(o *op) int64 {
	d := o.dst - o.src
	if d < 0 {
		d = -d
	}
	c := min(j.chunk, d)
	return c - c%int64(j.sector)
}

func (j *Journal) numChunks(o *op) int64 {
	c := j.chunkSize(o)
	return (o.length + c - 1) / c
}

// chunkRange returns chunk k (in copy order) of a Copy as a range
// relative to its source. The chunks are the cells of one grid of chunk
// size starting at the source (the last cell may be short). Copies toward
// lower offsets visit them low to high, copies toward higher offsets high
// to low.
func (j *Journal) chunkRange(o *op, k int64) (lo, hi int64) {
	c := j.chunkSize(o)
	if o.dst > o.src {
		k = j.numChunks(o) - 1 - k
	}
	lo = k * c
	return lo, min(lo+c, o.length)
}

// appendRecords writes records at the end of the log and syncs the file.
func (j *Journal) appendRecords(f *os.File, recs ...record) error {
	buf := make([]byte, 0, len(recs)*slotSize)
	l := j.log
	for i := range recs {
		recs[i].seq = j.seq + uint32(i)
		if err := l.apply(j, recs[i]); err != nil {
			return fmt.Errorf("journal: internal error: %w", err)
		}
		// Two copies a record: a flipped bit in one is repaired from the
		// other instead of ending the log (see readRecords).
		b := recs[i].marshal()
		buf = append(buf, b[:]...)
		buf = append(buf, b[:]...)
	}
	if _, err := f.WriteAt(buf, j.recEnd); err != nil {
		return fmt.Errorf("journal: appending progress: %w", err)
	}
	if err := fileSync(f); err != nil {
		return fmt.Errorf("journal: syncing progress: %w", err)
	}
	j.log = l
	j.seq += uint32(len(recs))
	j.recEnd += int64(len(buf))
	return nil
}
