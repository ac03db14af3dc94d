package winrepart

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/google/go-cmp/cmp"
)

// makeImage creates a sparse image of size bytes in a temp dir, writing
// data at the given offsets.
func makeImage(t *testing.T, size int64, data map[int64][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

type geometry struct {
	Size               int64
	SectorSize         int
	PhysicalSectorSize int
}

func geometryOf(d Device) geometry {
	return geometry{d.Size(), d.SectorSize(), d.PhysicalSectorSize()}
}

func TestOpenImageGeometry(t *testing.T) {
	const size = 8 << 20
	tests := []struct {
		name string
		data map[int64][]byte
		opts OpenOptions
		want geometry
	}{
		{"blank", nil, OpenOptions{}, geometry{size, 512, 512}},
		{"gpt512", map[int64][]byte{512: []byte("EFI PART")}, OpenOptions{}, geometry{size, 512, 512}},
		{"gpt4096", map[int64][]byte{4096: []byte("EFI PART")}, OpenOptions{}, geometry{size, 4096, 4096}},
		{"both", map[int64][]byte{512: []byte("EFI PART"), 4096: []byte("EFI PART")}, OpenOptions{}, geometry{size, 512, 512}},
		{"told", nil, OpenOptions{SectorSize: 4096}, geometry{size, 4096, 4096}},
		{"512e", nil, OpenOptions{SectorSize: 512, PhysicalSectorSize: 4096}, geometry{size, 512, 4096}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := makeImage(t, size, tc.data)
			d, err := Open(p, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if diff := cmp.Diff(tc.want, geometryOf(d)); diff != "" {
				t.Errorf("geometry (-want +got):\n%s", diff)
			}
			if d.Path() != p {
				t.Errorf("Path() = %q, want %q", d.Path(), p)
			}
		})
	}
}

func TestOpenImageBadSectorSize(t *testing.T) {
	p := makeImage(t, 1<<20, nil)
	for _, o := range []OpenOptions{{SectorSize: 1000}, {SectorSize: 256}, {SectorSize: 4096, PhysicalSectorSize: 512}} {
		d, err := OpenImage(p, o)
		if !errors.Is(err, ErrSectorSize) {
			t.Errorf("OpenImage(%+v) = %v, %v; want ErrSectorSize", o, d, err)
		}
	}
}

func TestDetectSectorSizeShort(t *testing.T) {
	// An image too short to hold LBA 1 of either size is 512.
	if got := DetectSectorSize(bytes.NewReader(make([]byte, 100)), 100); got != 512 {
		t.Errorf("DetectSectorSize(short) = %d, want 512", got)
	}
	b := make([]byte, 4104)
	copy(b[4096:], "EFI PART")
	if got := DetectSectorSize(bytes.NewReader(b), int64(len(b))); got != 4096 {
		t.Errorf("DetectSectorSize(4Kn) = %d, want 4096", got)
	}
	if got := DetectSectorSize(bytes.NewReader(b), 4100); got != 512 {
		t.Errorf("DetectSectorSize(size cut before signature) = %d, want 512", got)
	}
}

func TestImageReadOnly(t *testing.T) {
	p := makeImage(t, 1<<20, map[int64][]byte{1000: []byte("hello")})
	d, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n, err := d.WriteAt([]byte("x"), 0)
	var de *DeviceError
	if !errors.Is(err, ErrReadOnly) || !errors.As(err, &de) || n != 0 {
		t.Fatalf("WriteAt on read-only = %d, %v; want ErrReadOnly DeviceError", n, err)
	}
	if de.Op != "write" || de.Path != p || de.Offset != 0 {
		t.Errorf("DeviceError = %+v", de)
	}
	got := make([]byte, 5)
	if _, err := d.ReadAt(got, 1000); err != nil || string(got) != "hello" {
		t.Errorf("ReadAt = %q, %v", got, err)
	}
	if _, ok := d.(Syncer); !ok {
		t.Error("Image is not a Syncer")
	}
}

func TestImageBounds(t *testing.T) {
	const size = 1 << 20
	p := makeImage(t, size, nil)
	d, err := OpenImage(p, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 512)
	for _, off := range []int64{-1, size - 511, size, size + 1, 1 << 62} {
		if n, err := d.ReadAt(buf, off); !errors.Is(err, ErrOutOfRange) || n != 0 {
			t.Errorf("ReadAt(512, %d) = %d, %v; want ErrOutOfRange", off, n, err)
		}
		if n, err := d.WriteAt(buf, off); !errors.Is(err, ErrOutOfRange) || n != 0 {
			t.Errorf("WriteAt(512, %d) = %d, %v; want ErrOutOfRange", off, n, err)
		}
	}
	// The last sector is inside.
	copy(buf, "last")
	if n, err := d.WriteAt(buf, size-512); err != nil || n != 512 {
		t.Fatalf("WriteAt(last) = %d, %v", n, err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 512)
	if _, err := d.ReadAt(got, size-512); err != nil || !bytes.Equal(got, buf) {
		t.Errorf("ReadAt(last) = %q..., %v", got[:4], err)
	}
	// The image never grows.
	if fi, err := os.Stat(p); err != nil || fi.Size() != size {
		t.Errorf("image size after writes = %v, %v", fi.Size(), err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAt(got, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
	}
	if err := d.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing"), OpenOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if d, err := Open(dir, OpenOptions{}); !errors.Is(err, ErrNotDevice) || d != nil {
		t.Errorf("Open(dir) = %v, %v; want nil, ErrNotDevice", d, err)
	}
	if _, err := Open("/dev/null", OpenOptions{}); !errors.Is(err, ErrNotDevice) {
		t.Errorf("Open(/dev/null) = %v, want ErrNotDevice (character device)", err)
	}
}

// The devices this package opens overlap Sync with reads and writes
// (journal copies rely on it); see TestConcurrentSyncImage.
var (
	_ ConcurrentSyncer = (*Image)(nil)
	_ ConcurrentSyncer = (*BlockDevice)(nil)
)

// TestConcurrentSyncImage runs Sync beside writes and reads on an image
// (under -race this checks the device's locking) and checks that every
// write is there afterwards.
func TestConcurrentSyncImage(t *testing.T) {
	const size = 8 << 20
	p := makeImage(t, size, nil)
	d, err := OpenImage(p, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.ConcurrentSync() {
		t.Fatal("image declines concurrent Sync")
	}
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			err = d.Sync()
		}
		done <- err
	}()
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		for i := range buf {
			buf[i] = byte(off>>16) + byte(i)
		}
		if _, err := d.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(buf))
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := d.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != byte(off>>16)+byte(i) {
				t.Fatalf("byte %d differs after concurrent syncs", off+int64(i))
			}
		}
	}
}

func TestFromStorage(t *testing.T) {
	const size = 4 << 20
	want := bytes.Repeat([]byte("winrepart"), 1000)
	p := makeImage(t, size, map[int64][]byte{4096: []byte("EFI PART"), 1 << 20: want})

	ro, err := file.OpenFromPath(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	d, err := FromStorage(ro, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(geometry{size, 4096, 4096}, geometryOf(d)); diff != "" {
		t.Errorf("geometry (-want +got):\n%s", diff)
	}
	got := make([]byte, len(want))
	if _, err := d.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt through go-diskfs differs from the file (err %v)", err)
	}
	if _, err := d.WriteAt([]byte("x"), 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("WriteAt on read-only storage = %v, want ErrReadOnly", err)
	}
	if _, err := FromStorage(ro, OpenOptions{Writable: true}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("FromStorage(read-only storage, Writable) = %v, want ErrReadOnly", err)
	}
	if _, err := d.ReadAt(got[:1], size); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("ReadAt(size) = %v, want ErrOutOfRange", err)
	}

	rw, err := file.OpenFromPath(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	w, err := FromStorage(rw, OpenOptions{Writable: true, SectorSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("changed"), 2<<20); err != nil {
		t.Fatal(err)
	}
	s, ok := w.(Syncer)
	if !ok {
		t.Fatal("writable file storage is not a Syncer")
	}
	// go-diskfs promises nothing about Sync beside writes: Apply must not
	// overlap them.
	if _, ok := w.(ConcurrentSyncer); ok {
		t.Error("go-diskfs storage claims ConcurrentSyncer")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(img[2<<20:2<<20+7]) != "changed" {
		t.Error("write through go-diskfs adapter not in the file")
	}
	if _, err := FromStorage(nil, OpenOptions{}); err == nil {
		t.Error("FromStorage(nil) succeeded")
	}
}
