package recovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"

	"github.com/winrepart/winrepart/recovery/ntfs"
)

// Sentinel errors for disks that hold something other than a GPT or MBR
// partition table. UnsupportedDiskError unwraps to one of them and to
// ErrNoPartitionTable.
var (
	// ErrBareFilesystem means LBA 0 is the boot sector of a filesystem: a
	// volume written over the whole disk (a "superfloppy"), with no
	// partition table.
	ErrBareFilesystem = errors.New("recovery: a bare filesystem, not a partitioned disk")
	// ErrForeignScheme means the disk has a partition table of a scheme
	// this package does not read (Sun, SGI, Atari, Apple, BSD, Amiga).
	ErrForeignScheme = errors.New("recovery: a partition scheme this tool does not handle")
)

// UnsupportedDiskError says what a disk holds when it is not a GPT or MBR
// disk but something recognised by its structure: a bare filesystem or a
// partition table of another scheme. ReadTable returns it inside a
// *TableError. It unwraps to Err (ErrBareFilesystem or ErrForeignScheme)
// and to ErrNoPartitionTable.
type UnsupportedDiskError struct {
	// What names what was found: "FAT32 filesystem", "NTFS filesystem",
	// "Sun disklabel", "Apple partition map".
	What string
	// Evidence is what was read that says so, e.g. `OEM id "mkdosfs",
	// 512-byte sectors, 4 sectors per cluster, 2 FATs, media 0xf8`.
	Evidence string
	// Err is ErrBareFilesystem or ErrForeignScheme.
	Err error
}

// Error says what the disk is, why, and what to do.
func (e *UnsupportedDiskError) Error() string {
	if errors.Is(e.Err, ErrBareFilesystem) {
		return fmt.Sprintf("recovery: the disk is a bare %s, not a partitioned disk (LBA 0 is the filesystem's boot sector: %s); give the whole disk that holds Windows, not one volume",
			e.What, e.Evidence)
	}
	article := "a"
	if e.What != "" && strings.IndexByte("AEIOU", e.What[0]) >= 0 || strings.HasPrefix(e.What, "SGI") {
		article = "an"
	}
	return fmt.Sprintf("recovery: the disk has %s %s (%s), a partition scheme this tool does not handle; Windows uses only GPT and MBR disks",
		article, e.What, e.Evidence)
}

// Unwrap returns Err and ErrNoPartitionTable.
func (e *UnsupportedDiskError) Unwrap() []error { return []error{e.Err, ErrNoPartitionTable} }

// bareFilesystem recognises a filesystem boot sector at LBA 0 by its
// structure, as libblkid and the kernel's FAT driver do: a BIOS parameter
// block whose fields are all plausible, not a list of OEM ids (formatters
// write any OEM id they like: "MSDOS5.0", "mkfs.fat", "mkdosfs",
// "MTOO4032"...). NTFS, exFAT and BitLocker are recognised by their
// signature at offset 3 and their own fields. It returns nil when b is not
// a boot sector, in particular for every MBR: MBR boot code has no BPB.
func bareFilesystem(b []byte) *UnsupportedDiskError {
	if len(b) < 512 {
		return nil
	}
	bare := func(what, format string, args ...any) *UnsupportedDiskError {
		return &UnsupportedDiskError{What: what, Evidence: fmt.Sprintf(format, args...), Err: ErrBareFilesystem}
	}
	le := binary.LittleEndian
	bps := le.Uint16(b[0x0B:])
	switch _, err := ntfs.ParseBootSector(b); {
	case err == nil:
		return bare("NTFS filesystem", `signature "NTFS    ", %d-byte sectors, %d sectors`, bps, le.Uint64(b[0x28:]))
	case errors.Is(err, ntfs.ErrBitLocker) && jumps(b) && sectorSize(bps):
		return bare("BitLocker-encrypted volume", `signature "-FVE-FS-", %d-byte sectors`, bps)
	case errors.Is(err, ntfs.ErrBitLockerToGo):
		return bare("BitLocker To Go volume", "the BitLocker identifier in a FAT boot sector")
	}
	if string(b[3:11]) == "EXFAT   " {
		if ev, ok := exFATBoot(b); ok {
			return bare("exFAT filesystem", "%s", ev)
		}
		return nil
	}
	if kind, ev, ok := fatBoot(b); ok {
		return bare(kind+" filesystem", "%s", ev)
	}
	return nil
}

// jumps reports whether b starts with an x86 jump over a BPB (EB xx or
// E9 xx xx), as every FAT, NTFS, exFAT and BitLocker boot sector does.
func jumps(b []byte) bool { return b[0] == 0xEB || b[0] == 0xE9 }

func sectorSize(n uint16) bool { return n >= 512 && n <= 4096 && bits.OnesCount16(n) == 1 }

// fatBoot checks a FAT12/16/32 BPB (Microsoft's FAT specification: the
// fields at 0x0B-0x24) and names the FAT type by cluster count, as the
// specification says to.
func fatBoot(b []byte) (kind, evidence string, ok bool) {
	le := binary.LittleEndian
	bps := le.Uint16(b[0x0B:])
	spc := b[0x0D]
	reserved := le.Uint16(b[0x0E:])
	fats := b[0x10]
	rootEntries := uint32(le.Uint16(b[0x11:]))
	total := uint64(le.Uint16(b[0x13:]))
	media := b[0x15]
	fatSize := uint64(le.Uint16(b[0x16:]))
	if total == 0 {
		total = uint64(le.Uint32(b[0x20:]))
	}
	fat32 := fatSize == 0
	if fat32 {
		fatSize = uint64(le.Uint32(b[0x24:]))
	}
	switch {
	case !jumps(b), !sectorSize(bps),
		spc == 0 || bits.OnesCount8(spc) != 1,
		reserved == 0, fats != 1 && fats != 2,
		media != 0xF0 && media < 0xF8,
		total == 0, fatSize == 0,
		fat32 && rootEntries != 0:
		return "", "", false
	}
	rootSectors := (uint64(rootEntries)*32 + uint64(bps) - 1) / uint64(bps)
	meta := uint64(reserved) + uint64(fats)*fatSize + rootSectors
	if meta >= total {
		return "", "", false
	}
	clusters := (total - meta) / uint64(spc)
	switch {
	case fat32:
		kind = "FAT32"
	case clusters < 4085:
		kind = "FAT12"
	default:
		kind = "FAT16"
	}
	evidence = fmt.Sprintf("OEM id %q, %d-byte sectors, %d sectors per cluster, %d reserved, %d FATs, media 0x%02x, %d sectors",
		strings.TrimRight(string(b[3:11]), " \x00"), bps, spc, reserved, fats, media, total)
	return kind, evidence, true
}

// exFATBoot checks an exFAT main boot sector (Microsoft's exFAT
// specification §3.1): the FileSystemName "EXFAT   ", bytes 11-63 zero
// where FAT keeps its BPB, and plausible shifts and counts.
func exFATBoot(b []byte) (string, bool) {
	for _, c := range b[11:64] {
		if c != 0 {
			return "", false
		}
	}
	le := binary.LittleEndian
	bpsShift, spcShift, fats := b[108], b[109], b[110]
	length := le.Uint64(b[72:])
	switch {
	case !jumps(b), b[510] != 0x55 || b[511] != 0xAA,
		bpsShift < 9 || bpsShift > 12, spcShift > 25-bpsShift,
		fats != 1 && fats != 2, length == 0,
		le.Uint32(b[80:]) < 24, le.Uint32(b[84:]) == 0, le.Uint32(b[96:]) < 2:
		return "", false
	}
	return fmt.Sprintf(`signature "EXFAT   ", %d-byte sectors, %d sectors per cluster, %d FATs, %d sectors`,
		1<<bpsShift, 1<<spcShift, fats, length), true
}

// foreignScheme recognises the partition tables of other platforms by
// their signatures, at the places libblkid, parted and the Linux kernel
// (block/partitions/) look for them. lba0 is the first 512 bytes of the
// disk; more is read through r, bounded to the first 16 sectors of 512
// bytes. It returns nil when nothing is recognised.
func foreignScheme(r io.ReaderAt, size int64, lba0 []byte) *UnsupportedDiskError {
	foreign := func(what, format string, args ...any) *UnsupportedDiskError {
		return &UnsupportedDiskError{What: what, Evidence: fmt.Sprintf(format, args...), Err: ErrForeignScheme}
	}
	be := binary.BigEndian
	// Sun VTOC: magic 0xDABE at byte 508; the XOR of all 256 big-endian
	// 16-bit words of the label is zero.
	if be.Uint16(lba0[508:]) == 0xDABE {
		var x uint16
		for i := 0; i < 512; i += 2 {
			x ^= be.Uint16(lba0[i:])
		}
		if x == 0 {
			return foreign("Sun disklabel", "magic 0xDABE at byte 508, checksum valid")
		}
	}
	// SGI disk volume header: magic 0x0BE5A941 at byte 0; the 128
	// big-endian 32-bit words of the header sum to zero.
	if be.Uint32(lba0[0:]) == 0x0BE5A941 {
		var sum uint32
		for i := 0; i < 512; i += 4 {
			sum += be.Uint32(lba0[i:])
		}
		if sum == 0 {
			return foreign("SGI disk volume header", "magic 0x0BE5A941 at byte 0, checksum valid")
		}
	}
	// Read the first 16 sectors of 512 bytes (fewer on a smaller disk):
	// where the Apple, BSD and Amiga tables live.
	head := make([]byte, min(16*512, size))
	n, _ := r.ReadAt(head, 0)
	head = head[:n-n%512]
	// Apple partition map: a driver descriptor "ER" at byte 0 giving the
	// block size, and the first map entry "PM" in block 1.
	if len(head) >= 1024 && string(lba0[:2]) == "ER" {
		blk := int(be.Uint16(lba0[2:]))
		for _, off := range []int{512, blk} {
			if off >= 512 && off+2 <= len(head) && string(head[off:off+2]) == "PM" {
				return foreign("Apple partition map", `"ER" at byte 0, "PM" at byte %d`, off)
			}
		}
	}
	// BSD disklabel: d_magic 0x82564557 and, 132 bytes on, d_magic2 the
	// same; in sector 1 (i386) or at byte 64 or 128 of sector 0.
	for _, off := range []int{512, 64, 128} {
		if off+136 <= len(head) && binary.LittleEndian.Uint32(head[off:]) == 0x82564557 &&
			binary.LittleEndian.Uint32(head[off+132:]) == 0x82564557 {
			return foreign("BSD disklabel", "magic 0x82564557 at byte %d", off)
		}
	}
	// Amiga Rigid Disk Block: "RDSK" at the start of one of the first 16
	// sectors, whose SummedLongs big-endian words sum to zero.
	for off := 0; off+512 <= len(head); off += 512 {
		if string(head[off:off+4]) != "RDSK" {
			continue
		}
		longs := int(be.Uint32(head[off+4:]))
		if longs < 2 || longs > 128 {
			continue
		}
		var sum uint32
		for i := 0; i < longs; i++ {
			sum += be.Uint32(head[off+4*i:])
		}
		if sum == 0 {
			return foreign("Amiga Rigid Disk Block", `"RDSK" at sector %d, checksum valid`, off/512)
		}
	}
	// Atari AHDI root sector: no magic, so at least one entry must be in
	// use (flag bit 0) with a three-character id such as "GEM", "BGM",
	// "XGM" or "RAW", inside the disk size the sector records.
	if disk := be.Uint32(lba0[0x1C2:]); disk != 0 && int64(disk) <= size/512 {
		used := 0
		for i := 0; i < 4; i++ {
			e := lba0[0x1C6+12*i:]
			if e[0]&1 == 0 {
				continue
			}
			start, n := be.Uint32(e[4:]), be.Uint32(e[8:])
			if !atariID(e[1:4]) || start == 0 || n == 0 || uint64(start)+uint64(n) > uint64(disk) {
				return nil
			}
			used++
		}
		if used > 0 {
			return foreign("Atari AHDI partition table", "%d entries in the root sector, disk size %d sectors", used, disk)
		}
	}
	return nil
}

func atariID(id []byte) bool {
	for _, c := range id {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
