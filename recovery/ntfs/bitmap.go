package ntfs

import (
	"io"
	"math/bits"
)

// Chunk sizes for $Bitmap scans: forward scans read this much at a time;
// the backward tail scan starts with tailChunk and never reads more per step.
const (
	scanChunk = 1 << 20
	tailChunk = 64 << 10
)

// Usage is the cluster accounting of a volume, from $Bitmap.
type Usage struct {
	ClusterSize     int64 // bytes per cluster
	TotalClusters   int64 // clusters in the volume
	UsedClusters    int64 // clusters marked in use
	FreeClusters    int64 // TotalClusters - UsedClusters
	LastUsedCluster int64 // highest cluster in use, -1 when none
}

// bitmap opens $Bitmap's data and checks it covers the volume.
func (v *Volume) bitmap() (*stream, error) {
	rec, err := v.ReadRecord(RecordBitmap)
	if err != nil {
		return nil, err
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		return nil, err
	}
	need := (v.Boot.TotalClusters() + 7) / 8
	if st.size < need {
		return nil, &RecordError{Record: RecordBitmap, Err: errf(ErrBadAttribute, "$Bitmap of %d bytes, volume needs %d", st.size, need)}
	}
	return st, nil
}

// readFull reads len(p) bytes at off or fails.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Usage reads the whole $Bitmap (in 1 MiB chunks) and counts clusters in
// use. Bits past the last cluster of the volume are ignored.
func (v *Volume) Usage() (Usage, error) {
	tc := v.Boot.TotalClusters()
	u := Usage{ClusterSize: v.clusterSize, TotalClusters: tc, LastUsedCluster: -1}
	st, err := v.bitmap()
	if err != nil {
		return u, err
	}
	nbytes := (tc + 7) / 8
	buf := make([]byte, min(scanChunk, nbytes))
	for off := int64(0); off < nbytes; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), nbytes-off)]
		if err := readFull(st, chunk, off); err != nil {
			return u, err
		}
		for i, b := range chunk {
			if pos := off + int64(i); pos == nbytes-1 {
				b &= lastByteMask(tc)
			}
			if b != 0 {
				u.UsedClusters += int64(bits.OnesCount8(b))
				u.LastUsedCluster = (off+int64(i))*8 + int64(7-bits.LeadingZeros8(b))
			}
		}
	}
	u.FreeClusters = tc - u.UsedClusters
	return u, nil
}

// usedRunsChunk is how much of $Bitmap UsedRuns reads at a time; tests
// shrink it to cross chunk boundaries inside runs.
var usedRunsChunk int64 = scanChunk

// UsedRuns calls fn, in cluster order, for every maximal run of clusters
// that $Bitmap marks in use: its first cluster and its length in
// clusters. It reads $Bitmap forward in 1 MiB chunks, so its memory does
// not grow with the volume, and stops at the first error fn returns.
// Bits past the last cluster of the volume are ignored.
func (v *Volume) UsedRuns(fn func(first, count int64) error) error {
	tc := v.Boot.TotalClusters()
	st, err := v.bitmap()
	if err != nil {
		return err
	}
	nbytes := (tc + 7) / 8
	buf := make([]byte, min(usedRunsChunk, max(nbytes, 1)))
	start := int64(-1) // first cluster of the run in progress
	for off := int64(0); off < nbytes; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), nbytes-off)]
		if err := readFull(st, chunk, off); err != nil {
			return err
		}
		for i, b := range chunk {
			pos := off + int64(i)
			if pos == nbytes-1 {
				b &= lastByteMask(tc)
			}
			switch {
			case b == 0xff && start >= 0, b == 0 && start < 0:
				continue // inside a run, or inside a gap
			}
			for k := int64(0); k < 8; k++ {
				c := pos*8 + k
				used := b&(1<<k) != 0
				if used && start < 0 {
					start = c
				} else if !used && start >= 0 {
					if err := fn(start, c-start); err != nil {
						return err
					}
					start = -1
				}
			}
		}
	}
	if start >= 0 {
		return fn(start, min(nbytes*8, tc)-start)
	}
	return nil
}

// lastByteMask keeps the bits of the last $Bitmap byte that map clusters
// of the volume.
func lastByteMask(tc int64) byte {
	if r := tc % 8; r != 0 {
		return byte(1)<<r - 1
	}
	return 0xff
}

// LastUsedCluster returns the highest cluster marked in use in $Bitmap,
// or -1 when none is. It reads $Bitmap backwards from the volume's last
// cluster in chunks of at most 64 KiB and stops at the first set bit, so
// on a large volume whose tail is free it reads only that tail (see
// BytesRead).
func (v *Volume) LastUsedCluster() (int64, error) {
	last, _, err := v.lastUsedFrom(0)
	return last, err
}

// LastUsedClusterFrom is LastUsedCluster with a floor: it scans $Bitmap
// backwards from the volume's end but no further down than cluster floor,
// so the bytes it reads are bounded by the tail it is asked about, not by
// the volume size. It returns the highest cluster in use at or above floor
// and true, or floor-1 and false when every cluster from floor on is free.
// floor is clamped to [0, TotalClusters].
func (v *Volume) LastUsedClusterFrom(floor int64) (int64, bool, error) {
	return v.lastUsedFrom(floor)
}

func (v *Volume) lastUsedFrom(floor int64) (int64, bool, error) {
	tc := v.Boot.TotalClusters()
	floor = min(max(floor, 0), tc)
	st, err := v.bitmap()
	if err != nil {
		return -1, false, err
	}
	nbytes := (tc + 7) / 8
	low := floor / 8 // first bitmap byte that holds a cluster >= floor
	buf := make([]byte, min(tailChunk, max(nbytes-low, 1)))
	for end := nbytes; end > low; {
		start := max(low, end-int64(len(buf)))
		chunk := buf[:end-start]
		if err := readFull(st, chunk, start); err != nil {
			return -1, false, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			b := chunk[i]
			if start+int64(i) == nbytes-1 {
				b &= lastByteMask(tc)
			}
			if start+int64(i) == low {
				b &= 0xff << uint(floor%8) // clusters below floor do not count
			}
			if b != 0 {
				return (start+int64(i))*8 + int64(7-bits.LeadingZeros8(b)), true, nil
			}
		}
		end = start
	}
	return floor - 1, false, nil
}

// RangeFree reports whether clusters [firstCluster, firstCluster+count)
// are all free in $Bitmap. The range must lie inside the volume
// (ErrOutOfRange otherwise); an empty range is free.
func (v *Volume) RangeFree(firstCluster, count int64) (bool, error) {
	tc := v.Boot.TotalClusters()
	if firstCluster < 0 || count < 0 || firstCluster > tc || count > tc-firstCluster {
		return false, errf(ErrOutOfRange, "clusters %d+%d, volume has %d", firstCluster, count, tc)
	}
	if count == 0 {
		return true, nil
	}
	st, err := v.bitmap()
	if err != nil {
		return false, err
	}
	last := firstCluster + count - 1
	first := firstCluster / 8
	nbytes := last/8 - first + 1
	buf := make([]byte, min(scanChunk, nbytes))
	for off := int64(0); off < nbytes; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), nbytes-off)]
		if err := readFull(st, chunk, first+off); err != nil {
			return false, err
		}
		for i, b := range chunk {
			byteIdx := first + off + int64(i)
			lo, hi := byteIdx*8, byteIdx*8+7
			if lo < firstCluster {
				b &= 0xff << uint(firstCluster-lo)
			}
			if hi > last {
				b &= 0xff >> uint(hi-last)
			}
			if b != 0 {
				return false, nil
			}
		}
	}
	return true, nil
}

// ShrinkLimit returns the smallest partition size, in bytes, that holds
// the volume without moving any data: every cluster up to the last one in
// use, plus room for the backup boot sector after the volume, rounded up
// to whole clusters:
//
//	minBytes = (LastUsedCluster + 2) * ClusterSize
//
// This is the formula ntfsresize applies when it prints "You might resize
// at N bytes" (one cluster for the next usable cluster, one for the backup
// boot sector), but ntfsresize starts from the last cluster it cannot
// relocate, because it can move data; its hint is therefore never larger
// than this limit and usually much smaller on a fresh volume, where
// $MFTMirr and $LogFile sit mid-volume. An ntfsresize dry run at this size
// needs no relocation, and one at this size minus a cluster does (tested).
// The strict byte minimum is (LastUsedCluster+1)*ClusterSize plus one
// sector; rounding to a cluster keeps partitions cluster-aligned.
func (v *Volume) ShrinkLimit() (minBytes int64, err error) {
	last, err := v.LastUsedCluster()
	if err != nil {
		return 0, err
	}
	return (last + 2) * v.clusterSize, nil
}

// bitSet, setBit and clearBit read and change the bit of cluster c in an
// in-memory $Bitmap.
func bitSet(bm []byte, c int64) bool { return bm[c>>3]&(1<<(c&7)) != 0 }
func setBit(bm []byte, c int64)      { bm[c>>3] |= 1 << (c & 7) }
func clearBit(bm []byte, c int64)    { bm[c>>3] &^= 1 << (c & 7) }

// countSet counts the set bits of clusters [lo, hi) of a bitmap, reading
// it in chunks.
func countSet(r io.ReaderAt, lo, hi int64) (int64, error) {
	var n int64
	buf := make([]byte, min(scanChunk, max(1, (hi-lo)/8+2)))
	for c := lo; c < hi; {
		if c&7 != 0 || hi-c < 8 {
			var b [1]byte
			if err := readFull(r, b[:], c>>3); err != nil {
				return 0, err
			}
			if b[0]&(1<<(c&7)) != 0 {
				n++
			}
			c++
			continue
		}
		m := min(int64(len(buf)), (hi-c)/8)
		if err := readFull(r, buf[:m], c>>3); err != nil {
			return 0, err
		}
		for _, x := range buf[:m] {
			n += int64(bits.OnesCount8(x))
		}
		c += m * 8
	}
	return n, nil
}
