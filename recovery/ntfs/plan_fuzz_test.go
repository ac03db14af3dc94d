package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// resizeBase is a small NTFS volume made by mkntfs with a few files, and
// the byte regions of its metadata that FuzzPlanResize patches.
type resizeBase struct {
	img     []byte
	size    int64
	regions [][2]int64 // offset, length
	records [][2]int64 // regions that are whole MFT records (fixups can be repaired)
}

func newResizeBase(f *testing.F) *resizeBase {
	f.Helper()
	testutil.NeedTool(f, "mkntfs", "ntfscp")
	const size = 48 << 20
	p := mkntfs(f, size, 512, 4096, "fz")
	dir := f.TempDir()
	for i, n := range []int{700, 64 << 10, 2 << 20} {
		src := filepath.Join(dir, "f")
		if err := os.WriteFile(src, bytes.Repeat([]byte{byte('a' + i)}, n), 0o644); err != nil {
			f.Fatal(err)
		}
		testutil.Run(f, "ntfscp", p, src, "/"+string(rune('a'+i))+".bin")
	}
	img, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	v := openBytes(f, img)
	b := &resizeBase{img: img, size: size}
	b.regions = append(b.regions, [2]int64{0, 512}) // boot sector
	mft := int64(v.Boot.MFTLCN) * v.clusterSize
	for _, n := range []int64{RecordMFT, RecordMFTMirr, RecordLogFile, RecordVolume, RecordRoot, RecordBitmap, RecordBadClus, 64, 65, 66} {
		r := [2]int64{mft + n*v.recordSize, v.recordSize}
		b.regions = append(b.regions, r)
		b.records = append(b.records, r)
	}
	_, bm, err := v.singleExtent(RecordBitmap, "")
	if err != nil {
		f.Fatal(err)
	}
	bmOff := bm.Runs[0].LCN * v.clusterSize
	tc := v.TotalClusters()
	b.regions = append(b.regions, [2]int64{bmOff, 4096}, [2]int64{bmOff + (tc/8)&^4095, 4096}) // head and tail of $Bitmap
	b.regions = append(b.regions, [2]int64{size - 512, 512})                                   // backup boot sector
	// The unpatched volume must plan every change, or the fuzzer would
	// only ever see refusals.
	opts := DefaultResizeOptions()
	opts.AllowDirty = true
	if _, err := v.PlanShrink(32<<20, opts); err != nil {
		f.Fatalf("base shrink: %v", err)
	}
	if _, err := v.PlanPatchFile(`\b.bin`, bytes.Repeat([]byte{'B'}, 64<<10)); err != nil {
		f.Fatalf("base patch: %v", err)
	}
	big, err := Open(bytes.NewReader(append(bytes.Clone(img), make([]byte, 16<<20)...)), size+16<<20)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := big.PlanGrow(size+16<<20, opts); err != nil {
		f.Fatalf("base grow: %v", err)
	}
	return b
}

// FuzzPlanResize patches fuzzer bytes into the metadata of a small volume
// and plans a shrink, a grow, a hidden-sectors change and a file patch:
// none may panic, and every plan returned must be a valid write list
// inside the volume whose Old bytes are what the volume holds.
//
// Encoding: byte 0 selects the region (modulo their number; bit 7 asks to
// repair the update sequence array of a record region), bytes 1-2 the
// offset in it (little-endian, modulo its length), bytes 3- the data.
func FuzzPlanResize(f *testing.F) {
	base := newResizeBase(f)
	for i := range base.regions {
		f.Add([]byte{byte(i), 0, 0})
		f.Add([]byte{byte(i) | 0x80, 0x30, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
		f.Add([]byte{byte(i) | 0x80, 0x40, 0, 0x11, 0x01, 0x02, 0x03})
		f.Add([]byte{byte(i), 0x08, 0, 0})
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 {
			return
		}
		img := bytes.Clone(base.img)
		r := base.regions[int(in[0]&0x7f)%len(base.regions)]
		off := int64(binary.LittleEndian.Uint16(in[1:])) % r[1]
		copy(img[r[0]+off:r[0]+r[1]], in[3:])
		if in[0]&0x80 != 0 {
			for _, rr := range base.records {
				if rr == r {
					rec := img[r[0] : r[0]+r[1]]
					_ = ProtectFixups(rec, UpdateSequenceNumber(rec))
				}
			}
		}
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		v, err := Open(bytes.NewReader(img), base.size)
		if err != nil {
			return
		}
		check := func(what string, ws []diag.Write, err error) {
			if errors.Is(err, errTooManyExtents) {
				t.Fatalf("%s: internal sentinel leaked: %v", what, err)
			}
			if err != nil {
				return
			}
			if cerr := checkWrites(ws); cerr != nil {
				t.Fatalf("%s: invalid writes: %v", what, cerr)
			}
			for _, w := range ws {
				if w.Offset < 0 || w.Offset+int64(len(w.New)) > base.size {
					t.Fatalf("%s: write %q at %d+%d outside the volume", what, w.What, w.Offset, len(w.New))
				}
				if !bytes.Equal(img[w.Offset:w.Offset+int64(len(w.Old))], w.Old) {
					t.Fatalf("%s: write %q: Old bytes differ from the volume", what, w.What)
				}
			}
		}
		ws, err := v.PlanShrink(40<<20, DefaultResizeOptions())
		check("shrink", ws, err)
		opts := DefaultResizeOptions()
		opts.AllowDirty = true
		ws, err = v.PlanShrink(32<<20, opts)
		check("shrink allowing dirty", ws, err)
		if big, err := Open(bytes.NewReader(append(img, make([]byte, 16<<20)...)), base.size+16<<20); err == nil {
			ws, err = big.PlanGrow(base.size+16<<20, opts)
			if err == nil {
				for _, w := range ws {
					if w.Offset+int64(len(w.New)) > base.size+16<<20 {
						t.Fatalf("grow: write %q past the partition", w.What)
					}
				}
			}
		}
		ws, err = v.PlanHiddenSectors(4096)
		check("hidden sectors", ws, err)
		ws, err = v.PlanPatchFile(`\b.bin`, bytes.Repeat([]byte{'B'}, 64<<10))
		check("patch", ws, err)
		runtime.ReadMemStats(&ms1)
		if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 512<<20 {
			t.Fatalf("planning allocated %d MiB", d>>20)
		}
	})
}
