package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/winrepart/winrepart/internal/faultdev"
	"github.com/winrepart/winrepart/internal/journal"
)

// A power cut in the middle of a journaled change, then recovery.
func Example() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)
	disk := faultdev.NewMem(64<<20, 512)
	disk.WriteAt([]byte("WinRE data"), 40<<20)
	ops := []journal.Op{
		journal.Write{Offset: 512, New: []byte("backup table"), What: "backup table"},
		journal.Barrier{What: "flush"},
		journal.Copy{Src: 40 << 20, Dst: 39 << 20, Length: 4 << 20, What: "move WinRE 1 MiB left"},
		journal.Write{Offset: 1024, New: []byte("primary table"), What: "primary table"},
	}
	path := filepath.Join(dir, "disk.img.journal")
	j, err := journal.Create(path, disk, ops, journal.CreateOptions{Summary: "move WinRE"})
	if err != nil {
		fmt.Println(err)
		return
	}
	dev := faultdev.New(disk)
	dev.StopAfter(3) // the power goes out during the copy
	fmt.Println(j.Run(context.Background(), dev, journal.RunOptions{}) != nil)
	dev.Crash()

	res, err := journal.Recover(context.Background(), disk, path, journal.Auto, journal.RunOptions{})
	fmt.Println(res.Action, err)
	b := make([]byte, 10)
	disk.ReadAt(b, 39<<20)
	fmt.Printf("%s\n", b)
	res, _ = journal.Recover(context.Background(), disk, path, journal.Auto, journal.RunOptions{})
	fmt.Println(res.Action)
	// Output:
	// true
	// rolled forward <nil>
	// WinRE data
	// already complete
}
