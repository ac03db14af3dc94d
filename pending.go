package winrepart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/winrepart/winrepart/internal/journal"
)

// JournalStatus is what [PendingJournal] found at a journal path.
type JournalStatus struct {
	Path string
	// Pending is true when the journal describes a change of the device
	// that is neither finished nor undone (or cannot be read at all): the
	// disk may be half-changed, and Recover must run before anything else
	// writes to it.
	Pending bool
	// State describes where the journal stands, e.g. "3 of 16 ops done".
	State string
	// Err is why the journal could not be read or does not match the
	// device, when it cannot; such a journal counts as pending.
	Err error
}

// ErrNoJournal reports that no journal file exists at the path given to
// [PendingJournal].
var ErrNoJournal = errors.New("winrepart: no journal at that path")

// PendingJournal looks at the journal file at path (where Apply keeps the
// journal of dev) and reports whether it holds an interrupted change of
// dev. It fails with an error wrapping [ErrNoJournal] when there is no such
// file, and writes nothing. Tools that wrap the library call it before
// inspecting, planning or applying, as the command-line tool does.
func PendingJournal(dev Device, path string) (*JournalStatus, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoJournal, path)
		}
		return nil, err
	}
	st := &JournalStatus{Path: path, Pending: true}
	j, err := journal.Open(path)
	if err != nil {
		st.Err, st.State = err, "unreadable"
		return st, nil
	}
	s, err := j.State(dev)
	if err != nil {
		st.Err, st.State = err, "does not match the disk"
		return st, nil
	}
	st.State = s.String()
	st.Pending = !s.Complete && !s.RolledBack
	return st, nil
}
