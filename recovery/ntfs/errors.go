package ntfs

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every structured error returned by this package unwraps
// to one of these, so callers can branch with errors.Is.
var (
	// ErrNotNTFS means the boot sector does not carry the "NTFS    " OEM id.
	ErrNotNTFS = errors.New("ntfs: not an NTFS volume")
	// ErrBitLocker means the volume is BitLocker-encrypted ("-FVE-FS-" OEM id).
	ErrBitLocker = errors.New("ntfs: BitLocker-encrypted volume")
	// ErrBitLockerToGo means the volume is a BitLocker To Go volume: a FAT
	// look-alike ("MSWIN4.1") carrying the BitLocker identifier GUID.
	ErrBitLockerToGo = errors.New("ntfs: BitLocker To Go volume")
	// ErrShortBuffer means fewer bytes were given than the structure needs.
	ErrShortBuffer = errors.New("ntfs: buffer too short")
	// ErrBadBootSector means an NTFS boot sector field holds an impossible value.
	ErrBadBootSector = errors.New("ntfs: invalid boot sector field")
	// ErrGeometry means the boot sector does not fit the partition it was
	// read from (volume larger than the partition, MFT outside the volume).
	ErrGeometry = errors.New("ntfs: volume geometry does not fit the partition")
	// ErrBadRecord means an MFT record header is malformed.
	ErrBadRecord = errors.New("ntfs: malformed MFT record")
	// ErrBadFixup means the update sequence array of a multi-sector
	// protected structure does not match: a torn write or corruption.
	ErrBadFixup = errors.New("ntfs: update sequence mismatch")
	// ErrBadAttribute means an attribute header or value is malformed.
	ErrBadAttribute = errors.New("ntfs: malformed attribute")
	// ErrBadRunlist means a mapping-pairs array (runlist) is malformed.
	ErrBadRunlist = errors.New("ntfs: malformed runlist")
	// ErrBadIndex means a directory index ($I30) is malformed or loops.
	ErrBadIndex = errors.New("ntfs: malformed directory index")
	// ErrBadLogFile means the $LogFile restart area is malformed.
	ErrBadLogFile = errors.New("ntfs: malformed $LogFile restart area")
	// ErrNoAttribute means a record lacks an attribute the operation needs.
	ErrNoAttribute = errors.New("ntfs: attribute not found")
	// ErrNotFound means a path does not name an existing file.
	ErrNotFound = errors.New("ntfs: file not found")
	// ErrNotDirectory means a path component that must be a directory is not.
	ErrNotDirectory = errors.New("ntfs: not a directory")
	// ErrTooLarge means a file is larger than the limit the caller gave.
	ErrTooLarge = errors.New("ntfs: file larger than the limit")
	// ErrUnsupported means the data is stored in a way this package does
	// not decode (compressed or encrypted attributes).
	ErrUnsupported = errors.New("ntfs: unsupported attribute encoding")
	// ErrOutOfRange means a cluster range lies outside the volume.
	ErrOutOfRange = errors.New("ntfs: cluster range outside the volume")
)

// FieldError reports a boot sector field with an invalid value.
type FieldError struct {
	Field  string // spec name of the field, e.g. "BytesPerSector"
	Offset int    // byte offset of the field in the boot sector
	Value  uint64 // raw value found
	Err    error  // ErrNotNTFS or ErrBadBootSector
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s (offset %#x) = %#x", e.Err, e.Field, e.Offset, e.Value)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// GeometryError reports a boot sector that does not fit its partition.
type GeometryError struct {
	Field string // what does not fit, e.g. "TotalSectors", "MFTLCN"
	Value int64  // its value, in the unit of the field
	Limit int64  // the largest acceptable value
}

func (e *GeometryError) Error() string {
	return fmt.Sprintf("%v: %s = %d, limit %d", ErrGeometry, e.Field, e.Value, e.Limit)
}

// Unwrap returns ErrGeometry.
func (e *GeometryError) Unwrap() error { return ErrGeometry }

// RecordError reports a problem inside one MFT record (or, with Record set
// to NoRecord, inside a structure that is not tied to one).
type RecordError struct {
	Record uint64 // MFT record number, or NoRecord
	Offset int    // byte offset inside the record (or structure) of the problem
	Err    error  // sentinel or a more specific error wrapping one
}

// NoRecord is the RecordError.Record value for structures parsed without
// knowing which MFT record they came from.
const NoRecord = ^uint64(0)

func (e *RecordError) Error() string {
	rec := "record ?"
	if e.Record != NoRecord {
		rec = "record " + strconv.FormatUint(e.Record, 10)
	}
	return fmt.Sprintf("%s offset %#x: %v", rec, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// IndexError reports a problem in a directory index: the $INDEX_ROOT (VCN
// -1) or one $INDEX_ALLOCATION block.
type IndexError struct {
	Record uint64 // MFT record of the directory
	VCN    int64  // index block VCN, -1 for the index root
	Offset int    // byte offset inside the block
	Err    error  // ErrBadIndex, ErrBadFixup or ErrBadRunlist
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("directory record %d index VCN %d offset %#x: %v", e.Record, e.VCN, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *IndexError) Unwrap() error { return e.Err }

// PathError reports a failed path lookup.
type PathError struct {
	Path      string // the path asked for
	Component string // the component that failed
	Err       error  // ErrNotFound, ErrNotDirectory, or a structural error
}

func (e *PathError) Error() string {
	return fmt.Sprintf("%q (at %q): %v", e.Path, e.Component, e.Err)
}

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }

// detail wraps a sentinel with a human explanation while keeping
// errors.Is working; used as the Err of structured errors.
type detail struct {
	err error
	msg string
}

func (d *detail) Error() string { return d.err.Error() + ": " + d.msg }
func (d *detail) Unwrap() error { return d.err }

func errf(sentinel error, format string, args ...any) error {
	return &detail{err: sentinel, msg: fmt.Sprintf(format, args...)}
}
