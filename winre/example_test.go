package winre_test

import (
	"bytes"
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/winrepart/winrepart/winre"
)

// A 529 MiB recovery partition (Windows 10 up to 1909 made these) holding a
// 420 MiB winre.wim with 95 MiB free: what does it need?
func ExamplePolicy_TargetPartitionBytes() {
	p := winre.DefaultPolicy()
	s := winre.Status{
		PartitionBytes: 529 * winre.MiB,
		FreeBytes:      95 * winre.MiB, // used: 434 MiB (WIM, boot.sdi, NTFS metadata)
		WIMBytes:       420 * winre.MiB,
	}
	v := p.Check(s)
	fmt.Println("meets KB5034441:", v.MeetsKB5034441)
	// A WIM 25% larger replaces today's: 105 MiB + 52 MiB < 250 MiB, so the
	// KB5034441 minimum decides.
	fmt.Println("required free MiB:", v.RequiredFreeBytes/winre.MiB)
	fmt.Println("short by MiB:", v.ShortByBytes/winre.MiB)
	// 434 MiB used + 250 MiB free = 684 MiB; growing by 155 MiB adds
	// 39,680 clusters of 4 KiB, whose $Bitmap bits take 4,960 bytes = 2
	// clusters; + 1 cluster for the backup boot sector; then 1 MiB
	// alignment: 685 MiB.
	fmt.Println("target MiB:", p.TargetPartitionBytes(s, 4096)/winre.MiB)
	// Output:
	// meets KB5034441: false
	// required free MiB: 250
	// short by MiB: 155
	// target MiB: 685
}

func ExampleParseReAgent() {
	b, err := os.ReadFile("testdata/ReAgent-gpt.xml")
	if err != nil {
		panic(err)
	}
	r, err := winre.ParseReAgent(b)
	if err != nil {
		panic(err)
	}
	build, _ := r.Build()
	fmt.Println("enabled:", r.Enabled(), "build:", build)
	fmt.Println("path:", r.WinreLocation.Path)
	fmt.Println("partition offset:", r.WinreLocation.Offset)
	fmt.Println("disk GUID:", r.WinreLocation.GUID)
	fmt.Println("problems:", len(r.Verify()))
	// Output:
	// enabled: true build: 22621
	// path: \Recovery\WindowsRE
	// partition offset: 3926917120
	// disk GUID: 5bc3b6ba-0000-4000-8000-000000000001
	// problems: 0
}

// After the recovery partition moved to 1 MiB on the same GPT disk, only
// the offset changes; the file keeps its length.
func ExamplePatchLocation() {
	b, err := os.ReadFile("testdata/ReAgent-gpt.xml")
	if err != nil {
		panic(err)
	}
	disk := uuid.MustParse("5bc3b6ba-0000-4000-8000-000000000001")
	out, err := winre.PatchLocation(b, 1048576, disk, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println("same length:", len(out) == len(b))
	i := bytes.Index(out, []byte("<WinreLocation"))
	j := i + bytes.Index(out[i:], []byte("/>")) + 2
	fmt.Printf("%s\n", out[i:j])

	// Growing the offset from 10 to 13 digits has no whitespace to absorb.
	_, err = winre.PatchLocation(b, 1<<40, disk, 0)
	fmt.Println(err)
	// Output:
	// same length: true
	// <WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{5bc3b6ba-0000-4000-8000-000000000001}"   />
	// winre: patch does not fit in the existing file length: <WinreLocation> needs 3 more characters, only 0 spare (short by 3)
}
