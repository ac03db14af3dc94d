package mbr

import (
	"fmt"
	"math"
	"sort"
)

// Extent is a run of sectors.
type Extent struct {
	StartLBA uint64 // first LBA, in logical sectors
	Sectors  uint64 // length in logical sectors
}

// primary returns the slot of primary partition number n (1-4).
func (t *Table) primary(n int) (int, error) {
	if n < 1 || n > len(t.Record.Entries) {
		return 0, fmt.Errorf("%w: %d is not a primary partition number (1-4)", ErrNumber, n)
	}
	return n - 1, nil
}

// checkExtent checks that an entry at slot may cover start..start+sectors.
func (t *Table) checkExtent(slot int, start, sectors uint64) error {
	if err := checkGeometry(t.DiskSize, t.SectorSize); err != nil {
		return err
	}
	switch {
	case start == 0 || sectors == 0:
		return fmt.Errorf("%w: start %d, size %d: both must be non-zero", ErrRange, start, sectors)
	case start > math.MaxUint32 || sectors > math.MaxUint32:
		return fmt.Errorf("%w: start %d, size %d: an MBR entry holds 32 bits", ErrRange, start, sectors)
	case start+sectors > t.diskSectors():
		return fmt.Errorf("%w: LBA %d-%d beyond a disk of %d sectors", ErrRange, start, start+sectors-1, t.diskSectors())
	}
	end := start + sectors
	for i, e := range t.Record.Entries {
		if i == slot || !used(e) {
			continue
		}
		s := uint64(e.StartLBA)
		if start < s+uint64(e.Sectors) && s < end {
			return fmt.Errorf("%w: LBA %d-%d and partition %d (LBA %d-%d)", ErrOverlap, start, end-1, i+1, s, s+uint64(e.Sectors)-1)
		}
	}
	for _, l := range t.Logical {
		s := l.EBRLBA + uint64(l.Entry.StartLBA)
		if used(l.Entry) && start < s+uint64(l.Entry.Sectors) && s < end {
			return fmt.Errorf("%w: LBA %d-%d and partition %d (LBA %d-%d)", ErrOverlap, start, end-1, l.Number, s, s+uint64(l.Entry.Sectors)-1)
		}
	}
	return nil
}

// setEntry fills the extent, type and CHS fields of the entry at slot.
func (t *Table) setEntry(slot int, start, sectors uint64, typ Type) {
	e := &t.Record.Entries[slot]
	e.Type = typ
	e.StartLBA = uint32(start)
	e.Sectors = uint32(sectors)
	e.FirstCHS = CHSFromLBA(start)
	e.LastCHS = CHSFromLBA(start + sectors - 1)
}

// SetPrimary sets the start (LBA), size (sectors) and type of primary
// partition number (1-4), recomputing its CHS fields and keeping its
// status byte. It refuses extents that are zero, do not fit the entry's 32
// bits or the disk, or overlap another partition, and it does not touch
// extended partitions (ErrExtended). Edit in an order that never overlaps:
// shrink before you grow.
func (t *Table) SetPrimary(number int, startLBA, sectors uint64, typ Type) error {
	slot, err := t.primary(number)
	if err != nil {
		return err
	}
	e := t.Record.Entries[slot]
	if e.Type.IsExtended() || typ.IsExtended() {
		return fmt.Errorf("%w: partition %d", ErrExtended, number)
	}
	if !used(e) {
		return fmt.Errorf("%w: partition %d is empty; use AddPrimary", ErrNumber, number)
	}
	if err := t.checkExtent(slot, startLBA, sectors); err != nil {
		return err
	}
	t.setEntry(slot, startLBA, sectors, typ)
	return nil
}

// AddPrimary puts a new, inactive primary partition into the first free
// entry and returns its number (1-4). It applies the checks of SetPrimary
// and fails with ErrNoFreeSlot when all four entries are in use. A free
// entry is one with type 0x00; its old bytes are overwritten.
func (t *Table) AddPrimary(startLBA, sectors uint64, typ Type) (int, error) {
	if typ.IsExtended() || typ == TypeEmpty {
		return 0, fmt.Errorf("%w: type %v", ErrExtended, typ)
	}
	slot := -1
	for i, e := range t.Record.Entries {
		if e.IsEmpty() {
			slot = i
			break
		}
	}
	if slot < 0 {
		return 0, ErrNoFreeSlot
	}
	if err := t.checkExtent(slot, startLBA, sectors); err != nil {
		return 0, err
	}
	t.Record.Entries[slot] = Entry{}
	t.setEntry(slot, startLBA, sectors, typ)
	return slot + 1, nil
}

// DeletePrimary zeroes the 16 bytes of primary partition number (1-4). It
// refuses an extended partition that still holds an EBR chain
// (ErrHasLogicals).
func (t *Table) DeletePrimary(number int) error {
	slot, err := t.primary(number)
	if err != nil {
		return err
	}
	if slot == t.Extended && (len(t.EBRs) > 0 || len(t.Logical) > 0) {
		return fmt.Errorf("%w: partition %d", ErrHasLogicals, number)
	}
	t.Record.Entries[slot] = Entry{}
	if slot == t.Extended {
		t.Extended = -1
	}
	return nil
}

// SetActive marks primary partition number (1-4) active (status 0x80) and
// every other primary entry inactive (0x00), as Windows expects for a BIOS
// boot disk. Number 0 clears every primary entry's flag.
func (t *Table) SetActive(number int) error {
	slot := -1
	if number != 0 {
		s, err := t.primary(number)
		if err != nil {
			return err
		}
		if !used(t.Record.Entries[s]) {
			return fmt.Errorf("%w: partition %d is empty", ErrNumber, number)
		}
		slot = s
	}
	for i := range t.Record.Entries {
		if i == slot {
			t.Record.Entries[i].Status = 0x80
		} else {
			t.Record.Entries[i].Status = 0
		}
	}
	return nil
}

// FreeExtents returns the runs of sectors that no partition uses and a new
// primary entry could cover, in ascending order: outside every used
// primary entry (the extended partition counts as used as a whole) and
// every logical partition, after LBA 0, and before the end of the disk or
// LBA 2^32, whichever comes first. When alignmentSectors is above 1, each
// run's start is rounded up and its end rounded down to a multiple of it,
// and runs that vanish are dropped. Free space inside the extended
// partition is not listed.
func (t *Table) FreeExtents(alignmentSectors uint64) []Extent {
	if checkGeometry(t.DiskSize, t.SectorSize) != nil {
		return nil
	}
	limit := min(t.diskSectors(), uint64(1)<<32)
	used := []Extent{{0, 1}}
	for _, p := range t.Partitions() {
		used = append(used, Extent{p.StartLBA, p.Sectors})
	}
	sort.Slice(used, func(i, j int) bool { return used[i].StartLBA < used[j].StartLBA })
	align := max(alignmentSectors, 1)
	if align >= limit {
		return nil
	}
	var free []Extent
	pos := uint64(0)
	emit := func(start, end uint64) {
		start = (start + align - 1) / align * align
		end = end / align * align
		if start < end {
			free = append(free, Extent{start, end - start})
		}
	}
	for _, u := range used {
		if u.StartLBA > pos && pos < limit {
			emit(pos, min(u.StartLBA, limit))
		}
		pos = max(pos, u.StartLBA+u.Sectors)
	}
	if pos < limit {
		emit(pos, limit)
	}
	return free
}

// New returns an empty table for a disk of diskSize bytes with logical
// sectors of sectorSize bytes: a record with the given disk signature, the
// 0x55AA boot signature, no boot code and no partitions. Add partitions
// with AddPrimary; write it with Writes.
func New(diskSize int64, sectorSize int, diskSignature uint32) (*Table, error) {
	if err := checkGeometry(diskSize, sectorSize); err != nil {
		return nil, err
	}
	return &Table{
		SectorSize: sectorSize,
		DiskSize:   diskSize,
		Record:     Record{DiskSignature: diskSignature, Signature: bootSignature},
		Extended:   -1,
	}, nil
}
