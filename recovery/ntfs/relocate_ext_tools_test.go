package ntfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

// relNeedFUSE skips (or fails, when tools are required) a test that
// mounts images with ntfs-3g where it cannot.
func relNeedFUSE(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "ntfs-3g", "fusermount")
	testutil.NeedRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if testutil.ToolsRequired() {
			t.Fatal("no /dev/fuse")
		}
		t.Skip("no /dev/fuse")
	}
}

// relMount mounts img with ntfs-3g (and options, "" for none) for the
// duration of fn.
func relMount(t *testing.T, img, options string, fn func(mnt string)) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{img, mnt}
	if options != "" {
		args = append([]string{"-o", options}, args...)
	}
	testutil.Run(t, "ntfs-3g", args...)
	defer unmountFUSE(t, img, mnt)
	fn(mnt)
}

// relSteer makes libntfs-3g put what is written next on img past byte
// tailAt: it fills the free clusters outside the MFT zone (the first
// eighth) with zero files of 256 KiB in /filler, through an ntfs-3g
// mount, then deletes those with clusters past tailAt. Each of fns then
// writes through a fresh mount (options as for relMount) where only the
// tail is free, and the rest of /filler is deleted after the last. This is relRichVolume's
// filler, made independent of where libntfs-3g starts allocating (on a
// small volume with 4 KiB clusters it starts after $LogFile, mid-volume,
// and a single filler file would take the tail first).
func relSteer(t *testing.T, img, options string, tailAt int64, fns ...func(mnt string)) {
	t.Helper()
	v := openImage(t, img)
	cs := v.ClusterSize()
	used, err := v.relUsed()
	if err != nil {
		t.Fatal(err)
	}
	var fill int64
	for _, gp := range relGaps(used, v.TotalClusters()) {
		fill += max(0, gp.lcn+gp.n-max(gp.lcn, v.TotalClusters()/8))
	}
	const piece = 256 << 10
	var names []string
	relMount(t, img, "", func(mnt string) {
		if err := os.Mkdir(filepath.Join(mnt, "filler"), 0o755); err != nil {
			t.Fatal(err)
		}
		zero := make([]byte, piece)
		for n := fill * cs; n > 0; n -= piece {
			name := fmt.Sprintf("filler/%04d", len(names))
			if err := os.WriteFile(filepath.Join(mnt, name), zero[:min(n, piece)], 0o644); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
	})
	v = openImage(t, img)
	var keep, drop []string
	for _, name := range names {
		f := mustLookup(t, v, `\`+strings.ReplaceAll(name, "/", `\`))
		past := false
		for _, r := range f.Runs {
			past = past || (!r.Sparse && (r.LCN+r.Length)*cs > tailAt)
		}
		if past {
			drop = append(drop, name)
		} else {
			keep = append(keep, name)
		}
	}
	remove := func(mnt string, names []string) {
		for _, name := range names {
			if err := os.Remove(filepath.Join(mnt, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, fn := range fns {
		relMount(t, img, options, func(mnt string) {
			if i == 0 {
				remove(mnt, drop)
			}
			fn(mnt)
			if i == len(fns)-1 {
				remove(mnt, keep)
			}
		})
	}
	relDigHoles(t, img)
}

// relDigHoles makes the zeros the filler left in the image sparse.
func relDigHoles(t *testing.T, img string) {
	t.Helper()
	if _, err := exec.LookPath("fallocate"); err == nil {
		testutil.Run(t, "fallocate", "--dig-holes", img)
	}
}

// relMountRead mounts img with ntfs-3g, read-only, and checks the SHA-256
// of the files named (paths as in c.files).
func relMountRead(t *testing.T, c relContent, img string, paths []string) {
	t.Helper()
	relMount(t, img, "ro", func(mnt string) {
		for _, p := range paths {
			b, err := os.ReadFile(filepath.Join(mnt, p))
			if err != nil {
				t.Errorf("ntfs-3g: %v", err)
				continue
			}
			if got := sha(b); got != c.files[p] {
				t.Errorf("ntfs-3g reads %s: sha256 %s, want %s", p, got, c.files[p])
			}
		}
	})
}

// relExtentID is where an attribute extent lives and what its header
// says, all of which a relocation must keep: the list entry (record,
// instance, lowest VCN), the VCN range, the sizes, the flags and the
// compression unit, and the VCNs of its holes.
type relExtentID struct {
	Record                        uint64
	Instance                      uint16
	LowestVCN, HighestVCN         int64
	Alloc, Data, Init, Compressed int64
	Flags                         uint16
	CU                            uint8
	Holes                         [][2]int64 // [first VCN, count]
}

// relLayout returns the extents of path's attribute typ (name ""), and
// whether any of their clusters lie at or past cluster end. Extents are
// found through the $ATTRIBUTE_LIST when the file has one.
func relLayout(t *testing.T, v *Volume, path string, typ AttrType, end int64) (ids []relExtentID, past bool) {
	t.Helper()
	f := mustLookup(t, v, path)
	base, err := v.ReadRecord(f.Record)
	if err != nil {
		t.Fatal(err)
	}
	type ref struct {
		rec  uint64
		inst uint16
	}
	var refs []ref
	if list := base.Find(AttrAttributeList, ""); list != nil {
		entries, err := v.attributeList(base, list)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type == typ && e.Name == "" {
				refs = append(refs, ref{e.Ref.Record(), e.Instance})
			}
		}
	} else if a := base.Find(typ, ""); a != nil {
		refs = append(refs, ref{base.Number, a.Instance})
	}
	for _, r := range refs {
		rec, err := v.ReadRecord(r.rec)
		if err != nil {
			t.Fatal(err)
		}
		var a *Attribute
		for i := range rec.Attributes {
			if x := &rec.Attributes[i]; x.Type == typ && x.Name == "" && x.Instance == r.inst {
				a = x
			}
		}
		if a == nil || !a.NonResident {
			t.Fatalf("%s: record %d lacks a non-resident %v instance %d", path, r.rec, typ, r.inst)
		}
		id := relExtentID{Record: r.rec, Instance: a.Instance, LowestVCN: a.LowestVCN, HighestVCN: a.HighestVCN,
			Alloc: a.AllocatedSize, Data: a.DataSize, Init: a.InitializedSize, Compressed: a.CompressedSize,
			Flags: a.Flags, CU: a.CompressionUnit}
		for _, run := range mergeRuns(a.Runs) {
			if run.Sparse {
				id.Holes = append(id.Holes, [2]int64{run.VCN, run.Length})
			} else if run.LCN+run.Length > end {
				past = true
			}
		}
		ids = append(ids, id)
	}
	return ids, past
}

// relCompressedUnitsPast counts the compression units of a compressed
// attribute's extents that are compressed (some data clusters, then
// holes) and whose data lies at or past cluster end.
func relCompressedUnitsPast(t *testing.T, v *Volume, path string, end int64) int {
	t.Helper()
	f := mustLookup(t, v, path)
	base, err := v.ReadRecord(f.Record)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := v.attrExtents(base, AttrData, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range ext {
		cu := int64(1) << a.CompressionUnit
		lcns := relVCNs(a.Runs)
		for u := int64(0); u+cu <= int64(len(lcns)); u += cu {
			unit := lcns[u : u+cu]
			if unit[0] >= end && unit[cu-1] == -1 {
				n++
			}
		}
	}
	return n
}

// relUnitLCNs returns, per compression unit of path's $DATA (by first
// VCN), the LCNs of its data clusters.
func relUnitLCNs(t *testing.T, v *Volume, path string) map[int64][]int64 {
	t.Helper()
	f := mustLookup(t, v, path)
	base, err := v.ReadRecord(f.Record)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := v.attrExtents(base, AttrData, "")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int64][]int64{}
	for _, a := range ext {
		cu := int64(1) << a.CompressionUnit
		for i, lcn := range relVCNs(a.Runs) {
			if vcn := a.LowestVCN + int64(i); lcn >= 0 {
				m[vcn/cu*cu] = append(m[vcn/cu*cu], lcn)
			}
		}
	}
	return m
}

// relContiguous reports whether lcns are consecutive.
func relContiguous(lcns []int64) bool {
	for i := 1; i < len(lcns); i++ {
		if lcns[i] != lcns[i-1]+1 {
			return false
		}
	}
	return true
}

// relCompressible returns n bytes in 4 KiB blocks that are, at random,
// text (compresses well), random bytes (does not compress) or zeros.
func relCompressible(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for off := 0; off < n; off += 4096 {
		blk := b[off:min(n, off+4096)]
		switch rng.IntN(3) {
		case 0:
			line := fmt.Sprintf("line %d of a compressible text block %08x; ", off, rng.Uint32())
			for i := range blk {
				blk[i] = line[i%len(line)]
			}
		case 1:
			for i := range blk {
				blk[i] = byte(rng.Uint32())
			}
		}
	}
	return b
}

// relCompressedVolume builds a volume of 96 MiB whose clusters past
// tailAt hold compressed files, written through an ntfs-3g mount
// (-o compression) into /c, a directory with the compression flag set:
// 24 files of up to 300 KiB and /c/big.bin of 3 MiB, with blocks of
// text, random bytes and zeros (so compressed, uncompressed and all-zero
// units), and /c/holes.bin, written with a hole of 256 KiB. Its paths
// are returned with it.
func relCompressedVolume(t *testing.T, sector, cluster int, tailAt int64) (relContent, []string) {
	t.Helper()
	relNeedFUSE(t)
	c := relContent{img: mkntfs(t, 96<<20, sector, cluster, "comp"), files: map[string]string{}}
	rng := rand.New(rand.NewPCG(uint64(sector), uint64(cluster)))
	var paths []string
	relSteer(t, c.img, "compression", tailAt, func(mnt string) {
		dir := filepath.Join(mnt, "c")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		relSetCompressed(t, dir)
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			c.files[name] = sha(b)
			paths = append(paths, name)
		}
		for i := 0; i < 24; i++ {
			write(fmt.Sprintf("c/f%02d.bin", i), relCompressible(rng, rng.IntN(300<<10)+5000))
		}
		write("c/big.bin", relCompressible(rng, 3<<20))
		h, err := os.Create(filepath.Join(dir, "holes.bin"))
		if err != nil {
			t.Fatal(err)
		}
		b := relCompressible(rng, 1<<20)
		clear(b[300<<10 : 556<<10])
		if _, err := h.WriteAt(b[:300<<10], 0); err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(b[556<<10:], 556<<10); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		c.files["c/holes.bin"] = sha(b)
		paths = append(paths, "c/holes.bin")
	})
	return c, paths
}

// TestRelocateCompressed shrinks volumes whose tail holds compressed
// files, on every cluster size NTFS compresses with (512 bytes to 4 KiB,
// and 4096-byte sectors), and checks: each compressed attribute is still
// compressed, in the same records, with the same header and holes in the
// same VCNs, and nothing is left past the end; ntfsresize, ntfsfix,
// ntfsinfo and The Sleuth Kit accept the volume and read every file;
// ntfs-3g mounts it and reads the compressed files back. ntfsresize
// makes the same shrink on a copy, judged the same way.
func TestRelocateCompressed(t *testing.T) {
	const newBytes = 64 << 20
	for _, g := range [][2]int{{512, 512}, {512, 1024}, {512, 2048}, {512, 4096}, {4096, 4096}} {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c, paths := relCompressedVolume(t, g[0], g[1], newBytes+(1<<20))
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			before := map[string][]relExtentID{}
			var pastFiles, units, lists int
			for _, p := range paths {
				ids, past := relLayout(t, v, `\`+strings.ReplaceAll(p, "/", `\`), AttrData, end)
				if ids[0].Flags&AttrFlagCompressed == 0 || ids[0].CU != 4 {
					t.Fatalf("%s is not compressed: flags %#x, unit %d", p, ids[0].Flags, ids[0].CU)
				}
				before[p] = ids
				if past {
					pastFiles++
					units += relCompressedUnitsPast(t, v, `\`+strings.ReplaceAll(p, "/", `\`), end)
				}
				if len(ids) > 1 {
					lists++
				}
			}
			t.Logf("%d of %d compressed files past cluster %d, %d compressed units there; %d files in several extents", pastFiles, len(paths), end, units, lists)
			if pastFiles < len(paths)/2 || units == 0 {
				t.Fatal("too few compressed units past the end: the volume does not test their relocation")
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
			if p.MovedFiles < pastFiles {
				t.Errorf("moved %d files, want %d or more", p.MovedFiles, pastFiles)
			}
			relOracles(t, c, ours, newBytes, g[0])
			after := openImage(t, ours)
			for _, p := range paths {
				ids, past := relLayout(t, after, `\`+strings.ReplaceAll(p, "/", `\`), AttrData, end)
				if past {
					t.Errorf("%s: clusters still past the end", p)
				}
				if d := cmp.Diff(before[p], ids); d != "" {
					t.Errorf("%s: extents changed (-before +after):\n%s", p, d)
				}
				// The free space before the end is one region: every unit
				// moved whole stays in one piece.
				path := `\` + strings.ReplaceAll(p, "/", `\`)
				was, now := relUnitLCNs(t, v, path), relUnitLCNs(t, after, path)
				for vcn, lcns := range was {
					if lcns[0] >= end && relContiguous(lcns) && !relContiguous(now[vcn]) {
						t.Errorf("%s: the unit at VCN %d, clusters %v, is split: %v", p, vcn, lcns, now[vcn])
					}
				}
			}
			relMountRead(t, c, ours, paths)
			out, err := testutil.RunErr("ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err != nil {
				t.Fatalf("ntfsresize: %v\n%s", err, out)
			}
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
			relMountRead(t, c, theirs, paths)
		})
	}
}

// relFragmentedVolume builds a volume whose tail (past tailAt)
// holds /frag/big.bin, a file in thousands of fragments whose $DATA
// libntfs-3g spills into extension records. Through ntfs-3g mounts: 2000
// pairs of 2-cluster files go to the tail, /frag/rest takes the rest of
// its free space, one file of each pair is deleted, and big.bin, written
// on a fresh mount, can only fill the holes they leave.
func relFragmentedVolume(t *testing.T, sector, cluster int, tailAt int64) relContent {
	t.Helper()
	relNeedFUSE(t)
	const pairs = 2000            // their MFT records must fit the MFT zone (an eighth of the volume)
	small := max(2*cluster, 1000) // a file of less is resident
	// A tail just large enough for the pairs: the space freed before it
	// then has a hole that holds the whole tail, which relPlace fills in
	// order, so no run delta grows (see TestRelocateExtensionRecords).
	c := relContent{img: mkntfs(t, tailAt+int64(2*pairs*small)+(2<<20), sector, cluster, "frag"), files: map[string]string{}}
	rng := rand.New(rand.NewPCG(uint64(sector), uint64(cluster)))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	write := func(mnt, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		c.files[name] = sha(b)
	}
	sampled := func(i int) bool { return i%50 == 1 } // the small files the judges read
	relSteer(t, c.img, "", tailAt, func(mnt string) {
		// In 50 directories: one of 5000 entries would spill its
		// records' attributes too (libntfs-3g makes its
		// $SECURITY_DESCRIPTOR non-resident, which does not move).
		for d := 0; d < 50; d++ {
			if err := os.MkdirAll(filepath.Join(mnt, fmt.Sprintf("frag/d%02d", d)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 2*pairs; i++ {
			write(mnt, relSmallName(i), rnd(small))
			if !sampled(i) {
				delete(c.files, relSmallName(i))
			}
		}
	}, func(mnt string) {
		// The free clusters of the data zone are those left in the tail.
		v := openImage(t, c.img)
		used, err := v.relUsed()
		if err != nil {
			t.Fatal(err)
		}
		var free int64
		for _, gp := range relGaps(used, v.TotalClusters()) {
			free += max(0, gp.lcn+gp.n-max(gp.lcn, v.TotalClusters()/8))
		}
		// Every other file in the order of their clusters (libntfs-3g
		// does not place them in the order they were written).
		byLCN := make([]int, 2*pairs)
		lcn := make([]int64, 2*pairs)
		for i := range byLCN {
			byLCN[i] = i
			f := mustLookup(t, v, `\`+strings.ReplaceAll(relSmallName(i), "/", `\`))
			if len(f.Runs) == 0 || f.Runs[0].Sparse {
				t.Fatalf("%s: runs %v", relSmallName(i), f.Runs)
			}
			lcn[i] = f.Runs[0].LCN
		}
		sort.Slice(byLCN, func(a, b int) bool { return lcn[byLCN[a]] < lcn[byLCN[b]] })
		write(mnt, "frag/rest", rnd(int(free*v.ClusterSize()*9/10))) // libntfs-3g keeps some room
		for k := 0; k < 2*pairs; k += 2 {
			name := relSmallName(byLCN[k])
			if err := os.Remove(filepath.Join(mnt, name)); err != nil {
				t.Fatal(err)
			}
			delete(c.files, name)
		}
	}, func(mnt string) {
		// A fresh mount allocates from the start of the data zone, where
		// the filler holds everything but the holes.
		// A little less than the holes: libntfs-3g keeps some room.
		write(mnt, "frag/big.bin", rnd(pairs*small*9/10))
	})
	return c
}

// relSmallName is the path of the i-th small file of relFragmentedVolume.
func relSmallName(i int) string { return fmt.Sprintf("frag/d%02d/s%04d", i/100, i) }

// TestRelocateExtensionRecords shrinks a volume whose tail holds a file
// whose $DATA extents lie in extension records (and many small files
// and the indexes of their directories) with 1 KiB clusters,
// and checks that every extent moved within its own record, keeping its
// VCN range, header and instance, so the $ATTRIBUTE_LIST is unchanged;
// that ntfsresize, ntfsfix, ntfsinfo, The Sleuth Kit and ntfs-3g read
// every file; and that ntfsresize's own shrink of a copy passes the same
// judges.
func TestRelocateExtensionRecords(t *testing.T) {
	const newBytes = 32 << 20
	// 512-byte clusters: libntfs-3g runs out of space writing big.bin
	// (its MFT outgrows the zone), so 1 KiB clusters only.
	for _, g := range [][2]int{{512, 1024}} {
		t.Run(fmt.Sprintf("%d-%d", g[0], g[1]), func(t *testing.T) {
			t.Parallel()
			c := relFragmentedVolume(t, g[0], g[1], newBytes+(1<<20))
			v := openImage(t, c.img)
			end := (newBytes/int64(g[0]) - 1) * int64(g[0]) / v.ClusterSize()
			const path = `\frag\big.bin`
			ids, _ := relLayout(t, v, path, AttrData, end)
			f := mustLookup(t, v, path)
			var inExt, pastExt int
			for _, id := range ids {
				if id.Record == f.Record {
					continue
				}
				inExt++
				rec, err := v.ReadRecord(id.Record)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range rec.Attributes {
					if a.Type == AttrData && a.Instance == id.Instance && a.LowestVCN != 0 && relRunsPast(a.Runs, end) {
						pastExt++
						break
					}
				}
			}
			t.Logf("big.bin: %d runs in %d extents, %d in extension records, %d of them with clusters past cluster %d",
				len(f.Runs), len(ids), inExt, pastExt, end)
			if list, _, _ := relListedPast(t, v, path, end); !list || pastExt == 0 {
				t.Fatal("big.bin has no $DATA extent in an extension record past the end: the volume does not test their relocation")
			}
			theirs := rsCopy(t, c.img)
			ours := rsCopy(t, c.img)
			p := relShrinkImage(t, ours, newBytes)
			t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
			relOracles(t, c, ours, newBytes, g[0])
			after := openImage(t, ours)
			got, past := relLayout(t, after, path, AttrData, end)
			if past {
				t.Error("big.bin: clusters still past the end")
			}
			if d := cmp.Diff(ids, got); d != "" {
				t.Errorf("big.bin extents changed (-before +after):\n%s", d)
			}
			relMountRead(t, c, ours, []string{"frag/big.bin", "frag/rest", "frag/rest"})
			out, err := testutil.RunErr("ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
			if err != nil {
				t.Fatalf("ntfsresize: %v\n%s", err, out)
			}
			if err := os.Truncate(theirs, newBytes); err != nil {
				t.Fatal(err)
			}
			relOracles(t, c, theirs, newBytes, g[0])
			relMountRead(t, c, theirs, []string{"frag/big.bin"})
		})
	}
}

// relRunsPast reports whether any data cluster of runs lies at or past
// cluster end.
func relRunsPast(runs []Run, end int64) bool {
	for _, r := range runs {
		if !r.Sparse && r.LCN+r.Length > end {
			return true
		}
	}
	return false
}
