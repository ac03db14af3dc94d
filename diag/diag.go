package diag

import (
	"fmt"
	"strconv"
)

// Severity says how much a [Problem] matters. Its zero value is not a
// severity: a Problem must be given one; an unset Severity prints as
// "Severity(0)" and sorts below [Info].
type Severity int

// Severities, least serious first, so that a larger value is worse.
const (
	Info    Severity = iota + 1 // worth knowing, nothing to repair
	Warning                     // works, but tools or Windows may complain, or data may be out of reach
	Error                       // broken or unsafe: repair before changing the disk
)

var severityNames = [...]string{Info: "info", Warning: "warning", Error: "error"}

// Valid reports whether s is one of [Info], [Warning] and [Error].
func (s Severity) Valid() bool { return s >= Info && s <= Error }

// String returns "info", "warning" or "error"; any other value renders as
// "Severity(N)".
func (s Severity) String() string {
	if s.Valid() {
		return severityNames[s]
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the name String gives, so that a severity is a
// string in JSON. It fails for a value that is not a severity.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("diag: invalid severity %d", int(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText reads "info", "warning" or "error".
func (s *Severity) UnmarshalText(b []byte) error {
	for v := Info; v <= Error; v++ {
		if string(b) == severityNames[v] {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("diag: unknown severity %q", b)
}

// Code names a kind of problem. Codes are stable kebab-case strings
// ("partitions-overlap", "winre-staged"), safe to match on and to print in
// JSON; each package declares its own.
type Code string

// Problem is one finding of a diagnosis, with what to do about it.
type Problem struct {
	Code     Code
	Severity Severity
	// Where names the part concerned when it is narrower than what was
	// diagnosed: "partition 2" in a partition table, "WinreLocation" in a
	// ReAgent.xml. It is empty when the problem concerns the whole.
	Where   string
	Message string // what is wrong, with the numbers
	Remedy  string // what to do about it; empty when nothing can be said
}

// String renders the problem on one line:
//
//	error partitions-overlap (partition 3): partitions 2 (LBA 34-4096) and 3 (...) overlap; remedy: shrink ...
//
// The where part is left out when Where is empty, the remedy when Remedy
// is.
func (p Problem) String() string {
	s := p.Severity.String() + " " + string(p.Code)
	if p.Where != "" {
		s += " (" + p.Where + ")"
	}
	s += ": " + p.Message
	if p.Remedy != "" {
		s += "; remedy: " + p.Remedy
	}
	return s
}

// Write is one change a codec asks for: put New at Offset. Offset counts
// bytes from the start of what the codec models: the disk for gpt and
// mbr, the volume (its partition's first byte) for recovery/ntfs; the
// caller adds the base.
type Write struct {
	Offset int64 // byte offset
	// Old holds the bytes found at Offset when the write was planned, as
	// long as New, so that an executor can check nothing moved in between
	// and undo the write; nil when the codec computed New without reading
	// the disk (a partition table rebuilt from its model).
	Old  []byte
	New  []byte // the bytes to write
	What string // what the bytes are, for logs and dry runs: "primary GPT header"
}

// String renders the write as one dry-run line: offset, length, what.
func (w Write) String() string {
	return fmt.Sprintf("at %#x (%d bytes): %s", w.Offset, len(w.New), w.What)
}

// FormatBytes renders a byte count for people, in the largest binary unit
// it reaches: "512 B", "4.0 KiB", "529.0 MiB", "3.00 GiB", "2.00 TiB".
// Negative counts keep their sign.
func FormatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
		tib = 1 << 40
	)
	neg := ""
	u := uint64(n)
	if n < 0 {
		neg, u = "-", -u
	}
	switch {
	case u >= tib:
		return fmt.Sprintf("%s%.2f TiB", neg, float64(u)/tib)
	case u >= gib:
		return fmt.Sprintf("%s%.2f GiB", neg, float64(u)/gib)
	case u >= mib:
		return fmt.Sprintf("%s%.1f MiB", neg, float64(u)/mib)
	case u >= kib:
		return fmt.Sprintf("%s%.1f KiB", neg, float64(u)/kib)
	}
	return fmt.Sprintf("%s%d B", neg, u)
}
