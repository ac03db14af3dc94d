package fat

import (
	"errors"
	"fmt"
)

// Sentinel errors. The structured errors of this package unwrap to one of
// them, so callers can branch with errors.Is.
var (
	// ErrNotFAT reports a boot sector that is not a FAT boot sector: no
	// jump instruction or no 0x55AA signature.
	ErrNotFAT = errors.New("fat: not a FAT volume")
	// ErrGeometry reports a BIOS parameter block whose fields are out of
	// range or inconsistent with each other or with the volume's size.
	ErrGeometry = errors.New("fat: bad volume geometry")
	// ErrClusterRange reports a cluster number outside the data area: a
	// directory entry or FAT entry naming cluster 0, 1 or a cluster past
	// the last one.
	ErrClusterRange = errors.New("fat: cluster out of range")
	// ErrChainLoop reports a cluster chain that comes back to a cluster it
	// already went through.
	ErrChainLoop = errors.New("fat: loop in cluster chain")
	// ErrChainLength reports a cluster chain whose length does not fit the
	// file it belongs to: longer than the file's size allows, shorter than
	// it needs, or a directory larger than a FAT directory may be.
	ErrChainLength = errors.New("fat: cluster chain length does not match the file size")
	// ErrBadCluster reports a chain that runs into a free cluster or one
	// marked bad.
	ErrBadCluster = errors.New("fat: cluster chain reaches a free or bad cluster")
	// ErrNotFound reports a path component that is not in its directory.
	ErrNotFound = errors.New("fat: file not found")
	// ErrNotDir reports a path that goes through a file as if it were a
	// directory.
	ErrNotDir = errors.New("fat: not a directory")
	// ErrIsDir reports a directory read as a file.
	ErrIsDir = errors.New("fat: is a directory")
	// ErrTooLarge reports a file larger than the limit the caller gave.
	ErrTooLarge = errors.New("fat: file larger than the limit")
)

// GeometryError names the boot sector field that failed validation. It
// unwraps to [ErrGeometry] (or [ErrNotFAT] for the signature fields).
type GeometryError struct {
	// Field is the BPB field's name in the FAT specification
	// ("BPB_BytsPerSec", "BPB_SecPerClus", ...).
	Field string
	// Value is the value read.
	Value uint64
	// Detail says what was wrong.
	Detail string
	// Err is the sentinel; ErrGeometry when nil.
	Err error
}

// Error returns the field, its value and the reason.
func (e *GeometryError) Error() string {
	return fmt.Sprintf("%v: %s = %d: %s", e.Unwrap(), e.Field, e.Value, e.Detail)
}

// Unwrap returns the sentinel.
func (e *GeometryError) Unwrap() error {
	if e.Err == nil {
		return ErrGeometry
	}
	return e.Err
}

// ChainError reports a broken cluster chain. It unwraps to one of
// [ErrClusterRange], [ErrChainLoop], [ErrChainLength] or [ErrBadCluster].
type ChainError struct {
	// Start is the chain's first cluster; Cluster the cluster where it
	// broke (the one out of range, seen twice, free or bad, or past the
	// allowed length).
	Start, Cluster uint32
	// Index is Cluster's 0-based position in the chain.
	Index int
	// Err is the sentinel.
	Err error
}

// Error returns where the chain broke and why.
func (e *ChainError) Error() string {
	return fmt.Sprintf("%v: chain from cluster %d, cluster %d (link %d)", e.Err, e.Start, e.Cluster, e.Index)
}

// Unwrap returns the sentinel.
func (e *ChainError) Unwrap() error { return e.Err }

// PathError reports the path component that failed during a lookup. It
// unwraps to the cause ([ErrNotFound], [ErrNotDir], a [*ChainError], ...).
type PathError struct {
	// Path is the whole path looked up; Component the name that failed.
	Path, Component string
	// Err is the cause.
	Err error
}

// Error returns the path, the component and the cause.
func (e *PathError) Error() string {
	return fmt.Sprintf("%s (at %q): %v", e.Path, e.Component, e.Err)
}

// Unwrap returns the cause.
func (e *PathError) Unwrap() error { return e.Err }
