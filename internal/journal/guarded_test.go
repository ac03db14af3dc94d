package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

// tailScenario is a relocating shrink in miniature: data moves out of a
// partition's tail into free space (two copies, neither overlapping its
// own source), the file records switch to the copies, the shrunk volume's
// backup boot sector lands in the tail, then a partition copy moves left
// into that tail, over the first copies' sources.
func tailScenario(t testing.TB) *scenario {
	rng := rand.New(rand.NewPCG(5, 6))
	old := faultdev.NewMem(64*mib, 512)
	fill(old, rng, 512, 4096)      // file records
	fill(old, rng, 39*mib, 4*mib)  // the tail's data
	fill(old, rng, 44*mib, 8*mib)  // the partition that moves left
	fill(old, rng, 10*mib, 64<<10) // free space, junk the copies overwrite
	ops := []Op{
		Copy{Src: 39 * mib, Dst: 10 * mib, Length: 3 * mib, What: "move the tail's first file"},
		Copy{Src: 42 * mib, Dst: 20 * mib, Length: mib, Extents: []Extent{{0, 256 << 10}, {512 << 10, 512 << 10}}, What: "move the tail's second file"},
		Barrier{What: "the copies are on disk"},
		Write{Offset: 512, New: randBytes(rng, 4096), What: "file records point at the copies"},
		Write{Offset: 39*mib + 512, New: randBytes(rng, 512), What: "backup boot sector at the new end"},
		Write{Offset: 8192, New: randBytes(rng, 512), What: "boot sector's new size"},
		Barrier{What: "shrink done"},
		Copy{Src: 44 * mib, Dst: 40 * mib, Length: 8 * mib, What: "move the partition left into the tail"},
		Write{Offset: 63 * mib, New: randBytes(rng, 512), What: "table"},
	}
	s := &scenario{old: old, ops: ops, free: []span{{10 * mib, 13 * mib}, {20 * mib, 21 * mib}}, opts: RunOptions{SyncEveryBytes: mib}}
	s.new = old.Clone()
	j, err := Create(filepath.Join(t.TempDir(), "ref.journal"), s.new, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), s.new, s.opts); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGuardedCopies checks which copies keep chunk sums: one overlapping
// its own source, and one whose source a later copy overwrites; not one
// whose source nothing overwrites, nor Writes and Barriers.
func TestGuardedCopies(t *testing.T) {
	got := guardedCopies([]copyRange{
		{copy: true, src: 100, dst: 0, length: 50},   // overwritten by the last copy
		{copy: true, src: 300, dst: 200, length: 50}, // nothing overwrites 300-350
		{copy: false, src: 0, dst: 0, length: 0},
		{copy: true, src: 500, dst: 480, length: 50}, // overlaps itself
		{copy: true, src: 600, dst: 120, length: 10}, // into the first's source
	})
	want := []bool{true, false, false, true, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("guardedCopies = %v, want %v", got, want)
	}
}

// TestTailCopiesGuarded crashes the tail scenario at every write, cuts
// the journal at every record boundary (the log of a journal whose last
// appends never reached its disk), and recovers: every outcome must be the
// old or the new state, or a refusal with nothing written. Before the
// tail's copies were guarded, a log cut before the partition copy's start
// record rolled back to file records pointing into a tail that copy had
// overwritten; this test fails that way when only overlapping copies are
// guarded.
func TestTailCopiesGuarded(t *testing.T) {
	noFileSync(t)
	s := tailScenario(t)
	dir := t.TempDir()
	j, spans := s.probe(t, dir)
	for i, o := range j.ops {
		if o.kind == kindCopy && o.guarded != (i == 0 || i == 1 || i == 7) {
			t.Fatalf("op %d (%s): guarded = %v", i, o.what, o.guarded)
		}
	}
	tally := map[string]int{}
	for _, f := range []fault{faultStop, faultLose} {
		for k := 0; k < len(spans); k++ {
			m, b, cj := s.crashedJournal(t, dir, f, k, spans)
			st, err := cj.State(m)
			if err != nil {
				t.Fatal(err)
			}
			for end := cj.recBase; end <= int64(len(b)); end += slotSize {
				what := fmt.Sprintf("%v at write %d, log cut to %d bytes", f, k, end)
				out := s.damageOutcome(t, m, b[:end], dir, what)
				tally[out]++
				// The whole log: nothing irreversible began, so Auto rolls
				// back; the boot sector Write over a tail copy's source
				// does not count, a roll back restores it.
				if end+slotSize > int64(len(b)) && st.IrreversibleOp < 0 && !st.Complete && out != "old" {
					t.Errorf("%s: the whole log says nothing irreversible began, yet Recover reached %s", what, out)
				}
			}
		}
	}
	t.Logf("%d crash points, outcomes of every record-boundary cut: %v", 2*len(spans), tally)
	if tally["old"] == 0 || tally["new"] == 0 {
		t.Errorf("the cuts did not reach both states: %v", tally)
	}
}

// TestTailCopyRollBackRefused: once the partition copy has overwritten
// the tail, a log that does not show it began cannot roll back.
func TestTailCopyRollBackRefused(t *testing.T) {
	noFileSync(t)
	s := tailScenario(t)
	dir := t.TempDir()
	_, spans := s.probe(t, dir)
	// The first write into the tail at 40 MiB: the partition copy began.
	k := -1
	for i, sp := range spans {
		if sp.Offset >= 40*mib && sp.Offset < 43*mib {
			k = i
			break
		}
	}
	if k < 0 {
		t.Fatal("no write into the tail")
	}
	m, b, j := s.crashedJournal(t, dir, faultStop, k+1, spans)
	// Keep the log up to the Write's start: it says the partition copy
	// never began.
	var cut int64 = -1
	for end := j.recBase; end <= int64(len(b)); end += slotSize {
		jj, err := parse(bytes.NewReader(b[:end]), end)
		if err != nil {
			t.Fatal(err)
		}
		if jj.log.lastStarted >= 3 && jj.log.lastStarted < 7 {
			cut = end
		}
	}
	if cut < 0 {
		t.Fatal("no log that stops between the Write and the partition copy")
	}
	p := filepath.Join(dir, "cut.journal")
	if err := os.WriteFile(p, b[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	mm := m.Clone()
	_, err := Recover(context.Background(), mm, p, RollBack, RunOptions{})
	var ie *IrreversibleError
	if !errors.As(err, &ie) || ie.Op != 0 && ie.Op != 1 {
		t.Fatalf("roll back with the tail overwritten: %v, want an IrreversibleError on a tail copy", err)
	}
	if d := mm.FirstDiff(m); d >= 0 {
		t.Fatalf("refused roll back wrote at byte %d", d)
	}
	res, err := Recover(context.Background(), mm, p, Auto, RunOptions{})
	if err != nil || res.Action != RolledForward {
		t.Fatalf("auto: %v, %v", res.Action, err)
	}
	if got := s.which(mm); got != "new" {
		t.Fatalf("auto recovery left the disk %s", got)
	}
}
