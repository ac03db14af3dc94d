package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// The disk as proof.
//
// A progress log can lie by omission: a journal file cut short, or whose
// last records never reached stable storage, says the run is behind where
// the disk is. For Writes that is harmless (their bytes are fixed, and
// [Journal.State] checks every region against the log). For a Copy whose
// source and destination overlap it is not: redoing chunks from a stale
// checkpoint reads sources that later chunks already overwrote, and rolling
// back after such a copy began destroys the data it moved.
//
// The same holds for a Copy whose source a later Copy overwrites, such as
// the copies that move data out of C:'s cut-off tail before the WinRE copy
// fills that tail: a log cut before the WinRE copy's start record would
// roll back to file records pointing at overwritten clusters, or redo the
// tail's copies from them. Both kinds are guarded (see guardedCopies).
//
// So [Create] reads the source of every guarded Copy before anything is
// written and stores one sum per chunk in the journal. Recovery then
// asks the disk, not the log, where each chunk is: a chunk whose
// destination holds its sum is done; one whose source still holds it can
// be redone; one with neither is lost, and recovery refuses before writing
// anything. Roll back is allowed only while every chunk's source is
// intact. Redoing chunks in copy order is safe whatever the log says:
// chunk k only overwrites the sources of chunks before it, which are done
// or were redone first.
//
// A sum covers the chunk's copied bytes except those whose destination or
// source a later Write covers: the Write changes them after the copy, so
// they prove nothing about it (the Write's own region is checked by State,
// and a roll back restores its old bytes). A shrink's new backup boot
// sector lands in the cut-off tail whose data moved out just before. [Create] sums a copy's source as the copies before it will leave
// it, and refuses ops where a Write precedes a Copy whose source or
// destination it touches (see checkOrder). A copy that depends on an
// earlier one in the recovery is judged when its turn comes; the others
// are judged before anything is written.

// chunkState is what the disk says about one chunk of a guarded Copy.
type chunkState uint8

const (
	chunkDone chunkState = iota + 1 // the destination holds the chunk
	chunkRedo                       // the source is intact; copying it again is safe
	chunkLost                       // neither: the data is gone
)

// ErrUnproven reports a journal whose progress log the disk contradicts:
// a chunk of a copy is neither at its destination nor intact at its
// source, or a roll back would need a source that is gone. Recovery wrote
// nothing.
var ErrUnproven = errors.New("journal: the disk does not prove the journal's state")

// ProofError says which chunk of which copy the disk does not account for.
// It unwraps to [ErrUnproven].
type ProofError struct {
	Op     int    // the Copy
	What   string // its description
	Chunk  int64  // chunk index in copy order
	Reason string
}

// Error implements error.
func (e *ProofError) Error() string {
	return fmt.Sprintf("%v: op %d (%s) chunk %d: %s", ErrUnproven, e.Op, e.What, e.Chunk, e.Reason)
}

// Unwrap returns [ErrUnproven].
func (e *ProofError) Unwrap() error { return ErrUnproven }

type span struct{ lo, hi int64 }

// unproven returns the parts of Copy i, relative to its source, that its
// chunk sums leave out: those whose destination or source a Write after it
// covers. Sorted and merged.
func (j *Journal) unproven(i int) []span {
	c := &j.ops[i]
	var s []span
	for k := i + 1; k < len(j.ops); k++ {
		if o := &j.ops[k]; o.kind == kindWrite {
			for _, base := range []int64{c.dst, c.src} {
				lo, hi := max(o.off-base, 0), min(o.off+o.length-base, c.length)
				if lo < hi {
					s = append(s, span{lo, hi})
				}
			}
		}
	}
	sort.Slice(s, func(a, b int) bool { return s[a].lo < s[b].lo })
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && x.lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	return out
}

func overlaps(a, b span) bool { return a.lo < b.hi && b.lo < a.hi }

// checkOrder refuses op lists whose replay the chunk sums could not make
// safe: a Write before a Copy touching the Copy's source or destination.
// A recovery that resumes from a stale checkpoint replays the Writes
// before a copy that may already have run, and such a Write would land on
// data the copy moved.
func checkOrder(ops []op) error {
	for i := range ops {
		c := &ops[i]
		if c.kind != kindCopy {
			continue
		}
		for k := 0; k < i; k++ {
			o := &ops[k]
			if o.kind != kindWrite {
				continue
			}
			w := span{o.off, o.off + o.length}
			if overlaps(w, span{c.src, c.src + c.length}) || overlaps(w, span{c.dst, c.dst + c.length}) {
				return &OpError{Op: k, What: o.what, Err: fmt.Errorf("%w: it touches the range of the later copy op %d (%s)", ErrInvalidOp, i, c.what)}
			}
		}
	}
	return nil
}

// dependsOn reports whether an op in [from, i) writes into the source or
// destination of Copy i (an earlier Copy's destination; Writes cannot, see
// checkOrder): its chunks can then only be judged once those ops ran.
func (j *Journal) dependsOn(i, from int) bool {
	c := &j.ops[i]
	for k := from; k < i; k++ {
		o := &j.ops[k]
		if o.kind != kindCopy {
			continue
		}
		d := span{o.dst, o.dst + o.length}
		if overlaps(d, span{c.src, c.src + c.length}) || overlaps(d, span{c.dst, c.dst + c.length}) {
			return true
		}
	}
	return false
}

// view reads a device as it will be once the given copies ran, in order,
// without writing it: Create sums a later copy's source through it.
type view struct {
	dev    Device
	j      *Journal
	copies []*op
}

// readAt fills p from offset off as seen after the first n copies.
func (v *view) readAt(p []byte, off int64, n int) error {
	if n == 0 {
		_, err := v.dev.ReadAt(p, off)
		return err
	}
	c := v.copies[n-1]
	lo, hi := off-c.dst, off-c.dst+int64(len(p))
	pos := lo // source-relative, next byte of p not yet filled
	fill := func(a, b int64, moved bool) error {
		if a >= b {
			return nil
		}
		q := p[a-lo : b-lo]
		if moved {
			return v.readAt(q, c.src+a, n-1)
		}
		return v.readAt(q, c.dst+a, n-1)
	}
	var err error
	v.j.eachPiece(c, max(lo, 0), min(hi, c.length), func(a, b int64) {
		if err == nil {
			err = fill(pos, a, false)
		}
		if err == nil {
			err = fill(a, b, true)
		}
		pos = b
	})
	if err != nil {
		return err
	}
	return fill(pos, hi, false)
}

func (v *view) ReadAt(p []byte, off int64) (int, error) {
	if err := v.readAt(p, off, len(v.copies)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (v *view) WriteAt(p []byte, off int64) (int, error) {
	return 0, errors.New("journal: internal error: write to a view")
}
func (v *view) Size() int64     { return v.dev.Size() }
func (v *view) SectorSize() int { return v.dev.SectorSize() }

// provenPieces calls fn for every part of chunk k of Copy o (relative to
// its source) that its sum covers: the copied pieces, less ex (see
// unproven).
func (j *Journal) provenPieces(o *op, k int64, ex []span, fn func(a, b int64)) {
	lo, hi := j.chunkRange(o, k)
	j.eachPiece(o, lo, hi, func(a, b int64) {
		i := sort.Search(len(ex), func(i int) bool { return ex[i].hi > a })
		for ; a < b && i < len(ex) && ex[i].lo < b; i++ {
			mlo, mhi := ex[i].lo, ex[i].hi
			if mlo > a {
				fn(a, mlo)
			}
			a = max(a, mhi)
		}
		if a < b {
			fn(a, b)
		}
	})
}

// chunkSum sums the proven pieces of chunk k of Copy o as they lie at
// base (o.src or o.dst) on dev: CRC-32C and CRC-32 (IEEE) of the bytes,
// then their count. Both CRCs run on hardware instructions, so summing a
// copy's source before the run costs little more than reading it (SHA-256
// made a 1 GiB copy take twice as long); two CRCs of different polynomials
// leave a 2^-64 chance that other bytes of the same length pass for the
// chunk. The sums guard against lost journal records and torn copies, not
// against an adversary who writes the disk.
func (j *Journal) chunkSum(dev Device, o *op, k int64, base int64, ex []span) ([sumSize]byte, error) {
	var c, e uint32
	var n int64
	var err error
	j.provenPieces(o, k, ex, func(a, b int64) {
		for err == nil && a < b {
			m := min(b-a, int64(len(j.buf)))
			p := j.buf[:m]
			if _, err = dev.ReadAt(p, base+a); err != nil {
				err = fmt.Errorf("reading %d bytes at %d: %w", m, base+a, err)
				return
			}
			c = crc32.Update(c, castagnoli, p)
			e = crc32.Update(e, crc32.IEEETable, p)
			n += m
			a += m
		}
	})
	var s [sumSize]byte
	binary.LittleEndian.PutUint32(s[0:], c)
	binary.LittleEndian.PutUint32(s[4:], e)
	binary.LittleEndian.PutUint64(s[8:], uint64(n))
	return s, err
}

// sumBuffer makes sure j.buf can hold a chunk of o.
func (j *Journal) sumBuffer(o *op) {
	if c := j.chunkSize(o); int64(cap(j.buf)) < c {
		j.buf = make([]byte, c)
	}
	j.buf = j.buf[:cap(j.buf)]
}

// computeSums reads the source of Copy i from dev, as the copies before it
// will leave it, and returns the sum of every chunk in copy order.
func (j *Journal) computeSums(dev Device, i int) ([]byte, error) {
	o := &j.ops[i]
	v := &view{dev: dev, j: j}
	for k := 0; k < i; k++ {
		if j.ops[k].kind == kindCopy {
			v.copies = append(v.copies, &j.ops[k])
		}
	}
	if len(v.copies) > 0 {
		dev = v
	}
	j.sumBuffer(o)
	ex := j.unproven(i)
	n := j.numChunks(o)
	out := make([]byte, 0, n*sumSize)
	for k := int64(0); k < n; k++ {
		s, err := j.chunkSum(dev, o, k, o.src, ex)
		if err != nil {
			return nil, err
		}
		out = append(out, s[:]...)
	}
	return out, nil
}

// classify asks dev where every chunk of the guarded Copy i is. It
// reads the destination of each chunk and, when that does not hold the
// chunk, its source. A lost chunk is a [*ProofError].
func (j *Journal) classify(dev Device, i int) ([]chunkState, error) {
	o := &j.ops[i]
	j.sumBuffer(o)
	ex := j.unproven(i)
	n := j.numChunks(o)
	st := make([]chunkState, n)
	for k := int64(0); k < n; k++ {
		want := o.sums[k*sumSize : (k+1)*sumSize]
		d, err := j.chunkSum(dev, o, k, o.dst, ex)
		if err != nil {
			return nil, &OpError{Op: i, What: o.what, Err: err}
		}
		if string(d[:]) == string(want) {
			st[k] = chunkDone
			continue
		}
		s, err := j.chunkSum(dev, o, k, o.src, ex)
		if err != nil {
			return nil, &OpError{Op: i, What: o.what, Err: err}
		}
		if string(s[:]) != string(want) {
			return nil, &ProofError{Op: i, What: o.what, Chunk: k, Reason: "neither its destination nor its source holds the data the journal recorded"}
		}
		st[k] = chunkRedo
	}
	return st, nil
}

// sourcesIntact reports whether every chunk of the guarded Copy i
// still has its source as it was: only then can the copy be rolled back
// by leaving it. It returns the first chunk whose source changed, or -1.
func (j *Journal) sourcesIntact(dev Device, i int) (int64, error) {
	o := &j.ops[i]
	j.sumBuffer(o)
	ex := j.unproven(i)
	for k := int64(0); k < j.numChunks(o); k++ {
		s, err := j.chunkSum(dev, o, k, o.src, ex)
		if err != nil {
			return -1, &OpError{Op: i, What: o.what, Err: err}
		}
		if string(s[:]) != string(o.sums[k*sumSize:(k+1)*sumSize]) {
			return k, nil
		}
	}
	return -1, nil
}
