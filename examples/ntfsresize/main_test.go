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
// accepts the result, a shrink below the space in use is refused with exit 3,
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
	// mkntfs's own files take about 3 MiB; every one of them but $Boot
	// moves, so only a shrink below the space in use is refused.
	if code, out := run1("--size", strconv.Itoa(2<<20), img); code != 3 {
		t.Errorf("shrink below the space in use: exit %d, want 3\n%s", code, out)
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

// TestRelocateAndGrow fills the data zone of a 64 MiB volume up to 48 MiB
// with a zero file, copies a file after it, and checks that a shrink to
// 48 MiB is refused with --no-relocate (exit 3) and made by moving the
// file otherwise (ntfsresize accepts the result, ntfscat reads the file);
// then that an image file enlarged with truncate grows to its new size.
func TestRelocateAndGrow(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfsresize", "ntfscp", "ntfscat")
	dir := t.TempDir()
	img := filepath.Join(dir, "vol.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", "2048", img)
	put := func(name string, b []byte) {
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "ntfscp", img, src, name)
	}
	// libntfs-3g allocates upward from the end of the MFT zone (8 MiB);
	// $MFTMirr and $LogFile sit at 32 MiB.
	put("/filler", make([]byte, 38<<20))
	data := bytes.Repeat([]byte("tail data "), 200_000)
	put("/tail.bin", data)
	run1 := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String() + errb.String()
	}
	const small = 48 << 20
	if code, out := run1("--no-relocate", "--size", strconv.Itoa(small), img); code != 3 {
		t.Fatalf("--no-relocate: exit %d, want 3\n%s", code, out)
	}
	// --keep-clean: a dirty volume (as ntfsresize leaves it) would refuse
	// the grow below until chkdsk ran.
	code, out := run1("--keep-clean", "--size", strconv.Itoa(small), img)
	if code != 0 || !strings.Contains(out, "relocating") {
		t.Fatalf("relocating shrink: exit %d\n%s", code, out)
	}
	if err := os.Truncate(img, small); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", img)
		if err != nil || strings.Contains(out, "ERROR") || !strings.Contains(out, want) {
			t.Errorf("ntfsresize --info (want %q): %v\n%s", want, err, out)
		}
		got, err := testutil.RunErrBytes("ntfscat", "--force", img, "/tail.bin")
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("ntfscat /tail.bin: %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
		}
	}
	check("Current volume size: 50328064 bytes")
	// Grow the enlarged image: the file is 64 MiB, the volume 48 MiB.
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if code, out := run1("--size", strconv.Itoa(64<<20), img); code != 0 {
		t.Fatalf("grow of the enlarged image: exit %d\n%s", code, out)
	}
	check("Current volume size: 67105280 bytes") // ntfsresize counts whole clusters plus one sector
}
