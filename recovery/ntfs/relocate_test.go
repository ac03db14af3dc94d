package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

func TestRelPlaceBestFit(t *testing.T) {
	// Holes of 8, 4 and 6 clusters, none of which holds both units: a
	// unit of 5 goes to the hole of 6 (the smallest that holds it), one
	// of 4 to the hole of 4.
	free := newRelFree([]relExtent{{0, 8}, {20, 4}, {30, 6}})
	moves, err := relPlace([]relPiece{{lcn: 100, n: 5}, {lcn: 200, n: 4, owner: 1}}, free)
	if err != nil {
		t.Fatal(err)
	}
	want := []relMove{{src: 100, dst: 30, n: 5}, {src: 200, dst: 20, n: 4}}
	if d := cmp.Diff(want, moves, cmp.AllowUnexported(relMove{})); d != "" {
		t.Errorf("moves (-want +got):\n%s", d)
	}
	// Two files back to back past the end form one unit: one copy.
	free = newRelFree([]relExtent{{0, 3}, {10, 20}})
	moves, err = relPlace([]relPiece{{lcn: 100, n: 4}, {lcn: 104, n: 6, owner: 1}}, free)
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 1 || moves[0] != (relMove{src: 100, dst: 10, n: 10}) {
		t.Errorf("contiguous unit: %v, want one move to 10", moves)
	}
	// A hole that holds every unit takes them all, packed in their order
	// (the smallest such hole).
	free = newRelFree([]relExtent{{0, 3}, {10, 20}, {40, 50}})
	moves, err = relPlace([]relPiece{{lcn: 100, n: 5}, {lcn: 200, n: 4, owner: 1}}, free)
	if err != nil {
		t.Fatal(err)
	}
	want = []relMove{{src: 100, dst: 10, n: 5}, {src: 200, dst: 15, n: 4}}
	if d := cmp.Diff(want, moves, cmp.AllowUnexported(relMove{})); d != "" {
		t.Errorf("packed (-want +got):\n%s", d)
	}
	// A piece larger than every hole is split over the largest first.
	free = newRelFree([]relExtent{{0, 2}, {10, 5}, {20, 3}})
	moves, err = relPlace([]relPiece{{lcn: 100, n: 8}}, free)
	if err != nil {
		t.Fatal(err)
	}
	want = []relMove{{src: 100, dst: 10, n: 5}, {src: 105, dst: 20, n: 3}}
	if d := cmp.Diff(want, moves, cmp.AllowUnexported(relMove{})); d != "" {
		t.Errorf("split (-want +got):\n%s", d)
	}
	if _, err := relPlace([]relPiece{{lcn: 100, n: 8}}, newRelFree([]relExtent{{0, 7}})); !errors.Is(err, ErrNoSpace) {
		t.Errorf("no room: %v, want ErrNoSpace", err)
	}
}

func TestRelRemap(t *testing.T) {
	runs := []Run{
		{VCN: 0, LCN: 90, Length: 20},               // straddles the end (100)
		{VCN: 20, LCN: -1, Length: 5, Sparse: true}, // a hole stays
		{VCN: 25, LCN: 50, Length: 3},               // before the end: stays
		{VCN: 28, LCN: 120, Length: 4},
	}
	moves := []relMove{{src: 100, dst: 10, n: 10}, {src: 120, dst: 20, n: 4}}
	got, err := relRemap(runs, 100, moves)
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{
		{VCN: 0, LCN: 90, Length: 10}, {VCN: 10, LCN: 10, Length: 10},
		{VCN: 20, LCN: -1, Length: 5, Sparse: true},
		{VCN: 25, LCN: 50, Length: 3}, {VCN: 28, LCN: 20, Length: 4},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
	if _, err := relRemap([]Run{{LCN: 130, Length: 1}}, 100, moves); err == nil {
		t.Error("a cluster without destination was accepted")
	}
}

// FuzzRelPlace checks the placement on arbitrary free space and pieces:
// either ErrNoSpace (only when the pieces do not fit), or moves that map
// every piece cluster exactly once into clusters that were free, each
// free cluster used at most once.
//
// Encoding: byte pairs (free, used) lengths build the space before the
// end; the bytes after a 0xff byte give the pieces' lengths past it.
func FuzzRelPlace(f *testing.F) {
	f.Add([]byte{3, 1, 10, 2, 0xff, 4, 9, 1})
	f.Add([]byte{1, 1, 1, 1, 0xff, 2})
	f.Add([]byte{200, 0, 0xff, 50, 0, 50, 100})
	f.Fuzz(func(t *testing.T, in []byte) {
		sep := bytes.IndexByte(in, 0xff)
		if sep < 0 || len(in) > 4096 {
			return
		}
		var gaps []relExtent
		var c int64
		for i := 0; i+1 < sep; i += 2 {
			if in[i] > 0 {
				gaps = append(gaps, relExtent{c, int64(in[i])})
			}
			c += int64(in[i]) + int64(in[i+1])
		}
		end := c + 1
		var pieces []relPiece
		var need, have int64
		p := end
		for k, b := range in[sep+1:] {
			if b == 0 {
				p += 3 // a gap between units
				continue
			}
			pieces = append(pieces, relPiece{lcn: p, n: int64(b), owner: k})
			p += int64(b)
			need += int64(b)
		}
		freeAt := map[int64]bool{}
		for _, g := range gaps {
			have += g.n
			for x := g.lcn; x < g.lcn+g.n; x++ {
				freeAt[x] = true
			}
		}
		moves, err := relPlace(pieces, newRelFree(gaps))
		if err != nil {
			if !errors.Is(err, ErrNoSpace) || need <= have {
				t.Fatalf("relPlace: %v (need %d, have %d)", err, need, have)
			}
			return
		}
		src := map[int64]bool{}
		for _, m := range moves {
			if m.n <= 0 {
				t.Fatalf("empty move %v", m)
			}
			for k := int64(0); k < m.n; k++ {
				if !freeAt[m.dst+k] {
					t.Fatalf("move %v writes cluster %d, not free or used twice", m, m.dst+k)
				}
				freeAt[m.dst+k] = false
				if src[m.src+k] {
					t.Fatalf("cluster %d moved twice", m.src+k)
				}
				src[m.src+k] = true
			}
		}
		for _, pc := range pieces {
			for x := pc.lcn; x < pc.lcn+pc.n; x++ {
				if !src[x] {
					t.Fatalf("cluster %d of piece %v not moved", x, pc)
				}
				delete(src, x)
			}
		}
		if len(src) != 0 {
			t.Fatalf("moves of clusters outside the pieces: %v", src)
		}
	})
}

// relocBase is a small volume whose last clusters hold files: a zero
// filler occupies the data zone up to relocEnd, the files come after it,
// and the free MFT zone before it has room for them.
type relocBase struct {
	img     []byte
	size    int64
	regions [][2]int64
	records [][2]int64
}

const relocEnd = 40 << 20

func newRelocBase(f *testing.F) *relocBase {
	f.Helper()
	testutil.NeedTool(f, "mkntfs", "ntfscp")
	const size = 48 << 20
	p := mkntfs(f, size, 512, 4096, "fz")
	v := openImage(f, p)
	used, err := v.relUsed()
	if err != nil {
		f.Fatal(err)
	}
	var fill int64
	for _, g := range relGaps(used, relocEnd/v.clusterSize+8) {
		fill += max(0, g.lcn+g.n-max(g.lcn, v.TotalClusters()/8))
	}
	dir := f.TempDir()
	put := func(name string, b []byte) {
		src := filepath.Join(dir, "f")
		if err := os.WriteFile(src, b, 0o644); err != nil {
			f.Fatal(err)
		}
		testutil.Run(f, "ntfscp", p, src, name)
	}
	put("/filler", make([]byte, fill*v.clusterSize))
	for i, n := range []int{700, 64 << 10, 300 << 10} {
		put("/"+string(rune('a'+i))+".bin", bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	img, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	v = openBytes(f, img)
	b := &relocBase{img: img, size: size}
	b.regions = append(b.regions, [2]int64{0, 512})
	mft := int64(v.Boot.MFTLCN) * v.clusterSize
	for _, n := range []int64{RecordMFT, RecordMFTMirr, RecordVolume, RecordRoot, RecordBitmap, 64, 65, 66, 67, 68} {
		r := [2]int64{mft + n*v.recordSize, v.recordSize}
		b.regions = append(b.regions, r)
		b.records = append(b.records, r)
	}
	_, bm, err := v.singleExtent(RecordBitmap, "")
	if err != nil {
		f.Fatal(err)
	}
	bmOff := bm.Runs[0].LCN * v.clusterSize
	b.regions = append(b.regions, [2]int64{bmOff, 4096}, [2]int64{bmOff + (v.TotalClusters()/8)&^4095, 4096})
	opts := DefaultResizeOptions()
	opts.Relocate = true
	plan, err := v.PlanShrinkRelocating(relocEnd, opts)
	if err != nil {
		f.Fatalf("base relocating shrink: %v", err)
	}
	if len(plan.Copies) == 0 {
		f.Fatal("base relocating shrink moves nothing")
	}
	return b
}

// FuzzPlanShrinkRelocating patches fuzzer bytes into the metadata of a
// volume whose tail holds files (same encoding as FuzzPlanResize) and
// plans a relocating shrink: no panic, no huge allocation, and a plan
// returned must be sound: copies from past the new end into clusters
// free before it, never overlapping; valid writes whose Old bytes are
// what the volume holds after the copies; and the result opens.
func FuzzPlanShrinkRelocating(f *testing.F) {
	base := newRelocBase(f)
	for i := range base.regions {
		f.Add([]byte{byte(i), 0, 0})
		f.Add([]byte{byte(i) | 0x80, 0x40, 0, 0x11, 0x01, 0x02, 0x03})
		f.Add([]byte{byte(i) | 0x80, 0x48, 0, 0x21, 0x05, 0x00, 0x30})
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
		opts := DefaultResizeOptions()
		opts.Relocate = true
		opts.AllowDirty = true
		p, err := v.PlanShrinkRelocating(relocEnd, opts)
		runtime.ReadMemStats(&ms1)
		if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 512<<20 {
			t.Fatalf("planning allocated %d MiB", d>>20)
		}
		if errors.Is(err, errTooManyExtents) {
			t.Fatalf("internal sentinel leaked: %v", err)
		}
		if err != nil {
			return
		}
		cs := v.ClusterSize()
		endBytes := (relocEnd/int64(v.Boot.BytesPerSector) - 1) * int64(v.Boot.BytesPerSector) / cs * cs
		bm, err := v.loadBitmap()
		if err != nil {
			t.Fatalf("plan made, bitmap unreadable: %v", err)
		}
		after := bytes.Clone(img)
		written := map[int64]bool{}
		for _, c := range p.Copies {
			if c.Length <= 0 || c.Src < endBytes || c.Dst < 0 || c.Dst+c.Length > endBytes || c.Src%cs != 0 || c.Dst%cs != 0 || c.Length%cs != 0 {
				t.Fatalf("copy %+v outside its bounds (end at byte %d)", c, endBytes)
			}
			for x := c.Dst / cs; x < (c.Dst+c.Length)/cs; x++ {
				if bitSet(bm, x) || written[x] {
					t.Fatalf("copy %+v writes cluster %d, in use or written twice", c, x)
				}
				written[x] = true
			}
			copy(after[c.Dst:c.Dst+c.Length], img[c.Src:c.Src+c.Length])
		}
		if err := checkWrites(p.Writes); err != nil {
			t.Fatalf("invalid writes: %v", err)
		}
		for _, w := range p.Writes {
			if w.Offset < 0 || w.Offset+int64(len(w.New)) > base.size {
				t.Fatalf("write %q outside the volume", w.What)
			}
			if !bytes.Equal(after[w.Offset:w.Offset+int64(len(w.Old))], w.Old) {
				t.Fatalf("write %q: Old bytes differ from the volume after the copies", w.What)
			}
			copy(after[w.Offset:], w.New)
		}
		if _, err := Open(bytes.NewReader(after[:relocEnd]), relocEnd); err != nil {
			t.Fatalf("shrunk volume does not open: %v", err)
		}
	})
}
