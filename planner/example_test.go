package planner_test

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// ntfs returns the facts of a clean NTFS volume of size bytes with used
// bytes in use, all at its start.
func ntfs(size, used int64) *recovery.Filesystem {
	total := size - 512
	return &recovery.Filesystem{Kind: recovery.FSNTFS, LogFileClean: true, ClusterSize: 4096, TotalBytes: total,
		UsedBytes: used, FreeBytes: total - used, ShrinkableBytes: total - used, LastUsedCluster: used/4096 - 1}
}

// A 64 GiB disk laid out as KB5028997 assumes: C: followed by a 600 MiB
// WinRE with 80 MiB free.
func Example() {
	const mib = 1 << 20
	table, _ := gpt.New(64<<30, 512, uuid.MustParse("6a1b2c3d-0000-4000-8000-00000000d15c"))
	os := gpt.Entry{Type: gpt.TypeBasicData, UniqueGUID: uuid.MustParse("11111111-2222-4333-8444-000000000001"), FirstLBA: 2048, LastLBA: 2048 + (64924*mib)/512 - 1}
	re := gpt.Entry{Type: gpt.TypeWinRE, UniqueGUID: uuid.MustParse("11111111-2222-4333-8444-000000000002"), FirstLBA: 64925 * 2048, LastLBA: 65525*2048 - 1, Attributes: gpt.AttrWinRE}
	table.Add(os)
	table.Add(re)
	l := &recovery.Layout{Scheme: recovery.SchemeGPT, SectorSize: 512, SizeBytes: 64 << 30, GPT: table, OS: 1,
		Partitions: []recovery.Partition{
			{Number: 1, StartLBA: os.FirstLBA, EndLBA: os.LastLBA, SizeBytes: 64924 * mib, GPTType: os.Type, UniqueGUID: os.UniqueGUID, Role: recovery.RoleOS, FS: ntfs(64924*mib, 30000*mib)},
			{Number: 2, StartLBA: re.FirstLBA, EndLBA: re.LastLBA, SizeBytes: 600 * mib, GPTType: re.Type, UniqueGUID: re.UniqueGUID, Attributes: re.Attributes, Role: recovery.RoleWinRE, FS: ntfs(600*mib, 520*mib)},
		},
		WinRE: &recovery.WinRE{Partition: 2, Enabled: true, ReAgentPath: `\Windows\System32\Recovery\ReAgent.xml`, WIMBytes: 500 * mib},
	}
	p := planner.New(l, planner.Options{})
	fmt.Println(p.Summary)
	for _, s := range p.Steps {
		fmt.Println(s.Kind())
	}
	fmt.Printf("WinRE free after: %d MiB (policy %d MiB)\n", p.WinRE.ExpectedFreeBytes/mib, p.WinRE.RequiredFreeBytes/mib)
	// Output:
	// shrink C: by 161 MiB, move WinRE (partition 2) left and grow it to 771 MiB
	// shrink-filesystem
	// shrink-partition
	// copy-data
	// fix-hidden-sectors
	// move-partition
	// grow-partition
	// write-table
	// grow-filesystem
	// patch-reagent
	// WinRE free after: 250 MiB (policy 250 MiB)
}

// The sizing policy with its defaults.
func ExamplePolicy_RequiredFreeBytes() {
	p := planner.DefaultPolicy()
	for _, wim := range []int64{500, 822, 1024} {
		fmt.Printf("winre.wim %4d MiB: %d KiB free\n", wim, p.RequiredFreeBytes(wim<<20)>>10)
	}
	// Output:
	// winre.wim  500 MiB: 256000 KiB free
	// winre.wim  822 MiB: 263680 KiB free
	// winre.wim 1024 MiB: 315392 KiB free
}
