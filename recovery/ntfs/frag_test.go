package ntfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

// fragmentedVolume builds a volume holding \big.bin, a sparse file with
// hundreds of small allocated pieces separated by holes, written through an
// ntfs-3g (FUSE) mount. Its runlist alternates data and sparse runs and
// overflows the base MFT record, so ntfs-3g splits $DATA over extension
// records behind a (non-resident) $ATTRIBUTE_LIST.
func fragmentedVolume(t *testing.T) (img string, data []byte) {
	t.Helper()
	testutil.NeedTool(t, "ntfs-3g", "fusermount")
	testutil.NeedRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if testutil.ToolsRequired() {
			t.Fatal("no /dev/fuse")
		}
		t.Skip("no /dev/fuse")
	}
	img = mkntfs(t, 16<<20, 512, 512, "frag")
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfs-3g", img, mnt)
	mounted := true
	unmount := func() {
		if mounted {
			unmountFUSE(t, img, mnt)
			mounted = false
		}
	}
	t.Cleanup(unmount)
	const pieces, stride = 450, 16 << 10
	data = make([]byte, (pieces-1)*stride+100)
	rng := rand.New(rand.NewPCG(3, 4))
	f, err := os.Create(filepath.Join(mnt, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < pieces; i++ {
		piece := data[i*stride : i*stride+100]
		for j := range piece {
			piece[j] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(piece, int64(i*stride)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	unmount()
	return img, data
}

func TestFragmentedAttributeList(t *testing.T) {
	testutil.NeedTool(t, "ntfsinfo", "ntfscat")
	img, data := fragmentedVolume(t)
	v := openImage(t, img)
	f := mustLookup(t, v, `\big.bin`)
	got, err := v.ReadFile(`\BIG.BIN`, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("ReadFile: %d bytes differ from the %d written", len(got), len(data))
	}
	if want := stdout(t, "ntfscat", img, "/big.bin"); !bytes.Equal(want, got) {
		t.Errorf("ntfscat and ReadFile differ")
	}
	want := mergeRuns(ntfsinfoRuns(t, img, "/big.bin"))
	if diff := cmp.Diff(want, mergeRuns(f.Runs)); diff != "" {
		t.Errorf("runs (-ntfsinfo +ours):\n%s", diff)
	}
	rec, err := v.ReadRecord(f.Record)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Find(AttrAttributeList, "") == nil {
		t.Errorf("big.bin has %d runs but no $ATTRIBUTE_LIST: the list path is untested", len(f.Runs))
	}
	ext, err := v.attrExtents(rec, AttrData, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("big.bin: %d runs in %d extents", len(f.Runs), len(ext))
	if !f.Sparse || len(ext) < 2 || len(f.Runs) < 2*450-1 {
		t.Errorf("sparse %v, %d extents: the volume is not fragmented as intended", f.Sparse, len(ext))
	}
	if len(f.Runs) < 200 {
		t.Errorf("only %d runs; the volume is not fragmented as intended", len(f.Runs))
	}
	u, err := v.Usage()
	if err != nil {
		t.Fatal(err)
	}
	info := testutil.Run(t, "ntfsinfo", "-m", img)
	if want := atoi(t, ntfsinfoField(t, info, "Free Clusters")); u.FreeClusters != want {
		t.Errorf("FreeClusters = %d, ntfsinfo %d", u.FreeClusters, want)
	}
	// Every cluster of big.bin is in use.
	for _, r := range f.Runs {
		if r.Sparse {
			continue
		}
		if free, err := v.RangeFree(r.LCN, r.Length); err != nil || free {
			t.Fatalf("RangeFree(%d, %d) of a big.bin run = %v, %v", r.LCN, r.Length, free, err)
		}
	}
}
