package journal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/faultdev"
)

// watchDev is a device whose Sync is slow and runs beside reads and
// writes, and which checks, at every write of the copy it watches, the
// property a roll forward rests on: no chunk run since the checkpoint
// recorded in the journal file has its source overwritten. It reads the
// journal file's records at every write, so it sees exactly what a
// recovery after a crash at that write would see.
type watchDev struct {
	*faultdev.Mem
	t       testing.TB
	path    string // the journal file
	j       *Journal
	op      int // the Copy watched
	delay   time.Duration
	syncs   atomic.Int64
	overlap atomic.Int64 // writes made while a Sync was running
	inSync  atomic.Bool

	mu      sync.Mutex
	ran     []bool // chunks of op whose destination was written
	failure string
}

func (d *watchDev) ConcurrentSync() bool { return true }

func (d *watchDev) Sync() error {
	d.inSync.Store(true)
	time.Sleep(d.delay)
	d.inSync.Store(false)
	d.syncs.Add(1)
	return nil
}

func (d *watchDev) WriteAt(p []byte, off int64) (int, error) {
	if d.inSync.Load() {
		d.overlap.Add(1)
	}
	d.check(off, int64(len(p)))
	return d.Mem.WriteAt(p, off)
}

// check finds the chunk this write belongs to and the durable checkpoint,
// and fails when the write lands on the source of a chunk that ran since.
func (d *watchDev) check(off, n int64) {
	o := &d.j.ops[d.op]
	if off < o.dst || off+n > o.dst+o.length {
		return
	}
	dj, err := Open(d.path)
	if err != nil {
		d.fail("reading the journal: %v", err)
		return
	}
	cp := int64(0)
	switch {
	case dj.log.cpOp > d.op:
		d.fail("write at %d after the copy was recorded done", off)
		return
	case dj.log.cpOp == d.op:
		cp = dj.log.cpChunk
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nc := d.j.numChunks(o)
	for k := int64(0); k < nc; k++ {
		lo, hi := d.j.chunkRange(o, k)
		if off-o.dst >= lo && off-o.dst < hi {
			d.ran[k] = true
		}
	}
	for k := cp; k < nc; k++ {
		if !d.ran[k] {
			continue
		}
		lo, hi := d.j.chunkRange(o, k)
		if off < o.src+hi && o.src+lo < off+n {
			d.fail("write [%d,%d) overwrites the source of chunk %d, which ran after the recorded checkpoint (chunk %d; journal log %+v)", off, off+n, k, cp, dj.log)
		}
	}
}

func (d *watchDev) fail(format string, args ...any) {
	if d.failure == "" {
		d.failure = fmt.Sprintf(format, args...)
	}
}

// TestPipelinedCopyKeepsSourcesSafe runs overlapping copies in both
// directions, with chunks of every size relative to the distance moved,
// through a device whose syncs are slow and concurrent, and checks the
// safety property at every write (see watchDev). It also checks that the
// copies were pipelined (writes happened during syncs) and correct.
func TestPipelinedCopyKeepsSourcesSafe(t *testing.T) {
	noFileSync(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const chunk = 64 << 10
	cases := []struct {
		dist, length, every int64
		ext                 []Extent // nil: all of it
	}{
		{16 * chunk, 100 * chunk, DefaultSyncEveryBytes, nil}, // windows of d/2
		{-16 * chunk, 100 * chunk, DefaultSyncEveryBytes, nil},
		{7 * chunk, 60 * chunk, DefaultSyncEveryBytes, nil}, // d/2 not a whole number of chunks
		{-9*chunk - 512, 70 * chunk, DefaultSyncEveryBytes, nil},
		{40 * chunk, 100 * chunk, 4 * chunk, nil},             // SyncEveryBytes below d/2
		{chunk + 512, 20 * chunk, DefaultSyncEveryBytes, nil}, // d/2 < one chunk: sequential
		{200 * chunk, 100 * chunk, 8 * chunk, nil},            // not overlapping
		// A window with nothing to copy between two with data: the
		// window after it must still wait for the pending checkpoint.
		{-16 * chunk, 40 * chunk, DefaultSyncEveryBytes, []Extent{{0, 8 * chunk}, {16 * chunk, 8 * chunk}}},
		{16 * chunk, 40 * chunk, DefaultSyncEveryBytes, []Extent{{0, 8 * chunk}, {16 * chunk, 8 * chunk}, {32 * chunk, 8 * chunk}}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("d=%d/len=%d/every=%d", tc.dist, tc.length, tc.every), func(t *testing.T) {
			size := int64(512 * chunk)
			m := faultdev.NewMem(size, 512)
			src := int64(200 * chunk)
			fill(m, rng, src, tc.length)
			want := m.Clone()
			ext := tc.ext
			if ext == nil {
				ext = []Extent{{0, tc.length}}
			}
			for _, e := range ext {
				b := make([]byte, e.Length)
				m.ReadAt(b, src+e.Offset)
				want.WriteAt(b, src+tc.dist+e.Offset)
			}

			path := filepath.Join(t.TempDir(), "j")
			ops := []Op{Copy{Src: src, Dst: src + tc.dist, Length: tc.length, Extents: tc.ext, What: "move"}}
			dev := &watchDev{Mem: m, t: t, path: path, delay: 2 * time.Millisecond}
			j, err := Create(path, dev, ops, CreateOptions{ChunkBytes: chunk})
			if err != nil {
				t.Fatal(err)
			}
			dev.j, dev.ran = j, make([]bool, j.numChunks(&j.ops[0]))
			r := &runner{opts: RunOptions{SyncEveryBytes: tc.every}, concurrent: true}
			per, pipelined := r.copyWindow(&j.ops[0], j.chunkSize(&j.ops[0]))
			if err := j.Run(context.Background(), dev, RunOptions{SyncEveryBytes: tc.every}); err != nil {
				t.Fatal(err)
			}
			if dev.failure != "" {
				t.Fatal(dev.failure)
			}
			if d := m.FirstDiff(want); d >= 0 {
				t.Fatalf("result differs at %d", d)
			}
			t.Logf("%d chunks of %d bytes, window %d chunks, pipelined %v: %d syncs, %d writes during a sync",
				len(dev.ran), j.chunkSize(&j.ops[0]), per, pipelined, dev.syncs.Load(), dev.overlap.Load())
			if pipelined && tc.ext == nil && dev.overlap.Load() == 0 {
				t.Errorf("pipelined, but no write ran during a sync")
			}
			if !pipelined && dev.overlap.Load() != 0 {
				t.Errorf("sequential, but %d writes ran during a sync", dev.overlap.Load())
			}
		})
	}
}
