package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/winrepart/winrepart/diag"
)

// PlanHiddenSectors plans the change a partition move needs once its bytes
// have been copied to a new start: the boot sector's HiddenSectors field
// (the partition's first LBA, in logical sectors of the disk) becomes
// newStartLBA, in the primary boot sector and in the backup one (the
// sector after the volume, when it lies in the partition). Windows' boot
// code uses the field to find the volume. A start beyond the 32-bit field
// (a partition past 2 TiB on 512-byte sectors) sets it to 0, as mkntfs
// does when it formats such a partition: the field only matters for
// booting the volume through its BIOS boot code, which a GPT WinRE never is.
func (v *Volume) PlanHiddenSectors(newStartLBA uint64) ([]diag.Write, error) {
	field := newStartLBA
	if field > math.MaxUint32 {
		field = 0
	}
	p := &writePlan{v: v}
	var f [4]byte
	binary.LittleEndian.PutUint32(f[:], uint32(field))
	what := fmt.Sprintf("HiddenSectors %d -> %d", v.Boot.HiddenSectors, field)
	if field != newStartLBA {
		what += fmt.Sprintf(" (start LBA %d does not fit 32 bits)", newStartLBA)
	}
	bps := int64(v.Boot.BytesPerSector)
	backup := int64(v.Boot.TotalSectors) * bps
	if backup+bps <= v.size {
		b := make([]byte, BootSectorSize)
		if err := readFull(v.r, b, backup); err != nil {
			return nil, err
		}
		if _, err := ParseBootSector(b); err == nil {
			if err := p.add(backup+offHiddenSectors, bytes.Clone(f[:]), "backup boot sector: "+what); err != nil {
				return nil, err
			}
		}
	}
	if err := p.add(offHiddenSectors, f[:], "boot sector: "+what); err != nil {
		return nil, err
	}
	return p.ws, nil
}

// PlanPatchFile plans overwriting the whole content of the existing file at
// path (see Lookup) with content, which must have exactly the file's size
// (ErrBadSize otherwise): the file neither grows nor shrinks. A resident
// file is changed inside its MFT record, whose update sequence number is
// bumped and fixups re-applied; a non-resident one is changed in its
// clusters. Sparse, compressed and encrypted files, and files whose
// initialized size is below their size, give ErrUnsupported. Timestamps
// are left alone. PlanRewriteFile also changes the length.
func (v *Volume) PlanPatchFile(path string, content []byte) ([]diag.Write, error) {
	f, err := v.rwOpen(path)
	if err != nil {
		return nil, err
	}
	if int64(len(content)) != f.room.Size {
		return nil, &PathError{Path: path, Component: f.name, Err: errf(ErrBadSize, "content of %d bytes, file of %d", len(content), f.room.Size)}
	}
	return v.rwPlan(f, content)
}
