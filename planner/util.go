package planner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/winrepart/winrepart/recovery"
)

func alignUp(v, a int64) int64 {
	if a <= 1 {
		return v
	}
	if r := v % a; r != 0 {
		if v < 0 {
			return v - r
		}
		return v + a - r
	}
	return v
}

func alignDown(v, a int64) int64 {
	if a <= 1 {
		return v
	}
	r := v % a
	if r < 0 {
		r += a
	}
	return v - r
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mib renders a byte count in MiB, with two decimals unless whole. Plans
// count in MiB on purpose (partitions are MiB-aligned and diskpart takes
// MB, which are MiB), so they do not use diag.FormatBytes, which picks the
// largest unit for people reading an inspection.
func mib(b int64) string {
	if b%MiB == 0 {
		return strconv.FormatInt(b/MiB, 10) + " MiB"
	}
	return fmt.Sprintf("%.2f MiB", float64(b)/float64(MiB))
}

// mibUp renders a byte count in whole MiB, rounded up.
func mibUp(b int64) string { return strconv.FormatInt((b+MiB-1)/MiB, 10) + " MiB" }

func numberList(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func clonePartition(q *recovery.Partition) *recovery.Partition {
	if q == nil {
		return nil
	}
	c := *q
	if q.FS != nil {
		f := *q.FS
		c.FS = &f
	}
	return &c
}

func clonePartitions(ps []recovery.Partition) []recovery.Partition {
	if ps == nil {
		return nil
	}
	out := make([]recovery.Partition, len(ps))
	for i := range ps {
		out[i] = *clonePartition(&ps[i])
	}
	return out
}

// resizeTo sets q's end (exclusive, bytes) and size, and the filesystem's
// total size and free space to match.
func resizeTo(q *recovery.Partition, end int64, ss int) {
	old := q.SizeBytes
	q.EndLBA = uint64(end/int64(ss)) - 1
	q.SizeBytes = int64(q.EndLBA-q.StartLBA+1) * int64(ss)
	if f := q.FS; f != nil && f.TotalBytes > 0 {
		d := q.SizeBytes - old
		f.TotalBytes += d
		f.FreeBytes += d
		f.ShrinkableBytes += d
	}
}

// byteCount renders an exact byte count, with MiB when it is large:
// "12582912 bytes (12 MiB)".
func byteCount(b int64) string {
	if b < MiB {
		return strconv.FormatInt(b, 10) + " bytes"
	}
	return strconv.FormatInt(b, 10) + " bytes (" + mib(b) + ")"
}

// plural renders "1 file", "2 files".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
