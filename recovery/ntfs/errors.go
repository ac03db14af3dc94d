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

// Errors of the write side. Refusals (a volume this package will not
// change) and invalid requests unwrap to one of these.
var (
	// ErrTailInUse means a shrink would cut off clusters in use (see
	// ShrinkError); moving data is not supported.
	ErrTailInUse = errors.New("ntfs: clusters past the new end are in use")
	// ErrDirty means the volume carries the dirty flag (chkdsk pending) and
	// ResizeOptions.AllowDirty was not set.
	ErrDirty = errors.New("ntfs: volume is marked dirty")
	// ErrHibernated means Windows hibernated (or Fast Startup left) the
	// volume: its state lives in hiberfil.sys and any change is lost or
	// corrupts it.
	ErrHibernated = errors.New("ntfs: volume is hibernated")
	// ErrLogFileNotClean means $LogFile holds transactions Windows must
	// replay first.
	ErrLogFileNotClean = errors.New("ntfs: $LogFile is not clean")
	// ErrVersion means the NTFS version is not 3.0 or 3.1 (see VersionError).
	ErrVersion = errors.New("ntfs: unsupported NTFS version")
	// ErrBadClusters means $BadClus records bad clusters (see BadClustersError).
	ErrBadClusters = errors.New("ntfs: bad clusters recorded in $BadClus")
	// ErrAccounting means the clusters the MFT records use disagree with
	// $Bitmap (see AccountingError).
	ErrAccounting = errors.New("ntfs: cluster accounting disagrees with $Bitmap")
	// ErrInconsistent means the boot sector and the MFT disagree on where
	// $MFT or $MFTMirr is: a resize would keep one and move the other.
	ErrInconsistent = errors.New("ntfs: the boot sector and the MFT disagree")
	// ErrBadSize means a requested size or position is impossible.
	ErrBadSize = errors.New("ntfs: invalid size")
	// ErrNoSpace means there are not enough free clusters or record bytes.
	ErrNoSpace = errors.New("ntfs: no space")
	// ErrBadWrite means a Write list is malformed (lengths, overlaps).
	ErrBadWrite = errors.New("ntfs: malformed write list")
	// ErrStale means the volume no longer holds a Write's Old bytes.
	ErrStale = errors.New("ntfs: volume changed since the writes were planned")
)

// ShrinkError reports a shrink refused because clusters past the new end
// are in use.
type ShrinkError struct {
	NewBytes      int64 // partition size asked for
	InUseClusters int64 // clusters in use at or past the new last cluster
	MinBytes      int64 // smallest partition size possible without moving data
}

func (e *ShrinkError) Error() string {
	return fmt.Sprintf("ntfs: cannot shrink to %d bytes: %d clusters in use past the new end; the minimum without moving data is %d bytes", e.NewBytes, e.InUseClusters, e.MinBytes)
}

// Unwrap returns ErrTailInUse.
func (e *ShrinkError) Unwrap() error { return ErrTailInUse }

// VersionError reports an NTFS version this package does not modify.
type VersionError struct {
	Major, Minor uint8
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("ntfs: NTFS version %d.%d, only 3.0 and 3.1 are supported", e.Major, e.Minor)
}

// Unwrap returns ErrVersion.
func (e *VersionError) Unwrap() error { return ErrVersion }

// BadClustersError reports clusters listed in $BadClus:$Bad.
type BadClustersError struct {
	Clusters int64 // clusters mapped by $Bad (bad clusters)
}

func (e *BadClustersError) Error() string {
	return fmt.Sprintf("ntfs: $BadClus lists %d bad clusters", e.Clusters)
}

// Unwrap returns ErrBadClusters.
func (e *BadClustersError) Unwrap() error { return ErrBadClusters }

// AccountingError reports a cluster used by an MFT record but free in
// $Bitmap, or used by two records.
type AccountingError struct {
	Record uint64   // MFT record whose runlist uses the cluster
	Type   AttrType // attribute of that record
	LCN    int64    // the cluster
	Other  uint64   // for a doubly used cluster, the first record using it; NoRecord otherwise
}

func (e *AccountingError) Error() string {
	if e.Other != NoRecord {
		return fmt.Sprintf("ntfs: cluster %d used by record %d (%v) and record %d", e.LCN, e.Record, e.Type, e.Other)
	}
	return fmt.Sprintf("ntfs: cluster %d used by record %d (%v) is free in $Bitmap", e.LCN, e.Record, e.Type)
}

// Unwrap returns ErrAccounting.
func (e *AccountingError) Unwrap() error { return ErrAccounting }
