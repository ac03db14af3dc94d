package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre"
)

// imageDisk is a disk image with 512-byte sectors, as Inspect reads it.
type imageDisk struct {
	*os.File
	size int64
}

func (d imageDisk) Size() int64     { return d.size }
func (d imageDisk) SectorSize() int { return 512 }

func inspectImage(t *testing.T, path string) *recovery.Layout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	l, err := recovery.Inspect(context.Background(), imageDisk{f, st.Size()}, recovery.Options{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return l
}

var istatClustersRE = regexp.MustCompile(`Type: \$DATA \(128-\d+\)\s+Name: N/A\s+Non-Resident\s+size: (\d+)\s+init_size: \d+\s*\n((?:\d+[ \t]*)+)`)

// TestInspectReportsReAgentVerify: what winre's ReAgent.Verify finds in
// ReAgent.xml reaches Inspect's problems, text and JSON, marked as coming
// from winre. The fixture's ReAgent.xml is made to say that an image is
// staged (WinREStaged state="1"): The Sleuth Kit finds the file's cluster,
// the byte is changed in place, and icat confirms the file now says so.
func TestInspectReportsReAgentVerify(t *testing.T) {
	testutil.NeedTool(t, "ifind", "istat", "fsstat", "icat")
	img := testutil.Fixture(t, "gpt-win11-standard")
	before := inspectImage(t, img)
	if hasCode(before, winre.ProblemStaged) {
		t.Fatalf("the fixture already reports %s", winre.ProblemStaged)
	}
	osp := before.Partition(before.OS)
	if osp == nil {
		t.Fatal("no OS partition")
	}
	sector := strconv.FormatUint(osp.StartLBA, 10)
	const path = "/Windows/System32/Recovery/ReAgent.xml"
	inode := strings.TrimSpace(testutil.Run(t, "ifind", "-o", sector, "-n", path, img))
	content, err := testutil.RunErrBytes("icat", "-o", sector, img, inode)
	if err != nil {
		t.Fatalf("icat: %v", err)
	}
	const staged0, staged1 = `<WinREStaged state="0"/>`, `<WinREStaged state="1"/>`
	at := bytes.Index(content, []byte(staged0))
	if at < 0 {
		t.Fatalf("ReAgent.xml has no %s:\n%s", staged0, content)
	}
	m := regexp.MustCompile(`Cluster Size: (\d+)`).FindStringSubmatch(testutil.Run(t, "fsstat", "-o", sector, img))
	if m == nil {
		t.Fatal("fsstat gives no cluster size")
	}
	cluster, _ := strconv.ParseInt(m[1], 10, 64)
	ist := testutil.Run(t, "istat", "-o", sector, img, inode)
	d := istatClustersRE.FindStringSubmatch(ist)
	if d == nil {
		t.Fatalf("istat: no non-resident $DATA:\n%s", ist)
	}
	clusters := strings.Fields(d[2])
	i := int64(at) / cluster
	if i >= int64(len(clusters)) {
		t.Fatalf("byte %d of ReAgent.xml is past its %d clusters", at, len(clusters))
	}
	lcn, _ := strconv.ParseInt(clusters[i], 10, 64)
	patchFile(t, img, osp.StartBytes(512)+lcn*cluster+int64(at)%cluster, []byte(staged1))
	if got, err := testutil.RunErrBytes("icat", "-o", sector, img, inode); err != nil || !bytes.Contains(got, []byte(staged1)) {
		t.Fatalf("icat after the patch (%v):\n%s", err, got)
	}

	l := inspectImage(t, img)
	var found *recovery.Problem
	for i := range l.Problems {
		if l.Problems[i].Code == winre.ProblemStaged {
			found = &l.Problems[i]
		}
	}
	if found == nil {
		t.Fatalf("Inspect does not report %s:\n%s", winre.ProblemStaged, l)
	}
	if found.Source != recovery.SourceWinRE || found.Severity != diag.Warning || found.Where != "WinREStaged" || found.FromTable() {
		t.Errorf("problem %+v, want a warning from winre about WinREStaged", *found)
	}
	if text := l.String(); !strings.Contains(text, fmt.Sprintf("[warning] %s: ", winre.ProblemStaged)) {
		t.Errorf("text output does not list it:\n%s", text)
	}
	js, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"code":%q,"severity":"warning","message":`, winre.ProblemStaged); !strings.Contains(string(js), want) {
		t.Errorf("JSON output has no %s:\n%s", want, js)
	}
	// The rest of the verdict is unchanged: a staged image does not stop
	// Inspect finding WinRE.
	if l.WinRE == nil || before.WinRE == nil || l.WinRE.Partition != before.WinRE.Partition || l.WinRE.Enabled != before.WinRE.Enabled {
		t.Errorf("WinRE verdict changed: %+v, before %+v", l.WinRE, before.WinRE)
	}
}

func hasCode(l *recovery.Layout, c diag.Code) bool {
	for _, p := range l.Problems {
		if p.Code == c {
			return true
		}
	}
	return false
}
