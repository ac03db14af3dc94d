package winrepart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// relocLayouts are disks whose C: holds tailFiles small files in its tail
// (see crashLayout.tailFiles): the plan shrinks C: by moving them.
var (
	relocSmall = crashLayout{name: "tail-2000", osMiB: 192, reMiB: 48, minFree: 24 * miniMiB, strategy: planner.StrategyShrinkOS,
		tailFiles: 2000, fillerMiB: 140}
	relocIssue = crashLayout{name: "tail-100000", osMiB: 1536, reMiB: 48, minFree: planner.DefaultMinFreeBytes, strategy: planner.StrategyShrinkOS,
		tailFiles: 100_000, fillerMiB: 800}
)

// TestApplyRelocatingTail is the issue's end to end case: a disk whose C:
// holds its files in the tail the fix cuts off is fixed by the real
// apply path (inspect, plan with the Relocator, Apply on the image file
// with a journal), and the reference tools judge the result: sgdisk -v,
// ntfsresize --info and ntfsfix -n on both NTFS volumes, fls -r lists the
// same files on C: before and after, every file recovered by The Sleuth
// Kit (tsk_recover, the library icat uses) has its SHA-256 from before,
// icat agrees on a sample, and ReAgent.xml (ntfscat) points at WinRE.
// The 100,000-file disk runs without -short; a 2,000-file one always.
func TestApplyRelocatingTail(t *testing.T) {
	cases := []crashLayout{relocSmall}
	if !testing.Short() {
		cases = append(cases, relocIssue)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { applyRelocating(t, c) })
	}
}

func applyRelocating(t *testing.T, c crashLayout) {
	testutil.NeedTool(t, "sgdisk", "ntfsresize", "ntfsfix", "ntfscat", "fls", "icat", "tsk_recover")
	start := time.Now()
	d := buildCrashDisk(t, c)
	built := time.Since(start)
	ctx := context.Background()
	dev, err := Open(d.img, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	l, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	osP := l.Partition(d.osN)
	if f := osP.FS; f == nil || f.ShrinkableBytes >= 64*miniMiB {
		t.Fatalf("C:'s tail is not in use as built: %+v", f)
	}
	opts := planner.Options{MinFreeBytes: c.minFree}
	if p := planner.New(l, opts); !p.Refused || p.Reasons[0].Code != planner.CodeOSTailInUse {
		t.Fatalf("without a relocator: want os-tail-in-use, got\n%s", p)
	}
	opts.Relocator = NewRelocator(dev, l)
	planStart := time.Now()
	p := planner.New(l, opts)
	planned := time.Since(planStart)
	if p.Refused || p.Strategy != c.strategy {
		t.Fatalf("plan: want %s, got\n%s", c.strategy, p)
	}
	var shrink planner.ShrinkFilesystem
	for _, s := range p.Steps {
		if sf, ok := s.(planner.ShrinkFilesystem); ok {
			shrink = sf
		}
	}
	if shrink.MovedBytes <= 0 || shrink.MovedFiles <= 0 {
		t.Fatalf("the plan moves nothing:\n%s", p)
	}
	osVolBefore := testutil.ExtractPartition(t, d.img, osP.StartBytes(512), osP.SizeBytes)
	flsBefore := flsPaths(t, osVolBefore)
	os.Remove(osVolBefore)

	applyStart := time.Now()
	res, err := Apply(ctx, dev, p, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "journal")})
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, p)
	}
	applied := time.Since(applyStart)
	t.Logf("%d files on C:, built in %v; plan in %v: %s; apply in %v: %d ops, %d bytes of metadata, %d bytes copied",
		len(d.osFiles), built.Round(time.Millisecond), planned.Round(time.Millisecond), shrink.Detail(),
		applied.Round(time.Millisecond), res.Ops, res.BytesWritten, res.BytesCopied)
	if res.BytesCopied < shrink.MovedBytes {
		t.Errorf("Apply copied %d bytes, the plan moves %d out of C:'s tail alone", res.BytesCopied, shrink.MovedBytes)
	}

	if out := testutil.Run(t, "sgdisk", "-v", d.img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	after := res.After
	osA, reA := after.Partition(d.osN), after.Partition(d.reN)
	osVol := testutil.ExtractPartition(t, d.img, osA.StartBytes(512), osA.SizeBytes)
	reVol := testutil.ExtractPartition(t, d.img, reA.StartBytes(512), reA.SizeBytes)
	for _, v := range []struct{ name, vol string }{{"C:", osVol}, {"WinRE", reVol}} {
		out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", v.vol)
		if err != nil || strings.Contains(out, "ERROR") || strings.Contains(strings.ToLower(out), "inconsisten") {
			t.Errorf("%s: ntfsresize --info: %v\n%s", v.name, err, out)
		}
		out, err = testutil.RunErr("ntfsfix", "-n", v.vol)
		if err != nil || regexp.MustCompile(`(?i)BAD|error|corrupt|inconsisten|fail`).MatchString(out) || !strings.Contains(out, "processed successfully") {
			t.Errorf("%s: ntfsfix -n: %v\n%s", v.name, err, out)
		}
	}
	flsAfter := flsPaths(t, osVol)
	if len(flsAfter) != len(flsBefore) {
		t.Errorf("fls -r lists %d entries on C: after, %d before", len(flsAfter), len(flsBefore))
	}
	for p := range flsBefore {
		if _, ok := flsAfter[p]; !ok {
			t.Errorf("fls -r no longer lists %s", p)
		}
	}
	// Every file's content, as The Sleuth Kit reads it.
	got := tskRecover(t, osVol)
	for path, want := range d.osFiles {
		if path == crashReAgent {
			continue
		}
		if got[path] != want {
			t.Errorf("C: %s: sha256 %q after, %s before", path, got[path], want)
		}
	}
	n := 0
	for path, want := range d.osFiles {
		if n++; n%max(len(d.osFiles)/50, 1) != 0 || path == crashReAgent {
			continue
		}
		if sum := sha(bytesOf(t, "icat", osVol, flsAfter[strings.TrimPrefix(path, "/")])); sum != want {
			t.Errorf("icat %s: sha256 %s, want %s", path, sum, want)
		}
	}
	for path, want := range d.reFiles {
		data, err := testutil.RunErrBytes("ntfscat", "-f", reVol, path)
		if err != nil || sha(data) != want {
			t.Errorf("WinRE %s: %v, sha256 differs: %v", path, err, sha(data) != want)
		}
	}
	ra, err := testutil.RunErrBytes("ntfscat", "-f", osVol, crashReAgent)
	if err != nil {
		t.Fatal(err)
	}
	m := crashOffsetRE.FindSubmatch(ra)
	if off, _ := strconv.ParseInt(string(m[1]), 10, 64); m == nil || off != reA.StartBytes(512) {
		t.Errorf("ReAgent.xml offset %s, WinRE starts at byte %d", m, reA.StartBytes(512))
	}
	if after.WinRE.FreeBytes < p.WinRE.RequiredFreeBytes {
		t.Errorf("WinRE has %d bytes free after apply, the plan requires %d", after.WinRE.FreeBytes, p.WinRE.RequiredFreeBytes)
	}
}

// flsPaths maps the allocated paths `fls -r -p` lists on vol to their
// metadata addresses.
func flsPaths(t *testing.T, vol string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "fls", "-r", "-p", vol)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		tab := strings.IndexByte(line, '\t')
		if tab < 0 || strings.Contains(line[:tab], "*") {
			continue
		}
		f := strings.Fields(line[:tab])
		if len(f) != 2 {
			continue
		}
		m[line[tab+1:]] = strings.TrimSuffix(f[1], ":")
	}
	if len(m) == 0 {
		t.Fatalf("fls -r -p listed nothing:\n%s", out)
	}
	return m
}

// tskRecover extracts every allocated file of vol with tsk_recover and
// returns their SHA-256 by path ("/Users/...").
func tskRecover(t *testing.T, vol string) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "recovered")
	testutil.Run(t, "tsk_recover", "-a", vol, dir)
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sums["/"+filepath.ToSlash(rel)] = sha(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return sums
}

// bytesOf runs a tool and returns its standard output.
func bytesOf(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := testutil.RunErrBytes(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out
}

// TestApplyPreparedRelocation checks that Apply carries out the
// relocation the planner's Relocator planned instead of planning it
// again, and that doing so changes nothing: the same disk applied with
// the plan read back from JSON (which has no prepared relocation, so
// Apply plans it itself) ends byte for byte the same. A disk changed
// after planning, in bytes the relocation writes but nothing the plan's
// preconditions look at, is refused with ErrChanged and left as it was.
func TestApplyPreparedRelocation(t *testing.T) {
	d := buildCrashDisk(t, relocSmall)
	ctx := context.Background()
	plan := func(img string) (DeviceCloser, *planner.Plan, *preparedShrink) {
		dev, err := Open(img, OpenOptions{Writable: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		l, err := recovery.Inspect(ctx, dev, recovery.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := planner.New(l, planner.Options{MinFreeBytes: relocSmall.minFree, Relocator: NewRelocator(dev, l)})
		if p.Refused {
			t.Fatalf("plan refused:\n%s", p)
		}
		for _, s := range p.Steps {
			if sf, ok := s.(planner.ShrinkFilesystem); ok {
				if ps, ok := sf.Prepared.(*preparedShrink); ok && ps.plan.Load() != nil {
					return dev, p, ps
				}
			}
		}
		t.Fatalf("the plan's shrink of C: has no prepared relocation:\n%s", p)
		return nil, nil, nil
	}
	copyImg := func() string {
		b, err := os.ReadFile(d.img)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "copy.img")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reread, changed := copyImg(), copyImg()

	dev, p, ps := plan(d.img)
	if _, err := Apply(ctx, dev, p, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if ps.plan.Load() != nil {
		t.Error("Apply planned the relocation again: the prepared one is still there")
	}

	dev2, p2, _ := plan(reread)
	js, err := json.Marshal(p2)
	if err != nil {
		t.Fatal(err)
	}
	var back planner.Plan
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, dev2, &back, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); err != nil {
		t.Fatalf("Apply of the plan read back from JSON: %v", err)
	}
	a, b := sha256File(t, d.img), sha256File(t, reread)
	if a != b {
		t.Errorf("the disk applied with the prepared relocation (%s) differs from the one applied with a fresh one (%s)", a, b)
	}

	// Mark one free cluster of a copy's destination in use in C:'s
	// $Bitmap: the planner sees no difference, the relocation's $Bitmap
	// write does.
	dev3, p3, ps3 := plan(changed)
	sp := ps3.plan.Load()
	var osOff int64
	for _, s := range p3.Steps {
		if sf, ok := s.(planner.ShrinkFilesystem); ok {
			osOff = sf.Offset
		}
	}
	v, err := ntfs.Open(io.NewSectionReader(dev3, osOff, dev3.Size()-osOff), dev3.Size()-osOff)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := v.ReadRecord(ntfs.RecordBitmap)
	if err != nil {
		t.Fatal(err)
	}
	runs := bm.Find(ntfs.AttrData, "").Runs
	cluster := sp.Copies[0].Dst / v.ClusterSize()
	off := osOff + runs[0].LCN*v.ClusterSize() + cluster/8
	if runs[0].Length*v.ClusterSize() <= cluster/8 {
		t.Fatalf("$Bitmap's first run %v does not hold cluster %d", runs[0], cluster)
	}
	var one [1]byte
	if _, err := dev3.ReadAt(one[:], off); err != nil {
		t.Fatal(err)
	}
	if one[0]&(1<<(cluster%8)) != 0 {
		t.Fatalf("cluster %d, a copy's destination, is in use", cluster)
	}
	one[0] |= 1 << (cluster % 8)
	if _, err := dev3.WriteAt(one[:], off); err != nil {
		t.Fatal(err)
	}
	before := sha256File(t, changed)
	_, err = Apply(ctx, dev3, p3, ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")})
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "changed since the relocation was planned") {
		t.Fatalf("Apply on a disk changed after planning: %v, want ErrChanged from the prepared relocation's check", err)
	}
	if after := sha256File(t, changed); after != before {
		t.Error("Apply refused yet changed the disk")
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha(b)
}
