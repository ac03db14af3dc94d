package recovery

import "github.com/winrepart/winrepart/blockdev"

// Device is what Inspect reads: the bytes of a whole disk, its size and its
// logical sector size ([blockdev.Reader]). Every [blockdev.Device], and so
// winrepart.Device, satisfies it; a device that also has
// PhysicalSectorSize() int reports that too.
type Device = blockdev.Reader
