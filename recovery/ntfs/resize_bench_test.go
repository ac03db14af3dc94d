package ntfs

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/testutil"
)

// BenchmarkShrink256GiB times PlanShrink plus ApplyWrites on a sparse
// 256 GiB volume (shrunk by 1 GiB) and reports the bytes written; it runs
// ntfsresize on a sparse copy of the same volume in the same run and
// reports its time beside ours (ntfsresize-ns/op).
func BenchmarkShrink256GiB(b *testing.B) {
	testutil.NeedTool(b, "mkntfs", "ntfsresize")
	const size, newSize = 256 << 30, 255 << 30
	img := mkntfs(b, size, 512, 4096, "big")
	var ours, theirs time.Duration
	var written int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cp := filepath.Join(b.TempDir(), "c.img")
		testutil.Run(b, "cp", "--sparse=always", img, cp)
		f, err := os.OpenFile(cp, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		v, err := Open(f, size)
		if err != nil {
			b.Fatal(err)
		}
		ws, err := v.PlanShrink(newSize, DefaultResizeOptions())
		if err != nil {
			b.Fatal(err)
		}
		if err := ApplyWrites(f, ws); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		b.StopTimer()
		for _, w := range ws {
			written += int64(len(w.New))
		}
		f.Close()
		cp2 := filepath.Join(b.TempDir(), "d.img")
		testutil.Run(b, "cp", "--sparse=always", img, cp2)
		start = time.Now()
		testutil.Run(b, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.FormatInt(newSize, 10), cp2)
		theirs += time.Since(start)
		os.Remove(cp)
		os.Remove(cp2)
		b.StartTimer()
	}
	b.ReportMetric(float64(written)/float64(b.N), "bytes-written/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "ntfsresize-ns/op")
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ours-ns/op")
}
