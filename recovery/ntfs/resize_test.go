package ntfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// rsContent is a populated test volume: its image and the SHA-256 of
// every file written to it, by path.
type rsContent struct {
	img   string
	files map[string]string
}

// rsVolume formats a sparse volume and fills it: many small files in
// directories (wimlib-imagex apply), two files written interleaved through
// an ntfs-3g mount so their clusters alternate (fragmented), and a file
// copied with ntfscp.
func rsVolume(t *testing.T, size int64, sector, cluster int) rsContent {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "ntfscp", "ntfscat", "ntfsresize", "ntfsinfo")
	c := rsContent{img: mkntfs(t, size, sector, cluster, "rs"), files: map[string]string{}}
	rng := rand.New(rand.NewPCG(uint64(size), uint64(cluster)))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	dir := t.TempDir()
	if _, err := exec.LookPath("wimlib-imagex"); err == nil {
		src := filepath.Join(dir, "tree")
		for i := 0; i < 40; i++ {
			p := filepath.Join(src, fmt.Sprintf("d%d", i%6), fmt.Sprintf("f%03d.txt", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			b := rnd(rng.IntN(3000))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			c.files[fmt.Sprintf("/d%d/f%03d.txt", i%6, i)] = sha(b)
		}
		wim := filepath.Join(dir, "t.wim")
		testutil.Run(t, "wimlib-imagex", "capture", src, wim, "--compress=none")
		testutil.Run(t, "wimlib-imagex", "apply", wim, "1", c.img)
	} else if testutil.ToolsRequired() {
		t.Fatal("wimlib-imagex missing")
	}
	if _, err := os.Stat("/dev/fuse"); err == nil && os.Geteuid() == 0 {
		if _, err := exec.LookPath("ntfs-3g"); err == nil {
			rsInterleave(t, c, rnd)
		}
	}
	b := rnd(700_000)
	src := filepath.Join(dir, "copied.bin")
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfscp", c.img, src, "/copied.bin")
	c.files["/copied.bin"] = sha(b)
	return c
}

// rsInterleave writes /frag1.bin and /frag2.bin through an ntfs-3g mount,
// 8 KiB at a time alternately, so that their runlists interleave.
func rsInterleave(t *testing.T, c rsContent, rnd func(int) []byte) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfs-3g", c.img, mnt)
	defer unmountFUSE(t, c.img, mnt)
	var fs [2]*os.File
	var data [2][]byte
	for i := range fs {
		f, err := os.Create(filepath.Join(mnt, fmt.Sprintf("frag%d.bin", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		fs[i] = f
	}
	for k := 0; k < 24; k++ {
		for i, f := range fs {
			b := rnd(16 << 10)
			if _, err := f.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			data[i] = append(data[i], b...)
		}
	}
	for i, f := range fs {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		c.files[fmt.Sprintf("/frag%d.bin", i+1)] = sha(data[i])
	}
}

// rsCopy copies an image sparsely.
func rsCopy(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy.img")
	testutil.Run(t, "cp", "--sparse=always", src, dst)
	return dst
}

// rsApply plans with plan on the image opened as a partition of
// openBytes, applies the writes and sets the file size to finalBytes.
func rsApply(t *testing.T, img string, openBytes, finalBytes int64, plan func(*Volume) ([]diag.Write, error)) []diag.Write {
	t.Helper()
	if err := os.Truncate(img, max(openBytes, finalBytes)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := Open(f, openBytes)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := plan(v)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := ApplyWrites(f, ws); err != nil {
		t.Fatalf("ApplyWrites: %v", err)
	}
	if err := f.Truncate(finalBytes); err != nil {
		t.Fatal(err)
	}
	return ws
}

var rsInfoErrRE = regexp.MustCompile(`(?i)error|inconsisten|corrupt|failed`)

// rsCheck runs the reference tools on a resized volume: ntfsresize --info
// accepts it, ntfsinfo reports the expected size, every file reads back
// unchanged, and our own reader agrees on the geometry.
func rsCheck(t *testing.T, c rsContent, img string, wantSectors int64) {
	t.Helper()
	out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", img)
	if err != nil || rsInfoErrRE.MatchString(out) || !strings.Contains(out, "Accounting clusters") {
		t.Errorf("ntfsresize --info: %v\n%s", err, out)
	}
	info := testutil.Run(t, "ntfsinfo", "--force", "-m", img)
	spc := atoi(t, ntfsinfoField(t, info, "Cluster Size")) / atoi(t, ntfsinfoField(t, info, "Sector Size"))
	if got := atoi(t, ntfsinfoField(t, info, "Volume Size in Clusters")); got != wantSectors/spc {
		t.Errorf("ntfsinfo: %d clusters, want %d", got, wantSectors/spc)
	}
	for p, want := range c.files {
		if got := sha(stdout(t, "ntfscat", "--force", img, p)); got != want {
			t.Errorf("%s: sha256 %s, want %s", p, got, want)
		}
	}
	v := openImage(t, img)
	if int64(v.Boot.TotalSectors) != wantSectors {
		t.Errorf("TotalSectors %d, want %d", v.Boot.TotalSectors, wantSectors)
	}
	u, err := v.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := v.Dirty(); err != nil || !d {
		t.Errorf("dirty %v, %v; want set", d, err)
	}
	// The backup boot sector, in the partition's last sector, equals the primary.
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	bps := int64(v.Boot.BytesPerSector)
	at := int64(v.Boot.TotalSectors) * bps
	if at+bps > int64(len(b)) || at+2*bps <= int64(len(b)) {
		t.Errorf("backup boot sector at %d is not the last sector of the %d-byte partition", at, len(b))
	} else if d := cmp.Diff(b[:bps], b[at:at+bps]); d != "" {
		t.Errorf("backup boot sector differs (-primary +backup):\n%.400s", d)
	}
	t.Logf("resized: %d clusters, %d used", u.TotalClusters, u.UsedClusters)
}

// rsChangedBlocks lists the 4 KiB blocks where b differs from orig (over
// the shorter length).
func rsChangedBlocks(orig, b []byte) []int64 {
	var out []int64
	for off := 0; off < min(len(orig), len(b)); off += 4096 {
		e := min(off+4096, len(orig), len(b))
		if string(orig[off:e]) != string(b[off:e]) {
			out = append(out, int64(off/4096))
		}
	}
	return out
}

func TestShrinkAgainstNtfsresize(t *testing.T) {
	// newSize is the shrink limit (last cluster in use) plus extra bytes.
	cases := []struct {
		size, extra     int64
		sector, cluster int
	}{
		{64 << 20, 0, 512, 4096},
		{64 << 20, 3*512 + 100, 512, 512},
		{128 << 20, 5 << 20, 4096, 4096},
		{256 << 20, 64 << 10, 4096, 65536},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%d-%dMiB-plus-%d", tc.sector, tc.cluster, tc.size>>20, tc.extra), func(t *testing.T) {
			t.Parallel()
			c := rsVolume(t, tc.size, tc.sector, tc.cluster)
			limit, err := openImage(t, c.img).ShrinkLimit()
			if err != nil {
				t.Fatal(err)
			}
			newSize := limit + tc.extra
			orig, err := os.ReadFile(c.img)
			if err != nil {
				t.Fatal(err)
			}
			ours := rsCopy(t, c.img)
			ws := rsApply(t, ours, tc.size, newSize, func(v *Volume) ([]diag.Write, error) {
				return v.PlanShrink(newSize, DefaultResizeOptions())
			})
			for _, w := range ws {
				t.Log(w)
			}
			rsCheck(t, c, ours, newSize/int64(tc.sector)-1)
			theirs := rsCopy(t, c.img)
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.FormatInt(newSize, 10), theirs)
			rsCompare(t, orig, ours, theirs)
		})
	}
}

// rsCompare byte-diffs both results against the original in 4 KiB blocks
// and logs the blocks only one tool changed. Intended differences: we keep
// $Bitmap where it is (ntfsresize reallocates it from the first free
// cluster, so it also rewrites the old and new bitmap clusters); we write
// the backup boot sector at the new last sector (ntfsresize writes none,
// leaving it to chkdsk); ntfsresize rewrites $BadClus:$Bad with a
// compressed-size field. Every block we change must be one ntfsresize
// changes, or a block holding $Bitmap data or the backup boot sector.
func rsCompare(t *testing.T, orig []byte, ours, theirs string) {
	t.Helper()
	a, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := rsChangedBlocks(orig, a), rsChangedBlocks(orig, b)
	inB := map[int64]bool{}
	for _, x := range cb {
		inB[x] = true
	}
	v := openImage(t, ours)
	bmRec, bmAttr, err := v.singleExtent(RecordBitmap, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = bmRec
	bitmapBlock := map[int64]bool{}
	for _, r := range bmAttr.Runs {
		for blk := r.LCN * v.clusterSize / 4096; blk*4096 < (r.LCN+r.Length)*v.clusterSize; blk++ {
			bitmapBlock[blk] = true
		}
	}
	backup := int64(v.Boot.TotalSectors) * int64(v.Boot.BytesPerSector) / 4096
	var onlyOurs []int64
	for _, x := range ca {
		if !inB[x] {
			onlyOurs = append(onlyOurs, x)
			if !bitmapBlock[x] && x != backup {
				t.Errorf("block %d (offset %#x) changed by us only, and holds neither $Bitmap nor the backup boot sector", x, x*4096)
			}
		}
	}
	sort.Slice(onlyOurs, func(i, j int) bool { return onlyOurs[i] < onlyOurs[j] })
	t.Logf("changed 4 KiB blocks: ours %v, ntfsresize %v, ours only %v", ca, cb, onlyOurs)
}

func TestGrowAgainstNtfsresize(t *testing.T) {
	cases := []struct {
		size, newSize   int64
		sector, cluster int
	}{
		{64 << 20, 256 << 20, 512, 4096},   // $Bitmap needs a second cluster
		{64 << 20, 80<<20 + 512, 512, 512}, // allocation several clusters
		{128 << 20, 512 << 20, 4096, 4096}, // 3 more bitmap clusters
		{256 << 20, 512 << 20, 512, 65536}, // fits the existing allocation
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%d-to-%dMiB", tc.sector, tc.cluster, tc.newSize>>20), func(t *testing.T) {
			t.Parallel()
			c := rsVolume(t, tc.size, tc.sector, tc.cluster)
			orig, err := os.ReadFile(c.img)
			if err != nil {
				t.Fatal(err)
			}
			ours := rsCopy(t, c.img)
			ws := rsApply(t, ours, tc.newSize, tc.newSize, func(v *Volume) ([]diag.Write, error) {
				return v.PlanGrow(tc.newSize, DefaultResizeOptions())
			})
			for _, w := range ws {
				t.Log(w)
			}
			rsCheck(t, c, ours, tc.newSize/int64(tc.sector)-1)
			theirs := rsCopy(t, c.img)
			if err := os.Truncate(theirs, tc.newSize); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.FormatInt(tc.newSize, 10), theirs)
			rsCompare(t, orig, ours, theirs)
		})
	}
}

func TestShrinkRefusesTailInUse(t *testing.T) {
	c := rsVolume(t, 64<<20, 512, 4096)
	v := openImage(t, c.img)
	min, err := v.ShrinkLimit()
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.PlanShrink(min-4096, DefaultResizeOptions())
	var se *ShrinkError
	if !errors.As(err, &se) || !errors.Is(err, ErrTailInUse) {
		t.Fatalf("PlanShrink below the limit: %v, want a *ShrinkError", err)
	}
	if se.MinBytes != min || se.InUseClusters < 1 {
		t.Errorf("ShrinkError %+v, want MinBytes %d and clusters in use", se, min)
	}
	if _, err := v.PlanShrink(min, DefaultResizeOptions()); err != nil {
		t.Errorf("PlanShrink at the limit %d: %v", min, err)
	}
}

// TestResizeWindowsSample shrinks the Windows-formatted sample to its
// limit, then grows it back by 4 MiB, checking each result with the
// reference tools.
func TestResizeWindowsSample(t *testing.T) {
	testutil.NeedTool(t, "ntfsresize", "ntfsinfo", "ntfscat")
	b := sampleBytes(t, "ntfs-windows.img.xz")
	img := filepath.Join(t.TempDir(), "win.img")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := rsContent{img: img, files: map[string]string{}}
	size := int64(len(b))
	limit, err := openImage(t, img).ShrinkLimit()
	if err != nil {
		t.Fatal(err)
	}
	if limit >= size {
		t.Skipf("sample cannot shrink (limit %d, size %d)", limit, size)
	}
	rsApply(t, img, size, limit, func(v *Volume) ([]diag.Write, error) { return v.PlanShrink(limit, DefaultResizeOptions()) })
	rsCheck(t, c, img, limit/512-1)
	grown := limit + 4<<20
	opts := DefaultResizeOptions()
	opts.AllowDirty = true // our shrink set it
	rsApply(t, img, grown, grown, func(v *Volume) ([]diag.Write, error) { return v.PlanGrow(grown, opts) })
	rsCheck(t, c, img, grown/512-1)
}
