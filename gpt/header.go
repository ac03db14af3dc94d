package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/google/uuid"
)

// On-disk layout of the GPT header (UEFI 2.10 §5.3.2, offsets in bytes).
const (
	offSignature       = 0
	offRevision        = 8
	offHeaderSize      = 12
	offHeaderCRC32     = 16
	offReserved        = 20
	offMyLBA           = 24
	offAlternateLBA    = 32
	offFirstUsableLBA  = 40
	offLastUsableLBA   = 48
	offDiskGUID        = 56
	offPartitionEntry  = 72
	offNumberOfEntries = 80
	offSizeOfEntry     = 84
	offEntryArrayCRC32 = 88

	// MinHeaderSize is the size of the header fields defined by UEFI;
	// HeaderSize may be larger (up to the logical sector size).
	MinHeaderSize = 92
)

// Signature is the 8-byte signature of a GPT header.
var Signature = [8]byte{'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T'}

// Revision10 is the only revision UEFI has defined (1.0, 0x00010000).
const Revision10 = 0x00010000

// Header is a GPT header (UEFI 2.10 §5.3.2), field for field. LBAs count
// logical sectors; sizes count bytes. Marshalling a parsed Header gives back
// the HeaderSize bytes it came from.
type Header struct {
	Signature                [8]byte   // "EFI PART"
	Revision                 uint32    // 0x00010000
	HeaderSize               uint32    // bytes covered by HeaderCRC32; 92 <= HeaderSize <= sector size
	HeaderCRC32              uint32    // CRC32 of the first HeaderSize bytes with this field zero
	Reserved                 uint32    // must be zero
	MyLBA                    uint64    // LBA of this header
	AlternateLBA             uint64    // LBA of the other header
	FirstUsableLBA           uint64    // first LBA a partition may use
	LastUsableLBA            uint64    // last LBA a partition may use (inclusive)
	DiskGUID                 uuid.UUID // the disk's GUID (ReAgent.xml's guid on GPT disks)
	PartitionEntryLBA        uint64    // first LBA of this copy's partition entry array
	NumberOfPartitionEntries uint32    // entries in the array, used or not
	SizeOfPartitionEntry     uint32    // bytes per entry; 128 or a larger multiple of 8
	PartitionEntryArrayCRC32 uint32    // CRC32 of NumberOfPartitionEntries*SizeOfPartitionEntry bytes
	Extra                    []byte    // bytes 92 to HeaderSize, preserved; nil when HeaderSize is 92
}

// UnmarshalBinary decodes a header from b, which must hold at least 92 bytes
// and at least HeaderSize bytes. It checks what the bytes alone can show:
// the signature (ErrNoSignature), the header size (ErrHeaderSize) and the
// header CRC (ErrHeaderCRC). On those three errors h is filled in all the
// same, so a caller can show what is there. The location checks need the
// disk and are done by [Read].
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < MinHeaderSize {
		return fmt.Errorf("%w: %d bytes for a GPT header", ErrShortBuffer, len(b))
	}
	le := binary.LittleEndian
	copy(h.Signature[:], b[offSignature:offSignature+8])
	h.Revision = le.Uint32(b[offRevision:])
	h.HeaderSize = le.Uint32(b[offHeaderSize:])
	h.HeaderCRC32 = le.Uint32(b[offHeaderCRC32:])
	h.Reserved = le.Uint32(b[offReserved:])
	h.MyLBA = le.Uint64(b[offMyLBA:])
	h.AlternateLBA = le.Uint64(b[offAlternateLBA:])
	h.FirstUsableLBA = le.Uint64(b[offFirstUsableLBA:])
	h.LastUsableLBA = le.Uint64(b[offLastUsableLBA:])
	h.DiskGUID = DecodeGUID(b[offDiskGUID:])
	h.PartitionEntryLBA = le.Uint64(b[offPartitionEntry:])
	h.NumberOfPartitionEntries = le.Uint32(b[offNumberOfEntries:])
	h.SizeOfPartitionEntry = le.Uint32(b[offSizeOfEntry:])
	h.PartitionEntryArrayCRC32 = le.Uint32(b[offEntryArrayCRC32:])
	h.Extra = nil
	if h.Signature != Signature {
		return ErrNoSignature
	}
	if h.HeaderSize < MinHeaderSize || uint64(h.HeaderSize) > uint64(len(b)) {
		return fmt.Errorf("%w: %d (want 92..%d)", ErrHeaderSize, h.HeaderSize, len(b))
	}
	if h.HeaderSize > MinHeaderSize {
		h.Extra = append([]byte(nil), b[MinHeaderSize:h.HeaderSize]...)
	}
	if got := headerCRC(b[:h.HeaderSize]); got != h.HeaderCRC32 {
		return fmt.Errorf("%w: stored %#08x, computed %#08x", ErrHeaderCRC, h.HeaderCRC32, got)
	}
	return nil
}

// zeroCRCField stands for the CRC field in headerCRC (a package variable:
// a local array escapes through crc32.Update and costs an allocation).
var zeroCRCField [4]byte

// headerCRC computes the CRC32 of a HeaderSize-byte header with the CRC
// field taken as zero, without modifying b.
func headerCRC(b []byte) uint32 {
	c := crc32.Update(0, crc32.IEEETable, b[:offHeaderCRC32])
	c = crc32.Update(c, crc32.IEEETable, zeroCRCField[:])
	return crc32.Update(c, crc32.IEEETable, b[offHeaderCRC32+4:])
}

// size returns the encoded length, which AppendBinary insists equals
// HeaderSize.
func (h *Header) size() int { return MinHeaderSize + len(h.Extra) }

// AppendBinary appends the HeaderSize-byte encoding of h to b, with
// HeaderCRC32 as stored in h (see [Header.CRC32] to compute it). It fails
// with ErrHeaderSize when HeaderSize is not 92 + len(Extra).
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	if uint64(h.HeaderSize) != uint64(h.size()) {
		return b, fmt.Errorf("%w: HeaderSize %d but %d bytes of fields and Extra", ErrHeaderSize, h.HeaderSize, h.size())
	}
	le := binary.LittleEndian
	b = append(b, h.Signature[:]...)
	b = le.AppendUint32(b, h.Revision)
	b = le.AppendUint32(b, h.HeaderSize)
	b = le.AppendUint32(b, h.HeaderCRC32)
	b = le.AppendUint32(b, h.Reserved)
	b = le.AppendUint64(b, h.MyLBA)
	b = le.AppendUint64(b, h.AlternateLBA)
	b = le.AppendUint64(b, h.FirstUsableLBA)
	b = le.AppendUint64(b, h.LastUsableLBA)
	b = AppendGUID(b, h.DiskGUID)
	b = le.AppendUint64(b, h.PartitionEntryLBA)
	b = le.AppendUint32(b, h.NumberOfPartitionEntries)
	b = le.AppendUint32(b, h.SizeOfPartitionEntry)
	b = le.AppendUint32(b, h.PartitionEntryArrayCRC32)
	return append(b, h.Extra...), nil
}

// MarshalBinary returns the HeaderSize-byte encoding of h (see
// [Header.AppendBinary]).
func (h *Header) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, h.size()))
}

// CRC32 computes the header CRC that h should carry in HeaderCRC32.
func (h *Header) CRC32() (uint32, error) {
	var buf [512]byte
	b, err := h.AppendBinary(buf[:0])
	if err != nil {
		return 0, err
	}
	return headerCRC(b), nil
}

// arrayBytes returns the size in bytes of the entry array the header
// describes.
func (h *Header) arrayBytes() uint64 {
	return uint64(h.NumberOfPartitionEntries) * uint64(h.SizeOfPartitionEntry)
}

// arraySectors returns how many logical sectors the entry array spans.
func (h *Header) arraySectors(sectorSize int) uint64 {
	return ceilDiv(h.arrayBytes(), uint64(sectorSize))
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }
