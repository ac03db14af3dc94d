package ntfs

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// relAttrTypes are the attribute types TestRelocateEAAndReparse puts
// past the end, non-resident: each file gets one, set through ntfs-3g's
// raw xattrs (system.ntfs_ea, system.ntfs_reparse_data).
var relAttrTypes = []struct {
	file string
	typ  AttrType
}{{"attrs/ea.bin", AttrEA}, {"attrs/reparse.bin", AttrReparsePoint}}

// relEA is one extended attribute entry of n value bytes, as $EA holds
// it: next offset (padded to 4 bytes), flags, name length, value length,
// the name with its NUL, the value.
func relEA(name string, n int) []byte {
	l := (8 + len(name) + 1 + n + 3) &^ 3
	b := make([]byte, l)
	binary.LittleEndian.PutUint32(b, uint32(l))
	b[5] = byte(len(name))
	binary.LittleEndian.PutUint16(b[6:], uint16(n))
	copy(b[8:], name)
	for i := 0; i < n; i++ {
		b[8+len(name)+1+i] = byte(i*7 + 3)
	}
	return b
}

// relReparse is reparse data of a third-party tag (no Microsoft bit, so
// with a GUID) and n data bytes.
func relReparse(n int) []byte {
	b := make([]byte, 24+n)
	binary.LittleEndian.PutUint32(b, 0x00000099)
	binary.LittleEndian.PutUint16(b[4:], uint16(n))
	for i := 0; i < 16; i++ {
		b[8+i] = byte(0xA0 + i)
	}
	for i := 0; i < n; i++ {
		b[24+i] = byte(i*13 + 1)
	}
	return b
}

// TestRelocateEAAndReparse moves a non-resident $EA and a non-resident
// $REPARSE_POINT out of the tail: The Sleuth Kit reads both attributes
// (icat inode-type) with the same SHA-256 after our shrink as before, and
// after ntfsresize's shrink of a copy, and the other oracles accept the
// volume.
func TestRelocateEAAndReparse(t *testing.T) {
	relNeedFUSE(t)
	testutil.NeedTool(t, "icat")
	const newBytes = 64 << 20
	c := relContent{img: mkntfs(t, 96<<20, 512, 4096, "attrs"), files: map[string]string{}}
	relSteer(t, c.img, "", newBytes+(1<<20), func(mnt string) {
		if err := os.Mkdir(filepath.Join(mnt, "attrs"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range relAttrTypes {
			b := []byte("the file's own data: " + f.file)
			if err := os.WriteFile(filepath.Join(mnt, f.file), b, 0o644); err != nil {
				t.Fatal(err)
			}
			c.files[f.file] = sha(b)
		}
		if err := syscall.Setxattr(filepath.Join(mnt, relAttrTypes[0].file), "system.ntfs_ea", relEA("WINREPART", 6000), 0); err != nil {
			t.Fatalf("setting $EA: %v", err)
		}
		if err := syscall.Setxattr(filepath.Join(mnt, relAttrTypes[1].file), "system.ntfs_reparse_data", relReparse(6000), 0); err != nil {
			t.Fatalf("setting $REPARSE_POINT: %v", err)
		}
	})
	v := openImage(t, c.img)
	end := (newBytes/512 - 1) * 512 / v.ClusterSize()
	attrSum := func(img string, rec uint64, typ AttrType) string {
		return sha(stdout(t, "icat", img, fmt.Sprintf("%d-%d", rec, uint32(typ))))
	}
	want := map[string]string{}
	recs := map[string]uint64{}
	for _, f := range relAttrTypes {
		n := mustLookup(t, v, `\`+filepath.FromSlash(f.file)).Record
		rec, err := v.ReadRecord(n)
		if err != nil {
			t.Fatal(err)
		}
		a := rec.Find(f.typ, "")
		if a == nil || !a.NonResident {
			t.Fatalf("%s: no non-resident %v", f.file, f.typ)
		}
		past := false
		for _, r := range a.Runs {
			past = past || (!r.Sparse && r.LCN+r.Length > end)
		}
		if !past {
			t.Fatalf("%s: %v runs %v, none past cluster %d: the test does not cover it", f.file, f.typ, a.Runs, end)
		}
		recs[f.file] = n
		want[f.file] = attrSum(c.img, n, f.typ)
	}
	theirs := rsCopy(t, c.img)
	ours := rsCopy(t, c.img)
	p := relShrinkImage(t, ours, newBytes)
	t.Logf("moved %d bytes of %d files in %d copies, %d writes", p.MovedBytes, p.MovedFiles, len(p.Copies), len(p.Writes))
	relOracles(t, c, ours, newBytes, 512)
	testutil.Run(t, "ntfsresize", "-f", "-f", "--no-progress-bar", "-s", strconv.Itoa(newBytes), theirs)
	if err := os.Truncate(theirs, newBytes); err != nil {
		t.Fatal(err)
	}
	relOracles(t, c, theirs, newBytes, 512)
	for _, f := range relAttrTypes {
		for _, img := range []string{ours, theirs} {
			if got := attrSum(img, recs[f.file], f.typ); got != want[f.file] {
				t.Errorf("%s of %s after the shrink of %s: sha256 %s, want %s", f.typ, f.file, filepath.Base(img), got, want[f.file])
			}
		}
	}
	after := openImage(t, ours)
	for _, f := range relAttrTypes {
		rec, err := after.ReadRecord(recs[f.file])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rec.Find(f.typ, "").Runs {
			if !r.Sparse && r.LCN+r.Length > end {
				t.Errorf("%s: %v run %v still past the end", f.file, f.typ, r)
			}
		}
	}
}
