package gpt

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/mbr"
)

// Problem codes of [Table.Verify], stable kebab-case strings safe to
// match on and to print in JSON.
const (
	ProblemPrimaryInvalid     diag.Code = "primary-invalid"           // the primary copy failed a check; the backup is in use
	ProblemBackupInvalid      diag.Code = "backup-invalid"            // the backup copy failed a check
	ProblemHeadersDiffer      diag.Code = "headers-differ"            // fields that must agree differ between the copies
	ProblemAlternateLBA       diag.Code = "alternate-lba-mismatch"    // a header's AlternateLBA does not point at the other header
	ProblemArraysDiffer       diag.Code = "entry-arrays-differ"       // the two entry arrays differ
	ProblemBackupNotAtEnd     diag.Code = "backup-not-at-end"         // the backup header is not on the last LBA (disk grown)
	ProblemRevision           diag.Code = "unknown-revision"          // Revision is not 1.0
	ProblemReservedNonzero    diag.Code = "reserved-nonzero"          // the header's Reserved field or the rest of its sector is not zero
	ProblemArraySmall         diag.Code = "entry-array-small"         // the entry array is smaller than UEFI's 16 KiB minimum
	ProblemZeroDiskGUID       diag.Code = "zero-disk-guid"            // the disk GUID is all zero
	ProblemStartAfterEnd      diag.Code = "partition-start-after-end" // FirstLBA > LastLBA
	ProblemOutsideDisk        diag.Code = "partition-outside-disk"    // a partition ends past the disk
	ProblemOutsideUsable      diag.Code = "partition-outside-usable"  // a partition leaves the usable range
	ProblemOverlap            diag.Code = "partitions-overlap"        // two partitions share sectors
	ProblemDuplicateGUID      diag.Code = "duplicate-unique-guid"     // two partitions share a unique GUID
	ProblemZeroUniqueGUID     diag.Code = "zero-unique-guid"          // a partition's unique GUID is all zero
	ProblemUnaligned          diag.Code = "partition-unaligned"       // a partition does not start on a 4 KiB boundary
	ProblemMBRMissing         diag.Code = "mbr-missing"               // LBA 0 has no 0x55AA signature
	ProblemMBRNotProtective   diag.Code = "mbr-not-protective"        // LBA 0 is a valid MBR without a 0xEE entry
	ProblemMBRProtectiveRange diag.Code = "mbr-protective-range"      // the 0xEE entry does not cover LBA 1 to the end of the disk
	ProblemMBRManyProtective  diag.Code = "mbr-multiple-protective"   // more than one 0xEE entry
	ProblemMBRHybrid          diag.Code = "mbr-hybrid"                // a hybrid MBR (0xEE beside other entries)
	ProblemHybridMismatch     diag.Code = "hybrid-mismatch"           // a hybrid MBR entry matches no GPT partition
)

const remedyRewrite = "write the table back (Table.Writes rewrites both copies from the one in use; gdisk: v, then w)"

// Verify diagnoses the table as gdisk's verify does, without failing: both
// copies' validity and agreement, the layout, every partition, and the
// protective or hybrid MBR. Problems come in a fixed order: copies, header,
// partitions, MBR. A clean table gives nil.
func (t *Table) Verify() []diag.Problem {
	var ps []diag.Problem
	addAt := func(where string, code diag.Code, sev diag.Severity, remedy, format string, args ...any) {
		ps = append(ps, diag.Problem{Code: code, Severity: sev, Where: where, Message: fmt.Sprintf(format, args...), Remedy: remedy})
	}
	add := func(code diag.Code, sev diag.Severity, remedy, format string, args ...any) {
		addAt("", code, sev, remedy, format, args...)
	}
	// part names partition n as the problem's Where, as mbr does.
	part := func(n int) string { return "partition " + strconv.Itoa(n) }
	sectors := t.sectors()

	// The copies.
	if t.Primary != nil && t.Primary.Err != nil {
		add(ProblemPrimaryInvalid, diag.Error, "rebuild the primary from the backup: "+remedyRewrite,
			"primary GPT at LBA 1 is invalid, the %s is in use: %v", t.Source, t.Primary.Err)
	}
	if t.Backup != nil && t.Backup.Err != nil {
		add(ProblemBackupInvalid, diag.Error, "rebuild the backup from the primary: "+remedyRewrite,
			"backup GPT at LBA %d is invalid, the %s is in use: %v", t.Backup.LBA, t.Source, t.Backup.Err)
	}
	if t.Primary.Valid() && t.Backup.Valid() {
		p, b := &t.Primary.Header, &t.Backup.Header
		var diff []string
		cmpField := func(name string, x, y any) {
			if x != y {
				diff = append(diff, fmt.Sprintf("%s %v/%v", name, x, y))
			}
		}
		cmpField("Revision", p.Revision, b.Revision)
		cmpField("HeaderSize", p.HeaderSize, b.HeaderSize)
		cmpField("FirstUsableLBA", p.FirstUsableLBA, b.FirstUsableLBA)
		cmpField("LastUsableLBA", p.LastUsableLBA, b.LastUsableLBA)
		cmpField("DiskGUID", p.DiskGUID, b.DiskGUID)
		cmpField("NumberOfPartitionEntries", p.NumberOfPartitionEntries, b.NumberOfPartitionEntries)
		cmpField("SizeOfPartitionEntry", p.SizeOfPartitionEntry, b.SizeOfPartitionEntry)
		cmpField("PartitionEntryArrayCRC32", p.PartitionEntryArrayCRC32, b.PartitionEntryArrayCRC32)
		if !bytes.Equal(p.Extra, b.Extra) {
			diff = append(diff, "Extra")
		}
		if len(diff) > 0 {
			add(ProblemHeadersDiffer, diag.Error, "choose the right copy (Table.UseCopy) and "+remedyRewrite,
				"primary and backup headers differ (primary/backup): %s", strings.Join(diff, ", "))
		}
		if p.AlternateLBA != t.Backup.LBA || b.AlternateLBA != 1 {
			add(ProblemAlternateLBA, diag.Error, remedyRewrite,
				"primary AlternateLBA %d, backup header at %d with AlternateLBA %d (want 1)", p.AlternateLBA, t.Backup.LBA, b.AlternateLBA)
		}
		if !sameArray(t.Primary, t.Backup) {
			add(ProblemArraysDiffer, diag.Error, "choose the right copy (Table.UseCopy) and "+remedyRewrite,
				"primary and backup partition entry arrays differ")
		}
	}
	h := &t.Header
	if t.BackupHeaderLBA != sectors-1 {
		add(ProblemBackupNotAtEnd, diag.Warning, "move the backup to the end of the disk (Table.ResizeDisk; sgdisk -e)",
			"backup header at LBA %d, but the disk's last LBA is %d", t.BackupHeaderLBA, sectors-1)
	}

	// The header in use.
	if h.Revision != Revision10 {
		add(ProblemRevision, diag.Warning, "none needed unless tools refuse the table; "+remedyRewrite+" after setting Revision",
			"header revision %#08x, want %#08x", h.Revision, Revision10)
	}
	var tail []byte
	if c := t.inUse(); c != nil {
		tail = c.SectorTail
	}
	if h.Reserved != 0 || slices.ContainsFunc(tail, func(b byte) bool { return b != 0 }) {
		add(ProblemReservedNonzero, diag.Warning, "clear the reserved bytes and "+remedyRewrite,
			"reserved header bytes are not zero (Reserved %#x)", h.Reserved)
	}
	if h.arrayBytes() < 16384 {
		add(ProblemArraySmall, diag.Info, "grow the array (sgdisk --resize-table=128) if another OS must read the disk",
			"entry array is %d bytes (%d entries), UEFI reserves at least 16384", h.arrayBytes(), h.NumberOfPartitionEntries)
	}
	if h.DiskGUID == uuid.Nil {
		add(ProblemZeroDiskGUID, diag.Warning, "give the disk a random GUID (sgdisk -G) and update ReAgent.xml",
			"disk GUID is all zero")
	}

	// The partitions.
	parts := t.Partitions()
	seen := map[uuid.UUID]int{}
	for _, p := range parts {
		switch {
		case p.FirstLBA > p.LastLBA:
			addAt(part(p.Number), ProblemStartAfterEnd, diag.Error, "delete or recreate the partition",
				"partition %d starts at LBA %d after its end %d", p.Number, p.FirstLBA, p.LastLBA)
		case p.LastLBA >= sectors:
			addAt(part(p.Number), ProblemOutsideDisk, diag.Error, "shrink or delete the partition; check the disk size",
				"partition %d (LBA %d-%d) ends past the disk's last LBA %d", p.Number, p.FirstLBA, p.LastLBA, sectors-1)
		case p.FirstLBA < h.FirstUsableLBA || p.LastLBA > h.LastUsableLBA:
			addAt(part(p.Number), ProblemOutsideUsable, diag.Error, "shrink or move the partition into the usable range",
				"partition %d (LBA %d-%d) is outside the usable range %d-%d", p.Number, p.FirstLBA, p.LastLBA, h.FirstUsableLBA, h.LastUsableLBA)
		}
		if p.UniqueGUID == uuid.Nil {
			addAt(part(p.Number), ProblemZeroUniqueGUID, diag.Warning, "give the partition a random unique GUID (sgdisk -u N:R)",
				"partition %d has an all-zero unique GUID", p.Number)
		} else if q, dup := seen[p.UniqueGUID]; dup {
			addAt(part(p.Number), ProblemDuplicateGUID, diag.Error, "give one of them a new unique GUID (sgdisk -u N:R); BCD may refer to the other",
				"partitions %d and %d share unique GUID %s", q, p.Number, p.UniqueGUID)
		} else {
			seen[p.UniqueGUID] = p.Number
		}
		if (p.FirstLBA*uint64(t.SectorSize))%4096 != 0 {
			addAt(part(p.Number), ProblemUnaligned, diag.Info, "none needed; new partitions should start on a 1 MiB boundary",
				"partition %d starts at LBA %d, not on a 4 KiB boundary", p.Number, p.FirstLBA)
		}
	}
	for i, p := range parts {
		for _, q := range parts[i+1:] {
			if p.FirstLBA <= p.LastLBA && q.FirstLBA <= q.LastLBA && p.FirstLBA <= q.LastLBA && q.FirstLBA <= p.LastLBA {
				addAt(part(q.Number), ProblemOverlap, diag.Error, "shrink or delete one of them after checking which holds data",
					"partitions %d (LBA %d-%d) and %d (LBA %d-%d) overlap", p.Number, p.FirstLBA, p.LastLBA, q.Number, q.FirstLBA, q.LastLBA)
			}
		}
	}

	// The MBR.
	m := t.ProtectiveMBR
	const remedyMBR = "write a protective MBR (Table.ResetProtectiveMBR, then Writes; gdisk: x, n, w)"
	if m == nil {
		add(ProblemMBRMissing, diag.Error, remedyMBR, "LBA 0 has no MBR boot signature")
		return ps
	}
	switch m.Kind() {
	case mbr.KindEmpty, mbr.KindMBR:
		add(ProblemMBRNotProtective, diag.Error, remedyMBR+"; first make sure the MBR table is stale, not the one in use",
			"LBA 0 holds %s MBR without a 0xEE protective entry", map[bool]string{true: "an empty", false: "a classic"}[m.Kind() == mbr.KindEmpty])
		return ps
	case mbr.KindHybrid:
		add(ProblemMBRHybrid, diag.Info, "none needed; convert with Table.ResetProtectiveMBR if BIOS boot of another OS is not wanted",
			"LBA 0 holds a hybrid MBR")
	}
	want := protectiveEntry(t.DiskSize, t.SectorSize)
	ee := 0
	for i, e := range m.Entries {
		if e.Type != mbr.TypeGPTProtective {
			continue
		}
		ee++
		// UEFI asks for the disk size minus one, or 0xFFFFFFFF when that
		// does not fit; Windows writes 0xFFFFFFFF whatever the disk size,
		// and gdisk and firmware accept it: it still covers the whole disk.
		if m.Kind() == mbr.KindProtective && (e.StartLBA != want.StartLBA || e.Sectors != want.Sectors && e.Sectors != 0xFFFFFFFF) {
			add(ProblemMBRProtectiveRange, diag.Warning, remedyMBR,
				"protective MBR entry %d covers LBA %d+%d, want 1+%d", i+1, e.StartLBA, e.Sectors, want.Sectors)
		}
		if m.Kind() == mbr.KindHybrid && e.StartLBA != 1 {
			add(ProblemMBRProtectiveRange, diag.Warning, remedyMBR,
				"hybrid MBR's 0xEE entry %d starts at LBA %d, want 1", i+1, e.StartLBA)
		}
	}
	if ee > 1 {
		add(ProblemMBRManyProtective, diag.Warning, remedyMBR, "LBA 0 has %d 0xEE entries", ee)
	}
	if m.Kind() == mbr.KindHybrid {
		for i, e := range m.Entries {
			if e.IsEmpty() || e.Type == mbr.TypeGPTProtective {
				continue
			}
			if !slices.ContainsFunc(parts, func(p Partition) bool {
				return p.FirstLBA == uint64(e.StartLBA) && p.Sectors() == uint64(e.Sectors)
			}) {
				add(ProblemHybridMismatch, diag.Error, "recreate the hybrid MBR from the GPT (gdisk: r, h) or "+remedyMBR,
					"hybrid MBR entry %d (type %#02x, LBA %d+%d) matches no GPT partition", i+1, byte(e.Type), e.StartLBA, e.Sectors)
			}
		}
	}
	return ps
}

// sameArray reports whether the entry arrays of two copies hold the same
// bytes: each keeps its array up to its last entry that is not all zero,
// and the rest is zero.
func sameArray(p, b *Copy) bool {
	if p.Header.arrayBytes() != b.Header.arrayBytes() {
		return false
	}
	x, y := p.EntryArray, b.EntryArray
	if len(x) > len(y) {
		x, y = y, x
	}
	return bytes.Equal(x, y[:len(x)]) && usedBytes(y[len(x):], 1) == 0
}

// inUse returns the copy Header came from, or nil.
func (t *Table) inUse() *Copy {
	if t.Source == Backup {
		return t.Backup
	}
	return t.Primary
}
