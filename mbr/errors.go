package mbr

import (
	"errors"
	"fmt"
)

// Sentinel errors; structured errors returned by this package unwrap to one
// of these, so callers can branch with errors.Is.
var (
	ErrShortRecord     = errors.New("mbr: record shorter than 512 bytes")
	ErrNoBootSignature = errors.New("mbr: no 0x55AA boot signature")

	// ErrSectorSize reports a logical sector size that is not a power of
	// two between 512 and 65536 bytes.
	ErrSectorSize = errors.New("mbr: unsupported sector size")
	// ErrDiskSize reports a disk size smaller than one sector.
	ErrDiskSize = errors.New("mbr: disk smaller than one sector")

	// ErrChainLoop reports an EBR "next" link that leads back to an EBR
	// already visited.
	ErrChainLoop = errors.New("mbr: EBR chain loops")
	// ErrOutsideExtended reports an EBR link that points outside the
	// extended partition.
	ErrOutsideExtended = errors.New("mbr: EBR outside the extended partition")
	// ErrOutsideDisk reports an EBR, partition or write beyond the end of
	// the disk.
	ErrOutsideDisk = errors.New("mbr: beyond the end of the disk")
	// ErrChainTooLong reports an EBR chain longer than MaxChain.
	ErrChainTooLong = errors.New("mbr: EBR chain too long")

	// ErrNumber reports a partition number that does not name an entry the
	// operation can act on.
	ErrNumber = errors.New("mbr: no such partition")
	// ErrNoFreeSlot reports that all four primary entries are in use.
	ErrNoFreeSlot = errors.New("mbr: no free primary entry")
	// ErrOverlap reports an edit that would make partitions overlap.
	ErrOverlap = errors.New("mbr: partitions would overlap")
	// ErrRange reports a start or size that an MBR entry cannot hold: zero,
	// beyond 32 bits, or beyond the disk.
	ErrRange = errors.New("mbr: start or size out of range")
	// ErrHasLogicals reports an attempt to delete or change the extended
	// partition while logical partitions live inside it.
	ErrHasLogicals = errors.New("mbr: extended partition holds logical partitions")
	// ErrExtended reports an edit that would create or change an extended
	// partition, or add an entry of type 0x00; the editor handles primary
	// data partitions only.
	ErrExtended = errors.New("mbr: extended partitions and type 0x00 are not edited")
	// ErrInconsistent reports a Table whose fields contradict each other
	// (for example a Logical whose EBRLBA names no EBR), so it cannot be
	// written.
	ErrInconsistent = errors.New("mbr: inconsistent table")
)

// RecordError reports a boot record that could not be read: a short read
// or an I/O error at LBA 0 or at an EBR, or a missing boot signature at
// LBA 0. It unwraps to its Err (ErrShortRecord, ErrNoBootSignature, or the
// reader's error).
type RecordError struct {
	LBA uint64 // absolute LBA of the record, in logical sectors
	Err error
}

// Error describes the record and the cause.
func (e *RecordError) Error() string {
	return fmt.Sprintf("mbr: record at LBA %d: %v", e.LBA, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// ChainError says where and why an EBR chain stopped early. Read does not
// fail with it: it salvages the EBRs before the break and keeps the error in
// [Table.Broken], and [Table.Verify] reports it as a Problem. It unwraps to
// ErrChainLoop, ErrOutsideExtended, ErrOutsideDisk, ErrChainTooLong or
// ErrNoBootSignature.
type ChainError struct {
	EBRLBA uint64 // absolute LBA the broken link points to, in logical sectors
	Index  int    // position of that EBR in the chain, 0 for the first
	Err    error
}

// Error describes where the chain broke and why.
func (e *ChainError) Error() string {
	return fmt.Sprintf("mbr: EBR #%d at LBA %d: %v", e.Index, e.EBRLBA, e.Err)
}

// Unwrap returns the cause.
func (e *ChainError) Unwrap() error { return e.Err }
