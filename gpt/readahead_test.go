package gpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// countingReader counts ReadAt calls.
type countingReader struct {
	r     io.ReaderAt
	calls int
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	c.calls++
	return c.r.ReadAt(b, off)
}

// readBothWays reads disk with and without read-ahead and fails when the
// tables or errors differ.
func readBothWays(t *testing.T, what string, disk []byte, size int64, ss int) {
	t.Helper()
	fast, ferr := Read(bytes.NewReader(disk), size, ss)
	readAhead = false
	slow, serr := Read(bytes.NewReader(disk), size, ss)
	readAhead = true
	if fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("%s: read-ahead error %v, plain %v", what, ferr, serr)
	}
	if !reflect.DeepEqual(slow, fast) { // cmp.Diff only to explain: it is slow on 16 KiB arrays
		sameErr := cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })
		t.Fatalf("%s: read-ahead table differs (-plain +read-ahead):\n%s", what, cmp.Diff(slow, fast, sameErr))
	}
	if fast != nil && len(fast.Entries) > 0 && cap(fast.Primary.EntryArray) != len(fast.Primary.EntryArray) {
		t.Errorf("primary EntryArray has spare capacity %d > %d", cap(fast.Primary.EntryArray), len(fast.Primary.EntryArray))
	}
}

func TestReadAheadTwoReads(t *testing.T) {
	img := goodImage(t)
	r := &countingReader{r: bytes.NewReader(img)}
	tab, err := Read(r, goodSize, 512)
	if err != nil {
		t.Fatal(err)
	}
	if r.calls != 2 {
		t.Errorf("Read made %d ReadAt calls, want 2", r.calls)
	}
	if &tab.Primary.EntryArray[0] != &tab.Backup.EntryArray[0] {
		t.Error("identical arrays are not shared")
	}
	readAhead = false
	r.calls = 0
	if _, err := Read(r, goodSize, 512); err != nil {
		t.Fatal(err)
	}
	readAhead = true
	if r.calls != 5 {
		t.Errorf("Read without read-ahead made %d ReadAt calls, want 5", r.calls)
	}
}

// TestReadAheadSameTable damages headers and arrays of every fuzz seed at
// random and checks that read-ahead never changes what Read returns.
func TestReadAheadSameTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i, seed := range fuzzSeeds(t) {
		ss := 512
		if seed[0]&1 == 1 {
			ss = 4096
		}
		disk := seed[1:]
		size := int64(len(disk))
		readBothWays(t, fmt.Sprintf("seed %d", i), disk, size, ss)
		last := len(disk) - ss
		for n := range 200 {
			img := bytes.Clone(disk)
			// Damage a header field (then fix its CRC half the time) or
			// an array byte, near either copy.
			off := []int{ss, last, 2 * ss, last - ss}[rng.IntN(4)]
			switch rng.IntN(3) {
			case 0:
				img[off+rng.IntN(MinHeaderSize)] = byte(rng.Uint32())
				hs := binary.LittleEndian.Uint32(img[off+offHeaderSize:])
				if rng.IntN(2) == 0 && (off == ss || off == last) && hs >= MinHeaderSize && int(hs) <= ss {
					fixHeaderCRC(img, off)
				}
			case 1:
				img[off+rng.IntN(ss)] ^= 1 << rng.IntN(8)
			default:
				le64(img, ss+offPartitionEntry, uint64(rng.IntN(len(disk)/ss)))
				fixHeaderCRC(img, ss)
			}
			readBothWays(t, fmt.Sprintf("seed %d, damage %d", i, n), img, size, ss)
		}
		// A disk shorter than its size: the read-ahead fails, the plain
		// reads decide.
		readBothWays(t, fmt.Sprintf("seed %d, truncated", i), disk[:len(disk)-ss], size, ss)
	}
}

// FuzzReadAhead checks that read-ahead never changes what Read returns.
func FuzzReadAhead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if disk, size, ss, ok := fuzzDisk(data); ok {
			readBothWays(t, "fuzz input", disk, size, ss)
		}
	})
}
