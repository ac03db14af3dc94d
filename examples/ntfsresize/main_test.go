package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// TestExitCodes runs the example on a volume made by mkntfs: a dry run
// writes nothing, a shrink within the free tail succeeds and ntfsresize
// accepts the result, a shrink into used clusters is refused with exit 3,
// and bad arguments exit 2.
func TestExitCodes(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfsresize")
	img := filepath.Join(t.TempDir(), "vol.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", "2048", img)
	run1 := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String() + errb.String()
	}
	orig, _ := os.ReadFile(img)
	if code, out := run1("--dry-run", "--size", strconv.Itoa(60<<20), img); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if now, _ := os.ReadFile(img); !bytes.Equal(now, orig) {
		t.Fatal("the dry run wrote to the volume")
	}
	if code, out := run1("--size", strconv.Itoa(8<<20), img); code != 3 {
		t.Errorf("shrink into used clusters: exit %d, want 3\n%s", code, out)
	}
	if now, _ := os.ReadFile(img); !bytes.Equal(now, orig) {
		t.Fatal("a refused shrink wrote to the volume")
	}
	if code, out := run1("--size", strconv.Itoa(60<<20), img); code != 0 {
		t.Fatalf("shrink: exit %d\n%s", code, out)
	}
	out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", img)
	if err != nil || strings.Contains(out, "ERROR") {
		t.Errorf("ntfsresize rejects the shrunk volume: %v\n%s", err, out)
	}
	// ntfsresize counts the volume in whole clusters: 15359 of 4 KiB in a
	// 60 MiB partition less its backup boot sector.
	if !strings.Contains(out, "Current volume size: 62910976 bytes") {
		t.Errorf("volume size after shrinking to 60 MiB:\n%s", out)
	}
	for _, args := range [][]string{{}, {"--size", "x", img}, {img}} {
		if code, _ := run1(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
