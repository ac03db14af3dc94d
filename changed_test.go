package winrepart

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// onJournal is a slog handler that runs f when Apply logs that its journal
// is written: the moment between the journal's snapshot of the disk and
// the first write.
type onJournal struct {
	f    func()
	done bool
}

func (h *onJournal) Enabled(context.Context, slog.Level) bool { return true }
func (h *onJournal) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *onJournal) WithGroup(string) slog.Handler            { return h }
func (h *onJournal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "journal written" && !h.done {
		h.done = true
		h.f()
	}
	return nil
}

// TestApplyDiskChangedAfterJournal changes the disk after Apply wrote its
// journal and before the journal runs (another writer, say): the run must
// find the bytes it was about to replace changed, write nothing, remove the
// journal (there is nothing to recover), and report ErrChanged.
func TestApplyDiskChangedAfterJournal(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	dev, err := OpenImage(img, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ctx := context.Background()
	l, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := planner.New(l, planner.Options{})
	ops, err := buildOps(dev, l, p, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The other writer changes the last byte of the last metadata write's
	// region: the run would overwrite it with bytes computed from the old.
	var target int64 = -1
	for _, o := range ops {
		if w, ok := o.(journal.Write); ok {
			target = w.Offset + int64(len(w.New)) - 1
		}
	}
	if target < 0 {
		t.Fatal("no write in the plan")
	}
	var old [1]byte
	if _, err := dev.ReadAt(old[:], target); err != nil {
		t.Fatal(err)
	}
	size := dev.Size()
	head, tail := testutil.RangeDigest(t, img, 0, target), testutil.RangeDigest(t, img, target+1, size-target-1)
	jpath := filepath.Join(t.TempDir(), "j")
	h := &onJournal{f: func() {
		f, err := os.OpenFile(img, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{old[0] ^ 0xff}, target); err != nil {
			t.Error(err)
		}
	}}
	_, err = Apply(ctx, dev, p, ApplyOptions{JournalPath: jpath, Logger: slog.New(h)})
	if !h.done {
		t.Fatal("Apply never logged that its journal was written")
	}
	if !errors.Is(err, ErrChanged) || !errors.Is(err, ErrJournalMismatch) {
		t.Fatalf("Apply = %v; want ErrChanged wrapping the journal mismatch", err)
	}
	if _, err := os.Stat(jpath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the unused journal was kept: %v", err)
	}
	var now [1]byte
	if _, err := dev.ReadAt(now[:], target); err != nil {
		t.Fatal(err)
	}
	if now[0] != old[0]^0xff || testutil.RangeDigest(t, img, 0, target) != head || testutil.RangeDigest(t, img, target+1, size-target-1) != tail {
		t.Error("Apply wrote to the disk")
	}
}
