package fat

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// seed returns the decompressed test volume testdata/NAME.img.gz (made by
// generate.sh).
func seed(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(z, 64<<20))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func open(t testing.TB, img []byte) *Volume {
	t.Helper()
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// walk lists every path below dir ("/a/b/" for directories, "/a/f" for
// files), as mdir -/ -b does without its "::" prefix, and calls fn for
// each file.
func walk(t testing.TB, v *Volume, dir string, fn func(path string, f *File)) []string {
	t.Helper()
	es, err := v.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir %q: %v", dir, err)
	}
	var out []string
	for i := range es {
		e := &es[i]
		p := dir + e.Name
		if e.IsDir() {
			out = append(out, p+"/")
			out = append(out, walk(t, v, p+"/", fn)...)
			continue
		}
		out = append(out, p)
		if fn != nil {
			fn(p, e)
		}
	}
	sort.Strings(out)
	return out
}
