package winrepart

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// TestHalfChangedWithoutJournal crashes a real Apply at every device write
// of the crash layouts, then loses the journal, and inspects what is left:
// a disk that is neither in its old nor its new state must never look
// fine. Every such disk must carry a problem whose remedy is to recover
// with the journal, and the disks whose partitions or volumes have neither
// their old nor their new shape must carry it at error level. (Without the journal nothing can
// tell a dirty flag set by an interrupted apply from one Windows set, so
// the disks whose only change so far is that flag get a warning.)
func TestHalfChangedWithoutJournal(t *testing.T) {
	for _, c := range crashLayouts {
		t.Run(c.name, func(t *testing.T) {
			d := buildCrashDisk(t, c)
			old := memOf(t, d.img)
			ctx := context.Background()
			l, err := recovery.Inspect(ctx, crashDev{old}, recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range l.Problems {
				if p.Severity == diag.Error || interrupted(p) {
					t.Fatalf("the old disk already has %+v", p)
				}
			}
			p := planner.New(l, planner.Options{MinFreeBytes: c.minFree, Relocator: NewRelocator(crashDev{old}, l)})
			newMem := old.Clone()
			clean := faultdev.New(newMem)
			if _, err := Apply(ctx, crashDev{clean}, p, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); err != nil {
				t.Fatal(err)
			}
			lNew, err := recovery.Inspect(ctx, crashDev{newMem}, recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ops, err := buildOps(old, l, p, ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Writes that only filled free clusters with the relocated
			// copies leave the old volume as it was: nothing to report.
			cs := &crashStates{old: old, new: newMem, relocated: relocatedDsts(ops)}
			var half, asError, asWarning int
			for k := 0; k < clean.Writes(); k++ {
				m := old.Clone()
				fd := faultdev.New(m)
				fd.StopAfter(k)
				if _, err := Apply(ctx, crashDev{fd}, p, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); !errors.Is(err, faultdev.ErrPowerLost) {
					t.Fatalf("write %d: Apply returned %v, want a power loss", k, err)
				}
				fd.Crash()
				out := cs.outcome(m)
				if out == "old" || out == "new" || out == "old-but-free" {
					continue
				}
				half++
				got, err := recovery.Inspect(ctx, crashDev{m}, recovery.Options{})
				if err != nil {
					t.Fatalf("crash at write %d: Inspect: %v", k, err)
				}
				var codes []string
				level := ""
				for _, pr := range got.Problems {
					codes = append(codes, string(pr.Code))
					if !interrupted(pr) {
						continue
					}
					if pr.Severity == diag.Error {
						level = "error"
					} else if level == "" {
						level = "warning"
					}
				}
				switch level {
				case "":
					t.Errorf("crash at write %d: the half-changed disk shows no sign of it; problems %v", k, codes)
				case "error":
					asError++
				default:
					asWarning++
					if !strings.Contains(strings.Join(codes, " "), string(recovery.ProblemVolumeDirty)) {
						t.Errorf("crash at write %d: only a warning, and not the dirty flag: %v", k, codes)
					}
				}
				// A disk whose partitions or volumes have neither their old
				// nor their new shape gets an error.
				if level != "error" && changedShape(l, got) && changedShape(lNew, got) {
					t.Errorf("crash at write %d: volumes or table changed shape, yet only %v", k, codes)
				}
			}
			t.Logf("%d crash points left the disk half-changed: %d flagged at error level, %d by the dirty flag only", half, asError, asWarning)
			if half == 0 || asError == 0 {
				t.Fatal("no half-changed disk was produced")
			}
		})
	}
}

// interrupted reports whether p's remedy is to recover with the journal of
// an interrupted change.
func interrupted(p recovery.Problem) bool {
	return strings.Contains(p.Remedy, "recover with the journal")
}

// changedShape reports whether a partition's bounds, or the size of an
// NTFS volume, differ between the two inspections.
func changedShape(before, after *recovery.Layout) bool {
	if len(before.Partitions) != len(after.Partitions) {
		return true
	}
	for i, p := range before.Partitions {
		q := after.Partitions[i]
		if p.StartLBA != q.StartLBA || p.EndLBA != q.EndLBA {
			return true
		}
		if p.FS != nil && q.FS != nil && p.FS.Kind == recovery.FSNTFS && (q.FS.Kind != recovery.FSNTFS || p.FS.TotalBytes != q.FS.TotalBytes) {
			return true
		}
	}
	return false
}
