package testutil

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/sparseimg"
)

// FixtureExt is the file name extension of packed fixtures in testdata/.
const FixtureExt = ".img.sgz"

// SamplesEnv is the environment variable that overrides the directory of
// real-world samples (by default ../shared/samples next to the module).
const SamplesEnv = "WINREPART_SAMPLES"

// ModuleRoot returns the directory holding this module's go.mod, found by
// walking up from the working directory (a test's package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Fixture unpacks testdata/<name>.img.sgz into a fresh temporary
// directory of the test and returns the path of the image: a writable
// sparse copy of its own for every call. The image files are described in
// testdata/README.md. A missing or corrupt fixture fails the test.
func Fixture(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join(ModuleRoot(t), "testdata", name+FixtureExt)
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("testutil: fixture %q: %v", name, err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), name+".img")
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparseimg.Unpack(out, bufio.NewReaderSize(in, 1<<16)); err != nil {
		out.Close()
		t.Fatalf("testutil: fixture %q: %v", name, err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// FixtureNames returns the names of all packed fixtures in testdata/, in
// lexical order, for tests that run over every fixture.
func FixtureNames(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(ModuleRoot(t), "testdata", "*"+FixtureExt))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), FixtureExt))
	}
	sort.Strings(names)
	return names
}

// SamplePath returns the path of a real-world sample file (see the
// samples README): $WINREPART_SAMPLES/<file>, or by default
// ../shared/samples/<file> relative to the module root. When the file is
// absent the test is skipped, or fails under WINREPART_REQUIRE_TOOLS=1.
// Samples are read-only: copy one before modifying it.
func SamplePath(t testing.TB, file string) string {
	t.Helper()
	dir := os.Getenv(SamplesEnv)
	if dir == "" {
		dir = filepath.Join(filepath.Dir(ModuleRoot(t)), "shared", "samples")
	}
	p := filepath.Join(dir, file)
	if _, err := os.Stat(p); err != nil {
		if ToolsRequired() {
			t.Fatalf("testutil: sample %q is required (%s=1): %v", file, RequireToolsEnv, err)
		}
		t.Skipf("testutil: sample %q not available (%v); skipping (set %s to its directory)", file, err, SamplesEnv)
	}
	return p
}
