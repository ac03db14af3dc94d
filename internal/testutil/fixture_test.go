package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFixture(t *testing.T) {
	names := FixtureNames(t)
	if len(names) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	name := names[0]
	a := Fixture(t, name)
	b := Fixture(t, name)
	if a == b {
		t.Fatalf("two calls returned the same path %s", a)
	}
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if fa.Size() < 1<<20 || fa.Size()%512 != 0 {
		t.Errorf("fixture %s size %d", name, fa.Size())
	}
	// The copy is writable and independent of the other one.
	f, err := os.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := make([]byte, 7)
	g, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.ReadAt(got, 0); err != nil || string(got) == "changed" {
		t.Errorf("second copy changed with the first: %q %v", got, err)
	}
}

func TestModuleRoot(t *testing.T) {
	root := ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
}

func TestSamplePath(t *testing.T) {
	t.Setenv(SamplesEnv, t.TempDir())
	if err := os.WriteFile(filepath.Join(os.Getenv(SamplesEnv), "x.img"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := SamplePath(t, "x.img"); filepath.Base(p) != "x.img" {
		t.Errorf("SamplePath = %q", p)
	}
}
