package ntfs

import "encoding/binary"

// FixupStride is the size of the blocks an update sequence array protects:
// always 512 bytes in NTFS, whatever the sector size.
const FixupStride = 512

// Multi-sector header shared by FILE, INDX and RSTR structures.
const (
	offMagic    = 0x00
	offUSAOfs   = 0x04
	offUSACount = 0x06
)

// usaBounds validates the update sequence array header of b and returns
// its offset and entry count (the sequence number plus one entry per stride).
func usaBounds(b []byte) (ofs, count int, err error) {
	if len(b) < 8 || len(b)%FixupStride != 0 {
		return 0, 0, &RecordError{Record: NoRecord, Offset: 0, Err: errf(ErrBadFixup, "structure size %d is not a multiple of %d", len(b), FixupStride)}
	}
	le := binary.LittleEndian
	ofs = int(le.Uint16(b[offUSAOfs:]))
	count = int(le.Uint16(b[offUSACount:]))
	if count != len(b)/FixupStride+1 {
		return 0, 0, &RecordError{Record: NoRecord, Offset: offUSACount, Err: errf(ErrBadFixup, "update sequence count %d for %d bytes", count, len(b))}
	}
	if ofs < 8 || ofs%2 != 0 || ofs+2*count > FixupStride-2 {
		return 0, 0, &RecordError{Record: NoRecord, Offset: offUSAOfs, Err: errf(ErrBadFixup, "update sequence array offset %#x", ofs)}
	}
	return ofs, count, nil
}

// ApplyFixups undoes the multi-sector protection of b in place, as after a
// read: it checks that the last two bytes of every 512-byte stride hold the
// update sequence number and puts back the original bytes saved in the
// update sequence array. b is a whole FILE record, INDX block or RSTR page.
// On a mismatch it returns a *RecordError wrapping ErrBadFixup whose Offset
// is the offending stride end, and b is left partly fixed.
func ApplyFixups(b []byte) error {
	ofs, count, err := usaBounds(b)
	if err != nil {
		return err
	}
	usn := b[ofs : ofs+2]
	for i := 1; i < count; i++ {
		end := i*FixupStride - 2
		if b[end] != usn[0] || b[end+1] != usn[1] {
			return &RecordError{Record: NoRecord, Offset: end, Err: errf(ErrBadFixup, "stride %d ends %02x%02x, want %02x%02x", i-1, b[end], b[end+1], usn[0], usn[1])}
		}
		b[end] = b[ofs+2*i]
		b[end+1] = b[ofs+2*i+1]
	}
	return nil
}

// ProtectFixups re-applies the multi-sector protection of b in place, as
// before a write: it saves the last two bytes of every stride into the
// update sequence array and replaces them with the update sequence number
// usn, which it also stores. Windows increments the number on every write
// (skipping 0); callers that patch a record should pass the stored number
// plus one. It is the inverse of ApplyFixups.
func ProtectFixups(b []byte, usn uint16) error {
	ofs, count, err := usaBounds(b)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(b[ofs:], usn)
	for i := 1; i < count; i++ {
		end := i*FixupStride - 2
		b[ofs+2*i] = b[end]
		b[ofs+2*i+1] = b[end+1]
		binary.LittleEndian.PutUint16(b[end:], usn)
	}
	return nil
}

// UpdateSequenceNumber returns the update sequence number stored in a
// multi-sector protected structure (0 when the header is invalid).
func UpdateSequenceNumber(b []byte) uint16 {
	ofs, _, err := usaBounds(b)
	if err != nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b[ofs:])
}
