package winrepart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// crashMBRSig is the disk signature of the MBR crash disk.
const crashMBRSig = 0x1f2e3dc8

// buildCrashMBRDisk makes a small BIOS disk with sfdisk, mkntfs and
// wimlib: System Reserved (8 MiB, active) holding a BCD with WinRE entries
// (built with hivexsh), C: (192 MiB) with ReAgent.xml, and WinRE (48 MiB,
// type 0x27) with a 30 MiB WIM, at the end of the disk.
func buildCrashMBRDisk(t *testing.T) (img string, sysStart, osStart, reStart int64) {
	t.Helper()
	testutil.NeedTool(t, "sfdisk", "mkntfs", "wimlib-imagex", "hivexsh")
	const sysLBA, osLBA, reLBA = 2048, 2048 + 8*2048, 2048 + 200*2048
	sysStart, osStart, reStart = sysLBA*512, osLBA*512, reLBA*512
	img = filepath.Join(t.TempDir(), "mbr-bcd.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(reLBA)*512 + 49*miniMiB); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("label: dos\nlabel-id: 0x%08x\nunit: sectors\n\nstart=%d, size=%d, type=7, bootable\nstart=%d, size=%d, type=7\nstart=%d, size=%d, type=27\n",
		crashMBRSig, sysLBA, 8*2048, osLBA, 192*2048, reLBA, 48*2048)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}

	reagent := strings.ReplaceAll(`<?xml version='1.0' encoding='utf-8' standalone='yes'?>
<WindowsRE version="2.0">
<WinreBCD id="{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}"/>
<WinreLocation path="\Recovery\WindowsRE" id="`+fmt.Sprint(crashMBRSig)+`" offset="`+fmt.Sprint(reStart)+`" guid="{00000000-0000-0000-0000-000000000000}"/>
<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>
<InstallState state="1"/>
<WinREStaged state="0"/>
</WindowsRE>
`, "\n", "\r\n")
	hive := bcdtest.Build(t, bcdtest.Store{DiskSignature: crashMBRSig, SystemOffset: uint64(sysStart), OSOffset: uint64(osStart), WinREOffset: uint64(reStart)})
	wimSrc := writeTree(t, map[string][]byte{"sources/boot.bin": detBytes(24, miniWIMLen), "Windows/System32/winload.exe": detBytes(25, 8192)})
	wim := filepath.Join(t.TempDir(), "winre.wim")
	testutil.Run(t, "wimlib-imagex", "capture", wimSrc, wim, "Microsoft Windows Recovery Environment (x64)", "--compress=none")
	wimData, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		lba   int
		mib   int64
		label string
		files map[string][]byte
	}{
		{sysLBA, 8, "System Reserved", map[string][]byte{"bootmgr": detBytes(21, 8192), "Boot/BCD": hive}},
		{osLBA, 192, "Windows", map[string][]byte{"Windows/System32/Recovery/ReAgent.xml": []byte(reagent), "Windows/System32/ntoskrnl.exe": detBytes(22, 700<<10)}},
		{reLBA, 48, "Recovery", map[string][]byte{"Recovery/WindowsRE/Winre.wim": wimData, "Recovery/WindowsRE/boot.sdi": detBytes(23, 2<<20)}},
	} {
		vol := ntfsVolume(t, v.mib*miniMiB, v.lba, v.label, writeTree(t, v.files))
		data, err := os.ReadFile(vol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, int64(v.lba)*512); err != nil {
			t.Fatal(err)
		}
	}
	return img, sysStart, osStart, reStart
}

var reagentOffsetRE = regexp.MustCompile(`<WinreLocation [^>]*offset="(\d+)"`)

// checkMBRBCDState inspects m (a recovered disk) and checks that the BCD
// reads, is clean and names WinRE where it is, and that ReAgent.xml agrees.
func checkMBRBCDState(t *testing.T, what string, m *faultdev.Mem) {
	t.Helper()
	l, err := recovery.Inspect(context.Background(), crashDev{m}, recovery.Options{})
	if err != nil {
		t.Fatalf("%s: Inspect: %v", what, err)
	}
	if l.WinRE == nil || l.WinRE.Partition != 3 || l.BCD == nil || l.BCD.Err != "" || !l.BCD.Resolves {
		t.Fatalf("%s: the BCD or ReAgent.xml does not follow WinRE:\n%s", what, l)
	}
	for _, p := range l.Problems {
		if p.Severity == diag.Error || strings.HasPrefix(string(p.Code), "bcd-") || strings.HasPrefix(string(p.Code), "reagent-") {
			t.Fatalf("%s: problem %s: %s", what, p.Code, p.Message)
		}
	}
}

// deepCheckMBRBCDState dumps m and runs the reference tools on it: sfdisk
// --verify, ntfsresize --info on every volume, hivexml on the BCD and
// ntfscat on ReAgent.xml.
func deepCheckMBRBCDState(t *testing.T, what string, m *faultdev.Mem) {
	t.Helper()
	testutil.NeedTool(t, "sfdisk", "ntfsresize", "ntfscat", "hivexml")
	img := filepath.Join(t.TempDir(), "state.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(m.Size())
	buf := make([]byte, faultdev.PageSize)
	for off := int64(0); off < m.Size(); off += faultdev.PageSize {
		m.ReadAt(buf, off)
		f.WriteAt(buf, off)
	}
	f.Close()
	if out, _ := testutil.RunErr("sfdisk", "--verify", img); !strings.Contains(out, "No errors detected") {
		t.Errorf("%s: sfdisk --verify:\n%s", what, out)
	}
	l, err := recovery.Inspect(context.Background(), crashDev{m}, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vols := map[int]string{}
	for _, q := range l.Partitions {
		vols[q.Number] = testutil.ExtractPartition(t, img, q.StartBytes(512), q.SizeBytes)
		if out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", vols[q.Number]); err != nil || strings.Contains(out, "ERROR") {
			t.Errorf("%s: ntfsresize --info on partition %d: %v\n%s", what, q.Number, err, out)
		}
	}
	hive, err := testutil.RunErrBytes("ntfscat", "-f", vols[1], "/Boot/BCD")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(t.TempDir(), "BCD")
	os.WriteFile(hp, hive, 0o644)
	if out, err := testutil.RunErr("hivexml", hp); err != nil || !strings.Contains(out, "<node name=\"Objects\">") {
		t.Errorf("%s: hivexml: %v", what, err)
	}
	ra, err := testutil.RunErrBytes("ntfscat", "-f", vols[2], "/Windows/System32/Recovery/ReAgent.xml")
	if err != nil {
		t.Fatal(err)
	}
	mo := reagentOffsetRE.FindSubmatch(ra)
	if off, _ := strconv.ParseInt(string(mo[1]), 10, 64); mo == nil || off != l.Partition(3).StartBytes(512) {
		t.Errorf("%s: ReAgent.xml %s, WinRE at %d", what, ra, l.Partition(3).StartBytes(512))
	}
}

// TestCrashApplyMBRBCD crashes Apply on an MBR disk whose WinRE moves, at
// every write from the last of the data copy to the end (table, filesystem
// growth, ReAgent.xml, the BCD patch), with each power-cut fault. Recover
// in auto mode must reach exactly the old or the new state, a second
// Recover must write nothing, and the recovered disk's BCD must name WinRE
// where it is; at the BCD writes (stop faults) the reference tools check
// the recovered disk. -short tries every third write.
func TestCrashApplyMBRBCD(t *testing.T) {
	img, sysStart, osStart, _ := buildCrashMBRDisk(t)
	old := memOf(t, img)
	ctx := context.Background()
	l, err := recovery.Inspect(ctx, crashDev{old}, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PatchableForMove(); err != nil {
		t.Fatalf("PatchableForMove: %v\n%s", err, l)
	}
	p := planner.New(l, planner.Options{MinFreeBytes: 24 * miniMiB, BCDPatching: true})
	if p.Refused || p.Strategy != planner.StrategyShrinkOS {
		t.Fatalf("plan:\n%s", p)
	}
	dir := t.TempDir()
	jn := 0
	jpath := func() string { jn++; return filepath.Join(dir, fmt.Sprintf("j%d", jn)) }
	cleanFD := faultdev.New(old.Clone())
	if _, err := Apply(ctx, crashDev{cleanFD}, p, ApplyOptions{JournalPath: jpath()}); err != nil {
		t.Fatalf("clean apply: %v", err)
	}
	newMem := old.Clone()
	if _, err := Apply(ctx, crashDev{newMem}, p, ApplyOptions{JournalPath: jpath()}); err != nil {
		t.Fatal(err)
	}
	checkMBRBCDState(t, "clean apply", newMem)
	writes := cleanFD.Writes()
	var bcdW []int
	lastCopy := -1
	for i, s := range cleanFD.Log() {
		switch {
		case s.Offset >= sysStart && s.Offset < osStart:
			bcdW = append(bcdW, i)
		case s.Length >= 256<<10:
			lastCopy = i // a big write: the data copy
		}
	}
	if len(bcdW) == 0 {
		t.Fatal("the clean run wrote nothing to System Reserved")
	}
	isBCD := map[int]bool{}
	for _, k := range bcdW {
		isBCD[k] = true
	}
	cs := &crashStates{old: old, new: newMem}
	step := 1
	if testing.Short() {
		step = 3
	}
	points, outcomes := 0, map[string]int{}
	for _, kind := range []string{"stop", "tear", "lose-unflushed"} {
		for k := max(lastCopy, 0); k < writes; k++ {
			if (k-lastCopy)%step != 0 && !isBCD[k] {
				continue
			}
			what := fmt.Sprintf("%s at write %d of %d", kind, k, writes)
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
			if _, err := Recover(ctx, crashDev{fd}, path, RecoverOptions{Mode: RecoverAuto, KeepJournal: true}); err != nil {
				t.Fatalf("%s: Recover: %v", what, err)
			}
			got := cs.outcome(m)
			if got != "old" && got != "new" {
				t.Fatalf("%s: after Recover the disk is %s", what, got)
			}
			outcomes[got]++
			points++
			rw := fd.Writes()
			if _, err := Recover(ctx, crashDev{fd}, path, RecoverOptions{Mode: RecoverAuto, KeepJournal: true}); err != nil || fd.Writes() != rw {
				t.Fatalf("%s: a second Recover failed (%v) or wrote", what, err)
			}
			checkMBRBCDState(t, what, m)
			if isBCD[k] && kind == "stop" {
				deepCheckMBRBCDState(t, what+", recovered to the "+got+" state", m)
			}
		}
	}
	t.Logf("%d device writes in a clean Apply, BCD writes at %v, last copy write %d; %d crash points: %v", writes, bcdW, lastCopy, points, outcomes)
}
