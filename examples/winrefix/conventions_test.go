package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// oneJSON decodes out as exactly one JSON object into v.
func oneJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, out)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON value:\n%s", out)
	}
}

// rawReasonCode returns error.reasons[0].code of a report, with the exact
// key (json.Unmarshal into a struct would also accept "Code").
func rawReasonCode(t *testing.T, out string) string {
	t.Helper()
	var m struct {
		Error struct {
			Reasons []map[string]any `json:"reasons"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m.Error.Reasons) == 0 {
		return ""
	}
	s, _ := m.Error.Reasons[0]["code"].(string)
	return s
}

type reportView struct {
	Command  string `json:"command"`
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exitCode"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reasons []struct {
			Code string `json:"code"`
		} `json:"reasons"`
	} `json:"error"`
	Path    string          `json:"path"`
	Journal string          `json:"journal"`
	DryRun  bool            `json:"dryRun"`
	Changed bool            `json:"changed"`
	Plan    json.RawMessage `json:"plan"`
	Applied *struct {
		Ops      int             `json:"ops"`
		Verified bool            `json:"verified"`
		After    json.RawMessage `json:"after"`
	} `json:"applied"`
	Recovered *struct {
		Action         string `json:"action"`
		State          string `json:"state"`
		JournalRemoved bool   `json:"journalRemoved"`
		ForeignRegions int    `json:"foreignRegions"`
	} `json:"recovered"`
	Warnings []string `json:"warnings"`
}

func TestVersion(t *testing.T) {
	defer func(f func() (*debug.BuildInfo, bool)) { buildInfo = f }(buildInfo)
	buildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/winrepart/winrepart", Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}}}, true
	}
	want := "winrefix v1.4.0 (github.com/winrepart/winrepart, revision 0123456789ab+modified, 2026-01-02T03:04:05Z, go1.26.8)\n"
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitOK || out != want {
			t.Errorf("%v: exit %d, %q (stderr %q), want %q", args, code, out, errOut, want)
		}
	}
	buildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/winrepart/winrepart", Version: "(devel)"}}, true
	}
	if code, out, _ := runCLI(t, "version"); code != exitOK || out != "winrefix (devel) (github.com/winrepart/winrepart)\n" {
		t.Errorf("without VCS facts: %q", out)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d", code)
	}
}

// TestJSONErrors: with --json every command prints one JSON object, errors
// included, with a stable code.
func TestJSONErrors(t *testing.T) {
	blank := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(blank, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	hib := testutil.Fixture(t, "gpt-hibernated")
	std := testutil.Fixture(t, "gpt-win11-standard")
	missing := filepath.Join(t.TempDir(), "missing.img")
	for _, tc := range []struct {
		args      []string
		exit      int
		errCode   string
		reasonHas string
	}{
		{[]string{"inspect", "--json", blank}, exitFailed, errCodeFailed, ""},
		{[]string{"inspect", "--json", missing}, exitFailed, errCodeNotFound, ""},
		{[]string{"inspect", "--json", "--sector-size", "1000", std}, exitUsage, errCodeUsage, ""},
		{[]string{"plan", "--json", "--min-free", "lots", std}, exitUsage, errCodeUsage, ""},
		{[]string{"plan", "--json", "--bogus", std}, exitUsage, errCodeUsage, ""},
		{[]string{"apply", "--json", hib}, exitRefused, errCodeRefused, "hibernated"},
		{[]string{"apply", "--json", "--yes", missing}, exitFailed, errCodeNotFound, ""},
		{[]string{"apply", "--json"}, exitUsage, errCodeUsage, ""},
		{[]string{"recover", "--json", std}, exitFailed, errCodeNotFound, ""},
		{[]string{"recover", "--json", "--mode", "sideways", std}, exitUsage, errCodeUsage, ""},
		{[]string{"script", "--json", std}, exitUsage, errCodeUsage, ""},
		{[]string{"nonsense", "--json"}, exitUsage, errCodeUsage, ""},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.exit {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.exit, out, errOut)
			continue
		}
		var r reportView
		oneJSON(t, out, &r)
		if r.OK || r.ExitCode != tc.exit || r.Error == nil || r.Error.Code != tc.errCode || r.Error.Message == "" || r.Command != tc.args[0] {
			t.Errorf("%v: %s", tc.args, out)
			continue
		}
		if tc.reasonHas != "" && (len(r.Error.Reasons) == 0 || r.Error.Reasons[0].Code != tc.reasonHas || rawReasonCode(t, out) != tc.reasonHas) {
			t.Errorf("%v: reasons %+v, want %s", tc.args, r.Error.Reasons, tc.reasonHas)
		}
	}
}

// TestApplyJSONAndRecover applies with --json -q: one object on stdout,
// nothing on stderr; then recover --json of the (removed) journal.
func TestApplyJSONAndRecover(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	journal := filepath.Join(t.TempDir(), "j")
	code, out, errOut := runCLI(t, "apply", "--json", "-q", "--journal", journal, img)
	var r reportView
	oneJSON(t, out, &r)
	if code != exitOK || !r.OK || !r.DryRun || r.Changed || len(r.Plan) == 0 || r.Applied != nil {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", "--json", "-q", "--yes", "--journal", journal, img)
	r = reportView{}
	oneJSON(t, out, &r)
	if code != exitOK || !r.OK || r.DryRun || !r.Changed || r.Applied == nil || !r.Applied.Verified || r.Applied.Ops == 0 ||
		len(r.Applied.After) == 0 || r.Journal != journal || r.Path != img || r.Warnings == nil {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("apply -q wrote to stderr: %q", errOut)
	}
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
}

// TestSavedPlan: plan --json saved to a file and applied with --plan;
// the same saved plan is refused once the disk changed.
func TestSavedPlan(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	code, out, errOut := runCLI(t, "plan", "--json", img)
	if code != exitOK {
		t.Fatalf("plan: exit %d %s", code, errOut)
	}
	saved := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(saved, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "j")
	code, out, errOut = runCLI(t, "apply", "--plan", saved, "--yes", "-q", "--journal", journal, img)
	if code != exitOK || !strings.Contains(out, "Verified") {
		t.Fatalf("apply --plan: exit %d\n%s%s", code, out, errOut)
	}
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	before := testutil.RangeDigest(t, img, 0, 3899654144)
	code, out, errOut = runCLI(t, "apply", "--json", "--plan", saved, "--yes", "--journal", journal, img)
	var r reportView
	oneJSON(t, out, &r)
	if code != exitRefused || r.Error == nil || r.Error.Code != errCodeChanged {
		t.Errorf("the saved plan applied again: exit %d\n%s%s", code, out, errOut)
	}
	if testutil.RangeDigest(t, img, 0, 3899654144) != before {
		t.Error("a saved plan that no longer fits wrote to the image")
	}
	if code, _, _ := runCLI(t, "apply", "--plan", saved, "--min-free", "300M", img); code != exitUsage {
		t.Errorf("--plan with --min-free: exit %d, want %d", code, exitUsage)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"format": 1, "refused": false, "steps": [{"kind": "write-table", "table": "gpt", "detail": ""}]}`), 0o644)
	code, out, errOut = runCLI(t, "apply", "--json", "--plan", bad, img)
	r = reportView{}
	oneJSON(t, out, &r)
	if code != exitFailed || r.Error == nil || r.Error.Code != errCodeBadPlan || !strings.Contains(errOut, "not a complete saved plan") {
		t.Errorf("incomplete saved plan: exit %d\n%s%s", code, out, errOut)
	}
}

// TestScriptCommand: exit 3 for a refused plan, with the script only when
// Windows can do the job; noop says nothing to do; intune gives two
// scripts.
func TestScriptCommand(t *testing.T) {
	bl := testutil.Fixture(t, "gpt-bitlocker-os")
	std := testutil.Fixture(t, "gpt-win11-standard")
	ok := testutil.Fixture(t, "gpt-win11-compliant")

	code, out, _ := runCLI(t, "script", bl)
	suspend, resize := strings.Index(out, "Suspend-BitLocker"), strings.Index(out, "Resize-Partition")
	if code != exitRefused || suspend < 0 || resize < 0 || suspend > resize || !strings.Contains(out, "bitlocker-os: Windows resizes") {
		t.Errorf("BitLocker: exit %d, suspend at %d, resize at %d\n%s", code, suspend, resize, out)
	}
	code, out, _ = runCLI(t, "script", "--format", "diskpart", bl)
	suspend, shrink := strings.Index(out, "manage-bde -protectors -disable"), strings.Index(out, "shrink desired")
	if code != exitRefused || suspend < 0 || shrink < 0 || suspend > shrink {
		t.Errorf("BitLocker diskpart: exit %d\n%s", code, out)
	}
	code, out, errOut := runCLI(t, "script", "--size", "1T", std)
	if code != exitRefused || strings.Contains(out, "Resize-Partition") || !strings.Contains(out, "exit 1") || !strings.Contains(errOut, "no Windows-side script") {
		t.Errorf("no room: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "script", ok)
	if code != exitOK || !strings.Contains(out, "nothing to do") || !strings.Contains(errOut, "nothing to do") || strings.Contains(out, "Resize-Partition") {
		t.Errorf("noop: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "script", "--format", "intune", std)
	if code != exitOK || !strings.Contains(out, "save as winrepart-detect.ps1") || !strings.Contains(out, "save as winrepart-remediate.ps1") {
		t.Errorf("intune: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "script", "--format", "intune", "--out", dir, std); code != exitOK {
		t.Fatalf("intune --out: exit %d %s", code, errOut)
	}
	for _, name := range []string{"winrepart-detect.ps1", "winrepart-remediate.ps1"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Contains(b, []byte("exit 1")) || bytes.Contains(b, []byte("winrefix")) {
			t.Errorf("%s: %v\n%s", name, err, b)
		}
	}
}

var flagRe = regexp.MustCompile(`(?:^|[\s\[|])--?([a-z][a-z-]*)`)

// flagsIn returns the flag names in a usage line.
func flagsIn(line string) []string {
	var out []string
	for _, m := range flagRe.FindAllStringSubmatch(line, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

var defaultsRe = regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`)

// TestUsageListsEveryFlag compares each command's flag set (as -h prints
// it) with its usage line, the package doc and README.md's CLI section.
func TestUsageListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	lineFor := func(text []byte, prefix, cmd string) string {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `winrefix[ \t]+` + cmd + `([ \t].*)?$`)
		return re.FindString(string(text))
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, c.name, "-h")
			if code != exitOK {
				t.Fatalf("-h: exit %d", code)
			}
			var have []string
			for _, m := range defaultsRe.FindAllStringSubmatch(errOut, -1) {
				have = append(have, m[1])
			}
			slices.Sort(have)
			if !strings.HasPrefix(errOut, usageLines[c.name]+"\n") {
				t.Errorf("-h does not start with the usage line %q:\n%s", usageLines[c.name], errOut)
			}
			for where, line := range map[string]string{
				"usage line":  usageLines[c.name],
				"README.md":   lineFor(readme, "", c.name),
				"package doc": lineFor(doc, "//\t", c.name),
			} {
				if line == "" {
					t.Errorf("%s has no line for %s", where, c.name)
					continue
				}
				if got := flagsIn(line); !slices.Equal(got, have) {
					t.Errorf("%s lists %v, the command takes %v:\n%s", where, got, have, line)
				}
			}
		})
	}
}

// TestRecoverJSON: recover --json of a journal whose apply completed
// reports already-complete and no change.
func TestRecoverJSON(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	journal := filepath.Join(t.TempDir(), "j")
	dev, err := winrepart.OpenImage(img, winrepart.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := winrepart.Apply(context.Background(), dev, planner.New(l, planner.Options{}), winrepart.ApplyOptions{JournalPath: journal}); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	code, out, errOut := runCLI(t, "recover", "--json", "-q", "--journal", journal, img)
	var r reportView
	oneJSON(t, out, &r)
	if code != exitOK || !r.OK || r.Recovered == nil || r.Recovered.Action != "already-complete" || !r.Recovered.JournalRemoved || r.Recovered.State == "" || r.Changed || r.Error != nil {
		t.Errorf("recover --json: exit %d\n%s%s", code, out, errOut)
	}
}
