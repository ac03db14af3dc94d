package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fatEntryOffset returns the byte offset in img of cluster c's entry in
// the first FAT (FAT16 and FAT32 volumes only).
func fatEntryOffset(v *Volume, c uint32) int {
	w := 2
	if v.Type == FAT32 {
		w = 4
	}
	return int(v.BPB.ReservedSectors)*int(v.BPB.BytesPerSector) + int(c)*w
}

func putEntry(img []byte, v *Volume, c, x uint32) {
	off := fatEntryOffset(v, c)
	if v.Type == FAT32 {
		binary.LittleEndian.PutUint32(img[off:], x)
		return
	}
	binary.LittleEndian.PutUint16(img[off:], uint16(x))
}

// TestCorruptChains: named mutators break the chain of \EFI\Microsoft\Boot\BCD
// (40 clusters of 512 bytes) on the FAT16 and FAT32 seeds; each is a typed
// error, never a panic or a wrong read.
func TestCorruptChains(t *testing.T) {
	for _, name := range []string{"fat16", "fat32"} {
		good := seed(t, name)
		v := open(t, good)
		f, err := v.Lookup(`\EFI\Microsoft\Boot\BCD`)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := v.chain(f.Cluster, 40, true)
		if err != nil {
			t.Fatal(err)
		}
		eoc := uint32(0xFFFF)
		if v.Type == FAT32 {
			eoc = 0x0FFFFFFF
		}
		free := v.clusters // the last cluster: free on the seeds
		for _, m := range []struct {
			name string
			mess func(img []byte)
			want error
		}{
			{"loop", func(img []byte) { putEntry(img, v, cl[10], cl[3]) }, ErrChainLoop},
			{"self-loop", func(img []byte) { putEntry(img, v, cl[0], cl[0]) }, ErrChainLoop},
			{"too short", func(img []byte) { putEntry(img, v, cl[20], eoc) }, ErrChainLength},
			{"too long", func(img []byte) { putEntry(img, v, cl[39], free); putEntry(img, v, free, eoc) }, ErrChainLength},
			{"out of range", func(img []byte) { putEntry(img, v, cl[5], v.clusters+2) }, ErrClusterRange},
			{"cluster 1", func(img []byte) { putEntry(img, v, cl[5], 1) }, ErrClusterRange},
			{"free link", func(img []byte) { putEntry(img, v, cl[5], 0) }, ErrBadCluster},
			{"bad cluster", func(img []byte) { putEntry(img, v, cl[5], eoc-8) }, ErrBadCluster},
		} {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				img := bytes.Clone(good)
				m.mess(img)
				_, err := open(t, img).ReadFile(`\EFI\Microsoft\Boot\BCD`, 1<<20)
				var ce *ChainError
				if !errors.Is(err, m.want) || !errors.As(err, &ce) {
					t.Fatalf("got %v, want %v in a *ChainError", err, m.want)
				}
			})
		}
		// A directory whose chain loops: \EFI's last cluster points back.
		t.Run(name+"/directory loop", func(t *testing.T) {
			img := bytes.Clone(good)
			d, err := v.Lookup(`\many`)
			if err != nil {
				t.Fatal(err)
			}
			dc, err := v.chain(d.Cluster, MaxDirEntries, false)
			if err != nil || len(dc) < 2 {
				t.Fatalf("\\many: %v, %v", dc, err)
			}
			putEntry(img, v, dc[len(dc)-1], dc[0])
			if _, err := open(t, img).ReadDir(`\many`); !errors.Is(err, ErrChainLoop) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestCorruptGeometry: each BPB field out of range is a *GeometryError
// naming it.
func TestCorruptGeometry(t *testing.T) {
	good := seed(t, "fat32")
	small := seed(t, "fat12")
	le := binary.LittleEndian
	for _, m := range []struct {
		name, field string
		base        []byte
		mess        func(b []byte)
		want        error
	}{
		{"no jump", "BS_jmpBoot", good, func(b []byte) { b[0] = 0 }, ErrNotFAT},
		{"no signature", "signature", good, func(b []byte) { b[510] = 0 }, ErrNotFAT},
		{"sector size", "BPB_BytsPerSec", good, func(b []byte) { le.PutUint16(b[11:], 768) }, ErrGeometry},
		{"cluster size", "BPB_SecPerClus", good, func(b []byte) { b[13] = 3 }, ErrGeometry},
		{"no cluster size", "BPB_SecPerClus", good, func(b []byte) { b[13] = 0 }, ErrGeometry},
		{"no reserved", "BPB_RsvdSecCnt", good, func(b []byte) { le.PutUint16(b[14:], 0) }, ErrGeometry},
		{"no FAT", "BPB_NumFATs", good, func(b []byte) { b[16] = 0 }, ErrGeometry},
		{"media", "BPB_Media", good, func(b []byte) { b[21] = 0x12 }, ErrGeometry},
		{"larger than container", "BPB_TotSec32", good, func(b []byte) { le.PutUint32(b[32:], le.Uint32(b[32:])+1) }, ErrGeometry},
		{"no sectors", "BPB_TotSec32", good, func(b []byte) { le.PutUint32(b[32:], 0) }, ErrGeometry},
		{"FATs fill the volume", "BPB_FATSz32", good, func(b []byte) { le.PutUint32(b[36:], 0x100000) }, ErrGeometry},
		{"FAT too small", "BPB_FATSz32", good, func(b []byte) { le.PutUint32(b[36:], 4) }, ErrGeometry},
		{"FAT32 root entries", "BPB_RootEntCnt", good, func(b []byte) { le.PutUint16(b[17:], 512) }, ErrGeometry},
		{"FAT32 version", "BPB_FSVer", good, func(b []byte) { le.PutUint16(b[42:], 1) }, ErrGeometry},
		{"FAT32 root cluster", "BPB_RootClus", good, func(b []byte) { le.PutUint32(b[44:], 1) }, ErrGeometry},
		{"FAT32 active FAT", "BPB_ExtFlags", good, func(b []byte) { le.PutUint16(b[40:], 0x81) }, ErrGeometry},
		{"FAT16 shape, FAT32 count", "BPB_FATSz16", good, func(b []byte) { le.PutUint16(b[22:], 600) }, ErrGeometry},
		{"FAT12 without root", "BPB_RootEntCnt", small, func(b []byte) { le.PutUint16(b[17:], 0) }, ErrGeometry},
		{"sector counts disagree", "BPB_TotSec32", small, func(b []byte) { le.PutUint32(b[32:], 7) }, ErrGeometry},
	} {
		t.Run(m.name, func(t *testing.T) {
			img := bytes.Clone(m.base)
			m.mess(img)
			_, err := Open(bytes.NewReader(img), int64(len(img)))
			var ge *GeometryError
			if !errors.Is(err, m.want) || !errors.As(err, &ge) || ge.Field != m.field {
				t.Fatalf("got %v, want %v on %s", err, m.want, m.field)
			}
		})
	}
	if _, err := Open(bytes.NewReader(nil), 100); !errors.Is(err, ErrNotFAT) {
		t.Errorf("tiny volume: %v", err)
	}
}

// TestBadEntries: a directory entry naming a cluster outside the data
// area, and a long name whose checksum does not match its short entry
// (the short name is used, as the specification says).
func TestBadEntries(t *testing.T) {
	good := seed(t, "fat16")
	v := open(t, good)
	raw, err := v.rootDir()
	if err != nil {
		t.Fatal(err)
	}
	// Find lower.txt's short entry and the long-name entry before it.
	at := -1
	for i := 0; i+32 <= len(raw); i += 32 {
		if string(raw[i:i+11]) == "LOWER   TXT" {
			at = i
		}
	}
	if at < 0 {
		t.Fatal("no LOWER.TXT entry")
	}
	img := bytes.Clone(good)
	binary.LittleEndian.PutUint16(img[v.rootStart+int64(at)+26:], 0xFFF0)
	if _, err := open(t, img).ReadFile(`\lower.txt`, 100); !errors.Is(err, ErrClusterRange) {
		t.Errorf("cluster past the end: %v", err)
	}
	// "A directory with a long name": break its long entries' checksum.
	img = bytes.Clone(good)
	for i := 0; i+32 <= len(raw); i += 32 {
		if raw[i+11] == attrLongName && raw[i] != 0xE5 {
			img[v.rootStart+int64(i)+13] ^= 0xFF
		}
	}
	es, err := open(t, img).ReadDir(`\`)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name != e.ShortName && !bytes.EqualFold([]byte(e.Name), []byte(e.ShortName)) {
			t.Errorf("long name %q kept despite a bad checksum", e.Name)
		}
	}
}
