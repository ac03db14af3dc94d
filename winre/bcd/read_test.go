package bcd_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/winre/bcd"
)

var samples = []string{"bcd-install-media-bios.hive.xz", "bcd-install-media-efi.hive.xz"}

func read(t *testing.T, b []byte) *bcd.Store {
	t.Helper()
	s, err := bcd.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSamplesAgainstHivexml reads the Windows-made BCD stores and compares
// every object and element with hivexml.
func TestSamplesAgainstHivexml(t *testing.T) {
	for _, name := range samples {
		t.Run(name, func(t *testing.T) {
			b := testutil.SampleBytes(t, name, "")
			s := read(t, b)
			if s.Hive.Header.PrimarySequence != s.Hive.Header.SecondarySequence {
				t.Errorf("sequence numbers %d, %d", s.Hive.Header.PrimarySequence, s.Hive.Header.SecondarySequence)
			}
			if len(s.Objects) != 9 {
				t.Errorf("%d objects, want 9", len(s.Objects))
			}
			compareWithHivexml(t, b, s)
		})
	}
}

// TestSampleDevices decodes the device elements of the Windows-made
// stores: the WinPE loader's ramdisk ([boot]\sources\boot.wim with
// {ramdiskoptions}), {ramdiskoptions}'s SDI device (boot) and the memory
// tester's device (boot).
func TestSampleDevices(t *testing.T) {
	ramdiskOptions := uuid.MustParse("7619dcc8-fafe-11d9-b411-000476eba25f")
	setup := uuid.MustParse("7619dcc9-fafe-11d9-b411-000476eba25f")
	memtest := uuid.MustParse("b2721d73-1db4-4c62-bf78-c548a880142d")
	for _, name := range samples {
		t.Run(name, func(t *testing.T) {
			s := read(t, testutil.SampleBytes(t, name, ""))
			for _, et := range []bcd.ElementType{bcd.ElemApplicationDevice, bcd.ElemOSDevice} {
				d, err := s.Object(setup).Element(et).Device()
				if err != nil {
					t.Fatal(err)
				}
				if d.Type != bcd.DeviceBlock || d.Local != bcd.LocalRamdisk || d.Options != ramdiskOptions || d.Ramdisk == nil ||
					d.Ramdisk.Path != `\sources\boot.wim` || d.Ramdisk.Parent.Type != bcd.DeviceBoot || len(d.Partitions()) != 0 {
					t.Errorf("%s: %+v (%s)", et, d, d)
				}
			}
			for _, c := range []struct {
				obj uuid.UUID
				et  bcd.ElementType
			}{{ramdiskOptions, bcd.ElemRamdiskSDIDevice}, {memtest, bcd.ElemApplicationDevice}} {
				d, err := s.Object(c.obj).Element(c.et).Device()
				if err != nil || d.Type != bcd.DeviceBoot || d.Options != (uuid.UUID{}) {
					t.Errorf("%s %s: %v %v", c.obj, c.et, d, err)
				}
			}
			if p, err := s.Object(ramdiskOptions).Element(bcd.ElemRamdiskSDIPath).String(); err != nil || p != `\boot\boot.sdi` {
				t.Errorf("sdi path %q %v", p, err)
			}
			if _, err := s.WinRE(); !errors.Is(err, bcd.ErrNotFound) {
				t.Errorf("WinRE of an install medium: %v, want ErrNotFound", err)
			}
		})
	}
}

// fixChecksum recomputes the base block checksum after a mutation.
func fixChecksum(b []byte) {
	var x uint32
	for i := 0; i < 0x1FC; i += 4 {
		x ^= binary.LittleEndian.Uint32(b[i:])
	}
	switch x {
	case 0xFFFFFFFF:
		x = 0xFFFFFFFE
	case 0:
		x = 1
	}
	binary.LittleEndian.PutUint32(b[0x1FC:], x)
}

// TestBaseBlock checks the base-block refusals on mutated samples.
func TestBaseBlock(t *testing.T) {
	good := testutil.SampleBytes(t, samples[0], "")
	cases := []struct {
		name   string
		mutate func(b []byte)
		want   error
	}{
		{"dirty", func(b []byte) {
			binary.LittleEndian.PutUint32(b[4:], binary.LittleEndian.Uint32(b[8:])+1)
			fixChecksum(b)
		}, bcd.ErrDirty},
		{"checksum", func(b []byte) { b[0x30] ^= 1 }, bcd.ErrChecksum},
		{"signature", func(b []byte) { b[0] = 'R' }, bcd.ErrNotHive},
		{"log file", func(b []byte) { binary.LittleEndian.PutUint32(b[0x1C:], 1); fixChecksum(b) }, bcd.ErrUnsupported},
		{"bins past end", func(b []byte) { binary.LittleEndian.PutUint32(b[0x28:], 1<<24); fixChecksum(b) }, bcd.ErrCorrupt},
		{"bins unaligned", func(b []byte) { binary.LittleEndian.PutUint32(b[0x28:], 4097); fixChecksum(b) }, bcd.ErrCorrupt},
		{"bins too large", func(b []byte) { binary.LittleEndian.PutUint32(b[0x28:], 1<<30); fixChecksum(b) }, bcd.ErrTooLarge},
		{"hbin signature", func(b []byte) { b[4096] = 'x' }, bcd.ErrCorrupt},
		{"hbin offset", func(b []byte) { b[4096+4] = 8 }, bcd.ErrCorrupt},
		{"root cell free", func(b []byte) {
			root := 4096 + int(binary.LittleEndian.Uint32(b[0x24:]))
			n := int32(binary.LittleEndian.Uint32(b[root:]))
			binary.LittleEndian.PutUint32(b[root:], uint32(-n))
		}, bcd.ErrCorrupt},
		{"root cell outside", func(b []byte) { binary.LittleEndian.PutUint32(b[0x24:], 1<<20); fixChecksum(b) }, bcd.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(good)
			c.mutate(b)
			_, err := bcd.Read(bytes.NewReader(b), int64(len(b)))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var de *bcd.DirtyError
			if c.want == bcd.ErrDirty && (!errors.As(err, &de) || de.Primary == de.Secondary) {
				t.Errorf("no DirtyError with both numbers: %v", err)
			}
		})
	}
	if _, err := bcd.Read(bytes.NewReader(good[:100]), 100); !errors.Is(err, bcd.ErrNotHive) {
		t.Errorf("short: %v", err)
	}
}
