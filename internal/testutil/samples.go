package testutil

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ulikunitz/xz"
)

// maxSampleBytes bounds a decompressed sample: the samples are small disk
// and volume images (the largest, a DFTT disk, is 160 MB).
const maxSampleBytes = 256 << 20

var (
	sampleMu    sync.Mutex
	sampleCache = map[string][]byte{}
)

// SampleBytes returns the decompressed content of a real-world sample
// (see SamplePath): an .xz or .bz2 file, or for a .zip archive its member
// named member (its base name). Each sample is decompressed once per test
// binary; every call returns a fresh copy the caller may modify.
func SampleBytes(t testing.TB, file, member string) []byte {
	t.Helper()
	key := file + "\x00" + member
	sampleMu.Lock()
	defer sampleMu.Unlock()
	if b, ok := sampleCache[key]; ok {
		return bytes.Clone(b)
	}
	b := decompressSample(t, SamplePath(t, file), member)
	sampleCache[key] = b
	return bytes.Clone(b)
}

// SampleFile writes SampleBytes to a file in t.TempDir and returns its path.
func SampleFile(t testing.TB, file, member string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.img")
	if err := os.WriteFile(path, SampleBytes(t, file, member), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func decompressSample(t testing.TB, path, member string) []byte {
	t.Helper()
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".zip"):
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if filepath.Base(f.Name) == member {
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				r = rc
				break
			}
		}
		if r == nil {
			t.Fatalf("%s has no member %q", filepath.Base(path), member)
		}
	default:
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		switch {
		case strings.HasSuffix(path, ".xz"):
			xr, err := xz.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = xr
		case strings.HasSuffix(path, ".bz2"):
			r = bzip2.NewReader(f)
		default:
			r = f
		}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSampleBytes+1))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxSampleBytes {
		t.Fatalf("sample %s is larger than %d bytes", filepath.Base(path), maxSampleBytes)
	}
	return b
}
