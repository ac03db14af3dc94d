package ntfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// relContent is a test volume for relocation: its image and the SHA-256
// of every file (and named stream, as "path:stream") by the path The
// Sleuth Kit's fls prints (no leading slash).
type relContent struct {
	img   string
	files map[string]string
}

// relGeometries are the sector and cluster sizes the relocation is proven
// on: every cluster size from 512 bytes to 64 KiB, on 512- and 4096-byte
// sectors.
var relGeometries = [][2]int{
	{512, 512}, {512, 1024}, {512, 2048}, {512, 4096}, {512, 8192}, {512, 16384}, {512, 32768}, {512, 65536},
	{4096, 4096}, {4096, 8192}, {4096, 16384}, {4096, 32768}, {4096, 65536},
}

// relIssueVolume builds the volume of the issue: 1 GiB, filled through
// libntfs-3g (wimlib-imagex apply into the unmounted image) with a 37 MiB
// file and 300 small ones; libntfs-3g puts many of them past 600 MiB. A
// file with 16 hard links comes with them (see relIssueFiles).
func relIssueVolume(t testing.TB, sector, cluster int) relContent {
	t.Helper()
	return relIssueFiles(t, sector, cluster, true)
}

// relIssueFiles is relIssueVolume, with the hard-linked file or without
// it (the rich volume's placement of its own files depends on what came
// before).
func relIssueFiles(t testing.TB, sector, cluster int, links bool) relContent {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "wimlib-imagex")
	c := relContent{img: mkntfs(t, 1<<30, sector, cluster, "reloc"), files: map[string]string{}}
	rng := rand.New(rand.NewPCG(uint64(sector), uint64(cluster)))
	src := filepath.Join(t.TempDir(), "tree")
	put := func(name string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c.files[name] = sha(b)
	}
	put("big.bin", 37<<20)
	for i := 1; i <= 300; i++ {
		put(fmt.Sprintf("d/f%d.txt", i), rng.IntN(60000)+1)
	}
	// An $ATTRIBUTE_LIST: so many hard links with long names that the
	// base record fills, and libntfs-3g moves $FILE_NAMEs out to extension
	// records (wimlib applies the WIM's hard links as links). With 32 KiB
	// clusters on 512-byte sectors the list itself is non-resident.
	for i := 0; i < 16 && links; i++ {
		if i == 0 {
			put("links/linked.bin", 300_000)
		}
		link := fmt.Sprintf("links/another-rather-long-hard-link-name-that-fills-the-base-record-%02d", i)
		if err := os.Link(filepath.Join(src, "links/linked.bin"), filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
		c.files[link] = c.files["links/linked.bin"]
	}
	wim := filepath.Join(t.TempDir(), "t.wim")
	testutil.Run(t, "wimlib-imagex", "capture", src, wim, "--compress=none")
	testutil.Run(t, "wimlib-imagex", "apply", wim, "1", c.img)
	return c
}

// relShrinkImage plans a relocating shrink of img to newBytes, applies
// it (copies, then writes) and truncates the image to the new partition.
func relShrinkImage(t *testing.T, img string, newBytes int64) *ShrinkPlan {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultResizeOptions()
	opts.Relocate = true
	p, err := v.PlanShrinkRelocating(newBytes, opts)
	if err != nil {
		t.Fatalf("PlanShrinkRelocating(%d): %v", newBytes, err)
	}
	relApply(t, f, p)
	if err := f.Truncate(newBytes); err != nil {
		t.Fatal(err)
	}
	return p
}

// relApply makes a plan's copies, then its writes.
type readerWriterAt interface {
	ReadAt([]byte, int64) (int, error)
	WriteAt([]byte, int64) (int, error)
}

func relApply(t testing.TB, rw readerWriterAt, p *ShrinkPlan) {
	t.Helper()
	for _, c := range p.Copies {
		b := make([]byte, c.Length)
		if _, err := rw.ReadAt(b, c.Src); err != nil {
			t.Fatal(err)
		}
		if _, err := rw.WriteAt(b, c.Dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := ApplyWrites(rw, p.Writes); err != nil {
		t.Fatalf("ApplyWrites: %v", err)
	}
}

var ntfsfixBadRE = regexp.MustCompile(`(?i)BAD|error|corrupt|inconsisten|fail`)

// relOracles judges a shrunk volume with independent tools: ntfsresize
// --info accepts it, ntfsfix -n finds nothing, ntfsinfo reads the
// expected size, and The Sleuth Kit (fsstat, fls -r, icat) reads every
// file and stream with the expected SHA-256.
func relOracles(t *testing.T, c relContent, img string, partBytes int64, sector int) {
	t.Helper()
	testutil.NeedTool(t, "ntfsresize", "ntfsfix", "ntfsinfo", "fsstat", "fls", "icat")
	out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", img)
	if err != nil || rsInfoErrRE.MatchString(out) || !strings.Contains(out, "Accounting clusters") {
		t.Errorf("ntfsresize --info: %v\n%s", err, out)
	}
	out, err = testutil.RunErr("ntfsfix", "-n", img)
	if err != nil || ntfsfixBadRE.MatchString(out) || !strings.Contains(out, "processed successfully") {
		t.Errorf("ntfsfix -n: %v\n%s", err, out)
	}
	info := testutil.Run(t, "ntfsinfo", "--force", "-m", img)
	cs := atoi(t, ntfsinfoField(t, info, "Cluster Size"))
	if got, want := atoi(t, ntfsinfoField(t, info, "Volume Size in Clusters")), (partBytes/int64(sector)-1)*int64(sector)/cs; got != want {
		t.Errorf("ntfsinfo: %d clusters, want %d", got, want)
	}
	testutil.Run(t, "fsstat", img)
	addr := relFls(t, img)
	for p, want := range c.files {
		a, ok := addr[p]
		if !ok {
			t.Errorf("fls -r does not list %s", p)
			continue
		}
		if got := sha(stdout(t, "icat", img, a)); got != want {
			t.Errorf("icat %s (%s): sha256 %s, want %s", p, a, got, want)
		}
	}
}

// relFls maps the paths `fls -r -p` lists (allocated entries) to their
// metadata addresses.
func relFls(t *testing.T, img string) map[string]string {
	t.Helper()
	out := stdout(t, "fls", "-r", "-p", img)
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		tab := strings.IndexByte(line, '\t')
		f := strings.Fields(line[:max(tab, 0)])
		if tab < 0 || len(f) != 2 || strings.Contains(line[:tab], "*") {
			continue
		}
		m[line[tab+1:]] = strings.TrimSuffix(f[1], ":")
	}
	return m
}

// TestRelocateIssueVolumes is the issue's reproduction: on every geometry,
// a shrink of the 1 GiB volume to 600 MiB, refused without relocation,
// succeeds with it, and ntfsresize, ntfsfix, ntfsinfo and The Sleuth Kit
// accept the result with every file intact. ntfsresize makes the same
// shrink on a copy (it must accept it too, and its result reads the same).
func TestRelocateIssueVolumes(t *testing.T) {
	const newBytes = 600 << 20
	// Geometries whose linked.bin, a file with an $ATTRIBUTE_LIST (its
	// $FILE_NAMEs spill into extension records), has data past the end.
	var throughList atomic.Int32
	t.Cleanup(func() {
		if !t.Failed() && !t.Skipped() && throughList.Load() == 0 {
			t.Error("in no geometry does linked.bin have an $ATTRIBUTE_LIST and data past the end: moving a file with a list is not tested")
		}
	})
	for _, g := range relGeometries {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c := relIssueVolume(t, g[0], g[1])
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			if list, extents, past := relListedPast(t, v, `\links\linked.bin`, end); list && past {
				throughList.Add(1)
				t.Logf("linked.bin: an $ATTRIBUTE_LIST, $DATA in %d extents, data past the end", extents)
			}
			if _, err := v.PlanShrink(newBytes, DefaultResizeOptions()); !errors.Is(err, ErrTailInUse) {
				t.Fatalf("shrink without relocation: %v, want ErrTailInUse", err)
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
			if p.MovedFiles == 0 || len(p.Copies) == 0 {
				t.Fatal("nothing moved: the volume does not test relocation")
			}
			relOracles(t, c, ours, newBytes, g[0])
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
		})
	}
}

// relListedPast reports whether the file at path has an $ATTRIBUTE_LIST,
// in how many extents its $DATA lies, and whether any of its clusters lie
// at or past cluster end.
func relListedPast(t *testing.T, v *Volume, path string, end int64) (list bool, extents int, past bool) {
	t.Helper()
	f := mustLookup(t, v, path)
	rec, err := v.ReadRecord(f.Record)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := v.attrExtents(rec, AttrData, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ext {
		for _, r := range a.Runs {
			past = past || (!r.Sparse && r.LCN+r.Length > end)
		}
	}
	return rec.Find(AttrAttributeList, "") != nil, len(ext), past
}

// relRichVolume builds a volume whose tail (past tailAt bytes) holds, on
// top of the issue's files, what a relocation must also move: a directory
// of 300 entries (its $INDEX_ALLOCATION and $BITMAP), a named stream
// (ntfscp -N), a sparse file, and fragmented files (fill, delete every
// other file, fill). It steers libntfs-3g there by filling the free space
// before tailAt with a zero file first, through an ntfs-3g mount, and
// deleting it last.
func relRichVolume(t *testing.T, sector, cluster int, tailAt int64) relContent {
	t.Helper()
	testutil.NeedTool(t, "ntfs-3g", "fusermount", "ntfscp")
	testutil.NeedRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if testutil.ToolsRequired() {
			t.Fatal("no /dev/fuse")
		}
		t.Skip("no /dev/fuse")
	}
	c := relIssueFiles(t, sector, cluster, false)
	v := openImage(t, c.img)
	cs := v.ClusterSize()
	used, err := v.relUsed()
	if err != nil {
		t.Fatal(err)
	}
	// Free clusters from the end of the MFT zone (the first eighth) to
	// tailAt: libntfs-3g allocates upward from there.
	var fill int64
	for _, gp := range relGaps(used, tailAt/cs) {
		fill += max(0, gp.lcn+gp.n-max(gp.lcn, v.TotalClusters()/8))
	}
	rng := rand.New(rand.NewPCG(uint64(cluster), 7))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mount := func(fn func()) {
		testutil.Run(t, "ntfs-3g", c.img, mnt)
		defer unmountFUSE(t, c.img, mnt)
		fn()
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		c.files[name] = sha(b)
	}
	mount(func() {
		f, err := os.Create(filepath.Join(mnt, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		zero := make([]byte, 1<<20)
		for n := fill * cs; n > 0; n -= int64(len(zero)) {
			if _, err := f.Write(zero[:min(n, int64(len(zero)))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(mnt, "late"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			write(fmt.Sprintf("late/a-rather-long-file-name-to-fill-index-blocks-%03d.txt", i), rnd(rng.IntN(3000)+1))
		}
		write("late/tail.bin", rnd(3<<20))
		// Sparse: 12 pieces of 3 clusters, 64 clusters apart.
		sp, err := os.Create(filepath.Join(mnt, "late/sparse.bin"))
		if err != nil {
			t.Fatal(err)
		}
		img := make([]byte, 12*64*int(cs))
		for i := 0; i < 12; i++ {
			piece := rnd(3 * int(cs))
			copy(img[i*64*int(cs):], piece)
			if _, err := sp.WriteAt(piece, int64(i*64)*cs); err != nil {
				t.Fatal(err)
			}
		}
		if err := sp.Truncate(int64(len(img))); err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		c.files["late/sparse.bin"] = sha(img)
		// Fragmented: 120 files of 5 clusters, every other deleted, then
		// 30 files of 11 clusters that fill the holes in pieces.
		for i := 0; i < 120; i++ {
			write(fmt.Sprintf("late/frag-a%03d", i), rnd(5*int(cs)))
		}
		for i := 0; i < 120; i += 2 {
			name := fmt.Sprintf("late/frag-a%03d", i)
			if err := os.Remove(filepath.Join(mnt, name)); err != nil {
				t.Fatal(err)
			}
			delete(c.files, name)
		}
		for i := 0; i < 30; i++ {
			write(fmt.Sprintf("late/frag-b%03d", i), rnd(11*int(cs)))
		}
	})
	ads := rnd(40_000)
	src := filepath.Join(t.TempDir(), "ads")
	if err := os.WriteFile(src, ads, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfscp", "-N", "ads", c.img, src, "/late/tail.bin")
	c.files["late/tail.bin:ads"] = sha(ads)
	// A file under $Extend, where Windows keeps $UsnJrnl:$J and the
	// transaction logs: its data moves like any other file's. (ntfs-3g
	// refuses to create files there through a mount, and ntfscp puts it
	// before the end so far: it is only checked to survive.)
	meta := rnd(200_000)
	if err := os.WriteFile(src, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfscp", c.img, src, "/$Extend/tail-meta.bin")
	c.files["$Extend/tail-meta.bin"] = sha(meta)
	mount(func() {
		if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
			t.Fatal(err)
		}
	})
	// The image holds the filler's zeros as written blocks: make it sparse.
	if _, err := exec.LookPath("fallocate"); err == nil {
		testutil.Run(t, "fallocate", "--dig-holes", c.img)
	}
	return c
}

// TestRelocateRichVolumes shrinks a volume whose tail holds a directory
// index and fragmented files (fill, delete every other file, fill), with
// a named stream and a sparse file on the volume, and checks that those
// past the end moved and every file reads back.
func TestRelocateRichVolumes(t *testing.T) {
	const newBytes = 600 << 20
	// One geometry: the zero filler costs a 500 MiB write through FUSE.
	for _, g := range [][2]int{{512, 4096}} {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c := relRichVolume(t, g[0], g[1], newBytes+(1<<20))
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			// libntfs-3g does not always follow the filler: the named
			// stream and the sparse file may land before the end (then
			// they are only checked to survive); the directory index and
			// the fragmented files must be past it.
			lists := 0
			for _, want := range []struct {
				path     string
				typ      AttrType
				name     string
				required bool
			}{
				{`\late`, AttrIndexAllocation, "$I30", true},
				{`\late\tail.bin`, AttrData, "ads", false},
				{`\late\sparse.bin`, AttrData, "", false},
				{`\late\frag-b010`, AttrData, "", true},
				{`\$Extend\tail-meta.bin`, AttrData, "", false},
			} {
				f := mustLookup(t, v, want.path)
				rec, err := v.ReadRecord(f.Record)
				if err != nil {
					t.Fatal(err)
				}
				ext, err := v.attrExtents(rec, want.typ, want.name)
				if err != nil || len(ext) == 0 || !ext[0].NonResident {
					t.Fatalf("%s: no non-resident %v %q: %v", want.path, want.typ, want.name, err)
				}
				var past bool
				for _, a := range ext {
					for _, r := range a.Runs {
						past = past || (!r.Sparse && r.LCN+r.Length > end)
					}
				}
				if rec.Find(AttrAttributeList, "") != nil {
					lists++
					t.Logf("%s has an $ATTRIBUTE_LIST; %v in %d extents, past the end: %v", want.path, want.typ, len(ext), past)
				}
				if !past && !want.required {
					t.Logf("%s %v is not past the end, not covered here", want.path, want.typ)
				} else if !past {
					t.Errorf("%s %v: runs %v, none past cluster %d: the test does not cover it", want.path, want.typ, ext[0].Runs, end)
				}
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
			relOracles(t, c, ours, newBytes, g[0])
			// Holes stay holes.
			after := openImage(t, ours)
			f := mustLookup(t, after, `\late\sparse.bin`)
			rec, err := after.ReadRecord(f.Record)
			if err != nil {
				t.Fatal(err)
			}
			var holes int
			for _, r := range rec.Find(AttrData, "").Runs {
				if r.Sparse {
					holes++
				}
			}
			if holes < 11 {
				t.Errorf("sparse.bin has %d holes after relocation, want 11 or more", holes)
			}
			testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
		})
	}
}

// TestRelocateRefusals checks the typed refusals. Asked below the space
// in use, the error is ErrNoSpace with a MinBytes at which a relocating
// shrink succeeds (and a cluster less fails). A file past the end marked
// encrypted (its flag set here by hand: no tool here writes EFS files)
// is refused by name with ErrUnmovable, and MinBytes keeps it whole.
func TestRelocateRefusals(t *testing.T) {
	c := relIssueVolume(t, 512, 4096)
	v := openImage(t, c.img)
	opts := DefaultResizeOptions()
	opts.Relocate = true
	_, err := v.PlanShrinkRelocating(20<<20, opts)
	var re *RelocateError
	if !errors.As(err, &re) || !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrTailInUse) {
		t.Fatalf("shrink to 20 MiB: %v, want a *RelocateError (ErrNoSpace)", err)
	}
	t.Log(err)
	if re.MinBytes <= 20<<20 || re.MinBytes >= 200<<20 {
		t.Fatalf("MinBytes %d", re.MinBytes)
	}
	if _, err := v.PlanShrinkRelocating(re.MinBytes, opts); err != nil {
		t.Errorf("shrink to MinBytes %d: %v", re.MinBytes, err)
	}
	if _, err := v.PlanShrinkRelocating(re.MinBytes-v.ClusterSize(), opts); !errors.Is(err, ErrTailInUse) {
		t.Errorf("shrink to MinBytes less a cluster: %v, want a refusal", err)
	}
	// Without Relocate: the old refusal.
	_, err = v.PlanShrinkRelocating(600<<20, DefaultResizeOptions())
	var se *ShrinkError
	if !errors.As(err, &se) {
		t.Errorf("without Relocate: %v, want a *ShrinkError", err)
	}

	// A small file past the new end, the lowest such by name.
	end := int64(600<<20) / v.ClusterSize()
	var name string
	var off, last int64
	var a *Attribute
	for i := 1; i <= 300 && name == ""; i++ {
		p := fmt.Sprintf(`\d\f%d.txt`, i)
		o, at := attrOffset(t, v, mustLookup(t, v, p).Record, AttrData, "")
		for _, r := range at.Runs {
			if at.NonResident && !r.Sparse && r.LCN+r.Length > end {
				name, off, a, last = p, o, at, r.LCN+r.Length
			}
		}
	}
	if name == "" {
		t.Fatal("no file of d has data past 600 MiB")
	}
	want := strings.ReplaceAll(name, `\`, "/")
	img, err := os.OpenFile(c.img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := img.WriteAt(le.AppendUint16(nil, uint16(a.Flags|AttrFlagEncrypted)), off+0x0C); err != nil {
		t.Fatal(err)
	}
	v = openImage(t, c.img)
	_, err = v.PlanShrinkRelocating(600<<20, opts)
	if !errors.As(err, &re) || !errors.Is(err, ErrUnmovable) || len(re.Files) != 1 || re.Files[0].Path != want || re.Files[0].Reason != "encrypted" {
		t.Fatalf("shrink past an encrypted file: %v, want ErrUnmovable naming %s", err, want)
	}
	t.Log(err)
	if re.MinBytes <= last*v.ClusterSize() {
		t.Errorf("MinBytes %d cuts the encrypted file (its last cluster ends at byte %d)", re.MinBytes, last*v.ClusterSize())
	}
	if _, err := v.PlanShrinkRelocating(re.MinBytes, opts); err != nil {
		t.Errorf("shrink to MinBytes %d: %v", re.MinBytes, err)
	}
}
