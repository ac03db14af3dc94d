package journal

import (
	"errors"
	"fmt"
	"slices"

	"github.com/winrepart/winrepart/diag"
)

// Op is one step of a journaled change: a [Write], a [Copy] or a
// [Barrier]. The set is closed.
type Op interface {
	isOp()
	// Describe returns the op's What text.
	Describe() string
}

// Write replaces the bytes at Offset (on the device) with New, at most
// [MaxWriteBytes] of them; What describes them ("primary GPT header"). It
// is meant for metadata (partition table pieces, boot sectors, bitmaps,
// MFT records): the journal stores both the old and the new bytes, so
// every Write can be undone and redone. It is a [diag.Write], so what a
// codec returns converts to an op with Write(w) once its Offset is made
// relative to the device. Create reads the old bytes from the device
// itself and ignores Old; Ops returns Writes without it.
type Write diag.Write

// Extent is a byte range relative to the start of a [Copy]'s source.
type Extent struct {
	Offset int64 // bytes from Copy.Src
	Length int64 // bytes
}

// Copy moves Length bytes from byte offset Src to byte offset Dst on the
// same device. The ranges may overlap. All three values must be multiples
// of the device's sector size. When Extents is not nil only those parts of
// the source are copied (the clusters a filesystem bitmap marks used, say);
// the other destination bytes keep what they held.
type Copy struct {
	Src, Dst, Length int64
	Extents          []Extent
	What             string
}

// Barrier flushes the device (Sync) before the next op starts.
type Barrier struct {
	What string
}

func (Write) isOp()   {}
func (Copy) isOp()    {}
func (Barrier) isOp() {}

// Describe returns w.What.
func (w Write) Describe() string { return w.What }

// Describe returns c.What.
func (c Copy) Describe() string { return c.What }

// Describe returns b.What.
func (b Barrier) Describe() string { return b.What }

// Limits on what a journal may hold. They bound the memory used when a
// journal file, which is untrusted input, is read back.
const (
	// MaxWriteBytes is the largest [Write].
	MaxWriteBytes = 64 << 20
	// MaxDataBytes bounds the old and new bytes of all Writes together.
	MaxDataBytes = 512 << 20
	// MaxOps bounds the number of ops.
	MaxOps = 1 << 16
	// MaxExtents bounds the number of extents of one [Copy].
	MaxExtents = 1 << 20
	// MaxChunkBytes bounds the copy chunk size.
	MaxChunkBytes = 64 << 20
	// DefaultChunkBytes is the copy chunk size used when none is given.
	DefaultChunkBytes = 4 << 20
	// DefaultSyncEveryBytes is how much a copy moves between progress
	// records when [RunOptions.SyncEveryBytes] is zero: each record waits
	// for a device sync. 256 MiB keeps a WinRE move to a few syncs (about
	// 10 % faster than 64 MiB on a 706 MiB move when the copy stops for
	// each) and bounds what a resumed copy redoes; overlapping copies use
	// at most the distance moved, or half of it when pipelined (see
	// [blockdev.ConcurrentSyncer]).
	DefaultSyncEveryBytes = 256 << 20
	maxHeaderBytes        = 64 << 20
	maxWhatBytes          = 4096
	maxSummaryBytes       = 1 << 20
	maxMetaBytes          = 16 << 20
)

// Sentinel errors. Errors returned by this package wrap one of them, often
// inside one of the structured error types below.
var (
	// ErrInvalidOp reports an op that cannot be journaled: outside the
	// device, empty, misaligned or too large.
	ErrInvalidOp = errors.New("journal: invalid operation")
	// ErrSameDevice reports a journal path on the device being changed.
	ErrSameDevice = errors.New("journal: journal file is on the device being changed")
	// ErrCorrupt reports a journal file that cannot be read back.
	ErrCorrupt = errors.New("journal: corrupt journal file")
	// ErrVersion reports a journal file of an unknown format version.
	ErrVersion = errors.New("journal: unsupported journal version")
	// ErrJournalMismatch reports a journal that does not describe the
	// device: another size or sector size, or a region that holds neither
	// its old nor its new bytes.
	ErrJournalMismatch = errors.New("journal: journal does not match the device")
	// ErrIrreversible reports a roll back asked for after a step that
	// cannot be undone began.
	ErrIrreversible = errors.New("journal: cannot roll back")
	// ErrBusy reports a journal file another process (or another Journal
	// value) is running or recovering.
	ErrBusy = errors.New("journal: journal file is in use")
	// ErrRolledBack reports an attempt to run a journal that was rolled
	// back, or whose roll back began.
	ErrRolledBack = errors.New("journal: journal was rolled back")
)

// OpError reports a problem with one op: an invalid op at [Create], or a
// device error while running it.
type OpError struct {
	Op   int    // 0-based index in the op list
	What string // the op's description
	Err  error  // the cause
}

// Error implements error.
func (e *OpError) Error() string {
	return fmt.Sprintf("journal: op %d (%s): %v", e.Op, e.What, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// CorruptError says where a journal file is broken. It unwraps to
// [ErrCorrupt] or [ErrVersion].
type CorruptError struct {
	Offset int64  // byte offset in the journal file, -1 when not applicable
	Field  string // what was being read
	Reason string
	Err    error // ErrCorrupt or ErrVersion
}

// Error implements error.
func (e *CorruptError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%v: %s at byte %d: %s", e.Err, e.Field, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Reason)
}

// Unwrap returns Err.
func (e *CorruptError) Unwrap() error { return e.Err }

// MismatchError says how a journal fails to match a device. It unwraps to
// [ErrJournalMismatch].
type MismatchError struct {
	Field string // "size", "sector size" or "region"
	Op    int    // the op whose region differs; -1 for size fields
	What  string
	Want  string // what the journal expects
	Got   string // what the device holds
}

// Error implements error.
func (e *MismatchError) Error() string {
	if e.Op >= 0 {
		return fmt.Sprintf("%v: op %d (%s) %s: want %s, device has %s", ErrJournalMismatch, e.Op, e.What, e.Field, e.Want, e.Got)
	}
	return fmt.Sprintf("%v: %s: journal has %s, device has %s", ErrJournalMismatch, e.Field, e.Want, e.Got)
}

// Unwrap returns [ErrJournalMismatch].
func (e *MismatchError) Unwrap() error { return ErrJournalMismatch }

// IrreversibleError explains why a roll back is impossible. It unwraps to
// [ErrIrreversible].
type IrreversibleError struct {
	Op     int // the op that cannot be undone
	What   string
	Reason string
}

// Error implements error.
func (e *IrreversibleError) Error() string {
	return fmt.Sprintf("%v: op %d (%s) %s", ErrIrreversible, e.Op, e.What, e.Reason)
}

// Unwrap returns [ErrIrreversible].
func (e *IrreversibleError) Unwrap() error { return ErrIrreversible }

// normExtents checks extents against a copy of length bytes and returns
// them sorted with overlapping or touching ones merged. Nil means the whole
// range.
func normExtents(ext []Extent, length int64) ([]Extent, error) {
	if ext == nil {
		return []Extent{{0, length}}, nil
	}
	if len(ext) > MaxExtents {
		return nil, fmt.Errorf("%d extents, more than %d", len(ext), MaxExtents)
	}
	s := slices.Clone(ext)
	for _, e := range s {
		if e.Offset < 0 || e.Length <= 0 || e.Length > length-e.Offset {
			return nil, fmt.Errorf("extent %d+%d outside the %d-byte copy", e.Offset, e.Length, length)
		}
	}
	slices.SortFunc(s, func(a, b Extent) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, e := range s {
		if n := len(out); n > 0 && e.Offset <= out[n-1].Offset+out[n-1].Length {
			out[n-1].Length = max(out[n-1].Length, e.Offset+e.Length-out[n-1].Offset)
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
