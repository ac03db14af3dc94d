package gpt

import (
	"errors"
	"fmt"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

func itoa(n int) string { return fmt.Sprint(n) }

func isErr(err, target error) bool { return errors.Is(err, target) }

// usedEntries returns es up to its last entry that is not zero: the
// Entries Read returns for a table of 128-byte entries.
func usedEntries(es []Entry) []Entry {
	n := len(es)
	for n > 0 && es[n-1] == (Entry{}) {
		n--
	}
	if n == 0 {
		return nil
	}
	return es[:n]
}

func hasCode(ps []diag.Problem, c diag.Code) bool {
	for _, p := range ps {
		if p.Code == c {
			return true
		}
	}
	return false
}

// sampleImage decompresses one of the shared real-world samples, skipping
// the test when the samples are not there (failing under
// WINREPART_REQUIRE_TOOLS=1).
func sampleImage(t *testing.T, name string) []byte {
	t.Helper()
	return testutil.SampleBytes(t, name, "")
}
