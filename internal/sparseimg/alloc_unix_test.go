//go:build unix

package sparseimg

import (
	"os"
	"syscall"
)

// allocatedBytes returns the bytes of storage f occupies (st_blocks in
// 512-byte units), and false when the platform cannot tell.
func allocatedBytes(f *os.File) (int64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, false
	}
	return int64(st.Blocks) * 512, true
}
