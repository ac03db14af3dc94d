package winrepart

import "io"

// overlay is a read-only view of a device as it will be after a list of
// changes that have not been written yet: metadata writes and data copies,
// in order. The executor plans each step's writes on the overlay of the
// steps before it, so that, for example, the WinRE volume's growth is
// planned on its bytes as they will be at its new place, and the
// hidden-sectors fix on the boot sector as the growth leaves it.
type overlay struct {
	base   io.ReaderAt
	layers []layer
}

// layer is one pending change: a write of data at off, or (when data is nil)
// a copy of n bytes from src to off, with memmove semantics.
type layer struct {
	off  int64
	data []byte
	src  int64
	n    int64
}

func (l layer) length() int64 {
	if l.data != nil {
		return int64(len(l.data))
	}
	return l.n
}

func (o *overlay) write(off int64, data []byte) {
	o.layers = append(o.layers, layer{off: off, data: append([]byte(nil), data...)})
}

func (o *overlay) copy(src, dst, n int64) {
	o.layers = append(o.layers, layer{off: dst, src: src, n: n})
}

// ReadAt reads p as it will be once every layer is applied.
func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if err := o.readLayer(len(o.layers)-1, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// readLayer reads p at off as it is after layers 0..top.
func (o *overlay) readLayer(top int, p []byte, off int64) error {
	if top < 0 {
		n, err := o.base.ReadAt(p, off)
		if err == io.EOF && n == len(p) {
			err = nil
		}
		return err
	}
	if err := o.readLayer(top-1, p, off); err != nil {
		return err
	}
	l := o.layers[top]
	lo, hi := max(off, l.off), min(off+int64(len(p)), l.off+l.length())
	if lo >= hi {
		return nil
	}
	dst := p[lo-off : hi-off]
	if l.data != nil {
		copy(dst, l.data[lo-l.off:hi-l.off])
		return nil
	}
	// A copy: these bytes are what the source held before this layer.
	return o.readLayer(top-1, dst, l.src+(lo-l.off))
}
