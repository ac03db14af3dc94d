package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/testutil"
)

// TestKilledApply runs the real winrefix binary's apply on a fixture and
// kills it (SIGKILL and SIGINT) at several moments. After each kill that
// left a journal: inspect exits 1 naming the journal, apply refuses
// pointing to recover, and recover brings the disk to its final state
// and removes the journal; afterwards inspect exits 0 and the WinRE
// verdict is either the old one (rolled back) or met (rolled forward).
func TestKilledApply(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	bin := filepath.Join(t.TempDir(), "winrefix")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	interrupted := 0
	for _, delay := range []time.Duration{5, 20, 50, 100, 150, 200, 300, 450, 600, 800} {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
			img := testutil.Fixture(t, "gpt-win11-standard")
			jpath := img + ".winrepart-journal"
			cmd := exec.Command(bin, "apply", "--yes", "-q", img)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay * time.Millisecond)
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			what := func(s string) string {
				return sig.String() + " after " + (delay * time.Millisecond).String() + ": " + s
			}
			if _, serr := os.Stat(jpath); serr != nil {
				// Killed before the journal existed, or it finished.
				continue
			}
			if sig == syscall.SIGINT && err != nil && code != 1 {
				t.Errorf("%s apply exited %d after SIGINT, want 1 (stopped at a safe point)", what("apply"), code)
			}
			interrupted++
			out, err := exec.Command(bin, "inspect", img).CombinedOutput()
			if err == nil || !strings.Contains(string(out), jpath) || !strings.Contains(string(out), "recover") {
				t.Errorf("%s inspect of the half-changed disk: %v\n%s", what("inspect"), err, out)
			}
			out, err = exec.Command(bin, "apply", "--yes", img).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "recover") {
				t.Errorf("%s apply again: %v\n%s", what("apply"), err, out)
			}
			out, err = exec.Command(bin, "recover", img).CombinedOutput()
			if err != nil {
				t.Fatalf("%s recover: %v\n%s", what("recover"), err, out)
			}
			if _, serr := os.Stat(jpath); serr == nil {
				t.Errorf("%s recover kept the journal:\n%s", what("recover"), out)
			}
			out, err = exec.Command(bin, "inspect", img).CombinedOutput()
			if err != nil {
				t.Fatalf("%s inspect after recover: %v\n%s", what("inspect"), err, out)
			}
			if !strings.Contains(string(out), "meets the requirement") && !strings.Contains(string(out), "does NOT meet") {
				t.Errorf("%s inspect after recover has no WinRE verdict:\n%s", what("inspect"), out)
			}
		}
	}
	t.Logf("%d kills left a journal and were recovered", interrupted)
	if interrupted == 0 {
		t.Error("no kill interrupted an apply")
	}
}
