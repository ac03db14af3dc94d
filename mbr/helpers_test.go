package mbr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// sample writes member of a zip among the shared samples (see
// testutil.SampleBytes) to a temporary file and returns its path.
func sample(t testing.TB, archive, member string) string {
	t.Helper()
	return testutil.SampleFile(t, archive, member)
}

// sfdiskImage creates a sparse image of size bytes in a temporary
// directory and partitions it with the sfdisk script. For sector sizes
// other than 512 (sfdisk 2.38 has no --sector-size) it goes through a loop
// device with that logical block size, detached before returning.
func sfdiskImage(t testing.TB, size int64, sectorSize int, script string) string {
	t.Helper()
	testutil.NeedTool(t, "sfdisk")
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	target := path
	if sectorSize != 512 {
		testutil.NeedTool(t, "losetup")
		testutil.NeedRoot(t)
		dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-b", strconv.Itoa(sectorSize), path))
		defer testutil.Run(t, "losetup", "-d", dev)
		target = dev
	}
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", target)
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	return path
}

// sfdiskPartition is one partition of `sfdisk --json`.
type sfdiskPartition struct {
	Node     string `json:"node"`
	Start    uint64 `json:"start"`
	Size     uint64 `json:"size"`
	Type     string `json:"type"`
	Bootable bool   `json:"bootable"`
}

type sfdiskTable struct {
	PartitionTable struct {
		Label      string            `json:"label"`
		ID         string            `json:"id"`
		SectorSize int               `json:"sectorsize"`
		Partitions []sfdiskPartition `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskJSON runs `sfdisk --json` and returns the parsed table and what
// sfdisk wrote on standard error (its warnings).
func sfdiskJSON(t testing.TB, path string, args ...string) (sfdiskTable, string) {
	t.Helper()
	testutil.NeedTool(t, "sfdisk")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("sfdisk", append(append([]string{"--json"}, args...), path)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, stderr.String())
	}
	var st sfdiskTable
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("sfdisk --json output: %v\n%s", err, stdout.String())
	}
	return st, stderr.String()
}

// partView is what both sides agree to report about a partition.
type partView struct {
	Number   int
	Start    uint64
	Size     uint64
	Type     string
	Bootable bool
}

// fromSfdisk converts sfdisk's partitions: the number is the node's
// numeric suffix, the type a hex byte.
func fromSfdisk(t testing.TB, ps []sfdiskPartition) []partView {
	t.Helper()
	var out []partView
	for _, p := range ps {
		i := len(p.Node)
		for i > 0 && p.Node[i-1] >= '0' && p.Node[i-1] <= '9' {
			i--
		}
		n, err := strconv.Atoi(p.Node[i:])
		if err != nil {
			t.Fatalf("node %q: %v", p.Node, err)
		}
		out = append(out, partView{n, p.Start, p.Size, strings.ToLower(p.Type), p.Bootable})
	}
	return out
}

func fromTable(ps []Partition) []partView {
	var out []partView
	for _, p := range ps {
		out = append(out, partView{p.Number, p.StartLBA, p.Sectors, strconv.FormatUint(uint64(p.Type), 16), p.Bootable})
	}
	return out
}

// readImage reads the table of an image file.
func readImage(t testing.TB, path string, sectorSize int) (*Table, *os.File) {
	t.Helper()
	f, size := testutil.OpenSized(t, path)
	tbl, err := Read(f, size, sectorSize)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tbl, f
}

// checkWritesExact checks that every write of tbl reproduces the bytes at
// its offset in r, naming the LBA and byte of the first mismatch.
func checkWritesExact(t testing.TB, tbl *Table, r io.ReaderAt) {
	t.Helper()
	ws, err := tbl.Writes()
	if err != nil {
		t.Fatalf("Writes: %v", err)
	}
	if want := len(tbl.EBRs) + 1; len(ws) != want {
		t.Fatalf("Writes returned %d writes, want %d", len(ws), want)
	}
	if ws[len(ws)-1].Offset != 0 {
		t.Errorf("last write is at offset %d, want the MBR at 0", ws[len(ws)-1].Offset)
	}
	for _, w := range ws {
		if len(w.New) != Size {
			t.Fatalf("%s: %d bytes, want %d", w.What, len(w.New), Size)
		}
		got := make([]byte, Size)
		if _, err := r.ReadAt(got, w.Offset); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, w.New); i >= 0 {
			t.Errorf("%s: LBA %d byte %d: disk has %#02x, write has %#02x", w.What,
				w.Offset/int64(tbl.SectorSize), i, got[i], w.New[i])
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// codes lists the problem codes in order.
func codes(ps []diag.Problem) []diag.Code {
	var cs []diag.Code
	for _, p := range ps {
		cs = append(cs, p.Code)
	}
	return cs
}

// hasCode reports whether ps holds a problem with code.
func hasCode(ps []diag.Problem, code diag.Code) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

func dumpProblems(ps []diag.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintln(&b, p)
	}
	return b.String()
}

var fmtSprintf = fmt.Sprintf

// sfdiskJSONSectors is sfdiskJSON for an image with sectors of sectorSize
// bytes, read through a loop device when they are not 512 bytes.
func sfdiskJSONSectors(t testing.TB, path string, sectorSize int) sfdiskTable {
	t.Helper()
	if sectorSize == 512 {
		st, _ := sfdiskJSON(t, path)
		return st
	}
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-r", "-b", strconv.Itoa(sectorSize), path))
	defer testutil.Run(t, "losetup", "-d", dev)
	st, _ := sfdiskJSON(t, dev)
	return st
}

var lookPath = exec.LookPath

func bytesReader(b []byte) io.ReaderAt { return bytes.NewReader(b) }

var readAll = os.ReadFile
