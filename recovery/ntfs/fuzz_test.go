package ntfs

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSeeds returns the boot sector, the first MFT records and their
// runlists of the Windows sample, when it is present.
func fuzzSeeds(f *testing.F) (boot []byte, records [][]byte, runlists [][]byte) {
	f.Helper()
	defer func() { _ = recover() }() // sample helpers may Skip; seeds are optional
	img := sampleBytes(f, "ntfs-windows.img.xz")
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		return img[:512], nil, nil
	}
	for n := uint64(0); n < 16; n++ {
		ext, err := v.RecordExtents(n)
		if err != nil || len(ext) != 1 {
			continue
		}
		raw := img[ext[0].VolumeOffset : ext[0].VolumeOffset+ext[0].Length]
		records = append(records, raw)
		if rec, err := ParseRecord(raw, n); err == nil {
			for _, a := range rec.Attributes {
				if a.NonResident {
					runlists = append(runlists, rec.Raw[a.Offset+a.RunsOffset:a.Offset+a.Length])
				}
			}
		}
	}
	return img[:512], records, runlists
}

func FuzzBootSector(f *testing.F) {
	boot, _, _ := fuzzSeeds(f)
	if boot != nil {
		f.Add(boot)
	}
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := ParseBootSector(b)
		if err != nil {
			return
		}
		if cs := bs.ClusterSize(); cs < 256 || cs > maxClusterSize {
			t.Fatalf("accepted cluster size %d", cs)
		}
		if rs := bs.MFTRecordSize(); rs < minRecordSize || rs > maxRecordSize {
			t.Fatalf("accepted record size %d", rs)
		}
		out, err := bs.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b[:512]) {
			t.Fatalf("marshal does not give back the 512 bytes parsed")
		}
		again, err := ParseBootSector(out)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(bs, again); diff != "" {
			t.Fatal(diff)
		}
	})
}

func FuzzMFTRecord(f *testing.F) {
	_, records, _ := fuzzSeeds(f)
	for _, r := range records {
		f.Add(r)
	}
	f.Add(make([]byte, 1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ParseRecord(b, 7)
		if err != nil {
			return
		}
		for _, a := range rec.Attributes {
			if a.Offset < int(rec.AttrsOffset) || a.Offset+a.Length > int(rec.BytesInUse) {
				t.Fatalf("attribute %v at %d+%d outside %d..%d", a.Type, a.Offset, a.Length, rec.AttrsOffset, rec.BytesInUse)
			}
			if a.Type == AttrAttributeList && !a.NonResident {
				_, _ = ParseAttributeList(a.Value)
			}
		}
		// Re-protecting the fixed-up record with the same number gives
		// back the bytes read.
		again := bytes.Clone(rec.Raw)
		if err := ProtectFixups(again, UpdateSequenceNumber(b)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("ProtectFixups(ApplyFixups(b)) != b")
		}
	})
}

func FuzzRunlist(f *testing.F) {
	_, _, runlists := fuzzSeeds(f)
	for _, r := range runlists {
		f.Add(r, int64(0))
	}
	f.Add([]byte{0x21, 0x10, 0x00, 0x01, 0x11, 0x05, 0x80, 0x01, 0x20, 0}, int64(0))
	f.Add([]byte{0x01, 0x7f, 0}, int64(12))
	f.Fuzz(func(t *testing.T, b []byte, start int64) {
		runs, err := DecodeRunlist(b, start)
		if err != nil {
			return
		}
		vcn := start
		for _, r := range runs {
			if r.VCN != vcn || r.Length <= 0 || (!r.Sparse && (r.LCN < 0 || r.LCN+r.Length > maxLCN)) {
				t.Fatalf("bad run %+v at VCN %d", r, vcn)
			}
			vcn += r.Length
		}
		enc, err := EncodeRunlist(runs)
		if err != nil {
			t.Fatalf("EncodeRunlist: %v", err)
		}
		again, err := DecodeRunlist(enc, start)
		if err != nil {
			t.Fatalf("decoding our encoding: %v", err)
		}
		if diff := cmp.Diff(runs, again, ignorePairs); diff != "" {
			t.Fatal(diff)
		}
	})
}
