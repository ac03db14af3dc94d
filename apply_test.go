package winrepart_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre"
)

// ntfsFiles lists every file of the NTFS volume image vol as ntfsls sees it
// and hashes each with ntfscat: path -> SHA-256.
func ntfsFiles(t *testing.T, vol string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "ntfsls", "-R", "-F", "-f", vol)
	files := map[string]string{}
	dir := ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Unnormalized path"), strings.HasPrefix(line, "WARNING"), line == "":
		case strings.HasSuffix(line, ":"):
			dir = strings.TrimSuffix(line, ":")
		case strings.HasSuffix(line, "/"):
		default:
			path := strings.TrimSuffix(dir, "/") + "/" + line
			data, err := testutil.RunErrBytes("ntfscat", "-f", vol, path)
			if err != nil {
				t.Fatalf("ntfscat %s: %v", path, err)
			}
			sum := sha256.Sum256(data)
			files[path] = hex.EncodeToString(sum[:])
		}
	}
	if len(files) == 0 {
		t.Fatalf("ntfsls listed no files:\n%s", out)
	}
	return files
}

var (
	reVolSize = regexp.MustCompile(`(?m)^Current volume size: (\d+) bytes`)
	reInUse   = regexp.MustCompile(`(?m)^Space in use\s*: (\d+) MB`)
)

// ntfsresizeCheck runs ntfsresize --info on vol, fails on any error or
// inconsistency it prints, and returns the volume size and the MB in use.
func ntfsresizeCheck(t *testing.T, vol, what string) (size, usedMB int64) {
	t.Helper()
	out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", vol)
	if err != nil || strings.Contains(out, "ERROR") || strings.Contains(strings.ToLower(out), "inconsisten") {
		t.Fatalf("%s: ntfsresize --info rejects the volume (%v):\n%s", what, err, out)
	}
	m1, m2 := reVolSize.FindStringSubmatch(out), reInUse.FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		t.Fatalf("%s: unexpected ntfsresize output:\n%s", what, out)
	}
	size, _ = strconv.ParseInt(m1[1], 10, 64)
	usedMB, _ = strconv.ParseInt(m2[1], 10, 64)
	return size, usedMB
}

type sfdiskPart struct {
	Node  string `json:"node"`
	Start uint64 `json:"start"`
	Size  uint64 `json:"size"`
	Type  string `json:"type"`
	UUID  string `json:"uuid"`
	Attrs string `json:"attrs"`
}

func sfdiskParts(t *testing.T, img string) []sfdiskPart {
	t.Helper()
	var v struct {
		PT struct {
			Partitions []sfdiskPart `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "--json", img)), &v); err != nil {
		t.Fatal(err)
	}
	return v.PT.Partitions
}

func open(t *testing.T, img string, writable bool) winrepart.DeviceCloser {
	t.Helper()
	dev, err := winrepart.Open(img, winrepart.OpenOptions{Writable: writable})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func inspect(t *testing.T, dev winrepart.Device) *recovery.Layout {
	t.Helper()
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestApplyFixtures applies the plan of every fixture whose plan is
// accepted and checks the result with the reference tools; fixtures whose
// plan is refused, or is a no-op, must come out byte for byte unchanged.
func TestApplyFixtures(t *testing.T) {
	testutil.NeedTool(t, "sgdisk", "sfdisk", "ntfsresize", "ntfsls", "ntfscat")
	cases := []struct {
		fixture  string
		strategy planner.Strategy
		refused  bool
		err      error // expected Apply error (nothing written)
		grow     int64 // bytes added to the image first (a VM disk enlarged)
	}{
		{fixture: "gpt-win11-standard", strategy: planner.StrategyShrinkOS},
		{fixture: "gpt-two-recovery", strategy: planner.StrategyShrinkOS},
		{fixture: "gpt-oem-after-winre", strategy: planner.StrategyShrinkOS},
		{fixture: "gpt-grown", strategy: planner.StrategyGrowInPlace},
		{fixture: "gpt-4kn-standard", strategy: planner.StrategyShrinkOS},
		{fixture: "gpt-win10-winre-first", strategy: planner.StrategyRelocate},
		{fixture: "gpt-hybrid", strategy: planner.StrategyShrinkOS},
		{fixture: "gpt-win11-compliant", strategy: planner.StrategyNoop},
		{fixture: "mbr-extended-logical", refused: true},
		{fixture: "mbr-sysreserved", refused: true},
		{fixture: "mbr-sysreserved", grow: 1 << 30, strategy: planner.StrategyGrowInPlace},
		{fixture: "gpt-hibernated", refused: true},
		{fixture: "gpt-bitlocker-os", refused: true},
		{fixture: "gpt-winre-disabled", refused: true},
	}
	for _, tc := range cases {
		name := tc.fixture
		if tc.grow > 0 {
			name += "-grown"
		}
		t.Run(name, func(t *testing.T) {
			img := testutil.Fixture(t, tc.fixture)
			if tc.grow > 0 {
				fi, err := os.Stat(img)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(img, fi.Size()+tc.grow); err != nil {
					t.Fatal(err)
				}
			}
			journalPath := filepath.Join(t.TempDir(), "journal")
			dev := open(t, img, true)
			before := inspect(t, dev)
			p := planner.New(before, planner.Options{})
			if p.Refused != tc.refused || (!tc.refused && p.Strategy != tc.strategy) {
				t.Fatalf("plan: refused %v strategy %s, want refused %v strategy %s\n%s", p.Refused, p.Strategy, tc.refused, tc.strategy, p)
			}
			imgSum := testutil.RangeDigest(t, img, 0, dev.Size())
			if tc.refused || len(p.Steps) == 0 || tc.err != nil {
				_, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: journalPath})
				switch {
				case tc.refused && !errors.Is(err, winrepart.ErrRefused):
					t.Errorf("Apply of a refused plan: %v, want ErrRefused", err)
				case tc.err != nil && !errors.Is(err, tc.err):
					t.Errorf("Apply: %v, want %v", err, tc.err)
				case !tc.refused && tc.err == nil && err != nil:
					t.Errorf("Apply of a no-op plan: %v", err)
				}
				if got := testutil.RangeDigest(t, img, 0, dev.Size()); got != imgSum {
					t.Errorf("the image changed although nothing was to be written")
				}
				return
			}
			checkApply(t, img, dev, before, p, journalPath)
		})
	}
}

// checkApply applies p to dev (the image img) and checks the result.
func checkApply(t *testing.T, img string, dev winrepart.Device, before *recovery.Layout, p *planner.Plan, journalPath string) {
	t.Helper()

	osP, reP := before.Partition(before.OS), before.Partition(before.WinRE.Partition)
	// What must not change: the files of C: and WinRE, and every other
	// partition byte for byte.
	osFiles := ntfsFiles(t, testutil.ExtractPartition(t, img, osP.StartBytes(before.SectorSize), osP.SizeBytes))
	reFiles := ntfsFiles(t, testutil.ExtractPartition(t, img, reP.StartBytes(before.SectorSize), reP.SizeBytes))
	others := map[int]string{}
	for _, q := range before.Partitions {
		if q.Number != osP.Number && q.Number != reP.Number {
			others[q.Number] = testutil.RangeDigest(t, img, q.StartBytes(before.SectorSize), q.SizeBytes)
		}
	}

	res, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: journalPath})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Logf("%s: %d ops, %d bytes of metadata, %d bytes moved", p.Strategy, res.Ops, res.BytesWritten, res.BytesCopied)
	after := res.After

	if before.Scheme == recovery.SchemeGPT {
		out := testutil.Run(t, "sgdisk", "-v", img)
		if before.SectorSize != 512 {
			// sgdisk reads image files as 512-byte sectors; the 4Kn table
			// is checked through a loop device below when root.
			out = sgdisk4Kn(t, img)
		}
		if !strings.Contains(out, "No problems found") {
			t.Errorf("sgdisk -v after apply:\n%s", out)
		}
	}
	if before.Scheme == recovery.SchemeMBR {
		if out, _ := testutil.RunErr("sfdisk", "--verify", img); !strings.Contains(out, "No errors detected") {
			t.Errorf("sfdisk --verify after apply:\n%s", out)
		}
	}
	if before.Scheme == recovery.SchemeGPT && before.SectorSize == 512 {
		parts := sfdiskParts(t, img)
		for _, sp := range parts {
			if strings.HasSuffix(sp.Node, strconv.Itoa(reP.Number)) {
				if !strings.EqualFold(sp.UUID, reP.UniqueGUID.String()) || !strings.EqualFold(sp.Type, "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC") || sp.Attrs != "RequiredPartition GUID:63" {
					t.Errorf("WinRE entry after apply per sfdisk: %+v", sp)
				}
			}
		}
	}
	osA, reA := after.Partition(osP.Number), after.Partition(p.WinRE.Partition)
	osVol := testutil.ExtractPartition(t, img, osA.StartBytes(after.SectorSize), osA.SizeBytes)
	reVol := testutil.ExtractPartition(t, img, reA.StartBytes(after.SectorSize), reA.SizeBytes)
	ntfsresizeCheck(t, osVol, "C:")
	size, usedMB := ntfsresizeCheck(t, reVol, "WinRE")
	if free := size - usedMB*1000000; free < winre.MinFreeKB5034441-1000000 {
		t.Errorf("WinRE has %d bytes free per ntfsresize, want >= 250 MiB", free)
	}
	if before.Scheme == recovery.SchemeGPT && (reA.UniqueGUID != reP.UniqueGUID || reA.Attributes != 0x8000000000000001) {
		t.Errorf("WinRE entry: guid %s attributes %s", reA.UniqueGUID, reA.Attributes)
	}
	if !after.WinRE.MeetsKB5034441 {
		t.Errorf("inspect after apply: %s", after.WinRE)
	}

	osAfter := ntfsFiles(t, osVol)
	reAfter := ntfsFiles(t, reVol)
	for path, sum := range reFiles {
		if reAfter[path] != sum {
			t.Errorf("WinRE file %s changed", path)
		}
	}
	for path, sum := range osFiles {
		if strings.EqualFold(path, "/Windows/System32/Recovery/ReAgent.xml") {
			continue
		}
		if osAfter[path] != sum {
			t.Errorf("C: file %s changed", path)
		}
	}
	if len(osAfter) != len(osFiles) || len(reAfter) != len(reFiles) {
		t.Errorf("file counts changed: C: %d -> %d, WinRE %d -> %d", len(osFiles), len(osAfter), len(reFiles), len(reAfter))
	}
	raw, err := testutil.RunErrBytes("ntfscat", "-f", osVol, "/Windows/System32/Recovery/ReAgent.xml")
	if err != nil {
		t.Fatal(err)
	}
	ra, err := winre.ParseReAgent(raw)
	if err != nil {
		t.Fatalf("ReAgent.xml after apply: %v", err)
	}
	if want := uint64(reA.StartBytes(after.SectorSize)); ra.WinreLocation.Offset != want {
		t.Errorf("ReAgent.xml offset %d, WinRE starts at %d", ra.WinreLocation.Offset, want)
	}
	for n, sum := range others {
		q := after.Partition(n)
		if q == nil {
			t.Errorf("partition %d gone", n)
			continue
		}
		if got := testutil.RangeDigest(t, img, q.StartBytes(after.SectorSize), q.SizeBytes); got != sum {
			t.Errorf("partition %d changed", n)
		}
	}
	if t.Failed() {
		t.Logf("plan:\n%s\nafter:\n%s", p, after)
	}
}

// sgdisk4Kn runs sgdisk -v on a 4Kn image through a loop device with
// 4096-byte sectors.
func sgdisk4Kn(t *testing.T, img string) string {
	t.Helper()
	testutil.NeedRoot(t)
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "--sector-size", "4096", img))
	defer testutil.Run(t, "losetup", "-d", dev)
	return testutil.Run(t, "sgdisk", "-v", dev)
}

// TestApplyBlockDevice applies a plan through a loop device, the way it
// runs on a real disk: exclusive open, kernel sizes, partition re-read.
func TestApplyBlockDevice(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "losetup", "sgdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	loop := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { testutil.RunErr("losetup", "-d", loop) })
	dev, err := winrepart.Open(loop, winrepart.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, ok := dev.(*winrepart.BlockDevice); !ok {
		t.Fatalf("Open(%s) gave %T, want a *BlockDevice", loop, dev)
	}
	// A second writable open must fail: the device is held exclusively.
	if d2, err := winrepart.Open(loop, winrepart.OpenOptions{Writable: true}); err == nil {
		d2.Close()
		t.Error("a second writable open of the loop device succeeded")
	}
	l := inspect(t, dev)
	p := planner.New(l, planner.Options{})
	res, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")})
	if err != nil {
		t.Fatalf("Apply on %s: %v", loop, err)
	}
	for _, w := range res.Warnings {
		t.Logf("warning: %s", w)
	}
	if out := testutil.Run(t, "sgdisk", "-v", loop); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", loop, out)
	}
	if !res.After.WinRE.MeetsKB5034441 {
		t.Errorf("after: %s", res.After.WinRE)
	}
}

// TestApplyCancelThenRecover cancels Apply in the middle of the WinRE data
// copy and recovers from the journal: the disk must end in the planned
// state (the overlapping copy began, so Auto rolls forward), and a second
// Recover must change nothing.
func TestApplyCancelThenRecover(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	dev := open(t, img, true)
	l := inspect(t, dev)
	p := planner.New(l, planner.Options{})
	journalPath := filepath.Join(t.TempDir(), "j")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := false
	progress := func(pr winrepart.Progress) {
		if strings.Contains(pr.Step, "used clusters") && pr.BytesDone > 0 && !cancelled {
			cancelled = true
			cancel()
		}
	}
	_, err := winrepart.Apply(ctx, dev, p, winrepart.ApplyOptions{JournalPath: journalPath, Progress: progress})
	if !cancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply: cancelled %v, err %v; want context.Canceled mid-copy", cancelled, err)
	}
	res, err := winrepart.Recover(context.Background(), dev, journalPath, winrepart.RecoverOptions{KeepJournal: true})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if res.Action != winrepart.RolledForward || !res.Action.Changed() || res.JournalRemoved {
		t.Errorf("Recover: %+v, want rolled forward with the journal kept", res)
	}
	if err := p.Verify(inspect(t, dev)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	sum := testutil.RangeDigest(t, img, 0, dev.Size())
	// Again, without KeepJournal: nothing is written, the journal goes.
	res, err = winrepart.Recover(context.Background(), dev, journalPath, winrepart.RecoverOptions{})
	if err != nil || res.Action != winrepart.AlreadyComplete || res.Action.Changed() || !res.JournalRemoved || res.ForeignRegions != 0 {
		t.Errorf("second Recover: %+v, %v; want already complete, journal removed", res, err)
	}
	if _, err := os.Stat(journalPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal is still there after Recover: %v", err)
	}
	if testutil.RangeDigest(t, img, 0, dev.Size()) != sum {
		t.Error("a second Recover changed the disk")
	}
	// With the journal gone, a third Recover says so and writes nothing.
	if _, err := winrepart.Recover(context.Background(), dev, journalPath, winrepart.RecoverOptions{}); !errors.Is(err, winrepart.ErrNoJournal) {
		t.Errorf("Recover without a journal: %v, want ErrNoJournal", err)
	}
	if testutil.RangeDigest(t, img, 0, dev.Size()) != sum {
		t.Error("a Recover without a journal changed the disk")
	}
}

// TestRecoverTwinDisk runs Recover with a complete journal against a twin
// of the disk it changed (same fixture, same size, never applied): it must
// write nothing, say that the journal's regions do not hold its new bytes,
// and keep the journal; on the disk it changed, it removes it.
func TestRecoverTwinDisk(t *testing.T) {
	img := testutil.Fixture(t, "gpt-win11-standard")
	twin := testutil.Fixture(t, "gpt-win11-standard")
	dev := open(t, img, true)
	p := planner.New(inspect(t, dev), planner.Options{})
	journalPath := filepath.Join(t.TempDir(), "j")
	if _, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: journalPath}); err != nil {
		t.Fatal(err)
	}
	tdev := open(t, twin, true)
	sum := testutil.RangeDigest(t, twin, 0, tdev.Size())
	res, err := winrepart.Recover(context.Background(), tdev, journalPath, winrepart.RecoverOptions{})
	if err != nil {
		t.Fatalf("Recover on the twin: %v", err)
	}
	if res.Action != winrepart.AlreadyComplete || res.ForeignRegions == 0 || res.JournalRemoved || len(res.Warnings) == 0 {
		t.Errorf("Recover on the twin: %+v; want already complete with foreign regions, journal kept, a warning", res)
	}
	if testutil.RangeDigest(t, twin, 0, tdev.Size()) != sum {
		t.Error("Recover wrote to the twin")
	}
	if _, err := os.Stat(journalPath); err != nil {
		t.Errorf("the journal is gone after the twin: %v", err)
	}
	t.Logf("twin: %d of the journal's regions hold their old bytes: %s", res.ForeignRegions, res.Warnings)
	res, err = winrepart.Recover(context.Background(), dev, journalPath, winrepart.RecoverOptions{})
	if err != nil || res.Action != winrepart.AlreadyComplete || res.ForeignRegions != 0 || !res.JournalRemoved {
		t.Errorf("Recover on the disk it changed: %+v, %v; want already complete, journal removed", res, err)
	}
}

// TestApplyRefusesChangedDisk plans a disk, changes its partition table
// behind the plan's back, and checks that Apply refuses and writes nothing.
func TestApplyRefusesChangedDisk(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	img := testutil.Fixture(t, "gpt-win11-standard")
	dev := open(t, img, true)
	p := planner.New(inspect(t, dev), planner.Options{})
	// Someone renames a partition after planning: the table CRCs change.
	testutil.Run(t, "sgdisk", "-c", "1:changed", img)
	sum := testutil.RangeDigest(t, img, 0, dev.Size())
	_, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")})
	if !errors.Is(err, winrepart.ErrChanged) {
		t.Fatalf("Apply on a changed disk: %v, want ErrChanged", err)
	}
	if testutil.RangeDigest(t, img, 0, dev.Size()) != sum {
		t.Error("Apply wrote to a disk that changed since planning")
	}
}
