package ntfs

import (
	"fmt"
	"testing"
)

// TestUsedRuns: the runs UsedRuns reports are exactly the maximal runs of
// set bits in the whole $Bitmap, also when its chunks end inside runs and
// gaps (chunks of 1, 3 and 4096 bytes), and an error from fn stops it.
func TestUsedRuns(t *testing.T) {
	img, _ := rsPlain(t, map[string]int{"/a.bin": 100 << 10, "/b.bin": 3 << 20, "/c.txt": 700, "/d.bin": 9000})
	v := openImage(t, img)
	tc := v.TotalClusters()
	bm, err := v.ReadFile(`\$Bitmap`, (tc+7)/8+4096)
	if err != nil {
		t.Fatal(err)
	}
	var want [][2]int64
	for c := int64(0); c < tc; {
		if !bitSet(bm, c) {
			c++
			continue
		}
		s := c
		for c < tc && bitSet(bm, c) {
			c++
		}
		want = append(want, [2]int64{s, c - s})
	}
	if len(want) < 3 {
		t.Fatalf("only %d runs in use: the volume should be fragmented by its files", len(want))
	}
	old := usedRunsChunk
	defer func() { usedRunsChunk = old }()
	for _, chunk := range []int64{1, 3, 4096, scanChunk} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			usedRunsChunk = chunk
			var got [][2]int64
			if err := v.UsedRuns(func(first, count int64) error {
				got = append(got, [2]int64{first, count})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
	stop := fmt.Errorf("stop")
	n := 0
	if err := v.UsedRuns(func(first, count int64) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("fn error: %v after %d calls, want it after 1", err, n)
	}
}
