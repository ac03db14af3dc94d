package journal

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/faultdev"
)

// smallOps is a short op list on a 64 MiB disk with data at 8 MiB.
func smallDisk() (*faultdev.Mem, []Op) {
	m := faultdev.NewMem(64*mib, 512)
	rng := rand.New(rand.NewPCG(3, 4))
	fill(m, rng, 8*mib, 6*mib)
	fill(m, rng, 512, 512)
	ops := []Op{
		Write{Offset: 512, New: []byte("new header"), What: "header"},
		Barrier{What: "flush"},
		Copy{Src: 8 * mib, Dst: 5 * mib, Length: 6 * mib, Extents: []Extent{{4096, mib}, {0, 8192}, {3 * mib, 2 * mib}}, What: "move"},
		Write{Offset: 1024, New: []byte("table"), What: "table"},
	}
	return m, ops
}

func TestRoundTripFile(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	meta := []byte{0, 1, 2, 0xff}
	j, err := Create(path, m, ops, CreateOptions{Summary: "move WinRE", Meta: meta, ChunkBytes: 2 * mib})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// Extents come back sorted and merged.
	want := append([]Op(nil), ops...)
	want[2] = Copy{Src: 8 * mib, Dst: 5 * mib, Length: 6 * mib, Extents: []Extent{{0, mib + 4096}, {3 * mib, 2 * mib}}, What: "move"}
	if d := cmp.Diff(want, got.Ops()); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	if d := cmp.Diff(j.Ops(), got.Ops()); d != "" {
		t.Errorf("created vs opened ops (-want +got):\n%s", d)
	}
	if got.Summary() != "move WinRE" || string(got.Meta()) != string(meta) || got.DeviceSize() != 64*mib || got.SectorSize() != 512 {
		t.Errorf("header: %q %v %d %d", got.Summary(), got.Meta(), got.DeviceSize(), got.SectorSize())
	}
	st, err := got.State(m)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != 0 || st.Started != 0 || st.Complete || st.IrreversibleOp != -1 {
		t.Errorf("fresh state: %+v", st)
	}
	// Create refuses to overwrite an existing journal.
	if _, err := Create(path, m, ops, CreateOptions{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Create: %v, want ErrExist", err)
	}
}

func TestRunAndRecoverComplete(t *testing.T) {
	m, ops := smallDisk()
	old := m.Clone()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{ChunkBytes: mib})
	if err != nil {
		t.Fatal(err)
	}
	var last Progress
	calls := 0
	if err := j.Run(context.Background(), m, RunOptions{Progress: func(p Progress) { last = p; calls++ }}); err != nil {
		t.Fatal(err)
	}
	wantTotal := int64(len("new header")+len("table")) + mib + 4096 + 2*mib
	if last.BytesDone != wantTotal || last.BytesTotal != wantTotal || last.Ops != 4 || last.Op != 3 {
		t.Errorf("last progress %+v, want %d bytes", last, wantTotal)
	}
	if calls < 4 {
		t.Errorf("%d progress calls", calls)
	}
	// The copied extents moved; the rest of the destination did not.
	a, b := make([]byte, 2*mib), make([]byte, 2*mib)
	old.ReadAt(a, 8*mib+3*mib)
	m.ReadAt(b, 5*mib+3*mib)
	if string(a) != string(b) {
		t.Error("extent not copied")
	}
	old.ReadAt(a[:mib], 5*mib+2*mib)
	m.ReadAt(b[:mib], 5*mib+2*mib)
	if string(a[:mib]) != string(b[:mib]) {
		t.Error("bytes outside the extents changed")
	}
	res, err := Recover(context.Background(), m, path, RollBack, RunOptions{})
	if err != nil || res.Action != AlreadyComplete {
		t.Errorf("Recover on a complete journal: %v, %v", res.Action, err)
	}
	if err := j.Run(context.Background(), m, RunOptions{}); err != nil {
		t.Errorf("Run on a complete journal: %v", err)
	}
}

func TestCancelMidCopyThenResume(t *testing.T) {
	for _, how := range []string{"run", "recover"} {
		t.Run(how, func(t *testing.T) {
			m := faultdev.NewMem(256*mib, 512)
			rng := rand.New(rand.NewPCG(5, 6))
			fill(m, rng, 100*mib, 64*mib)
			want := m.Clone()
			ops := []Op{Copy{Src: 100 * mib, Dst: 120 * mib, Length: 64 * mib, What: "move right"}}
			ref, err := Create(filepath.Join(t.TempDir(), "ref"), want, ops, CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := ref.Run(context.Background(), want, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "j")
			j, err := Create(path, m, ops, CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			err = j.Run(ctx, m, RunOptions{SyncEveryBytes: 8 * mib, Progress: func(p Progress) {
				if p.BytesDone >= 24*mib {
					cancel()
				}
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v, want context.Canceled", err)
			}
			j2, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := j2.State(m)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.String(), "0 of 1 ops done, op 0 at chunk 6, 1 started, irreversible since op 0"; got != want {
				t.Errorf("state %q, want %q", got, want)
			}
			if st.Done != 0 || st.NextChunk != 6 || st.IrreversibleOp != 0 {
				t.Errorf("state after cancel: %+v, want op 0 at chunk 6 (24 MiB in 4 MiB chunks)", st)
			}
			var done0 int64 = -1
			opts := RunOptions{Progress: func(p Progress) {
				if done0 < 0 {
					done0 = p.BytesDone
				}
			}}
			if how == "run" {
				err = j2.Run(context.Background(), m, opts)
			} else {
				var res Result
				res, err = Recover(context.Background(), m, path, Auto, opts)
				if res.Action != RolledForward {
					t.Errorf("action %v, want rolled forward", res.Action)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if done0 != 28*mib {
				t.Errorf("resumed run's first progress at %d bytes, want %d (it must not start over)", done0, 28*mib)
			}
			if d := m.FirstDiff(want); d >= 0 {
				t.Fatalf("resumed copy differs at %d", d)
			}
		})
	}
}

func TestRefuseSameFile(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8*mib); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(img, link); err != nil {
		t.Fatal(err)
	}
	dev := &pathDev{Mem: faultdev.NewMem(8*mib, 512), path: img}
	ops := []Op{Write{Offset: 0, New: []byte{1}, What: "x"}}
	for _, p := range []string{img, link} {
		if _, err := Create(p, dev, ops, CreateOptions{}); !errors.Is(err, ErrSameDevice) {
			t.Errorf("Create(%s): %v, want ErrSameDevice", p, err)
		}
	}
	if _, err := Create(filepath.Join(dir, "disk.img.journal"), dev, ops, CreateOptions{}); err != nil {
		t.Errorf("journal beside the image: %v", err)
	}
}

type pathDev struct {
	*faultdev.Mem
	path string
}

func (p *pathDev) Path() string { return p.path }

func TestRefuseOtherDevice(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	if _, err := Create(path, m, ops, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := m.Clone()
	other.WriteAt([]byte("something else"), 512) // the header region
	bigger := faultdev.NewMem(128*mib, 512)
	sect := faultdev.NewMem(64*mib, 4096)
	for name, d := range map[string]*faultdev.Mem{"content": other, "size": bigger, "sector": sect} {
		before := d.Clone()
		for _, mode := range []Mode{Auto, RollForward, RollBack} {
			_, err := Recover(context.Background(), d, path, mode, RunOptions{})
			var me *MismatchError
			if !errors.As(err, &me) || !errors.Is(err, ErrJournalMismatch) {
				t.Errorf("%s, %v: %v, want MismatchError", name, mode, err)
			}
		}
		j, _ := Open(path)
		if err := j.Run(context.Background(), d, RunOptions{}); !errors.Is(err, ErrJournalMismatch) {
			t.Errorf("%s: Run: %v, want ErrJournalMismatch", name, err)
		}
		if d.FirstDiff(before) >= 0 {
			t.Errorf("%s: refused journal wrote to the device", name)
		}
	}
}

func TestTornRecordIgnored(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), m, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for cut := 1; cut < slotSize; cut += 7 {
		// The completion record torn. While its first copy is whole the
		// record is read from it (it was written after the device sync,
		// so it is true); once both copies are damaged the journal reads
		// as not complete.
		os.WriteFile(path, b[:len(b)-cut], 0o600)
		jj, err := Open(path)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		st, err := jj.State(m)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if want := cut <= recordSize; st.Complete != want {
			t.Errorf("cut %d: complete %v, want %v", cut, st.Complete, want)
		}
	}
	// A flipped bit in one copy of the last record: read from the other.
	c := append([]byte(nil), b...)
	c[len(c)-3] ^= 0x10
	os.WriteFile(path, c, 0o600)
	res, err := Recover(context.Background(), m, path, Auto, RunOptions{})
	if err != nil || res.Action != AlreadyComplete {
		t.Fatalf("recover after a flip in one copy of the last record: %v, %v", res.Action, err)
	}
	// Both copies flipped: the record reads as torn, and recovery finishes.
	c[len(c)-3-recordSize] ^= 0x10
	os.WriteFile(path, c, 0o600)
	res, err = Recover(context.Background(), m, path, Auto, RunOptions{})
	if err != nil || res.Action != RolledForward {
		t.Fatalf("recover after a torn record: %v, %v", res.Action, err)
	}
	jj, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := jj.State(m); !st.Complete {
		t.Error("not complete after recovery")
	}
}

func TestNonOverlappingCopyRollBack(t *testing.T) {
	m := faultdev.NewMem(64*mib, 512)
	rng := rand.New(rand.NewPCG(7, 8))
	fill(m, rng, 8*mib, 4*mib)
	fill(m, rng, 0, 512)
	old := m.Clone()
	ops := []Op{
		Write{Offset: 0, New: make([]byte, 512), What: "boot"},
		Copy{Src: 8 * mib, Dst: 32 * mib, Length: 4 * mib, What: "far move"},
		Write{Offset: 4096, New: []byte("late"), What: "late"},
	}
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := faultdev.New(m)
	d.StopAfter(2) // the boot write and one chunk
	if err := j.Run(context.Background(), d, RunOptions{}); !errors.Is(err, faultdev.ErrPowerLost) {
		t.Fatal(err)
	}
	d.Crash()
	res, err := Recover(context.Background(), m, path, RollBack, RunOptions{})
	if err != nil || res.Action != RolledBack {
		t.Fatalf("%v %v", res.Action, err)
	}
	// Everything but the copy's destination (unused space) is old again.
	if d := m.FirstDiff(old); d >= 0 && (d < 32*mib || d >= 36*mib) {
		t.Fatalf("rolled back disk differs at %d", d)
	}
	if res, err := Recover(context.Background(), m, path, RollForward, RunOptions{}); err != nil || res.Action != AlreadyRolledBack {
		t.Errorf("after roll back: %v %v", res.Action, err)
	}
}

func TestInvalidOps(t *testing.T) {
	m := faultdev.NewMem(8*mib, 512)
	for name, op := range map[string]Op{
		"empty write":      Write{Offset: 0},
		"write past end":   Write{Offset: 8*mib - 1, New: []byte{1, 2}},
		"negative offset":  Write{Offset: -1, New: []byte{1}},
		"copy same place":  Copy{Src: 0, Dst: 0, Length: 512},
		"copy misaligned":  Copy{Src: 1, Dst: 1024, Length: 512},
		"copy past end":    Copy{Src: 0, Dst: 8*mib - 512, Length: 1024},
		"extent past copy": Copy{Src: 0, Dst: 4096, Length: 1024, Extents: []Extent{{512, 1024}}},
		"empty extent":     Copy{Src: 0, Dst: 4096, Length: 1024, Extents: []Extent{{0, 0}}},
	} {
		_, err := Create(filepath.Join(t.TempDir(), "j"), m, []Op{Barrier{}, op}, CreateOptions{})
		var oe *OpError
		if !errors.Is(err, ErrInvalidOp) || !errors.As(err, &oe) || oe.Op != 1 {
			t.Errorf("%s: %v, want OpError for op 1 wrapping ErrInvalidOp", name, err)
		}
	}
}

// TestChunkGeometry checks the property the crash safety of copies rests
// on, for many shapes: no chunk writes its own source or the source of a
// later chunk, and chunks that may run between two recorded checkpoints
// (one window, or two when pipelined) never write each other's source.
func TestChunkGeometry(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for n := 0; n < 2000; n++ {
		ss := int64(512)
		src := rng.Int64N(1000) * ss
		dst := rng.Int64N(1000) * ss
		if src == dst {
			continue
		}
		length := (1 + rng.Int64N(1500)) * ss
		j := &Journal{sector: 512, chunk: (1 + rng.Int64N(64)) * ss}
		o := &op{kind: kindCopy, src: src, dst: dst, length: length}
		c, nc := j.chunkSize(o), j.numChunks(o)
		// Chunks that may run between the last recorded checkpoint and a
		// crash: one window when checkpoints are sequential, two when they
		// are pipelined.
		r := &runner{opts: RunOptions{SyncEveryBytes: (1 + rng.Int64N(2000)) * ss}, concurrent: rng.IntN(2) == 0}
		per, pipelined := r.copyWindow(o, c)
		if pipelined {
			per *= 2
		}
		covered := int64(0)
		for k := int64(0); k < nc; k++ {
			lo, hi := j.chunkRange(o, k)
			covered += hi - lo
			if hi <= lo || lo < 0 || hi > length {
				t.Fatalf("%+v chunk %d: [%d,%d)", o, k, lo, hi)
			}
			for k2 := k; k2 < nc; k2++ {
				lo2, hi2 := j.chunkRange(o, k2)
				// chunk k2 writes [dst+lo2, dst+hi2); chunk k reads [src+lo, src+hi)
				hits := dst+lo2 < src+hi && src+lo < dst+hi2
				if hits && (k2 == k || k2-k < per) {
					t.Fatalf("src %d dst %d len %d chunk %d: chunk %d (within the window) writes chunk %d's source", src, dst, length, c, k2, k)
				}
				// no chunk writes the source of a later chunk
				if k2 > k {
					lo3, hi3 := lo2, hi2
					if src+lo3 < dst+hi && dst+lo < src+hi3 {
						t.Fatalf("chunk %d writes the source of later chunk %d", k, k2)
					}
				}
			}
		}
		if covered != length {
			t.Fatalf("chunks cover %d of %d bytes", covered, length)
		}
	}
}
