package winrepart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// Errors of the executor. Errors returned by Apply and Recover wrap one of
// these, or the error of the package that failed (journal, ntfs, planner).
var (
	// ErrRefused is returned for a refused plan: nothing is written. It is
	// the planner's [planner.ErrRefused], so one errors.Is test covers a
	// refusal from either package.
	ErrRefused = planner.ErrRefused
	// ErrChanged means the disk no longer matches the plan's preconditions
	// (it changed since it was planned): nothing is written.
	ErrChanged = errors.New("winrepart: the disk changed since it was planned")
	// ErrNotWritable is [ErrReadOnly], kept under its old name: Apply and
	// Recover return it for a device opened read-only.
	//
	// Deprecated: test for ErrReadOnly.
	ErrNotWritable = ErrReadOnly
	// ErrUnsupportedStep means the plan holds a step this executor cannot
	// carry out (e.g. patching the BCD of an MBR disk): nothing is written.
	ErrUnsupportedStep = errors.New("winrepart: plan step not supported offline")
	// ErrReAgentPatch means ReAgent.xml cannot be patched in place (the new
	// offset has more digits than the file has room for): nothing is
	// written.
	ErrReAgentPatch = errors.New("winrepart: ReAgent.xml cannot be patched in place")
	// ErrVerify means the disk, after the change, does not look like the
	// plan said it would. The journal is complete; the disk holds the
	// plan's bytes, so this points at a bug or a concurrent writer. It is
	// the planner's [planner.ErrVerify].
	ErrVerify = planner.ErrVerify
	// ErrJournalPath means no journal path was given.
	ErrJournalPath = errors.New("winrepart: a journal path is required")
	// ErrNoSync means the caller demanded a device that can flush its
	// writes ([ApplyOptions.RequireSync]) and this one cannot: nothing is
	// written.
	ErrNoSync = errors.New("winrepart: the device cannot flush its writes")
	// ErrInterrupted means Apply stopped after writing began (a device
	// error, a cancelled context): the journal is kept, and Recover with it
	// brings the disk to the old or the new state. Errors wrapping it are
	// [*InterruptedError]s naming the journal.
	ErrInterrupted = errors.New("winrepart: the change was interrupted")
)

// InterruptedError reports an Apply that stopped after writing began. It
// unwraps to both [ErrInterrupted] and the cause.
type InterruptedError struct {
	JournalPath string // the journal to recover with
	Err         error  // why it stopped
}

// Error implements error.
func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%v (the journal %s can recover the disk): %v", ErrInterrupted, e.JournalPath, e.Err)
}

// Unwrap returns ErrInterrupted and the cause.
func (e *InterruptedError) Unwrap() []error { return []error{ErrInterrupted, e.Err} }

// Progress reports how far Apply or Recover is.
type Progress struct {
	Step       string // what is being done now
	Op, Ops    int    // index of the current journal operation, and their number
	BytesDone  int64  // bytes written or copied so far
	BytesTotal int64  // bytes to write or copy in all
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// JournalPath is where the journal is written; required. It must not be
	// on the device being changed (for an image, beside the image is fine).
	// An existing file there is refused: recover or remove it first.
	JournalPath string
	// Progress, when set, is called as the work advances.
	Progress func(Progress)
	// Logger, when set, receives a structured record per step.
	Logger *slog.Logger
	// Inspect tunes the inspections before and after (the sizing policy
	// should match the one the plan was made with).
	Inspect recovery.Options
	// RequireSync refuses (with [ErrNoSync], writing nothing) a device that
	// cannot flush its writes. Without it such a device is used with a
	// warning in [ApplyResult.Warnings]: crash safety then rests on the
	// device writing in the order it was asked to.
	RequireSync bool
	// KeepClean leaves the NTFS dirty flag alone when resizing. By default
	// it is set, as ntfsresize does, so Windows checks both volumes with
	// chkdsk at the next boot.
	KeepClean bool
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	// Before and After are the disk as inspected before and after.
	Before, After *recovery.Layout
	// Ops is the number of journaled operations, BytesWritten the bytes of
	// metadata written and BytesCopied the bytes of data moved.
	Ops                       int
	BytesWritten, BytesCopied int64
	// Warnings are things that went wrong without undoing the change (e.g.
	// the kernel could not re-read the partition table of a busy device).
	Warnings []string
}

// writable is a Device whose WriteAt is known to work: Image and
// BlockDevice say so with Writable.
type writable interface{ Writable() bool }

// Apply carries out a plan on dev behind a journal: it inspects dev again
// and refuses (writing nothing) when the plan's preconditions no longer
// hold; computes every write the plan needs and stores them, with the bytes
// they replace, in a journal at opts.JournalPath, synced before the first
// write to dev; runs the journal; asks the kernel to re-read the table on
// block devices; and inspects the result and compares it with the plan.
//
// When Apply fails after writing began, or ctx is cancelled (Apply stops at
// a safe point), the journal is left behind: Recover with it brings the disk
// to exactly the old or the new state.
func Apply(ctx context.Context, dev Device, p *planner.Plan, opts ApplyOptions) (*ApplyResult, error) {
	if p == nil || p.Refused {
		return nil, ErrRefused
	}
	if w, ok := dev.(writable); ok && !w.Writable() {
		return nil, fmt.Errorf("%w: Apply needs a device opened for writing", ErrReadOnly)
	}
	if opts.JournalPath == "" {
		return nil, ErrJournalPath
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	before, err := recovery.Inspect(ctx, dev, opts.Inspect)
	if err != nil {
		return nil, fmt.Errorf("winrepart: inspecting before applying: %w", err)
	}
	log.Debug("inspected the disk", "partitions", len(before.Partitions))
	if err := p.Check(before); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChanged, err)
	}
	res := &ApplyResult{Before: before}
	if _, ok := dev.(Syncer); !ok {
		if opts.RequireSync {
			return nil, ErrNoSync
		}
		res.Warnings = append(res.Warnings, "the device cannot flush its writes (it has no Sync method): a power cut during the change may lose writes the journal counts as done")
		log.Warn("device cannot sync; crash safety depends on its own write ordering")
	}
	if len(p.Steps) == 0 {
		res.After = before
		return res, nil
	}
	ops, err := buildOps(dev, before, p, opts)
	if err != nil {
		return nil, err
	}
	log.Debug("planned the writes", "ops", len(ops))
	for _, o := range ops {
		switch o := o.(type) {
		case journal.Write:
			res.BytesWritten += int64(len(o.New))
		case journal.Copy:
			for _, e := range o.Extents {
				res.BytesCopied += e.Length
			}
		}
	}
	res.Ops = len(ops)
	meta, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	j, err := journal.Create(opts.JournalPath, dev, ops, journal.CreateOptions{Summary: p.String(), Meta: meta})
	if err != nil {
		return nil, fmt.Errorf("winrepart: creating the journal: %w", err)
	}
	log.Info("journal written", "path", opts.JournalPath, "ops", len(ops), "metadataBytes", res.BytesWritten, "copyBytes", res.BytesCopied)
	if err := j.Run(ctx, dev, journal.RunOptions{Progress: progressFunc(opts.Progress), Logger: opts.Logger}); err != nil {
		if !j.Wrote() && errors.Is(err, journal.ErrJournalMismatch) {
			// The disk changed between the journal's snapshot of it and
			// the run, which wrote nothing: the journal describes nothing
			// to recover, so it goes.
			if rerr := os.Remove(opts.JournalPath); rerr != nil {
				log.Warn("removing the unused journal", "err", rerr)
			}
			return nil, fmt.Errorf("%w (nothing was written): %w", ErrChanged, err)
		}
		if !j.Wrote() && ctx.Err() != nil {
			// Cancelled before the first device write: nothing to recover.
			if rerr := os.Remove(opts.JournalPath); rerr != nil {
				log.Warn("removing the unused journal", "err", rerr)
			}
			return nil, fmt.Errorf("winrepart: cancelled before the first write (nothing was written): %w", err)
		}
		return res, &InterruptedError{JournalPath: opts.JournalPath, Err: err}
	}
	if s, ok := dev.(Syncer); ok {
		if err := s.Sync(); err != nil {
			return res, fmt.Errorf("winrepart: flushing: %w", err)
		}
	}
	if r, ok := dev.(PartitionRereader); ok {
		if err := r.RereadPartitions(); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the kernel did not re-read the partition table (%v); it will at the next boot or after partprobe", err))
		}
	}
	log.Debug("journal run complete and flushed")
	after, err := recovery.Inspect(ctx, dev, opts.Inspect)
	if err != nil {
		return res, fmt.Errorf("%w: inspecting after applying: %w", ErrVerify, err)
	}
	res.After = after
	if err := p.Verify(after); err != nil {
		return res, err
	}
	log.Info("applied and verified", "summary", p.Summary)
	return res, nil
}

// Verify is [planner.Plan.Verify]: it compares a disk inspected after
// applying p with what p said it would become.
func Verify(p *planner.Plan, after *recovery.Layout) error { return p.Verify(after) }

func progressFunc(f func(Progress)) func(journal.Progress) {
	if f == nil {
		return nil
	}
	return func(p journal.Progress) {
		f(Progress{Step: p.What, Op: p.Op, Ops: p.Ops, BytesDone: p.BytesDone, BytesTotal: p.BytesTotal})
	}
}

// section is the part of r from off, n bytes long.
func section(r io.ReaderAt, off, n int64) *io.SectionReader { return io.NewSectionReader(r, off, n) }
