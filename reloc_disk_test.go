package winrepart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// writeTailFiles writes n small files (1 to 6 KiB of deterministic bytes)
// under Users/user/tail of the directory tree and records their SHA-256
// in sums by their path on the volume ("/Users/...").
func writeTailFiles(t *testing.T, tree string, n int, sums map[string]string) {
	t.Helper()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("Users/user/tail/d%03d/f%06d.bin", i/1000, i)
		data := detBytes(int64(1000+i), 1024+int(uint32(i)*2654435761%(5*1024)))
		p := filepath.Join(tree, filepath.FromSlash(name))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sums["/"+name] = sha(data)
	}
}

// ntfsVolumeBehindFiller formats an NTFS volume image as ntfsVolume does,
// but first gives a file /filler fillerBytes of clusters (ntfsfallocate),
// applies the tree with wimlib behind it, then truncates the filler to
// nothing (ntfstruncate): libntfs-3g allocates upward, so the tree's data
// lands past the freed space, in the volume's tail, as it does on a used
// C:. Everything goes through libntfs-3g on the unmounted image.
func ntfsVolumeBehindFiller(t *testing.T, size int64, startLBA int, label, tree string, fillerBytes int64) string {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "ntfscp", "ntfsfallocate", "ntfstruncate", "ntfsls", "wimlib-imagex")
	vol := mkntfsVolume(t, size, startLBA, label)
	empty := emptyFile(t)
	testutil.Run(t, "ntfscp", "-f", vol, empty, "/filler")
	testutil.Run(t, "ntfsfallocate", "-f", "-l", fmt.Sprint(fillerBytes), vol, "/filler")
	applyTree(t, tree, vol)
	inode := ""
	for _, line := range strings.Split(testutil.Run(t, "ntfsls", "-i", "-f", vol), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "filler" {
			inode = f[0]
		}
	}
	if inode == "" {
		t.Fatal("ntfsls does not list /filler after the wimlib apply")
	}
	testutil.Run(t, "ntfstruncate", "-f", vol, inode, "0")
	return vol
}

// emptyFile returns the path of an empty file, for ntfscp to create files
// with.
func emptyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ntfsVolumeMFTInTail formats an NTFS volume image as
// ntfsVolumeBehindFiller does, but with fillers of 4 MiB (ntfsfallocate)
// over every free cluster, of which only those wholly past freeFrom bytes
// are truncated before the tree is applied: the only free space is then
// the tail, and libntfs-3g grows $MFT and its $BITMAP there along with
// the tree's files. The other fillers are truncated last. (A filler that
// also holds clusters before freeFrom stays: libntfs-3g wraps into its
// MFT zone once the rest is full, and freeing it would give $MFT room
// before the tail.)
func ntfsVolumeMFTInTail(t *testing.T, size int64, startLBA int, label, tree string, freeFrom int64) string {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "ntfscp", "ntfsfallocate", "ntfstruncate", "wimlib-imagex")
	vol := mkntfsVolume(t, size, startLBA, label)
	empty := emptyFile(t)
	open := func() *ntfs.Volume {
		f, size := testutil.OpenSized(t, vol)
		v, err := ntfs.Open(f, size)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var fillers []string
	for {
		u, err := open().Usage()
		if err != nil {
			t.Fatal(err)
		}
		if u.FreeClusters == 0 {
			break
		}
		name := fmt.Sprintf("/filler-%03d", len(fillers))
		testutil.Run(t, "ntfscp", "-f", vol, empty, name)
		testutil.Run(t, "ntfsfallocate", "-f", "-l", fmt.Sprint(min(u.FreeClusters*u.ClusterSize, 4*miniMiB)), vol, name)
		fillers = append(fillers, name)
	}
	v := open()
	var tail, rest []uint64
	for _, name := range fillers {
		f, err := v.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := v.ReadRecord(f.Record)
		if err != nil {
			t.Fatal(err)
		}
		past := true
		for _, r := range rec.Find(ntfs.AttrData, "").Runs {
			past = past && (r.Sparse || r.LCN*v.ClusterSize() >= freeFrom)
		}
		if past {
			tail = append(tail, f.Record)
		} else {
			rest = append(rest, f.Record)
		}
	}
	if len(tail) == 0 {
		t.Fatalf("no filler lies wholly past byte %d", freeFrom)
	}
	truncate := func(records []uint64) {
		for _, n := range records {
			testutil.Run(t, "ntfstruncate", "-f", vol, fmt.Sprint(n), "0")
		}
	}
	truncate(tail)
	applyTree(t, tree, vol)
	truncate(rest)
	return vol
}
