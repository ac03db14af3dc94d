package sparseimg

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// Format constants.
const (
	// BlockSize is the unit, in bytes, in which zero blocks are detected.
	BlockSize = 4096
	// MaxRecord is the largest data record, in bytes.
	MaxRecord = 64 << 20
	// MaxImageSize is the largest image size, in bytes, Unpack accepts
	// (16 TiB).
	MaxImageSize = 16 << 40
	// Version is the format version written by Pack.
	Version = 1
)

// Layout of the uncompressed stream.
const (
	magic         = "WRSPIMG\x00"
	headerLen     = 8 + 4 + 4 + 8
	tagData       = 'D'
	tagEnd        = 'E'
	dataHeaderLen = 1 + 8 + 4 // tag, offset, length
	chunkLen      = 1 << 20   // read/write buffer, a multiple of BlockSize
)

// Errors returned by Unpack, wrapped in a [*FormatError] when they concern
// a place in the stream.
var (
	ErrMagic     = errors.New("sparseimg: not a packed image (bad magic)")
	ErrVersion   = errors.New("sparseimg: unsupported version")
	ErrTooLarge  = errors.New("sparseimg: length beyond limit")
	ErrOrder     = errors.New("sparseimg: record out of order or outside the image")
	ErrCanonical = errors.New("sparseimg: stream not canonical")
	ErrDigest    = errors.New("sparseimg: digest mismatch")
	ErrTrailing  = errors.New("sparseimg: data after the end record")
	ErrTruncated = errors.New("sparseimg: stream ends early")
)

// FormatError reports where in the uncompressed stream a packed image is
// malformed. It unwraps to one of the sentinel errors.
type FormatError struct {
	Pos   int64  // byte position in the uncompressed stream
	Field string // "magic", "version", "record offset", ...
	Value uint64 // the offending value, when there is one
	Err   error
}

// Error implements error.
func (e *FormatError) Error() string {
	return fmt.Sprintf("%v: %s = %d at stream byte %d", e.Err, e.Field, e.Value, e.Pos)
}

// Unwrap returns the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

// Target is where Unpack writes an image: an empty or disposable file.
// *os.File implements it.
type Target interface {
	io.WriterAt
	Truncate(size int64) error
}

// Pack writes the image r of size bytes to w in packed form.
// When r is an *os.File, holes are skipped without reading them.
func Pack(w io.Writer, r io.ReaderAt, size int64) error {
	if size < 0 || size > MaxImageSize {
		return fmt.Errorf("%w: image size %d", ErrTooLarge, size)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	if _, err := encode(bw, r, size); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Digest returns the digest Pack would record for the image r of size
// bytes (see the package documentation).
func Digest(r io.ReaderAt, size int64) ([sha256.Size]byte, error) {
	if size < 0 || size > MaxImageSize {
		return [sha256.Size]byte{}, fmt.Errorf("%w: image size %d", ErrTooLarge, size)
	}
	return encode(io.Discard, r, size)
}

// encode writes the uncompressed stream, end record included, and returns
// the digest.
func encode(w io.Writer, r io.ReaderAt, size int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	out := io.MultiWriter(w, h)
	var hdr [headerLen]byte
	copy(hdr[:], magic)
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	binary.LittleEndian.PutUint32(hdr[12:], BlockSize)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(size))
	if _, err := out.Write(hdr[:]); err != nil {
		return sum, err
	}
	runs, err := nonZeroRuns(r, size)
	if err != nil {
		return sum, err
	}
	buf := make([]byte, chunkLen)
	for _, run := range runs {
		for off := run.off; off < run.end; {
			n := min(run.end-off, MaxRecord)
			var rh [dataHeaderLen]byte
			rh[0] = tagData
			binary.LittleEndian.PutUint64(rh[1:], uint64(off))
			binary.LittleEndian.PutUint32(rh[9:], uint32(n))
			if _, err := out.Write(rh[:]); err != nil {
				return sum, err
			}
			if _, err := io.CopyBuffer(out, io.NewSectionReader(r, off, n), buf); err != nil {
				return sum, err
			}
			off += n
		}
	}
	h.Sum(sum[:0])
	end := append([]byte{tagEnd}, sum[:]...)
	_, err = w.Write(end)
	return sum, err
}

// run is a byte range [off, end) of non-zero blocks.
type run struct{ off, end int64 }

// nonZeroRuns finds the maximal runs of blocks that are not all zero.
func nonZeroRuns(r io.ReaderAt, size int64) ([]run, error) {
	var runs []run
	buf := make([]byte, chunkLen)
	add := func(off, end int64) {
		if n := len(runs); n > 0 && runs[n-1].end == off {
			runs[n-1].end = end
			return
		}
		runs = append(runs, run{off, end})
	}
	for _, ext := range dataExtents(r, size) {
		for off := ext.off; off < ext.end; {
			n := min(ext.end-off, chunkLen)
			if _, err := r.ReadAt(buf[:n], off); err != nil && !(err == io.EOF && off+n == size) {
				return nil, fmt.Errorf("sparseimg: read at %d: %w", off, err)
			}
			for b := int64(0); b < n; b += BlockSize {
				e := min(b+BlockSize, n)
				if !allZero(buf[b:e]) {
					add(off+b, off+e)
				}
			}
			off += n
		}
	}
	return runs, nil
}

// Whence values of lseek(2) that find data and holes (Linux, BSDs, Solaris).
const (
	seekData = 3
	seekHole = 4
)

// dataExtents returns the block-aligned ranges of r that may hold data:
// for an *os.File on a system with SEEK_DATA/SEEK_HOLE, the data extents;
// otherwise the whole image.
func dataExtents(r io.ReaderAt, size int64) []run {
	whole := []run{{0, size}}
	f, ok := r.(*os.File)
	if !ok || size == 0 {
		return whole
	}
	var exts []run
	for off := int64(0); off < size; {
		d, err := f.Seek(off, seekData)
		if err != nil {
			// Either no data after off (ENXIO) or no SEEK_DATA at all;
			// SEEK_HOLE at 0 tells them apart without naming errnos.
			if _, herr := f.Seek(0, seekHole); herr != nil {
				return whole
			}
			break
		}
		if d >= size {
			break
		}
		hole, err := f.Seek(d, seekHole)
		if err != nil {
			return whole
		}
		hole = min(hole, size)
		start := d / BlockSize * BlockSize
		end := min((hole+BlockSize-1)/BlockSize*BlockSize, size)
		if n := len(exts); n > 0 && exts[n-1].end >= start {
			exts[n-1].end = max(exts[n-1].end, end)
		} else {
			exts = append(exts, run{start, end})
		}
		off = hole
	}
	return exts
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Unpack reads a packed image from r and writes it into dst, which it
// first truncates to zero and then to the image size, so unwritten ranges
// are holes. It returns the image size. On error dst holds partial
// content.
func Unpack(dst Target, r io.Reader) (int64, error) {
	// gzip reads ahead through its own buffer unless r is a ByteReader;
	// give it one so the trailing-data check below sees every byte.
	if _, ok := r.(io.ByteReader); !ok {
		r = bufio.NewReader(r)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("sparseimg: %w", err)
	}
	zr.Multistream(false)
	d := &decoder{r: bufio.NewReaderSize(zr, 1<<16), h: sha256.New()}
	size, err := d.decode(dst)
	if err != nil {
		return 0, err
	}
	// Nothing may follow the end record, inside or after the gzip member.
	n, err := io.CopyN(io.Discard, zr, 1)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("sparseimg: %w", err)
	}
	if n != 0 || d.r.Buffered() != 0 {
		return 0, &FormatError{Pos: d.pos, Field: "trailing data", Err: ErrTrailing}
	}
	if zr.Reset(r) != io.EOF {
		return 0, &FormatError{Pos: d.pos, Field: "trailing gzip member", Err: ErrTrailing}
	}
	return size, nil
}

// decoder reads the uncompressed stream, hashing what it reads.
type decoder struct {
	r   *bufio.Reader
	h   hash.Hash
	pos int64 // bytes consumed
}

// read fills b, hashing the bytes unless noHash.
func (d *decoder) read(b []byte, noHash bool) error {
	n, err := io.ReadFull(d.r, b)
	if !noHash {
		d.h.Write(b[:n])
	}
	d.pos += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{Pos: d.pos, Field: "stream", Err: ErrTruncated}
	}
	if err != nil {
		return fmt.Errorf("sparseimg: %w", err)
	}
	return nil
}

func (d *decoder) decode(dst Target) (int64, error) {
	var hdr [headerLen]byte
	if err := d.read(hdr[:], false); err != nil {
		return 0, err
	}
	if string(hdr[:8]) != magic {
		return 0, &FormatError{Pos: 0, Field: "magic", Err: ErrMagic}
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != Version {
		return 0, &FormatError{Pos: 8, Field: "version", Value: uint64(v), Err: ErrVersion}
	}
	if bs := binary.LittleEndian.Uint32(hdr[12:]); bs != BlockSize {
		return 0, &FormatError{Pos: 12, Field: "block size", Value: uint64(bs), Err: ErrVersion}
	}
	usize := binary.LittleEndian.Uint64(hdr[16:])
	if usize > MaxImageSize {
		return 0, &FormatError{Pos: 16, Field: "image size", Value: usize, Err: ErrTooLarge}
	}
	size := int64(usize)
	if err := dst.Truncate(0); err != nil {
		return 0, fmt.Errorf("sparseimg: %w", err)
	}
	if err := dst.Truncate(size); err != nil {
		return 0, fmt.Errorf("sparseimg: %w", err)
	}
	var (
		prevEnd  int64 = -1 // end of the previous record, -1 before the first
		prevFull bool       // the previous record had MaxRecord bytes
		buf      []byte
	)
	for {
		recPos := d.pos
		var tag [1]byte
		if err := d.read(tag[:], true); err != nil {
			return 0, err
		}
		switch tag[0] {
		case tagEnd:
			var want [sha256.Size]byte
			if err := d.read(want[:], true); err != nil {
				return 0, err
			}
			if got := d.h.Sum(nil); !bytes.Equal(got, want[:]) {
				return 0, &FormatError{Pos: recPos, Field: "digest", Err: ErrDigest}
			}
			return size, nil
		case tagData:
		default:
			return 0, &FormatError{Pos: recPos, Field: "record tag", Value: uint64(tag[0]), Err: ErrCanonical}
		}
		d.h.Write(tag[:])
		var rh [dataHeaderLen - 1]byte
		if err := d.read(rh[:], false); err != nil {
			return 0, err
		}
		uoff := binary.LittleEndian.Uint64(rh[0:])
		n := int64(binary.LittleEndian.Uint32(rh[8:]))
		if n == 0 || n > MaxRecord {
			return 0, &FormatError{Pos: recPos + 9, Field: "record length", Value: uint64(n), Err: ErrTooLarge}
		}
		if uoff > usize || int64(uoff) > size-n || int64(uoff) < prevEnd {
			return 0, &FormatError{Pos: recPos + 1, Field: "record offset", Value: uoff, Err: ErrOrder}
		}
		off := int64(uoff)
		end := off + n
		switch {
		case off%BlockSize != 0:
			return 0, &FormatError{Pos: recPos + 1, Field: "record offset (unaligned)", Value: uoff, Err: ErrCanonical}
		case end%BlockSize != 0 && end != size:
			return 0, &FormatError{Pos: recPos + 9, Field: "record length (partial block)", Value: uint64(n), Err: ErrCanonical}
		case off == prevEnd && !prevFull:
			return 0, &FormatError{Pos: recPos + 1, Field: "record offset (not merged)", Value: uoff, Err: ErrCanonical}
		}
		if buf == nil {
			buf = make([]byte, chunkLen)
		}
		for done := int64(0); done < n; {
			c := min(n-done, chunkLen)
			if err := d.read(buf[:c], false); err != nil {
				return 0, err
			}
			for b := int64(0); b < c; b += BlockSize {
				if allZero(buf[b:min(b+BlockSize, c)]) {
					return 0, &FormatError{Pos: d.pos - c + b, Field: "zero block at image offset", Value: uint64(off + done + b), Err: ErrCanonical}
				}
			}
			if _, err := dst.WriteAt(buf[:c], off+done); err != nil {
				return 0, fmt.Errorf("sparseimg: %w", err)
			}
			done += c
		}
		prevEnd, prevFull = end, n == MaxRecord
	}
}
