package ntfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// The page cache is warm (the copies were just written).
func BenchmarkRelocateVsNtfsresize(b *testing.B) {
	testutil.NeedTool(b, "ntfsresize", "cp")
	benchRelocate(b, relIssueVolume(b, 512, 4096).img, 600<<20, false)
}

// BenchmarkRelocateVsNtfsresizeLarge is BenchmarkRelocateVsNtfsresize
// where copying dominates: a 4 GiB volume holding 1.5 GiB (22 files of
// 64 MiB and 2,000 of 1 to 64 KiB) laid behind a 1.5 GiB filler that is
// then freed (relTailVolume), shrunk to 2.25 GiB, which moves ~1.2 GiB.
// As root, the page cache is dropped before each side's timed run.
func BenchmarkRelocateVsNtfsresizeLarge(b *testing.B) {
	testutil.NeedTool(b, "ntfsresize", "cp", "ntfsfallocate", "ntfstruncate", "ntfsls")
	img := relTailVolume(b, 4<<30, 1536<<20, func(put func(string, int64)) {
		for i := range 22 {
			put(fmt.Sprintf("big/f%02d.bin", i), 64<<20)
		}
		for i := range 2000 {
			put(fmt.Sprintf("small/d%d/f%04d.bin", i/500, i), 1024+int64(uint32(i)*2654435761%(63<<10)))
		}
	})
	benchRelocate(b, img, 2304<<20, os.Geteuid() == 0)
}

// relTailVolume formats a volume of size bytes (512-byte sectors, 4 KiB
// clusters), gives a file /filler fillerBytes of clusters (ntfsfallocate:
// from the end of the MFT zone upward), applies the files fill makes
// (wimlib-imagex, through libntfs-3g, so they land after the filler) and
// frees the filler (ntfstruncate), leaving the data high in the volume.
func relTailVolume(b *testing.B, size, fillerBytes int64, fill func(put func(name string, n int64))) string {
	b.Helper()
	img := mkntfs(b, size, 512, 4096, "big")
	dir := b.TempDir()
	src := filepath.Join(dir, "tree")
	rng := rand.NewChaCha8([32]byte{'b', 'i', 'g'})
	buf := make([]byte, 64<<20)
	fill(func(name string, n int64) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		data := buf[:n]
		rng.Read(data)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	})
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	testutil.Run(b, "ntfscp", "-f", img, empty, "/filler")
	testutil.Run(b, "ntfsfallocate", "-f", "-l", strconv.FormatInt(fillerBytes, 10), img, "/filler")
	wim := filepath.Join(dir, "t.wim")
	testutil.Run(b, "wimlib-imagex", "capture", src, wim, "--compress=none")
	if err := os.RemoveAll(src); err != nil {
		b.Fatal(err)
	}
	testutil.Run(b, "wimlib-imagex", "apply", wim, "1", img)
	if err := os.Remove(wim); err != nil {
		b.Fatal(err)
	}
	inode := ""
	for _, line := range strings.Split(testutil.Run(b, "ntfsls", "-i", "-f", img), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "filler" {
			inode = f[0]
		}
	}
	if inode == "" {
		b.Fatal("ntfsls does not list /filler")
	}
	testutil.Run(b, "ntfstruncate", "-f", img, inode, "0")
	return img
}

// benchRelocate shrinks img to newBytes both ways on fresh copies (see
// BenchmarkRelocateVsNtfsresize), dropping the page cache before each
// side when cold.
func benchRelocate(b *testing.B, img string, newBytes int64, cold bool) {
	dir := b.TempDir()
	var ours, theirs time.Duration
	var read, moved, mft int64
	drop := func() {
		if !cold {
			return
		}
		testutil.Run(b, "sync")
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a, z := filepath.Join(dir, "a.img"), filepath.Join(dir, "z.img")
		testutil.Run(b, "cp", "--sparse=always", img, a)
		testutil.Run(b, "cp", "--sparse=always", img, z)
		drop()
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
		d0 := time.Since(t0)
		ours += d0
		read += cf.read.Load()
		moved += p.MovedBytes
		mft += int64(v.mftRecords) * v.recordSize
		f.Close()

		b.StopTimer()
		drop()
		b.StartTimer()
		t1 := time.Now()
		cmd := exec.Command("ntfsresize", "--force", "--no-progress-bar", "--size", strconv.FormatInt(newBytes, 10), z)
		cmd.Stdin = strings.NewReader("y\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ntfsresize: %v\n%s", err, out)
		}
		d1 := time.Since(t1)
		theirs += d1
		b.Logf("run %d: ours %v (read %d, moved %d, MFT %d bytes), ntfsresize %v: %.3fx",
			i+1, d0.Round(time.Millisecond), cf.read.Load(), p.MovedBytes, int64(v.mftRecords)*v.recordSize, d1.Round(time.Millisecond), float64(d0)/float64(d1))
	}
	b.ReportMetric(float64(ours)/float64(theirs), "x-ntfsresize")
	b.ReportMetric(float64(read)/float64(b.N), "bytes-read/op")
	b.ReportMetric(float64(moved)/float64(b.N), "bytes-moved/op")
	b.ReportMetric(float64(read)/float64(moved+mft), "read/moved+mft")
}
