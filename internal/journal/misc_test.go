package journal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

func TestLogger(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := j.Run(context.Background(), m, RunOptions{Logger: lg}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="journal op" op=2 of=4 what=move`, `msg="journal checkpoint" op=3 chunk=0`, `msg="journal complete"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestCorruptJournalFile(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	if _, err := Create(path, m, ops, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for name, mess := range map[string]func([]byte) []byte{
		"short":        func(b []byte) []byte { return b[:20] },
		"magic":        func(b []byte) []byte { b[0] = 'X'; return b },
		"header crc":   func(b []byte) []byte { b[preambleSize+3] ^= 1; return b },
		"data crc":     func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)-100] },
		"huge header":  func(b []byte) []byte { b[offHeaderLen+3] = 0x7f; return b },
		"version":      func(b []byte) []byte { b[offVersion] = 9; return b },
		"empty":        func(b []byte) []byte { return nil },
		"garbage tail": func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xff}, 100)...) },
	} {
		b := mess(append([]byte(nil), good...))
		os.WriteFile(path, b, 0o600)
		before := m.Clone()
		_, err := Recover(context.Background(), m, path, Auto, RunOptions{})
		switch name {
		case "garbage tail": // a torn tail is not corruption
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		case "version":
			if !errors.Is(err, ErrVersion) {
				t.Errorf("%s: %v, want ErrVersion", name, err)
			}
		default:
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Errorf("%s: %v, want CorruptError", name, err)
			}
		}
		if m.FirstDiff(before) >= 0 {
			t.Errorf("%s: a corrupt journal wrote to the device", name)
		}
	}
}

func TestStrings(t *testing.T) {
	got := []string{Auto.String(), RollForward.String(), RollBack.String(), Mode(9).String(),
		RolledForward.String(), RolledBack.String(), AlreadyComplete.String(), AlreadyRolledBack.String(),
		ContentOld.String(), ContentMixed.String(), Content(0).String()}
	want := "auto roll-forward roll-back Mode(9) rolled forward rolled back already complete already rolled back old mixed Content(0)"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q", strings.Join(got, " "))
	}
}

func TestBusy(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := j.openRW()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), m, RunOptions{}); !errors.Is(err, ErrBusy) {
		t.Errorf("Run while the journal is locked: %v, want ErrBusy", err)
	}
	closeRW(f)
	if err := j.Run(context.Background(), m, RunOptions{}); err != nil {
		t.Errorf("Run after unlock: %v", err)
	}
}

// TestMixedByDeviceSector: a region that starts mid-sector is judged by
// whole device sectors.
func TestMixedByDeviceSector(t *testing.T) {
	j := &Journal{sector: 512}
	o := &op{off: 300, length: 1024, oldB: bytes.Repeat([]byte{1}, 1024), newB: bytes.Repeat([]byte{2}, 1024)}
	b := append(bytes.Repeat([]byte{2}, 212), bytes.Repeat([]byte{1}, 812)...) // first device sector new
	if c := j.content(o, b); c != ContentMixed {
		t.Errorf("got %v, want mixed", c)
	}
	b[300] = 2 // inside the second device sector, which is otherwise old
	if c := j.content(o, b); c != ContentOther {
		t.Errorf("got %v, want other", c)
	}
}

// TestCompleteThenChanged: a disk that changed after the journal finished
// is reported as already complete, with the changed region visible.
func TestCompleteThenChanged(t *testing.T) {
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), m, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	m.WriteAt([]byte("Windows booted"), 512)
	before := m.Clone()
	res, err := Recover(context.Background(), m, path, Auto, RunOptions{})
	if err != nil || res.Action != AlreadyComplete {
		t.Fatalf("%v, %v", res.Action, err)
	}
	if got := res.Before.Regions[0].Content; got != ContentOther {
		t.Errorf("changed region reported as %v", got)
	}
	if m.FirstDiff(before) >= 0 {
		t.Error("recovery wrote to a completed disk")
	}
}

// TestNoOpWrite journals a write whose new bytes equal the old ones (a
// table piece that did not change): State must not mistake the untouched
// region for a finished write, before or after the run.
func TestNoOpWrite(t *testing.T) {
	dev := faultdev.NewMem(1<<20, 512)
	if _, err := dev.WriteAt([]byte("same bytes"), 4096); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, dev, []Op{Write{Offset: 4096, New: []byte("same bytes"), What: "no-op"}, Write{Offset: 8192, New: []byte("new"), What: "real"}}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.State(dev); err != nil {
		t.Fatalf("State before running: %v", err)
	}
	if err := j.Run(context.Background(), dev, RunOptions{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res, err := Recover(context.Background(), dev, path, Auto, RunOptions{}); err != nil || res.Action != AlreadyComplete {
		t.Fatalf("Recover: %v %v", res.Action, err)
	}
}

// TestLockReleasedDespiteForks: another goroutine starting processes (as
// tests that run sgdisk do) forks children that share the journal's open
// file description until they exec. The lock must still be free the
// moment a run returns, or a Recover right after a failed Apply reports
// ErrBusy at random.
func TestLockReleasedDespiteForks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("flock locking is Linux-only")
	}
	true_, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to fork")
	}
	m, ops := smallDisk()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Create(path, m, ops, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				exec.Command(true_).Run()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	busy := 0
	for range 3000 {
		f, err := j.openRW()
		if err != nil {
			busy++
			continue
		}
		closeRW(f)
	}
	if busy > 0 {
		t.Errorf("%d of 3000 opens found the journal still locked after the previous close", busy)
	}
}
