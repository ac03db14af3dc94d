package ntfs

import (
	"io"
	"sort"
)

// stream reads the value of one attribute: resident bytes, or clusters
// through a runlist (sparse runs and bytes past the initialized size read
// as zeros).
type stream struct {
	v        *Volume
	record   uint64
	isRes    bool
	resident []byte
	runs     []Run
	size     int64 // data size
	initSize int64
	alloc    int64
}

// newStream checks the extents of one attribute (sorted by LowestVCN) and
// builds a reader over them.
func (v *Volume) newStream(record uint64, ext []Attribute) (*stream, error) {
	first := ext[0]
	bad := func(a Attribute, err error) (*stream, error) {
		return nil, &RecordError{Record: record, Offset: a.Offset, Err: err}
	}
	if !first.NonResident {
		if len(ext) != 1 {
			return bad(first, errf(ErrBadAttribute, "resident %v with %d extents", first.Type, len(ext)))
		}
		return &stream{v: v, record: record, isRes: true, resident: first.Value, size: int64(len(first.Value)), initSize: int64(len(first.Value))}, nil
	}
	if first.Flags&(AttrFlagCompressed|AttrFlagEncrypted) != 0 {
		return bad(first, errf(ErrUnsupported, "%v flags %#x", first.Type, first.Flags))
	}
	s := &stream{v: v, record: record, size: first.DataSize, initSize: first.InitializedSize, alloc: first.AllocatedSize}
	next := int64(0)
	tc := v.Boot.TotalClusters()
	for _, a := range ext {
		if !a.NonResident || a.LowestVCN != next {
			return bad(a, errf(ErrBadRunlist, "%v extent starts at VCN %d, want %d", a.Type, a.LowestVCN, next))
		}
		for _, r := range a.Runs {
			if !r.Sparse && r.LCN+r.Length > tc {
				return bad(a, errf(ErrBadRunlist, "run %v ends beyond the volume's %d clusters", r, tc))
			}
		}
		s.runs = append(s.runs, a.Runs...)
		next = a.HighestVCN + 1
	}
	// Rounded up without overflow: initSize may be close to MaxInt64.
	needed := s.initSize / v.clusterSize
	if s.initSize%v.clusterSize != 0 {
		needed++
	}
	if needed > next {
		return bad(first, errf(ErrBadRunlist, "%v runs map %d clusters, initialized size %d needs more", first.Type, next, s.initSize))
	}
	return s, nil
}

// ReadAt implements io.ReaderAt over the attribute value.
func (s *stream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errf(ErrOutOfRange, "negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	var eof error
	if int64(want) > s.size-off {
		p = p[:s.size-off]
		eof = io.EOF
	}
	if s.isRes {
		n := copy(p, s.resident[off:])
		clear(p[n:])
		return len(p), eof
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		chunk := p[done:]
		if pos >= s.initSize {
			clear(chunk)
			done = len(p)
			break
		}
		if int64(len(chunk)) > s.initSize-pos {
			chunk = chunk[:s.initSize-pos]
		}
		n, err := s.readMapped(chunk, pos)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, eof
}

// readMapped reads from the run holding byte pos (below initSize).
func (s *stream) readMapped(p []byte, pos int64) (int, error) {
	cs := s.v.clusterSize
	vcn := pos / cs
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].VCN+s.runs[i].Length > vcn })
	if i == len(s.runs) || s.runs[i].VCN > vcn {
		return 0, &RecordError{Record: s.record, Err: errf(ErrBadRunlist, "VCN %d not mapped", vcn)}
	}
	r := s.runs[i]
	inRun := pos - r.VCN*cs
	avail := r.Length*cs - inRun
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	if r.Sparse {
		clear(p)
		return len(p), nil
	}
	n, err := s.v.r.ReadAt(p, r.LCN*cs+inRun)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// extents maps [off, off+n) of the stream onto the volume.
func (s *stream) extents(off, n int64) ([]Extent, error) {
	if s.isRes {
		return nil, errf(ErrNoAttribute, "resident data has no clusters")
	}
	cs := s.v.clusterSize
	var out []Extent
	for n > 0 {
		vcn := off / cs
		i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].VCN+s.runs[i].Length > vcn })
		if i == len(s.runs) || s.runs[i].VCN > vcn || s.runs[i].Sparse {
			return nil, &RecordError{Record: s.record, Err: errf(ErrBadRunlist, "VCN %d not mapped", vcn)}
		}
		r := s.runs[i]
		inRun := off - r.VCN*cs
		l := min(n, r.Length*cs-inRun)
		out = append(out, Extent{FileOffset: off, VolumeOffset: r.LCN*cs + inRun, Length: l})
		off += l
		n -= l
	}
	return out, nil
}
