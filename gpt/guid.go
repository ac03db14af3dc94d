package gpt

import "github.com/google/uuid"

// GUIDs are stored on disk in the mixed-endian form of the UEFI
// specification (Appendix A): the first three fields little-endian, the last
// eight bytes as they are. In memory they are uuid.UUID values in RFC 4122
// (big-endian) order.

// DecodeGUID reads the 16-byte mixed-endian GUID at b[:16], the byte
// order Windows uses for GUIDs everywhere on disk (the BCD's device
// elements too).
func DecodeGUID(b []byte) uuid.UUID {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:16])
	return u
}

// AppendGUID appends u to b in the mixed-endian on-disk form.
func AppendGUID(b []byte, u uuid.UUID) []byte {
	return append(b, u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6],
		u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15])
}
