package testutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Linux lseek whence values for sparse files.
const (
	seekData = 3
	seekHole = 4
)

// dataRegions calls fn for every data region of f (as SEEK_DATA/SEEK_HOLE
// report them) that overlaps [start, start+size), clipped to it. On
// filesystems without sparse support the whole range is one region.
func dataRegions(t testing.TB, f *os.File, start, size int64, fn func(lo, hi int64)) {
	t.Helper()
	end := start + size
	for off := start; off < end; {
		data, err := f.Seek(off, seekData)
		if err != nil || data >= end {
			return // ENXIO: no data after off
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		hole = min(hole, end)
		fn(data, hole)
		off = hole
	}
}

// ExtractPartition copies size bytes of img from byte start into a sparse
// file of its own (for the ntfs-3g tools, which want a volume at byte 0)
// and returns its path. Only the data regions of img are read.
func ExtractPartition(t testing.TB, img string, start, size int64) string {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "part.img")
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Truncate(size); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	dataRegions(t, src, start, size, func(lo, hi int64) {
		for pos := lo; pos < hi; {
			n := min(int64(len(buf)), hi-pos)
			if _, err := src.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if _, err := dst.WriteAt(buf[:n], pos-start); err != nil {
				t.Fatal(err)
			}
			pos += n
		}
	})
	return path
}

// RangeDigest returns a SHA-256 of the content of size bytes of the file at
// path from byte start, the same whether zeros are stored or are holes. It
// reads only data regions, so digesting a mostly empty multi-GiB partition
// is quick.
func RangeDigest(t testing.TB, path string, start, size int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const block = 64 << 10
	h := sha256.New()
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(size))
	h.Write(hdr[:])
	buf := make([]byte, block)
	zero := make([]byte, block)
	next := start // first block not hashed yet: regions may share a block
	dataRegions(t, f, start, size, func(lo, hi int64) {
		// Walk in blocks aligned to start so equal content hashes equally
		// whatever the region boundaries.
		for pos := max(next, lo-(lo-start)%block); pos < hi; pos += block {
			next = pos + block
			n := min(block, start+size-pos)
			b := buf[:n]
			clear(b)
			if _, err := f.ReadAt(b, pos); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if bytes.Equal(b, zero[:n]) {
				continue
			}
			binary.LittleEndian.PutUint64(hdr[:], uint64(pos-start))
			h.Write(hdr[:])
			h.Write(b)
		}
	})
	return hex.EncodeToString(h.Sum(nil))
}

// OpenSized opens a file read-only for the rest of the test and returns it
// with its size, the pair every parser of this module takes.
func OpenSized(t testing.TB, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, fi.Size()
}
