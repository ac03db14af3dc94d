package planner

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrRefused is returned when a refused plan is checked for applying.
	ErrRefused = errors.New("planner: plan was refused")
	// ErrPrecondition reports a fact that changed since the plan was made.
	ErrPrecondition = errors.New("planner: precondition no longer holds")
	// ErrVerify reports a disk that, after the plan was applied, does not
	// look like the plan said it would ([Plan.Verify]).
	ErrVerify = errors.New("planner: the result does not match the plan")
)

// PreconditionError says which precondition no longer holds and what was
// found instead. It unwraps to ErrPrecondition.
type PreconditionError struct {
	Want  Precondition
	Found string
}

func (e *PreconditionError) Error() string {
	where := ""
	if e.Want.Partition != 0 {
		where = fmt.Sprintf(" of partition %d", e.Want.Partition)
	}
	return fmt.Sprintf("%v: %s%s: want %q, found %q", ErrPrecondition, e.Want.Kind, where, e.Want.Value, e.Found)
}

// Unwrap returns ErrPrecondition.
func (e *PreconditionError) Unwrap() error { return ErrPrecondition }
