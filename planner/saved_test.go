package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSavedPlanRoundTrip saves every golden case's plan and reads it back:
// the plan is equal, tables and the facts the scripts use included.
func TestSavedPlanRoundTrip(t *testing.T) {
	for _, c := range planCases() {
		t.Run(c.name, func(t *testing.T) {
			p := New(c.tl.build(), c.opts)
			diff, err := SavedRoundTrip(p)
			if err != nil || diff != "" {
				t.Errorf("round trip: %v\n%s", err, diff)
			}
		})
	}
}

// savedShrinkOS returns the JSON of a plan with steps, decoded into a
// generic map the mutations below edit.
func savedShrinkOS(t *testing.T) map[string]any {
	t.Helper()
	js, err := json.Marshal(New(win11().build(), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSavedPlanRefusesIncomplete removes or breaks, one at a time, the
// fields applying needs: each gives a *SavedPlanError naming the field.
func TestSavedPlanRefusesIncomplete(t *testing.T) {
	writeTable := func(m map[string]any) map[string]any {
		for _, s := range m["steps"].([]any) {
			if s := s.(map[string]any); s["kind"] == string(StepWriteTable) {
				return s
			}
		}
		t.Fatal("no write-table step")
		return nil
	}
	for _, tc := range []struct {
		name, field string
		mutate      func(m map[string]any)
	}{
		{"no format", "format", func(m map[string]any) { delete(m, "format") }},
		{"future format", "format", func(m map[string]any) { m["format"] = 99 }},
		{"no disk", "disk", func(m map[string]any) { delete(m, "disk") }},
		{"no preconditions", "preconditions", func(m map[string]any) { m["preconditions"] = []any{} }},
		{"no table", "steps[", func(m map[string]any) { delete(writeTable(m), "gpt") }},
		{"bad header", ".gpt.header", func(m map[string]any) { writeTable(m)["gpt"].(map[string]any)["header"] = "AAAA" }},
		{"bad entries", ".gpt.entries", func(m map[string]any) { writeTable(m)["gpt"].(map[string]any)["entries"] = "AAAA" }},
		{"bad type", ".typeGUID", func(m map[string]any) {
			m["before"].([]any)[0].(map[string]any)["typeGUID"] = "nope"
		}},
		{"refused without reasons", "reasons", func(m map[string]any) { m["refused"] = true }},
		{"unknown step kind", "steps[0]", func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["kind"] = "format-disk" }},
		{"a field the step does not take", "steps[", func(m map[string]any) { writeTable(m)["hiddenSectors"] = 7 }},
		{"not a plan", "(document)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var js []byte
			if tc.mutate == nil {
				js = []byte(`["a list"]`)
			} else {
				m := savedShrinkOS(t)
				tc.mutate(m)
				js, _ = json.Marshal(m)
			}
			p, err := ReadJSON(bytes.NewReader(js))
			var se *SavedPlanError
			if p != nil || !errors.Is(err, ErrSavedPlan) || !errors.As(err, &se) || !strings.Contains(se.Field, tc.field) {
				t.Errorf("ReadJSON = %v, %v; want a *SavedPlanError about %s", p, err, tc.field)
			}
		})
	}
}

func TestReadJSONBounded(t *testing.T) {
	big := bytes.Repeat([]byte(" "), MaxSavedPlanBytes+1)
	if _, err := ReadJSON(bytes.NewReader(big)); !errors.Is(err, ErrSavedPlan) {
		t.Errorf("ReadJSON of %d bytes: %v", len(big), err)
	}
}

// FuzzReadJSON: no panic, and whatever reads back saves and reads back
// to the same JSON.
func FuzzReadJSON(f *testing.F) {
	for _, c := range planCases() {
		js, err := json.Marshal(New(c.tl.build(), c.opts))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	if m, _ := filepath.Glob(filepath.Join("testdata", "saved", "*.json")); len(m) > 0 {
		for _, name := range m {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSavedPlan) {
				t.Fatalf("error %v does not unwrap to ErrSavedPlan", err)
			}
			return
		}
		js, err := json.Marshal(p)
		if err != nil {
			return // a table read back that cannot be encoded again is refused when saving
		}
		q, err := ReadJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatalf("a plan read back does not read back again: %v", err)
		}
		again, _ := json.Marshal(q)
		if !bytes.Equal(js, again) {
			t.Fatalf("unstable:\n%s\n%s", js, again)
		}
		_ = p.String()
		_ = p.PowerShellScript()
		_ = p.DiskpartScript()
	})
}

// TestWindowsSideTexts keeps the texts that go into script comments free
// of what safeText would blank out.
func TestWindowsSideTexts(t *testing.T) {
	for c, how := range windowsSide {
		if safeText(how) != how {
			t.Errorf("%s: %q loses characters in a script", c, how)
		}
	}
}

// TestMessagesNameNoCLI: reasons speak of operations, never of the
// command-line tool or its flags (a vendor's UI shows them).
func TestMessagesNameNoCLI(t *testing.T) {
	for _, c := range planCases() {
		p := New(c.tl.build(), c.opts)
		for _, r := range p.Reasons {
			for _, s := range []string{r.Message, r.Suggestion} {
				if strings.Contains(s, "winrefix") || strings.Contains(s, "--allow-dirty") || strings.Contains(s, "--min-free") || strings.Contains(s, "--size") {
					t.Errorf("%s: %s names the command-line tool: %q", c.name, r.Code, s)
				}
			}
		}
	}
}
