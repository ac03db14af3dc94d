package diag

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		s     Severity
		name  string
		valid bool
	}{
		{0, "Severity(0)", false},
		{Info, "info", true},
		{Warning, "warning", true},
		{Error, "error", true},
		{4, "Severity(4)", false},
		{-1, "Severity(-1)", false},
	} {
		if got := tc.s.String(); got != tc.name {
			t.Errorf("Severity(%d).String() = %q, want %q", int(tc.s), got, tc.name)
		}
		b, err := tc.s.MarshalText()
		if (err == nil) != tc.valid {
			t.Errorf("Severity(%d).MarshalText() error %v, want valid %v", int(tc.s), err, tc.valid)
		}
		if !tc.valid {
			continue
		}
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != tc.s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, tc.s)
		}
	}
	if !(Info < Warning && Warning < Error) {
		t.Error("severities are not ordered least serious first")
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error(`UnmarshalText("fatal") succeeded`)
	}
}

// TestProblemJSON checks the JSON form callers print: the severity as its
// name, an unset one left out under omitempty.
func TestProblemJSON(t *testing.T) {
	type out struct {
		Code     Code     `json:"code"`
		Severity Severity `json:"severity,omitempty"`
	}
	for _, tc := range []struct {
		in   out
		want string
	}{
		{out{"overlap", Error}, `{"code":"overlap","severity":"error"}`},
		{out{"stale-entry", Info}, `{"code":"stale-entry","severity":"info"}`},
		{out{"unset", 0}, `{"code":"unset"}`},
	} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tc.in, b, err, tc.want)
			continue
		}
		var back out
		if err := json.Unmarshal(b, &back); err != nil || back != tc.in {
			t.Errorf("json.Unmarshal(%s) = %+v, %v", b, back, err)
		}
	}
	if _, err := json.Marshal(out{"bad", 7}); err == nil {
		t.Error("json.Marshal accepted Severity(7)")
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Code: "overlap", Severity: Error, Where: "partition 2", Message: "partitions 1 and 2 overlap", Remedy: "recreate the entry"},
			"error overlap (partition 2): partitions 1 and 2 overlap; remedy: recreate the entry"},
		{Problem{Code: "dirty", Severity: Warning, Message: "the volume is marked dirty"},
			"warning dirty: the volume is marked dirty"},
		{Problem{Code: "x", Message: "m", Remedy: "r"}, "Severity(0) x: m; remedy: r"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestWriteString(t *testing.T) {
	w := Write{Offset: 0x200, New: make([]byte, 512), What: "primary GPT header"}
	if got, want := w.String(), "at 0x200 (512 bytes): primary GPT header"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{529 << 20, "529.0 MiB"},
		{250<<20 + 1<<19, "250.5 MiB"},
		{3 << 30, "3.00 GiB"},
		{2 << 40, "2.00 TiB"},
		{-52 << 20, "-52.0 MiB"},
		{math.MinInt64, "-8388608.00 TiB"},
	} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
