package gpt

import (
	"bytes"
	"io/fs"
	"testing"
	"time"

	diskfsgpt "github.com/diskfs/go-diskfs/partition/gpt"
)

// memFile adapts a bytes.Reader to go-diskfs's backend.File.
type memFile struct {
	*bytes.Reader
	size int64
}

func (m memFile) Stat() (fs.FileInfo, error) { return memInfo{m.size}, nil }
func (m memFile) Close() error               { return nil }

type memInfo struct{ size int64 }

func (i memInfo) Name() string       { return "disk" }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o600 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// benchImage is goodImage: 128 entries, three partitions, 512-byte sectors.
func benchImage(b *testing.B) []byte {
	img := goodImage(b)
	b.SetBytes(int64(2 * 128 * 128))
	b.ReportAllocs()
	return img
}

// BenchmarkRead reads both copies, checks them and decodes the array.
func BenchmarkRead(b *testing.B) {
	img := benchImage(b)
	r := bytes.NewReader(img)
	for b.Loop() {
		t, err := Read(r, goodSize, 512)
		if err != nil || len(t.Partitions()) != 3 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadGoDiskfs is go-diskfs v1.9.4's partition/gpt.Read on the
// same bytes (it reads only the primary copy when that is valid).
func BenchmarkReadGoDiskfs(b *testing.B) {
	img := benchImage(b)
	f := memFile{bytes.NewReader(img), int64(len(img))}
	for b.Loop() {
		t, err := diskfsgpt.Read(f, 512, 512)
		if err != nil || len(t.Partitions) == 0 {
			b.Fatal(err)
		}
	}
}
