package mbr

import (
	"encoding/binary"
	"fmt"
)

// Size is the length in bytes of a Master Boot Record or an Extended Boot
// Record: the first 512 bytes of the sector that holds it, whatever the
// logical sector size.
const Size = 512

// On-disk layout of a boot record (offsets in bytes from its start).
const (
	offBootCode      = 0
	lenBootCode      = 440
	offDiskSignature = 440
	offReserved      = 444
	offEntries       = 446
	entrySize        = 16
	offSignature     = 510
	bootSignature    = 0xAA55 // bytes 0x55 0xAA, little-endian
)

// Entry offsets within one 16-byte partition entry.
const (
	offStatus   = 0
	offFirstCHS = 1
	offType     = 4
	offLastCHS  = 5
	offStartLBA = 8
	offSectors  = 12
)

// CHS is a cylinder-head-sector address exactly as stored in an entry: head,
// then sector (bits 0-5) with cylinder bits 8-9 (bits 6-7), then cylinder
// bits 0-7.
type CHS [3]byte

// Head returns the head number (0-254).
func (c CHS) Head() uint8 { return c[0] }

// Sector returns the sector number (1-based, 1-63; 0 is invalid).
func (c CHS) Sector() uint8 { return c[1] & 0x3f }

// Cylinder returns the cylinder number (0-1023).
func (c CHS) Cylinder() uint16 { return uint16(c[1]&0xc0)<<2 | uint16(c[2]) }

// String renders the address as cylinder/head/sector.
func (c CHS) String() string {
	return fmt.Sprintf("%d/%d/%d", c.Cylinder(), c.Head(), c.Sector())
}

// Entry is one 16-byte partition entry of an MBR or EBR. StartLBA and
// Sectors count logical sectors; in an EBR, StartLBA is relative (see the
// package documentation).
type Entry struct {
	Status   byte // 0x80 bootable ("active"), 0x00 not; anything else is invalid
	FirstCHS CHS  // CHS address of the first sector, as stored
	Type     Type // partition type (system ID)
	LastCHS  CHS  // CHS address of the last sector, as stored
	StartLBA uint32
	Sectors  uint32
}

// IsEmpty reports whether the entry describes no partition (type 0x00).
func (e Entry) IsEmpty() bool { return e.Type == TypeEmpty }

// Bootable reports whether the boot indicator is 0x80.
func (e Entry) Bootable() bool { return e.Status == 0x80 }

func decodeEntry(b []byte) Entry {
	var e Entry
	e.Status = b[offStatus]
	copy(e.FirstCHS[:], b[offFirstCHS:offFirstCHS+3])
	e.Type = Type(b[offType])
	copy(e.LastCHS[:], b[offLastCHS:offLastCHS+3])
	e.StartLBA = binary.LittleEndian.Uint32(b[offStartLBA:])
	e.Sectors = binary.LittleEndian.Uint32(b[offSectors:])
	return e
}

func (e Entry) appendBinary(b []byte) []byte {
	b = append(b, e.Status)
	b = append(b, e.FirstCHS[:]...)
	b = append(b, byte(e.Type))
	b = append(b, e.LastCHS[:]...)
	b = binary.LittleEndian.AppendUint32(b, e.StartLBA)
	return binary.LittleEndian.AppendUint32(b, e.Sectors)
}

// Record is a Master Boot Record (or the first 512 bytes of an Extended
// Boot Record), byte for byte: marshalling a parsed Record gives back the
// bytes it came from.
type Record struct {
	BootCode      [lenBootCode]byte
	DiskSignature uint32  // Windows disk signature (ReAgent.xml's id on MBR disks)
	Reserved      [2]byte // usually zero; 0x5A5A marks a copy-protected disk
	Entries       [4]Entry
	Signature     uint16 // 0xAA55 on a valid record
}

// UnmarshalBinary decodes the first 512 bytes of b. It fails with
// ErrShortRecord when b is shorter and ErrNoBootSignature when bytes 510-511
// are not 0x55 0xAA; in the latter case r is filled in all the same, so a
// caller can still show what is there.
func (r *Record) UnmarshalBinary(b []byte) error {
	if len(b) < Size {
		return fmt.Errorf("%w: %d bytes", ErrShortRecord, len(b))
	}
	copy(r.BootCode[:], b[offBootCode:offBootCode+lenBootCode])
	r.DiskSignature = binary.LittleEndian.Uint32(b[offDiskSignature:])
	copy(r.Reserved[:], b[offReserved:offReserved+2])
	for i := range r.Entries {
		r.Entries[i] = decodeEntry(b[offEntries+i*entrySize:])
	}
	r.Signature = binary.LittleEndian.Uint16(b[offSignature:])
	if r.Signature != bootSignature {
		return fmt.Errorf("%w: found %#04x", ErrNoBootSignature, r.Signature)
	}
	return nil
}

// AppendBinary appends the 512-byte encoding of r to b.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, r.BootCode[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.DiskSignature)
	b = append(b, r.Reserved[:]...)
	for _, e := range r.Entries {
		b = e.appendBinary(b)
	}
	return binary.LittleEndian.AppendUint16(b, r.Signature), nil
}

// MarshalBinary returns the 512-byte encoding of r.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, Size))
}
