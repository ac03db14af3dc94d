package gpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ulikunitz/xz"
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
	path := filepath.Join("..", "..", "shared", "samples", name)
	f, err := os.Open(path)
	if err != nil {
		if testutil.ToolsRequired() {
			t.Fatalf("sample %s: %v", name, err)
		}
		t.Skipf("sample %s not available: %v", name, err)
	}
	defer f.Close()
	r, err := xz.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(r, 64<<20)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
