package winre

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Encoding names how a text file (ReAgent.xml) is encoded on disk.
type Encoding int

// The encodings this package reads and writes back unchanged.
const (
	// UTF8 is UTF-8 without a byte order mark, as Windows writes
	// ReAgent.xml.
	UTF8 Encoding = iota
	// UTF8BOM is UTF-8 preceded by EF BB BF.
	UTF8BOM
	// UTF16LEBOM is UTF-16 little-endian preceded by FF FE.
	UTF16LEBOM
	// UTF16LE is UTF-16 little-endian without a byte order mark, detected
	// by the "<\x00" that starts the document.
	UTF16LE
)

// String returns the encoding's name, e.g. "UTF-16LE+BOM".
func (e Encoding) String() string {
	switch e {
	case UTF8:
		return "UTF-8"
	case UTF8BOM:
		return "UTF-8+BOM"
	case UTF16LEBOM:
		return "UTF-16LE+BOM"
	case UTF16LE:
		return "UTF-16LE"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// utf16 reports whether text in this encoding is made of 16-bit units.
func (e Encoding) utf16() bool { return e == UTF16LE || e == UTF16LEBOM }

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// text is a document decoded to UTF-8, with the way back to the bytes on
// disk.
type text struct {
	enc  Encoding
	utf8 []byte
	// off maps a byte index of utf8 (at a rune start, and len(utf8)) to the
	// byte offset in the original file. Nil for UTF-8 input, where the
	// offset is the index plus the BOM length.
	off  []int
	skip int // BOM length for UTF-8 input
}

// decodeText detects the encoding of b and decodes it to UTF-8. It fails
// with ErrEncoding on UTF-16BE, odd-length UTF-16, unpaired surrogates and
// invalid UTF-8.
func decodeText(b []byte) (*text, error) {
	switch {
	case bytes.HasPrefix(b, bomUTF8):
		if !utf8.Valid(b[3:]) {
			return nil, ErrEncoding
		}
		return &text{enc: UTF8BOM, utf8: b[3:], skip: 3}, nil
	case bytes.HasPrefix(b, bomUTF16LE):
		return decodeUTF16(b, 2, UTF16LEBOM)
	case bytes.HasPrefix(b, bomUTF16BE):
		return nil, ErrEncoding
	case len(b) >= 2 && b[0] == '<' && b[1] == 0:
		return decodeUTF16(b, 0, UTF16LE)
	}
	if !utf8.Valid(b) {
		return nil, ErrEncoding
	}
	return &text{enc: UTF8, utf8: b}, nil
}

func decodeUTF16(b []byte, start int, enc Encoding) (*text, error) {
	if (len(b)-start)%2 != 0 {
		return nil, ErrEncoding
	}
	t := &text{enc: enc}
	out := make([]byte, 0, (len(b)-start)/2)
	off := make([]int, 0, (len(b)-start)/2+1)
	var buf [utf8.UTFMax]byte
	for i := start; i < len(b); {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		pos := i
		i += 2
		r := u
		switch {
		case utf16.IsSurrogate(u):
			if u >= 0xDC00 || i+2 > len(b) {
				return nil, ErrEncoding
			}
			r = utf16.DecodeRune(u, rune(binary.LittleEndian.Uint16(b[i:])))
			if r == utf8.RuneError {
				return nil, ErrEncoding
			}
			i += 2
		}
		n := utf8.EncodeRune(buf[:], r)
		out = append(out, buf[:n]...)
		for range n {
			off = append(off, pos)
		}
	}
	t.utf8 = out
	t.off = append(off, len(b))
	return t, nil
}

// orig returns the offset in the original file of byte i of t.utf8.
func (t *text) orig(i int) int {
	if t.off == nil {
		return i + t.skip
	}
	return t.off[i]
}

// encode returns s (UTF-8) in t's encoding, without a BOM.
func (t *text) encode(s []byte) []byte {
	if !t.enc.utf16() {
		return s
	}
	out := make([]byte, 0, 2*len(s))
	for _, u := range utf16.Encode([]rune(string(s))) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}
