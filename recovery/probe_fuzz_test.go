package recovery_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
)

// probeSeeds returns the first 16 sectors of small shared samples (bare
// Windows volumes and a GPT disk; the large DFTT disks would slow every
// fuzz worker's start) and of hand
// laid-out headers of the other schemes ReadTable names, each with a
// valid checksum where the scheme has one.
func probeSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, s := range []struct{ file, member string }{
		{"ntfs-windows.img.xz", ""},
		{"bitlocker-windows.img.xz", ""},
		{"gpt-parted-blkid.img.xz", ""},
	} {
		b := testutil.SampleBytes(t, s.file, s.member)
		seeds = append(seeds, b[:8192])
	}
	be := binary.BigEndian
	sector := func() []byte { return make([]byte, 8192) }

	sun := sector()
	be.PutUint16(sun[508:], 0xDABE)
	var x uint16
	for i := 0; i < 510; i += 2 {
		x ^= be.Uint16(sun[i:])
	}
	be.PutUint16(sun[510:], x)

	sgi := sector()
	be.PutUint32(sgi[0:], 0x0BE5A941)
	be.PutUint32(sgi[4:], 0x100000000-0x0BE5A941)

	apple := sector()
	copy(apple, "ER\x02\x00")
	copy(apple[512:], "PM")

	bsd := sector()
	binary.LittleEndian.PutUint32(bsd[512:], 0x82564557)
	binary.LittleEndian.PutUint32(bsd[512+132:], 0x82564557)

	amiga := sector()
	copy(amiga[1024:], "RDSK")
	be.PutUint32(amiga[1028:], 64)
	var sum uint32
	for i := 0; i < 64; i++ {
		sum += be.Uint32(amiga[1024+4*i:])
	}
	be.PutUint32(amiga[1032:], -sum)

	atari := sector()
	be.PutUint32(atari[0x1C2:], 16)
	copy(atari[0x1C6:], "\x01GEM")
	be.PutUint32(atari[0x1C6+4:], 1)
	be.PutUint32(atari[0x1C6+8:], 8)

	fat := sector()
	copy(fat, "\xEB\x3C\x90mkdosfs \x00\x02\x04\x01\x00\x02\x00\x02\x00\x40\xF8\x0C\x00")
	fat[510], fat[511] = 0x55, 0xAA

	return append(seeds, sun, sgi, apple, bsd, amiga, atari, fat)
}

// FuzzReadTableProbe runs ReadTable on the first sectors of a disk, where
// it recognises bare filesystems and foreign partition schemes: it must
// not panic and must fail with a typed error or return a Layout; a
// recognised disk must say what it is.
func FuzzReadTableProbe(f *testing.F) {
	for _, s := range probeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			return
		}
		l, err := recovery.ReadTable(bytes.NewReader(in), int64(len(in)), 512)
		var ue *recovery.UnsupportedDiskError
		var te *recovery.TableError
		switch {
		case err == nil:
			if l == nil {
				t.Fatal("neither a Layout nor an error")
			}
			_ = l.String()
		case errors.As(err, &ue):
			if ue.What == "" || ue.Evidence == "" || !errors.Is(err, recovery.ErrNoPartitionTable) {
				t.Fatalf("UnsupportedDiskError without substance: %+v", ue)
			}
			if !errors.Is(err, recovery.ErrBareFilesystem) && !errors.Is(err, recovery.ErrForeignScheme) {
				t.Fatalf("UnsupportedDiskError of no kind: %v", err)
			}
		case errors.As(err, &te), errors.Is(err, recovery.ErrBadGeometry):
		default:
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}

// TestProbeSeedsRecognised checks that the hand-made seeds above are what
// they claim to be, so the fuzzer starts from inside each check.
func TestProbeSeedsRecognised(t *testing.T) {
	seeds := probeSeeds(t)
	want := []string{"NTFS filesystem", "BitLocker-encrypted volume", "",
		"Sun disklabel", "SGI disk volume header", "Apple partition map", "BSD disklabel",
		"Amiga Rigid Disk Block", "Atari AHDI partition table", "FAT12 filesystem"}
	for i, s := range seeds {
		_, err := recovery.ReadTable(bytes.NewReader(s), int64(len(s)), 512)
		var ue *recovery.UnsupportedDiskError
		got := ""
		if errors.As(err, &ue) {
			got = ue.What
		}
		if got != want[i] {
			t.Errorf("seed %d: %q (%v), want %q", i, got, err, want[i])
		}
	}
}
