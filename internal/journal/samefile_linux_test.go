package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

// TestRefuseBlockDevice names the block device that holds the temporary
// directory as the device and expects Create to refuse a journal there.
func TestRefuseBlockDevice(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	dev := uint64(st.Dev)
	node := ""
	if b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major(dev), minor(dev))); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(l, "DEVNAME="); ok {
				node = "/dev/" + name
			}
		}
	}
	if fi, err := os.Stat(node); node == "" || err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Skipf("the temporary directory is not on a visible block device (%q)", node)
	}
	d := &pathDev{Mem: faultdev.NewMem(8*mib, 512), path: node}
	_, err := Create(filepath.Join(dir, "j"), d, []Op{Barrier{}}, CreateOptions{})
	if !errors.Is(err, ErrSameDevice) {
		t.Fatalf("journal on a filesystem of %s: %v, want ErrSameDevice", node, err)
	}
	t.Logf("refused: %v", err)
}
