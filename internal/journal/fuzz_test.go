package journal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/faultdev"
)

// seedJournals returns journal files in several states: fresh, run to
// the end, crashed in a copy, and rolled back.
func seedJournals(f *testing.F) [][]byte {
	dir := f.TempDir()
	var out [][]byte
	read := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	for i, stop := range []int{-1, 0, 3, 100} {
		m, ops := smallDisk()
		p := filepath.Join(dir, "j"+string(rune('a'+i)))
		j, err := Create(p, m, ops, CreateOptions{Summary: "seed", Meta: []byte("{}"), ChunkBytes: mib})
		if err != nil {
			f.Fatal(err)
		}
		if stop < 0 {
			read(p)
			continue
		}
		d := faultdev.New(m)
		d.StopAfter(stop)
		j.Run(context.Background(), d, RunOptions{})
		d.Crash()
		read(p)
		if stop == 0 {
			Recover(context.Background(), m, p, RollBack, RunOptions{})
			read(p)
		}
	}
	return out
}

func FuzzReadJournal(f *testing.F) {
	for _, b := range seedJournals(f) {
		f.Add(b)
		f.Add(b[:len(b)-5])
	}
	f.Add([]byte(journalMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// What parses must encode and parse to the same ops.
		enc, err := j.encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		j2, err := parse(bytes.NewReader(enc), int64(len(enc)))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if d := cmp.Diff(j.Ops(), j2.Ops()); d != "" {
			t.Fatalf("ops changed (-first +second):\n%s", d)
		}
		// State on a blank device of the recorded geometry must not panic.
		if j.devSize <= 1<<40 {
			j.State(faultdev.NewMem(j.devSize, j.sector))
		}
	})
}
