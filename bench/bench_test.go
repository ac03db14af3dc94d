package bench_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// countingDevice is a recovery.Device that counts what is read through it.
type countingDevice struct {
	recovery.Device
	bytes, calls, largest atomic.Int64
}

func (c *countingDevice) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.Device.ReadAt(p, off)
	c.bytes.Add(int64(n))
	c.calls.Add(1)
	for {
		l := c.largest.Load()
		if int64(len(p)) <= l || c.largest.CompareAndSwap(l, int64(len(p))) {
			break
		}
	}
	return n, err
}

func TestCountingDevice(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, err := winrepart.OpenImage(img, winrepart.OpenOptions{SectorSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	c := &countingDevice{Device: dev}
	buf := make([]byte, 4096)
	for _, off := range []int64{0, 8192, 60 << 10} {
		if _, err := c.ReadAt(buf[:off/1024+512], off); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := c.bytes.Load(), int64(512+520+572); got != want {
		t.Errorf("bytes = %d, want %d", got, want)
	}
	if got := c.calls.Load(); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
	if got := c.largest.Load(); got != 572 {
		t.Errorf("largest = %d, want 572", got)
	}
}

// benchImages returns the images named by the comma-separated list in the
// environment variable name, or skips the benchmark. bench/run.sh builds
// them (sparse GPT disks with C: of 64 GiB, 1 TiB and 4 TiB).
func benchImages(b *testing.B, name string) []string {
	v := os.Getenv(name)
	if v == "" {
		b.Skipf("set %s to a comma-separated list of disk images (bench/run.sh does)", name)
	}
	return strings.Split(v, ",")
}

// eachImage runs fn as a sub-benchmark on each image of
// WINREPART_BENCH_IMAGES, opened read-only.
func eachImage(b *testing.B, fn func(b *testing.B, dev winrepart.Device)) {
	for _, img := range benchImages(b, "WINREPART_BENCH_IMAGES") {
		b.Run(strings.TrimSuffix(filepath.Base(img), ".img"), func(b *testing.B) {
			dev, err := winrepart.OpenImage(img, winrepart.OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer dev.Close()
			fn(b, dev)
		})
	}
}

// BenchmarkInspectPlan reads a disk with recovery.Inspect and plans the fix
// with planner.New, reporting the bytes read per operation (read-B/op), the
// read calls (reads/op) and the largest single read (max-read-B).
func BenchmarkInspectPlan(b *testing.B) {
	eachImage(b, func(b *testing.B, dev winrepart.Device) {
		c := &countingDevice{Device: dev}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l, err := recovery.Inspect(ctx, c, recovery.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if p := planner.New(l, planner.Options{}); p.Refused {
				b.Fatalf("plan refused: %v", p.Reasons)
			}
		}
		b.ReportMetric(float64(c.bytes.Load())/float64(b.N), "read-B/op")
		b.ReportMetric(float64(c.calls.Load())/float64(b.N), "reads/op")
		b.ReportMetric(float64(c.largest.Load()), "max-read-B")
	})
}

// BenchmarkApply applies the planned fix to a fresh sparse copy of each
// image named in WINREPART_BENCH_APPLY (copying is not timed), for
// profiling: go test -run '^$' -bench Apply -benchtime 3x -cpuprofile cpu.out.
// WINREPART_BENCH_MIN_FREE (bytes) overrides the policy's free space. The
// plan may move files out of C:'s tail, as winrefix's does. With
// WINREPART_BENCH_HEAP_PEAK=FILE, FILE receives the heap profile of the
// moment the live heap peaked (see peakHeap), and the peak is reported.
func BenchmarkApply(b *testing.B) {
	for _, img := range benchImages(b, "WINREPART_BENCH_APPLY") {
		b.Run(strings.TrimSuffix(filepath.Base(img), ".img"), func(b *testing.B) {
			var opts planner.Options
			if v := os.Getenv("WINREPART_BENCH_MIN_FREE"); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				opts.MinFreeBytes = n
			}
			dir := b.TempDir()
			work := filepath.Join(dir, "run.img")
			journal := filepath.Join(dir, "journal")
			ctx := context.Background()
			var copied int64
			if f := os.Getenv("WINREPART_BENCH_HEAP_PEAK"); f != "" {
				defer peakHeap(b, f)()
			}
			for b.Loop() {
				b.StopTimer()
				os.Remove(work)
				os.Remove(journal) // Apply keeps a finished journal; the CLI removes it
				if out, err := exec.Command("cp", "--sparse=always", img, work).CombinedOutput(); err != nil {
					b.Fatalf("cp: %v: %s", err, out)
				}
				b.StartTimer()
				dev, err := winrepart.OpenImage(work, winrepart.OpenOptions{Writable: true})
				if err != nil {
					b.Fatal(err)
				}
				l, err := recovery.Inspect(ctx, dev, recovery.Options{})
				if err != nil {
					b.Fatal(err)
				}
				opts.Relocator = winrepart.NewRelocator(dev, l)
				p := planner.New(l, opts)
				if p.Refused || len(p.Steps) == 0 {
					b.Fatalf("nothing to apply: %s", p.Summary)
				}
				res, err := winrepart.Apply(ctx, dev, p, winrepart.ApplyOptions{JournalPath: journal})
				if err != nil {
					b.Fatal(err)
				}
				copied += res.BytesCopied
				dev.Close()
			}
			b.ReportMetric(float64(copied)/float64(b.N), "copied-B/op")
		})
	}
}

// fixtureOSVolume returns the first bytes of C: in the standard fixture
// (partition 3 at LBA 239616): its boot sector, and the first MFT records.
func fixtureOSVolume(b *testing.B) (boot []byte, mft []byte) {
	img := testutil.Fixture(b, "gpt-win11-standard")
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const volume = 239616 * 512
	boot = make([]byte, ntfs.BootSectorSize)
	if _, err := f.ReadAt(boot, volume); err != nil {
		b.Fatal(err)
	}
	s, err := ntfs.ParseBootSector(boot)
	if err != nil {
		b.Fatal(err)
	}
	mft = make([]byte, 16*s.MFTRecordSize())
	if _, err := f.ReadAt(mft, volume+int64(s.MFTLCN)*s.ClusterSize()); err != nil {
		b.Fatal(err)
	}
	return boot, mft
}

// BenchmarkNTFSBootSector parses the boot sector of a Windows volume.
func BenchmarkNTFSBootSector(b *testing.B) {
	boot, _ := fixtureOSVolume(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ntfs.ParseBootSector(boot); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNTFSRecord parses MFT record 5 (the root directory: standard
// information, file name, index root and index allocation).
func BenchmarkNTFSRecord(b *testing.B) {
	_, mft := fixtureOSVolume(b)
	size := len(mft) / 16
	rec := mft[5*size : 6*size]
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ntfs.ParseRecord(rec, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBitmapTail scans the $Bitmap of C: backwards for its last used
// cluster once (ntfs.Volume.LastUsedCluster), on the images of
// WINREPART_BENCH_IMAGES. Inspect does this twice (LastUsedCluster, then
// ShrinkLimit again); read-B/op here is what one scan costs.
func BenchmarkBitmapTail(b *testing.B) {
	eachImage(b, func(b *testing.B, dev winrepart.Device) {
		l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var c *recovery.Partition
		for i := range l.Partitions {
			if l.Partitions[i].Role == recovery.RoleOS {
				c = &l.Partitions[i]
			}
		}
		if c == nil {
			b.Fatal("no C: partition")
		}
		off := int64(c.StartLBA) * int64(l.SectorSize)
		v, err := ntfs.Open(io.NewSectionReader(dev, off, c.SizeBytes), c.SizeBytes)
		if err != nil {
			b.Fatal(err)
		}
		var read int64
		b.ReportAllocs()
		for b.Loop() {
			v.ResetBytesRead()
			if _, err := v.LastUsedCluster(); err != nil {
				b.Fatal(err)
			}
			read = v.BytesRead()
		}
		b.ReportMetric(float64(read), "read-B/op")
	})
}

// peakHeap watches the live heap (the bytes the last GC found reachable)
// until the returned function is called, keeps the heap profile of the GC
// cycle that found the most, writes it to path and reports that peak
// (peak-live-B) and the peak of the memory the Go runtime had mapped
// (peak-mapped-B). A profile and the live-heap figure come from the same
// completed GC cycle, so the profile's inuse_space shows what was live at
// that peak, sampled every 2 ms.
func peakHeap(b *testing.B, path string) (stop func()) {
	b.Helper()
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}}
	var peakLive, peakMapped uint64
	var best bytes.Buffer
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if live := samples[0].Value.Uint64(); live > peakLive {
				peakLive = live
				best.Reset()
				pprof.Lookup("heap").WriteTo(&best, 0)
			}
			peakMapped = max(peakMapped, samples[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		if err := os.WriteFile(path, best.Bytes(), 0o644); err != nil {
			b.Error(err)
		}
		b.ReportMetric(float64(peakLive), "peak-live-B")
		b.ReportMetric(float64(peakMapped), "peak-mapped-B")
	}
}
