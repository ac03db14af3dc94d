package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInspectEmbeddedSample(t *testing.T) {
	code, out, errOut := runCLI(t, "inspect")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Scheme:       GPT", "winre", "does NOT meet", "winre-too-small"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectJSONFieldNames(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	code, out, errOut := runCLI(t, "inspect", "--json", img)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v struct {
		Scheme     string `json:"scheme"`
		SectorSize int    `json:"sectorSize"`
		SizeBytes  int64  `json:"sizeBytes"`
		DiskGUID   string `json:"diskGUID"`
		Partitions []struct {
			Number     int    `json:"number"`
			StartLBA   uint64 `json:"startLBA"`
			EndLBA     uint64 `json:"endLBA"`
			SizeBytes  int64  `json:"sizeBytes"`
			TypeGUID   string `json:"typeGUID"`
			TypeName   string `json:"typeName"`
			UniqueGUID string `json:"uniqueGUID"`
			Attributes string `json:"attributes"`
			Role       string `json:"role"`
			FS         *struct {
				Kind            string `json:"kind"`
				ClusterSize     int64  `json:"clusterSize"`
				UsedBytes       int64  `json:"usedBytes"`
				ShrinkableBytes int64  `json:"shrinkableBytes"`
			} `json:"filesystem"`
		} `json:"partitions"`
		WinRE struct {
			Partition         int   `json:"partition"`
			Enabled           bool  `json:"enabled"`
			WIMBytes          int64 `json:"wimBytes"`
			FreeBytes         int64 `json:"freeBytes"`
			RequiredFreeBytes int64 `json:"requiredFreeBytes"`
			Meets             *bool `json:"meetsKB5034441"`
		} `json:"winre"`
		Problems []struct {
			Code, Message, Remedy string
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Scheme != "gpt" || v.SectorSize != 512 || v.DiskGUID != "5bc3b6ba-1e52-4b7c-9a2f-000000000001" || len(v.Partitions) != 4 {
		t.Fatalf("unexpected: %+v", v)
	}
	re := v.Partitions[3]
	if re.Number != 4 || re.TypeGUID != "de94bba4-06d1-4d40-a16a-bfd50179d6ac" || re.Attributes != "0x8000000000000001" || re.Role != "winre" || re.FS == nil || re.FS.Kind != "ntfs" {
		t.Errorf("WinRE partition: %+v", re)
	}
	if v.WinRE.Partition != 4 || !v.WinRE.Enabled || v.WinRE.Meets == nil || *v.WinRE.Meets || v.WinRE.RequiredFreeBytes != 250<<20 {
		t.Errorf("winre: %+v", v.WinRE)
	}
	if len(v.Problems) == 0 || v.Problems[0].Code == "" {
		t.Errorf("problems: %+v", v.Problems)
	}
}

func TestExitCodes(t *testing.T) {
	blank := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(blank, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	hib := testutil.Fixture(t, "gpt-hibernated")
	std := testutil.Fixture(t, "gpt-win11-standard")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"inspect", blank}, exitFailed, ""},
		{[]string{"inspect", "--sector-size", "1000", std}, exitUsage, ""},
		{[]string{"inspect", "a", "b"}, exitUsage, ""},
		{[]string{"nonsense"}, exitUsage, ""},
		{[]string{"plan", std}, exitOK, "Strategy: shrink-os"},
		{[]string{"plan", hib}, exitRefused, "hibernated"},
		{[]string{"plan", "--min-free", "lots", std}, exitUsage, ""},
		{[]string{"script", "--format", "diskpart", std}, exitOK, "diskpart"},
		{[]string{"script", std}, exitOK, "reagentc"},
		{[]string{"script", "--format", "bash", std}, exitUsage, ""},
		{[]string{"apply", hib}, exitRefused, ""},
		{[]string{"apply"}, exitUsage, ""},
		{[]string{"recover", std}, exitFailed, ""},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out, errOut)
		}
		if tc.out != "" && !strings.Contains(strings.ToLower(out), strings.ToLower(tc.out)) {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.out, out)
		}
	}
	code, out, _ := runCLI(t, "plan", "--json", hib)
	var p struct {
		Refused bool `json:"refused"`
		Reasons []struct {
			Code string `json:"code"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != exitRefused || !p.Refused || len(p.Reasons) == 0 {
		t.Errorf("plan --json of a hibernated disk: exit %d, %+v, %v", code, p, err)
	}
}

func TestApplyDryRunThenApply(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	before := testutil.RangeDigest(t, img, 0, 3899654144)
	code, out, errOut := runCLI(t, "apply", img)
	if code != exitOK || !strings.Contains(out, "Dry run") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if testutil.RangeDigest(t, img, 0, 3899654144) != before {
		t.Fatal("the dry run wrote to the image")
	}
	journal := filepath.Join(t.TempDir(), "j")
	code, out, errOut = runCLI(t, "apply", "--yes", "-v", "--journal", journal, img)
	if code != exitOK || !strings.Contains(out, "Verified") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	// -v: one timestamped record per step, from inspection to verification.
	for _, want := range []string{`msg="inspected the disk"`, `msg="journal op"`, `msg="journal complete"`, `msg="applied and verified"`} {
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "time=") {
			t.Errorf("apply -v: stderr lacks %s:\n%s", want, errOut)
		}
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("the completed journal was not removed: %v", err)
	}
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	code, out, _ = runCLI(t, "inspect", img)
	if code != exitOK || !strings.Contains(out, "MEETS the requirement") {
		t.Errorf("inspect after apply: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "apply", "--yes", img)
	if code != exitOK || !strings.Contains(out, "Nothing to do") {
		t.Errorf("second apply: exit %d\n%s", code, out)
	}
}

func TestDemo(t *testing.T) {
	code, out, errOut := runCLI(t)
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"== 1. Inspect", "== 2. Plan", "== 3. Apply", "== 4. Verify", "The disk matches the plan", "MEETS the requirement", "dirty flag on purpose"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"250M": 250 << 20, "1G": 1 << 30, "300MiB": 300 << 20, "262144000": 262144000, "2 GB": 2 << 30, "4k": 4096} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1M", "M", "1.5G", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestEmbeddedSampleIsTheFixture keeps the embedded copy identical to the
// fixture testdata/generate.sh makes.
func TestEmbeddedSampleIsTheFixture(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "testdata", sampleName+".img.sgz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sampleData, want) {
		t.Errorf("examples/winrefix/%s.img.sgz differs from testdata/; copy it again", sampleName)
	}
}
