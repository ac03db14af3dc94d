package faultdev_test

import (
	"fmt"

	"github.com/winrepart/winrepart/internal/faultdev"
)

func Example() {
	disk := faultdev.NewMem(1<<30, 512) // 1 GiB, allocated lazily
	d := faultdev.New(disk)
	d.LoseUnflushed()
	d.WriteAt([]byte("synced"), 0)
	d.Sync()
	d.WriteAt([]byte("cached"), 512)
	d.StopAfter(d.Writes()) // the power goes out before the next write
	_, err := d.WriteAt([]byte("never"), 1024)
	fmt.Println(err)
	d.Crash()
	b := make([]byte, 6)
	d.ReadAt(b, 0)
	fmt.Printf("%q ", b)
	d.ReadAt(b, 512)
	fmt.Printf("%q\n", b)
	// Output:
	// write 2 at 1024 (0 of 5 bytes stored): faultdev: power lost
	// "synced" "\x00\x00\x00\x00\x00\x00"
}
