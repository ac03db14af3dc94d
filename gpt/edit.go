package gpt

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/winrepart/winrepart/mbr"
)

// New returns an empty table for a disk of diskSize bytes: 128 entries of
// 128 bytes, the primary array at LBA 2, the backup header at the last LBA
// with its array just before it, the usable range between the arrays, and
// a fresh protective MBR. Source is Primary; Primary and Backup are nil.
func New(diskSize int64, sectorSize int, diskGUID uuid.UUID) (*Table, error) {
	sectors, err := checkGeometry(diskSize, sectorSize)
	if err != nil {
		return nil, err
	}
	h := Header{
		Signature:                Signature,
		Revision:                 Revision10,
		HeaderSize:               MinHeaderSize,
		DiskGUID:                 diskGUID,
		NumberOfPartitionEntries: DefaultEntries,
		SizeOfPartitionEntry:     MinEntrySize,
	}
	n := h.arraySectors(sectorSize)
	if sectors < 2*n+4 {
		return nil, fmt.Errorf("%w: %d sectors", ErrDiskTooSmall, sectors)
	}
	t := &Table{
		SectorSize:      sectorSize,
		DiskSize:        diskSize,
		Header:          h,
		Entries:         make([]Entry, DefaultEntries),
		Source:          Primary,
		PrimaryEntryLBA: 2,
		BackupHeaderLBA: sectors - 1,
		BackupEntryLBA:  sectors - 1 - n,
		ProtectiveMBR:   NewProtectiveMBR(diskSize, sectorSize),
	}
	t.Header.FirstUsableLBA = 2 + n
	t.Header.LastUsableLBA = t.BackupEntryLBA - 1
	t.syncHeaderLBAs()
	return t, nil
}

// syncHeaderLBAs makes the positional fields of Header agree with the
// layout fields, from the point of view of the copy in use.
func (t *Table) syncHeaderLBAs() {
	if t.Source == Backup {
		t.Header.MyLBA, t.Header.AlternateLBA, t.Header.PartitionEntryLBA = t.BackupHeaderLBA, 1, t.BackupEntryLBA
		return
	}
	t.Header.MyLBA, t.Header.AlternateLBA, t.Header.PartitionEntryLBA = 1, t.BackupHeaderLBA, t.PrimaryEntryLBA
}

// extraSize returns how many bytes of EntryExtra each entry has, or -1
// when SizeOfPartitionEntry is below 128.
func (t *Table) extraSize() int {
	return max(int(t.Header.SizeOfPartitionEntry)-MinEntrySize, -1)
}

// check validates e as the content of entry number (1-based), which may
// lie past len(Entries) within the array, and EntryExtra, which may be
// nil, as fitting the table.
func (t *Table) check(number int, e *Entry) error {
	perr := func(other int, err error) error {
		return &PartitionError{Number: number, Other: other, First: e.FirstLBA, Last: e.LastLBA, Err: err}
	}
	if number < 1 || uint64(number) > uint64(t.Header.NumberOfPartitionEntries) {
		return fmt.Errorf("%w: number %d of %d entries", ErrNoSuchPartition, number, t.Header.NumberOfPartitionEntries)
	}
	if n := t.Header.arrayBytes(); n > MaxEntryArrayBytes { // Set would extend Entries that far
		return fmt.Errorf("%w: entry array of %d bytes", ErrLayout, n)
	}
	if k := t.extraSize(); k < 0 || t.EntryExtra != nil && len(t.EntryExtra) != k*len(t.Entries) {
		return fmt.Errorf("%w: EntryExtra holds %d bytes, the table's %d entries %d each", ErrLayout, len(t.EntryExtra), len(t.Entries), k)
	}
	switch {
	case !e.IsUsed():
		return perr(0, ErrUnusedType)
	case e.FirstLBA > e.LastLBA:
		return perr(0, ErrStartAfterEnd)
	case e.FirstLBA < t.Header.FirstUsableLBA || e.LastLBA > t.Header.LastUsableLBA:
		return perr(0, ErrOutsideUsable)
	}
	for i, o := range t.Entries {
		if i+1 == number || !o.IsUsed() {
			continue
		}
		if e.FirstLBA <= o.LastLBA && o.FirstLBA <= e.LastLBA {
			return perr(i+1, ErrOverlap)
		}
	}
	return nil
}

// Add puts e in the first unused entry and returns its 1-based number: the
// first unused one of Entries, else the one just past them (Entries grows)
// while the array has room. The partition must have a type, start no later
// than it ends, lie inside the usable range and overlap no other
// partition. A zero UniqueGUID is replaced by a random one. The entry's
// bytes past 128 (in EntryExtra) become zero.
func (t *Table) Add(e Entry) (int, error) {
	number := slices.IndexFunc(t.Entries, func(o Entry) bool { return !o.IsUsed() }) + 1
	if number == 0 {
		if uint64(len(t.Entries)) >= uint64(t.Header.NumberOfPartitionEntries) {
			return 0, fmt.Errorf("%w: all %d entries are used", ErrNoFreeEntry, t.Header.NumberOfPartitionEntries)
		}
		number = len(t.Entries) + 1
	}
	if err := t.Set(number, e); err != nil {
		return number, err
	}
	clear(t.extra(number))
	return number, nil
}

// Set replaces entry number (1-based, up to NumberOfPartitionEntries) with
// e after the checks of [Table.Add]; it is how a type, attributes or name
// are changed. Entries (and EntryExtra) grow with zero entries up to
// number when they are shorter. The entry's bytes past 128 (in EntryExtra)
// are left as they are; a nil EntryExtra is made, all zero, when the
// entries are larger than 128 bytes.
func (t *Table) Set(number int, e Entry) error {
	if err := t.check(number, &e); err != nil {
		return err
	}
	if e.UniqueGUID == uuid.Nil {
		u, err := uuid.NewRandom()
		if err != nil {
			return err
		}
		e.UniqueGUID = u
	}
	k := t.extraSize()
	if grow := number - len(t.Entries); grow > 0 {
		t.Entries = append(t.Entries, make([]Entry, grow)...)
		if t.EntryExtra != nil && k > 0 {
			t.EntryExtra = append(t.EntryExtra, make([]byte, grow*k)...)
		}
	}
	t.Entries[number-1] = e
	if t.EntryExtra == nil && k > 0 {
		t.EntryExtra = make([]byte, k*len(t.Entries))
	}
	return nil
}

// extra returns the bytes of EntryExtra that belong to entry number
// (1-based), or nil when EntryExtra does not have them.
func (t *Table) extra(number int) []byte {
	k := t.extraSize()
	if k <= 0 || number < 1 || len(t.EntryExtra) != k*len(t.Entries) || number > len(t.Entries) {
		return nil
	}
	return t.EntryExtra[(number-1)*k : number*k]
}

// Remove clears entry number (1-based): every byte of it becomes zero, in
// Entries and in EntryExtra. Entries keeps its length. An unused entry,
// one past len(Entries) or a number outside the array is an
// ErrNoSuchPartition.
func (t *Table) Remove(number int) error {
	if _, used := t.Partition(number); !used {
		return fmt.Errorf("%w: %d", ErrNoSuchPartition, number)
	}
	t.Entries[number-1] = Entry{}
	clear(t.extra(number))
	return nil
}

// Resize moves the end of partition number to lastLBA (inclusive), keeping
// its start.
func (t *Table) Resize(number int, lastLBA uint64) error {
	e, used := t.Partition(number)
	if !used {
		return fmt.Errorf("%w: %d", ErrNoSuchPartition, number)
	}
	e.LastLBA = lastLBA
	return t.Set(number, e)
}

// Move places partition number at firstLBA, keeping its size and its
// unique GUID. It changes only the table: moving the data is the caller's
// business.
func (t *Table) Move(number int, firstLBA uint64) error {
	e, used := t.Partition(number)
	if !used {
		return fmt.Errorf("%w: %d", ErrNoSuchPartition, number)
	}
	size := e.LastLBA - e.FirstLBA
	if firstLBA+size < firstLBA {
		return &PartitionError{Number: number, First: firstLBA, Last: firstLBA + size, Err: ErrOutsideUsable}
	}
	e.FirstLBA, e.LastLBA = firstLBA, firstLBA+size
	return t.Set(number, e)
}

// Extent is a run of logical sectors, both ends inclusive.
type Extent struct {
	FirstLBA uint64
	LastLBA  uint64
}

// Sectors returns the number of sectors in the extent.
func (x Extent) Sectors() uint64 { return x.LastLBA - x.FirstLBA + 1 }

// SizeBytes returns the extent's size in bytes.
func (x Extent) SizeBytes(sectorSize int) int64 { return int64(x.Sectors()) * int64(sectorSize) }

// DefaultAlignment is the partition alignment Windows and most partitioning
// tools use (1 MiB).
const DefaultAlignment = 1 << 20

// FreeExtents returns the unallocated runs of the usable range, in disk
// order, each starting on a multiple of alignmentBytes (DefaultAlignment
// when alignmentBytes <= 0). The alignment is rounded up to a multiple of
// the logical sector size; pass the physical sector size when it is larger
// than the alignment wanted. Runs that vanish after alignment are left out.
func (t *Table) FreeExtents(alignmentBytes int64) []Extent {
	if alignmentBytes <= 0 {
		alignmentBytes = DefaultAlignment
	}
	ss := int64(t.SectorSize)
	align := uint64((alignmentBytes + ss - 1) / ss)
	if align == 0 {
		align = 1
	}
	used := t.Partitions()
	slices.SortFunc(used, func(a, b Partition) int {
		switch {
		case a.FirstLBA < b.FirstLBA:
			return -1
		case a.FirstLBA > b.FirstLBA:
			return 1
		}
		return 0
	})
	var out []Extent
	first, last := t.Header.FirstUsableLBA, t.Header.LastUsableLBA
	add := func(from, to uint64) {
		if from > to {
			return
		}
		start := (from + align - 1) / align * align
		if start < from || start > to { // overflow or nothing left
			return
		}
		out = append(out, Extent{FirstLBA: start, LastLBA: to})
	}
	cursor := first
	for _, p := range used {
		if p.LastLBA < p.FirstLBA {
			continue
		}
		if p.FirstLBA > cursor {
			add(cursor, min(p.FirstLBA-1, last))
		}
		if p.LastLBA >= cursor {
			if p.LastLBA == ^uint64(0) {
				return out
			}
			cursor = p.LastLBA + 1
		}
	}
	add(cursor, last)
	return out
}

// UseCopy makes the given copy, as read, the one in use, discarding edits;
// [Table.Writes] then rebuilds the other copy from it. It fails with
// ErrCopyInvalid when that copy did not pass the checks of [Read].
func (t *Table) UseCopy(src Source) error {
	c := t.Primary
	if src == Backup {
		c = t.Backup
	}
	if !c.Valid() {
		return fmt.Errorf("%w: %s", ErrCopyInvalid, src)
	}
	t.adopt(src, c)
	return nil
}

// ResizeDisk records that the disk is now newSize bytes: the backup header
// moves to the new last LBA with its array just before it, and the last
// usable LBA follows (what sgdisk -e does after an image grows). Shrinking
// fails with ErrOutsideUsable when a partition would no longer fit. A
// protective MBR's 0xEE entry is resized to match; a hybrid MBR is left
// alone.
func (t *Table) ResizeDisk(newSize int64) error {
	sectors, err := checkGeometry(newSize, t.SectorSize)
	if err != nil {
		return err
	}
	n := t.Header.arraySectors(t.SectorSize)
	if sectors < n+2 || sectors-2-n < t.Header.FirstUsableLBA {
		return fmt.Errorf("%w: %d sectors", ErrDiskTooSmall, sectors)
	}
	lastUsable := sectors - 2 - n
	for _, p := range t.Partitions() {
		if p.LastLBA > lastUsable {
			return &PartitionError{Number: p.Number, First: p.FirstLBA, Last: p.LastLBA, Err: ErrOutsideUsable}
		}
	}
	t.DiskSize = newSize
	t.BackupHeaderLBA = sectors - 1
	t.BackupEntryLBA = sectors - 1 - n
	t.Header.LastUsableLBA = lastUsable
	t.syncHeaderLBAs()
	if m := t.ProtectiveMBR; m != nil && m.Kind() == mbr.KindProtective {
		for i, e := range m.Entries {
			if e.Type == mbr.TypeGPTProtective {
				m.Entries[i].Sectors = protectiveEntry(newSize, t.SectorSize).Sectors
			}
		}
	}
	return nil
}

// ResetProtectiveMBR replaces LBA 0's partition entries with a single
// protective entry covering the disk, keeping the boot code and disk
// signature of the MBR read, if any. Use it to turn a hybrid or damaged MBR
// into a protective one.
func (t *Table) ResetProtectiveMBR() {
	m := NewProtectiveMBR(t.DiskSize, t.SectorSize)
	if old := t.ProtectiveMBR; old != nil {
		m.BootCode = old.BootCode
		m.DiskSignature = old.DiskSignature
	}
	t.ProtectiveMBR = m
}
