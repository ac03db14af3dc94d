// Package testutil holds helpers shared by this module's tests: finding the
// reference tools (sgdisk, sfdisk, mkntfs, ntfsresize, wimlib-imagex, ...),
// loading fixtures, and opening them as read-only disks ([OpenDisk],
// [OpenFixture]) so that the tests of the packages below the root package
// need not import it.
//
// A test that needs a reference tool calls [NeedTool]. When the tool is
// missing the test is skipped with a message, unless the environment sets
// WINREPART_REQUIRE_TOOLS=1 (as .ci/run does), in which case it fails: a CI
// run must never turn green because it silently tested nothing.
package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireToolsEnv is the environment variable that turns a missing
// reference tool from a skip into a failure.
const RequireToolsEnv = "WINREPART_REQUIRE_TOOLS"

// ToolsRequired reports whether missing tools must fail tests.
func ToolsRequired() bool { return os.Getenv(RequireToolsEnv) == "1" }

// NeedTool returns the path of each named program, skipping (or failing,
// see the package documentation) the test when one is not installed.
func NeedTool(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			if ToolsRequired() {
				t.Fatalf("reference tool %q is required (%s=1) but not installed: %v", n, RequireToolsEnv, err)
			}
			t.Skipf("reference tool %q not installed; skipping (set %s=1 to make this a failure)", n, RequireToolsEnv)
		}
		paths[i] = p
	}
	return paths
}

// NeedRoot skips (or fails, under WINREPART_REQUIRE_TOOLS=1) a test that
// needs root, e.g. for loop devices.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if ToolsRequired() {
			t.Fatalf("test needs root (%s=1)", RequireToolsEnv)
		}
		t.Skip("test needs root; skipping")
	}
}

// Run runs a reference tool and returns its standard output and standard
// error combined. It fails the test when the program cannot be started or
// exits non-zero; remember that sgdisk and sfdisk exit 0 even when they
// report problems, so callers must parse what is returned.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr is Run without the test: it returns the combined output and the
// error, for tools whose non-zero exit is an expected answer.
func RunErr(name string, args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	return buf.String(), err
}

// RunErrBytes runs a tool and returns its standard output alone (for tools
// such as ntfscat whose output is data), and an error that includes its
// standard error when it fails.
func RunErrBytes(name string, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}
