package mbr_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/winrepart/winrepart/mbr"
)

// disk is a tiny in-memory disk image that io.WriterAt can write into.
type disk []byte

func (d disk) WriteAt(p []byte, off int64) (int, error) { return copy(d[off:], p), nil }

// The BIOS layout Windows Setup makes: System Reserved (active), C:, and a
// WinRE partition of type 0x27 after it.
func Example() {
	const size = 8 << 20 // 8 MiB
	tbl, err := mbr.New(size, 512, 0x12345678)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []struct {
		start, sectors uint64
		typ            mbr.Type
	}{
		{2048, 2048, mbr.TypeNTFS},
		{4096, 8192, mbr.TypeNTFS},
		{12288, 2048, mbr.TypeWinRE},
	} {
		if _, err := tbl.AddPrimary(p.start, p.sectors, p.typ); err != nil {
			log.Fatal(err)
		}
	}
	if err := tbl.SetActive(1); err != nil {
		log.Fatal(err)
	}
	writes, err := tbl.Writes()
	if err != nil {
		log.Fatal(err)
	}
	img := make(disk, size)
	for _, w := range writes {
		img.WriteAt(w.New, w.Offset)
	}

	back, err := mbr.Read(bytes.NewReader(img), size, 512)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("kind %v, signature %#08x\n", back.Record.Kind(), back.Record.DiskSignature)
	for _, p := range back.Partitions() {
		fmt.Printf("%d start %d sectors %d type %v active %v\n", p.Number, p.StartLBA, p.Sectors, p.Type, p.Bootable)
	}
	fmt.Println("problems:", len(back.Verify()))
	fmt.Println("free:", back.FreeExtents(2048))
	// Output:
	// kind mbr, signature 0x12345678
	// 1 start 2048 sectors 2048 type 0x07 (HPFS/NTFS/exFAT) active true
	// 2 start 4096 sectors 8192 type 0x07 (HPFS/NTFS/exFAT) active false
	// 3 start 12288 sectors 2048 type 0x27 (Windows RE (hidden NTFS)) active false
	// problems: 0
	// free: [{14336 2048}]
}

// Verify reports what is wrong with a table, with a remedy for each
// problem.
func ExampleTable_Verify() {
	tbl, _ := mbr.New(64<<20, 512, 1)
	tbl.AddPrimary(2048, 4096, mbr.TypeNTFS)
	tbl.AddPrimary(8192, 4096, mbr.TypeWinRE)
	// Mark both active by hand, as a broken tool might.
	tbl.Record.Entries[0].Status = 0x80
	tbl.Record.Entries[1].Status = 0x80
	for _, p := range tbl.Verify() {
		fmt.Println(p.Severity, p.Code+":", p.Message)
		fmt.Println("remedy:", p.Remedy)
	}
	// Output:
	// error multiple-active: partitions [1 2] are all marked active
	// remedy: mark exactly one partition active (Windows requires zero or one; BIOS boot code requires one), e.g. with sfdisk --activate DISK N
}
