package gpt

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (often
// inside a [*HeaderError] or a [*ReadError]), so callers can branch with
// errors.Is.
var (
	ErrSectorSize        = errors.New("gpt: unsupported logical sector size")
	ErrDiskTooSmall      = errors.New("gpt: disk too small for a GPT")
	ErrNoSignature       = errors.New("gpt: no \"EFI PART\" signature")
	ErrHeaderSize        = errors.New("gpt: bad header size")
	ErrHeaderCRC         = errors.New("gpt: header CRC mismatch")
	ErrMyLBA             = errors.New("gpt: MyLBA does not match the header's location")
	ErrEntrySize         = errors.New("gpt: bad partition entry size")
	ErrEntryArrayTooBig  = errors.New("gpt: partition entry array too large")
	ErrEntryArrayPlace   = errors.New("gpt: partition entry array outside the disk or overlapping the header")
	ErrEntryArrayOverlap = errors.New("gpt: partition entry array overlaps the usable range")
	ErrEntryArrayCRC     = errors.New("gpt: partition entry array CRC mismatch")
	ErrUsableRange       = errors.New("gpt: usable LBA range invalid")
	ErrShortBuffer       = errors.New("gpt: buffer too short")

	// Errors of editing and marshalling.
	ErrNoSuchPartition = errors.New("gpt: no such partition")
	ErrNoFreeEntry     = errors.New("gpt: no free partition entry")
	ErrUnusedType      = errors.New("gpt: partition type is the unused-entry GUID")
	ErrStartAfterEnd   = errors.New("gpt: partition starts after it ends")
	ErrOutsideUsable   = errors.New("gpt: partition outside the usable LBA range")
	ErrOverlap         = errors.New("gpt: partitions overlap")
	ErrLabelTooLong    = errors.New("gpt: partition name longer than 36 UTF-16 code units")
	ErrLayout          = errors.New("gpt: table layout does not fit the disk")
	ErrCopyInvalid     = errors.New("gpt: that copy of the table is not valid")
)

// HeaderError describes a check that one copy of the GPT header failed: which
// copy, where it was read, which field and what it held. It unwraps to one of
// the sentinel errors above.
type HeaderError struct {
	Copy   Source // Primary or Backup
	LBA    uint64 // where the header was read (logical sectors)
	Field  string // UEFI name of the offending field, e.g. "HeaderCRC32"
	Value  uint64 // the value found in that field
	Detail string // what was expected, when there is something to say
	Err    error  // the sentinel
}

func (e *HeaderError) Error() string {
	s := fmt.Sprintf("%v: %s header at LBA %d: %s = %#x", e.Err, e.Copy, e.LBA, e.Field, e.Value)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *HeaderError) Unwrap() error { return e.Err }

// ReadError is returned by [Read] when neither copy of the table is usable.
// It keeps both reasons; errors.Is and errors.As see through to each.
type ReadError struct {
	Primary error // why the primary copy (LBA 1) was rejected
	Backup  error // why the backup copy was rejected
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("gpt: no valid copy: primary: %v; backup: %v", e.Primary, e.Backup)
}

// Unwrap returns both errors.
func (e *ReadError) Unwrap() []error { return []error{e.Primary, e.Backup} }

// PartitionError describes an edit refused because of a partition entry.
type PartitionError struct {
	Number int    // 1-based entry index of the partition being edited
	Other  int    // 1-based index of the partition it collides with, 0 if none
	First  uint64 // proposed first LBA
	Last   uint64 // proposed last LBA
	Err    error  // the sentinel
}

func (e *PartitionError) Error() string {
	s := fmt.Sprintf("%v: partition %d (LBA %d-%d)", e.Err, e.Number, e.First, e.Last)
	if e.Other != 0 {
		s += fmt.Sprintf(" and partition %d", e.Other)
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *PartitionError) Unwrap() error { return e.Err }
