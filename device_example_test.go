package winrepart_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/winrepart/winrepart"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "winrepart-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A sparse 64 MiB image whose GPT header sits at byte 4096: a 4Kn disk.
	path := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Truncate(path, 64<<20); err != nil {
		log.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("EFI PART"), 4096)
	f.Close()

	dev, err := winrepart.Open(path, winrepart.OpenOptions{}) // read-only
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	fmt.Println(dev.Size(), dev.SectorSize())

	_, err = dev.WriteAt([]byte{0}, 0)
	fmt.Println(errors.Is(err, winrepart.ErrReadOnly))
	_, err = dev.ReadAt(make([]byte, 512), dev.Size())
	fmt.Println(errors.Is(err, winrepart.ErrOutOfRange))
	// Output:
	// 67108864 4096
	// true
	// true
}
