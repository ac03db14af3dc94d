package main

import (
	"fmt"
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
	// Kill points are read off the journal itself, so that the test does
	// not depend on the machine's speed: the first time its file holds
	// the header and at least k progress records (64 bytes each).
	for _, k := range []int64{0, 1, 2, 3, 4, 6, 8, 10, 12, 16} {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
			img := testutil.Fixture(t, "gpt-win11-standard")
			jpath := img + ".winrepart-journal"
			cmd := exec.Command(bin, "apply", "--yes", "-q", img)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			var base int64 = -1
		poll:
			for {
				select {
				case err = <-done:
					break poll
				default:
				}
				if fi, serr := os.Stat(jpath); serr == nil {
					if base < 0 {
						base = fi.Size()
					}
					if fi.Size() >= base+64*k {
						cmd.Process.Signal(sig)
						err = <-done
						break
					}
				}
				time.Sleep(200 * time.Microsecond)
			}
			code := cmd.ProcessState.ExitCode()
			what := func(s string) string {
				return fmt.Sprintf("%v after %d records: %s", sig, k, s)
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
			for _, cmd := range []string{"plan", "script"} {
				out, err = exec.Command(bin, cmd, img).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "winrefix recover --journal "+jpath) {
					t.Errorf("%s %s of the half-changed disk: %v\n%s", what(cmd), cmd, err, out)
				}
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
			if low := strings.ToLower(string(out)); !strings.Contains(low, "meets the requirement") && !strings.Contains(low, "does not meet") {
				t.Errorf("%s inspect after recover has no WinRE verdict:\n%s", what("inspect"), out)
			}
		}
	}
	t.Logf("%d kills left a journal and were recovered", interrupted)
	if interrupted == 0 {
		t.Error("no kill interrupted an apply")
	}
}
