package mbr

import (
	"errors"
	"fmt"
	"io"

	"github.com/winrepart/winrepart/diag"
)

// MaxChain is the longest EBR chain Read follows. Linux stops numbering
// partitions far earlier (256 on most kernels); the cap bounds the memory
// an untrusted image can make Read allocate.
const MaxChain = 1024

// firstLogical is the number Linux gives the first logical partition
// (/dev/sda5).
const firstLogical = 5

// Table is a whole MBR partition table: the record at LBA 0 and, when it
// has an extended partition, the chain of Extended Boot Records inside it.
//
// All LBAs count logical sectors of SectorSize bytes. The records
// themselves are always the first 512 bytes of their sector.
type Table struct {
	SectorSize int   // logical sector size in bytes
	DiskSize   int64 // disk size in bytes

	Record Record // the Master Boot Record at LBA 0

	// Extended is the index (0-3) of the primary entry whose EBR chain was
	// followed: the first entry, by slot, with an extended type and a
	// non-zero size. It is -1 when there is none.
	Extended int

	// EBRs is the chain of Extended Boot Records in chain order, as read.
	// Writes starts from these records, so bytes the Table does not model
	// (boot code, unused entries) are written back unchanged.
	EBRs []EBR

	// Logical lists the logical partitions in chain order, numbered as
	// Linux numbers them. An EBR with more than one data entry contributes
	// one Logical per entry (Linux and Windows read them all; libfdisk and
	// so sfdisk keep only the first); Verify reports such EBRs.
	Logical []Logical

	// Broken, when not nil, says where the EBR chain stopped early: a loop,
	// a link outside the extended partition or the disk, an EBR without a
	// boot signature, or a chain longer than MaxChain. EBRs and Logical
	// hold what came before the break. Verify reports it as a Problem.
	Broken *ChainError
}

// EBR is one Extended Boot Record of the chain.
type EBR struct {
	LBA    uint64 // absolute LBA of the EBR, in logical sectors
	Record Record // the record as read (entries relative, see the package doc)
}

// Logical is one logical partition, found in an EBR.
type Logical struct {
	Number int    // partition number as Linux numbers it: 5, 6, ... in chain order
	EBRLBA uint64 // absolute LBA of the EBR that holds the entry
	Slot   int    // index (0-3) of the entry within that EBR

	// Entry is the entry as stored: its StartLBA is relative to EBRLBA.
	// Writes puts Entry back into slot Slot of the EBR at EBRLBA.
	Entry Entry

	// StartLBA and Sectors are the absolute extent computed by Read from
	// Entry (EBRLBA + Entry.StartLBA); Writes does not consult them.
	StartLBA, Sectors uint64

	// EBR is a copy of the whole EBR as read, for callers that want the
	// raw record; Writes builds from Table.EBRs.
	EBR Record
}

// Partition is the absolute, numbered view of one primary or logical
// partition, as returned by Table.Partitions.
type Partition struct {
	Number   int    // 1-4 for primary entries (by slot), 5+ for logicals, as in /dev/sda5
	StartLBA uint64 // absolute first LBA, in logical sectors
	Sectors  uint64 // length in logical sectors
	Type     Type
	Bootable bool // status byte 0x80
	Extended bool // a primary extended partition (the container of logicals)
	Logical  bool // a logical partition inside the extended partition
}

// LastLBA returns the last LBA of p (inclusive). It is meaningless when
// Sectors is 0.
func (p Partition) LastLBA() uint64 { return p.StartLBA + p.Sectors - 1 }

// used reports whether an entry describes a partition: a non-zero type
// and a non-zero size. Entries with only one of the two are reported by
// Verify.
func used(e Entry) bool { return !e.IsEmpty() && e.Sectors != 0 }

func checkGeometry(diskSize int64, sectorSize int) error {
	if sectorSize < Size || sectorSize > 65536 || sectorSize&(sectorSize-1) != 0 {
		return fmt.Errorf("%w: %d", ErrSectorSize, sectorSize)
	}
	if diskSize < int64(sectorSize) {
		return fmt.Errorf("%w: %d bytes", ErrDiskSize, diskSize)
	}
	return nil
}

// readRecord reads and decodes the 512-byte record at lba.
func readRecord(r io.ReaderAt, lba uint64, sectorSize int) (Record, error) {
	var buf [Size]byte
	var rec Record
	n, err := r.ReadAt(buf[:], int64(lba)*int64(sectorSize))
	if n < Size {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return rec, fmt.Errorf("%w: %d bytes read: %w", ErrShortRecord, n, err)
	}
	return rec, rec.UnmarshalBinary(buf[:])
}

// Read reads the MBR at LBA 0 of a disk of diskSize bytes with logical
// sectors of sectorSize bytes, then follows the EBR chain of its first
// extended partition.
//
// Read fails (with a *RecordError) only when LBA 0 cannot be read or has no
// boot signature, or when an EBR cannot be read at all (an I/O error or a
// short read inside the disk). A damaged chain is salvaged: Read returns the
// EBRs before the damage and sets Table.Broken. An extended partition whose
// first sector is all zeros (created but never given a logical partition)
// is not damage: the chain is simply empty.
func Read(r io.ReaderAt, diskSize int64, sectorSize int) (*Table, error) {
	if err := checkGeometry(diskSize, sectorSize); err != nil {
		return nil, err
	}
	t := &Table{SectorSize: sectorSize, DiskSize: diskSize, Extended: -1}
	rec, err := readRecord(r, 0, sectorSize)
	if err != nil {
		return nil, &RecordError{LBA: 0, Err: err}
	}
	t.Record = rec
	for i, e := range rec.Entries {
		if e.Type.IsExtended() && e.Sectors != 0 {
			t.Extended = i
			break
		}
	}
	if t.Extended < 0 {
		return t, nil
	}
	if err := t.readChain(r); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) diskSectors() uint64 { return uint64(t.DiskSize) / uint64(t.SectorSize) }

func (t *Table) readChain(r io.ReaderAt) error {
	ext := t.Record.Entries[t.Extended]
	extStart := uint64(ext.StartLBA)
	extEnd := extStart + uint64(ext.Sectors)
	disk := t.diskSectors()
	// LBA 0 is the MBR: a link to it is a loop.
	visited := map[uint64]bool{0: true}
	number := firstLogical
	lba := extStart
	for i := 0; ; i++ {
		var cause error
		switch {
		case i >= MaxChain:
			cause = ErrChainTooLong
		case lba < extStart || lba >= extEnd:
			cause = ErrOutsideExtended
		case lba >= disk:
			cause = ErrOutsideDisk
		case visited[lba]:
			cause = ErrChainLoop
		}
		if cause != nil {
			t.Broken = &ChainError{EBRLBA: lba, Index: i, Err: cause}
			return nil
		}
		visited[lba] = true
		rec, err := readRecord(r, lba, t.SectorSize)
		if errors.Is(err, ErrNoBootSignature) {
			if i == 0 && rec == (Record{}) {
				return nil // a never-used extended partition: all zeros
			}
			t.Broken = &ChainError{EBRLBA: lba, Index: i, Err: ErrNoBootSignature}
			return nil
		}
		if err != nil {
			return &RecordError{LBA: lba, Err: err}
		}
		t.EBRs = append(t.EBRs, EBR{LBA: lba, Record: rec})
		var next *Entry
		for slot, e := range rec.Entries {
			if e.Type.IsExtended() {
				if next == nil && e.Sectors != 0 {
					next = &rec.Entries[slot]
				}
				continue
			}
			if !used(e) {
				continue
			}
			t.Logical = append(t.Logical, Logical{
				Number:   number,
				EBRLBA:   lba,
				Slot:     slot,
				Entry:    e,
				StartLBA: lba + uint64(e.StartLBA),
				Sectors:  uint64(e.Sectors),
				EBR:      rec,
			})
			number++
		}
		if next == nil {
			return nil
		}
		lba = extStart + uint64(next.StartLBA)
	}
}

// Partitions returns every used primary entry (numbers 1-4 by slot,
// including the extended partition and any 0xEE entry) followed by the
// logical partitions (5+), with absolute LBAs. An entry is used when both
// its type and its size are non-zero. Logical extents are computed from
// Logical.Entry, so edits to it show here.
func (t *Table) Partitions() []Partition {
	ps := make([]Partition, 0, 4+len(t.Logical))
	for i, e := range t.Record.Entries {
		if !used(e) {
			continue
		}
		ps = append(ps, Partition{
			Number:   i + 1,
			StartLBA: uint64(e.StartLBA),
			Sectors:  uint64(e.Sectors),
			Type:     e.Type,
			Bootable: e.Bootable(),
			Extended: e.Type.IsExtended(),
		})
	}
	for _, l := range t.Logical {
		ps = append(ps, Partition{
			Number:   l.Number,
			StartLBA: l.EBRLBA + uint64(l.Entry.StartLBA),
			Sectors:  uint64(l.Entry.Sectors),
			Type:     l.Entry.Type,
			Bootable: l.Entry.Bootable(),
			Logical:  true,
		})
	}
	return ps
}

// Writes returns the records to write for t: every EBR of the chain in
// chain order, then the MBR at LBA 0 last, so that a crash part-way leaves
// the old MBR pointing at a complete chain. Each Write holds the 512-byte
// record placed at the start of its sector; on disks with larger sectors
// the rest of the sector is not part of the Write and must be left as it
// is. For a Table returned by Read and not edited, the writes reproduce the
// bytes read, byte for byte.
//
// Writes checks only that the records can be placed (geometry, EBRs inside
// the disk, each Logical naming an EBR and a slot); call Verify first to
// find out whether the table is sound. Each write is one 512-byte record;
// the writes carry no Old bytes.
func (t *Table) Writes() ([]diag.Write, error) {
	if err := checkGeometry(t.DiskSize, t.SectorSize); err != nil {
		return nil, err
	}
	disk := t.diskSectors()
	index := make(map[uint64]int, len(t.EBRs))
	recs := make([]Record, len(t.EBRs))
	for i, e := range t.EBRs {
		if _, dup := index[e.LBA]; dup {
			return nil, fmt.Errorf("%w: two EBRs at LBA %d", ErrInconsistent, e.LBA)
		}
		if e.LBA == 0 || e.LBA >= disk {
			return nil, fmt.Errorf("%w: EBR at LBA %d", ErrOutsideDisk, e.LBA)
		}
		index[e.LBA] = i
		recs[i] = e.Record
	}
	for _, l := range t.Logical {
		i, ok := index[l.EBRLBA]
		if !ok || l.Slot < 0 || l.Slot >= len(recs[i].Entries) {
			return nil, fmt.Errorf("%w: logical partition %d names EBR LBA %d slot %d", ErrInconsistent, l.Number, l.EBRLBA, l.Slot)
		}
		recs[i].Entries[l.Slot] = l.Entry
	}
	ws := make([]diag.Write, 0, len(recs)+1)
	for i := range recs {
		data, err := recs[i].MarshalBinary()
		if err != nil {
			return nil, err
		}
		lba := t.EBRs[i].LBA
		ws = append(ws, diag.Write{
			Offset: int64(lba) * int64(t.SectorSize),
			New:    data,
			What:   fmt.Sprintf("EBR #%d at LBA %d", i, lba),
		})
	}
	data, err := t.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(ws, diag.Write{Offset: 0, New: data, What: "MBR at LBA 0"}), nil
}
