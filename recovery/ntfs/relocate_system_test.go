package ntfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// relSystemPast lists the system files (records below 16) with clusters
// at or past cluster end.
func relSystemPast(t *testing.T, v *Volume, end int64) map[uint64]bool {
	t.Helper()
	past := map[uint64]bool{}
	for n := uint64(0); n < 16; n++ {
		rec, err := v.ReadRecord(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range rec.Attributes {
			for _, r := range a.Runs {
				if a.NonResident && !r.Sparse && r.LCN+r.Length > end {
					past[n] = true
				}
			}
		}
	}
	return past
}

// TestRelocateSystemFiles shrinks the issue's volume below the eighth of
// it where mkntfs puts $Bitmap, $AttrDef, $Secure, $UpCase and the root's
// index (its $SECURITY_DESCRIPTOR too, non-resident), and below the middle where it puts $MFTMirr and $LogFile: every
// one of them moves (the boot sector follows $MFTMirr), and the volume
// is judged as the other relocations are, beside ntfsresize's own shrink
// of a copy.
func TestRelocateSystemFiles(t *testing.T) {
	const newBytes = 100 << 20
	// mkntfs does not put $AttrDef past the end in every geometry: it
	// must be in one.
	var mu sync.Mutex
	covered := map[uint64]bool{}
	t.Cleanup(func() {
		if !t.Failed() && !t.Skipped() && !covered[RecordAttrDef] {
			t.Error("$AttrDef is past the end in no geometry: moving it is not tested")
		}
	})
	for _, g := range [][2]int{{512, 512}, {512, 4096}, {4096, 4096}, {512, 65536}} {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c := relIssueVolume(t, g[0], g[1])
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			before := relSystemPast(t, v, end)
			mu.Lock()
			for n := range before {
				covered[n] = true
			}
			mu.Unlock()
			for _, n := range []uint64{RecordMFTMirr, RecordLogFile, RecordRoot, RecordBitmap, RecordSecure, RecordUpCase} {
				if !before[n] {
					t.Errorf("system file %d is not past cluster %d: the test does not cover it", n, end)
				}
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes; system files past the end: %v", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes), before)
			after := openImage(t, ours)
			if left := relSystemPast(t, after, end); len(left) > 0 {
				t.Errorf("system files still past the end: %v", left)
			}
			if after.Boot.MFTMirrLCN == v.Boot.MFTMirrLCN {
				t.Errorf("$MFTMirr still at cluster %d", v.Boot.MFTMirrLCN)
			}
			relOracles(t, c, ours, newBytes, g[0])
			relNeedFUSE(t)
			relMountRead(t, c, ours, relPlainFiles(c))
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
		})
	}
}

// relFreeIn counts the free clusters of v in [lo, hi).
func relFreeIn(t *testing.T, v *Volume, lo, hi int64) int64 {
	t.Helper()
	used, err := v.relUsed()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, g := range relGaps(used, hi) {
		n += max(0, g.lcn+g.n-max(g.lcn, lo))
	}
	return n
}

// relMFTPastVolume builds a 256 MiB volume whose $MFT has grown into its
// last tailBytes. Fillers of 4 MiB (ntfsfallocate: clusters allocated,
// nothing written) take every free cluster; those wholly in the tail are
// deleted, so when 1,200 files are then created through an
// ntfs-3g mount, libntfs-3g can only extend $MFT, its $BITMAP and the
// files' data into the tail. The other fillers go last. (One filler of
// the right size does not do: where libntfs-3g starts allocating depends
// on its zones and on what it allocated last.)
//
// With bigDir > 0, a directory of bigDir entries is created after the
// files, so that its index lies in the tail too; every hundredth of its
// files is in the returned content.
func relMFTPastVolume(t *testing.T, sector, cluster int, tailBytes int64, bigDir int) relContent {
	t.Helper()
	relNeedFUSE(t)
	testutil.NeedTool(t, "ntfscp", "ntfsfallocate")
	const size = 256 << 20
	c := relContent{img: mkntfs(t, size, sector, cluster, "mftpast"), files: map[string]string{}}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v := openImage(t, c.img)
	cs, total := v.ClusterSize(), v.TotalClusters()
	tail := total - tailBytes/cs
	var fillers []string
	for free := relFreeIn(t, v, 0, total); free > 0; {
		n := min(free, (4<<20)/cs)
		name := fmt.Sprintf("/filler-%03d", len(fillers))
		testutil.Run(t, "ntfscp", c.img, empty, name)
		testutil.Run(t, "ntfsfallocate", "-l", strconv.FormatInt(n*cs, 10), c.img, name)
		fillers = append(fillers, name)
		// The directory's index may have taken clusters too.
		free = relFreeIn(t, openImage(t, c.img), 0, total)
	}
	var inTail, rest []string
	v = openImage(t, c.img)
	for _, name := range fillers {
		rec, err := v.ReadRecord(mustLookup(t, v, name).Record)
		if err != nil {
			t.Fatal(err)
		}
		// Only fillers wholly in the tail go: one that also holds
		// clusters before it (libntfs-3g wraps around into the MFT zone)
		// would free room for $MFT there.
		past := true
		for _, r := range rec.Find(AttrData, "").Runs {
			past = past && (r.Sparse || r.LCN >= tail)
		}
		if past {
			inTail = append(inTail, name)
		} else {
			rest = append(rest, name)
		}
	}
	mount := func(fn func(mnt string)) { relMount(t, c.img, "", fn) }
	remove := func(mnt string, names []string) {
		for _, f := range names {
			if err := os.Remove(filepath.Join(mnt, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(sector), uint64(cluster)))
	mount(func(mnt string) { remove(mnt, inTail) })
	mount(func(mnt string) {
		for d := 0; d < 4; d++ {
			dir := fmt.Sprintf("many%d", d)
			if err := os.Mkdir(filepath.Join(mnt, dir), 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 300; i++ {
				b := make([]byte, rng.IntN(6000)+1)
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
				name := fmt.Sprintf("%s/file-%04d.bin", dir, i)
				if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
				c.files[name] = sha(b)
			}
		}
	})
	if bigDir > 0 {
		mount(func(mnt string) {
			if err := os.Mkdir(filepath.Join(mnt, "big"), 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < bigDir; i++ {
				name := fmt.Sprintf("big/entry-with-a-longer-name-%05d.txt", i)
				b := []byte(fmt.Sprintf("entry %d\n", i))
				if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
				if i%100 == 0 {
					c.files[name] = sha(b)
				}
			}
		})
	}
	mount(func(mnt string) { remove(mnt, rest) })
	return c
}

// relCountIn counts the allocated entries fls -r lists directly in dir.
func relCountIn(t *testing.T, img, dir string) int {
	t.Helper()
	n := 0
	for p := range relFls(t, img) {
		if strings.HasPrefix(p, dir+"/") && !strings.Contains(p[len(dir)+1:], "/") {
			n++
		}
	}
	return n
}

// relPlainFiles lists the files of c that are not named streams.
func relPlainFiles(c relContent) []string {
	var out []string
	for p := range c.files {
		if !strings.Contains(p, ":") {
			out = append(out, p)
		}
	}
	return out
}

// TestRelocateMFTPastEnd shrinks volumes whose $MFT grew into the tail:
// its runs there, and its $BITMAP's, move into the space the fillers
// left, record 0 (and its $MFTMirr copy) says so, the records that lay
// past the end are written where they were copied to, and the volume is
// judged beside ntfsresize's shrink of a copy.
func TestRelocateMFTPastEnd(t *testing.T) {
	const tailBytes = 48 << 20
	const newBytes = (256 << 20) - tailBytes
	// (64 KiB clusters: 1,200 files of a cluster each do not fit the
	// tail.)
	// One geometry adds a directory of 10,000 entries in the tail.
	for _, g := range [][3]int{{512, 512, 0}, {512, 4096, 10_000}, {4096, 4096, 0}, {512, 16384, 0}} {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c := relMFTPastVolume(t, g[0], g[1], tailBytes+(1<<20), g[2])
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			var mftPast int64
			for _, r := range v.mft.runs {
				if !r.Sparse && r.LCN+r.Length > end {
					mftPast += r.LCN + r.Length - max(r.LCN, end)
				}
			}
			if mftPast == 0 {
				t.Fatalf("$MFT runs %v: none past cluster %d, the test does not cover it", v.mft.runs, end)
			}
			t.Logf("$MFT: %d runs, %d of its clusters past the end", len(v.mft.runs), mftPast)
			if g[2] > 0 {
				f := mustLookup(t, v, `\big`)
				rec, err := v.ReadRecord(f.Record)
				if err != nil {
					t.Fatal(err)
				}
				past := false
				if a := rec.Find(AttrIndexAllocation, "$I30"); a != nil {
					for _, r := range a.Runs {
						past = past || (!r.Sparse && r.LCN+r.Length > end)
					}
				}
				if !past {
					t.Fatalf("the %d-entry directory's index is not past cluster %d: the test does not cover it", g[2], end)
				}
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
			after := openImage(t, ours)
			for _, r := range after.mft.runs {
				if !r.Sparse && r.LCN+r.Length > end {
					t.Errorf("$MFT run %v still past cluster %d", r, end)
				}
			}
			relOracles(t, c, ours, newBytes, g[0])
			relMountRead(t, c, ours, relPlainFiles(c))
			if g[2] > 0 {
				if n := relCountIn(t, ours, "big"); n != g[2] {
					t.Errorf("fls lists %d entries in big, want %d", n, g[2])
				}
			}
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
		})
	}
}
