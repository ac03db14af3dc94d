package mbr

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/winrepart/winrepart/diag"
)

// Problem codes reported by Table.Verify: stable kebab-case strings, fit
// for scripts and JSON.
const (
	ProblemGeometry               diag.Code = "geometry"                 // sector size or disk size unusable
	ProblemBadBootFlag            diag.Code = "bad-boot-flag"            // status byte other than 0x00 or 0x80
	ProblemMultipleActive         diag.Code = "multiple-active"          // more than one primary marked active
	ProblemMultipleExtended       diag.Code = "multiple-extended"        // more than one primary extended partition
	ProblemZeroSize               diag.Code = "zero-size"                // a type but no sectors
	ProblemStaleEntry             diag.Code = "stale-entry"              // type 0x00 but a start or size (info)
	ProblemStartZero              diag.Code = "start-zero"               // a partition starting on its own MBR or EBR
	ProblemOutsideDisk            diag.Code = "outside-disk"             // a partition ending beyond the disk
	ProblemOverlap                diag.Code = "overlap"                  // two partitions share sectors
	ProblemLogicalOutsideExtended diag.Code = "logical-outside-extended" // a logical partition not inside the extended one
	ProblemCoversEBR              diag.Code = "covers-ebr"               // a partition covers an EBR of the chain
	ProblemEBRMultipleData        diag.Code = "ebr-multiple-data"        // an EBR with more than one data entry
	ProblemEBRMultipleLinks       diag.Code = "ebr-multiple-links"       // an EBR with more than one link entry
	ProblemChainLoop              diag.Code = "chain-loop"               // the EBR chain links back to itself
	ProblemChainOutsideExtended   diag.Code = "chain-outside-extended"   // an EBR link leaves the extended partition
	ProblemChainOutsideDisk       diag.Code = "chain-outside-disk"       // an EBR link points beyond the disk
	ProblemChainNoSignature       diag.Code = "chain-no-signature"       // a linked EBR has no 0x55AA signature
	ProblemChainTooLong           diag.Code = "chain-too-long"           // more than MaxChain EBRs
	ProblemCHSMismatch            diag.Code = "chs-mismatch"             // CHS fields disagree with the LBA fields (info)
	ProblemProtectiveStart        diag.Code = "protective-start"         // 0xEE entry not starting at LBA 1
	ProblemProtectiveSize         diag.Code = "protective-size"          // 0xEE entry not covering the disk
	ProblemDiskTooLarge           diag.Code = "disk-too-large"           // MBR cannot address the whole disk
)

// maxReports caps how many problems of one code Verify lists, so that a
// hostile chain of thousands of overlapping partitions yields a short
// report; the last one listed says how many were left out.
const maxReports = 32

type verifier struct {
	problems []diag.Problem
	counts   map[diag.Code]int
}

// add records a problem; part is the number of the partition concerned
// (1-4 primary, 5+ logical, as in Table.Partitions), which becomes its
// Where, or 0 when the problem concerns the table as a whole or an EBR.
func (v *verifier) add(code diag.Code, sev diag.Severity, part int, remedy, format string, args ...any) {
	v.counts[code]++
	if v.counts[code] > maxReports {
		return
	}
	where := ""
	if part != 0 {
		where = "partition " + strconv.Itoa(part)
	}
	v.problems = append(v.problems, diag.Problem{Code: code, Severity: sev, Where: where,
		Message: fmt.Sprintf(format, args...), Remedy: remedy})
}

func (v *verifier) finish() []diag.Problem {
	for code, n := range v.counts {
		if n > maxReports {
			for i := len(v.problems) - 1; i >= 0; i-- {
				if v.problems[i].Code == code {
					v.problems[i].Message += fmt.Sprintf(" (and %d more %s problems not listed)", n-maxReports, code)
					break
				}
			}
		}
	}
	return v.problems
}

// region is an absolute extent with the partition it belongs to.
type region struct {
	number     int
	start, end uint64 // end exclusive
	extended   bool
	logical    bool
}

const (
	remedyRecreate = "recreate the partition table entry with a partitioning tool after backing up the data"
	remedyBootFlag = "set the status byte to 0x00 (or 0x80 for the one partition to boot), e.g. with sfdisk --activate"
)

// Verify diagnoses t and returns every problem found, most of them
// error-level; CHS mismatches are info-level. It never fails: a table
// returned by Read can always be verified. It needs t.DiskSize and
// t.SectorSize for the bounds checks. A nil or empty result means no
// problem was found.
func (t *Table) Verify() []diag.Problem {
	v := &verifier{counts: make(map[diag.Code]int)}
	if err := checkGeometry(t.DiskSize, t.SectorSize); err != nil {
		v.add(ProblemGeometry, diag.Error, 0, "pass the disk's real size and logical sector size", "%v", err)
		return v.finish()
	}
	disk := t.diskSectors()
	kind := t.Record.Kind()

	var active, extended []int
	for i, e := range t.Record.Entries {
		n := i + 1
		v.entry(n, e, uint64(e.StartLBA), disk, kind == KindProtective && e.Type == TypeGPTProtective)
		if e.Status == 0x80 {
			active = append(active, n)
		}
		if e.Type.IsExtended() && e.Sectors != 0 {
			extended = append(extended, n)
		}
	}
	if len(active) > 1 {
		v.add(ProblemMultipleActive, diag.Error, 0,
			"mark exactly one partition active (Windows requires zero or one; BIOS boot code requires one), e.g. with sfdisk --activate DISK N",
			"partitions %v are all marked active", active)
	}
	if len(extended) > 1 {
		v.add(ProblemMultipleExtended, diag.Error, 0,
			"keep one extended partition; Windows and libfdisk use only one (only the first was followed here)",
			"partitions %v are all extended partitions", extended)
	}

	var extStart, extEnd uint64
	if t.Extended >= 0 && t.Extended < len(t.Record.Entries) {
		e := t.Record.Entries[t.Extended]
		extStart, extEnd = uint64(e.StartLBA), uint64(e.StartLBA)+uint64(e.Sectors)
	}
	for _, l := range t.Logical {
		start := l.EBRLBA + uint64(l.Entry.StartLBA)
		v.entry(l.Number, l.Entry, start, disk, false)
		end := start + uint64(l.Entry.Sectors)
		if t.Extended >= 0 && (start < extStart || end > extEnd) {
			v.add(ProblemLogicalOutsideExtended, diag.Error, l.Number, remedyRecreate,
				"logical partition LBA %d-%d is not inside the extended partition LBA %d-%d", start, end-1, extStart, extEnd-1)
		}
	}
	for i, ebr := range t.EBRs {
		data, links := 0, 0
		for _, e := range ebr.Record.Entries {
			switch {
			case e.Type.IsExtended() && e.Sectors != 0:
				links++
			case used(e):
				data++
			}
		}
		if data > 1 {
			v.add(ProblemEBRMultipleData, diag.Warning, 0,
				"move the extra entries into EBRs of their own (one logical partition per EBR); until then libfdisk, sfdisk and parted do not show them",
				"EBR #%d at LBA %d holds %d data entries; Linux and Windows use all of them, libfdisk only the first", i, ebr.LBA, data)
		}
		if links > 1 {
			v.add(ProblemEBRMultipleLinks, diag.Warning, 0,
				"remove the extra link entries; only the first is followed",
				"EBR #%d at LBA %d holds %d link entries", i, ebr.LBA, links)
		}
	}
	if b := t.Broken; b != nil {
		v.chain(b)
	}
	v.overlaps(t)

	switch kind {
	case KindProtective:
		for i, e := range t.Record.Entries {
			if e.Type != TypeGPTProtective {
				continue
			}
			if e.StartLBA != 1 {
				v.add(ProblemProtectiveStart, diag.Error, i+1,
					"rewrite the protective MBR (sgdisk can do it) so the 0xEE entry starts at LBA 1",
					"GPT protective entry starts at LBA %d, not 1", e.StartLBA)
			}
			// 0xFFFFFFFF covers any disk: Windows writes it whatever the
			// disk size, and gdisk and firmware accept it.
			want := min(disk-1, 0xFFFFFFFF)
			if uint64(e.Sectors) != want && e.Sectors != 0xFFFFFFFF {
				v.add(ProblemProtectiveSize, diag.Warning, i+1,
					"rewrite the protective MBR (for example with sgdisk after moving the backup GPT with sgdisk -e) so it covers the disk, 0xFFFFFFFF sectors when the disk is larger",
					"GPT protective entry covers %d sectors; a disk of %d sectors needs %d", e.Sectors, disk, want)
			}
		}
	case KindHybrid:
		// A hybrid MBR covers part of the disk on purpose; gpt checks it
		// against the GPT.
	default:
		if disk > 1<<32 {
			v.add(ProblemDiskTooLarge, diag.Warning, 0,
				"convert the disk to GPT (Windows: MBR2GPT) to use the space beyond the first 2^32 sectors",
				"the disk has %d sectors; MBR addresses only the first %d", disk, uint64(1)<<32)
		}
	}
	v.chs(t)
	return v.finish()
}

// entry checks one primary or logical entry whose absolute start is start.
func (v *verifier) entry(n int, e Entry, start, disk uint64, protective bool) {
	if e.Status != 0x00 && e.Status != 0x80 {
		v.add(ProblemBadBootFlag, diag.Error, n, remedyBootFlag,
			"status byte is %#02x; Linux ignores the whole table when a primary entry has one", e.Status)
	}
	switch {
	case e.IsEmpty():
		if e.StartLBA != 0 || e.Sectors != 0 {
			v.add(ProblemStaleEntry, diag.Info, n, "none needed; zero the entry to tidy it",
				"entry of type 0x00 still holds start %d and size %d", e.StartLBA, e.Sectors)
		}
		return
	case e.Sectors == 0:
		v.add(ProblemZeroSize, diag.Warning, n, "delete the entry or give it a size",
			"entry of type %v has no sectors", e.Type)
		return
	}
	if e.StartLBA == 0 {
		v.add(ProblemStartZero, diag.Error, n, remedyRecreate,
			"partition starts at relative LBA 0, on top of the record that describes it")
	}
	if end := start + uint64(e.Sectors); end > disk && !protective {
		v.add(ProblemOutsideDisk, diag.Error, n,
			"shrink the partition to fit (if the image was truncated, restore its full size first)",
			"partition ends at LBA %d but the disk has %d sectors", end-1, disk)
	}
}

func (v *verifier) chain(b *ChainError) {
	const remedy = "logical partitions after this point are not visible; rebuild the EBR chain (testdisk can search for lost partitions) after backing up"
	switch {
	case errors.Is(b.Err, ErrChainLoop):
		v.add(ProblemChainLoop, diag.Error, 0, remedy, "EBR #%d links back to LBA %d, already in the chain", b.Index, b.EBRLBA)
	case errors.Is(b.Err, ErrOutsideExtended):
		v.add(ProblemChainOutsideExtended, diag.Error, 0, remedy, "EBR #%d link points to LBA %d, outside the extended partition", b.Index, b.EBRLBA)
	case errors.Is(b.Err, ErrOutsideDisk):
		v.add(ProblemChainOutsideDisk, diag.Error, 0, remedy, "EBR #%d link points to LBA %d, beyond the disk", b.Index, b.EBRLBA)
	case errors.Is(b.Err, ErrChainTooLong):
		v.add(ProblemChainTooLong, diag.Error, 0, remedy, "EBR chain longer than %d records", MaxChain)
	default:
		v.add(ProblemChainNoSignature, diag.Error, 0, remedy, "EBR #%d at LBA %d: %v", b.Index, b.EBRLBA, b.Err)
	}
}

func (v *verifier) overlaps(t *Table) {
	var rs []region
	for i, e := range t.Record.Entries {
		if used(e) {
			rs = append(rs, region{number: i + 1, start: uint64(e.StartLBA), end: uint64(e.StartLBA) + uint64(e.Sectors), extended: e.Type.IsExtended()})
		}
	}
	for _, l := range t.Logical {
		if used(l.Entry) {
			s := l.EBRLBA + uint64(l.Entry.StartLBA)
			rs = append(rs, region{number: l.Number, start: s, end: s + uint64(l.Entry.Sectors), logical: true})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i := range rs {
		a := rs[i]
		for j := i + 1; j < len(rs) && rs[j].start < a.end; j++ {
			b := rs[j]
			if (a.extended && b.logical) || (a.logical && b.extended) {
				continue // logicals live inside the extended partition
			}
			v.add(ProblemOverlap, diag.Error, b.number, remedyRecreate,
				"partitions %d (LBA %d-%d) and %d (LBA %d-%d) overlap", a.number, a.start, a.end-1, b.number, b.start, b.end-1)
			if v.counts[ProblemOverlap] > maxReports {
				break
			}
		}
	}
	// The EBRs must stay outside every partition but the extended one.
	for i, ebr := range t.EBRs {
		for _, r := range rs {
			if v.counts[ProblemCoversEBR] > maxReports {
				return
			}
			if !r.extended && ebr.LBA >= r.start && ebr.LBA < r.end {
				v.add(ProblemCoversEBR, diag.Error, r.number, remedyRecreate,
					"partition %d (LBA %d-%d) covers EBR #%d at LBA %d", r.number, r.start, r.end-1, i, ebr.LBA)
			}
		}
	}
}

// chs reports entries whose CHS fields follow none of the conventions in
// use. A CHS address is accepted when it is:
//
//   - the address of its LBA in the 255/63 geometry, or in the geometry the
//     table itself suggests (largest head and sector seen);
//   - saturated, for an LBA past cylinder 1023 (any address on cylinder
//     1023: Windows writes 1023/254/63);
//   - clamped as Windows clamps it: an LBA past the disk's last whole
//     cylinder gets the last sector of that cylinder, and an end address
//     may be rounded down to the end of the last whole cylinder inside the
//     partition;
//   - for a logical partition, any of the above computed from its LBAs
//     relative to its EBR, as Windows writes them.
//
// Firmware and every current operating system use the LBA fields, so what
// is left is reported at info level.
func (v *verifier) chs(t *Table) {
	type ent struct {
		n        int
		e        Entry
		start    uint64
		relative bool // a logical partition: e.StartLBA is relative to its EBR
	}
	var es []ent
	for i, e := range t.Record.Entries {
		// Tools write 0xEE entries' CHS in several ways (UEFI allows
		// FF FF FF at any size); firmware ignores them.
		if used(e) && e.Type != TypeGPTProtective {
			es = append(es, ent{i + 1, e, uint64(e.StartLBA), false})
		}
	}
	for _, l := range t.Logical {
		if used(l.Entry) {
			es = append(es, ent{l.Number, l.Entry, l.EBRLBA + uint64(l.Entry.StartLBA), true})
		}
	}
	var maxHead, maxSec uint64
	for _, x := range es {
		for _, c := range []CHS{x.e.FirstCHS, x.e.LastCHS} {
			maxHead = max(maxHead, uint64(c.Head()))
			maxSec = max(maxSec, uint64(c.Sector()))
		}
	}
	geoms := [][2]uint64{{chsHeads, chsSectors}}
	if maxSec > 0 && (maxHead+1 != chsHeads || maxSec != chsSectors) {
		geoms = append(geoms, [2]uint64{maxHead + 1, maxSec})
	}
	disk := t.diskSectors()
	match := func(c CHS, lba uint64, end bool) bool {
		for _, g := range geoms {
			heads, sectors := g[0], g[1]
			perCyl := heads * sectors
			cylEnd := func(cyl uint64) CHS { return encodeCHS(min(cyl, chsMaxCyl), heads-1, sectors) }
			switch {
			case c == chsFor(lba, heads, sectors):
				return true
			case lba/perCyl >= chsMaxCyl && c.Cylinder() == chsMaxCyl:
				return true
			case disk >= perCyl && lba >= disk/perCyl*perCyl && c == cylEnd(disk/perCyl-1):
				return true
			case end && lba+1 >= perCyl && c == cylEnd((lba+1)/perCyl-1):
				return true
			}
		}
		return false
	}
	matches := func(e Entry, start uint64) bool {
		last := start + uint64(e.Sectors) - 1
		return match(e.FirstCHS, start, false) && match(e.LastCHS, last, true)
	}
	for _, x := range es {
		if matches(x.e, x.start) || x.relative && matches(x.e, uint64(x.e.StartLBA)) {
			continue
		}
		last := x.start + uint64(x.e.Sectors) - 1
		v.add(ProblemCHSMismatch, diag.Info, x.n,
			"none needed: Windows and Linux use the LBA fields; a partitioning tool rewrites CHS when it saves the entry",
			"CHS %v-%v does not match LBA %d-%d in any convention in use (255/63 or the table's own geometry, saturated at cylinder 1023, clamped to whole cylinders, relative to the EBR)",
			x.e.FirstCHS, x.e.LastCHS, x.start, last)
	}
}
