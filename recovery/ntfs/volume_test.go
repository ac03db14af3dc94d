package ntfs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/winrepart/winrepart/internal/testutil"
)

var ignorePairs = cmpopts.IgnoreFields(Run{}, "PairOffset", "PairLength")

// TestGeometryMatrix formats volumes with mkntfs across sector and cluster
// sizes and compares every figure with ntfsinfo and ntfsresize.
func TestGeometryMatrix(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfsinfo", "ntfsresize")
	for _, tc := range []struct {
		sector, cluster int
		size            int64
	}{
		{512, 512, 64 << 20},
		{512, 4096, 64 << 20},
		{512, 65536, 128 << 20},
		{512, 2 << 20, 1 << 30},
		{4096, 4096, 64 << 20},
		{4096, 65536, 128 << 20},
		{4096, 2 << 20, 1 << 30},
	} {
		t.Run(fmt.Sprintf("s%d-c%d", tc.sector, tc.cluster), func(t *testing.T) {
			img := mkntfs(t, tc.size, tc.sector, tc.cluster, "lbl")
			v := openImage(t, img)
			info := testutil.Run(t, "ntfsinfo", "-m", img)
			if got, want := v.ClusterSize(), atoi(t, ntfsinfoField(t, info, "Cluster Size")); got != want {
				t.Errorf("ClusterSize = %d, ntfsinfo %d", got, want)
			}
			if got, want := int64(v.Boot.BytesPerSector), atoi(t, ntfsinfoField(t, info, "Sector Size")); got != want {
				t.Errorf("BytesPerSector = %d, ntfsinfo %d", got, want)
			}
			if got, want := v.TotalClusters(), atoi(t, ntfsinfoField(t, info, "Volume Size in Clusters")); got != want {
				t.Errorf("TotalClusters = %d, ntfsinfo %d", got, want)
			}
			if got, want := v.Boot.MFTRecordSize(), atoi(t, ntfsinfoField(t, info, "MFT Record Size")); got != want {
				t.Errorf("MFTRecordSize = %d, ntfsinfo %d", got, want)
			}
			if got, want := v.Boot.IndexBlockSize(), atoi(t, ntfsinfoField(t, info, "Index Block Size")); got != want {
				t.Errorf("IndexBlockSize = %d, ntfsinfo %d", got, want)
			}
			if got, want := int64(v.Boot.MFTLCN), atoi(t, ntfsinfoField(t, info, "LCN of Data Attribute for FILE_MFT")); got != want {
				t.Errorf("MFTLCN = %d, ntfsinfo %d", got, want)
			}
			if got, want := int64(v.Boot.MFTMirrLCN), atoi(t, ntfsinfoField(t, info, "LCN of Data Attribute for File_MFTMirr")); got != want {
				t.Errorf("MFTMirrLCN = %d, ntfsinfo %d", got, want)
			}
			major, minor, err := v.Version()
			if got, want := fmt.Sprintf("%d.%d", major, minor), ntfsinfoField(t, info, "Volume Version"); err != nil || got != want {
				t.Errorf("Version = %s, %v; ntfsinfo %s", got, err, want)
			}
			if l, err := v.Label(); err != nil || l != "lbl" {
				t.Errorf("Label = %q, %v", l, err)
			}
			if d, err := v.Dirty(); err != nil || d {
				t.Errorf("Dirty = %v, %v on a fresh volume", d, err)
			}
			if c, err := v.LogFileClean(); err != nil || !c {
				t.Errorf("LogFileClean = %v, %v on a fresh volume", c, err)
			}
			if h, err := v.Hibernated(); err != nil || h {
				t.Errorf("Hibernated = %v, %v", h, err)
			}
			u, err := v.Usage()
			if err != nil {
				t.Fatal(err)
			}
			if want := atoi(t, ntfsinfoField(t, info, "Free Clusters")); u.FreeClusters != want {
				t.Errorf("FreeClusters = %d, ntfsinfo %d", u.FreeClusters, want)
			}
			last, err := v.LastUsedCluster()
			if err != nil || last != u.LastUsedCluster {
				t.Errorf("LastUsedCluster = %d, %v; Usage says %d", last, err, u.LastUsedCluster)
			}
			if free, err := v.RangeFree(last, 1); err != nil || free {
				t.Errorf("RangeFree(last used) = %v, %v", free, err)
			}
			if free, err := v.RangeFree(last+1, v.TotalClusters()-last-1); err != nil || !free {
				t.Errorf("RangeFree(after last used) = %v, %v", free, err)
			}
			res := testutil.Run(t, "ntfsresize", "--info", "--force", "--no-progress-bar", img)
			// ntfsresize counts whole clusters plus the backup boot sector.
			if got, want := v.TotalClusters()*v.ClusterSize()+int64(v.Boot.BytesPerSector), atoi(t, ntfsinfoField(t, res, "Current volume size")); got != want {
				t.Errorf("TotalClusters*ClusterSize+BytesPerSector = %d, ntfsresize %d", got, want)
			}
			checkShrinkLimit(t, v, img, res)
			for _, p := range []string{`\$MFT`, `\$MFTMirr`, `\$LogFile`, `\$Bitmap`, `\$UpCase`, `\$Boot`} {
				f, err := v.Lookup(p)
				if err != nil {
					t.Fatalf("Lookup(%s): %v", p, err)
				}
				if diff := cmp.Diff(mergeRuns(ntfsinfoRuns(t, img, strings.ReplaceAll(p, `\`, "/"))), mergeRuns(f.Runs)); diff != "" {
					t.Errorf("%s runs (-ntfsinfo +ours):\n%s", p, diff)
				}
			}
		})
	}
}

// checkShrinkLimit compares ShrinkLimit with ntfsresize: ntfsresize's
// "You might resize at" may relocate data, so it is never larger; and a
// dry run of ntfsresize at our limit must need no relocation.
func checkShrinkLimit(t *testing.T, v *Volume, img, info string) {
	t.Helper()
	lim, err := v.ShrinkLimit()
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(info, "You might resize at ")
	if i < 0 {
		t.Logf("ntfsresize gave no hint:\n%s", info)
		return
	}
	theirs := atoi(t, info[i+len("You might resize at "):])
	if theirs > lim {
		t.Errorf("ShrinkLimit %d is below ntfsresize's %d", lim, theirs)
	}
	out := testutil.Run(t, "ntfsresize", "--no-action", "--force", "--no-progress-bar", "--size", fmt.Sprint(lim), img)
	if !strings.Contains(out, "Needed relocations : 0 ") || !strings.Contains(out, "test run ended successfully") {
		t.Errorf("ntfsresize dry run at ShrinkLimit %d needs relocations or fails:\n%s", lim, out)
	}
	// One cluster less cuts off the last cluster in use.
	out = testutil.Run(t, "ntfsresize", "--no-action", "--force", "--no-progress-bar", "--size", fmt.Sprint(lim-v.ClusterSize()), img)
	if strings.Contains(out, "Needed relocations : 0 ") {
		t.Errorf("ntfsresize needs no relocation at ShrinkLimit-1 cluster = %d: the limit is not tight:\n%s", lim-v.ClusterSize(), out)
	}
	t.Logf("ShrinkLimit %d bytes; ntfsresize hint %d bytes", lim, theirs)
}

func TestWindowsSamples(t *testing.T) {
	t.Run("ntfs-windows", func(t *testing.T) {
		b := sampleBytes(t, "ntfs-windows.img.xz")
		v := openBytes(t, b)
		if l, err := v.Label(); err != nil || l != "Новый том" {
			t.Errorf("Label = %q, %v", l, err)
		}
		if v.ClusterSize() != 4096 {
			t.Errorf("ClusterSize = %d", v.ClusterSize())
		}
		maj, min, err := v.Version()
		if err != nil || maj != 3 || min != 1 {
			t.Errorf("Version = %d.%d, %v", maj, min, err)
		}
		if c, err := v.LogFileClean(); err != nil || !c {
			t.Errorf("LogFileClean = %v, %v", c, err)
		}
		compareWithTools(t, b, v)
	})
	t.Run("charlie", func(t *testing.T) {
		b := sampleBytes(t, "ntfs-windows-charlie.dd.bz2")
		v := openBytes(t, b)
		if v.Boot.HiddenSectors != 128 {
			t.Errorf("HiddenSectors = %d, want 128", v.Boot.HiddenSectors)
		}
		compareWithTools(t, b, v)
	})
	t.Run("bitlocker", func(t *testing.T) {
		b := sampleBytes(t, "bitlocker-windows.img.xz")
		_, err := Open(bytesReader(b), int64(len(b)))
		if err != ErrBitLocker {
			t.Errorf("Open = %v, want ErrBitLocker", err)
		}
	})
}

// compareWithTools writes the sample to a temporary file and compares
// usage, and every file in the root directory, with ntfs-3g's tools.
func compareWithTools(t *testing.T, b []byte, v *Volume) {
	t.Helper()
	testutil.NeedTool(t, "ntfsinfo", "ntfsls", "ntfscat")
	img := t.TempDir() + "/sample.img"
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	info := testutil.Run(t, "ntfsinfo", "-m", img)
	u, err := v.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if want := atoi(t, ntfsinfoField(t, info, "Free Clusters")); u.FreeClusters != want {
		t.Errorf("FreeClusters = %d, ntfsinfo %d", u.FreeClusters, want)
	}
	var names []string
	for _, n := range strings.Split(testutil.Run(t, "ntfsls", "-a", "-s", img), "\n") {
		if n = strings.TrimSpace(n); n != "" && n != "." && n != ".." {
			names = append(names, n)
		}
	}
	if len(names) < 10 {
		t.Fatalf("ntfsls listed %q", names)
	}
	for _, n := range names {
		f, err := v.Lookup(`\` + n)
		if err != nil {
			t.Errorf("Lookup(%s): %v", n, err)
			continue
		}
		if f.IsDir || f.Compressed || f.Encrypted {
			continue
		}
		data, err := v.ReadFile(`\`+strings.ToUpper(n), 64<<20)
		if err != nil {
			t.Errorf("ReadFile(%s): %v", n, err)
			continue
		}
		want := stdout(t, "ntfscat", img, "/"+n)
		if n == "$BadClus" || n == "$Secure" || n == "$Extend" {
			continue // no unnamed $DATA worth comparing
		}
		if n == "$MFT" || n == "$MFTMirr" {
			// ntfscat shows MFT records with their fixups applied.
			rs := int(v.Boot.MFTRecordSize())
			for i := 0; i+rs <= len(data); i += rs {
				if string(data[i:i+4]) == "FILE" {
					if err := ApplyFixups(data[i : i+rs]); err != nil {
						t.Errorf("%s record %d: %v", n, i/rs, err)
					}
				}
			}
		}
		if sha(data) != sha(want) {
			t.Errorf("%s: %d bytes, ntfscat %d bytes, contents differ", n, len(data), len(want))
		}
	}
}
