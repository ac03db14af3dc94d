package sparseimg_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/winrepart/winrepart/internal/sparseimg"
)

func Example() {
	dir, err := os.MkdirTemp("", "sparseimg-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A 1 GiB image holding a boot signature and little else.
	src, err := os.Create(filepath.Join(dir, "disk.img"))
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	src.Truncate(1 << 30)
	src.WriteAt([]byte{0x55, 0xAA}, 510)

	var packed bytes.Buffer
	if err := sparseimg.Pack(&packed, src, 1<<30); err != nil {
		log.Fatal(err)
	}
	fmt.Println("packed under 200 bytes:", packed.Len() < 200)

	dst, err := os.Create(filepath.Join(dir, "copy.img"))
	if err != nil {
		log.Fatal(err)
	}
	defer dst.Close()
	size, err := sparseimg.Unpack(dst, &packed)
	if err != nil {
		log.Fatal(err)
	}
	sig := make([]byte, 2)
	dst.ReadAt(sig, 510)
	fmt.Printf("%d bytes, signature %X\n", size, sig)
	// Output:
	// packed under 200 bytes: true
	// 1073741824 bytes, signature 55AA
}
