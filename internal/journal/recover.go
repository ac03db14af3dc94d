package journal

import (
	"context"
	"fmt"
)

// Mode tells [Recover] which way to go.
type Mode int

// Recovery modes.
const (
	// Auto rolls back when no irreversible step began, else forward.
	Auto Mode = iota
	// RollForward finishes the change.
	RollForward
	// RollBack undoes the change; it fails with an [*IrreversibleError]
	// once an irreversible step began.
	RollBack
)

// String returns "auto", "roll-forward" or "roll-back".
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case RollForward:
		return "roll-forward"
	case RollBack:
		return "roll-back"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Action is what [Recover] did.
type Action int

// Recovery actions.
const (
	RolledForward     Action = iota + 1 // finished the change
	RolledBack                          // undid the change
	AlreadyComplete                     // the journal was complete; nothing written
	AlreadyRolledBack                   // the journal was rolled back; nothing written
)

// String names the action.
func (a Action) String() string {
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
	return fmt.Sprintf("Action(%d)", int(a))
}

// Result reports what [Recover] found and did.
type Result struct {
	Action Action
	Before State // the state found before recovering
}

// Recover brings dev back to exactly the old or the new state after a
// crash or a cancelled run, using the journal at path. It refuses (with a
// [*MismatchError]) a journal that does not match dev.
//
// Recover is idempotent: on a complete or rolled back journal it writes
// nothing and reports [AlreadyComplete] or [AlreadyRolledBack]; when it is
// interrupted itself, running it again finishes the job. A roll back first
// records that it began, after which only roll back is possible (Auto
// continues it; RollForward fails with [ErrRolledBack]).
//
// A roll back restores the old bytes of every Write that began, in reverse
// order. A Copy whose source and destination overlap cannot be undone once
// it began, because its first chunks may overwrite source data; Auto then
// rolls forward and RollBack fails with an [*IrreversibleError]. A Copy
// that does not overlap its source can be rolled back, but its destination
// is left as it is: it is space the old layout does not use. When a later
// Copy overwrites its source (data moved out of a partition's tail before
// WinRE's copy fills it), the disk, not the log, decides: once that source
// is gone, roll back is refused and Auto rolls forward.
func Recover(ctx context.Context, dev Device, path string, mode Mode, opts RunOptions) (Result, error) {
	j, err := Open(path)
	if err != nil {
		return Result{}, err
	}
	st, err := j.State(dev)
	if err != nil {
		return Result{}, err
	}
	res := Result{Before: st}
	switch {
	case st.Complete:
		res.Action = AlreadyComplete
		return res, nil
	case st.RolledBack:
		res.Action = AlreadyRolledBack
		return res, nil
	}
	if mode == Auto {
		switch {
		case st.RollingBack:
			mode = RollBack
		case st.IrreversibleOp >= 0:
			mode = RollForward
		default:
			// The log says nothing irreversible began; the disk must
			// agree before a roll back may leave a copy's source as the
			// old state (see proof.go).
			ie, err := j.irreversibleOnDisk(dev)
			if err != nil {
				return res, err
			}
			mode = RollBack
			if ie != nil {
				mode = RollForward
			}
		}
	}
	switch mode {
	case RollForward:
		if st.RollingBack {
			return res, fmt.Errorf("%w: a roll back already began; finish it with %v", ErrRolledBack, RollBack)
		}
		if err := j.run(ctx, dev, opts, true); err != nil {
			return res, err
		}
		res.Action = RolledForward
	case RollBack:
		if err := j.rollBack(dev, opts); err != nil {
			return res, err
		}
		res.Action = RolledBack
	default:
		return res, fmt.Errorf("journal: unknown recovery mode %v", mode)
	}
	return res, nil
}

// rollBack undoes every Write that began, newest first.
func (j *Journal) rollBack(dev Device, opts RunOptions) error {
	if i := j.log.irrevOp; i >= 0 {
		return &IrreversibleError{Op: i, What: j.ops[i].what,
			Reason: "is a copy whose destination overlaps its source; it began, so source data may already be overwritten"}
	}
	if ie, err := j.irreversibleOnDisk(dev); err != nil || ie != nil {
		if err == nil {
			err = ie
		}
		return err
	}
	f, err := j.openRW()
	if err != nil {
		return err
	}
	defer closeRW(f)
	r := j.newRunner(dev, f, opts)
	if !j.log.rollingBack {
		if err := j.appendRecords(f, record{kind: recRollbackBegin}); err != nil {
			return err
		}
	}
	r.log.Info("journal roll back", "ops", j.log.lastStarted+1)
	for i := j.log.lastStarted; i >= 0; i-- {
		o := &j.ops[i]
		if o.kind != kindWrite {
			continue
		}
		j.wrote = true
		if _, err := dev.WriteAt(o.oldB, o.off); err != nil {
			return &OpError{Op: i, What: o.what, Err: fmt.Errorf("restoring old bytes: %w", err)}
		}
	}
	if err := r.sync(); err != nil {
		return err
	}
	return j.appendRecords(f, record{kind: recRolledBack})
}

// irreversibleOnDisk returns an [*IrreversibleError] when the disk shows
// that the source of a guarded copy (see guardedCopies) was overwritten
// although the log may not say so: by the copy itself, or by a later copy
// whose start record was lost. A roll back
// would then leave that data destroyed. Copies that read what an earlier
// copy wrote are left out: their sources are only meant to hold their
// data once that copy ran, and it is judged itself.
func (j *Journal) irreversibleOnDisk(dev Device) (*IrreversibleError, error) {
	for i := range j.ops {
		o := &j.ops[i]
		if !o.guarded || j.dependsOn(i, 0) {
			continue
		}
		k, err := j.sourcesIntact(dev, i)
		if err != nil {
			return nil, err
		}
		if k >= 0 {
			why := "whose destination overlaps its source"
			if !o.overlapping() {
				why = "whose source a later copy overwrites"
			}
			return &IrreversibleError{Op: i, What: o.what,
				Reason: fmt.Sprintf("is a copy %s, and the source of its chunk %d is already overwritten on the disk", why, k)}, nil
		}
	}
	return nil, nil
}
