package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/winrepart/winrepart/blockdev"
)

// checkSameDevice refuses a journal path that lies on the device.
func checkSameDevice(journalPath string, dev Device) error {
	p, ok := dev.(blockdev.Pather)
	if !ok || p.Path() == "" {
		return nil
	}
	di, err := os.Stat(p.Path())
	if err != nil {
		return fmt.Errorf("journal: checking the device path: %w", err)
	}
	if ji, err := os.Stat(journalPath); err == nil {
		if os.SameFile(ji, di) {
			return fmt.Errorf("%w: %s is the device %s", ErrSameDevice, journalPath, p.Path())
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	if di.Mode()&os.ModeDevice != 0 {
		dir, err := filepath.Abs(filepath.Dir(journalPath))
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		on, err := dirOnBlockDevice(dir, di)
		if err != nil {
			return fmt.Errorf("journal: checking where %s lives: %w", dir, err)
		}
		if on {
			return fmt.Errorf("%w: %s is on a filesystem of %s", ErrSameDevice, dir, p.Path())
		}
	}
	return nil
}
