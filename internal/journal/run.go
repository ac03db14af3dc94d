package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sort"

	"github.com/winrepart/winrepart/blockdev"
)

// Content says what a Write region of the device holds.
type Content int

// Contents of a Write region.
const (
	ContentOld   Content = iota + 1 // exactly the old bytes
	ContentNew                      // exactly the new bytes
	ContentMixed                    // every sector old or new, some of each: a torn write
	ContentOther                    // something else
)

var contentNames = [...]string{ContentOld: "old", ContentNew: "new", ContentMixed: "mixed", ContentOther: "other"}

// String returns "old", "new", "mixed" or "other".
func (c Content) String() string {
	if c > 0 && int(c) < len(contentNames) {
		return contentNames[c]
	}
	return fmt.Sprintf("Content(%d)", int(c))
}

// Region is the state of one Write's region on the device.
type Region struct {
	Op      int    // index of the Write
	What    string // its description
	Offset  int64  // byte offset on the device
	Length  int64  // bytes
	Content Content
	// Checked is true when no other op writes any byte of the region, so
	// its content can be held against the progress log. Regions that
	// other ops also write are reported but not judged.
	Checked bool
}

// State is where a journal stands against a device.
type State struct {
	Ops         int   // number of ops
	Done        int   // ops durably done (the device was synced after them)
	NextChunk   int64 // when op Done is a Copy: its chunks durably done
	Started     int   // ops that began: 1 + the last op with a start record
	Complete    bool  // every op done
	RollingBack bool  // a roll back began
	RolledBack  bool  // a roll back finished
	// IrreversibleOp is the first overlapping Copy that began, -1 when
	// none did. Its source may already be overwritten, so the change can
	// only be rolled forward.
	IrreversibleOp int
	Regions        []Region
}

// State compares the journal with dev and reports which ops are done and
// what every Write region holds. It fails with a [*MismatchError] when
// the device has another size or sector size, or when a checked region
// holds something the progress log does not allow: before its op started
// it must hold the old bytes, once its op is durably done the new bytes,
// and while its op is in flight old, new or a sector-wise mix. The regions
// of a complete or rolled back journal are reported but not judged:
// nothing is left to write, and the disk may have changed since.
func (j *Journal) State(dev Device) (State, error) {
	if dev.Size() != j.devSize {
		return State{}, &MismatchError{Field: "size", Op: -1, Want: fmt.Sprint(j.devSize), Got: fmt.Sprint(dev.Size())}
	}
	if dev.SectorSize() != j.sector {
		return State{}, &MismatchError{Field: "sector size", Op: -1, Want: fmt.Sprint(j.sector), Got: fmt.Sprint(dev.SectorSize())}
	}
	l := &j.log
	st := State{
		Ops: len(j.ops), Done: l.cpOp, NextChunk: l.cpChunk, Started: l.lastStarted + 1,
		Complete: l.complete, RollingBack: l.rollingBack && !l.rolledBack, RolledBack: l.rolledBack,
		IrreversibleOp: l.irrevOp,
	}
	excl := j.exclusive()
	var buf []byte
	for i := range j.ops {
		o := &j.ops[i]
		if o.kind != kindWrite {
			continue
		}
		if int64(cap(buf)) < o.length {
			buf = make([]byte, o.length)
		}
		b := buf[:o.length]
		if _, err := dev.ReadAt(b, o.off); err != nil {
			return State{}, &OpError{Op: i, What: o.what, Err: fmt.Errorf("reading region: %w", err)}
		}
		r := Region{Op: i, What: o.what, Offset: o.off, Length: o.length, Content: j.content(o, b), Checked: excl[i]}
		st.Regions = append(st.Regions, r)
		// A write that leaves the bytes as they were (old == new) says nothing
		// about how far a run got: either reading is right.
		if !r.Checked || l.complete || l.rolledBack || o.oldSum == o.newSum {
			continue
		}
		var allowed []Content
		switch {
		case i > l.lastStarted:
			allowed = []Content{ContentOld}
		case i < l.cpOp && !l.rollingBack:
			allowed = []Content{ContentNew}
		default:
			allowed = []Content{ContentOld, ContentNew, ContentMixed}
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == r.Content
		}
		if !ok {
			want := ""
			for k, a := range allowed {
				if k > 0 {
					want += " or "
				}
				want += a.String() + " bytes"
			}
			return st, &MismatchError{Field: "region", Op: i, What: o.what, Want: want, Got: r.Content.String() + " bytes"}
		}
	}
	return st, nil
}

// content classifies the bytes b read from a Write's region.
func (j *Journal) content(o *op, b []byte) Content {
	sum := sha256.Sum256(b)
	switch sum {
	case o.newSum:
		return ContentNew
	case o.oldSum:
		return ContentOld
	}
	// Sectors are the unit a disk writes atomically, so compare whole
	// device sectors (the first and last ones may be partial).
	ss := int64(j.sector)
	for p := 0; p < len(b); {
		q := min(int((o.off+int64(p))/ss*ss+ss-o.off), len(b))
		if !bytes.Equal(b[p:q], o.oldB[p:q]) && !bytes.Equal(b[p:q], o.newB[p:q]) {
			return ContentOther
		}
		p = q
	}
	return ContentMixed
}

// exclusive reports, per op, whether a Write's region is written by no
// other op (no other Write and no Copy destination range).
func (j *Journal) exclusive() []bool {
	type span struct {
		lo, hi int64
		op     int
	}
	var spans []span
	for i := range j.ops {
		o := &j.ops[i]
		switch o.kind {
		case kindWrite:
			spans = append(spans, span{o.off, o.off + o.length, i})
		case kindCopy:
			spans = append(spans, span{o.dst, o.dst + o.length, i})
		}
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].lo < spans[b].lo })
	out := make([]bool, len(j.ops))
	for _, s := range spans {
		out[s.op] = j.ops[s.op].kind == kindWrite
	}
	var reach int64 = -1
	reachOp := -1
	for _, s := range spans {
		if s.lo < reach {
			out[s.op] = false
			out[reachOp] = false
		}
		if s.hi > reach {
			reach, reachOp = s.hi, s.op
		}
	}
	return out
}

// Progress reports how far a run is.
type Progress struct {
	Op         int    // index of the current op
	Ops        int    // number of ops
	What       string // the current op's description
	BytesDone  int64  // bytes written or copied so far, over all ops
	BytesTotal int64  // bytes all ops write or copy
}

// RunOptions tune [Journal.Run] and [Recover]. The zero value is usable.
type RunOptions struct {
	// Progress, when set, is called after every op and copy chunk.
	Progress func(Progress)
	// Logger, when set, receives a record per op (Info) and per progress
	// record (Debug).
	Logger *slog.Logger
	// SyncEveryBytes is how many bytes of a copy's range may be written
	// between two progress records (each preceded by a device sync);
	// 0 means [DefaultSyncEveryBytes]. For a copy whose source and
	// destination overlap it is capped at the distance moved; see
	// [Journal.Run].
	SyncEveryBytes int64
}

type runner struct {
	j          *Journal
	dev        Device
	f          *os.File
	opts       RunOptions
	log        *slog.Logger
	done       int64
	tot        int64
	concurrent bool // dev's Sync may run beside ReadAt and WriteAt
	// proof holds, in a recovery, what the disk says about each chunk of
	// the guarded copies still to run (see proof.go); nil in a first
	// run, where the journal was just made.
	proof map[int][]chunkState
}

func (r *runner) sync() error {
	if s, ok := r.dev.(blockdev.Syncer); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("journal: syncing device: %w", err)
		}
	}
	return nil
}

func (r *runner) progress(i int) {
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Op: i, Ops: len(r.j.ops), What: r.j.ops[i].what, BytesDone: r.done, BytesTotal: r.tot})
	}
}

// checkpoint syncs the device, then records that ops before i (and the
// first k chunks of op i) are done.
func (r *runner) checkpoint(i int, k int64, extra ...record) error {
	if err := r.sync(); err != nil {
		return err
	}
	if l := &r.j.log; len(extra) == 0 && (i < l.cpOp || (i == l.cpOp && k <= l.cpChunk)) {
		// A recovery redoing chunks before the recorded checkpoint: the
		// log already says as much.
		return nil
	}
	r.log.Debug("journal checkpoint", "op", i, "chunk", k)
	return r.j.appendRecords(r.f, append([]record{{kind: recCheckpoint, op: uint32(i), chunk: uint64(k)}}, extra...)...)
}

// openRW opens and locks the journal file for appending records, dropping
// any torn tail so that stale bytes can never pass for a later record.
// Callers release it with closeRW.
func (j *Journal) openRW() (*os.File, error) {
	if j.path == "" {
		return nil, fmt.Errorf("journal: journal has no path")
	}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(j.recEnd); err != nil {
		closeRW(f)
		return nil, fmt.Errorf("journal: %w", err)
	}
	return f, nil
}

// closeRW releases the lock openRW took and closes the file.
func closeRW(f *os.File) error {
	unlockFile(f)
	return f.Close()
}

func (j *Journal) newRunner(dev Device, f *os.File, opts RunOptions) *runner {
	r := &runner{j: j, dev: dev, f: f, opts: opts, log: opts.Logger}
	if cs, ok := dev.(blockdev.ConcurrentSyncer); ok && cs.ConcurrentSync() {
		r.concurrent = true
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.opts.SyncEveryBytes <= 0 {
		r.opts.SyncEveryBytes = DefaultSyncEveryBytes
	}
	for i := range j.ops {
		n := j.opBytes(&j.ops[i], 0, -1)
		r.tot += n
		if i < j.log.cpOp {
			r.done += n
		} else if i == j.log.cpOp {
			r.done += j.opBytes(&j.ops[i], 0, j.log.cpChunk)
		}
	}
	return r
}

// opBytes returns the bytes an op writes; for a Copy only those of chunks
// [from, to), to < 0 meaning all.
func (j *Journal) opBytes(o *op, from, to int64) int64 {
	switch o.kind {
	case kindWrite:
		if to == 0 {
			return 0
		}
		return o.length
	case kindCopy:
		if to < 0 {
			to = j.numChunks(o)
		}
		var n int64
		for k := from; k < to; k++ {
			lo, hi := j.chunkRange(o, k)
			j.eachPiece(o, lo, hi, func(a, b int64) { n += b - a })
		}
		return n
	}
	return 0
}

// doneBefore returns the bytes all ops before op i write or copy.
func (r *runner) doneBefore(i int) int64 {
	var n int64
	for k := 0; k < i; k++ {
		n += r.j.opBytes(&r.j.ops[k], 0, -1)
	}
	return n
}

// eachPiece calls fn for every part of [lo, hi) that the copy's extents
// cover, in increasing order.
func (j *Journal) eachPiece(o *op, lo, hi int64, fn func(a, b int64)) {
	k := sort.Search(len(o.ext), func(i int) bool { return o.ext[i].Offset+o.ext[i].Length > lo })
	for ; k < len(o.ext) && o.ext[k].Offset < hi; k++ {
		fn(max(lo, o.ext[k].Offset), min(hi, o.ext[k].Offset+o.ext[k].Length))
	}
}

// Run applies the ops to dev, resuming after the last progress record
// when the journal was run before. It first checks the journal against dev
// with [Journal.State]. Run on a complete journal does nothing.
//
// # Protocol
//
// Before the first device write of an op, a start record is appended and
// the journal file synced; one record marks a whole run of Writes between
// two Barriers or Copies as started. A Barrier syncs the device and then
// records a checkpoint. A Copy begins with a device sync and a checkpoint, records
// a checkpoint (after a device sync) at least every
// [RunOptions.SyncEveryBytes] of its range and ends with one. A roll
// forward restarts from the last checkpoint, rewriting Writes (their bytes
// are fixed) and redoing copy chunks.
//
// # Why redoing copy chunks is safe
//
// Let d = |Dst-Src| and c the chunk size, c <= d. Copies toward lower
// offsets run low to high: chunk k reads [Src+kc, Src+(k+1)c) and writes
// [Dst+kc, Dst+(k+1)c) = [Src+kc-d, Src+(k+1)c-d), which ends at or before
// Src+kc because c <= d. So a chunk never writes its own source, and no
// chunk writes the source of a chunk after it (those start at
// Src+(k+1)c or later). A chunk k' > k does write over chunk k's source
// only when (k'-k-1)c < d < (k'-k+1)c, so only when chunks k..k' together
// span more than d bytes. Run syncs the device and records a checkpoint
// before the chunks written since the last one span more than d bytes
// (chunks with nothing to copy need no checkpoint), so among the chunks
// that ran after the last checkpoint none wrote over the source of another:
// redoing them from the checkpoint reads the same source bytes as the
// first time and writes the same result, however many of them reached the
// disk, fully or torn. Copies toward higher offsets are the mirror image
// (high to low). Non-overlapping copies (d >= Length) never write their
// source at all.
//
// On a [blockdev.ConcurrentSyncer] device the checkpoints of a copy are pipelined:
// the sync and record closing one window run while the next window is
// copied, and the window after that waits for them. Windows then span at
// most d/2, so the chunks run since the last recorded checkpoint, which
// lie in the last two windows, still span at most d.
//
// Cancelling ctx stops at the next chunk or op boundary: the device is
// synced, a checkpoint recorded, and Run returns an error wrapping
// ctx.Err(); a later Run or [Recover] resumes.
func (j *Journal) Run(ctx context.Context, dev Device, opts RunOptions) error {
	return j.run(ctx, dev, opts, false)
}

// run is Run; prove, for a recovery, first asks the disk where every
// chunk of the guarded copies still to run is, refusing (before any
// write) when a chunk is lost, and then skips the chunks already done.
func (j *Journal) run(ctx context.Context, dev Device, opts RunOptions, prove bool) error {
	st, err := j.State(dev)
	if err != nil {
		return err
	}
	if st.Complete {
		return nil
	}
	if st.RollingBack || st.RolledBack {
		return ErrRolledBack
	}
	f, err := j.openRW()
	if err != nil {
		return err
	}
	defer closeRW(f)
	r := j.newRunner(dev, f, opts)
	if prove {
		r.proof = map[int][]chunkState{}
		for i := j.log.cpOp; i < len(j.ops); i++ {
			if o := &j.ops[i]; o.guarded && !j.dependsOn(i, j.log.cpOp) {
				cs, err := j.classify(dev, i)
				if err != nil {
					return err
				}
				r.proof[i] = cs
			}
		}
	}
	return r.forward(ctx)
}

func (r *runner) forward(ctx context.Context) error {
	j := r.j
	for i := j.log.cpOp; i < len(j.ops); i++ {
		o := &j.ops[i]
		if err := ctx.Err(); err != nil {
			if cerr := r.checkpoint(i, j.log.cpChunkFor(i)); cerr != nil {
				return cerr
			}
			return fmt.Errorf("journal: stopped before op %d: %w", i, err)
		}
		r.log.Info("journal op", "op", i, "of", len(j.ops), "what", o.what)
		switch o.kind {
		case kindWrite:
			if i > j.log.lastStarted {
				// One start record for the run of Writes up to the next
				// Barrier or Copy, not one journal sync each: a roll back
				// restores every Write up to the last one started, and for
				// a Write of the run that had not begun that rewrites the
				// old bytes it still holds.
				g := i
				for g+1 < len(j.ops) && j.ops[g+1].kind == kindWrite {
					g++
				}
				if err := j.appendRecords(r.f, record{kind: recStart, op: uint32(g)}); err != nil {
					return err
				}
			}
			j.wrote = true
			if _, err := r.dev.WriteAt(o.newB, o.off); err != nil {
				return &OpError{Op: i, What: o.what, Err: err}
			}
			r.done += o.length
		case kindBarrier:
			if err := r.checkpoint(i+1, 0); err != nil {
				return &OpError{Op: i, What: o.what, Err: err}
			}
		case kindCopy:
			var err error
			switch {
			case i != j.log.cpOp:
				err = r.checkpoint(i, 0, record{kind: recStart, op: uint32(i)})
			case i > j.log.lastStarted:
				err = j.appendRecords(r.f, record{kind: recStart, op: uint32(i)})
			}
			if err != nil {
				return &OpError{Op: i, What: o.what, Err: err}
			}
			if err := r.copy(ctx, i); err != nil {
				return err
			}
			if err := r.checkpoint(i+1, 0); err != nil {
				return &OpError{Op: i, What: o.what, Err: err}
			}
		}
		r.progress(i)
	}
	if err := r.sync(); err != nil {
		return err
	}
	r.log.Info("journal complete", "ops", len(j.ops))
	return j.appendRecords(r.f, record{kind: recComplete, op: uint32(len(j.ops))})
}

// cpChunkFor returns the durable chunk count of op i when i is the
// checkpointed op, else 0.
func (l *logState) cpChunkFor(i int) int64 {
	if i == l.cpOp {
		return l.cpChunk
	}
	return 0
}

// copyWindow returns how many chunks of size c of Copy o run between two
// checkpoints, and whether each checkpoint may be made in the background
// while the next window is copied (pipelined).
//
// A sequential window spans at most SyncEveryBytes and, for an
// overlapping copy, at most the distance d it moves: every chunk run since
// the last recorded checkpoint is then within d bytes of the others (see
// [Journal.Run]). A pipelined run has two windows unrecorded at a time,
// the one being flushed and the one being copied, so each spans at most
// d/2; when not even one chunk fits in d/2 the copy runs sequentially.
func (r *runner) copyWindow(o *op, c int64) (per int64, pipelined bool) {
	w := r.opts.SyncEveryBytes
	if r.concurrent {
		half := w
		if o.overlapping() {
			half = min(w, abs(o.dst-o.src)/2)
		}
		if half/c >= 1 {
			return half / c, true
		}
	}
	if o.overlapping() {
		w = min(w, abs(o.dst-o.src))
	}
	return max(1, w/c), false
}

// checkpointAsync makes checkpoint (i, k) in a goroutine; the result
// arrives on the returned channel. The caller must not append records
// until it has received it.
func (r *runner) checkpointAsync(i int, k int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- r.checkpoint(i, k) }()
	return ch
}

// copy runs the chunks of Copy i from its last checkpoint on, with one
// reusable buffer of one chunk.
//
// On a device whose Sync may run beside reads and writes (see
// [blockdev.ConcurrentSyncer]) the checkpoints are pipelined: at the end of each
// window the device sync and the progress record of that window start in
// the background while the next window is copied, and the window after
// that starts only once they are done. So the chunks run since the last
// recorded checkpoint always lie in the last two windows, which together
// span at most d (see copyWindow), and the reads of each window overlap
// the flush of the one before.
func (r *runner) copy(ctx context.Context, i int) (err error) {
	j := r.j
	o := &j.ops[i]
	c := j.chunkSize(o)
	n := j.numChunks(o)
	per, pipelined := r.copyWindow(o, c)
	if int64(cap(j.buf)) < c {
		j.buf = make([]byte, c)
	}
	buf := j.buf[:c]
	start := j.log.cpChunkFor(i)
	if r.proof != nil && r.proof[i] == nil && o.guarded {
		// A copy that depends on the ops before it: judged now they ran.
		cs, err := j.classify(r.dev, i)
		if err != nil {
			return err
		}
		r.proof[i] = cs
	}
	proof := r.proof[i]
	if proof != nil {
		// Redo from the first chunk the disk does not hold, wherever the
		// log says the copy stood.
		first := int64(0)
		for first < n && proof[first] == chunkDone {
			first++
		}
		start = min(start, first)
		r.done = j.opBytes(o, 0, start) + r.doneBefore(i)
	}
	// The checkpoint being made in the background, if any: waited for
	// before any other record, and before returning.
	var pending <-chan error
	wait := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		return err
	}
	defer func() {
		if werr := wait(); werr != nil && err == nil {
			err = &OpError{Op: i, What: o.what, Err: werr}
		}
	}()
	// Chunks with nothing to copy need no checkpoint after them.
	cpDone := r.done
	for k := start; k < n; k++ {
		if err := ctx.Err(); err != nil && k > start {
			cerr := wait()
			if cerr == nil {
				cerr = r.checkpoint(i, k)
			}
			if cerr != nil {
				return &OpError{Op: i, What: o.what, Err: cerr}
			}
			return fmt.Errorf("journal: stopped in op %d (%s) at chunk %d of %d: %w", i, o.what, k, n, err)
		}
		if k > start && (k-start)%per == 0 {
			// Window k-2per..k-per must be recorded before window
			// k..k+per may overwrite its source; a sequential copy also
			// waits for the checkpoint it starts here.
			if err := wait(); err != nil {
				return &OpError{Op: i, What: o.what, Err: err}
			}
			if r.done != cpDone {
				cpDone = r.done
				pending = r.checkpointAsync(i, k)
				if !pipelined {
					if err := wait(); err != nil {
						return &OpError{Op: i, What: o.what, Err: err}
					}
				}
			}
		}
		lo, hi := j.chunkRange(o, k)
		if proof != nil && proof[k] == chunkDone {
			j.eachPiece(o, lo, hi, func(a, b int64) { r.done += b - a })
			continue
		}
		var err error
		j.eachPiece(o, lo, hi, func(a, b int64) {
			if err != nil {
				return
			}
			p := buf[a-lo : b-lo]
			if _, err = r.dev.ReadAt(p, o.src+a); err != nil {
				err = fmt.Errorf("reading %d bytes at %d: %w", len(p), o.src+a, err)
				return
			}
			j.wrote = true
			if _, err = r.dev.WriteAt(p, o.dst+a); err != nil {
				err = fmt.Errorf("writing %d bytes at %d: %w", len(p), o.dst+a, err)
				return
			}
			r.done += b - a
		})
		if err != nil {
			return &OpError{Op: i, What: o.what, Err: err}
		}
		if r.opts.Progress != nil {
			r.progress(i)
		}
	}
	return nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// String summarises the state in one line, e.g.
// "3 of 16 ops done, op 3 at chunk 5, 4 started".
func (s State) String() string {
	switch {
	case s.Complete:
		return fmt.Sprintf("complete (%d ops)", s.Ops)
	case s.RolledBack:
		return "rolled back"
	case s.RollingBack:
		return fmt.Sprintf("roll back in progress (%d ops started)", s.Started)
	}
	str := fmt.Sprintf("%d of %d ops done", s.Done, s.Ops)
	if s.NextChunk > 0 {
		str += fmt.Sprintf(", op %d at chunk %d", s.Done, s.NextChunk)
	}
	str += fmt.Sprintf(", %d started", s.Started)
	if s.IrreversibleOp >= 0 {
		str += fmt.Sprintf(", irreversible since op %d", s.IrreversibleOp)
	}
	return str
}
