package sparseimg

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memTarget is an in-memory Target that never allocates the image size.
type memTarget struct {
	size   int64
	writes map[int64][]byte
}

func (m *memTarget) Truncate(n int64) error {
	m.size = n
	if n == 0 {
		m.writes = nil
	}
	return nil
}

func (m *memTarget) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > m.size {
		return 0, errors.New("write outside target")
	}
	if m.writes == nil {
		m.writes = map[int64][]byte{}
	}
	m.writes[off] = append([]byte(nil), p...)
	return len(p), nil
}

// testImage describes an image by its size and non-zero pieces.
type testImage struct {
	name   string
	size   int64
	pieces map[int64][]byte
}

func (ti testImage) file(t testing.TB) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), ti.name+".img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(ti.size); err != nil {
		t.Fatal(err)
	}
	for off, b := range ti.pieces {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>12)
		if b[i] == 0 {
			b[i] = 1
		}
	}
	return b
}

var testImages = []testImage{
	{"empty", 0, nil},
	{"zeros", 10 << 20, nil},
	{"one-byte", 1, map[int64][]byte{0: {1}}},
	{"odd-tail", 3<<20 + 100, map[int64][]byte{3<<20 + 99: {0xAA}, 0: []byte("boot")}},
	{"scattered", 64 << 20, map[int64][]byte{
		510: {0x55, 0xAA}, 4096: pattern(8192, 3), 4096 * 5: pattern(1, 9),
		32 << 20: pattern(300000, 4), 64<<20 - 4096: pattern(4096, 5),
	}},
	{"sparse-huge", 6 << 30, map[int64][]byte{1 << 20: pattern(4096, 1), 5 << 30: pattern(10000, 2)}},
}

func pack(t testing.TB, f *os.File, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(&buf, f, size); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fileSHA(t testing.TB, f *os.File) []byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func TestRoundTrip(t *testing.T) {
	for _, ti := range testImages {
		t.Run(ti.name, func(t *testing.T) {
			src := ti.file(t)
			packed := pack(t, src, ti.size)
			if len(packed) > 64<<10 {
				t.Errorf("packed size %d bytes, want small", len(packed))
			}
			dst, err := os.Create(filepath.Join(t.TempDir(), "out.img"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			dst.WriteString("stale content that Unpack must drop")
			size, err := Unpack(dst, bytes.NewReader(packed))
			if err != nil {
				t.Fatal(err)
			}
			if size != ti.size {
				t.Errorf("size = %d, want %d", size, ti.size)
			}
			if ti.size <= 64<<20 {
				if !bytes.Equal(fileSHA(t, src), fileSHA(t, dst)) {
					t.Error("unpacked image differs from the original")
				}
			} else {
				for off, b := range ti.pieces {
					got := make([]byte, len(b))
					if _, err := dst.ReadAt(got, off); err != nil || !bytes.Equal(got, b) {
						t.Errorf("piece at %d differs (%v)", off, err)
					}
				}
			}
			// The result is sparse: allocated blocks stay near the data.
			if alloc, ok := allocatedBytes(dst); ok && alloc > 2<<20 {
				t.Errorf("unpacked file allocates %d bytes; not sparse", alloc)
			}
			// Digest agrees with the end record.
			d, err := Digest(src, ti.size)
			if err != nil {
				t.Fatal(err)
			}
			raw := gunzip(t, packed)
			if !bytes.Equal(raw[len(raw)-32:], d[:]) {
				t.Error("Digest differs from the recorded digest")
			}
			// Packing is deterministic, also from a non-file reader
			// (which cannot skip holes).
			if ti.size <= 64<<20 {
				var buf bytes.Buffer
				if err := Pack(&buf, io.NewSectionReader(src, 0, ti.size), ti.size); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), packed) {
					t.Error("Pack differs between *os.File and a plain ReaderAt")
				}
			}
		})
	}
}

func TestLongRunSplits(t *testing.T) {
	ti := testImage{"long", MaxRecord + 3*BlockSize, map[int64][]byte{0: pattern(MaxRecord+2*BlockSize, 7)}}
	src := ti.file(t)
	packed := pack(t, src, ti.size)
	raw := gunzip(t, packed)
	// Two records: MaxRecord bytes at 0, then 2 blocks right after it.
	first := raw[headerLen:]
	if first[0] != tagData || binary.LittleEndian.Uint32(first[9:]) != MaxRecord {
		t.Fatalf("first record %x", first[:dataHeaderLen])
	}
	second := first[dataHeaderLen+MaxRecord:]
	if second[0] != tagData || binary.LittleEndian.Uint64(second[1:]) != MaxRecord || binary.LittleEndian.Uint32(second[9:]) != 2*BlockSize {
		t.Fatalf("second record %x", second[:dataHeaderLen])
	}
	m := &memTarget{}
	if _, err := Unpack(m, bytes.NewReader(packed)); err != nil {
		t.Fatal(err)
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// resum recomputes the end digest of a raw stream after a mutation.
func resum(raw []byte) []byte {
	raw = bytes.Clone(raw)
	sum := sha256.Sum256(raw[:len(raw)-33])
	copy(raw[len(raw)-32:], sum[:])
	return raw
}

func TestUnpackRejects(t *testing.T) {
	src := testImages[4].file(t) // scattered
	raw := gunzip(t, pack(t, src, testImages[4].size))
	rec := headerLen // first record: 4 KiB at 0 (holds 0x55AA at 510)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(raw)) }
	tests := []struct {
		name   string
		packed []byte
		want   error
	}{
		{"magic", gz(mut(func(b []byte) []byte { b[0] = 'X'; return b })), ErrMagic},
		{"version", gz(mut(func(b []byte) []byte { b[8] = 2; return b })), ErrVersion},
		{"block size", gz(mut(func(b []byte) []byte { b[13] = 2; return b })), ErrVersion},
		{"huge size", gz(mut(func(b []byte) []byte { b[23] = 0x10; return b })), ErrTooLarge},
		{"digest", gz(mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })), ErrDigest},
		{"data changed", gz(mut(func(b []byte) []byte { b[rec+dataHeaderLen+510] ^= 1; return b })), ErrDigest},
		{"truncated", gz(raw[:len(raw)-10]), ErrTruncated},
		{"no end", gz(raw[:len(raw)-33]), ErrTruncated},
		{"trailing", gz(append(bytes.Clone(raw), 0)), ErrTrailing},
		{"trailing member", append(gz(raw), gz([]byte("x"))...), ErrTrailing},
		{"tag", gz(resum(mut(func(b []byte) []byte { b[rec] = 'Z'; return b }))), ErrCanonical},
		{"zero length", gz(resum(mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[rec+9:], 0); return b }))), ErrTooLarge},
		{"long record", gz(resum(mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[rec+9:], MaxRecord+1); return b }))), ErrTooLarge},
		{"outside", gz(resum(mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[rec+1:], 64<<20); return b }))), ErrOrder},
		{"unaligned", gz(resum(mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[rec+1:], 512); return b }))), ErrCanonical},
		{"zero block", gz(resum(mut(func(b []byte) []byte { clear(b[rec+dataHeaderLen : rec+dataHeaderLen+4096]); return b }))), ErrCanonical},
		{"not gzip", raw, gzip.ErrHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unpack(&memTarget{}, bytes.NewReader(tc.packed))
			if !errors.Is(err, tc.want) {
				t.Errorf("Unpack = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnpackOrder(t *testing.T) {
	// Records out of order, overlapping, or adjacent without being merged.
	hdr := make([]byte, headerLen)
	copy(hdr, magic)
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	binary.LittleEndian.PutUint32(hdr[12:], BlockSize)
	binary.LittleEndian.PutUint64(hdr[16:], 1<<20)
	record := func(off int64, n int) []byte {
		b := []byte{tagData}
		b = binary.LittleEndian.AppendUint64(b, uint64(off))
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		return append(b, pattern(n, 1)...)
	}
	stream := func(recs ...[]byte) []byte {
		b := bytes.Clone(hdr)
		for _, r := range recs {
			b = append(b, r...)
		}
		sum := sha256.Sum256(b)
		return gz(append(append(b, tagEnd), sum[:]...))
	}
	tests := []struct {
		name string
		recs [][]byte
		want error
	}{
		{"ok", [][]byte{record(0, 4096), record(8192, 4096)}, nil},
		{"backwards", [][]byte{record(8192, 4096), record(0, 4096)}, ErrOrder},
		{"overlap", [][]byte{record(0, 8192), record(4096, 4096)}, ErrOrder},
		{"unmerged", [][]byte{record(0, 4096), record(4096, 4096)}, ErrCanonical},
		{"partial block", [][]byte{record(0, 100)}, ErrCanonical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unpack(&memTarget{}, bytes.NewReader(stream(tc.recs...)))
			if !errors.Is(err, tc.want) {
				t.Errorf("Unpack = %v, want %v", err, tc.want)
			}
			var fe *FormatError
			if tc.want != nil && !errors.As(err, &fe) {
				t.Errorf("error %v is not a *FormatError", err)
			}
		})
	}
}

func TestFormatError(t *testing.T) {
	e := &FormatError{Pos: 25, Field: "record length", Value: 7, Err: ErrTooLarge}
	if diff := cmp.Diff("sparseimg: length beyond limit: record length = 7 at stream byte 25", e.Error()); diff != "" {
		t.Error(diff)
	}
}

func FuzzUnpack(f *testing.F) {
	for _, ti := range testImages[:4] {
		func() {
			dir, err := os.MkdirTemp("", "sparseimg-seed")
			if err != nil {
				f.Fatal(err)
			}
			defer os.RemoveAll(dir)
			src, err := os.Create(filepath.Join(dir, "seed.img"))
			if err != nil {
				f.Fatal(err)
			}
			defer src.Close()
			src.Truncate(ti.size)
			for off, b := range ti.pieces {
				src.WriteAt(b, off)
			}
			var buf bytes.Buffer
			if err := Pack(&buf, src, ti.size); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
			// The raw stream, re-compressed at the fastest level, so
			// stored-looking deflate gives the fuzzer structure to mutate.
			var fast bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&fast, gzip.NoCompression)
			zw.Write(gunzip(f, buf.Bytes()))
			zw.Close()
			f.Add(fast.Bytes())
		}()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &memTarget{}
		size, err := Unpack(m, bytes.NewReader(data))
		if err != nil || size > 16<<20 {
			return // repacking a huge sparse image in memory is too slow
		}
		// Whatever unpacks must pack back to the same stream.
		img := memImage{m}
		var buf bytes.Buffer
		if err := Pack(&buf, img, size); err != nil {
			t.Fatal(err)
		}
		m2 := &memTarget{}
		if _, err := Unpack(m2, &buf); err != nil {
			t.Fatalf("repacked image does not unpack: %v", err)
		}
		if !cmp.Equal(m.writes, m2.writes) {
			t.Fatal("repacked image differs")
		}
	})
}

// memImage reads a memTarget as an image.
type memImage struct{ m *memTarget }

func (r memImage) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	for o, b := range r.m.writes {
		lo, hi := max(o, off), min(o+int64(len(b)), off+int64(len(p)))
		if lo < hi {
			copy(p[lo-off:hi-off], b[lo-o:hi-o])
		}
	}
	if off+int64(len(p)) > r.m.size {
		return int(max(r.m.size-off, 0)), io.EOF
	}
	return len(p), nil
}
