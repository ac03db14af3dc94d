package ntfs

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/winrepart/winrepart/diag"
)

// rsSeedRecord builds a minimal valid 1024-byte FILE record holding one
// non-resident $DATA attribute named "$Bad" (one hole run), like
// $BadClus, and protects it.
func rsSeedRecord() []byte {
	le := binary.LittleEndian
	b := make([]byte, 1024)
	copy(b, "FILE")
	le.PutUint16(b[offUSAOfs:], 0x30)
	le.PutUint16(b[offUSACount:], 3)
	le.PutUint16(b[offRecSequence:], 8)
	le.PutUint16(b[offRecLinkCount:], 1)
	le.PutUint16(b[offRecAttrsOffset:], 0x38)
	le.PutUint16(b[offRecFlags:], recordFlagInUse)
	le.PutUint32(b[offRecBytesAlloc:], 1024)
	le.PutUint32(b[offRecRecordNumber:], 8)
	a := b[0x38:]
	le.PutUint32(a[offAttrType:], uint32(AttrData))
	le.PutUint32(a[offAttrLength:], 0x50)
	a[offAttrNonResident] = 1
	a[offAttrNameLength] = 4
	le.PutUint16(a[offAttrNameOffset:], 0x40)
	le.PutUint64(a[offAttrHighestVCN:], 0x3ffe)
	le.PutUint16(a[offAttrRunsOffset:], 0x48)
	le.PutUint64(a[offAttrAllocatedSize:], 0x3fff000)
	le.PutUint64(a[offAttrDataSize:], 0x3fff000)
	for i, c := range "$Bad" {
		le.PutUint16(a[0x40+2*i:], uint16(c))
	}
	copy(a[0x48:], []byte{0x02, 0xff, 0x3f, 0})
	le.PutUint32(b[0x38+0x50:], attrEnd)
	le.PutUint32(b[offRecBytesInUse:], 0x38+0x50+8)
	if err := ProtectFixups(b, 1); err != nil {
		panic(err)
	}
	return b
}

// FuzzSetNonResident feeds arbitrary records to the attribute rewriter:
// every non-resident attribute of a record that parses is rewritten with
// a hole of the given length; the result must either be refused or parse
// again with the new HighestVCN and sizes.
func FuzzSetNonResident(f *testing.F) {
	f.Add(rsSeedRecord(), int64(0x2dc6))
	f.Add(rsSeedRecord(), int64(1)<<40)
	f.Fuzz(func(t *testing.T, b []byte, clusters int64) {
		if clusters <= 0 || clusters > maxLCN {
			return
		}
		rec, err := ParseRecord(b, 8)
		if err != nil {
			return
		}
		for _, a := range rec.Attributes {
			if !a.NonResident {
				continue
			}
			edit := &Record{Number: rec.Number, Raw: bytes.Clone(rec.Raw)}
			runs := []Run{{LCN: -1, Length: clusters, Sparse: true, VCN: a.LowestVCN}}
			if err := setNonResident(edit, &a, runs, clusters*512, clusters*512, 0, 512); err != nil {
				continue
			}
			got, err := reparse(edit)
			if err != nil {
				t.Fatalf("rewritten record does not parse: %v", err)
			}
			var found bool
			for _, g := range got.Attributes {
				if g.Offset == a.Offset {
					found = true
					if g.HighestVCN != a.LowestVCN+clusters-1 || g.DataSize != clusters*512 {
						t.Fatalf("rewritten attribute %+v", g)
					}
				}
			}
			if !found {
				t.Fatal("rewritten attribute lost")
			}
		}
	})
}

// FuzzPatchEntries runs the directory-entry patcher over arbitrary index
// nodes: no panic, and bytes outside the entries' size fields unchanged.
func FuzzPatchEntries(f *testing.F) {
	le := binary.LittleEndian
	node := make([]byte, 0x10+0x68+0x10)
	le.PutUint32(node[offIHEntries:], 0x10)
	le.PutUint32(node[offIHIndexLength:], uint32(len(node)))
	le.PutUint32(node[offIHAllocated:], uint32(len(node)))
	e := node[0x10:]
	le.PutUint64(e[offIEFileRef:], 6|1<<48)
	le.PutUint16(e[offIELength:], 0x68)
	le.PutUint16(e[offIEKeyLength:], 0x50)
	last := node[0x78:]
	le.PutUint16(last[offIELength:], 0x10)
	le.PutUint16(last[offIEFlags:], ieFlagLast)
	f.Add(node, uint64(6))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, target uint64) {
		c := bytes.Clone(b)
		n, err := entrySizes{alloc: 0x1122334455, data: 0x66778899}.patchEntries(c, 0, target)
		if err != nil && n == 0 && !bytes.Equal(b, c) {
			t.Fatal("failed patch changed bytes")
		}
		if len(b) != len(c) {
			t.Fatal("length changed")
		}
	})
}

// FuzzCheckWrites: ApplyWrites' list validation never panics and accepts
// only non-overlapping lists.
func FuzzCheckWrites(f *testing.F) {
	f.Add(int64(0), 4, int64(4), 4)
	f.Add(int64(0), 4, int64(3), 4)
	f.Fuzz(func(t *testing.T, o1 int64, n1 int, o2 int64, n2 int) {
		if n1 < 0 || n2 < 0 || n1 > 1<<16 || n2 > 1<<16 {
			return
		}
		ws := []diag.Write{{Offset: o1, Old: make([]byte, n1), New: make([]byte, n1)}, {Offset: o2, Old: make([]byte, n2), New: make([]byte, n2)}}
		err := checkWrites(ws)
		overlap := o1 < o2+int64(n2) && o2 < o1+int64(n1) && n1 > 0 && n2 > 0
		if err == nil && (overlap || o1 < 0 || o2 < 0) {
			t.Fatalf("accepted %v+%d %v+%d", o1, n1, o2, n2)
		}
	})
}
