package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

// damageOutcome runs Recover in auto mode on a copy of the crashed disk m
// with the journal bytes b and checks the one rule a damaged journal must
// keep: Recover either fails having written nothing, or ends in exactly
// the old or the new state. It returns "refused", "old" or "new".
func (s *scenario) damageOutcome(t *testing.T, m *faultdev.Mem, b []byte, dir, what string) string {
	t.Helper()
	path := filepath.Join(dir, "damaged.journal")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mm := m.Clone()
	_, err := Recover(context.Background(), mm, path, Auto, RunOptions{})
	if err != nil {
		if d := mm.FirstDiff(m); d >= 0 {
			t.Fatalf("%s: Recover failed (%v) after writing to the disk (first change at byte %d)", what, err, d)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrJournalMismatch) && !errors.Is(err, ErrUnproven) && !errors.Is(err, ErrVersion) {
			t.Fatalf("%s: Recover refused with an untyped error: %v", what, err)
		}
		return "refused"
	}
	got := s.which(mm)
	if got != "old" && got != "new" {
		t.Fatalf("%s: Recover succeeded but left the disk %s", what, got)
	}
	return got
}

// parseKey says what Open makes of journal bytes b: the error, or how far
// the log goes and what it says. Two damaged journals with the same key
// lead Recover to the same place on the same disk.
func parseKey(b []byte) (string, error) {
	j, err := parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d/%+v", j.recEnd, j.seq, j.log), nil
}

// TestJournalDamage damages the journal of crashed runs of the scenario
// in every way a single fault can: it is cut at every byte and every one
// of its bits is flipped in turn. Cutting it short gives logs that are
// behind the disk (the device kept writes whose records were lost), the
// case where trusting the last checkpoint destroyed data. Recover must
// then refuse with nothing written or reach exactly the old or the new
// state. Damages that parse to the same log recover the same way, so the
// disk is recovered once per distinct parse; every damage is parsed.
func TestJournalDamage(t *testing.T) {
	noFileSync(t)
	s := newScenario(t)
	dir := t.TempDir()
	_, spans := s.probe(t, dir)
	n := len(spans)
	// Crash points: late ones leave the longest logs to cut; some in each
	// copy and between them.
	points := []int{n / 8, n / 3, n / 2, 2 * n / 3, n - 2}
	if testing.Short() {
		points = []int{n / 2, n - 2}
	}
	tally := map[string]int{}
	damages, recoveries := 0, 0
	for _, k := range points {
		for _, f := range []fault{faultStop, faultLose} {
			m, b, cj := s.crashedJournal(t, dir, f, k, spans)
			seen := map[string]string{} // parse key -> outcome
			try := func(d []byte, what string) {
				damages++
				key, err := parseKey(d)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
						t.Fatalf("%s: Open: untyped error %v", what, err)
					}
					tally["refused at open"]++
					return
				}
				if out, ok := seen[key]; ok {
					tally[out]++
					return
				}
				out := s.damageOutcome(t, m, d, dir, fmt.Sprintf("%v at write %d, %s", f, k, what))
				recoveries++
				seen[key] = out
				tally[out]++
			}
			for cut := 0; cut < len(b); cut++ {
				try(b[:cut], fmt.Sprintf("journal cut to %d of %d bytes", cut, len(b)))
			}
			d := append([]byte(nil), b...)
			for bit := 0; bit < 8*len(b); bit++ {
				// Every bit of the preamble, header and log; of the data
				// section (old and new bytes, chunk sums) every 61st: its
				// CRC-32C detects every single-bit error by construction,
				// and parsing all of them takes minutes.
				if bit%61 != 0 && int64(bit/8) >= preambleSize+1024 && int64(bit/8) < cj.recBase {
					continue
				}
				d[bit/8] ^= 1 << (bit % 8)
				try(d, fmt.Sprintf("bit %d flipped", bit))
				d[bit/8] ^= 1 << (bit % 8)
			}
		}
	}
	t.Logf("%d damaged journals (every cut, every bit flip outside the data section and every 61st in it, of %d crashed runs' journals), %d distinct logs recovered on the disk: %v",
		damages, 2*len(points), recoveries, tally)
	if tally["new"] == 0 || tally["refused at open"] == 0 {
		t.Errorf("the damages did not exercise both recovery and refusal: %v", tally)
	}
}

// TestDamagedSlotBeforeValidRecords damages both copies of one record in
// the middle of a log: that is corruption, not a torn tail, and Open
// refuses it instead of dropping every record after it.
func TestDamagedSlotBeforeValidRecords(t *testing.T) {
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
	slots := (int64(len(b)) - j.recBase) / slotSize
	if slots < 3 {
		t.Fatalf("only %d records", slots)
	}
	for s := int64(0); s < slots-1; s++ {
		d := append([]byte(nil), b...)
		off := j.recBase + s*slotSize
		d[off+recOffSeq] ^= 1
		d[off+recordSize+recOffCRC] ^= 0x80
		var ce *CorruptError
		if _, err := parse(bytes.NewReader(d), int64(len(d))); !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("record %d of %d damaged in both copies: %v, want a CorruptError", s, slots, err)
		}
		// One copy damaged: read from the other, the same log.
		d = append([]byte(nil), b...)
		d[off+recOffSeq] ^= 1
		jj, err := parse(bytes.NewReader(d), int64(len(d)))
		if err != nil || jj.seq != j.seq || jj.log != j.log {
			t.Errorf("record %d: one copy damaged: %v", s, err)
		}
	}
	// The last record damaged in both copies is a torn tail: dropped.
	d := append([]byte(nil), b...)
	off := j.recBase + (slots-1)*slotSize
	d[off+recOffSeq] ^= 1
	d[off+recordSize+recOffSeq] ^= 1
	if jj, err := parse(bytes.NewReader(d), int64(len(d))); err != nil || jj.seq != j.seq-1 {
		t.Errorf("last record damaged in both copies: %v", err)
	}
}
