package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// relCompressedRuns builds the runlist of a compressed attribute from one
// byte per compression unit of cu clusters: (b&0x7f)%(cu+1) data clusters (0:
// an all-zero unit, cu: an uncompressed one) then a sparse tail. Units
// whose byte has bit 7 set lie before cluster end, the others past it;
// 3 free clusters separate consecutive units.
func relCompressedRuns(units []byte, cu, end int64) []Run {
	var runs []Run
	lo, hi := int64(8), end
	add := func(r Run) {
		if n := len(runs); n > 0 && runs[n-1].Sparse && r.Sparse {
			runs[n-1].Length += r.Length
			return
		}
		runs = append(runs, r)
	}
	for i, b := range units {
		vcn := int64(i) * cu
		data := int64(b&0x7f) % (cu + 1)
		if data > 0 {
			lcn := &hi
			if b&0x80 != 0 {
				lcn = &lo
			}
			add(Run{VCN: vcn, LCN: *lcn, Length: data})
			*lcn += data + 3
		}
		if data < cu {
			add(Run{VCN: vcn + data, LCN: -1, Length: cu - data, Sparse: true})
		}
	}
	return runs
}

// relVCNs expands a runlist to one LCN per VCN (-1 for a hole).
func relVCNs(runs []Run) []int64 {
	var out []int64
	for _, r := range runs {
		for k := int64(0); k < r.Length; k++ {
			if r.Sparse {
				out = append(out, -1)
			} else {
				out = append(out, r.LCN+k)
			}
		}
	}
	return out
}

// relCheckRemap checks what a relocation must keep of a runlist: the runs
// start at the same VCN and cover the same VCNs, every hole stays a hole
// in the same VCN (so each compression unit keeps its data clusters and
// its sparse tail), clusters before end stay, and those past it are
// mapped through moves.
func relCheckRemap(t *testing.T, before, after []Run, end int64, moves []relMove) {
	t.Helper()
	if len(before) > 0 && (len(after) == 0 || after[0].VCN != before[0].VCN) {
		t.Fatalf("runs %v no longer start at VCN %d", after, before[0].VCN)
	}
	for i := 1; i < len(after); i++ {
		if after[i].VCN != after[i-1].VCN+after[i-1].Length {
			t.Fatalf("run %d (%v) does not follow %v", i, after[i], after[i-1])
		}
	}
	b, a := relVCNs(before), relVCNs(after)
	if len(a) != len(b) {
		t.Fatalf("runs cover %d VCNs, want %d", len(a), len(b))
	}
	dst := map[int64]int64{}
	for _, m := range moves {
		for k := int64(0); k < m.n; k++ {
			dst[m.src+k] = m.dst + k
		}
	}
	for v := range b {
		want := b[v]
		if want >= end {
			want = dst[want]
		}
		if a[v] != want {
			t.Fatalf("VCN %d: LCN %d, want %d (before %d)", v, a[v], want, b[v])
		}
	}
}

func TestRelRemapCompressed(t *testing.T) {
	const cu, end = 16, 1000
	// Units: 5 data clusters then 11 sparse; uncompressed; all zero; 3
	// data; uncompressed before the end; 9 data straddling nothing.
	runs := relCompressedRuns([]byte{5, 16, 0, 3, 0x80 | 16, 9}, cu, end)
	var ps []relPiece
	ps = relRunPieces(ps, runs, end, cu, 0)
	if len(ps) != 4 {
		t.Fatalf("pieces %v, want 4", ps)
	}
	for _, p := range ps {
		if p.cu != cu || (p.lcn-p.phase)%cu != 0 {
			t.Errorf("piece %+v: its first cluster does not start a unit", p)
		}
	}
	// Room for them only in holes of 7 clusters and less: units split,
	// but the VCN layout stays.
	moves, err := relPlace(ps, newRelFree([]relExtent{{100, 7}, {200, 7}, {300, 7}, {400, 7}, {500, 7}}))
	if err != nil {
		t.Fatal(err)
	}
	after, err := relRemap(runs, end, moves)
	if err != nil {
		t.Fatal(err)
	}
	relCheckRemap(t, runs, after, end, moves)
	// An uncompressed unit and a compressed one (3 data clusters), moved
	// next to each other: their data runs join into one run spanning the
	// unit boundary, the hole stays in VCNs 19..31.
	runs = []Run{{VCN: 0, LCN: 1000, Length: 16}, {VCN: 16, LCN: 1020, Length: 3}, {VCN: 19, LCN: -1, Length: 13, Sparse: true}}
	moves, err = relPlace(relRunPieces(nil, runs, end, cu, 0), newRelFree([]relExtent{{100, 100}}))
	if err != nil {
		t.Fatal(err)
	}
	after, err = relRemap(runs, end, moves)
	if err != nil {
		t.Fatal(err)
	}
	relCheckRemap(t, runs, after, end, moves)
	want := []Run{{VCN: 0, LCN: 100, Length: 19}, {VCN: 19, LCN: -1, Length: 13, Sparse: true}}
	if d := cmp.Diff(want, after); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
}

func TestRelPlaceKeepsCompressionUnits(t *testing.T) {
	// 40 clusters of a compressed run from cluster 100, units of 16
	// starting at 100, 116 and 132; no hole holds them, the two largest
	// hold 20. Cut at unit boundaries: 16 + 16 + 8, no unit split.
	p := relPiece{lcn: 100, n: 40, cu: 16, phase: 100 % 16}
	moves, err := relPlace([]relPiece{p}, newRelFree([]relExtent{{0, 20}, {30, 20}, {60, 10}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range moves {
		if (m.src-p.phase)%16 != 0 || (m.n != 16 && m.src+m.n != p.lcn+p.n) {
			t.Errorf("move %v splits a compression unit (moves %v)", m, moves)
		}
	}
	// Only holes smaller than a unit: units must split, nothing is lost.
	moves, err = relPlace([]relPiece{p}, newRelFree([]relExtent{{0, 7}, {10, 7}, {20, 7}, {30, 7}, {40, 7}, {50, 7}}))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range moves {
		n += m.n
	}
	if n != 40 {
		t.Errorf("moves %v carry %d clusters, want 40", moves, n)
	}
	// Not compressed: the largest hole is filled.
	moves, err = relPlace([]relPiece{{lcn: 100, n: 40}}, newRelFree([]relExtent{{0, 20}, {30, 20}, {60, 10}}))
	if err != nil {
		t.Fatal(err)
	}
	if moves[0].n != 20 {
		t.Errorf("uncompressed split %v, want the first move 20 clusters", moves)
	}
	for _, c := range []struct{ lo, hi, want int64 }{{100, 120, 116}, {100, 116, 116}, {101, 115, 101}, {117, 140, 132}, {0, 3, 0}} {
		if got := relCUBoundary(p, c.lo, c.hi); got != c.want {
			t.Errorf("relCUBoundary(%d, %d) = %d, want %d", c.lo, c.hi, got, c.want)
		}
	}
}

// FuzzRelRemapCompressed relocates compressed runlists (see
// relCompressedRuns; the first byte picks the unit, the second the
// extent's first VCN) into free space built from the bytes after 0xff
// (free, used lengths, as in FuzzRelPlace), and checks relCheckRemap's
// invariant: every hole stays in its VCN, every data cluster maps through
// the moves.
func FuzzRelRemapCompressed(f *testing.F) {
	f.Add([]byte{4, 0, 5, 16, 0, 3, 0x90, 9, 0xff, 7, 1, 7, 1, 7, 1, 40, 2})
	f.Add([]byte{4, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0xff, 3, 3, 3, 3})
	f.Add([]byte{3, 0, 8, 8, 8, 8, 0xff, 200, 0})
	f.Add([]byte{4, 9, 0x85, 16, 0x8f, 2, 0xff, 9, 9, 33, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		sep := bytes.IndexByte(in, 0xff)
		if sep < 2 || len(in) > 2048 {
			return
		}
		cu := int64(1) << (in[0]%5 + 1)
		end := 8 + 40*int64(sep) + 4096
		runs := relCompressedRuns(in[2:sep], cu, end)
		if len(runs) == 0 {
			return
		}
		first := int64(in[1]) * cu // an extent past VCN 0
		for i := range runs {
			runs[i].VCN += first
		}
		var gaps []relExtent
		c := 8 + 40*int64(sep) // above the units kept before the end
		for i := sep + 1; i+1 < len(in); i += 2 {
			if in[i] > 0 && c+int64(in[i]) < end {
				gaps = append(gaps, relExtent{c, int64(in[i])})
			}
			c += int64(in[i]) + int64(in[i+1])
		}
		ps := relRunPieces(nil, runs, end, cu, 0)
		moves, err := relPlace(ps, newRelFree(gaps))
		if err != nil {
			if !errors.Is(err, ErrNoSpace) {
				t.Fatal(err)
			}
			return
		}
		after, err := relRemap(runs, end, moves)
		if err != nil {
			t.Fatal(err)
		}
		relCheckRemap(t, runs, after, end, moves)
		pairs, err := EncodeRunlist(after)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRunlist(pairs, first)
		if err != nil {
			t.Fatal(err)
		}
		relCheckRemap(t, runs, back, end, moves)
	})
}

// relExtentRecord builds an extension record (of base record 70) holding
// one compressed $DATA extent from VCN lowest, as libntfs-3g writes
// extents past VCN 0: a 72-byte header whose sizes and compressed size
// are 0, the compression unit 4.
func relExtentRecord(t *testing.T, runs []Run, lowest int64) *Record {
	t.Helper()
	le := binary.LittleEndian
	b := make([]byte, 1024)
	copy(b, "FILE")
	le.PutUint16(b[offUSAOfs:], 0x30)
	le.PutUint16(b[offUSACount:], 3)
	le.PutUint16(b[offRecSequence:], 2)
	le.PutUint16(b[offRecAttrsOffset:], 0x38)
	le.PutUint16(b[offRecFlags:], recordFlagInUse)
	le.PutUint32(b[offRecBytesAlloc:], 1024)
	le.PutUint64(b[offRecBaseRecord:], uint64(70|1<<48))
	le.PutUint32(b[offRecRecordNumber:], 71)
	pairs, err := EncodeRunlist(runs)
	if err != nil {
		t.Fatal(err)
	}
	length := (0x48 + len(pairs) + 7) &^ 7
	a := b[0x38:]
	le.PutUint32(a[offAttrType:], uint32(AttrData))
	le.PutUint32(a[offAttrLength:], uint32(length))
	a[offAttrNonResident] = 1
	le.PutUint16(a[offAttrNameOffset:], 0x48)
	le.PutUint16(a[offAttrFlags:], AttrFlagCompressed)
	le.PutUint16(a[offAttrInstance:], 5)
	le.PutUint64(a[offAttrLowestVCN:], uint64(lowest))
	last := runs[len(runs)-1]
	le.PutUint64(a[offAttrHighestVCN:], uint64(last.VCN+last.Length-1))
	le.PutUint16(a[offAttrRunsOffset:], 0x48)
	a[offAttrCompressionUnit] = 4
	copy(a[0x48:], pairs)
	le.PutUint32(b[0x38+length:], attrEnd)
	le.PutUint32(b[offRecBytesInUse:], uint32(0x38+length+8))
	if err := ProtectFixups(b, 1); err != nil {
		t.Fatal(err)
	}
	rec, err := ParseRecord(b, 71)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRelSetRunsExtent rewrites the mapping pairs of an extent past VCN
// 0 in an extension record: only its length and pairs change, its VCN
// range, sizes (0, as the writer left them), compressed size and
// compression unit stay byte for byte; a runlist that no longer fits is
// ErrNoSpace, and the record is then unchanged.
func TestRelSetRunsExtent(t *testing.T) {
	const lowest = 4096
	runs := relCompressedRuns([]byte{5, 16, 0, 3, 9, 16, 16, 1}, 16, 1000)
	for i := range runs {
		runs[i].VCN += lowest
	}
	rec := relExtentRecord(t, runs, lowest)
	a := rec.Find(AttrData, "")
	hdr := bytes.Clone(rec.Raw[a.Offset : a.Offset+a.RunsOffset])
	moves, err := relPlace(relRunPieces(nil, runs, 1000, 16, 0), newRelFree([]relExtent{{100, 5}, {300, 200}}))
	if err != nil {
		t.Fatal(err)
	}
	neu, err := relRemap(runs, 1000, moves)
	if err != nil {
		t.Fatal(err)
	}
	if err := relSetRuns(rec, a, neu); err != nil {
		t.Fatal(err)
	}
	got, err := reparse(rec)
	if err != nil {
		t.Fatal(err)
	}
	g := got.Find(AttrData, "")
	gh := bytes.Clone(got.Raw[g.Offset : g.Offset+g.RunsOffset])
	binary.LittleEndian.PutUint32(gh[offAttrLength:], uint32(a.Length))
	if !bytes.Equal(gh, hdr) {
		t.Errorf("header changed:\n%x\nwant\n%x", gh, hdr)
	}
	if g.LowestVCN != lowest || g.HighestVCN != a.HighestVCN || g.AllocatedSize != 0 || g.DataSize != 0 ||
		g.CompressedSize != 0 || g.CompressionUnit != 4 || got.BaseRecord != rec.BaseRecord || g.Instance != 5 {
		t.Errorf("extent after: %+v", g)
	}
	if d := cmp.Diff(neu, g.Runs, cmpopts.IgnoreFields(Run{}, "PairOffset", "PairLength")); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
	relCheckRemap(t, runs, g.Runs, 1000, moves)
	// A runlist that maps other VCNs is an internal error, not a write.
	if err := relSetRuns(got, g, neu[1:]); err == nil {
		t.Error("runs not starting at LowestVCN accepted")
	}
	// Far more runs than the record holds.
	var many []Run
	for i := int64(0); i <= a.HighestVCN-lowest; i++ {
		many = append(many, Run{VCN: lowest + i, LCN: i % 2 << 40, Length: 1})
	}
	raw := bytes.Clone(got.Raw)
	if err := relSetRuns(got, g, many); !errors.Is(err, ErrNoSpace) {
		t.Errorf("%d runs: %v, want ErrNoSpace", len(many), err)
	}
	if !bytes.Equal(raw, got.Raw) {
		t.Error("a refused rewrite changed the record")
	}
}
