package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
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
func (v *Volume) PlanHiddenSectors(newStartLBA uint64) ([]Write, error) {
	field := newStartLBA
	if field > math.MaxUint32 {
		field = 0
	}
	p := &rsPlan{v: v}
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
// path (see Lookup) with content, which must have exactly the file's size:
// the file neither grows nor shrinks (ReAgent.xml is patched at constant
// length). A resident file is changed inside its MFT record, whose update
// sequence number is bumped and fixups re-applied; a non-resident one is
// changed in its clusters. Sparse, compressed and encrypted files, and
// files whose initialized size is below their size, give ErrUnsupported.
// Timestamps are left alone.
func (v *Volume) PlanPatchFile(path string, content []byte) ([]Write, error) {
	f, err := v.Lookup(path)
	if err != nil {
		return nil, err
	}
	if f.IsDir {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrNotFound, "is a directory")}
	}
	if int64(len(content)) != f.Size {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrBadSize, "content of %d bytes, file of %d", len(content), f.Size)}
	}
	rec, err := v.ReadRecord(f.Record)
	if err != nil {
		return nil, err
	}
	ext, err := v.attrExtents(rec, AttrData, "")
	if err != nil {
		return nil, err
	}
	a := ext[0]
	if a.Flags&(AttrFlagCompressed|AttrFlagEncrypted|AttrFlagSparse) != 0 {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, "$DATA flags %#x", a.Flags)}
	}
	p := &rsPlan{v: v}
	if !a.NonResident {
		holder := rec
		if d := holder.Find(AttrData, ""); d == nil || d.Offset != a.Offset || d.Instance != a.Instance {
			// The resident $DATA lives in an extension record.
			return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, "resident $DATA outside the base record")}
		}
		copy(holder.Raw[a.Offset+a.ValueOffset:], content)
		if err := p.record(holder, "content of "+path); err != nil {
			return nil, err
		}
		return p.ws, nil
	}
	st, err := v.newStream(rec.Number, ext)
	if err != nil {
		return nil, err
	}
	if st.initSize < st.size {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, "initialized size %d below size %d", st.initSize, st.size)}
	}
	for _, r := range st.runs {
		if r.Sparse && r.VCN*v.clusterSize < st.size {
			return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrUnsupported, "hole at VCN %d", r.VCN)}
		}
	}
	xs, err := st.extents(0, st.size)
	if err != nil {
		return nil, err
	}
	if err := p.extents(xs, content, "content of "+path); err != nil {
		return nil, err
	}
	return p.ws, nil
}
