package recovery

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
)

// Sentinel errors of this package.
var (
	// ErrNoPartitionTable means LBA 0 holds no boot signature and no GPT
	// header was found either: a blank disk, a bare filesystem or garbage.
	ErrNoPartitionTable = errors.New("recovery: no partition table")
	// ErrBadGeometry means the sizes given cannot describe a disk.
	ErrBadGeometry = errors.New("recovery: bad disk geometry")
)

// TableError reports why the partition table of a disk could not be read.
// It unwraps to the gpt or mbr error behind it.
type TableError struct {
	Scheme Scheme // the scheme the disk claims (by its MBR), or SchemeNone
	Err    error
}

// Error names the scheme being read ("reading the GPT partition table:
// ..."), or says that none was found.
func (e *TableError) Error() string {
	if e.Scheme == SchemeGPT || e.Scheme == SchemeMBR {
		return fmt.Sprintf("recovery: reading the %s partition table: %v", strings.ToUpper(string(e.Scheme)), e.Err)
	}
	if errors.Is(e.Err, ErrNoPartitionTable) {
		return e.Err.Error()
	}
	return "recovery: " + e.Err.Error()
}

func (e *TableError) Unwrap() error { return e.Err }

// ReadTable detects the partitioning scheme of a disk and reads its table
// into a Layout with partitions but no filesystem facts, roles or WinRE
// verdict (see Inspect for those). size is the disk size in bytes and
// sectorSize its logical sector size (512 or 4096).
//
// The scheme is decided as Windows decides it, by LBA 0: a 0xEE entry
// (protective or hybrid MBR) means GPT; any other MBR means MBR, and a GPT
// header found behind it is reported as a problem; no MBR signature at all
// falls back to looking for a GPT, reported as a missing protective MBR.
// A disk of a single sector is read like any other (its partitions are then
// reported beyond the disk).
//
// Before all that, a filesystem boot sector at LBA 0 (a bare FAT, exFAT,
// NTFS or BitLocker volume written over the whole disk) fails with an
// *UnsupportedDiskError wrapping ErrBareFilesystem; and a disk with neither
// MBR nor GPT but the signature of another scheme (Sun, SGI, Apple, BSD,
// Atari, Amiga) fails with one wrapping ErrForeignScheme. Both come inside
// a *TableError (Scheme SchemeNone) that prints their message, and both
// also match ErrNoPartitionTable.
func ReadTable(r io.ReaderAt, size int64, sectorSize int) (*Layout, error) {
	// One sector is enough for an MBR (a 512-byte image of LBA 0 is a
	// common way to save or share one); a GPT needs more and is then
	// simply not found.
	if sectorSize != 512 && sectorSize != 4096 || size < int64(sectorSize) {
		return nil, fmt.Errorf("%w: %d bytes with %d-byte sectors: smaller than one sector", ErrBadGeometry, size, sectorSize)
	}
	var lba0 [mbr.Size]byte
	if _, err := r.ReadAt(lba0[:], 0); err != nil {
		return nil, &TableError{Scheme: SchemeNone, Err: fmt.Errorf("reading LBA 0: %w", err)}
	}
	// A filesystem boot sector at LBA 0 means a bare filesystem (a
	// "superfloppy") with no partition table. Its BPB and boot code would
	// otherwise be read as MBR entries (mformat even writes one covering
	// the volume), so this comes first, as in libblkid.
	if e := bareFilesystem(lba0[:]); e != nil {
		return nil, &TableError{Scheme: SchemeNone, Err: e}
	}
	var rec mbr.Record
	recErr := rec.UnmarshalBinary(lba0[:])

	l := &Layout{SectorSize: sectorSize, SizeBytes: size}
	if recErr == nil && rec.Kind() == mbr.KindMBR {
		t, err := mbr.Read(r, size, sectorSize)
		if err != nil {
			return nil, &TableError{Scheme: SchemeMBR, Err: err}
		}
		l.fromMBR(t)
		if _, gerr := gpt.Read(r, size, sectorSize); gerr == nil {
			l.problem(ProblemStaleGPT, diag.Warning,
				"remove the stale GPT (sgdisk --zap on a copy, keeping the MBR) or convert the disk deliberately",
				"the disk has an MBR partition table, but a valid GPT is also present; Windows uses the MBR")
		}
		return l, nil
	}

	t, gerr := gpt.Read(r, size, sectorSize)
	switch {
	case gerr == nil:
		l.fromGPT(t)
		if recErr != nil || rec.Kind() == mbr.KindEmpty {
			l.problem(ProblemMissingProtectiveMBR, diag.Warning,
				"write a protective MBR (gdisk: x, n) so that MBR-only tools do not treat the disk as empty",
				"the disk has a GPT but no protective MBR at LBA 0")
		}
		return l, nil
	case recErr == nil && rec.Kind() != mbr.KindEmpty:
		// A protective or hybrid MBR promises a GPT that cannot be read.
		return nil, &TableError{Scheme: SchemeGPT, Err: gerr}
	}
	if recErr == nil {
		// A valid but empty MBR: a disk with no partitions.
		l.Scheme = SchemeMBR
		t, err := mbr.Read(r, size, sectorSize)
		if err != nil {
			return nil, &TableError{Scheme: SchemeMBR, Err: err}
		}
		l.fromMBR(t)
		return l, nil
	}
	if e := foreignScheme(r, size, lba0[:]); e != nil {
		return nil, &TableError{Scheme: SchemeNone, Err: e}
	}
	blank := ""
	if lba0 == [mbr.Size]byte{} {
		blank = " (LBA 0 is all zeros: a blank or wiped disk?)"
	}
	return nil, &TableError{Scheme: SchemeNone, Err: fmt.Errorf("%w: no MBR boot signature at LBA 0%s and no GPT header (%w; %w)", ErrNoPartitionTable, blank, recErr, gerr)}
}

func (l *Layout) fromGPT(t *gpt.Table) {
	l.Scheme = SchemeGPT
	l.GPT = t
	l.DiskGUID = t.Header.DiskGUID
	if t.ProtectiveMBR != nil {
		l.DiskSignature = t.ProtectiveMBR.DiskSignature
	}
	ss := int64(t.SectorSize)
	for _, p := range t.Partitions() {
		e := p.Entry
		l.Partitions = append(l.Partitions, Partition{
			Number:     p.Number,
			StartLBA:   e.FirstLBA,
			EndLBA:     e.LastLBA,
			SizeBytes:  int64(e.LastLBA-e.FirstLBA+1) * ss,
			GPTType:    e.Type,
			UniqueGUID: e.UniqueGUID,
			Attributes: e.Attributes,
			Name:       e.Label(),
		})
	}
	l.add(SourceGPT, t.Verify())
}

func (l *Layout) fromMBR(t *mbr.Table) {
	l.Scheme = SchemeMBR
	l.MBR = t
	l.DiskSignature = t.Record.DiskSignature
	ss := int64(t.SectorSize)
	for _, p := range t.Partitions() {
		l.Partitions = append(l.Partitions, Partition{
			Number:    p.Number,
			StartLBA:  p.StartLBA,
			EndLBA:    p.LastLBA(),
			SizeBytes: int64(p.Sectors) * ss,
			MBRType:   p.Type,
			Bootable:  p.Bootable,
			Logical:   p.Logical,
			Extended:  p.Extended,
		})
	}
	l.add(SourceMBR, t.Verify())
}

// problem records a problem of this package's own (SourceRecovery).
func (l *Layout) problem(code diag.Code, sev diag.Severity, remedy, format string, args ...any) {
	l.Problems = append(l.Problems, Problem{Source: SourceRecovery,
		Problem: diag.Problem{Code: code, Severity: sev, Message: fmt.Sprintf(format, args...), Remedy: remedy}})
}

// add records the problems another package's diagnosis found.
func (l *Layout) add(src Source, ps []diag.Problem) {
	for _, p := range ps {
		l.Problems = append(l.Problems, Problem{Problem: p, Source: src})
	}
}
