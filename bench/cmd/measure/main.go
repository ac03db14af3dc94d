//go:build linux

// Command measure runs a command and reports what it cost: wall time, the
// peak resident set size of the largest process in its tree, and the bytes
// the whole tree read and wrote.
//
// Usage:
//
//	measure [-o FILE] COMMAND [ARG...]
//
// The report is one line of key=value pairs, appended to FILE (default:
// standard error):
//
//	wall_ns       wall time from start to exit
//	maxrss_kib    getrusage(RUSAGE_CHILDREN).ru_maxrss after the command
//	              was reaped: the peak RSS of the largest single process
//	              among the command and the descendants it waited for
//	rchar wchar   bytes passed to read/pread and write/pwrite-like calls,
//	              page cache hits included (from /proc/PID/io)
//	read_bytes    bytes the block layer read for the tree, and bytes it
//	write_bytes   dirtied for writing (from /proc/PID/io; 0 on tmpfs)
//	exit          the exit status
//
// The /proc/PID/io figures are read while the command is a zombie: measure
// waits for it with waitid(WEXITED|WNOWAIT), reads /proc/PID/io, then reaps
// it. Linux adds the counters of every reaped descendant into its parent's,
// so for a shell script they cover every program it ran. I/O done by kernel
// threads on behalf of the tree (the loop device workers that read the
// backing file) is not counted: for loop devices the figures are the bytes
// the tools asked of the loop device.
//
// measure exits with the command's status. It runs on Linux only: it
// needs waitid and /proc.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("o", "", "append the report to this file instead of standard error")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: measure [-o FILE] COMMAND [ARG...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(*out, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(125)
	}
	os.Exit(code)
}

// report is what one run cost.
type report struct {
	wall    time.Duration
	maxRSS  int64 // KiB
	io      map[string]int64
	exit    int
	command string
}

func run(out string, argv []string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("waitid: %w", err)
		}
		break
	}
	wall := time.Since(start)
	counters, ioErr := readIO(pid)
	_ = cmd.Wait() // reaps; a non-zero exit is reported, not an error here
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	if ioErr != nil {
		return 0, ioErr
	}
	r := report{wall: wall, maxRSS: int64(ru.Maxrss), io: counters, exit: cmd.ProcessState.ExitCode(), command: strings.Join(argv, " ")}
	w := io.Writer(os.Stderr)
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		w = f
	}
	if _, err := fmt.Fprintf(w, "wall_ns=%d maxrss_kib=%d rchar=%d wchar=%d read_bytes=%d write_bytes=%d exit=%d\n",
		r.wall.Nanoseconds(), r.maxRSS, r.io["rchar"], r.io["wchar"], r.io["read_bytes"], r.io["write_bytes"], r.exit); err != nil {
		return 0, err
	}
	return r.exit, nil
}

// readIO returns the counters of /proc/PID/io.
func readIO(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := make(map[string]int64)
	s := bufio.NewScanner(f)
	for s.Scan() {
		var v int64
		k, val, ok := strings.Cut(s.Text(), ": ")
		if !ok {
			continue
		}
		if _, err := fmt.Sscan(val, &v); err == nil {
			m[k] = v
		}
	}
	return m, s.Err()
}
