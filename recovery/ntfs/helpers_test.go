package ntfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/testutil"
)

// sampleBytes returns a decompressed Windows-made sample (a fresh copy).
func sampleBytes(t testing.TB, name string) []byte {
	t.Helper()
	return testutil.SampleBytes(t, name, "")
}

// openBytes opens a volume held in memory.
func openBytes(t testing.TB, b []byte) *Volume {
	t.Helper()
	v, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

// openImage opens a volume image file for the test's lifetime.
func openImage(t testing.TB, path string) *Volume {
	t.Helper()
	f, size := testutil.OpenSized(t, path)
	v, err := Open(f, size)
	if err != nil {
		t.Fatalf("Open(%s): %v", filepath.Base(path), err)
	}
	return v
}

// mkntfs formats a sparse image of size bytes in a temporary directory
// and returns its path.
func mkntfs(t testing.TB, size int64, sector, cluster int, label string) string {
	t.Helper()
	testutil.NeedTool(t, "mkntfs")
	p := filepath.Join(t.TempDir(), "vol.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkntfs", "-F", "-Q", "-s", strconv.Itoa(sector), "-c", strconv.Itoa(cluster), "-p", "2048", "-L", label, p)
	return p
}

// ntfsinfoField returns the value after "name:" in ntfsinfo output.
func ntfsinfoField(t testing.TB, out, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `:\s*(.*?)\s*$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ntfsinfo output lacks %q:\n%s", name, out)
	}
	return m[1]
}

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	f := strings.Fields(s)
	if len(f) == 0 {
		t.Fatalf("no number in %q", s)
	}
	n, err := strconv.ParseInt(f[0], 0, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// ntfsinfoRuns parses the runlists that `ntfsinfo -v -F path` prints for
// the unnamed $DATA attribute (all its extents, in order).
func ntfsinfoRuns(t testing.TB, img, path string) []Run {
	t.Helper()
	out := testutil.Run(t, "ntfsinfo", "-v", "-F", path, img)
	var runs []Run
	for _, sec := range strings.Split(out, "Dumping attribute ") {
		if !strings.HasPrefix(sec, "$DATA (0x80)") || !unnamedRE.MatchString(sec) {
			continue
		}
		i := strings.Index(sec, "Runlist:")
		if i < 0 {
			continue
		}
		for _, line := range strings.Split(sec[i:], "\n")[1:] {
			f := strings.Fields(line)
			if len(f) != 3 || !strings.HasPrefix(f[0], "0x") {
				break
			}
			if f[1] == "<RL_NOT_MAPPED>" {
				continue // libntfs placeholder for VCNs mapped by another extent
			}
			r := Run{VCN: atoi(t, f[0]), Length: atoi(t, f[2])}
			if lcn, err := strconv.ParseInt(f[1], 0, 64); err == nil && lcn >= 0 {
				r.LCN = lcn
			} else {
				r.LCN, r.Sparse = -1, true // a hole, however ntfsinfo spells it
			}
			runs = append(runs, r)
		}
	}
	return runs
}

var unnamedRE = regexp.MustCompile(`Name length:\s+0 \(`)

// mergeRuns joins adjacent runs that continue each other, since writers
// may split one extent into several pairs.
func mergeRuns(rs []Run) []Run {
	var out []Run
	for _, r := range rs {
		r.PairOffset, r.PairLength = 0, 0
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.VCN+p.Length == r.VCN && p.Sparse == r.Sparse && (r.Sparse || p.LCN+p.Length == r.LCN) {
				p.Length += r.Length
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// stdout runs a tool and returns only its standard output.
func stdout(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out
}

// unmountFUSE unmounts an ntfs-3g mount of img at mnt and waits until the
// mount is gone and no ntfs-3g process still holds img: fusermount returns
// before the daemon has flushed and exited, and a test that reads the image
// (or removes the mount point) before then races with it.
func unmountFUSE(t testing.TB, img, mnt string) {
	t.Helper()
	if out, err := exec.Command("fusermount", "-u", mnt).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", mnt).CombinedOutput(); err2 != nil {
			t.Errorf("unmount %s: %v %s; %v %s", mnt, err, out, err2, out2)
			return
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !fuseBusy(img, mnt) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("ntfs-3g still holds %s 30 s after unmounting", img)
}

// fuseBusy reports whether mnt is still mounted or an ntfs-3g process
// still has img on its command line.
func fuseBusy(img, mnt string) bool {
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), " "+mnt+" ") {
		return true
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err == nil && bytes.Contains(cmd, []byte("ntfs-3g")) && bytes.Contains(cmd, []byte(img)) {
			return true
		}
	}
	return false
}
