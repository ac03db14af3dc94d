package winrepart

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from the reference tools")

// fixtureFacts is what testdata/generate.sh put into each fixture.
type fixtureFacts struct {
	gpt       bool
	sector    int64
	os        int   // partition number of C:
	winre     []int // partitions holding \Recovery\WindowsRE\Winre.wim
	active    int   // the WinRE partition ReAgent.xml points at, 0 = disabled
	bitlocker bool  // C: is the BitLocker sample
	hiber     bool  // C: holds a hibernation file
	grown     bool  // backup GPT not at the end of the disk
	diskID    string
}

var fixtures = map[string]fixtureFacts{
	"gpt-win11-standard":    {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, diskID: "01"},
	"gpt-win11-compliant":   {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, diskID: "02"},
	"gpt-win10-winre-first": {gpt: true, sector: 512, os: 4, winre: []int{1}, active: 1, diskID: "03"},
	"gpt-two-recovery":      {gpt: true, sector: 512, os: 4, winre: []int{1, 5}, active: 5, diskID: "04"},
	"gpt-oem-after-winre":   {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, diskID: "05"},
	"gpt-grown":             {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, grown: true, diskID: "06"},
	"gpt-4kn-standard":      {gpt: true, sector: 4096, os: 3, winre: []int{4}, active: 4, diskID: "07"},
	"mbr-sysreserved":       {sector: 512, os: 2, winre: []int{3}, active: 3, diskID: "0x1f2e3d08"},
	"mbr-extended-logical":  {sector: 512, os: 1, winre: []int{6}, active: 6, diskID: "0x1f2e3d09"},
	"gpt-hybrid":            {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, diskID: "10"},
	"gpt-hibernated":        {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, hiber: true, diskID: "11"},
	"gpt-bitlocker-os":      {gpt: true, sector: 512, os: 3, winre: []int{4}, active: 4, bitlocker: true, diskID: "12"},
	"gpt-winre-disabled":    {gpt: true, sector: 512, os: 3, diskID: "13"},
}

// sfdiskDump is the part of `sfdisk --json` the test reads.
type sfdiskDump struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// partition returns the start and size in bytes of partition n (1-based).
func (d *sfdiskDump) partition(t *testing.T, n int) (start, size int64) {
	t.Helper()
	suffix := strconv.Itoa(n)
	for _, p := range d.PartitionTable.Partitions {
		if strings.HasSuffix(p.Node, suffix) && !strings.HasSuffix(p.Node, "1"+suffix) {
			ss := d.PartitionTable.SectorSize
			return p.Start * ss, p.Size * ss
		}
	}
	t.Fatalf("partition %d not in sfdisk output", n)
	return 0, 0
}

// attachLoop attaches img to a free loop device with the given logical
// sector size (0 = default) and detaches it when the test ends.
func attachLoop(t *testing.T, img string, sector int, extra ...string) string {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "losetup")
	args := []string{"-f", "--show"}
	if sector != 0 {
		args = append(args, "--sector-size", strconv.Itoa(sector))
	}
	args = append(args, extra...)
	out, err := testutil.RunErr("losetup", append(args, img)...)
	if err != nil {
		if testutil.ToolsRequired() {
			t.Fatalf("losetup: %v\n%s", err, out)
		}
		t.Skipf("loop devices unavailable: %v %s", err, out)
	}
	dev := strings.TrimSpace(out)
	t.Cleanup(func() {
		if out, err := testutil.RunErr("losetup", "-d", dev); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// onDevice runs fn with a device path presenting the image with the
// given logical sector size: the image itself for 512, a loop device for
// 4096 (sgdisk and sfdisk take the sector size from the device).
func onDevice(t *testing.T, img string, sector int64, fn func(dev string)) {
	t.Helper()
	if sector == 512 {
		fn(img)
		return
	}
	fn(attachLoop(t, img, int(sector), "-r"))
}

func TestFixtures(t *testing.T) {
	testutil.NeedTool(t, "sgdisk", "sfdisk")
	names := testutil.FixtureNames(t)
	var want []string
	for n := range fixtures {
		want = append(want, n)
	}
	if diff := cmp.Diff(len(want), len(names)); diff != "" {
		t.Errorf("fixture count (-described +found): %s; found %v", diff, names)
	}
	for _, name := range names {
		facts, ok := fixtures[name]
		if !ok {
			t.Errorf("fixture %s is not described in this test", name)
			continue
		}
		t.Run(name, func(t *testing.T) { checkFixture(t, name, facts) })
	}
}

func checkFixture(t *testing.T, name string, facts fixtureFacts) {
	img := testutil.Fixture(t, name)
	// The device layer reads what the generator wrote.
	d, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := int64(d.SectorSize()); got != facts.sector {
		t.Errorf("detected sector size %d, want %d", got, facts.sector)
	}
	if facts.sector == 4096 {
		testutil.NeedRoot(t)
	}
	var dumpJSON, verify string
	onDevice(t, img, facts.sector, func(dev string) {
		dumpJSON = strings.ReplaceAll(testutil.Run(t, "sfdisk", "--json", dev), dev, name+".img")
		if facts.gpt {
			verify = strings.ReplaceAll(testutil.Run(t, "sgdisk", "-v", dev), dev, name+".img")
		}
	})
	// sfdisk adds warnings to its output for the grown disk; keep the JSON.
	if i := strings.Index(dumpJSON, "{"); i > 0 {
		dumpJSON = dumpJSON[i:]
	}
	golden(t, name+".sfdisk.json", dumpJSON)
	if facts.gpt {
		golden(t, name+".sgdisk-v.txt", verify)
		switch {
		case facts.grown:
			if strings.Contains(verify, "No problems found") || !strings.Contains(verify, "secondary header") {
				t.Errorf("sgdisk -v on the grown disk should report the misplaced backup header:\n%s", verify)
			}
		case !strings.Contains(verify, "No problems found"):
			t.Errorf("sgdisk -v reports problems:\n%s", verify)
		}
	}
	var dump sfdiskDump
	if err := json.Unmarshal([]byte(dumpJSON), &dump); err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	wantLabel, wantID := "dos", facts.diskID
	if facts.gpt {
		wantLabel, wantID = "gpt", strings.ToUpper("5bc3b6ba-1e52-4b7c-9a2f-0000000000"+facts.diskID)
	}
	if dump.PartitionTable.Label != wantLabel || dump.PartitionTable.ID != wantID {
		t.Errorf("table %s id %s, want %s %s", dump.PartitionTable.Label, dump.PartitionTable.ID, wantLabel, wantID)
	}
	checkVolumes(t, img, &dump, facts)
}

// golden compares got with testdata/golden/<file>, or rewrites it under
// -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", file)
	if *updateGolden {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-golden +now):\n%s", file, diff)
	}
}

var winreLocation = regexp.MustCompile(`<WinreLocation path="([^"]*)" id="(\d+)" offset="(\d+)" guid="(\{[0-9a-f-]+\})"/>`)

// checkVolumes looks inside the NTFS volumes with ntfs-3g through loop
// devices: ReAgent.xml where Windows keeps it, Winre.wim where WinRE is.
func checkVolumes(t *testing.T, img string, dump *sfdiskDump, facts fixtureFacts) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ntfscat", "ntfsinfo", "losetup")
	volume := func(n int) string {
		start, size := dump.partition(t, n)
		return attachLoop(t, img, 0, "-r", "-o", strconv.FormatInt(start, 10), "--sizelimit", strconv.FormatInt(size, 10))
	}
	osDev := volume(facts.os)
	var reagent string
	if facts.bitlocker {
		head := make([]byte, 11)
		f, err := os.Open(osDev)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil || string(head[3:]) != "-FVE-FS-" {
			t.Errorf("C: does not start with a BitLocker boot sector: %q %v", head, err)
		}
	} else {
		reagent = testutil.Run(t, "ntfscat", osDev, `/Windows/System32/Recovery/ReAgent.xml`)
		if facts.hiber {
			if got := firstBytes(t, osDev, "/hiberfil.sys", 4); string(got) != "HIBR" {
				t.Errorf("hiberfil.sys starts with %q, want HIBR", got)
			}
		}
		if facts.active == 0 {
			checkWIMHeader(t, firstBytes(t, osDev, "/Windows/System32/Recovery/Winre.wim", wimHeaderLen))
		}
	}
	for _, n := range facts.winre {
		dev := volume(n)
		x := testutil.Run(t, "ntfscat", dev, `/Recovery/WindowsRE/ReAgent.xml`)
		if n == facts.active && reagent == "" {
			reagent = x
		}
		checkWIMHeader(t, firstBytes(t, dev, "/Recovery/WindowsRE/Winre.wim", wimHeaderLen))
		testutil.Run(t, "ntfsinfo", "-F", "/Recovery/WindowsRE/boot.sdi", dev)
	}
	if strings.Contains(reagent, "\n") && !strings.Contains(reagent, "\r\n") {
		t.Error("ReAgent.xml does not use CRLF line ends")
	}
	m := winreLocation.FindStringSubmatch(reagent)
	if m == nil {
		t.Fatalf("no WinreLocation in ReAgent.xml:\n%s", reagent)
	}
	if facts.active == 0 {
		if m[1] != "" || m[3] != "0" || !strings.Contains(reagent, `<InstallState state="0"/>`) {
			t.Errorf("disabled WinRE, but ReAgent.xml says %q", m[0])
		}
		return
	}
	start, _ := dump.partition(t, facts.active)
	wantGUID, wantID := "{5bc3b6ba-1e52-4b7c-9a2f-0000000000"+facts.diskID+"}", "0"
	if !facts.gpt {
		sig, _ := strconv.ParseUint(facts.diskID, 0, 32)
		wantGUID, wantID = "{00000000-0000-0000-0000-000000000000}", strconv.FormatUint(sig, 10)
	}
	got := []string{m[1], m[2], m[3], m[4]}
	want := []string{`\Recovery\WindowsRE`, wantID, strconv.FormatInt(start, 10), wantGUID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WinreLocation (-want +got):\n%s", diff)
	}
}

// wimHeaderLen is the size of a WIM header; its image count is a
// little-endian uint32 at offset 44.
const wimHeaderLen = 208

func checkWIMHeader(t *testing.T, h []byte) {
	t.Helper()
	if len(h) < wimHeaderLen || string(h[:8]) != "MSWIM\x00\x00\x00" {
		t.Errorf("not a WIM header: %q", h[:min(len(h), 8)])
		return
	}
	if n := binary.LittleEndian.Uint32(h[44:]); n != 1 {
		t.Errorf("WIM image count %d, want 1", n)
	}
}

// firstBytes returns the first n bytes of a file in an NTFS volume,
// without extracting the rest.
func firstBytes(t *testing.T, dev, path string, n int) []byte {
	t.Helper()
	cmd := exec.Command("ntfscat", dev, path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	_, rerr := io.ReadFull(out, b)
	cmd.Process.Kill()
	cmd.Wait()
	if rerr != nil {
		t.Errorf("ntfscat %s: %v", path, rerr)
	}
	return b
}

// TestFixtureWIM extracts one winre.wim whole and asks wimlib about it.
func TestFixtureWIM(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ntfscat", "wimlib-imagex", "sfdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	var dump sfdiskDump
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "--json", img)), &dump); err != nil {
		t.Fatal(err)
	}
	start, size := dump.partition(t, 4)
	dev := attachLoop(t, img, 0, "-r", "-o", strconv.FormatInt(start, 10), "--sizelimit", strconv.FormatInt(size, 10))
	wim := filepath.Join(t.TempDir(), "winre.wim")
	f, err := os.Create(wim)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ntfscat", dev, "/Recovery/WindowsRE/Winre.wim")
	cmd.Stdout = f
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info := testutil.Run(t, "wimlib-imagex", "info", wim)
	for _, want := range []string{"Image Count:    1", "Microsoft Windows Recovery Environment (x64)"} {
		if !strings.Contains(info, want) {
			t.Errorf("wimlib-imagex info lacks %q:\n%s", want, info)
		}
	}
	if fi, err := os.Stat(wim); err != nil || fi.Size() < 420<<20 {
		t.Errorf("winre.wim size %v (%v), want over 420 MiB", fi.Size(), err)
	}
}
