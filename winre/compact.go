package winre

import (
	"bytes"
	"errors"

	"github.com/google/uuid"
)

// PatchLocationCompact is PatchLocation for the case it cannot handle: a
// new offset with more digits than the <WinreLocation> tag has room for,
// as when WinRE moves from 1 MiB (7 digits) to after C: (10-13 digits).
//
// It first tries PatchLocation. When that fails with a *FitError, it makes
// the room from the line ends instead: a CRLF between two elements
// (">\r\n<") becomes LF, the last ones in the file first, one per missing
// character, and the freed bytes become spaces before the tag's "/>".
// Whitespace between elements carries no meaning in XML, and Windows reads
// LF line ends; the file keeps its length, every element, attribute and
// value other than WinreLocation's, and the order of everything. Only
// UTF-8 files are handled this way; a UTF-16 file, or one with too few
// CRLF line ends, still fails with the *FitError.
func PatchLocationCompact(b []byte, offset uint64, diskGUID uuid.UUID, diskID uint32) ([]byte, error) {
	out, err := PatchLocation(b, offset, diskGUID, diskID)
	var fe *FitError
	if !errors.As(err, &fe) {
		return out, err
	}
	ra, perr := ParseReAgent(b)
	if perr != nil || (ra.Encoding != UTF8 && ra.Encoding != UTF8BOM) {
		return nil, err
	}
	need := fe.Short()
	if need <= 0 {
		return nil, err
	}
	tag := bytes.Index(b, []byte("<"+elemWinreLocation))
	if tag < 0 {
		return nil, err
	}
	end := bytes.Index(b[tag:], []byte("/>"))
	if end < 0 {
		return nil, err
	}
	end += tag
	// Pick the CRs to drop, from the end of the file backwards.
	var drop []int
	for i := len(b) - 3; i >= 1 && len(drop) < need; i-- {
		if b[i-1] == '>' && b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '<' {
			drop = append(drop, i)
		}
	}
	if len(drop) < need {
		return nil, err
	}
	// Rebuild: every byte of b but the dropped CRs, with need spaces
	// inserted before the tag's "/>".
	compact := make([]byte, 0, len(b))
	dropped := map[int]bool{}
	for _, i := range drop {
		dropped[i] = true
	}
	for i := 0; i < len(b); i++ {
		if i == end {
			compact = append(compact, bytes.Repeat([]byte{' '}, need)...)
		}
		if !dropped[i] {
			compact = append(compact, b[i])
		}
	}
	return PatchLocation(compact, offset, diskGUID, diskID)
}
