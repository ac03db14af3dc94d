package ntfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
)

// TestLastUsedClusterFrom checks the floored scan against the full one on a
// volume made by mkntfs, for floors below, at and above the last used
// cluster, and that it reads no more of $Bitmap than the tail it covers.
func TestLastUsedClusterFrom(t *testing.T) {
	testutil.NeedTool(t, "mkntfs")
	img := filepath.Join(t.TempDir(), "vol.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", img)
	v, err := Open(f, 4<<30)
	if err != nil {
		t.Fatal(err)
	}
	last, err := v.LastUsedCluster()
	if err != nil || last < 0 {
		t.Fatalf("LastUsedCluster = %d, %v", last, err)
	}
	tc := v.TotalClusters()
	for _, floor := range []int64{-5, 0, 1, last - 9, last, last + 1, last + 13, tc - 1, tc, tc + 100} {
		got, found, err := v.LastUsedClusterFrom(floor)
		if err != nil {
			t.Fatal(err)
		}
		clamped := min(max(floor, 0), tc)
		wantFound := clamped <= last
		want := last
		if !wantFound {
			want = clamped - 1
		}
		if got != want || found != wantFound {
			t.Errorf("LastUsedClusterFrom(%d) = %d, %v; want %d, %v", floor, got, found, want, wantFound)
		}
	}
	// A floor 1 Mi clusters below the end reads about 128 KiB of $Bitmap.
	v.ResetBytesRead()
	if _, _, err := v.LastUsedClusterFrom(tc - 1<<20); err != nil {
		t.Fatal(err)
	}
	if n := v.BytesRead(); n > 256<<10 {
		t.Errorf("a 1 Mi-cluster tail read %d bytes", n)
	}
}
