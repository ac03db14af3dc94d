package winrepart_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/winre"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// mbrBCD is a BCD with WinRE entries for the mbr-sysreserved fixture:
// System Reserved (partition 1) at 1 MiB, C: at 101 MiB, WinRE at
// 3173 MiB, disk signature 0x1f2e3d08.
var mbrBCD = bcdtest.Store{DiskSignature: 0x1f2e3d08, SystemOffset: 1 << 20, OSOffset: 101 << 20, WinREOffset: 3173 << 20}

// mbrBCDFixture returns a copy of mbr-sysreserved whose System Reserved
// holds a real BCD store with WinRE entries (written into the volume with
// ntfscp).
func mbrBCDFixture(t *testing.T) string {
	t.Helper()
	img := testutil.Fixture(t, "mbr-sysreserved")
	bcdtest.Install(t, img, 1<<20, 100<<20, bcdtest.Build(t, mbrBCD))
	return img
}

// hivexValues flattens hivexml's output: key path\value name -> type and
// data as hivexml prints them.
func hivexValues(t *testing.T, hive string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "hivexml", hive)
	type value struct {
		Type    string   `xml:"type,attr"`
		Key     string   `xml:"key,attr"`
		Value   string   `xml:"value,attr"`
		Strings []string `xml:"string"`
	}
	type node struct {
		Name   string  `xml:"name,attr"`
		Nodes  []node  `xml:"node"`
		Values []value `xml:"value"`
	}
	var doc struct {
		Root node `xml:"node"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	var walk func(path string, n node)
	walk = func(path string, n node) {
		for _, v := range n.Values {
			m[path+`\`+v.Key] = v.Type + ":" + strings.Join(strings.Fields(v.Value), "") + strings.Join(v.Strings, "|")
		}
		for _, c := range n.Nodes {
			walk(path+`\`+c.Name, c)
		}
	}
	walk("", doc.Root)
	return m
}

// TestApplyMBRWithBCD fixes an MBR disk whose WinRE must move (System
// Reserved, C:, WinRE too small at the end of the disk, a BCD with WinRE
// entries) and judges the result with sfdisk, ntfsresize, ntfscat and
// hivexml.
func TestApplyMBRWithBCD(t *testing.T) {
	testutil.NeedTool(t, "sfdisk", "ntfsresize", "ntfscat", "ntfsls", "hivexml")
	img := mbrBCDFixture(t)
	dev := open(t, img, true)
	before := inspect(t, dev)
	if err := before.PatchableForMove(); err != nil {
		t.Fatalf("PatchableForMove: %v\n%s", err, before)
	}
	p := planner.New(before, planner.Options{BCDPatching: true})
	if p.Refused || p.Strategy != planner.StrategyShrinkOS || !slices.ContainsFunc(p.Steps, func(s planner.Step) bool { _, ok := s.(planner.PatchBCD); return ok }) {
		t.Fatalf("plan:\n%s", p)
	}
	sysVolBefore := testutil.ExtractPartition(t, img, 1<<20, 100<<20)
	sysFiles := ntfsFiles(t, sysVolBefore)
	hiveBefore := filepath.Join(t.TempDir(), "BCD.before")
	writeNTFSFile(t, sysVolBefore, `/Boot/BCD`, hiveBefore)

	res, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "journal")})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	after := res.After
	reA := after.Partition(p.WinRE.Partition)
	newOff := reA.StartBytes(after.SectorSize)
	if newOff == int64(mbrBCD.WinREOffset) {
		t.Fatal("WinRE did not move")
	}

	// The table: sfdisk --verify prints "No errors detected" (it exits 0
	// either way); the disk signature is unchanged.
	if out, _ := testutil.RunErr("sfdisk", "--verify", img); !strings.Contains(out, "No errors detected") {
		t.Errorf("sfdisk --verify:\n%s", out)
	}
	var dump struct {
		PT struct {
			ID string `json:"id"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "--json", img)), &dump); err != nil {
		t.Fatal(err)
	}
	if dump.PT.ID != "0x1f2e3d08" {
		t.Errorf("disk signature %s after apply", dump.PT.ID)
	}
	// Every volume passes ntfsresize --info.
	vols := map[int]string{}
	for _, q := range after.Partitions {
		vols[q.Number] = testutil.ExtractPartition(t, img, q.StartBytes(after.SectorSize), q.SizeBytes)
		ntfsresizeCheck(t, vols[q.Number], "partition "+string(q.Role))
	}
	// ReAgent.xml: the new offset and the disk signature as id.
	raw, err := testutil.RunErrBytes("ntfscat", "-f", vols[after.OS], "/Windows/System32/Recovery/ReAgent.xml")
	if err != nil {
		t.Fatal(err)
	}
	ra, err := winre.ParseReAgent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ra.WinreLocation.Offset != uint64(newOff) || ra.WinreLocation.ID != 0x1f2e3d08 {
		t.Errorf("ReAgent.xml WinreLocation offset %d id %d, want %d and %d", ra.WinreLocation.Offset, ra.WinreLocation.ID, newOff, 0x1f2e3d08)
	}
	// The BCD: hivexml shows the new offset in the three WinRE device
	// elements and nothing else changed.
	hiveAfter := filepath.Join(t.TempDir(), "BCD.after")
	writeNTFSFile(t, vols[1], `/Boot/BCD`, hiveAfter)
	vb, va := hivexValues(t, hiveBefore), hivexValues(t, hiveAfter)
	if len(vb) != len(va) || len(vb) < 20 {
		t.Fatalf("hivexml: %d values before, %d after", len(vb), len(va))
	}
	var changed []string
	for k, v := range vb {
		if va[k] != v {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	want := []string{
		`\Objects\{` + bcdtest.WinRELoader.String() + `}\Elements\11000001\Element`,
		`\Objects\{` + bcdtest.WinRELoader.String() + `}\Elements\21000001\Element`,
		`\Objects\{` + bcdtest.WinREOptions.String() + `}\Elements\31000003\Element`,
	}
	if !slices.Equal(changed, want) {
		t.Errorf("hivexml: values changed %q, want %q", changed, want)
	}
	hb, err := os.ReadFile(hiveBefore)
	if err != nil {
		t.Fatal(err)
	}
	ha, err := os.ReadFile(hiveAfter)
	if err != nil {
		t.Fatal(err)
	}
	if len(ha) != len(hb) || string(ha[:4096]) != string(hb[:4096]) {
		t.Errorf("the hive's length or base block changed")
	}
	diffs := 0
	var newLE, oldLE [8]byte
	binary.LittleEndian.PutUint64(newLE[:], uint64(newOff))
	binary.LittleEndian.PutUint64(oldLE[:], mbrBCD.WinREOffset)
	for i := range hb {
		if hb[i] != ha[i] {
			diffs++
		}
	}
	if n := strings.Count(string(ha), string(newLE[:])); n != 3 || strings.Count(string(ha), string(oldLE[:])) != 0 || diffs == 0 || diffs > 24 {
		t.Errorf("the new offset appears %d times in the hive (want 3), %d bytes differ", n, diffs)
	}
	// System Reserved: every other file unchanged.
	sysAfter := ntfsFiles(t, vols[1])
	for path, sum := range sysFiles {
		if path != "/Boot/BCD" && sysAfter[path] != sum {
			t.Errorf("System Reserved file %s changed", path)
		}
	}
	// Inspect after: the chain resolves to the moved WinRE.
	if b := after.BCD; b == nil || !b.Resolves || after.WinRE.Partition != reA.Number || !after.WinRE.MeetsKB5034441 {
		t.Errorf("after apply:\n%s", after)
	}
	if t.Failed() {
		t.Logf("plan:\n%s\nafter:\n%s", p, after)
	}
}

// writeNTFSFile copies path out of the NTFS volume image vol with ntfscat.
func writeNTFSFile(t *testing.T, vol, path, out string) {
	t.Helper()
	b, err := testutil.RunErrBytes("ntfscat", "-f", vol, path)
	if err != nil {
		t.Fatalf("ntfscat %s: %v", path, err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPlanMBRBCDRefusals: without a usable BCD the move stays refused, and
// the layout says why.
func TestPlanMBRBCDRefusals(t *testing.T) {
	img := testutil.Fixture(t, "mbr-sysreserved") // \Boot\BCD is placeholder text
	l := inspect(t, open(t, img, false))
	err := l.PatchableForMove()
	if err == nil || !strings.Contains(err.Error(), "BCD") {
		t.Fatalf("PatchableForMove: %v", err)
	}
	p := planner.New(l, planner.Options{BCDPatching: err == nil})
	if !p.Refused || p.Reasons[0].Code != planner.CodeBCDMove {
		t.Errorf("plan:\n%s", p)
	}
}
