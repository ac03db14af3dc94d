package ntfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/testutil"
)

// countingFile counts the bytes read through it.
type countingFile struct {
	*os.File
	read atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.File.ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

// BenchmarkRelocateVsNtfsresize shrinks the issue's volume (1 GiB, 4 KiB
// clusters, a 37 MiB file and 300 small ones filled through libntfs-3g,
// many past 600 MiB) to 600 MiB in one run both ways, each on its own
// copy of the image: PlanShrinkRelocating, its copies and writes, and a
// sync; and ntfsresize --size. It reports our wall time as a fraction of
// ntfsresize's (x-ntfsresize), and the bytes we read against the bytes we
// move and the MFT's size (read/moved+mft, the issue's bound is 1.2).
func BenchmarkRelocateVsNtfsresize(b *testing.B) {
	testutil.NeedTool(b, "ntfsresize", "cp")
	const newBytes = 600 << 20
	c := relIssueVolume(b, 512, 4096)
	dir := b.TempDir()
	var ours, theirs time.Duration
	var read, moved, mft int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a, z := filepath.Join(dir, "a.img"), filepath.Join(dir, "z.img")
		testutil.Run(b, "cp", "--sparse=always", c.img, a)
		testutil.Run(b, "cp", "--sparse=always", c.img, z)
		b.StartTimer()

		t0 := time.Now()
		f, err := os.OpenFile(a, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		cf := &countingFile{File: f}
		fi, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		v, err := Open(cf, fi.Size())
		if err != nil {
			b.Fatal(err)
		}
		opts := DefaultResizeOptions()
		opts.Relocate = true
		p, err := v.PlanShrinkRelocating(newBytes, opts)
		if err != nil {
			b.Fatal(err)
		}
		relApply(b, cf, p)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		read += cf.read.Load()
		moved += p.MovedBytes
		mft += int64(v.mftRecords) * v.recordSize
		f.Close()

		t1 := time.Now()
		cmd := exec.Command("ntfsresize", "--force", "--no-progress-bar", "--size", "600M", z)
		cmd.Stdin = strings.NewReader("y\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ntfsresize: %v\n%s", err, out)
		}
		theirs += time.Since(t1)
	}
	b.ReportMetric(float64(ours)/float64(theirs), "x-ntfsresize")
	b.ReportMetric(float64(read)/float64(b.N), "bytes-read/op")
	b.ReportMetric(float64(moved)/float64(b.N), "bytes-moved/op")
	b.ReportMetric(float64(read)/float64(moved+mft), "read/moved+mft")
}
