package planner

import (
	"fmt"
	"hash/crc32"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery"
)

// gptGeometry reads the usable range from the table when the layout has
// one, and otherwise assumes the standard 128-entry arrays.
func gptGeometry(l *recovery.Layout, ss, disk int64) geometry {
	sectors := disk / ss
	t := l.GPT
	if t == nil {
		arr := (16384 + ss - 1) / ss
		start, end := (2+arr)*ss, (sectors-1-arr)*ss
		return geometry{usableStart: start, usableEnd: end, grownEnd: end, tableEnd: disk}
	}
	h := t.Header
	arr := (int64(h.NumberOfPartitionEntries)*int64(h.SizeOfPartitionEntry) + ss - 1) / ss
	g := geometry{
		usableStart: int64(h.FirstUsableLBA) * ss,
		usableEnd:   (int64(h.LastUsableLBA) + 1) * ss,
		tableEnd:    (int64(t.BackupHeaderLBA) + 1) * ss,
	}
	g.grownEnd = max(g.usableEnd, (sectors-1-arr)*ss)
	g.backupMoves = int64(t.BackupHeaderLBA) != sectors-1
	// A table whose usable range runs past the disk is caught by the
	// device-too-small check; never plan beyond the disk either way.
	g.usableEnd = min(g.usableEnd, (sectors-1-arr)*ss)
	return g
}

// ebrOf returns the LBA of the EBR describing logical partition number.
func ebrOf(l *recovery.Layout, number int) (uint64, bool) {
	if l.MBR == nil {
		return 0, false
	}
	for _, q := range l.MBR.Logical {
		if q.Number == number {
			return q.EBRLBA, true
		}
	}
	return 0, false
}

// cloneMBR copies t deeply enough that edits to the clone never reach t.
func cloneMBR(t *mbr.Table) *mbr.Table {
	c := *t
	c.EBRs = append([]mbr.EBR(nil), t.EBRs...)
	c.Logical = append([]mbr.Logical(nil), t.Logical...)
	return &c
}

// newGPT returns the table after ch: C: shrunk, WinRE at its new extent
// with the WinRE type and attributes, the backup moved to the end of the
// disk when asked. In a relocation the old WinRE entry becomes the new
// partition: the new partition takes over the entry, and so its unique
// GUID, and nothing of the old one remains.
func (pl *planner) newGPT(ch change) (*gpt.Table, error) {
	if pl.l.GPT == nil {
		return nil, fmt.Errorf("planner: the layout carries no GPT")
	}
	t := pl.l.GPT.Clone()
	ss := pl.ss
	if ch.moveBackup {
		if err := t.ResizeDisk(pl.l.SizeBytes); err != nil {
			return nil, fmt.Errorf("planner: moving the backup GPT: %w", err)
		}
	}
	if ch.osNewEnd != 0 {
		if err := t.Resize(pl.os.Number, uint64(ch.osNewEnd/ss)-1); err != nil {
			return nil, fmt.Errorf("planner: shrinking C: in the GPT: %w", err)
		}
	}
	e, ok := t.Partition(pl.re.Number)
	if !ok {
		return nil, fmt.Errorf("planner: partition %d is not in the GPT entry array", pl.re.Number)
	}
	e.FirstLBA = uint64(ch.reStart / ss)
	e.LastLBA = uint64(ch.reEnd/ss) - 1
	e.Type = winreGPTType
	e.Attributes |= winreAttrs
	if err := t.Set(pl.re.Number, e); err != nil {
		return nil, fmt.Errorf("planner: placing WinRE in the GPT: %w", err)
	}
	return t, nil
}

// newMBR returns the MBR table after ch (see newGPT).
func (pl *planner) newMBR(ch change) (*mbr.Table, error) {
	if pl.l.MBR == nil {
		return nil, fmt.Errorf("planner: the layout carries no MBR table")
	}
	t := cloneMBR(pl.l.MBR)
	ss := pl.ss
	set := func(n int, start, end int64, typ mbr.Type, setType bool) error {
		if start/ss >= mbrMaxSectors || (end-start)/ss >= mbrMaxSectors {
			return fmt.Errorf("planner: partition %d beyond what MBR can address", n)
		}
		if n >= 1 && n <= 4 {
			en := &t.Record.Entries[n-1]
			if en.IsEmpty() {
				return fmt.Errorf("planner: MBR entry %d is empty", n)
			}
			en.StartLBA, en.Sectors = uint32(start/ss), uint32((end-start)/ss)
			en.FirstCHS, en.LastCHS = mbr.CHSFromLBA(uint64(start/ss)), mbr.CHSFromLBA(uint64(end/ss)-1)
			if setType {
				en.Type = typ
			}
			return nil
		}
		for i := range t.Logical {
			q := &t.Logical[i]
			if q.Number != n {
				continue
			}
			q.Entry.StartLBA, q.Entry.Sectors = uint32(uint64(start/ss)-q.EBRLBA), uint32((end-start)/ss)
			q.Entry.FirstCHS, q.Entry.LastCHS = mbr.CHSFromLBA(uint64(start/ss)), mbr.CHSFromLBA(uint64(end/ss)-1)
			if setType {
				q.Entry.Type = typ
			}
			q.StartLBA, q.Sectors = uint64(start/ss), uint64((end-start)/ss)
			return nil
		}
		return fmt.Errorf("planner: partition %d is not in the MBR table", n)
	}
	if ch.osNewEnd != 0 {
		if err := set(pl.os.Number, pl.os.StartBytes(pl.l.SectorSize), ch.osNewEnd, 0, false); err != nil {
			return nil, err
		}
	}
	if err := set(pl.re.Number, ch.reStart, ch.reEnd, winreMBRType, true); err != nil {
		return nil, err
	}
	return t, nil
}

// tablePreconditions pins the table bytes as read.
func tablePreconditions(l *recovery.Layout) []Precondition {
	var out []Precondition
	if t := l.GPT; t != nil {
		v := fmt.Sprintf("header-crc32=0x%08x entries-crc32=0x%08x", t.Header.HeaderCRC32, t.Header.PartitionEntryArrayCRC32)
		if t.Primary != nil {
			v = fmt.Sprintf("header-crc32=0x%08x entries-crc32=0x%08x", t.Primary.Header.HeaderCRC32, t.Primary.Header.PartitionEntryArrayCRC32)
		}
		out = append(out, Precondition{Kind: PreGPTPrimaryHeader, Value: v})
		bv := fmt.Sprintf("lba=%d", t.BackupHeaderLBA)
		if t.Backup != nil {
			bv += fmt.Sprintf(" header-crc32=0x%08x entries-crc32=0x%08x", t.Backup.Header.HeaderCRC32, t.Backup.Header.PartitionEntryArrayCRC32)
		}
		out = append(out, Precondition{Kind: PreGPTBackupHeader, Value: bv})
		if t.ProtectiveMBR != nil {
			out = append(out, Precondition{Kind: PreMBR, Value: recordCRC(t.ProtectiveMBR)})
		}
	}
	if t := l.MBR; t != nil && l.Scheme == recovery.SchemeMBR {
		v := recordCRC(&t.Record)
		for _, e := range t.EBRs {
			v += fmt.Sprintf(" ebr@%d=%s", e.LBA, recordCRC(&e.Record))
		}
		out = append(out, Precondition{Kind: PreMBR, Value: v})
	}
	return out
}

func recordCRC(r *mbr.Record) string {
	b, err := r.MarshalBinary()
	if err != nil {
		return "unreadable"
	}
	return fmt.Sprintf("crc32=0x%08x", crc32.ChecksumIEEE(b))
}
