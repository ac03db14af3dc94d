package ntfs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

const reAgentXML = `<?xml version='1.0' encoding='utf-8'?>
<WindowsRE version="2.0"><WinreBCD id="{00000000-0000-0000-0000-000000000000}"/><WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{00000000-0000-0000-0000-000000000000}"/><InstallState state="1"/></WindowsRE>
`

// contentTree is what TestContent writes into a fresh volume.
type treeFile struct {
	path string // `\`-separated, from the volume root
	data []byte
}

func contentTree() []treeFile {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := []treeFile{
		{`Windows\System32\Recovery\ReAgent.xml`, []byte(reAgentXML)},
		{`Recovery\WindowsRE\Winre.wim`, blob(3<<20 + 123)},
		{`big.bin`, blob(9<<20 + 7)},
		{`Новая папка\файл.txt`, []byte("привет")},
		{`empty.txt`, nil},
	}
	for i := 0; i < 300; i++ {
		files = append(files, treeFile{fmt.Sprintf(`many\file-%03d.dat`, i), blob(rng.IntN(3000))})
	}
	return files
}

// buildContentVolume formats a volume and applies the content tree with
// wimlib-imagex (capture from a directory, apply to the unmounted volume).
func buildContentVolume(t testing.TB, sector, cluster int) (string, []treeFile) {
	t.Helper()
	testutil.NeedTool(t, "wimlib-imagex")
	img := mkntfs(t, 128<<20, sector, cluster, "content")
	src := filepath.Join(t.TempDir(), "src")
	files := contentTree()
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(strings.ReplaceAll(f.path, `\`, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wim := filepath.Join(t.TempDir(), "tree.wim")
	testutil.Run(t, "wimlib-imagex", "capture", src, wim, "--compress=none")
	testutil.Run(t, "wimlib-imagex", "apply", wim, "1", img)
	return img, files
}

func TestContent(t *testing.T) {
	testutil.NeedTool(t, "ntfsinfo", "ntfscat")
	for _, geo := range []struct{ sector, cluster int }{{512, 4096}, {4096, 65536}, {512, 512}} {
		t.Run(fmt.Sprintf("s%d-c%d", geo.sector, geo.cluster), func(t *testing.T) {
			img, files := buildContentVolume(t, geo.sector, geo.cluster)
			v := openImage(t, img)
			for i, f := range files {
				path := f.path
				if i%2 == 1 {
					path = strings.ToUpper(path) // lookups ignore case
				}
				got, err := v.ReadFile(path, 64<<20)
				if err != nil {
					t.Errorf("ReadFile(%s): %v", path, err)
					continue
				}
				if !bytes.Equal(got, f.data) {
					t.Errorf("ReadFile(%s): %d bytes differ from the %d written", path, len(got), len(f.data))
				}
				if i >= 10 && i%50 != 0 {
					continue // compare runs and ntfscat on a sample
				}
				fi, err := v.Lookup(path)
				if err != nil {
					t.Fatal(err)
				}
				if wantName := f.path[strings.LastIndexByte(f.path, '\\')+1:]; fi.Name != wantName || fi.Size != int64(len(f.data)) {
					t.Errorf("Lookup(%s) = %q size %d, want %q size %d", path, fi.Name, fi.Size, wantName, len(f.data))
				}
				unix := "/" + strings.ReplaceAll(f.path, `\`, "/")
				if !fi.Resident {
					if diff := cmp.Diff(mergeRuns(ntfsinfoRuns(t, img, unix)), mergeRuns(fi.Runs)); diff != "" {
						t.Errorf("%s runs (-ntfsinfo +ours):\n%s", f.path, diff)
					}
				}
				if want := stdout(t, "ntfscat", img, unix); sha(want) != sha(got) {
					t.Errorf("%s: ntfscat and ReadFile differ", f.path)
				}
			}
			// The 300-entry directory needs index blocks, not only the root.
			rec, err := v.ReadRecord(mustLookup(t, v, `\many`).Record)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Find(AttrIndexAllocation, "$I30") == nil {
				t.Errorf(`\many has no $INDEX_ALLOCATION; the B+ tree walk is untested`)
			}
			// OpenFile reads a header without loading the file.
			wim := mustLookup(t, v, `\recovery\windowsre\winre.wim`)
			r, err := v.OpenFile(wim)
			if err != nil {
				t.Fatal(err)
			}
			v.ResetBytesRead()
			hdr := make([]byte, 208)
			if _, err := r.ReadAt(hdr, 0); err != nil {
				t.Fatal(err)
			}
			if n := v.BytesRead(); n > 64<<10 {
				t.Errorf("reading a 208-byte header read %d bytes", n)
			}
			for _, p := range []string{`\nope`, `\many\file-300.dat`, `\Windows\nope\x`, `\many\file-001.dat\x`} {
				_, err := v.Lookup(p)
				var pe *PathError
				if !errors.As(err, &pe) || !(errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDirectory)) {
					t.Errorf("Lookup(%s) = %v, want *PathError wrapping ErrNotFound/ErrNotDirectory", p, err)
				}
			}
			if _, err := v.ReadFile(`\big.bin`, 1<<20); !errors.Is(err, ErrTooLarge) {
				t.Errorf("ReadFile over the limit = %v, want ErrTooLarge", err)
			}
		})
	}
}

func mustLookup(t *testing.T, v *Volume, p string) *File {
	t.Helper()
	f, err := v.Lookup(p)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", p, err)
	}
	return f
}

func TestHibernated(t *testing.T) {
	testutil.NeedTool(t, "ntfscp")
	for _, tc := range []struct {
		header string
		want   bool
	}{{"HIBR", true}, {"hibr", true}, {"WAKE", true}, {"wake", true}, {"\x00\x00\x00\x00", false}, {"RSTR", false}} {
		img := mkntfs(t, 64<<20, 512, 4096, "hib")
		src := filepath.Join(t.TempDir(), "hiberfil.sys")
		if err := os.WriteFile(src, append([]byte(tc.header), make([]byte, 8188)...), 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "ntfscp", img, src, "/hiberfil.sys")
		v := openImage(t, img)
		if got, err := v.Hibernated(); err != nil || got != tc.want {
			t.Errorf("header %q: Hibernated = %v, %v; want %v", tc.header, got, err, tc.want)
		}
	}
}

// TestDirty resizes a volume with ntfsresize, which schedules chkdsk by
// setting the dirty flag, then clears it with ntfsfix -d.
func TestDirty(t *testing.T) {
	testutil.NeedTool(t, "ntfsresize", "ntfsfix", "ntfsinfo")
	img := mkntfs(t, 64<<20, 512, 4096, "dirty")
	testutil.Run(t, "ntfsresize", "--force", "--force", "--no-progress-bar", "--size", "48M", img)
	v := openImage(t, img)
	if d, err := v.Dirty(); err != nil || !d {
		t.Errorf("after ntfsresize: Dirty = %v, %v; want true", d, err)
	}
	if !strings.Contains(testutil.Run(t, "ntfsinfo", "-f", "-m", img), "DIRTY") {
		t.Errorf("ntfsinfo does not report the volume dirty")
	}
	if got := v.Boot.VolumeSize(); got > 48<<20 {
		t.Errorf("VolumeSize after resize = %d", got)
	}
	if c, err := v.LogFileClean(); err != nil || !c {
		t.Errorf("LogFileClean after ntfsresize (which empties it) = %v, %v", c, err)
	}
	testutil.Run(t, "ntfsfix", "-d", img)
	v = openImage(t, img)
	if d, err := v.Dirty(); err != nil || d {
		t.Errorf("after ntfsfix -d: Dirty = %v, %v; want false", d, err)
	}
}

// TestLastUsedClusterTail checks that LastUsedCluster reads $Bitmap only
// from the end of the volume back to the last cluster in use. On a fresh
// 256 GiB mkntfs volume $MFTMirr and $LogFile sit in the middle, so half
// the 8 MiB bitmap is free tail and must be read; after ntfsresize shrinks
// that volume to ShrinkLimit, the last used cluster is the volume's last
// and the scan must read less than 1 MiB.
func TestLastUsedClusterTail(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfsresize")
	const size = 256 << 30
	p := filepath.Join(t.TempDir(), "big.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkntfs", "-F", "-Q", "-L", "big", p)
	v := openImage(t, p)
	bitmap := (v.TotalClusters() + 7) / 8
	v.ResetBytesRead()
	last, err := v.LastUsedCluster()
	if err != nil {
		t.Fatal(err)
	}
	read := v.BytesRead()
	tail := bitmap - last/8
	t.Logf("fresh: LastUsedCluster %d; read %d bytes (bitmap %d, tail %d)", last, read, bitmap, tail)
	if read > tail+tailChunk+32<<10 {
		t.Errorf("fresh: LastUsedCluster read %d bytes for a %d-byte tail", read, tail)
	}
	u, err := v.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.LastUsedCluster != last {
		t.Errorf("Usage().LastUsedCluster = %d, LastUsedCluster = %d", u.LastUsedCluster, last)
	}
	lim, err := v.ShrinkLimit()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfsresize", "--force", "--force", "--no-progress-bar", "--size", fmt.Sprint(lim), p)
	v = openImage(t, p)
	v.ResetBytesRead()
	last2, err := v.LastUsedCluster()
	if err != nil {
		t.Fatal(err)
	}
	read = v.BytesRead()
	t.Logf("shrunk to %d bytes: LastUsedCluster %d of %d; read %d bytes", lim, last2, v.TotalClusters(), read)
	if last2 != last || last2 != v.TotalClusters()-1 {
		t.Errorf("after shrinking to ShrinkLimit: LastUsedCluster %d, was %d, volume has %d clusters", last2, last, v.TotalClusters())
	}
	if read >= 1<<20 {
		t.Errorf("after shrinking: LastUsedCluster read %d bytes, want < 1 MiB", read)
	}
}
