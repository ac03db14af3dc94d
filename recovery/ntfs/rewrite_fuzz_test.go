package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// rewriteBase is a small volume holding a resident and a non-resident
// file, and the metadata regions FuzzRewriteFile patches: their MFT
// records, the root directory's record and its first index block.
type rewriteBase struct {
	img     []byte
	regions [][2]int64
}

func newRewriteBase(f *testing.F) *rewriteBase {
	f.Helper()
	testutil.NeedTool(f, "mkntfs", "ntfscp")
	const size = 16 << 20
	p := mkntfs(f, size, 512, 4096, "rw")
	for name, n := range map[string]int{"r.xml": 300, "n.xml": 1066} {
		src := filepath.Join(f.TempDir(), name)
		if err := os.WriteFile(src, rwContent(name, n), 0o644); err != nil {
			f.Fatal(err)
		}
		testutil.Run(f, "ntfscp", p, src, "/"+name)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	v := openBytes(f, img)
	b := &rewriteBase{img: img}
	for _, name := range []string{`\r.xml`, `\n.xml`} {
		file, err := v.Lookup(name)
		if err != nil {
			f.Fatal(err)
		}
		ext, err := v.RecordExtents(file.Record)
		if err != nil {
			f.Fatal(err)
		}
		b.regions = append(b.regions, [2]int64{ext[0].VolumeOffset, ext[0].Length})
		if file.Runs != nil {
			b.regions = append(b.regions, [2]int64{file.Runs[0].LCN * v.clusterSize, v.clusterSize})
		}
	}
	ext, err := v.RecordExtents(RecordRoot)
	if err != nil {
		f.Fatal(err)
	}
	b.regions = append(b.regions, [2]int64{ext[0].VolumeOffset, ext[0].Length})
	root, err := v.ReadRecord(RecordRoot)
	if err != nil {
		f.Fatal(err)
	}
	if ia := root.Find(AttrIndexAllocation, "$I30"); ia != nil && len(ia.Runs) > 0 {
		b.regions = append(b.regions, [2]int64{ia.Runs[0].LCN * v.clusterSize, 4096})
	}
	return b
}

// FuzzRewriteFile patches fuzzer bytes into the metadata around two files
// and rewrites one of them at a length near its own: nothing may panic;
// FileRoom.Check and PlanRewriteFile must agree; a plan must be a valid
// write list whose Old bytes are the volume's, and once applied the file
// must read back as the new content, with the other file unchanged.
//
// Encoding: byte 0 selects the region (bit 7: repair the update sequence
// array when the region is a record or an index block), bytes 1-2 the
// offset in it, byte 3 the file (bit 0) and the new length (the rest: a
// signed delta from its size, or with bit 1 the room's maximum), bytes 4-
// the data.
func FuzzRewriteFile(f *testing.F) {
	base := newRewriteBase(f)
	for i := range base.regions {
		for _, sel := range []byte{0, 1, 2, 3, 0x10, 0x11, 0xF0, 0xF1} {
			f.Add([]byte{byte(i), 0, 0, sel})
			f.Add([]byte{byte(i) | 0x80, 0x18, 0, sel, 0xff, 0x03})
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 4 {
			return
		}
		img := bytes.Clone(base.img)
		r := base.regions[int(in[0]&0x7f)%len(base.regions)]
		off := int64(binary.LittleEndian.Uint16(in[1:])) % r[1]
		copy(img[r[0]+off:r[0]+r[1]], in[4:])
		if in[0]&0x80 != 0 {
			_ = ProtectFixups(img[r[0]:r[0]+r[1]], UpdateSequenceNumber(img[r[0]:r[0]+r[1]]))
		}
		v, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		name, other := `\r.xml`, `\n.xml`
		if in[3]&1 != 0 {
			name, other = other, name
		}
		room, err := v.FileRoom(name)
		if err != nil {
			if _, perr := v.PlanRewriteFile(name, nil); perr == nil {
				t.Fatalf("FileRoom fails (%v), PlanRewriteFile does not", err)
			}
			return
		}
		n := room.Size + int64(int8(in[3])>>2)
		if in[3]&2 != 0 {
			n = room.MaxSize + int64(int8(in[3])>>2&1)
		}
		if n < 0 || n > 1<<20 {
			return
		}
		content := rwContent(string(in), int(n))
		ws, err := v.PlanRewriteFile(name, content)
		if cerr := room.Check(n); (cerr == nil) != (err == nil) && (cerr != nil || !errors.Is(err, ErrBadIndex) && !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrNoAttribute) && !errors.Is(err, ErrNotDirectory) && !errors.Is(err, ErrOutOfRange) && !errors.Is(err, ErrBadFixup) && !errors.Is(err, ErrBadRunlist) && !errors.Is(err, ErrBadAttribute)) {
			// A plan may still fail on a broken parent directory, which
			// FileRoom does not read; it must never succeed where Check
			// refuses.
			t.Fatalf("Check(%d) = %v, PlanRewriteFile: %v", n, cerr, err)
		}
		if err != nil {
			return
		}
		if cerr := checkWrites(ws); cerr != nil {
			t.Fatalf("invalid writes: %v", cerr)
		}
		for _, w := range ws {
			if w.Offset < 0 || w.Offset+int64(len(w.New)) > int64(len(img)) || !bytes.Equal(img[w.Offset:w.Offset+int64(len(w.Old))], w.Old) {
				t.Fatalf("write %q at %d: outside the volume or stale Old bytes", w.What, w.Offset)
			}
		}
		before, oerr := v.ReadFile(other, 1<<20)
		if of, err := v.Lookup(other); err != nil || of.Record < 16 || of.Record == room.Record {
			// A corrupted entry may name a system file ($MFT, say) or the
			// rewritten file, whose data the rewrite legitimately changes.
			oerr = errors.New("not a user file")
		}
		for _, w := range ws {
			copy(img[w.Offset:], w.New)
		}
		v2, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatalf("volume does not open after the rewrite: %v", err)
		}
		got, err := v2.ReadFile(name, 1<<20)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("after the rewrite: %d bytes, %v; want %d bytes", len(got), err, len(content))
		}
		if oerr == nil {
			if after, err := v2.ReadFile(other, 1<<20); err != nil || !bytes.Equal(after, before) {
				t.Fatalf("%s changed: %v", other, err)
			}
		}
	})
}

// FuzzResizeResident resizes the resident $DATA of a fuzzed MFT record:
// no panic, and either a typed refusal that leaves the record alone or a
// record that parses with the new value and every other attribute intact.
func FuzzResizeResident(f *testing.F) {
	for _, nm := range [][2]int{{120, 40}, {0, 0}, {700, 100}, {7, 9}} {
		rec := rwRecordF(f, nm[0], nm[1])
		f.Add(rec, uint16(nm[0]+3))
		f.Add(rec, uint16(0))
		f.Add(rec, uint16(900))
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint16) {
		rec, err := ParseRecord(raw, 5)
		if err != nil {
			return
		}
		d := rec.Find(AttrData, "")
		if d == nil || d.NonResident {
			return
		}
		a := *d
		work := &Record{Number: rec.Number, Raw: bytes.Clone(rec.Raw)}
		value := bytes.Repeat([]byte{0xA5}, int(n))
		if err := resizeResident(work, &a, value); err != nil {
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("untyped refusal %v", err)
			}
			if !bytes.Equal(work.Raw, rec.Raw) {
				t.Fatal("a refused resize changed the record")
			}
			return
		}
		got, err := reparse(work)
		if err != nil {
			t.Fatalf("resized record does not parse: %v", err)
		}
		if len(got.Attributes) != len(rec.Attributes) {
			t.Fatalf("%d attributes, had %d", len(got.Attributes), len(rec.Attributes))
		}
		for i, x := range got.Attributes {
			y := rec.Attributes[i]
			if x.Type != y.Type || x.Instance != y.Instance || x.Offset%8 != 0 {
				t.Fatalf("attribute %d: %v/%d at %d, was %v/%d", i, x.Type, x.Instance, x.Offset, y.Type, y.Instance)
			}
			if x.Offset == a.Offset {
				if !bytes.Equal(x.Value, value) {
					t.Fatalf("value of %d bytes, want %d", len(x.Value), n)
				}
			} else if !x.NonResident && !bytes.Equal(x.Value, y.Value) {
				t.Fatalf("attribute %d's value changed", i)
			}
		}
	})
}

func rwRecordF(f *testing.F, n, m int) []byte {
	rec := rwRecord(f, n, m)
	out := bytes.Clone(rec.Raw)
	if err := ProtectFixups(out, 1); err != nil {
		f.Fatal(err)
	}
	return out
}
