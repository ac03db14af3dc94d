package recovery

import (
	"errors"
	"fmt"

	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
)

// ErrReAgentPatch reports a ReAgent.xml that cannot be rewritten with a
// new WinRE offset (see ReAgentPatchError).
var ErrReAgentPatch = errors.New("recovery: ReAgent.xml cannot be patched")

// ReAgentFile is ReAgent.xml as Inspect read it, with what rewriting it
// offline needs: its bytes and how far it can change length in place. The
// planner runs [ReAgentFile.Patch] on it to know, without the disk,
// whether the patch-reagent step of a plan can be carried out; the
// executor runs the same method on the file as it finds it when applying.
type ReAgentFile struct {
	// Path is the file's path on the OS volume.
	Path string
	// Content is the file as read.
	Content []byte
	// Room says how far the file can grow or shrink in place.
	Room ntfs.FileRoom
	// RoomErr says why the file cannot be rewritten at all (compressed,
	// sparse, ...), "" when it can.
	RoomErr string
}

// NewReAgentFile records content, read from path on v, with its room.
func NewReAgentFile(v *ntfs.Volume, path string, content []byte) *ReAgentFile {
	f := &ReAgentFile{Path: path, Content: content}
	room, err := v.FileRoom(path)
	if err != nil {
		f.RoomErr = err.Error()
	}
	f.Room = room
	return f
}

// ReadReAgentFile reads the ReAgent.xml at path on v (at most
// winre.MaxReAgentSize bytes) and its room.
func ReadReAgentFile(v *ntfs.Volume, path string) (*ReAgentFile, error) {
	b, err := v.ReadFile(path, winre.MaxReAgentSize)
	if err != nil {
		return nil, err
	}
	return NewReAgentFile(v, path, b), nil
}

// ReAgentPatchError says why ReAgent.xml cannot take a new WinRE offset:
// neither rewritten at the length the new text needs (Rewrite) nor
// patched at its current length (Fixed). It unwraps to ErrReAgentPatch and
// to both causes.
type ReAgentPatchError struct {
	Path    string
	Offset  uint64 // the new WinRE offset
	Size    int    // the file's length
	Need    int    // the length of the rewritten text
	Rewrite error  // why it cannot change length (an *ntfs.RoomError, or the file cannot be rewritten at all)
	Fixed   error  // why the fixed-length patch failed (a *winre.FitError, usually)
}

func (e *ReAgentPatchError) Error() string {
	return fmt.Sprintf("%v: %s (%d bytes) cannot take WinRE offset %d: rewriting it at %d bytes: %v; patching it at its length: %v",
		ErrReAgentPatch, e.Path, e.Size, e.Offset, e.Need, e.Rewrite, e.Fixed)
}

// Unwrap returns ErrReAgentPatch and the two causes.
func (e *ReAgentPatchError) Unwrap() []error {
	return []error{ErrReAgentPatch, e.Rewrite, e.Fixed}
}

// Patch returns the new content of the file for WinRE at offset (bytes
// from the start of the disk), keeping the disk GUID and id it names, and
// clearing a stale ImageLocation. It prefers the exact rewrite, where only
// the values change (winre.PatchLocationExact), when the file's room
// allows the new length; otherwise it patches at the file's length
// (winre.PatchLocationCompact, which may turn CRLF line ends into LF);
// when neither is possible it fails with a *ReAgentPatchError. Errors of
// winre.ParseReAgent are returned as they are. Patch is pure: the planner
// calls it on what Inspect recorded, the executor on the file it reads
// when applying, so that a plan never promises a patch apply refuses.
func (f *ReAgentFile) Patch(offset uint64) ([]byte, error) {
	ra, err := winre.ParseReAgent(f.Content)
	if err != nil {
		return nil, err
	}
	loc := ra.WinreLocation
	exact, err := winre.PatchLocationExact(f.Content, offset, loc.GUID, loc.ID)
	if err != nil {
		return nil, err
	}
	stale := !ra.ImageLocation.Unused()
	if stale {
		if c, err := winre.ClearImageLocationExact(exact); err == nil {
			exact = c
		}
	}
	var rerr error
	if f.RoomErr != "" {
		rerr = errors.New(f.RoomErr)
	} else if rerr = f.Room.Check(int64(len(exact))); rerr == nil {
		return exact, nil
	}
	fixed, ferr := winre.PatchLocationCompact(f.Content, offset, loc.GUID, loc.ID)
	if ferr == nil && f.RoomErr == "" {
		if stale {
			if c, err := winre.ClearImageLocation(fixed); err == nil {
				fixed = c
			}
		}
		return fixed, nil
	}
	if ferr == nil {
		ferr = errors.New("the file cannot be rewritten at all")
	}
	return nil, &ReAgentPatchError{Path: f.Path, Offset: offset, Size: len(f.Content), Need: len(exact), Rewrite: rerr, Fixed: ferr}
}
