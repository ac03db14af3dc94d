package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/winrepart/winrepart/diag"
)

// withBitmapAccounting runs f with checkAccounting forced onto its
// fallback, which holds the whole bitmap and a set of the clusters seen.
func withBitmapAccounting(t *testing.T, f func()) {
	t.Helper()
	old := maxAccountingExtents
	maxAccountingExtents = 1
	defer func() { maxAccountingExtents = old }()
	f()
}

// TestAccountingBothWays: the run-list check and its bitmap fallback find
// the same faults (a cluster in use marked free, a cluster mapped twice)
// and accept the same healthy volume with the same writes.
func TestAccountingBothWays(t *testing.T) {
	img, _ := rsPlain(t, map[string]int{"/a.bin": 100 << 10, "/b.bin": 3 << 20, "/c.txt": 700})
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	v := openBytes(t, good)
	mft := int64(v.Boot.MFTLCN)

	// A cluster of $MFT marked free in $Bitmap.
	freed := bytes.Clone(good)
	_, bmAttr, err := v.singleExtent(RecordBitmap, "")
	if err != nil {
		t.Fatal(err)
	}
	freed[bmAttr.Runs[0].LCN*v.clusterSize+mft/8] &^= 1 << (mft % 8)

	// $MFTMirr's run pointed at $MFT's first cluster: mapped twice.
	twice := bytes.Clone(good)
	rec, err := v.ReadRecord(RecordMFTMirr)
	if err != nil {
		t.Fatal(err)
	}
	a := rec.Find(AttrData, "")
	if a == nil || len(a.Runs) != 1 {
		t.Fatalf("$MFTMirr $DATA: %+v", a)
	}
	ro := a.Offset + int(binary.LittleEndian.Uint16(rec.Raw[a.Offset+offAttrRunsOffset:]))
	oldRL, err := EncodeRunlist(a.Runs)
	if err != nil {
		t.Fatal(err)
	}
	moved := []Run{{VCN: 0, LCN: mft, Length: a.Runs[0].Length}}
	newRL, err := EncodeRunlist(moved)
	if err != nil || len(newRL) > len(oldRL) || ro+len(oldRL) > 510 {
		t.Fatalf("cannot patch the runlist in place: %x -> %x, %v", oldRL, newRL, err)
	}
	at := mft*v.clusterSize + RecordMFTMirr*v.recordSize + int64(ro)
	if !bytes.Equal(twice[at:at+int64(len(oldRL))], oldRL) {
		t.Fatalf("runlist not found on disk at %d", at)
	}
	copy(twice[at:], append(newRL, make([]byte, len(oldRL)-len(newRL))...))

	check := func(name string, b []byte, want *AccountingError) {
		t.Helper()
		ws, err := openBytes(t, b).PlanShrink(30<<20, DefaultResizeOptions())
		var ws2 []diag.Write
		var err2 error
		withBitmapAccounting(t, func() { ws2, err2 = openBytes(t, b).PlanShrink(30<<20, DefaultResizeOptions()) })
		for i, e := range []error{err, err2} {
			way := []string{"runs", "bitmap"}[i]
			if want == nil {
				if e != nil {
					t.Errorf("%s (%s): %v", name, way, e)
				}
				continue
			}
			var ae *AccountingError
			if !errors.As(e, &ae) || !errors.Is(e, ErrAccounting) || *ae != *want {
				t.Errorf("%s (%s): %v (%+v), want %+v", name, way, e, ae, want)
			}
		}
		if want == nil && !sameWrites(ws, ws2) {
			t.Errorf("%s: the two ways plan different writes", name)
		}
	}
	check("healthy", good, nil)
	check("cluster marked free", freed, &AccountingError{Record: RecordMFT, Type: AttrData, LCN: mft, Other: NoRecord})
	check("cluster mapped twice", twice, &AccountingError{Record: RecordMFTMirr, Type: AttrData, LCN: mft, Other: RecordMFT})
}

func sameWrites(a, b []diag.Write) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i].Offset != b[i].Offset || !bytes.Equal(a[i].Old, b[i].Old) || !bytes.Equal(a[i].New, b[i].New) {
			return false
		}
	}
	return true
}
