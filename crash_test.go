package winrepart

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// This file crashes the public Apply (default chunk and sync sizes, the
// journal's metadata, the syncs and inspections around the run) at every
// device write of two real changes, and recovers with the public Recover in
// each mode. TestCrashMatrix (crash_apply_test.go) drives the journal
// directly with small chunks; this one checks what a user runs.

// crashDev gives an in-memory or fault-injecting device the one method a
// [Device] has beyond faultdev's.
type crashDev struct{ faultdev.Inner }

func (d crashDev) PhysicalSectorSize() int { return d.SectorSize() }

// Sync passes a sync on, so Apply and Recover flush the fault device's
// volatile writes.
func (d crashDev) Sync() error {
	if s, ok := d.Inner.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// ConcurrentSync lets Apply pipeline the copy's checkpoints, as it does
// on images and block devices: faultdev.Device and faultdev.Mem are safe
// for concurrent use, and a faultdev Sync flushes every write that
// returned before it. The matrix then crashes while a window's sync and
// record run beside the next window's writes.
func (d crashDev) ConcurrentSync() bool { return true }

// crashLayout describes a small Windows disk for the matrix.
type crashLayout struct {
	name       string
	winreFirst bool  // ESP, MSR, WinRE, C: (an older Windows 10 layout) instead of ESP, MSR, C:, WinRE
	osMiB      int64 // size of C:
	reMiB      int64 // size of WinRE
	minFree    int64 // planner.Options.MinFreeBytes
	strategy   planner.Strategy
	// tailFiles small files (1 to 6 KiB) go onto C: behind a filler of
	// fillerMiB that is then truncated to nothing, so libntfs-3g puts them
	// (and the Windows files) in C:'s tail: shrinking C: must move them.
	tailFiles int
	fillerMiB int64
	// mftTail: fillers take every free cluster, and only those past
	// fillerMiB are freed before the files go on, so $MFT grows into the
	// tail with them: shrinking C: must move $MFT's own clusters (see
	// ntfsVolumeMFTInTail).
	mftTail bool
}

// crashDisk is a built crashLayout: the image, the partition numbers and
// the files put on each volume (path -> content digest).
type crashDisk struct {
	img       string
	osN, reN  int
	osFiles   map[string]string
	reFiles   map[string]string
	guid      string
	reStartB  int64 // WinRE's start in bytes as built
	sizeBytes int64
}

const crashReAgent = "/Windows/System32/Recovery/ReAgent.xml"

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// buildCrashDisk makes the disk of c with sgdisk, mkntfs and wimlib: a
// 30 MiB WIM of random bytes in WinRE, user files and ReAgent.xml pointing
// at WinRE on C:.
func buildCrashDisk(t *testing.T, c crashLayout) *crashDisk {
	t.Helper()
	testutil.NeedTool(t, "sgdisk", "mkntfs", "wimlib-imagex")
	const esp, msr = 2048, 2048 + 16*miniMiB/512
	first := int64(msr + 16*miniMiB/512)
	osLBA, reLBA := first, first+c.osMiB*miniMiB/512
	if c.winreFirst {
		reLBA, osLBA = first, first+c.reMiB*miniMiB/512
	}
	d := &crashDisk{osN: 3, reN: 4, guid: "5bc3b6ba-1e52-4b7c-9a2f-0000000000c7", reStartB: reLBA * 512}
	if c.winreFirst {
		d.osN, d.reN = 4, 3
	}
	// 1 MiB for the primary GPT and alignment, 1 MiB at the end for the backup.
	d.sizeBytes = (first*512 + (c.osMiB+c.reMiB+1)*miniMiB)
	d.img = filepath.Join(t.TempDir(), c.name+".img")
	f, err := os.Create(d.img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(d.sizeBytes); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "sgdisk", "-U", d.guid,
		"-n", fmt.Sprintf("1:%d:+16M", esp), "-t", "1:ef00",
		"-n", fmt.Sprintf("2:%d:+16M", msr), "-t", "2:0c01",
		"-n", fmt.Sprintf("%d:%d:+%dM", d.osN, osLBA, c.osMiB), "-t", fmt.Sprintf("%d:0700", d.osN),
		"-n", fmt.Sprintf("%d:%d:+%dM", d.reN, reLBA, c.reMiB), "-t", fmt.Sprintf("%d:de94bba4-06d1-4d40-a16a-bfd50179d6ac", d.reN),
		"-A", fmt.Sprintf("%d:set:0", d.reN), "-A", fmt.Sprintf("%d:set:63", d.reN), d.img)

	reagent := strings.ReplaceAll(`<?xml version='1.0' encoding='utf-8' standalone='yes'?>
<WindowsRE version="2.0">
<WinreBCD id="{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}"/>
<WinreLocation path="\Recovery\WindowsRE" id="0" offset="`+fmt.Sprint(d.reStartB)+`" guid="{`+d.guid+`}"/>
<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>
<InstallState state="1"/>
<WinREStaged state="0"/>
<OsBuildVersion path="22621.1.amd64fre.ni_release.220506-1250"/>
</WindowsRE>
`, "\n", "\r\n")
	osFiles := map[string][]byte{
		"Windows/System32/Recovery/ReAgent.xml": []byte(reagent),
		"Windows/System32/ntoskrnl.exe":         detBytes(11, 700<<10),
		"Windows/System32/config/SYSTEM":        detBytes(12, 96<<10),
		"Users/user/Documents/notes.txt":        []byte("meeting notes\r\n"),
		"Users/user/Pictures/holiday.jpg":       detBytes(13, 3<<20),
	}
	wimSrc := writeTree(t, map[string][]byte{"sources/boot.bin": detBytes(14, miniWIMLen), "Windows/System32/winload.efi": detBytes(15, 8192)})
	wim := filepath.Join(t.TempDir(), "winre.wim")
	testutil.Run(t, "wimlib-imagex", "capture", wimSrc, wim, "Microsoft Windows Recovery Environment (x64)", "--compress=none")
	wimData, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	reFiles := map[string][]byte{"Recovery/WindowsRE/Winre.wim": wimData, "Recovery/WindowsRE/boot.sdi": detBytes(16, 2<<20)}
	d.osFiles, d.reFiles = map[string]string{}, map[string]string{}
	for p, b := range osFiles {
		d.osFiles["/"+p] = sha(b)
	}
	for p, b := range reFiles {
		d.reFiles["/"+p] = sha(b)
	}
	for _, v := range []struct {
		lba, mib int64
		label    string
		files    map[string][]byte
	}{{osLBA, c.osMiB, "Windows", osFiles}, {reLBA, c.reMiB, "Recovery", reFiles}} {
		tree := writeTree(t, v.files)
		var vol string
		if v.label == "Windows" && c.mftTail {
			writeTailFiles(t, tree, c.tailFiles, d.osFiles)
			vol = ntfsVolumeMFTInTail(t, v.mib*miniMiB, int(v.lba), v.label, tree, c.fillerMiB*miniMiB)
		} else if v.label == "Windows" && c.fillerMiB > 0 {
			writeTailFiles(t, tree, c.tailFiles, d.osFiles)
			vol = ntfsVolumeBehindFiller(t, v.mib*miniMiB, int(v.lba), v.label, tree, c.fillerMiB*miniMiB)
		} else {
			vol = ntfsVolume(t, v.mib*miniMiB, int(v.lba), v.label, tree)
		}
		data, err := os.ReadFile(vol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, v.lba*512); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

var crashOffsetRE = regexp.MustCompile(`<WinreLocation [^>]*offset="(\d+)"`)

// checkCrashState dumps m to a file and runs the reference tools on it:
// sgdisk -v finds no problem, ntfsresize accepts both volumes, every file
// has its old content, and ReAgent.xml points at WinRE's start.
func checkCrashState(t *testing.T, what string, d *crashDisk, m *faultdev.Mem) {
	t.Helper()
	testutil.NeedTool(t, "sgdisk", "ntfsresize", "ntfscat")
	img := filepath.Join(t.TempDir(), "state.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(m.Size()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, faultdev.PageSize)
	zero := make([]byte, faultdev.PageSize)
	for off := int64(0); off < m.Size(); off += faultdev.PageSize {
		if _, err := m.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if string(buf) != string(zero) {
			if _, err := f.WriteAt(buf, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("%s: sgdisk -v:\n%s", what, out)
	}
	l, err := recovery.Inspect(context.Background(), crashDev{m}, recovery.Options{})
	if err != nil {
		t.Fatalf("%s: Inspect: %v", what, err)
	}
	for _, v := range []struct {
		n     int
		files map[string]string
	}{{d.osN, d.osFiles}, {d.reN, d.reFiles}} {
		q := l.Partition(v.n)
		if q == nil {
			t.Fatalf("%s: partition %d missing", what, v.n)
		}
		vol := testutil.ExtractPartition(t, img, q.StartBytes(512), q.SizeBytes)
		out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", vol)
		if err != nil || strings.Contains(out, "ERROR") || strings.Contains(strings.ToLower(out), "inconsisten") {
			t.Errorf("%s: ntfsresize --info on partition %d: %v\n%s", what, v.n, err, out)
		}
		for path, want := range v.files {
			data, err := testutil.RunErrBytes("ntfscat", "-f", vol, path)
			if err != nil {
				t.Errorf("%s: ntfscat %s: %v", what, path, err)
				continue
			}
			if path == crashReAgent {
				m := crashOffsetRE.FindSubmatch(data)
				if m == nil {
					t.Errorf("%s: no WinreLocation offset in ReAgent.xml:\n%s", what, data)
					continue
				}
				if off, _ := strconv.ParseInt(string(m[1]), 10, 64); off != l.Partition(d.reN).StartBytes(512) {
					t.Errorf("%s: ReAgent.xml offset %d, WinRE starts at byte %d", what, off, l.Partition(d.reN).StartBytes(512))
				}
				continue
			}
			if got := sha(data); got != want {
				t.Errorf("%s: %s changed: sha256 %s, want %s", what, path, got, want)
			}
		}
	}
}

// crashStates are the two states a recovered disk may hold. A copy that
// does not overlap its source is rolled back by leaving its destination as
// it is (space the old layout does not use, see journal.Recover), so the
// old state is compared outside that range; the reference tools check the
// rest of the old layout at a few crash points.
type crashStates struct {
	old, new *faultdev.Mem
	// free is the destination of a non-overlapping copy (zero length when
	// the copy overlaps its source: then the old state is exact).
	freeOff, freeLen int64
	// relocated are the destinations of the copies a relocating shrink of
	// C: makes into its free clusters: rolled back the same way, they may
	// hold copied data in the old state too.
	relocated []journal.Extent
}

// relocatedDsts returns the byte ranges the relocation copies among ops
// write (journal.Copy ops that move data out of C:'s cut-off tail).
func relocatedDsts(ops []journal.Op) []journal.Extent {
	var out []journal.Extent
	for _, o := range ops {
		if c, ok := o.(journal.Copy); ok && strings.HasPrefix(c.What, "relocate ") {
			for _, e := range c.Extents {
				out = append(out, journal.Extent{Offset: c.Dst + e.Offset, Length: e.Length})
			}
		}
	}
	return out
}

// oldOutside reports whether m holds the old state everywhere outside the
// given ranges.
func (s *crashStates) oldOutside(m *faultdev.Mem, free []journal.Extent) bool {
	free = slices.Clone(free)
	slices.SortFunc(free, func(a, b journal.Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	pos := int64(0)
	for _, f := range free {
		if f.Offset > pos && !sameRange(m, s.old, pos, f.Offset-pos) {
			return false
		}
		pos = max(pos, f.Offset+f.Length)
	}
	return sameRange(m, s.old, pos, m.Size()-pos)
}

// outcome names which of the two states m holds: "old", "old-but-free"
// (old outside the copy destination, which holds copied data), "new", or
// a description of neither.
func (s *crashStates) outcome(m *faultdev.Mem) string {
	dOld := m.FirstDiff(s.old)
	if dOld < 0 {
		return "old"
	}
	dNew := m.FirstDiff(s.new)
	if dNew < 0 {
		return "new"
	}
	if end := s.freeOff + s.freeLen; len(s.relocated) == 0 && s.freeLen > 0 && dOld >= s.freeOff && dOld < end && sameRange(m, s.old, end, m.Size()-end) {
		return "old-but-free"
	}
	if len(s.relocated) > 0 {
		free := s.relocated
		if s.freeLen > 0 {
			free = append(slices.Clone(free), journal.Extent{Offset: s.freeOff, Length: s.freeLen})
		}
		if s.oldOutside(m, free) {
			return "old-but-free"
		}
	}
	return fmt.Sprintf("neither (differs from old at byte %d, from new at %d)", dOld, dNew)
}

// sameRange reports whether a and b hold the same n bytes at off.
func sameRange(a, b *faultdev.Mem, off, n int64) bool {
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	for end := off + n; off < end; off += int64(len(x)) {
		l := min(int64(len(x)), end-off)
		a.ReadAt(x[:l], off)
		b.ReadAt(y[:l], off)
		if string(x[:l]) != string(y[:l]) {
			return false
		}
	}
	return true
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashApply crashes the public Apply at every device write, with each
// fault a power cut produces, on a shrink-os change (WinRE moved left over
// its own old place: an irreversible copy) and a relocate change (WinRE
// copied into C:'s tail: reversible to the end). After each crash, Recover
// in auto mode must reach exactly the old or the new state (the new one
// once an irreversible copy began; for the relocate change the old state
// may keep copied bytes in the copy's destination, space the old layout
// does not use), and a second Recover must write nothing. On every second
// crash point of a subset, forward recovery must reach the new state and
// backward recovery the old one or refuse with ErrIrreversible writing
// nothing; on every fifth, recovery itself is crashed at its first, middle
// and last write and must still end where an uninterrupted one does. At
// four crash points (the first, one mid-copy, the one after the last table
// write, the last) the recovered disk goes through sgdisk, ntfsresize and
// ntfscat. -short tries every fifth crash point.
func TestCrashApply(t *testing.T) {
	for _, c := range append(slices.Clone(crashLayouts), crashMFTLayout) {
		t.Run(c.name, func(t *testing.T) {
			// The two changes share nothing; each mostly copies memory.
			t.Parallel()
			crashApply(t, c)
		})
	}
}

// crashLayouts are the two changes the crash tests run: shrink-os (WinRE
// moved left over its own old place, an irreversible copy) and relocate
// (WinRE copied into C:'s tail, reversible to the end).
var crashLayouts = []crashLayout{
	{name: "shrink-os", osMiB: 192, reMiB: 48, minFree: 24 * miniMiB, strategy: planner.StrategyShrinkOS},
	{name: "relocate", winreFirst: true, osMiB: 224, reMiB: 48, minFree: 24 * miniMiB, strategy: planner.StrategyRelocate},
	// shrink-os whose cut-off tail of C: holds files: they move into free
	// clusters of C: first (see TestApplyRelocatingTail).
	{name: "shrink-os-tail-in-use", osMiB: 192, reMiB: 48, minFree: 24 * miniMiB, strategy: planner.StrategyShrinkOS, tailFiles: 200, fillerMiB: 140},
}

// crashMFTLayout is shrink-os whose C: has grown $MFT into the tail:
// its records there are copied, then rewritten at the copy. Only
// TestCrashApply runs it.
var crashMFTLayout = crashLayout{name: "shrink-os-mft-in-tail", osMiB: 192, reMiB: 48, minFree: 24 * miniMiB,
	strategy: planner.StrategyShrinkOS, tailFiles: 1500, fillerMiB: 164, mftTail: true}

func crashApply(t *testing.T, c crashLayout) {
	start := time.Now()
	d := buildCrashDisk(t, c)
	old := memOf(t, d.img)
	ctx := context.Background()
	l, err := recovery.Inspect(ctx, crashDev{old}, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := planner.New(l, planner.Options{MinFreeBytes: c.minFree, Relocator: NewRelocator(crashDev{old}, l)})
	if p.Refused || p.Strategy != c.strategy {
		t.Fatalf("plan: want strategy %s, got:\n%s", c.strategy, p)
	}
	ops, err := buildOps(old, l, p, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The partition's copy, and the relocation's copies when C:'s tail
	// is in use (they come first, in the shrink of C:).
	var copies []journal.Copy
	relocated := relocatedDsts(ops)
	nReloc := 0
	for _, o := range ops {
		if cp, ok := o.(journal.Copy); ok && !strings.HasPrefix(cp.What, "relocate ") {
			copies = append(copies, cp)
		} else if ok {
			nReloc++
		}
	}
	if len(copies) != 1 {
		t.Fatalf("%d partition copies in the ops, want 1", len(copies))
	}
	if (c.tailFiles > 0) != (len(relocated) > 0) {
		t.Fatalf("%d tail files, %d relocated extents", c.tailFiles, len(relocated))
	}
	dir := t.TempDir()
	jn := 0
	jpath := func() string { jn++; return filepath.Join(dir, fmt.Sprintf("j%d", jn)) }

	// The clean run: the new state, the writes it takes, and which of
	// them are the data copy and which the partition table.
	cleanFD := faultdev.New(old.Clone())
	res, err := Apply(ctx, crashDev{cleanFD}, p, ApplyOptions{JournalPath: jpath()})
	if err != nil {
		t.Fatalf("clean apply: %v", err)
	}
	if res.Ops != len(ops) {
		t.Fatalf("clean apply: %d ops, buildOps gave %d", res.Ops, len(ops))
	}
	writes := cleanFD.Writes()
	newMem := old.Clone()
	if _, err := Apply(ctx, crashDev{newMem}, p, ApplyOptions{JournalPath: jpath()}); err != nil {
		t.Fatal(err)
	}
	if newMem.FirstDiff(old) < 0 {
		t.Fatal("the clean apply changed nothing")
	}
	if c.mftTail {
		osP := l.Partition(d.osN)
		before, after := mftRuns(t, old, osP.StartLBA*uint64(l.SectorSize), osP.SizeBytes), mftRuns(t, newMem, osP.StartLBA*uint64(l.SectorSize), osP.SizeBytes)
		if slices.Equal(before, after) {
			t.Fatalf("$MFT's runs %v did not change: the layout does not move $MFT", before)
		}
		t.Logf("$MFT's runs %v became %v", before, after)
	}
	cp := copies[0]
	cs := &crashStates{old: old, new: newMem, relocated: relocated}
	if cp.Dst >= cp.Src+cp.Length || cp.Src >= cp.Dst+cp.Length {
		cs.freeOff, cs.freeLen = cp.Dst, cp.Length
	}
	ss := int64(l.SectorSize)
	gptEnd, backup := 34*ss, d.sizeBytes-33*ss
	var copyW, tableW, relocW []int
	for i, s := range cleanFD.Log() {
		for _, e := range relocated {
			if s.Offset >= e.Offset && s.Offset < e.Offset+e.Length {
				relocW = append(relocW, i)
				break
			}
		}
		switch {
		case s.Offset >= cp.Dst && s.Offset < cp.Dst+cp.Length:
			copyW = append(copyW, i)
		case s.Offset < gptEnd || s.Offset >= backup:
			tableW = append(tableW, i)
		}
	}
	if len(copyW) == 0 || len(tableW) == 0 {
		t.Fatalf("clean run of %d writes: %d copy writes, %d table writes", writes, len(copyW), len(tableW))
	}
	// The crash points whose recovered disk the reference tools check.
	deep := map[int]bool{0: true, copyW[len(copyW)/2]: true, min(tableW[len(tableW)-1]+1, writes-1): true, writes - 1: true}
	if len(relocW) > 0 {
		// Mid-relocation, and right after it (the records switch next).
		deep[relocW[len(relocW)/2]] = true
		deep[relocW[len(relocW)-1]+1] = true
	}
	t.Logf("plan: %s; %d ops, %d device writes in a clean Apply (%d of the copy, %d of the tables, %d of %d relocation copies); built and planned in %v",
		p.Summary, len(ops), writes, len(copyW), len(tableW), len(relocW), nReloc, time.Since(start).Round(time.Millisecond))

	step := 1
	if testing.Short() {
		step = 5
	}
	type tally struct {
		points, recoveries, refusedBack, double, deep int
		outcomes                                      map[string]int
	}
	n := tally{outcomes: map[string]int{}}
	kinds := []string{"stop", "tear", "lose-unflushed"}
	for _, kind := range kinds {
		for k := 0; k < writes; k++ {
			if k%step != 0 && !deep[k] {
				continue
			}
			what := fmt.Sprintf("%s at write %d", kind, k)
			m := old.Clone()
			fd := faultdev.New(m)
			switch kind {
			case "stop":
				fd.StopAfter(k)
			case "tear":
				fd.TearAt(k, 512*(k%5+1))
			case "lose-unflushed":
				fd.LoseUnflushed()
				fd.StopAfter(k)
			}
			path := jpath()
			if _, err := Apply(ctx, crashDev{fd}, p, ApplyOptions{JournalPath: path}); !errors.Is(err, faultdev.ErrPowerLost) {
				t.Fatalf("%s: Apply returned %v, want a power loss", what, err)
			}
			fd.Crash()
			n.points++
			j, err := journal.Open(path)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			st, err := j.State(fd)
			if err != nil {
				t.Fatalf("%s: State: %v", what, err)
			}
			// The crashed disk and journal, kept for recoveries on copies.
			needFB := k%2 == 0 && (kind == "stop" || k%3 == 0)
			needDouble := kind != "tear" && k%5 == 0
			var crashed *faultdev.Mem
			crashedJ := jpath()
			if needFB || needDouble {
				crashed = m.Clone()
				copyFile(t, path, crashedJ)
			}

			// Back and forward, on copies of the crashed disk and journal.
			if needFB {
				bm, bj := crashed.Clone(), jpath()
				copyFile(t, crashedJ, bj)
				_, err := Recover(ctx, crashDev{bm}, bj, RecoverOptions{Mode: RecoverBack, KeepJournal: true})
				switch {
				case st.IrreversibleOp >= 0:
					var ie *journal.IrreversibleError
					if !errors.Is(err, journal.ErrIrreversible) || !errors.As(err, &ie) || ie.Op != st.IrreversibleOp {
						t.Fatalf("%s: Recover back after the irreversible op %d began: %v, want an IrreversibleError", what, st.IrreversibleOp, err)
					}
					if bm.FirstDiff(crashed) >= 0 {
						t.Fatalf("%s: a refused Recover back wrote to the disk", what)
					}
					n.refusedBack++
				case err != nil:
					t.Fatalf("%s: Recover back: %v", what, err)
				default:
					if got := cs.outcome(bm); !strings.HasPrefix(got, "old") {
						t.Fatalf("%s: Recover back left the %s state", what, got)
					}
				}
				fm, fj := crashed, jpath()
				if needDouble {
					fm = crashed.Clone()
				}
				copyFile(t, crashedJ, fj)
				if _, err := Recover(ctx, crashDev{fm}, fj, RecoverOptions{Mode: RecoverForward, KeepJournal: true}); err != nil {
					t.Fatalf("%s: Recover forward: %v", what, err)
				}
				if got := cs.outcome(fm); got != "new" {
					t.Fatalf("%s: Recover forward left the %s state", what, got)
				}
				n.recoveries += 2
			}

			// Auto, as a user runs it.
			rr, err := Recover(ctx, crashDev{fd}, path, RecoverOptions{Mode: RecoverAuto, KeepJournal: true})
			if err != nil {
				t.Fatalf("%s: Recover: %v", what, err)
			}
			n.recoveries++
			got := cs.outcome(m)
			switch {
			case !strings.HasPrefix(got, "old") && got != "new":
				t.Fatalf("%s: after Recover (%s, found %s) the disk is %s", what, rr.Action, rr.State, got)
			case st.IrreversibleOp >= 0 && got != "new":
				t.Fatalf("%s: an irreversible copy began but Recover went back to the old state", what)
			case st.IrreversibleOp < 0 && !st.Complete && !strings.HasPrefix(got, "old"):
				t.Fatalf("%s: nothing irreversible began, yet Recover (%s) went forward", what, rr.Action)
			}
			n.outcomes[got]++
			// A second Recover writes nothing.
			rw := fd.Writes()
			if _, err := Recover(ctx, crashDev{fd}, path, RecoverOptions{Mode: RecoverAuto, KeepJournal: true}); err != nil || fd.Writes() != rw {
				t.Fatalf("%s: a second Recover failed (%v) or wrote (%d writes)", what, err, fd.Writes()-rw)
			}
			n.recoveries++
			if deep[k] && kind == "stop" {
				checkCrashState(t, what+", recovered to the "+got+" state", d, m)
				n.deep++
			}

			// A crash during recovery (at its first, middle and last write),
			// then Recover again.
			if needDouble {
				for i, jk := range []int{0, rw / 2, rw - 1} {
					if rw == 0 || jk < 0 || (i > 0 && jk <= rw/2*(i-1)) { // rw == 0: the recovery wrote nothing to crash
						continue
					}
					m2 := crashed
					if i < 2 {
						m2 = crashed.Clone()
					}
					fd2 := faultdev.New(m2)
					if kind == "lose-unflushed" {
						fd2.LoseUnflushed()
					}
					fd2.StopAfter(jk)
					j2 := jpath()
					copyFile(t, crashedJ, j2)
					if _, err := Recover(ctx, crashDev{fd2}, j2, RecoverOptions{Mode: RecoverAuto, KeepJournal: true}); !errors.Is(err, faultdev.ErrPowerLost) {
						t.Fatalf("%s, recovery stopped at its write %d of %d: %v, want a power loss", what, jk, rw, err)
					}
					fd2.Crash()
					if _, err := Recover(ctx, crashDev{fd2}, j2, RecoverOptions{Mode: RecoverAuto, KeepJournal: true}); err != nil {
						t.Fatalf("%s, recovery stopped at its write %d of %d: Recover again: %v", what, jk, rw, err)
					}
					if g := cs.outcome(m2); g != got {
						t.Fatalf("%s, recovery stopped at its write %d of %d: the disk ends %s, an uninterrupted Recover gave %s", what, jk, rw, g, got)
					}
					n.double++
					n.recoveries += 2
				}
			}
		}
	}
	pts := make([]int, 0, len(deep))
	for k := range deep {
		pts = append(pts, k)
	}
	sort.Ints(pts)
	t.Logf("%d crash points (%d writes x %d fault kinds, every %d), %d recoveries: auto ended %v; %d backward recoveries refused as irreversible; %d crashes during recovery recovered; reference tools on %d recovered disks (stop at writes %v); %v",
		n.points, writes, len(kinds), step, n.recoveries, n.outcomes, n.refusedBack, n.double, n.deep, pts, time.Since(start).Round(time.Millisecond))
}

// mftRuns reads the runs of $MFT's $DATA on the NTFS volume at off.
func mftRuns(t *testing.T, r io.ReaderAt, off uint64, size int64) []ntfs.Run {
	t.Helper()
	v, err := ntfs.Open(io.NewSectionReader(r, int64(off), size), size)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := v.ReadRecord(ntfs.RecordMFT)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Find(ntfs.AttrData, "").Runs
}
