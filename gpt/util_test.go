package gpt

import (
	"errors"
	"fmt"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

func itoa(n int) string { return fmt.Sprint(n) }

func isErr(err, target error) bool { return errors.Is(err, target) }

func hasCode(ps []Problem, c ProblemCode) bool {
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
