package gpt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/google/uuid"
)

// On-disk layout of a partition entry (UEFI 2.10 §5.3.3, offsets in bytes).
const (
	offEntryType       = 0
	offEntryUnique     = 16
	offEntryFirstLBA   = 32
	offEntryLastLBA    = 40
	offEntryAttributes = 48
	offEntryName       = 56

	// MinEntrySize is the size of the fields UEFI defines; entries may be
	// larger (SizeOfPartitionEntry), the rest is preserved in
	// Table.EntryExtra.
	MinEntrySize = 128

	// NameLen is the number of UTF-16 code units in an entry's name.
	NameLen = 36
)

// Entry is one partition entry (UEFI 2.10 §5.3.3): the 128 bytes of
// fields UEFI defines. An entry whose Type is the zero GUID is unused; its
// other bytes are kept anyway, so that marshalling gives back exactly what
// was read. In a table whose entries are larger than 128 bytes, the bytes
// past 128 are kept in [Table.EntryExtra], not in the Entry. An Entry holds
// no pointers: copying one copies all of it.
type Entry struct {
	Type       Type            // partition type GUID; zero for an unused entry
	UniqueGUID uuid.UUID       // the partition's own GUID (BCD refers to it)
	FirstLBA   uint64          // first logical sector of the partition
	LastLBA    uint64          // last logical sector, inclusive
	Attributes Attributes      // attribute bits
	Name       [NameLen]uint16 // raw UTF-16LE code units, NUL-padded
}

// UnmarshalBinary decodes an entry from the first 128 bytes of b, which
// must hold at least 128 bytes; bytes past 128 are ignored ([Read] keeps
// them in [Table.EntryExtra]).
func (e *Entry) UnmarshalBinary(b []byte) error {
	if len(b) < MinEntrySize {
		return fmt.Errorf("%w: %d bytes for a partition entry", ErrShortBuffer, len(b))
	}
	e.decode(b)
	return nil
}

func (e *Entry) decode(b []byte) {
	b = b[:MinEntrySize]
	le := binary.LittleEndian
	e.Type = Type(DecodeGUID(b[offEntryType:]))
	e.UniqueGUID = DecodeGUID(b[offEntryUnique:])
	e.FirstLBA = le.Uint64(b[offEntryFirstLBA:])
	e.LastLBA = le.Uint64(b[offEntryLastLBA:])
	e.Attributes = Attributes(le.Uint64(b[offEntryAttributes:]))
	name := b[offEntryName:MinEntrySize]
	for i := 0; i < NameLen; i += 4 { // four code units per load
		u := le.Uint64(name[2*i:])
		e.Name[i], e.Name[i+1], e.Name[i+2], e.Name[i+3] = uint16(u), uint16(u>>16), uint16(u>>32), uint16(u>>48)
	}
}

// AppendBinary appends the 128-byte encoding of e to b.
func (e *Entry) AppendBinary(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	b = AppendGUID(b, uuid.UUID(e.Type))
	b = AppendGUID(b, e.UniqueGUID)
	b = le.AppendUint64(b, e.FirstLBA)
	b = le.AppendUint64(b, e.LastLBA)
	b = le.AppendUint64(b, uint64(e.Attributes))
	for _, c := range e.Name {
		b = le.AppendUint16(b, c)
	}
	return b, nil
}

// MarshalBinary returns the 128-byte encoding of e (see
// [Entry.AppendBinary]).
func (e *Entry) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, MinEntrySize))
}

// IsUsed reports whether the entry describes a partition (its type GUID is
// not zero).
func (e Entry) IsUsed() bool { return !e.Type.IsUnused() }

// Sectors returns the number of logical sectors the partition spans, or 0
// when LastLBA < FirstLBA.
func (e Entry) Sectors() uint64 {
	if e.LastLBA < e.FirstLBA {
		return 0
	}
	return e.LastLBA - e.FirstLBA + 1
}

// SizeBytes returns the partition size in bytes for the given logical
// sector size.
func (e Entry) SizeBytes(sectorSize int) int64 {
	return int64(e.Sectors()) * int64(sectorSize)
}

// StartBytes returns the byte offset of the partition on the disk (what
// ReAgent.xml's offset attribute holds).
func (e Entry) StartBytes(sectorSize int) int64 {
	return int64(e.FirstLBA) * int64(sectorSize)
}

// Label decodes the name up to its first NUL code unit. Unpaired surrogates
// become U+FFFD.
func (e Entry) Label() string {
	n := 0
	for n < len(e.Name) && e.Name[n] != 0 {
		n++
	}
	return string(utf16.Decode(e.Name[:n]))
}

// SetLabel stores s as the name, NUL-padded. It fails with ErrLabelTooLong,
// leaving e unchanged, when s needs more than 36 UTF-16 code units
// (characters outside the Basic Multilingual Plane take two).
func (e *Entry) SetLabel(s string) error {
	u := utf16.Encode([]rune(s))
	if len(u) > NameLen {
		return fmt.Errorf("%w: %q needs %d", ErrLabelTooLong, s, len(u))
	}
	e.Name = [NameLen]uint16{}
	copy(e.Name[:], u)
	return nil
}
