package winrepart_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// TestImageWriteLock: a writable open of an image excludes every other
// writable open (another apply or recover) until Close; read-only opens
// stay possible.
func TestImageWriteLock(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	a, err := winrepart.Open(img, winrepart.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := winrepart.Open(img, winrepart.OpenOptions{Writable: true}); !errors.Is(err, winrepart.ErrBusy) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second writable open: %v, want ErrBusy", err)
	}
	ro, err := winrepart.Open(img, winrepart.OpenOptions{})
	if err != nil {
		t.Fatalf("read-only open beside a writer: %v", err)
	}
	ro.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := winrepart.Open(img, winrepart.OpenOptions{Writable: true})
	if err != nil {
		t.Fatalf("writable open after the first was closed: %v", err)
	}
	b.Close()
}

// TestConcurrentApplies runs two complete applies (open, inspect, plan,
// apply with its own journal) on one image at the same time, as two
// processes with different journal paths would: exactly one may write,
// the other must be refused with ErrBusy before writing, and the image
// must end exactly as one clean apply leaves it.
func TestConcurrentApplies(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	want := testutil.Fixture(t, "gpt-win11-standard")
	func() {
		dev := open(t, want, true)
		p := planner.New(inspect(t, dev), planner.Options{})
		if _, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "ref")}); err != nil {
			t.Fatal(err)
		}
		dev.Close()
	}()
	for round := 0; round < 4; round++ {
		img := testutil.Fixture(t, "gpt-win11-standard")
		dir := t.TempDir()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dev, err := winrepart.Open(img, winrepart.OpenOptions{Writable: true})
				if err != nil {
					errs[i] = err
					return
				}
				defer dev.Close()
				l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				p := planner.New(l, planner.Options{})
				_, errs[i] = winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(dir, fmt.Sprint("j", i))})
			}()
		}
		close(start)
		wg.Wait()
		busy, ok := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, winrepart.ErrBusy):
				busy++
				if _, serr := os.Stat(filepath.Join(dir, fmt.Sprint("j", i))); serr == nil {
					t.Errorf("round %d: the refused apply left a journal", round)
				}
			default:
				t.Errorf("round %d: apply %d: %v", round, i, err)
			}
		}
		// When one open comes after the other apply finished, it plans a
		// no-op on the fixed disk: two successes.
		if busy+ok != 2 || ok < 1 {
			t.Errorf("round %d: %d applies succeeded, %d refused as busy: %v", round, ok, busy, errs)
		}
		if testutil.RangeDigest(t, img, 0, fileSize(t, img)) != testutil.RangeDigest(t, want, 0, fileSize(t, want)) {
			t.Errorf("round %d: the image differs from one clean apply's result", round)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
