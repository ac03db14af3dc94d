package ntfs

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/diag"
)

func TestVerify(t *testing.T) {
	good := sampleBytes(t, "ntfs-windows.img.xz")
	if ps := openBytes(t, good).Verify(); len(ps) != 0 {
		t.Errorf("Verify of the Windows sample: %v", ps)
	}
	codes := func(ps []diag.Problem) []string {
		var c []string
		for _, p := range ps {
			c = append(c, string(p.Code))
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		mutate func(b []byte, v *Volume)
		want   []string
	}{
		{"backup-differs", func(b []byte, v *Volume) { b[len(b)-512+offVolumeSerial] ^= 1 }, []string{"backup-boot-mismatch"}},
		{"backup-missing", func(b []byte, v *Volume) { clear(b[len(b)-512:]) }, []string{"backup-boot-invalid"}},
		{"mirror-differs", func(b []byte, v *Volume) {
			ext, _ := v.RecordExtents(0)
			b[ext[0].VolumeOffset+100] ^= 1 // inside a $MFT record, not its mirror copy
		}, []string{"mftmirr-mismatch"}},
		{"dirty", func(b []byte, v *Volume) {
			rec, _ := v.ReadRecord(RecordVolume)
			a := rec.Find(AttrVolumeInformation, "")
			ext, _ := v.RecordExtents(RecordVolume)
			off := int64(a.Offset + a.ValueOffset + offVIFlags)
			b[ext[0].VolumeOffset+off] |= VolumeFlagDirty
			// and in the $MFTMirr copy, as Windows and ntfsresize do
			b[int64(v.Boot.MFTMirrLCN)*v.ClusterSize()+RecordVolume*v.Boot.MFTRecordSize()+off] |= VolumeFlagDirty
		}, []string{"dirty"}},
		{"dirty-mft-only", func(b []byte, v *Volume) {
			rec, _ := v.ReadRecord(RecordVolume)
			a := rec.Find(AttrVolumeInformation, "")
			ext, _ := v.RecordExtents(RecordVolume)
			b[ext[0].VolumeOffset+int64(a.Offset+a.ValueOffset+offVIFlags)] |= VolumeFlagDirty
		}, []string{"mftmirr-mismatch", "dirty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.mutate(b, openBytes(t, good))
			got := codes(openBytes(t, b).Verify())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
