package winrepart

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/winrepart/winrepart/internal/journal"
)

// Errors of the journal, as importers see them. Each is the value the
// journal itself returns, so errors.Is works on whatever Apply, Recover and
// PendingJournal return.
var (
	// ErrJournalCorrupt means the journal file is damaged in a way that
	// leaves its state unknown (a torn or altered record that is not the
	// last one): nothing is written to the device.
	ErrJournalCorrupt = journal.ErrCorrupt
	// ErrJournalVersion means the journal was written by a newer format.
	ErrJournalVersion = journal.ErrVersion
	// ErrJournalMismatch means the journal does not describe this device
	// (size, sector size, or bytes its progress log does not allow).
	ErrJournalMismatch = journal.ErrJournalMismatch
	// ErrJournalBusy means another process holds the journal file.
	ErrJournalBusy = journal.ErrBusy
	// ErrJournalOnDevice means the journal file lies on the device it
	// would change.
	ErrJournalOnDevice = journal.ErrSameDevice
	// ErrIrreversible means a roll back was asked for after a data copy
	// that overwrites its own source began; only a roll forward can finish.
	ErrIrreversible = journal.ErrIrreversible
	// ErrRolledBack means a roll forward was asked for after a roll back
	// began; only the roll back can finish.
	ErrRolledBack = journal.ErrRolledBack
	// ErrUnproven means the disk's bytes do not prove which side of a data
	// copy the crash left them on; nothing is written.
	ErrUnproven = journal.ErrUnproven
)

// RecoverMode says which way Recover goes.
type RecoverMode int

// Recovery modes.
const (
	// RecoverAuto rolls back when nothing irreversible began (a data copy
	// whose source and destination overlap), else rolls forward.
	RecoverAuto RecoverMode = iota
	// RecoverForward finishes the change.
	RecoverForward
	// RecoverBack undoes the change, when that is still possible.
	RecoverBack
)

// String returns "auto", "forward" or "back".
func (m RecoverMode) String() string {
	switch m {
	case RecoverAuto:
		return "auto"
	case RecoverForward:
		return "forward"
	case RecoverBack:
		return "back"
	}
	return fmt.Sprintf("RecoverMode(%d)", int(m))
}

func (m RecoverMode) journal() (journal.Mode, error) {
	switch m {
	case RecoverAuto:
		return journal.Auto, nil
	case RecoverForward:
		return journal.RollForward, nil
	case RecoverBack:
		return journal.RollBack, nil
	}
	return 0, fmt.Errorf("winrepart: unknown recovery mode %d", int(m))
}

// RecoverAction is what Recover did.
type RecoverAction int

// Recovery actions.
const (
	// RolledForward: the change was finished.
	RolledForward RecoverAction = iota + 1
	// RolledBack: the change was undone.
	RolledBack
	// AlreadyComplete: the journal was complete; nothing was written.
	AlreadyComplete
	// AlreadyRolledBack: the journal was rolled back; nothing was written.
	AlreadyRolledBack
)

// String returns "rolled forward", "rolled back", "already complete" or
// "already rolled back".
func (a RecoverAction) String() string {
	switch a {
	case RolledForward:
		return "rolled forward"
	case RolledBack:
		return "rolled back"
	case AlreadyComplete:
		return "already complete"
	case AlreadyRolledBack:
		return "already rolled back"
	}
	return fmt.Sprintf("RecoverAction(%d)", int(a))
}

// Changed reports whether the action wrote to the device.
func (a RecoverAction) Changed() bool { return a == RolledForward || a == RolledBack }

// RecoverOptions tune Recover. The zero value recovers in RecoverAuto mode
// and removes the journal once the disk is in its final state.
type RecoverOptions struct {
	// Mode says which way to go.
	Mode RecoverMode
	// Progress, when set, is called as the work advances.
	Progress func(Progress)
	// Logger, when set, receives a structured record per step.
	Logger *slog.Logger
	// KeepJournal keeps the journal file once the disk is in its old or
	// new state. By default it is removed then, so that a later check for
	// a pending journal finds nothing; it is always kept when some of its
	// regions hold foreign bytes (see [RecoverResult.ForeignRegions]).
	KeepJournal bool
}

// RecoverResult reports what Recover found and did.
type RecoverResult struct {
	Action RecoverAction
	// State is where the journal stood before recovering, as
	// [JournalStatus.State] words it (e.g. "9 of 34 ops done, ...").
	State string
	// Ops is the number of journaled operations; Done how many were
	// durably done before recovering.
	Ops, Done int
	// ForeignRegions counts, for a journal that was already complete or
	// rolled back, the regions it alone writes that do not hold what its
	// state says they must (the new bytes after a complete change, the
	// old ones after a roll back): the journal may belong to another disk
	// (a twin of the same size, say), or the disk changed since. Such a
	// journal is kept.
	ForeignRegions int
	// JournalRemoved is true when Recover removed the journal file.
	JournalRemoved bool
	// Warnings are things that went wrong without undoing the recovery
	// (e.g. the journal could not be removed).
	Warnings []string
}

// Recover brings dev to exactly the old or the new state after Apply was
// interrupted (a crash, a power cut, a cancelled context), from the journal
// Apply wrote. It refuses a journal that does not match dev, writes nothing
// when the journal is already complete or rolled back, and can itself be
// interrupted and run again. Once the disk is in a final state the journal
// is removed, unless opts.KeepJournal says otherwise or its regions hold
// foreign bytes.
func Recover(ctx context.Context, dev Device, journalPath string, opts RecoverOptions) (*RecoverResult, error) {
	if w, ok := dev.(writable); ok && !w.Writable() {
		return nil, fmt.Errorf("%w: Recover needs a device opened for writing", ErrReadOnly)
	}
	if journalPath == "" {
		return nil, ErrJournalPath
	}
	mode, err := opts.Mode.journal()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(journalPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoJournal, journalPath)
	}
	jr, err := journal.Recover(ctx, dev, journalPath, mode, journal.RunOptions{Progress: progressFunc(opts.Progress), Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	res := &RecoverResult{
		Action: actionOf(jr.Action), State: jr.Before.String(),
		Ops: jr.Before.Ops, Done: jr.Before.Done,
	}
	// A finished journal writes nothing, so check that it is this disk's:
	// after a complete change every region it alone writes holds its new
	// bytes (a write that changes nothing reads as new); after a roll
	// back, its old ones (or the new ones of such a write).
	for _, r := range jr.Before.Regions {
		if !r.Checked {
			continue
		}
		switch {
		case res.Action == AlreadyComplete && r.Content != journal.ContentNew,
			res.Action == AlreadyRolledBack && r.Content != journal.ContentOld && r.Content != journal.ContentNew:
			res.ForeignRegions++
		}
	}
	if s, ok := dev.(Syncer); ok {
		if err := s.Sync(); err != nil {
			return res, err
		}
	}
	if r, ok := dev.(PartitionRereader); ok {
		if err := r.RereadPartitions(); err != nil {
			// The table on disk is right either way; only the kernel's
			// view of it is stale.
			res.Warnings = append(res.Warnings, fmt.Sprintf("the kernel could not re-read the partition table: %v", err))
		}
	}
	switch {
	case res.ForeignRegions > 0:
		want := "new"
		if res.Action == AlreadyRolledBack {
			want = "old"
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("the journal is %s, but %d of its regions do not hold its %s bytes: it may belong to another disk, or the disk changed since; the journal is kept", res.Action, res.ForeignRegions, want))
	case !opts.KeepJournal:
		if err := os.Remove(journalPath); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("removing the journal: %v", err))
		} else {
			res.JournalRemoved = true
		}
	}
	if opts.Logger != nil {
		opts.Logger.Info("recovered", "action", res.Action.String(), "journal", journalPath, "removed", res.JournalRemoved)
	}
	return res, nil
}

// actionOf maps the journal's action to the public one.
func actionOf(a journal.Action) RecoverAction {
	switch a {
	case journal.RolledForward:
		return RolledForward
	case journal.RolledBack:
		return RolledBack
	case journal.AlreadyComplete:
		return AlreadyComplete
	case journal.AlreadyRolledBack:
		return AlreadyRolledBack
	}
	return 0
}
