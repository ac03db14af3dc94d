package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// rwContent is deterministic text of n bytes, different for each key.
func rwContent(key string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz\r\n"[(i+len(key)*7)%28]
	}
	copy(b, key)
	return b
}

// rwIndexSizes returns the ($FILE_NAME allocated size, data size) pairs of
// every entry of the root directory's index that points to record n.
func rwIndexSizes(t *testing.T, v *Volume, dir, n uint64) [][2]int64 {
	t.Helper()
	var out [][2]int64
	collect := func(b []byte, hdr int) {
		node, err := indexNode(b, hdr)
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		for off := 0; off+offIEKey <= len(node); {
			e := node[off:]
			length := int(le.Uint16(e[offIELength:]))
			if le.Uint16(e[offIEFlags:])&ieFlagLast != 0 || length == 0 {
				return
			}
			if FileRef(le.Uint64(e)).Record() == n {
				k := e[offIEKey:]
				out = append(out, [2]int64{int64(le.Uint64(k[offFNAllocSize:])), int64(le.Uint64(k[offFNDataSize:]))})
			}
			off += length
		}
	}
	rec, err := v.ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	root := rec.Find(AttrIndexRoot, "$I30")
	collect(root.Value, offIRHeader)
	if rec.Find(AttrIndexAllocation, "$I30") == nil {
		return out
	}
	st, err := v.openStream(rec, AttrIndexAllocation, "$I30")
	if err != nil {
		t.Fatal(err)
	}
	bsz := int64(binary.LittleEndian.Uint32(root.Value[offIRBlockSize:]))
	for off := int64(0); off+bsz <= st.size; off += bsz {
		b := make([]byte, bsz)
		if err := readFull(st, b, off); err != nil {
			t.Fatal(err)
		}
		if string(b[:4]) != "INDX" {
			continue
		}
		if err := ApplyFixups(b); err != nil {
			t.Fatal(err)
		}
		collect(b, offIndxHeader)
	}
	return out
}

var (
	istatDataRE = regexp.MustCompile(`Type: \$DATA \(128-\d+\)\s+Name: N/A\s+(Resident|Non-Resident)\s+size: (\d+)`)
	istatFNRE   = regexp.MustCompile(`Allocated Size: (\d+)\s+Actual Size: (\d+)`)
)

// rwJudge runs the independent readers on the volume image after a
// rewrite of name (record rec) to want.
func rwJudge(t *testing.T, img, name string, rec uint64, want []byte, resident bool) {
	t.Helper()
	testutil.NeedTool(t, "ntfscat", "ntfsinfo", "ntfsfix", "ntfsresize", "fls", "istat", "icat")
	if got := stdout(t, "ntfscat", img, name); !bytes.Equal(got, want) {
		t.Errorf("ntfscat: %d bytes %.30q..., want %d bytes %.30q...", len(got), got, len(want), want)
	}
	inum := fmt.Sprint(rec)
	if got := stdout(t, "icat", img, inum); !bytes.Equal(got, want) {
		t.Errorf("icat: %d bytes, want %d", len(got), len(want))
	}
	ist := testutil.Run(t, "istat", img, inum)
	m := istatDataRE.FindStringSubmatch(ist)
	if m == nil || m[2] != fmt.Sprint(len(want)) || (m[1] == "Resident") != resident {
		t.Errorf("istat $DATA: %q, want size %d resident %v\n%s", m, len(want), resident, ist)
	}
	if fls := testutil.Run(t, "fls", "-r", img); !strings.Contains(fls, fmt.Sprintf("%d-128-", rec)) || !strings.Contains(fls, strings.TrimPrefix(name, "/")) {
		t.Errorf("fls -r does not list %s:\n%s", name, fls)
	}
	info := testutil.Run(t, "ntfsinfo", "-F", name, img)
	sizes := regexp.MustCompile(`(?m)^\s*Data size:\s*(\d+)`).FindAllStringSubmatch(info, -1)
	if len(sizes) == 0 || sizes[len(sizes)-1][1] != fmt.Sprint(len(want)) {
		t.Errorf("ntfsinfo -F %s: $DATA size %q, want %d\n%s", name, sizes, len(want), info)
	}
	if out, err := testutil.RunErr("ntfsfix", "-n", img); err != nil {
		t.Errorf("ntfsfix -n: %v\n%s", err, out)
	}
	out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", img)
	if err != nil || rsInfoErrRE.MatchString(out) {
		t.Errorf("ntfsresize --info: %v\n%s", err, out)
	}
}

func TestRewriteFile(t *testing.T) {
	const res, nonres = "/ReAgent.xml", "/Big.xml"
	cases := []struct {
		name  string
		file  string
		size  func(r FileRoom) int // new size from the room before
		fails error
	}{
		{name: "resident-grow", file: res, size: func(r FileRoom) int { return int(r.Size) + 3 }},
		{name: "resident-shrink", file: res, size: func(r FileRoom) int { return int(r.Size) - 5 }},
		{name: "resident-to-max", file: res, size: func(r FileRoom) int { return int(r.MaxSize) }},
		{name: "resident-past-max", file: res, size: func(r FileRoom) int { return int(r.MaxSize) + 1 }, fails: ErrNoSpace},
		{name: "resident-to-empty", file: res, size: func(r FileRoom) int { return 0 }},
		{name: "nonresident-grow", file: nonres, size: func(r FileRoom) int { return int(r.Size) + 3 }},
		{name: "nonresident-shrink", file: nonres, size: func(r FileRoom) int { return int(r.Size) - 6 }},
		{name: "nonresident-to-cluster-end", file: nonres, size: func(r FileRoom) int { return int(r.MaxSize) }},
		{name: "nonresident-past-allocation", file: nonres, size: func(r FileRoom) int { return int(r.MaxSize) + 1 }, fails: ErrNoSpace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, files := rsPlain(t, map[string]int{res: 301, nonres: 1066})
			v := openImage(t, img)
			room, err := v.FileRoom(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if room.Size != int64(len(files[c.file])) || room.Resident != (c.file == res) || room.Fixed != "" {
				t.Fatalf("room %+v", room)
			}
			if c.file == nonres && room.MaxSize != 4096 {
				t.Errorf("non-resident room %d, want the 4096-byte cluster", room.MaxSize)
			}
			f, err := v.Lookup(c.file)
			if err != nil {
				t.Fatal(err)
			}
			before := rwIndexSizes(t, v, RecordRoot, f.Record)
			want := rwContent(c.name, c.size(room))
			if c.fails != nil {
				_, err := v.PlanRewriteFile(c.file, want)
				var re *RoomError
				if !errors.Is(err, c.fails) || !errors.As(err, &re) || re.Want != int64(len(want)) {
					t.Fatalf("PlanRewriteFile of %d bytes: %v, want a *RoomError wrapping %v", len(want), err, c.fails)
				}
				if cerr := room.Check(int64(len(want))); cerr == nil || cerr.Error() != err.Error() {
					t.Errorf("FileRoom.Check says %v, PlanRewriteFile %v", cerr, err)
				}
				return
			}
			if err := room.Check(int64(len(want))); err != nil {
				t.Fatalf("Check: %v", err)
			}
			rsApply(t, img, 32<<20, 32<<20, func(v *Volume) ([]diag.Write, error) { return v.PlanRewriteFile(c.file, want) })
			rwJudge(t, img, c.file, f.Record, want, c.file == res)
			// The other file is untouched.
			for name, b := range files {
				if name != c.file {
					if got := stdout(t, "ntfscat", img, name); !bytes.Equal(got, b) {
						t.Errorf("%s changed", name)
					}
				}
			}
			v = openImage(t, img)
			after := rwIndexSizes(t, v, RecordRoot, f.Record)
			if len(after) == 0 || len(after) != len(before) {
				t.Fatalf("index entries %v, before %v", after, before)
			}
			for i, s := range after {
				if s[1] != int64(len(want)) {
					t.Errorf("index entry %d: data size %d, want %d (before %v)", i, s[1], len(want), before[i])
				}
				if c.file == res && before[i][0] == (room.Size+7)&^7 && s[0] != int64(len(want)+7)&^7 {
					t.Errorf("index entry %d: allocated size %d, want %d", i, s[0], (len(want)+7)&^7)
				}
			}
			// The record's $FILE_NAME: followed where it held the old sizes.
			ist := testutil.Run(t, "istat", img, fmt.Sprint(f.Record))
			if m := istatFNRE.FindStringSubmatch(ist); m == nil || (m[2] != "0" && m[2] != fmt.Sprint(len(want))) {
				t.Errorf("istat $FILE_NAME sizes %q", m)
			}
			// Rewriting at the new length again is a no-op; back to the old
			// content restores the file.
			again, err := v.FileRoom(c.file)
			if err != nil || again.Size != int64(len(want)) {
				t.Fatalf("room after: %+v, %v", again, err)
			}
			if ws, err := v.PlanRewriteFile(c.file, want); err != nil || len(ws) > 2 {
				t.Errorf("rewriting the same content: %d writes, %v", len(ws), err)
			}
			rsApply(t, img, 32<<20, 32<<20, func(v *Volume) ([]diag.Write, error) { return v.PlanRewriteFile(c.file, files[c.file]) })
			rwJudge(t, img, c.file, f.Record, files[c.file], c.file == res)
		})
	}
}

// TestRewriteResidentRecord resizes a resident value in a synthetic record
// and checks the layout: the attributes after it move, lengths and bytes in
// use follow, alignment holds, and a full record refuses.
func TestRewriteResidentRecord(t *testing.T) {
	rec := rwRecord(t, 120, 40)
	a := *rec.Find(AttrData, "")
	next := *rec.Find(AttrType(0xC0), "")
	for _, n := range []int{121, 127, 128, 129, 3, 0, 120} {
		r := &Record{Number: rec.Number, Raw: bytes.Clone(rec.Raw)}
		if err := resizeResident(r, &a, bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := reparse(r)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		d := got.Find(AttrData, "")
		x := got.Find(AttrType(0xC0), "")
		if len(d.Value) != n || d.Length != (a.ValueOffset+n+7)&^7 || !bytes.Equal(d.Value, bytes.Repeat([]byte{'x'}, n)) {
			t.Errorf("%d bytes: $DATA length %d value %d", n, d.Length, len(d.Value))
		}
		if x.Offset != d.Offset+d.Length || !bytes.Equal(x.Value, next.Value) {
			t.Errorf("%d bytes: next attribute at %d, want %d", n, x.Offset, d.Offset+d.Length)
		}
		if int(got.BytesInUse) != x.Offset+x.Length+8 || got.BytesInUse%8 != 0 {
			t.Errorf("%d bytes: bytes in use %d", n, got.BytesInUse)
		}
		if tail := got.Raw[got.BytesInUse:]; bytes.ContainsFunc(tail, func(r rune) bool { return r == 'x' }) {
			t.Errorf("%d bytes: stale value bytes past the end", n)
		}
	}
	// The room: everything free in the record.
	free := int(rec.BytesAllocated - rec.BytesInUse)
	maxN := (a.Length+free)&^7 - a.ValueOffset
	r := &Record{Number: rec.Number, Raw: bytes.Clone(rec.Raw)}
	if err := resizeResident(r, &a, make([]byte, maxN)); err != nil {
		t.Errorf("max %d: %v", maxN, err)
	}
	r = &Record{Number: rec.Number, Raw: bytes.Clone(rec.Raw)}
	if err := resizeResident(r, &a, make([]byte, maxN+1)); !errors.Is(err, ErrNoSpace) {
		t.Errorf("max+1: %v, want ErrNoSpace", err)
	} else if !bytes.Equal(r.Raw, rec.Raw) {
		t.Error("a refused resize changed the record")
	}
}

// rwRecord builds a 1024-byte record holding a resident $DATA of n bytes
// followed by a resident attribute of type 0xC0 with m bytes.
func rwRecord(t testing.TB, n, m int) *Record {
	t.Helper()
	le := binary.LittleEndian
	raw := make([]byte, 1024)
	copy(raw, "FILE")
	le.PutUint16(raw[offUSAOfs:], 0x30)
	le.PutUint16(raw[offUSACount:], 3)
	le.PutUint16(raw[offRecAttrsOffset:], 0x38)
	le.PutUint16(raw[offRecFlags:], recordFlagInUse)
	le.PutUint32(raw[offRecBytesAlloc:], 1024)
	off := 0x38
	put := func(typ AttrType, v []byte) {
		l := (attrResidentHdrSize + len(v) + 7) &^ 7
		le.PutUint32(raw[off:], uint32(typ))
		le.PutUint32(raw[off+offAttrLength:], uint32(l))
		le.PutUint32(raw[off+offAttrValueLength:], uint32(len(v)))
		le.PutUint16(raw[off+offAttrValueOffset:], attrResidentHdrSize)
		copy(raw[off+attrResidentHdrSize:], v)
		off += l
	}
	put(AttrData, bytes.Repeat([]byte{'d'}, n))
	put(AttrType(0xC0), bytes.Repeat([]byte{'n'}, m))
	le.PutUint32(raw[off:], attrEnd)
	le.PutUint32(raw[offRecBytesInUse:], uint32(off+8))
	if err := ProtectFixups(raw, 1); err != nil {
		t.Fatal(err)
	}
	rec, err := ParseRecord(raw, 99)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
