package gpt_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/winrepart/winrepart/gpt"
)

// memDisk is a disk image in memory.
type memDisk []byte

func (d memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(d[off:], p), nil }

// Build a Windows-style table on a 64 MiB disk, write it, read it back and
// list the partitions.
func Example() {
	const size = 64 << 20
	t, err := gpt.New(size, 512, uuid.MustParse("d15c0000-1111-4222-8333-444455556666"))
	if err != nil {
		panic(err)
	}
	add := func(typ gpt.Type, sectors uint64, attrs gpt.Attributes, name string) {
		free := t.FreeExtents(0)[0]
		e := gpt.Entry{Type: typ, FirstLBA: free.FirstLBA, LastLBA: free.LastLBA, Attributes: attrs,
			UniqueGUID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(name))}
		if sectors != 0 {
			e.LastLBA = e.FirstLBA + sectors - 1
		}
		if err := e.SetLabel(name); err != nil {
			panic(err)
		}
		if _, err := t.Add(e); err != nil {
			panic(err)
		}
	}
	add(gpt.TypeESP, 20<<11, 0, "EFI system partition")
	add(gpt.TypeMSR, 16<<11, 0, "Microsoft reserved partition")
	add(gpt.TypeBasicData, 20<<11, 0, "Basic data partition")
	add(gpt.TypeWinRE, 0, gpt.AttrWinRE, "Windows RE tools")

	disk := make(memDisk, size)
	ws, err := t.Writes()
	if err != nil {
		panic(err)
	}
	for _, w := range ws {
		disk.WriteAt(w.New, w.Offset)
	}

	got, err := gpt.Read(bytes.NewReader(disk), size, 512)
	if err != nil {
		panic(err)
	}
	fmt.Println("source:", got.Source, "problems:", len(got.Verify()))
	for _, p := range got.Partitions() {
		fmt.Printf("%d %-6d %3d MiB %-28s %s\n", p.Number, p.FirstLBA, p.SizeBytes(512)>>20, p.Type.Name(), p.Label())
	}
	re, _ := got.Partition(4)
	fmt.Println(re.Type, re.Attributes)
	// Output:
	// source: primary problems: 0
	// 1 2048    20 MiB EFI System                   EFI system partition
	// 2 43008   16 MiB Microsoft reserved           Microsoft reserved partition
	// 3 75776   20 MiB Microsoft basic data         Basic data partition
	// 4 116736   6 MiB Windows Recovery Environment Windows RE tools
	// de94bba4-06d1-4d40-a16a-bfd50179d6ac 0x8000000000000001 (platform-required, no-drive-letter)
}

// A broken primary header is reported, the backup is used, and Writes
// rebuilds the primary.
func ExampleRead_fallback() {
	const size = 1 << 20
	t, _ := gpt.New(size, 512, uuid.Nil)
	ws, _ := t.Writes()
	disk := make(memDisk, size)
	for _, w := range ws {
		disk.WriteAt(w.New, w.Offset)
	}
	disk[512+60] ^= 0xFF // damage the primary header

	got, err := gpt.Read(io.NewSectionReader(bytes.NewReader(disk), 0, size), size, 512)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Source)
	for _, p := range got.Verify() {
		fmt.Println(p.Code)
	}
	// Output:
	// backup
	// primary-invalid
	// zero-disk-guid
}

func ExampleAttributes_String() {
	fmt.Println(gpt.AttrWinRE)
	fmt.Println(gpt.AttrPlatformRequired | gpt.AttrHidden | gpt.AttrNoDriveLetter | 1<<48)
	// Output:
	// 0x8000000000000001 (platform-required, no-drive-letter)
	// 0xc001000000000001 (platform-required, bit 48, hidden, no-drive-letter)
}
