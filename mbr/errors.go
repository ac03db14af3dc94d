package mbr

import "errors"

// Sentinel errors; structured errors returned by this package unwrap to one
// of these, so callers can branch with errors.Is.
var (
	ErrShortRecord     = errors.New("mbr: record shorter than 512 bytes")
	ErrNoBootSignature = errors.New("mbr: no 0x55AA boot signature")
)
