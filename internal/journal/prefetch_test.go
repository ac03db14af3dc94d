package journal

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

// staleCache is a device whose Prefetch is as unsafe as a hint can be: it
// snapshots the bytes at once and serves a later read of exactly that
// range from the snapshot, even if the range was written in between. A
// copy that announced a source range before its last write would read
// stale bytes and end with the wrong content.
type staleCache struct {
	*faultdev.Mem
	snap    map[[2]int64][]byte
	hints   int
	served  int
	pending map[[2]int64]bool // announced and not read yet
}

func (s *staleCache) Prefetch(off, n int64) {
	b := make([]byte, n)
	if _, err := s.Mem.ReadAt(b, off); err != nil {
		panic(err)
	}
	s.snap[[2]int64{off, n}] = b
	s.hints++
}

func (s *staleCache) ReadAt(p []byte, off int64) (int, error) {
	k := [2]int64{off, int64(len(p))}
	if b, ok := s.snap[k]; ok {
		delete(s.snap, k)
		s.served++
		return copy(p, b), nil
	}
	return s.Mem.ReadAt(p, off)
}

// TestPrefetchSafe: with a device whose prefetched bytes go stale, copies
// in both directions, overlapping or not, with chunks up to the distance
// moved, still produce exactly what a plain copy does; and the hints name
// exactly the pieces the copy then reads (each one served from its
// snapshot, none left over).
func TestPrefetchSafe(t *testing.T) {
	const size = 32 * mib
	cases := []struct {
		src, dst, length int64
		chunk            int64
	}{
		{8 * mib, 5 * mib, 6 * mib, mib},            // left, overlapping
		{8 * mib, 5 * mib, 6 * mib, 4 * mib},        // left, chunk capped at the 3 MiB distance
		{5 * mib, 8 * mib, 6 * mib, mib},            // right, overlapping
		{5 * mib, 9*mib + 512, 6 * mib, 4 * mib},    // right, odd distance
		{20 * mib, 2 * mib, 6 * mib, 2 * mib},       // left, apart
		{4 * mib, 4*mib + 4096, 3 * mib, 64 * 1024}, // right by one page
		{4*mib + 4096, 4 * mib, 3 * mib, 64 * 1024}, // left by one page
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			base := faultdev.NewMem(size, 512)
			fill(base, rng, 0, size)
			ext := []Extent{{0, 512 * 1024}, {mib, c.length - mib - 16384}, {c.length - 8192, 8192}}
			op := Copy{Src: c.src, Dst: c.dst, Length: c.length, Extents: ext, What: "move"}

			want := base.Clone()
			plain, err := Create(filepath.Join(t.TempDir(), "j"), want, []Op{op}, CreateOptions{ChunkBytes: c.chunk})
			if err != nil {
				t.Fatal(err)
			}
			if err := plain.Run(context.Background(), want, RunOptions{SyncEveryBytes: c.chunk}); err != nil {
				t.Fatal(err)
			}

			dev := &staleCache{Mem: base.Clone(), snap: map[[2]int64][]byte{}}
			j, err := Create(filepath.Join(t.TempDir(), "j"), dev, []Op{op}, CreateOptions{ChunkBytes: c.chunk})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Run(context.Background(), dev, RunOptions{SyncEveryBytes: c.chunk}); err != nil {
				t.Fatal(err)
			}
			a, b := make([]byte, size), make([]byte, size)
			want.ReadAt(a, 0)
			dev.Mem.ReadAt(b, 0)
			if !bytes.Equal(a, b) {
				t.Errorf("copy with prefetch differs from a plain copy")
			}
			if dev.hints == 0 || dev.served != dev.hints || len(dev.snap) != 0 {
				t.Errorf("%d hints, %d reads served from them, %d never read", dev.hints, dev.served, len(dev.snap))
			}
		})
	}
}
