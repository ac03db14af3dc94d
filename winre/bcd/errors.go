package bcd

import (
	"errors"
	"fmt"
)

// Sentinel errors. The structured errors of this package unwrap to one of
// them, so callers can branch with errors.Is.
var (
	// ErrNotHive reports data that does not start with a registry hive base
	// block ("regf").
	ErrNotHive = errors.New("bcd: not a registry hive")
	// ErrDirty reports a hive whose two base-block sequence numbers differ:
	// Windows did not finish writing it, and would replay BCD.LOG1/BCD.LOG2
	// over it at the next load, so a patch of the primary file could be
	// lost or mixed with older data.
	ErrDirty = errors.New("bcd: hive is dirty (sequence numbers differ; Windows would replay its BCD.LOG files)")
	// ErrChecksum reports a base block whose checksum at 0x1FC is wrong.
	ErrChecksum = errors.New("bcd: hive base block checksum mismatch")
	// ErrUnsupported reports a hive this reader does not handle (a version,
	// file type or format other than a primary hive file of version 1.x).
	ErrUnsupported = errors.New("bcd: unsupported hive version or type")
	// ErrCorrupt reports a hive whose structure is inconsistent: a cell
	// outside the hive bins, a free cell referenced as data, a record with
	// the wrong signature, a length past its cell.
	ErrCorrupt = errors.New("bcd: corrupt hive")
	// ErrTooLarge reports a hive, list or value larger than this package is
	// willing to hold in memory.
	ErrTooLarge = errors.New("bcd: hive or value too large")
	// ErrNotFound reports a key, value, object or element that is absent.
	ErrNotFound = errors.New("bcd: not found")
	// ErrNotBCD reports a hive that has no Objects key: a registry hive,
	// but not a BCD store.
	ErrNotBCD = errors.New("bcd: hive is not a BCD store")
	// ErrElement reports an element whose data does not decode as its type
	// says (a device shorter than its header, a GUID list with a bad GUID).
	ErrElement = errors.New("bcd: malformed element")
	// ErrPatch reports that the WinRE entries cannot be patched as asked:
	// they name another partition or disk, or none of them names a
	// partition by its offset.
	ErrPatch = errors.New("bcd: WinRE entries cannot be patched")
)

// CorruptError says where a hive's structure broke. It unwraps to
// [ErrCorrupt] (or another sentinel given as Err).
type CorruptError struct {
	// Offset is the file offset of the structure that failed.
	Offset int64
	// What names the structure ("hbin", "nk cell", "value list", ...).
	What string
	// Detail says what was wrong.
	Detail string
	// Err is the sentinel; ErrCorrupt when nil.
	Err error
}

// Error returns the structure, its offset and the reason.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s at file offset %d: %s", e.Unwrap(), e.What, e.Offset, e.Detail)
}

// Unwrap returns the sentinel.
func (e *CorruptError) Unwrap() error {
	if e.Err == nil {
		return ErrCorrupt
	}
	return e.Err
}

// DirtyError reports a hive whose sequence numbers differ. It unwraps to
// [ErrDirty].
type DirtyError struct {
	// Primary and Secondary are the sequence numbers at base-block offsets
	// 4 and 8.
	Primary, Secondary uint32
}

// Error returns both sequence numbers.
func (e *DirtyError) Error() string {
	return fmt.Sprintf("%v: primary %d, secondary %d", ErrDirty, e.Primary, e.Secondary)
}

// Unwrap returns [ErrDirty].
func (e *DirtyError) Unwrap() error { return ErrDirty }
