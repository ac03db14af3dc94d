package fat

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/internal/testutil"
)

// TestMtools builds FAT12, FAT16 and FAT32 volumes with mkfs.fat and
// mcopy (generate.sh: long and Unicode names, subdirectories, a directory
// spanning several clusters, a fragmented file, an empty file) and compares
// every listing with mdir and every file with mtype.
func TestMtools(t *testing.T) {
	testutil.NeedTool(t, "mkfs.fat", "fsck.fat", "mmd", "mcopy", "mdel", "mdir", "mtype")
	dir := t.TempDir()
	if out, err := exec.Command("sh", filepath.Join("testdata", "generate.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name string
		typ  Type
	}{{"fat12", FAT12}, {"fat16", FAT16}, {"fat32", FAT32}} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".img")
			// The volume itself is sound, as fsck.fat sees it.
			if out, err := exec.Command("fsck.fat", "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("fsck.fat -n: %v\n%s", err, out)
			}
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			v := open(t, img)
			if v.Type != c.typ {
				t.Errorf("type %s, want %s", v.Type, c.typ)
			}
			files := map[string]*File{}
			got := walk(t, v, "/", func(p string, f *File) { files[p] = f })
			out := mtools(t, "mdir", "-/", "-b", "-i", path, "::/")
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				want = append(want, strings.TrimPrefix(l, "::"))
			}
			sort.Strings(want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("listing differs from mdir (-mdir +fat):\n%s", d)
			}
			if len(got) < 50 {
				t.Errorf("only %d entries", len(got))
			}
			for p, f := range files {
				b, err := v.Read(f, 1<<20)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					continue
				}
				if w := mtools(t, "mtype", "-i", path, "::"+p); !bytes.Equal(b, []byte(w)) {
					t.Errorf("%s: %d bytes differ from mtype's %d", p, len(b), len(w))
				}
			}
			// The lookups the recovery package makes, in any case.
			for _, p := range []string{`\EFI\Microsoft\Boot\BCD`, `\efi\MICROSOFT\boot\bcd`, "/EFI/Microsoft/Boot/BCD"} {
				b, err := v.ReadFile(p, 1<<20)
				if err != nil || len(b) != 20000 || !bytes.HasPrefix(b, []byte("BCD:0000000\n")) {
					t.Errorf("ReadFile(%q): %d bytes, %v", p, len(b), err)
				}
			}
			// The fragmented file really is: its chain jumps.
			f := files["/fragmented.bin"]
			cl, err := v.chain(f.Cluster, 6, true)
			if err != nil {
				t.Fatal(err)
			}
			jumps := 0
			for i := 1; i < len(cl); i++ {
				if cl[i] != cl[i-1]+1 {
					jumps++
				}
			}
			if jumps == 0 {
				t.Errorf("fragmented.bin is contiguous: %v", cl)
			}
			// The empty file.
			e := files["/EMPTY.TXT"]
			if b, err := v.Read(e, 0); err != nil || len(b) != 0 || e.Cluster != 0 {
				t.Errorf("EMPTY.TXT: %q, %v, cluster %d", b, err, e.Cluster)
			}
			// Short names reach long-named entries too.
			es, err := v.ReadDir("/")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Name != e.ShortName && !strings.EqualFold(e.Name, e.ShortName) {
					if _, err := v.Lookup(`\` + e.ShortName); err != nil {
						t.Errorf("Lookup by short name %q (%q): %v", e.ShortName, e.Name, err)
					}
				}
			}
			if _, err := v.ReadFile(`\EFI\Microsoft\Boot\BCD`, 19999); !errors.Is(err, ErrTooLarge) {
				t.Errorf("limit below the size: %v", err)
			}
			if _, err := v.ReadFile(`\EFI\Microsoft\Boot\BCD.LOG`, 1<<20); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing file: %v", err)
			}
			if _, err := v.ReadFile(`\lower.txt\x`, 1<<20); !errors.Is(err, ErrNotDir) {
				t.Errorf("file as directory: %v", err)
			}
			if _, err := v.ReadFile(`\EFI`, 1<<20); !errors.Is(err, ErrIsDir) {
				t.Errorf("directory as file: %v", err)
			}
		})
	}
}

// mtools runs an mtools command on an image file.
func mtools(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
