package winre

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. The structured errors of this package unwrap to one of
// them, so callers can branch with errors.Is.
var (
	// ErrTooLarge reports an input (ReAgent.xml, a WIM XML resource) larger
	// than this package is willing to hold in memory.
	ErrTooLarge = errors.New("winre: input too large")
	// ErrEncoding reports bytes that are not UTF-8 or UTF-16LE text, or a
	// UTF-16 file with an odd length or broken surrogate pairs.
	ErrEncoding = errors.New("winre: unsupported text encoding")
	// ErrMalformed reports text that is not well-formed XML.
	ErrMalformed = errors.New("winre: malformed XML")
	// ErrNotReAgent reports well-formed XML whose root element is not
	// <WindowsRE>.
	ErrNotReAgent = errors.New("winre: not a ReAgent.xml document")
	// ErrMissing reports a required element or attribute that is absent.
	ErrMissing = errors.New("winre: required element or attribute missing")
	// ErrDuplicate reports an element or attribute that appears twice where
	// Windows expects it once.
	ErrDuplicate = errors.New("winre: duplicate element or attribute")
	// ErrBadValue reports an attribute whose value cannot be decoded (a
	// number that is not decimal or overflows, a GUID that is not a GUID).
	ErrBadValue = errors.New("winre: invalid attribute value")
	// ErrPatchDoesNotFit reports that a patch cannot keep the file length
	// unchanged: the new values are longer than the old ones plus the
	// spare whitespace inside the element's tag.
	ErrPatchDoesNotFit = errors.New("winre: patch does not fit in the existing file length")

	// ErrNotWIM reports data that does not start with a WIM header.
	ErrNotWIM = errors.New("winre: not a WIM file")
	// ErrPipableWIM reports a pipable WIM (magic "WLPWM"), which this
	// package recognises but does not parse.
	ErrPipableWIM = errors.New("winre: pipable WIM not supported")
	// ErrWIMHeader reports a WIM header whose fields are inconsistent
	// (header size, resource outside the file, ...).
	ErrWIMHeader = errors.New("winre: invalid WIM header")
)

// SyntaxError reports a ReAgent.xml or WIM XML document that is not
// well-formed. It unwraps to [ErrMalformed] and to the underlying
// encoding/xml error.
type SyntaxError struct {
	// Offset is the byte offset in the decoded UTF-8 text at which the
	// decoder stopped.
	Offset int64
	// Err is the decoder's error.
	Err error
}

// Error returns where the XML broke and why.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("winre: malformed XML near offset %d: %v", e.Offset, e.Err)
}

// Unwrap returns ErrMalformed and the decoder's error.
func (e *SyntaxError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// AttrError reports a problem with one element or one attribute of a
// ReAgent.xml document. It unwraps to Err, one of the sentinels.
type AttrError struct {
	// Element is the element's local name, e.g. "WinreLocation".
	Element string
	// Attribute is the attribute's name, or "" when the problem concerns
	// the element itself.
	Attribute string
	// Value is the offending value as written in the file, if any.
	Value string
	// Err is the sentinel: ErrMissing, ErrDuplicate or ErrBadValue.
	Err error
}

// Error returns the sentinel's text with the element, attribute and value.
func (e *AttrError) Error() string {
	what := "<" + e.Element + ">"
	if e.Attribute != "" {
		what += " attribute " + e.Attribute
	}
	msg := e.Err.Error()
	if e.Value != "" {
		return msg + ": " + what + " = " + strconv.Quote(e.Value)
	}
	return msg + ": " + what
}

// Unwrap returns the sentinel.
func (e *AttrError) Unwrap() error { return e.Err }

// FitError reports a patch that would change the file length. It unwraps to
// [ErrPatchDoesNotFit].
type FitError struct {
	// Element is the element being patched, e.g. "WinreLocation".
	Element string
	// Need is by how many characters (bytes in UTF-8, 16-bit units in
	// UTF-16) the new values are longer than the old ones.
	Need int
	// Spare is how many whitespace characters inside the tag could be
	// given up without making the XML invalid.
	Spare int
}

// Error returns how many characters are missing.
func (e *FitError) Error() string {
	return fmt.Sprintf("winre: patch does not fit in the existing file length: <%s> needs %d more characters, only %d spare (short by %d)",
		e.Element, e.Need, e.Spare, e.Short())
}

// Short returns by how many characters the patch misses.
func (e *FitError) Short() int { return e.Need - e.Spare }

// Unwrap returns ErrPatchDoesNotFit.
func (e *FitError) Unwrap() error { return ErrPatchDoesNotFit }

// WIMError reports an inconsistent WIM header field. It unwraps to Err.
type WIMError struct {
	// Field names the header field, e.g. "HeaderSize" or "XMLData".
	Field string
	// Value is the value read from the file.
	Value uint64
	// Err is the sentinel, usually ErrWIMHeader or ErrTooLarge.
	Err error
}

// Error returns the sentinel's text with the field and its value.
func (e *WIMError) Error() string {
	return fmt.Sprintf("%v: %s = %d", e.Err, e.Field, e.Value)
}

// Unwrap returns the sentinel.
func (e *WIMError) Unwrap() error { return e.Err }
