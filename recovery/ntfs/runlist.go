package ntfs

import "fmt"

// maxRuns bounds the number of runs decoded from one mapping-pairs array.
// A 64 KiB record holds at most ~32768 two-byte pairs, so this is never
// reached by a valid record.
const maxRuns = 1 << 15

// Run is one extent of a non-resident attribute: Length clusters starting
// at virtual cluster VCN of the attribute, stored from logical cluster LCN
// of the volume. A sparse run has no clusters on disk (LCN is -1) and
// reads as zeros.
type Run struct {
	VCN    int64 // first virtual cluster of the attribute covered by the run
	LCN    int64 // first logical cluster on the volume, -1 when Sparse
	Length int64 // clusters
	Sparse bool  // no storage; reads as zeros

	// PairOffset is the byte offset of the run's header byte within the
	// mapping-pairs array it was decoded from (Attribute.RunsOffset plus
	// this is its offset in the MFT record); PairLength is its encoded size.
	PairOffset int
	PairLength int
}

// String renders the run as ntfsinfo -F does: VCN, LCN (or "hole"), length.
func (r Run) String() string {
	if r.Sparse {
		return fmt.Sprintf("vcn %d hole len %d", r.VCN, r.Length)
	}
	return fmt.Sprintf("vcn %d lcn %d len %d", r.VCN, r.LCN, r.Length)
}

// DecodeRunlist decodes a mapping-pairs array. startVCN is the attribute
// extent's lowest VCN. Decoding stops at the terminating zero byte, which
// must be present within b. Every run must have a positive length, VCNs
// and LCNs must not overflow, and LCNs must not be negative; violations
// give a *RecordError wrapping ErrBadRunlist whose Offset is the offset of
// the offending pair in b.
func DecodeRunlist(b []byte, startVCN int64) ([]Run, error) {
	var runs []Run
	vcn, lcn := startVCN, int64(0)
	bad := func(off int, format string, args ...any) ([]Run, error) {
		return nil, &RecordError{Record: NoRecord, Offset: off, Err: errf(ErrBadRunlist, format, args...)}
	}
	if startVCN < 0 {
		return bad(0, "negative start VCN %d", startVCN)
	}
	for i := 0; ; {
		if i >= len(b) {
			return bad(i, "no terminator")
		}
		h := b[i]
		if h == 0 {
			return runs, nil
		}
		if len(runs) >= maxRuns {
			return bad(i, "more than %d runs", maxRuns)
		}
		ls, os := int(h&0x0f), int(h>>4)
		if ls == 0 || ls > 8 || os > 8 {
			return bad(i, "header byte %#02x", h)
		}
		if i+1+ls+os > len(b) {
			return bad(i, "pair of %d bytes runs past the end (%d)", 1+ls+os, len(b))
		}
		length := signedLE(b[i+1 : i+1+ls])
		if length <= 0 {
			return bad(i, "run length %d", length)
		}
		r := Run{VCN: vcn, Length: length, PairOffset: i, PairLength: 1 + ls + os}
		if os == 0 {
			r.Sparse, r.LCN = true, -1
		} else {
			delta := signedLE(b[i+1+ls : i+1+ls+os])
			if (delta > 0 && lcn > maxLCN-delta) || lcn+delta < 0 {
				return bad(i, "LCN %d%+d out of range", lcn, delta)
			}
			lcn += delta
			if length > maxLCN-lcn {
				return bad(i, "run end %d+%d overflows", lcn, length)
			}
			r.LCN = lcn
		}
		if length > maxLCN-vcn {
			return bad(i, "VCN %d+%d overflows", vcn, length)
		}
		vcn += length
		runs = append(runs, r)
		i += 1 + ls + os
	}
}

// maxLCN bounds cluster numbers so that byte offsets (cluster * 2 MiB)
// still fit an int64.
const maxLCN = 1<<(63-21) - 1

// signedLE decodes a little-endian two's complement integer of 1..8 bytes.
func signedLE(b []byte) int64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	sh := uint(64 - 8*len(b))
	return int64(v<<sh) >> sh
}

// signedLen returns how many bytes the smallest two's complement encoding
// of v takes.
func signedLen(v int64) int {
	n := 1
	for ; n < 8; n++ {
		sh := uint(64 - 8*n)
		if (v<<sh)>>sh == v {
			break
		}
	}
	return n
}

// EncodeRunlist encodes runs as a mapping-pairs array, terminator
// included, using the shortest encoding of every field as Windows and
// ntfs-3g do. Runs must be contiguous in VCN order; their PairOffset and
// PairLength are ignored.
func EncodeRunlist(runs []Run) ([]byte, error) {
	var out []byte
	lcn := int64(0)
	for i, r := range runs {
		if r.Length <= 0 || (i > 0 && r.VCN != runs[i-1].VCN+runs[i-1].Length) {
			return nil, errf(ErrBadRunlist, "run %d (%v) is not contiguous with a positive length", i, r)
		}
		ls := signedLen(r.Length)
		hdr := len(out)
		out = append(out, 0)
		out = appendSigned(out, r.Length, ls)
		os := 0
		if !r.Sparse {
			if r.LCN < 0 {
				return nil, errf(ErrBadRunlist, "run %d has negative LCN", i)
			}
			delta := r.LCN - lcn
			os = signedLen(delta)
			out = appendSigned(out, delta, os)
			lcn = r.LCN
		}
		out[hdr] = byte(os<<4 | ls)
	}
	return append(out, 0), nil
}

func appendSigned(b []byte, v int64, n int) []byte {
	for i := 0; i < n; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
