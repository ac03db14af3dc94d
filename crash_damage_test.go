package winrepart

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// TestCrashApplyJournalDamage crashes the public Apply of the crash
// layouts (shrink-os: WinRE moved left over its old place, the copy that
// cannot be undone; relocate: WinRE copied into C:'s tail; shrink-os with
// data moved out of C:'s tail first) in the middle
// of the copy, right after it and at the last write, then damages the
// journal each crash left: cut at every byte of its progress log and of
// the bytes before it (every 509th in the header and data, which their
// CRC-32C covers; sparser in a journal whose data exceeds 1 MB, at most
// about 2,000 cuts), and every bit of the preamble and the log flipped
// (every 127th elsewhere, or at most about 20,000). Recovery in auto mode must refuse having
// written nothing, or end in exactly the old or the new state, never
// succeed on anything else; the reference tools (sgdisk, ntfsresize,
// ntfscat with every file's SHA-256) check one recovered disk per outcome.
// Damages that Open reads to the same log recover the same way, so the
// disk is recovered once per distinct log.
func TestCrashApplyJournalDamage(t *testing.T) {
	for _, c := range crashLayouts {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			journalDamage(t, c)
		})
	}
}

func journalDamage(t *testing.T, c crashLayout) {
	d := buildCrashDisk(t, c)
	old := memOf(t, d.img)
	ctx := context.Background()
	l, err := recovery.Inspect(ctx, crashDev{old}, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := planner.New(l, planner.Options{MinFreeBytes: c.minFree, Relocator: NewRelocator(crashDev{old}, l)})
	if p.Refused || p.Strategy != c.strategy {
		t.Fatalf("plan: want strategy %s, got:\n%s", c.strategy, p)
	}
	dir := t.TempDir()
	newMem := old.Clone()
	if _, err := Apply(ctx, crashDev{newMem}, p, ApplyOptions{JournalPath: filepath.Join(dir, "clean")}); err != nil {
		t.Fatal(err)
	}
	probe := faultdev.New(old.Clone())
	if _, err := Apply(ctx, crashDev{probe}, p, ApplyOptions{JournalPath: filepath.Join(dir, "probe")}); err != nil {
		t.Fatal(err)
	}
	ops, err := buildOps(old, l, p, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The partition's copy (the relocation's copies, when C:'s tail is in
	// use, come before it).
	var cp journal.Copy
	for _, o := range ops {
		if c, ok := o.(journal.Copy); ok {
			cp = c
		}
	}
	// A cut log can lose the record that the copy began. When the disk
	// shows every source chunk intact, recovery rolls back and leaves
	// what the copy wrote into space the old layout does not use: the
	// part of its destination outside its source (C:'s free tail for
	// shrink-os, the new WinRE's place for relocate).
	cs := &crashStates{old: old, new: newMem, freeOff: cp.Dst, freeLen: min(cp.Length, abs64(cp.Src-cp.Dst)), relocated: relocatedDsts(ops)}
	if cp.Dst > cp.Src {
		cs.freeOff = max(cp.Dst, cp.Src+cp.Length)
	}
	var copyW []int
	for i, s := range probe.Log() {
		if s.Offset >= cp.Dst && s.Offset < cp.Dst+cp.Length {
			copyW = append(copyW, i)
		}
	}
	writes := probe.Writes()
	// The copy's own writes are the first run of consecutive writes into
	// its destination (later ones are the moved volume's metadata).
	run := 1
	for run < len(copyW) && copyW[run] == copyW[run-1]+1 {
		run++
	}
	// Crash points through the copy (its late chunks overwrite the
	// sources of its early ones when it moves data over its own old
	// place: a log cut before the copy's start record must not then roll
	// back), right after it, and at the last write.
	var points []int
	for _, k := range []int{copyW[run/2], copyW[run-3], copyW[run-2], copyW[run-1], copyW[run-1] + 1, writes - 1} {
		if len(points) == 0 || k > points[len(points)-1] {
			points = append(points, k)
		}
	}
	tally := map[string]int{}
	checked := map[string]bool{}
	damages, recoveries := 0, 0
	for _, k := range points {
		m := old.Clone()
		fd := faultdev.New(m)
		fd.StopAfter(k)
		jpath := filepath.Join(dir, fmt.Sprint("crash-", k))
		if _, err := Apply(ctx, crashDev{fd}, p, ApplyOptions{JournalPath: jpath}); !errors.Is(err, faultdev.ErrPowerLost) {
			t.Fatalf("crash at write %d: Apply returned %v", k, err)
		}
		fd.Crash()
		b, err := os.ReadFile(jpath)
		if err != nil {
			t.Fatal(err)
		}
		// The progress log starts after the preamble, header and data.
		logAt := 32 + int(binary.LittleEndian.Uint32(b[12:])) + int(binary.LittleEndian.Uint64(b[16:]))
		seen := map[string]string{}
		dpath := filepath.Join(dir, "damaged")
		try := func(dmg []byte, what string) {
			damages++
			if err := os.WriteFile(dpath, dmg, 0o600); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("crash at write %d, %s", k, what)
			j, err := journal.Open(dpath)
			if err != nil {
				if !errors.Is(err, journal.ErrCorrupt) && !errors.Is(err, journal.ErrVersion) {
					t.Fatalf("%s: Open: untyped error %v", what, err)
				}
				tally["refused at open"]++
				return
			}
			st, err := j.State(crashDev{m})
			key := fmt.Sprint(st.Ops, st.Done, st.NextChunk, st.Started, st.Complete, st.RollingBack, st.RolledBack, st.IrreversibleOp, err)
			if out, ok := seen[key]; ok {
				tally[out]++
				return
			}
			mm := m.Clone()
			rres, err := Recover(ctx, crashDev{mm}, dpath, RecoverOptions{Mode: RecoverAuto, KeepJournal: true})
			recoveries++
			out := "refused"
			if err != nil {
				if diff := mm.FirstDiff(m); diff >= 0 {
					t.Fatalf("%s: Recover failed (%v) after writing (first change at byte %d)", what, err, diff)
				}
			} else {
				out = cs.outcome(mm)
				if !strings.HasPrefix(out, "old") && out != "new" {
					t.Fatalf("%s: Recover (%v, found %v) succeeded on a disk that is %s", what, rres.Action, rres.State, out)
				}
				if !checked[out] {
					checked[out] = true
					checkCrashState(t, what+", recovered to the "+out+" state", d, mm)
				}
			}
			seen[key] = out
			tally[out]++
		}
		// Strides that bound the work on a large journal (a relocation
		// journals many MFT records); small journals keep 509 and 127.
		cutStride, bitStride := max(509, logAt/2000), max(127, 8*logAt/20000)
		for cut := 0; cut < len(b); cut++ {
			if cut < logAt-2*64 && cut%cutStride != 0 {
				continue
			}
			try(b[:cut], fmt.Sprintf("journal cut to %d of %d bytes", cut, len(b)))
		}
		dmg := append([]byte(nil), b...)
		for bit := 0; bit < 8*len(b); bit++ {
			if bit >= 8*32 && bit < 8*logAt && bit%bitStride != 0 {
				continue
			}
			dmg[bit/8] ^= 1 << (bit % 8)
			try(dmg, fmt.Sprintf("bit %d of %d flipped", bit, 8*len(b)))
			dmg[bit/8] ^= 1 << (bit % 8)
		}
	}
	t.Logf("%s: %d damaged journals of crashes at writes %v (of %d), %d distinct logs recovered: %v; reference tools on %d recovered disks",
		c.name, damages, points, writes, recoveries, tally, len(checked))
	if tally["refused at open"] == 0 || tally["refused at open"] == damages {
		t.Errorf("the damages did not reach both refusal and recovery: %v", tally)
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
