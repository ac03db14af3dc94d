package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
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

// concurrentFileDev is a fileDev that lets copies pipeline their
// checkpoints: fsync may run beside pread and pwrite.
type concurrentFileDev struct{ *fileDev }

func (concurrentFileDev) ConcurrentSync() bool { return true }

// BenchmarkCopy1GiB moves a 1 GiB region of an image file, full of random
// data, 300 MiB to the right through the journal (4 MiB chunks, real
// fsyncs) and, in the same run, with dd bs=4M conv=notrunc,fsync over the
// same region. The sub-benchmarks differ in how the copy makes its
// checkpoints: sequential (sync, record, go on) every 64 MiB or every
// 256 MiB (the default), or pipelined (each window's sync and record run
// while the next window is copied; windows of 150 MiB, half the distance).
// Run with -count to interleave them.
func BenchmarkCopy1GiB(b *testing.B) {
	for _, c := range []struct {
		name      string
		every     int64
		pipelined bool
	}{
		{"sequential-64MiB", 64 * mib, false},
		{"sequential-256MiB", DefaultSyncEveryBytes, false},
		{"pipelined", DefaultSyncEveryBytes, true},
	} {
		b.Run(c.name, func(b *testing.B) { benchCopy(b, c.every, c.pipelined) })
	}
}

func benchCopy(b *testing.B, every int64, pipelined bool) {
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
	// Random data in all of the region, as a WIM holds: no holes to skip.
	rng := rand.New(rand.NewPCG(1, 1))
	chunk := make([]byte, 4*mib)
	for off := int64(0); off < region; off += int64(len(chunk)) {
		for i := 0; i < len(chunk); i += 8 {
			binary.LittleEndian.PutUint64(chunk[i:], rng.Uint64())
		}
		if _, err := f.WriteAt(chunk, 100*mib+off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	var dev Device = &fileDev{File: f, size: size}
	if pipelined {
		dev = concurrentFileDev{dev.(*fileDev)}
	}
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
