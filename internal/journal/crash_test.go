package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

const (
	mib        = 1 << 20
	crashDisk  = 1024*mib + 2*mib
	copyRegion = 600 * mib
)

// scenario is a realistic op list on an initial disk.
type scenario struct {
	old *faultdev.Mem // the disk before
	new *faultdev.Mem // the disk after a run without faults
	ops []Op
	// free are ranges the old layout does not use: a rolled back
	// non-overlapping copy leaves its destination there as it is.
	free []span
	// opts are the options of every run of the scenario.
	opts RunOptions
}

// probe runs the scenario once without faults through faultdev and
// returns its journal and the device writes it made (the crash points).
func (s *scenario) probe(t testing.TB, dir string) (*Journal, []faultdev.Span) {
	t.Helper()
	d := faultdev.New(s.old.Clone())
	j, err := Create(filepath.Join(dir, "probe.journal"), d, s.ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), d, s.opts); err != nil {
		t.Fatal(err)
	}
	return j, d.Log()
}

func fill(m *faultdev.Mem, rng *rand.Rand, off, n int64) {
	b := make([]byte, n+8)
	for i := int64(0); i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	m.WriteAt(b[:n], off)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// newScenario builds the op list of a WinRE move on a sparse disk: table
// pieces in UEFI order with barriers, NTFS metadata, an overlapping copy
// 1 MiB to the left and one 300 MiB to the right of a 600 MiB region with
// extents, then the primary table and ReAgent.xml.
func newScenario(t testing.TB) *scenario {
	rng := rand.New(rand.NewPCG(1, 2))
	old := faultdev.NewMem(crashDisk, 512)
	// Old metadata everywhere a Write will go, and data in the copy region,
	// both in the extents and (as junk that must stay) outside them.
	for _, off := range []int64{0, 512, 1024, 1 * mib, 2 * mib, crashDisk - 33*512, crashDisk - 512} {
		fill(old, rng, off, 512)
	}
	src1 := int64(100 * mib)
	ext := []Extent{
		{0, 64 << 10}, {3*mib + 512, 2 * mib}, {40 * mib, 4096}, {41*mib - 4096, 8192},
		{299*mib + 512*1024, mib}, {450*mib + 1024, 512}, {copyRegion - 256<<10, 256 << 10},
	}
	for _, e := range ext {
		fill(old, rng, src1+e.Offset, e.Length)
	}
	for _, off := range []int64{10 * mib, 200 * mib, 500*mib + 4096} {
		fill(old, rng, src1+off, 8192) // not in an extent: not copied
	}
	fill(old, rng, src1-mib, 4096) // in the first copy's destination
	dst1 := src1 - mib
	dst2 := dst1 + 300*mib
	ops := []Op{
		Write{Offset: crashDisk - 33*512, New: randBytes(rng, 32*512), What: "backup GPT entries"},
		Barrier{What: "flush backup entries"},
		Write{Offset: crashDisk - 512, New: randBytes(rng, 512), What: "backup GPT header"},
		Barrier{What: "flush backup header"},
		Write{Offset: 1 * mib, New: randBytes(rng, 512), What: "NTFS boot sector"},
		Write{Offset: 2 * mib, New: randBytes(rng, 8192), What: "$Bitmap"},
		Barrier{What: "flush NTFS shrink"},
		Copy{Src: src1, Dst: dst1, Length: copyRegion, Extents: ext, What: "move left by 1 MiB"},
		Copy{Src: dst1, Dst: dst2, Length: copyRegion, Extents: ext, What: "move right by 300 MiB"},
		Write{Offset: 1024, New: randBytes(rng, 32*512), What: "primary GPT entries"},
		Barrier{What: "flush primary entries"},
		Write{Offset: 512, New: randBytes(rng, 512), What: "primary GPT header"},
		Barrier{What: "flush primary header"},
		Write{Offset: 0, New: randBytes(rng, 512), What: "protective MBR"},
		Barrier{What: "flush MBR"},
		Write{Offset: dst2 + 300*mib + 1024, New: randBytes(rng, 700), What: "ReAgent.xml"},
	}
	s := &scenario{old: old, ops: ops}
	s.new = old.Clone()
	j, err := Create(filepath.Join(t.TempDir(), "ref.journal"), s.new, ops, CreateOptions{Summary: "reference"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), s.new, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// noFileSync makes journal file syncs free for the duration of a test:
// the crash matrix cuts the power of the device, never of the journal
// file, and fsync on a real disk would make it slow.
func noFileSync(t testing.TB) {
	saved := fileSync
	fileSync = func(*os.File) error { return nil }
	t.Cleanup(func() { fileSync = saved })
}

type fault int

const (
	faultStop fault = iota
	faultTear
	faultLose
)

func (f fault) String() string { return [...]string{"stop", "tear", "lose-unflushed"}[f] }

// arm arms fault f at write k; spans are the writes of a clean run.
func arm(d *faultdev.Device, f fault, k int, spans []faultdev.Span) {
	switch f {
	case faultStop:
		d.StopAfter(k)
	case faultTear:
		n := 0
		if k < len(spans) {
			n = spans[k].Length / 2
		}
		d.TearAt(k, n)
	case faultLose:
		d.LoseUnflushed()
		d.StopAfter(k)
	}
}

// crashed runs the scenario on a copy of the old disk with fault f at
// write k and returns the crashed disk and the journal path.
func (s *scenario) crashed(t testing.TB, dir string, f fault, k int, spans []faultdev.Span) (*faultdev.Mem, string, bool) {
	m := s.old.Clone()
	path := filepath.Join(dir, fmt.Sprintf("%v-%d.journal", f, k))
	d := faultdev.New(m)
	j, err := Create(path, d, s.ops, CreateOptions{Summary: "crash test"})
	if err != nil {
		t.Fatal(err)
	}
	arm(d, f, k, spans)
	err = j.Run(context.Background(), d, s.opts)
	hit := d.Crashed()
	if hit && !errors.Is(err, faultdev.ErrPowerLost) {
		t.Fatalf("%v at %d: run returned %v, want power lost", f, k, err)
	}
	if !hit && err != nil {
		t.Fatalf("%v at %d: run without a crash failed: %v", f, k, err)
	}
	d.Crash()
	return m, path, hit
}

// crashedJournal is crashed for a fault that must hit: the crashed disk,
// the bytes of the journal it left, and that journal parsed.
func (s *scenario) crashedJournal(t testing.TB, dir string, f fault, k int, spans []faultdev.Span) (*faultdev.Mem, []byte, *Journal) {
	t.Helper()
	m, path, hit := s.crashed(t, dir, f, k, spans)
	if !hit {
		t.Fatalf("%v at %d: no crash", f, k)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return m, b, j
}

func cloneJournal(t testing.TB, path, to string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// which reports "old", "new" or where the disk differs from both.
func (s *scenario) which(m *faultdev.Mem) string {
	if m.FirstDiff(s.new) < 0 {
		return "new"
	}
	if m.FirstDiff(s.old) < 0 {
		return "old"
	}
	if len(s.free) > 0 {
		o := m.Clone()
		for _, f := range s.free {
			b := make([]byte, f.hi-f.lo)
			if _, err := s.old.ReadAt(b, f.lo); err != nil {
				panic(err)
			}
			if _, err := o.WriteAt(b, f.lo); err != nil {
				panic(err)
			}
		}
		if o.FirstDiff(s.old) < 0 {
			return "old"
		}
	}
	return fmt.Sprintf("neither (differs from old at %d, from new at %d)", m.FirstDiff(s.old), m.FirstDiff(s.new))
}

func TestCrashMatrix(t *testing.T) {
	noFileSync(t)
	s := newScenario(t)
	dir := t.TempDir()
	// A clean run through faultdev counts the writes.
	_, spans := s.probe(t, dir)
	n := len(spans)
	t.Logf("a clean run makes %d device writes", n)
	if n < 25 {
		t.Fatalf("only %d writes; the scenario is not exercising the copies", n)
	}
	points, recoveries := 0, 0
	for _, f := range []fault{faultStop, faultTear, faultLose} {
		for k := 0; k <= n; k++ {
			if testing.Short() && k%3 != 0 && k != n {
				continue
			}
			m, path, hit := s.crashed(t, dir, f, k, spans)
			if !hit {
				if k < n {
					t.Fatalf("%v at %d: no crash happened", f, k)
				}
				if got := s.which(m); got != "new" {
					t.Fatalf("run without crash left %s", got)
				}
				continue
			}
			points++
			jj, err := Open(path)
			if err != nil {
				t.Fatalf("%v at %d: %v", f, k, err)
			}
			st, err := jj.State(m)
			if err != nil {
				t.Fatalf("%v at %d: state: %v", f, k, err)
			}
			irreversible := st.IrreversibleOp >= 0
			for _, mode := range []Mode{Auto, RollForward, RollBack} {
				mm := m.Clone()
				p := cloneJournal(t, path, filepath.Join(dir, fmt.Sprintf("r-%v-%d-%v", f, k, mode)))
				res, err := Recover(context.Background(), mm, p, mode, RunOptions{})
				recoveries++
				want := "new"
				switch {
				case mode == RollBack && irreversible:
					var ie *IrreversibleError
					if !errors.As(err, &ie) || !errors.Is(err, ErrIrreversible) {
						t.Fatalf("%v at %d: roll back after an irreversible step: %v, want IrreversibleError", f, k, err)
					}
					if got := s.which(mm); got == "new" || mm.FirstDiff(m) >= 0 {
						t.Fatalf("%v at %d: refused roll back changed the disk", f, k)
					}
					continue
				case mode == RollBack, mode == Auto && !irreversible:
					want = "old"
				}
				if err != nil {
					t.Fatalf("%v at %d, %v: %v", f, k, mode, err)
				}
				if got := s.which(mm); got != want {
					t.Fatalf("%v at %d, %v (%v): disk is %s, want %s", f, k, mode, res.Action, got, want)
				}
				// Idempotent: a second recovery writes nothing.
				again, err := Recover(context.Background(), mm, p, Auto, RunOptions{})
				if err != nil || (again.Action != AlreadyComplete && again.Action != AlreadyRolledBack) {
					t.Fatalf("%v at %d, %v: second recovery: %v, %v", f, k, mode, again.Action, err)
				}
				if got := s.which(mm); got != want {
					t.Fatalf("%v at %d, %v: second recovery changed the disk to %s", f, k, mode, got)
				}
			}
		}
	}
	t.Logf("crash points tried: %d (3 fault kinds x %d writes), recoveries checked: %d", points, n, recoveries)
}

// TestCrashDuringRecovery cuts the power again during recovery, then
// recovers once more.
func TestCrashDuringRecovery(t *testing.T) {
	noFileSync(t)
	s := newScenario(t)
	dir := t.TempDir()
	_, spans := s.probe(t, dir)
	n := len(spans)
	points := 0
	// First crashes at every 4th write (so both copies and the writes
	// around them are covered), then a second crash at every write of the
	// recovery, cycling through the fault kinds to keep the test fast.
	step := 4
	if testing.Short() {
		step = 9
	}
	for k := 0; k < n; k += step {
		for _, f := range []fault{faultStop, faultLose} {
			m, path, _ := s.crashed(t, dir, f, k, spans)
			for _, mode := range []Mode{Auto, RollForward} {
				// Count the recovery's writes, then crash at each of them.
				cnt := faultdev.New(m.Clone())
				p0 := cloneJournal(t, path, filepath.Join(dir, "count"))
				if _, err := Recover(context.Background(), cnt, p0, mode, RunOptions{}); err != nil {
					t.Fatal(err)
				}
				os.Remove(p0)
				rspans := cnt.Log()
				for r := 0; r < len(rspans); r++ {
					for _, g := range []fault{fault((r + k) % 3)} {
						mm := m.Clone()
						p := cloneJournal(t, path, filepath.Join(dir, "rec"))
						d := faultdev.New(mm)
						arm(d, g, r, rspans)
						res1, err := Recover(context.Background(), d, p, mode, RunOptions{})
						if !errors.Is(err, faultdev.ErrPowerLost) {
							t.Fatalf("k=%d %v r=%d %v: first recovery %v, %v; want power lost", k, f, r, g, res1.Action, err)
						}
						d.Crash()
						points++
						res, err := Recover(context.Background(), mm, p, Auto, RunOptions{})
						if err != nil {
							t.Fatalf("k=%d %v r=%d %v: second recovery: %v", k, f, r, g, err)
						}
						want := "new"
						if res.Action == RolledBack {
							want = "old"
							if res1.Before.IrreversibleOp >= 0 {
								t.Fatalf("k=%d %v r=%d %v: rolled back after an irreversible step", k, f, r, g)
							}
						}
						if got := s.which(mm); got != want {
							t.Fatalf("k=%d %v, recovery %v crashed at %d (%v), then %v: disk is %s, want %s", k, f, mode, r, g, res.Action, got, want)
						}
						os.Remove(p)
					}
				}
			}
		}
	}
	t.Logf("crash points during recovery tried: %d", points)
}
