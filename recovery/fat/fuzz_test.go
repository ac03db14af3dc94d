package fat

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fuzzBases are the seed volumes (generate.sh's output) the fuzzer patches.
var fuzzBaseNames = []string{"fat12", "fat16", "fat32"}

// FuzzVolume patches fuzzer bytes into one of the seed volumes and then
// opens it, lists every directory and reads every file: no panic, no
// allocation beyond the limits, and every failure a typed error.
//
// Encoding of an input:
//
//	byte 0     the base volume (modulo 3)
//	bytes 1-4  little-endian offset, modulo the volume's metadata and first
//	           data clusters (boot sector, FATs, root directory, 256
//	           clusters), where every structure the reader parses lives
//	bytes 5-   the bytes written there
func FuzzVolume(f *testing.F) {
	bases := make([][]byte, len(fuzzBaseNames))
	spans := make([]int, len(fuzzBaseNames))
	for i, n := range fuzzBaseNames {
		bases[i] = seed(f, n)
		v := open(f, bases[i])
		spans[i] = int(min(v.dataStart+256*v.clusterSize, int64(len(bases[i]))))
		// Seeds: the unpatched volume, the boot sector, each FAT's first
		// entries, the root directory and the BCD's first cluster.
		f.Add([]byte{byte(i), 0, 0, 0, 0})
		for _, off := range []int64{11, 13, 17, 22, 32, 36, 44, v.fatStart + 4, v.fatStart + 8, v.rootStart, v.dataStart} {
			in := []byte{byte(i), 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x0F}
			binary.LittleEndian.PutUint32(in[1:], uint32(off))
			f.Add(in)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 5 {
			return
		}
		i := int(in[0]) % len(bases)
		off := int64(binary.LittleEndian.Uint32(in[1:]) % uint32(spans[i]))
		img := &patched{base: bases[i], off: off, data: in[5:]}
		v, err := Open(img, int64(len(bases[i])))
		if err != nil {
			if !errors.Is(err, ErrNotFAT) && !errors.Is(err, ErrGeometry) {
				t.Fatalf("Open: untyped error %v", err)
			}
			return
		}
		budget := 2000 // entries visited, so a deep or wide tree stays quick
		var visit func(dir string, depth int)
		visit = func(dir string, depth int) {
			es, err := v.ReadDir(dir)
			if err != nil {
				checkTyped(t, err)
				return
			}
			for k := range es {
				if budget--; budget < 0 {
					return
				}
				e := &es[k]
				p := dir + `\` + e.Name
				if e.IsDir() {
					if depth < 8 {
						visit(p, depth+1)
					}
					continue
				}
				b, err := v.Read(e, 64<<10)
				if err != nil {
					checkTyped(t, err)
					continue
				}
				if len(b) != int(e.Size) {
					t.Fatalf("%s: read %d bytes of %d", p, len(b), e.Size)
				}
				if _, err := v.Lookup(p); err != nil && !errors.Is(err, ErrNotFound) {
					// A name may repeat or hold a separator after
					// patching; anything else must be typed.
					checkTyped(t, err)
				}
			}
		}
		visit("", 0)
		if _, err := v.ReadFile(`\EFI\Microsoft\Boot\BCD`, 1<<20); err != nil {
			checkTyped(t, err)
		}
	})
}

func checkTyped(t *testing.T, err error) {
	t.Helper()
	for _, s := range []error{ErrClusterRange, ErrChainLoop, ErrChainLength, ErrBadCluster, ErrNotFound, ErrNotDir, ErrIsDir, ErrTooLarge} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("untyped error %v", err)
}

// patched reads base with data written over it at off, without copying
// the (up to 34 MiB) base for every input.
type patched struct {
	base []byte
	off  int64
	data []byte
}

func (p *patched) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(p.base)) {
		return 0, io.EOF
	}
	n := copy(b, p.base[off:])
	// Overlay the part of data that falls in [off, off+n).
	lo, hi := max(off, p.off), min(off+int64(n), p.off+int64(len(p.data)))
	if lo < hi {
		copy(b[lo-off:hi-off], p.data[lo-p.off:hi-p.off])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}
