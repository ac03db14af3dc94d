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

// memToFile writes m into a new sparse image file.
func memToFile(t *testing.T, m *faultdev.Mem, path string) *fileDev {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(m.Size()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, mib)
	for off := int64(0); off < m.Size(); off += mib {
		m.ReadAt(buf, off)
		if bytes.Count(buf, []byte{0}) == len(buf) {
			continue
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	return &fileDev{File: f, size: m.Size()}
}

func sameAsMem(d *fileDev, m *faultdev.Mem) bool {
	a, b := make([]byte, mib), make([]byte, mib)
	for off := int64(0); off < m.Size(); off += mib {
		d.ReadAt(a, off)
		m.ReadAt(b, off)
		if !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

// TestImageFileCrash runs the engine on a real image file (with fsync)
// through a fault wrapper that loses unsynced writes, crashes it at
// several writes and recovers, checking the file byte for byte.
func TestImageFileCrash(t *testing.T) {
	old, ops := smallDisk()
	want := old.Clone()
	ref, err := Create(filepath.Join(t.TempDir(), "ref"), want, ops, CreateOptions{ChunkBytes: mib})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Run(context.Background(), want, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for k := 0; ; k++ {
		img := filepath.Join(dir, fmt.Sprintf("disk%d.img", k))
		fd := memToFile(t, old, img)
		d := faultdev.New(fd)
		path := img + ".journal"
		j, err := Create(path, d, ops, CreateOptions{ChunkBytes: mib})
		if err != nil {
			t.Fatal(err)
		}
		d.LoseUnflushed()
		d.StopAfter(k)
		err = j.Run(context.Background(), d, RunOptions{SyncEveryBytes: 2 * mib})
		if err == nil {
			if k < 5 {
				t.Fatalf("only %d writes", k)
			}
			t.Logf("crashed at each of %d writes", k)
			break
		}
		if !errors.Is(err, faultdev.ErrPowerLost) {
			t.Fatalf("k=%d: run: %v", k, err)
		}
		d.Crash()
		res, err := Recover(context.Background(), fd, path, RollForward, RunOptions{})
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if !sameAsMem(fd, want) {
			t.Fatalf("k=%d: %v left the image different from the new state", k, res.Action)
		}
	}
}
