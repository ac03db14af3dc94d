package ntfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// rsPlain formats a volume and copies files of the given sizes (random
// content) to it; it returns the image and the contents by path.
func rsPlain(t *testing.T, sizes map[string]int) (string, map[string][]byte) {
	t.Helper()
	testutil.NeedTool(t, "mkntfs", "ntfscp", "ntfscat")
	img := mkntfs(t, 32<<20, 512, 4096, "p")
	files := map[string][]byte{}
	for name, n := range sizes {
		b := bytes.Repeat([]byte(name), n/len(name)+1)[:n]
		src := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "ntfscp", img, src, name)
		files[name] = b
	}
	return img, files
}

func TestPatchFile(t *testing.T) {
	img, files := rsPlain(t, map[string]int{"/small.xml": 300, "/ReAgent.xml": 5000})
	for name, old := range files {
		t.Run(name, func(t *testing.T) {
			want := bytes.ToUpper(old)
			rsApply(t, img, 32<<20, 32<<20, func(v *Volume) ([]diag.Write, error) {
				return v.PlanPatchFile(name, want)
			})
			if got := stdout(t, "ntfscat", img, name); !bytes.Equal(got, want) {
				t.Errorf("ntfscat after patch: %.40q..., want %.40q...", got, want)
			}
			v := openImage(t, img)
			if _, err := v.PlanPatchFile(name, want[1:]); !errors.Is(err, ErrBadSize) {
				t.Errorf("short content: %v, want ErrBadSize", err)
			}
		})
	}
	out, err := testutil.RunErr("ntfsfix", "-n", img)
	if err != nil {
		t.Errorf("ntfsfix -n: %v\n%s", err, out)
	}
}

func TestHiddenSectors(t *testing.T) {
	img, _ := rsPlain(t, nil)
	ws := rsApply(t, img, 32<<20, 32<<20, func(v *Volume) ([]diag.Write, error) {
		return v.PlanHiddenSectors(1234567)
	})
	if len(ws) != 2 {
		t.Errorf("%d writes, want primary and backup: %v", len(ws), ws)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, len(b) - 512} {
		bs, err := ParseBootSector(b[off : off+512])
		if err != nil || bs.HiddenSectors != 1234567 {
			t.Errorf("boot sector at %d: %+v, %v", off, bs, err)
		}
	}
	// Beyond 32 bits the field becomes 0, as mkntfs writes it for a
	// partition that starts past 2 TiB.
	ws, err = openImage(t, img).PlanHiddenSectors(1 << 32)
	if err != nil || len(ws) == 0 {
		t.Fatalf("start beyond 32 bits: %v", err)
	}
	for _, w := range ws {
		if !bytes.Equal(w.New, []byte{0, 0, 0, 0}) {
			t.Errorf("start beyond 32 bits: %s writes % x, want zeros", w.What, w.New)
		}
	}
}

func TestResizeRefusals(t *testing.T) {
	img, _ := rsPlain(t, map[string]int{"/hiberfil.sys": 8192})
	v := openImage(t, img)
	if _, err := v.PlanShrink(30<<20, DefaultResizeOptions()); err != nil {
		t.Fatalf("hiberfil.sys without a signature: %v", err)
	}
	// Hibernated: hiberfil.sys starting with "hibr".
	hib, _ := rsPlain(t, nil)
	src := filepath.Join(t.TempDir(), "h")
	if err := os.WriteFile(src, append([]byte("hibr"), make([]byte, 8188)...), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "ntfscp", hib, src, "/hiberfil.sys")
	if _, err := openImage(t, hib).PlanShrink(30<<20, DefaultResizeOptions()); !errors.Is(err, ErrHibernated) {
		t.Errorf("hibernated: %v, want ErrHibernated", err)
	}
	// Dirty: after a resize that set the flag, a second one refuses
	// unless allowed.
	rsApply(t, img, 32<<20, 30<<20, func(v *Volume) ([]diag.Write, error) { return v.PlanShrink(30<<20, DefaultResizeOptions()) })
	v = openImage(t, img)
	if _, err := v.PlanShrink(29<<20, DefaultResizeOptions()); !errors.Is(err, ErrDirty) {
		t.Errorf("dirty: %v, want ErrDirty", err)
	}
	opts := DefaultResizeOptions()
	opts.AllowDirty = true
	if _, err := v.PlanShrink(29<<20, opts); err != nil {
		t.Errorf("dirty allowed: %v", err)
	}
	// Accounting: clear the bitmap bit of a cluster $MFT uses.
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	bmRec, bmAttr, err := v.singleExtent(RecordBitmap, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = bmRec
	mft := int64(v.Boot.MFTLCN)
	b[bmAttr.Runs[0].LCN*v.clusterSize+mft/8] &^= 1 << (mft % 8)
	_, err = openBytes(t, b).PlanShrink(29<<20, opts)
	var ae *AccountingError
	if !errors.As(err, &ae) || ae.LCN != mft || ae.Record != RecordMFT {
		t.Errorf("accounting: %v, want cluster %d of record 0", err, mft)
	}
}
