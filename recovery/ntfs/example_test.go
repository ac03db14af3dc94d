package ntfs_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/ulikunitz/xz"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// loadImage decompresses a test image into memory.
func loadImage(name string) []byte {
	f, err := os.Open("testdata/" + name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := xz.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func Example() {
	img := loadImage("winre-small.img.xz")
	vol, err := ntfs.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		log.Fatal(err)
	}
	label, _ := vol.Label()
	major, minor, _ := vol.Version()
	fmt.Printf("%q NTFS %d.%d, %d clusters of %d bytes\n", label, major, minor, vol.TotalClusters(), vol.ClusterSize())

	xml, err := vol.ReadFile(`\recovery\windowsre\reagent.xml`, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Count(string(xml), "\n"), "lines,", strings.Contains(string(xml), `offset="1048576"`))

	_, err = vol.Lookup(`\Windows\System32\Recovery\ReAgent.xml`)
	fmt.Println(err)
	// Output:
	// "WinRE" NTFS 3.1, 511 clusters of 4096 bytes
	// 2 lines, true
	// "\\Windows\\System32\\Recovery\\ReAgent.xml" (at "Windows"): ntfs: file not found
}

func ExampleVolume_ShrinkLimit() {
	img := loadImage("winre-small.img.xz")
	vol, err := ntfs.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		log.Fatal(err)
	}
	last, _ := vol.LastUsedCluster()
	min, _ := vol.ShrinkLimit()
	fmt.Println(min == (last+2)*vol.ClusterSize())
	// Output: true
}

func ExampleParseBootSector() {
	img := loadImage("winre-small.img.xz")
	bs, err := ntfs.ParseBootSector(img[:ntfs.BootSectorSize])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s sector %d cluster %d record %d index block %d\n",
		bs.OEMID[:], bs.BytesPerSector, bs.ClusterSize(), bs.MFTRecordSize(), bs.IndexBlockSize())

	copy(img[3:], "-FVE-FS-")
	_, err = ntfs.ParseBootSector(img[:ntfs.BootSectorSize])
	fmt.Println(err)
	// Output:
	// NTFS     sector 512 cluster 4096 record 1024 index block 4096
	// ntfs: BitLocker-encrypted volume
}
