// Command mkfiles writes N files of deterministic, incompressible bytes
// under a directory, 1,000 per subdirectory, with sizes spread evenly
// (pseudo-randomly) between MIN and MAX bytes. run.sh uses it for the
// files of its relocation cases: 100,000 small files are too slow to make
// from a shell loop.
//
// Usage:
//
//	mkfiles DIR N MIN MAX SEED
//
// It prints the total number of bytes written.
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkfiles:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("usage: mkfiles DIR N MIN MAX SEED")
	}
	var n [4]int64
	for i, a := range args[1:] {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("bad number %q", a)
		}
		n[i] = v
	}
	count, lo, hi, seed := n[0], n[1], n[2], n[3]
	if hi < lo {
		return fmt.Errorf("MAX %d is below MIN %d", hi, lo)
	}
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	rng := rand.New(src)
	buf := make([]byte, hi)
	var total int64
	for i := int64(0); i < count; i++ {
		p := filepath.Join(args[0], fmt.Sprintf("d%03d", i/1000), fmt.Sprintf("f%06d.bin", i))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
		}
		size := lo + rng.Int64N(hi-lo+1)
		b := buf[:size]
		src.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		total += size
	}
	fmt.Println(total)
	return nil
}
