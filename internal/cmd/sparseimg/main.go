// Command sparseimg packs disk images into the project's compressed sparse
// fixture format (see package internal/sparseimg) and unpacks them.
//
// Usage:
//
//	sparseimg pack IMG OUT.sgz    pack an image
//	sparseimg unpack IN.sgz IMG   unpack into a sparse file
//	sparseimg digest IMG          print the digest Pack would record
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/winrepart/winrepart/internal/sparseimg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sparseimg:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: sparseimg pack IMG OUT | unpack IN IMG | digest IMG")
}

func run(args []string) error {
	if len(args) < 2 {
		return usage()
	}
	switch {
	case args[0] == "pack" && len(args) == 3:
		return pack(args[1], args[2])
	case args[0] == "unpack" && len(args) == 3:
		return unpack(args[1], args[2])
	case args[0] == "digest" && len(args) == 2:
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		sum, err := sparseimg.Digest(f, fi.Size())
		if err != nil {
			return err
		}
		fmt.Printf("%x  %s\n", sum, args[1])
		return nil
	}
	return usage()
}

func pack(img, out string) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	o, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(o)
	if err := sparseimg.Pack(w, f, fi.Size()); err != nil {
		o.Close()
		os.Remove(tmp)
		return err
	}
	if err := w.Flush(); err != nil {
		o.Close()
		os.Remove(tmp)
		return err
	}
	if err := o.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

func unpack(in, img string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	o, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := sparseimg.Unpack(o, bufio.NewReader(f)); err != nil {
		o.Close()
		os.Remove(img)
		return err
	}
	return o.Close()
}
