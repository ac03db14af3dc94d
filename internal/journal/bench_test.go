package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fileDev is a Device over an image file with a real fsync.
type fileDev struct {
	*os.File
	size int64
}

func (f *fileDev) Size() int64     { return f.size }
func (f *fileDev) SectorSize() int { return 512 }

// BenchmarkCopy1GiB moves a 1 GiB region of a sparse image file 300 MiB to
// the right through the journal (4 MiB chunks, real fsyncs) and, in the
// same run, with dd bs=4M conv=notrunc over the same region.
func BenchmarkCopy1GiB(b *testing.B) {
	for _, every := range []int64{64 * mib, DefaultSyncEveryBytes} {
		b.Run(fmt.Sprintf("sync-every-%dMiB", every/mib), func(b *testing.B) { benchCopy(b, every) })
	}
}

func benchCopy(b *testing.B, every int64) {
	const region = 1 << 30
	dir := b.TempDir()
	img := filepath.Join(dir, "disk.img")
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size := int64(region + 512*mib)
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	// Data every 64 MiB so the region is not all holes.
	for off := int64(0); off < region; off += 64 * mib {
		if _, err := f.WriteAt(make([]byte, mib), 100*mib+off); err != nil {
			b.Fatal(err)
		}
	}
	dev := &fileDev{File: f, size: size}
	ops := []Op{Copy{Src: 100 * mib, Dst: 400 * mib, Length: region, What: "move"}}
	_, hasDD := exec.LookPath("dd")
	var ddTime, jTime time.Duration
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, fmt.Sprintf("j%d", i))
		t0 := time.Now()
		j, err := Create(path, dev, ops, CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Run(context.Background(), dev, RunOptions{SyncEveryBytes: every}); err != nil {
			b.Fatal(err)
		}
		jTime += time.Since(t0)
		if hasDD == nil {
			b.StopTimer()
			t0 = time.Now()
			// dd copies low to high, so it moves data to the left; the
			// bytes moved are the same.
			out, err := exec.Command("dd", "if="+img, "of="+img, "bs=4M", "conv=notrunc,fsync",
				"iflag=skip_bytes,count_bytes", "oflag=seek_bytes",
				fmt.Sprint("skip=", 400*mib), fmt.Sprint("seek=", 100*mib), fmt.Sprint("count=", region)).CombinedOutput()
			if err != nil {
				b.Fatalf("dd: %v\n%s", err, out)
			}
			ddTime += time.Since(t0)
			b.StartTimer()
		}
	}
	b.SetBytes(region)
	n := float64(b.N)
	b.ReportMetric(float64(region)/(1<<20)/(jTime.Seconds()/n), "journal-MiB/s")
	if hasDD == nil {
		b.ReportMetric(float64(region)/(1<<20)/(ddTime.Seconds()/n), "dd-MiB/s")
	}
}
