package winrepart

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/journal"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// The mini disk: a Windows layout small enough to crash an apply at every
// one of its writes. 512-byte sectors, 1 MiB aligned.
const (
	miniMiB    = 1 << 20
	miniDisk   = 280 * miniMiB
	miniESP    = 2048                     // LBA
	miniMSR    = miniESP + 16*miniMiB/512 // LBA
	miniOS     = miniMSR + 16*miniMiB/512 // LBA
	miniOSLen  = 176 * miniMiB            // bytes
	miniRE     = miniOS + miniOSLen/512   // LBA
	miniRELen  = 56 * miniMiB             // bytes
	miniWIMLen = 30 * miniMiB             // random bytes inside winre.wim
	miniGUID   = "5bc3b6ba-1e52-4b7c-9a2f-0000000000ff"
)

// detBytes returns n deterministic pseudo-random bytes.
func detBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ntfsVolume formats an NTFS volume image of size bytes for a partition at
// startLBA and applies the directory tree into it with wimlib.
func ntfsVolume(t *testing.T, size int64, startLBA int, label, tree string) string {
	t.Helper()
	vol := filepath.Join(t.TempDir(), "vol.img")
	f, err := os.Create(vol)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", fmt.Sprint(startLBA), "-L", label, vol)
	wim := filepath.Join(t.TempDir(), "tree.wim")
	testutil.Run(t, "wimlib-imagex", "capture", tree, wim, "--compress=none")
	testutil.Run(t, "wimlib-imagex", "apply", wim, "1", vol)
	return vol
}

// buildMiniDisk makes a GPT Windows disk (ESP, MSR, C: 176 MiB, WinRE
// 56 MiB) whose WinRE holds a real WIM of 30 MiB of random data, too
// little free space for the policy, and C: with ReAgent.xml pointing at it.
func buildMiniDisk(t *testing.T) string {
	t.Helper()
	testutil.NeedTool(t, "sgdisk", "mkntfs", "wimlib-imagex")
	img := filepath.Join(t.TempDir(), "mini.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(miniDisk); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "sgdisk", "-U", miniGUID,
		"-n", fmt.Sprintf("1:%d:+16M", miniESP), "-t", "1:ef00",
		"-n", fmt.Sprintf("2:%d:+16M", miniMSR), "-t", "2:0c01",
		"-n", fmt.Sprintf("3:%d:+%dM", miniOS, miniOSLen/miniMiB), "-t", "3:0700",
		"-n", fmt.Sprintf("4:%d:+%dM", miniRE, miniRELen/miniMiB), "-t", "4:de94bba4-06d1-4d40-a16a-bfd50179d6ac",
		"-A", "4:set:0", "-A", "4:set:63", img)

	reagent := strings.ReplaceAll(`<?xml version='1.0' encoding='utf-8' standalone='yes'?>
<WindowsRE version="2.0">
<WinreBCD id="{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}"/>
<WinreLocation path="\Recovery\WindowsRE" id="0" offset="`+fmt.Sprint(int64(miniRE)*512)+`" guid="{`+miniGUID+`}"/>
<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>
<InstallState state="1"/>
<WinREStaged state="0"/>
<OsBuildVersion path="22621.1.amd64fre.ni_release.220506-1250"/>
</WindowsRE>
`, "\n", "\r\n")
	osTree := writeTree(t, map[string][]byte{
		"Windows/System32/Recovery/ReAgent.xml": []byte(reagent),
		"Windows/System32/ntoskrnl.exe":         detBytes(1, 300<<10),
		"Windows/System32/config/SYSTEM":        detBytes(2, 64<<10),
		"Users/user/Documents/report.txt":       []byte("quarterly report\r\n"),
		"Users/user/Documents/photo.jpg":        detBytes(3, 2<<20),
	})
	wimSrc := writeTree(t, map[string][]byte{"sources/boot.bin": detBytes(4, miniWIMLen), "Windows/System32/winload.efi": detBytes(5, 8192)})
	wim := filepath.Join(t.TempDir(), "winre.wim")
	testutil.Run(t, "wimlib-imagex", "capture", wimSrc, wim, "Microsoft Windows Recovery Environment (x64)", "--compress=none")
	wimData, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	reTree := writeTree(t, map[string][]byte{"Recovery/WindowsRE/Winre.wim": wimData, "Recovery/WindowsRE/boot.sdi": detBytes(6, 3<<20)})

	for _, v := range []struct {
		lba  int
		size int64
		vol  string
	}{
		{miniOS, miniOSLen, ntfsVolume(t, miniOSLen, miniOS, "Windows", osTree)},
		{miniRE, miniRELen, ntfsVolume(t, miniRELen, miniRE, "Recovery", reTree)},
	} {
		data, err := os.ReadFile(v.vol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, int64(v.lba)*512); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// memOf loads an image file into an in-memory sparse device.
func memOf(t *testing.T, img string) *faultdev.Mem {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	m := faultdev.NewMem(int64(len(data)), 512)
	zero := make([]byte, faultdev.PageSize)
	for off := 0; off < len(data); off += faultdev.PageSize {
		page := data[off:min(off+faultdev.PageSize, len(data))]
		if string(page) != string(zero[:len(page)]) {
			m.WriteAt(page, int64(off))
		}
	}
	return m
}

// TestCrashMatrix crashes a real apply (shrink C:, move WinRE over its own
// old place, grow it, rewrite the GPT, patch ReAgent.xml) at every device
// write, with each kind of fault a power cut produces, and checks that
// Recover brings the disk to exactly the old or exactly the new state.
func TestCrashMatrix(t *testing.T) {
	img := buildMiniDisk(t)
	old := memOf(t, img)
	ctx := context.Background()
	l, err := recovery.Inspect(ctx, old, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A small minimum keeps the disk small; the policy's room for a 25%
	// larger WIM plus ReAgentc's 52 MiB still makes WinRE grow by ~40 MiB.
	p := planner.New(l, planner.Options{MinFreeBytes: 40 * miniMiB})
	if p.Refused || p.Strategy != planner.StrategyShrinkOS {
		t.Fatalf("mini disk plan: %s", p)
	}
	ops, err := buildOps(old, l, p, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Small chunks and frequent progress records make more crash points
	// inside the copy.
	create := func(dev journal.Device, path string) *journal.Journal {
		j, err := journal.Create(path, dev, ops, journal.CreateOptions{ChunkBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	runOpts := journal.RunOptions{SyncEveryBytes: 4 << 20}

	// A clean run gives the new state and the number of device writes.
	clean := faultdev.New(old.Clone())
	if err := create(clean, filepath.Join(t.TempDir(), "j")).Run(ctx, clean, runOpts); err != nil {
		t.Fatal(err)
	}
	writes := clean.Writes()
	newMem := old.Clone()
	if err := create(newMem, filepath.Join(t.TempDir(), "j")).Run(ctx, newMem, runOpts); err != nil {
		t.Fatal(err)
	}
	after, err := recovery.Inspect(ctx, newMem, recovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, after); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	t.Logf("plan: %s; %d ops, %d device writes in a clean run", p.Summary, len(ops), writes)

	step := 1
	if testing.Short() {
		step = 7
	}
	kinds := []string{"stop", "tear", "lose-unflushed"}
	outcomes := map[string]int{}
	points := 0
	for _, kind := range kinds {
		for k := 0; k < writes; k += step {
			m := old.Clone()
			dev := faultdev.New(m)
			switch kind {
			case "stop":
				dev.StopAfter(k)
			case "tear":
				dev.TearAt(k, 512*(k%7+1))
			case "lose-unflushed":
				dev.LoseUnflushed()
				dev.StopAfter(k)
			}
			path := filepath.Join(t.TempDir(), "j")
			if err := create(dev, path).Run(ctx, dev, runOpts); !errors.Is(err, faultdev.ErrPowerLost) {
				t.Fatalf("%s at write %d: run ended with %v, want a power loss", kind, k, err)
			}
			dev.Crash()
			points++
			res, err := journal.Recover(ctx, dev, path, journal.Auto, journal.RunOptions{})
			if err != nil {
				t.Fatalf("%s at write %d: Recover: %v", kind, k, err)
			}
			state := ""
			switch {
			case m.FirstDiff(old) < 0:
				state = "old"
			case m.FirstDiff(newMem) < 0:
				state = "new"
			default:
				t.Fatalf("%s at write %d: after Recover (%s) the disk is neither old nor new (first difference from new at byte %d, from old at %d)", kind, k, res.Action, m.FirstDiff(newMem), m.FirstDiff(old))
			}
			outcomes[state]++
			// Recover again: nothing changes.
			again := m.Clone()
			if _, err := journal.Recover(ctx, dev, path, journal.Auto, journal.RunOptions{}); err != nil || m.FirstDiff(again) >= 0 {
				t.Fatalf("%s at write %d: second Recover changed the disk or failed: %v", kind, k, err)
			}
		}
	}
	// Crashes during recovery: crash the apply, then crash Recover itself
	// after j of its writes, then recover again.
	second := 0
	for k := 0; k < writes; k += max(step, writes/8) {
		for _, j := range []int{0, 1, 3, 10} {
			m := old.Clone()
			dev := faultdev.New(m)
			dev.StopAfter(k)
			path := filepath.Join(t.TempDir(), "j")
			create(dev, path).Run(ctx, dev, runOpts)
			dev.Crash()
			dev.StopAfter(dev.Writes() + j)
			journal.Recover(ctx, dev, path, journal.Auto, journal.RunOptions{})
			dev.Crash()
			if _, err := journal.Recover(ctx, dev, path, journal.Auto, journal.RunOptions{}); err != nil {
				t.Fatalf("apply crashed at %d, recovery at +%d: Recover: %v", k, j, err)
			}
			if m.FirstDiff(old) >= 0 && m.FirstDiff(newMem) >= 0 {
				t.Fatalf("apply crashed at %d, recovery at +%d: neither old nor new", k, j)
			}
			second++
		}
	}
	t.Logf("%d double crashes (during apply, then during recovery) recovered", second)

	// The new state passes the reference tools (the old one is the mini
	// disk as built); every recovered disk above is byte for byte one of
	// the two.
	checkMiniNew(t, newMem, after)

	t.Logf("%d crash points (%d writes x %d fault kinds, every %d): %d recovered to the old state, %d to the new", points, writes, len(kinds), step, outcomes["old"], outcomes["new"])
}

// checkMiniNew dumps the new state to a file and checks it with sgdisk,
// ntfsresize and ntfscat.
func checkMiniNew(t *testing.T, m *faultdev.Mem, after *recovery.Layout) {
	t.Helper()
	testutil.NeedTool(t, "sgdisk", "ntfsresize", "ntfscat")
	img := filepath.Join(t.TempDir(), "new.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(m.Size())
	buf := make([]byte, faultdev.PageSize)
	zero := make([]byte, faultdev.PageSize)
	for off := int64(0); off < m.Size(); off += faultdev.PageSize {
		m.ReadAt(buf, off)
		if string(buf) != string(zero) {
			f.WriteAt(buf, off)
		}
	}
	f.Close()
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v of the new state:\n%s", out)
	}
	for _, n := range []int{after.OS, after.WinRE.Partition} {
		q := after.Partition(n)
		vol := testutil.ExtractPartition(t, img, q.StartBytes(512), q.SizeBytes)
		out, err := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", vol)
		if err != nil || strings.Contains(out, "ERROR") {
			t.Errorf("ntfsresize --info on partition %d of the new state: %v\n%s", n, err, out)
		}
		if n == after.WinRE.Partition {
			wim, err := testutil.RunErrBytes("ntfscat", "-f", vol, "/Recovery/WindowsRE/Winre.wim")
			if err != nil || len(wim) < miniWIMLen {
				t.Errorf("winre.wim in the new state: %d bytes, %v", len(wim), err)
			}
		}
	}
}
