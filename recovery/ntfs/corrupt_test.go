package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// mutation is a named corruption of a good volume image and the error it
// must produce, from Open or from the operation run afterwards.
type mutation struct {
	name   string
	mutate func(t *testing.T, b []byte, v *Volume)
	op     func(v *Volume) error // nil: the error must come from Open
	want   error                 // sentinel
	typed  any                   // pointer to the structured error type expected
}

// recordOffset returns where record n starts in the image.
func recordOffset(t *testing.T, v *Volume, n uint64) int64 {
	t.Helper()
	ext, err := v.RecordExtents(n)
	if err != nil || len(ext) != 1 {
		t.Fatalf("RecordExtents(%d) = %v, %v", n, ext, err)
	}
	return ext[0].VolumeOffset
}

// attrOffset returns the image offset of attribute (typ, name) of record n.
func attrOffset(t *testing.T, v *Volume, n uint64, typ AttrType, name string) (int64, *Attribute) {
	t.Helper()
	rec, err := v.ReadRecord(n)
	if err != nil {
		t.Fatal(err)
	}
	a := rec.Find(typ, name)
	if a == nil {
		t.Fatalf("record %d has no %v %q", n, typ, name)
	}
	return recordOffset(t, v, n) + int64(a.Offset), a
}

var le = binary.LittleEndian

func mutations() []mutation {
	label := func(v *Volume) error { _, err := v.Label(); return err }
	usage := func(v *Volume) error { _, err := v.Usage(); return err }
	lookup := func(p string) func(v *Volume) error {
		return func(v *Volume) error { _, err := v.Lookup(p); return err }
	}
	var (
		fe *FieldError
		ge *GeometryError
		re *RecordError
		ie *IndexError
	)
	return []mutation{
		{"bad-oem-id", func(t *testing.T, b []byte, v *Volume) { copy(b[3:], "EXFAT   ") }, nil, ErrNotNTFS, &fe},
		{"bitlocker-oem", func(t *testing.T, b []byte, v *Volume) { copy(b[3:], "-FVE-FS-") }, nil, ErrBitLocker, nil},
		{"bitlocker-to-go", func(t *testing.T, b []byte, v *Volume) {
			copy(b[3:], "MSWIN4.1")
			copy(b[offToGoGUID:], bitLockerGUID[:])
		}, nil, ErrBitLockerToGo, nil},
		{"zero-bytes-per-sector", func(t *testing.T, b []byte, v *Volume) { le.PutUint16(b[offBytesPerSector:], 0) }, nil, ErrBadBootSector, &fe},
		{"bytes-per-sector-not-power-of-two", func(t *testing.T, b []byte, v *Volume) { le.PutUint16(b[offBytesPerSector:], 768) }, nil, ErrBadBootSector, &fe},
		{"cluster-size-2^31", func(t *testing.T, b []byte, v *Volume) { b[offSectorsPerCluster] = 256 - 31 }, nil, ErrBadBootSector, &fe},
		{"cluster-size-16MiB", func(t *testing.T, b []byte, v *Volume) {
			le.PutUint16(b[offBytesPerSector:], 4096)
			b[offSectorsPerCluster] = 0xF4
		}, nil, ErrBadBootSector, &fe},
		{"record-size-huge", func(t *testing.T, b []byte, v *Volume) { b[offClustersPerMFTRecord] = 0x7F }, nil, ErrBadBootSector, &fe},
		{"record-size-2^40", func(t *testing.T, b []byte, v *Volume) { b[offClustersPerMFTRecord] = byte(256 - 40) }, nil, ErrBadBootSector, &fe},
		{"index-block-tiny", func(t *testing.T, b []byte, v *Volume) { b[offClustersPerIndexBlock] = byte(256 - 8) }, nil, ErrBadBootSector, &fe},
		{"fat-field-set", func(t *testing.T, b []byte, v *Volume) { b[offFATs] = 2 }, nil, ErrBadBootSector, &fe},
		{"no-boot-signature", func(t *testing.T, b []byte, v *Volume) { b[offBootSignature] = 0 }, nil, ErrBadBootSector, &fe},
		{"total-sectors-beyond-partition", func(t *testing.T, b []byte, v *Volume) {
			le.PutUint64(b[offTotalSectors:], uint64(len(b)/512+1))
		}, nil, ErrGeometry, &ge},
		{"total-sectors-2^64", func(t *testing.T, b []byte, v *Volume) { le.PutUint64(b[offTotalSectors:], 1<<63) }, nil, ErrBadBootSector, &fe},
		{"mft-lcn-beyond-volume", func(t *testing.T, b []byte, v *Volume) { le.PutUint64(b[offMFTLCN:], 1<<40) }, nil, ErrGeometry, &ge},
		{"mftmirr-lcn-beyond-volume", func(t *testing.T, b []byte, v *Volume) { le.PutUint64(b[offMFTMirrLCN:], uint64(v.TotalClusters())) }, nil, ErrGeometry, &ge},
		{"mft-lcn-points-at-zeros", func(t *testing.T, b []byte, v *Volume) { le.PutUint64(b[offMFTLCN:], uint64(v.TotalClusters()-2)) }, nil, ErrBadRecord, &re},
		{"mft-bad-fixup", func(t *testing.T, b []byte, v *Volume) { b[recordOffset(t, v, 0)+FixupStride-1] ^= 0xff }, nil, ErrBadFixup, &re},
		{"mft-usa-count-wrong", func(t *testing.T, b []byte, v *Volume) {
			le.PutUint16(b[recordOffset(t, v, 0)+offUSACount:], 9)
		}, nil, ErrBadFixup, &re},
		{"mft-data-runlist-overflow", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, 0, AttrData, "")
			b[off+int64(a.RunsOffset)] = 0x99 // 9-byte fields
		}, nil, ErrBadRunlist, &re},
		{"volume-bad-fixup", func(t *testing.T, b []byte, v *Volume) { b[recordOffset(t, v, 3)+2*FixupStride-2] ^= 0x55 }, label, ErrBadFixup, &re},
		{"attribute-length-zero", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, 3, AttrVolumeName, "")
			le.PutUint32(b[off+offAttrLength:], 0)
		}, label, ErrBadAttribute, &re},
		{"attribute-length-past-record", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, 3, AttrVolumeName, "")
			le.PutUint32(b[off+offAttrLength:], 1<<20)
		}, label, ErrBadAttribute, &re},
		{"resident-value-past-attribute", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, 3, AttrVolumeName, "")
			le.PutUint32(b[off+offAttrValueLength:], 4000)
		}, label, ErrBadAttribute, &re},
		{"attribute-name-past-attribute", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, 3, AttrVolumeName, "")
			b[off+offAttrNameLength] = 200
			le.PutUint16(b[off+offAttrNameOffset:], 0x18)
		}, label, ErrBadAttribute, &re},
		{"bytes-in-use-past-record", func(t *testing.T, b []byte, v *Volume) {
			le.PutUint32(b[recordOffset(t, v, 3)+offRecBytesInUse:], 1<<16)
		}, label, ErrBadRecord, &re},
		{"bitmap-runlist-overflow", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, 6, AttrData, "")
			p := off + int64(a.RunsOffset)
			// Length 1 cluster, LCN delta +2^62: beyond any volume.
			copy(b[p:], []byte{0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x40, 0})
		}, usage, ErrBadRunlist, &re},
		{"bitmap-run-beyond-volume", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, 6, AttrData, "")
			p := off + int64(a.RunsOffset)
			copy(b[p:], []byte{0x41, 0x01, 0, 0, 0, 0x10, 0})
		}, usage, ErrBadRunlist, &re},
		{"bitmap-too-short", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, 6, AttrData, "")
			le.PutUint64(b[off+offAttrDataSize:], 1)
			le.PutUint64(b[off+offAttrInitializedSize:], 1)
		}, usage, ErrBadAttribute, &re},
		{"index-root-garbage", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, RecordRoot, AttrIndexRoot, "$I30")
			le.PutUint32(b[off+int64(a.ValueOffset)+offIRHeader+offIHIndexLength:], 1<<20)
		}, lookup(`\$MFT`), ErrBadIndex, &ie},
		{"index-block-bad-magic", func(t *testing.T, b []byte, v *Volume) {
			copy(b[indexBlockOffset(t, v):], "XXXX")
		}, lookup(`\zzzz`), ErrBadIndex, &ie},
		{"index-block-bad-fixup", func(t *testing.T, b []byte, v *Volume) {
			b[indexBlockOffset(t, v)+FixupStride-2] ^= 1
		}, lookup(`\zzzz`), ErrBadFixup, &ie},
		{"index-loop", func(t *testing.T, b []byte, v *Volume) {
			// Give the block's end entry a child pointer to the block itself.
			off := indexBlockOffset(t, v)
			blk := make([]byte, v.Boot.IndexBlockSize())
			copy(blk, b[off:])
			usn := UpdateSequenceNumber(blk)
			if err := ApplyFixups(blk); err != nil {
				t.Fatal(err)
			}
			hdr := offIndxHeader
			end := hdr + int(le.Uint32(blk[hdr+offIHIndexLength:]))
			last := end - 0x10 // the end entry: 16 bytes, no key
			if le.Uint16(blk[last+offIEFlags:])&ieFlagLast == 0 {
				t.Fatalf("no 16-byte end entry at %#x", last)
			}
			le.PutUint16(blk[last+offIELength:], 0x18)
			le.PutUint16(blk[last+offIEFlags:], ieFlagLast|ieFlagSubnode)
			le.PutUint64(blk[last+0x10:], 0)
			le.PutUint32(blk[hdr+offIHIndexLength:], uint32(end-hdr+8))
			blk[hdr+offIHFlags] = 1
			if err := ProtectFixups(blk, usn+1); err != nil {
				t.Fatal(err)
			}
			copy(b[off:], blk)
		}, lookup(`\zzzz`), ErrBadIndex, &ie},
		{"index-entry-length-zero", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, RecordRoot, AttrIndexRoot, "$I30")
			val := off + int64(a.ValueOffset)
			first := val + offIRHeader + int64(le.Uint32(b[val+offIRHeader+offIHEntries:]))
			le.PutUint16(b[first+offIELength:], 0)
		}, lookup(`\$MFT`), ErrBadIndex, &ie},
		{"upcase-missing", func(t *testing.T, b []byte, v *Volume) {
			off, _ := attrOffset(t, v, RecordUpCase, AttrData, "")
			le.PutUint32(b[off+offAttrType:], uint32(AttrLoggedUtilityStream))
		}, lookup(`\$MFT`), ErrNoAttribute, &re},
		{"logfile-garbage", func(t *testing.T, b []byte, v *Volume) {
			off, a := attrOffset(t, v, RecordLogFile, AttrData, "")
			lcn := a.Runs[0].LCN * v.ClusterSize()
			_ = off
			for i := int64(0); i < 8192; i++ {
				b[lcn+i] = byte(i)
			}
		}, func(v *Volume) error { _, err := v.LogFileClean(); return err }, ErrBadLogFile, &re},
	}
}

// indexBlockOffset returns the image offset of the root directory's first
// $INDEX_ALLOCATION block.
func indexBlockOffset(t *testing.T, v *Volume) int64 {
	t.Helper()
	_, a := attrOffset(t, v, RecordRoot, AttrIndexAllocation, "$I30")
	return a.Runs[0].LCN * v.ClusterSize()
}

func TestCorruptions(t *testing.T) {
	good := sampleBytes(t, "ntfs-windows.img.xz")
	for _, m := range mutations() {
		t.Run(m.name, func(t *testing.T) {
			b := bytes.Clone(good)
			m.mutate(t, b, openBytes(t, good))
			v, err := Open(bytes.NewReader(b), int64(len(b)))
			if m.op != nil {
				if err != nil {
					t.Fatalf("Open: %v (the corruption should only show later)", err)
				}
				err = m.op(v)
			}
			if !errors.Is(err, m.want) {
				t.Fatalf("got %v, want %v", err, m.want)
			}
			if m.typed != nil && !errors.As(err, m.typed) {
				t.Errorf("error %T (%v) is not %T", err, err, m.typed)
			}
			t.Log(err)
		})
	}
}

// TestLogFileDirty clears the "volume is clean" flag of the restart areas
// of a Windows $LogFile whose client is still attached, as after a crash.
// (The other sample's $LogFile is empty: all 0xFF.)
func TestLogFileDirty(t *testing.T) {
	good := sampleBytes(t, "ntfs-windows-charlie.dd.bz2")
	v := openBytes(t, good)
	if c, err := v.LogFileClean(); err != nil || !c {
		t.Fatalf("LogFileClean = %v, %v on the sample", c, err)
	}
	b := bytes.Clone(good)
	_, a := attrOffset(t, v, RecordLogFile, AttrData, "")
	base := a.Runs[0].LCN * v.ClusterSize()
	psz := int64(le.Uint32(b[base+offRPSystemPageSize:]))
	for _, page := range []int64{0, psz} {
		off := base + page
		if string(b[off:off+4]) != "RSTR" {
			continue
		}
		p := make([]byte, psz)
		copy(p, b[off:])
		usn := UpdateSequenceNumber(p)
		if err := ApplyFixups(p); err != nil {
			t.Fatal(err)
		}
		ro := int(le.Uint16(p[offRPRestartOffset:]))
		if le.Uint16(p[ro+offRAClientInUse:]) == logNoClient {
			t.Fatalf("sample restart area has no client in use; the flag would not matter")
		}
		le.PutUint16(p[ro+offRAFlags:], 0)
		if err := ProtectFixups(p, usn); err != nil {
			t.Fatal(err)
		}
		copy(b[off:], p)
	}
	v = openBytes(t, b)
	if c, err := v.LogFileClean(); err != nil || c {
		t.Errorf("LogFileClean = %v, %v after marking a client in use; want false", c, err)
	}
}
