package winrepart

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/testutil"
)

// Helpers that build small Windows disks for the crash tests
// (crash_test.go): small enough to crash an apply at every write.
const (
	miniMiB    = 1 << 20
	miniWIMLen = 30 * miniMiB // random bytes inside winre.wim
)

// detBytes returns n deterministic pseudo-random bytes.
func detBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ntfsVolume formats an NTFS volume image of size bytes for a partition at
// startLBA and applies the directory tree into it with wimlib.
func ntfsVolume(t *testing.T, size int64, startLBA int, label, tree string) string {
	t.Helper()
	vol := mkntfsVolume(t, size, startLBA, label)
	applyTree(t, tree, vol)
	return vol
}

// mkntfsVolume formats a sparse image of size bytes (512-byte sectors,
// 4 KiB clusters, startLBA as its hidden sectors) and returns its path.
func mkntfsVolume(t *testing.T, size int64, startLBA int, label string) string {
	t.Helper()
	vol := filepath.Join(t.TempDir(), "vol.img")
	if err := os.WriteFile(vol, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(vol, size); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", fmt.Sprint(startLBA), "-L", label, vol)
	return vol
}

// applyTree puts the directory tree onto the NTFS image vol through
// libntfs-3g (a WIM captured and applied by wimlib).
func applyTree(t *testing.T, tree, vol string) {
	t.Helper()
	wim := filepath.Join(t.TempDir(), "tree.wim")
	testutil.Run(t, "wimlib-imagex", "capture", tree, wim, "--compress=none")
	testutil.Run(t, "wimlib-imagex", "apply", wim, "1", vol)
	if err := os.Remove(wim); err != nil {
		t.Fatal(err)
	}
}

// memOf loads an image file into an in-memory sparse device.
func memOf(t *testing.T, img string) *faultdev.Mem {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	m := faultdev.NewMem(int64(len(data)), 512)
	zero := make([]byte, faultdev.PageSize)
	for off := 0; off < len(data); off += faultdev.PageSize {
		page := data[off:min(off+faultdev.PageSize, len(data))]
		if string(page) != string(zero[:len(page)]) {
			m.WriteAt(page, int64(off))
		}
	}
	return m
}
