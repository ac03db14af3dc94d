// Package mbr reads, checks, edits and writes Master Boot Record partition
// tables, including the chain of Extended Boot Records (EBRs) that holds
// logical partitions, byte for byte.
//
// It is a pure codec: it reads through an [io.ReaderAt] and returns the
// writes to make as (offset, bytes) pairs; it never opens files or devices.
//
// # Layout
//
// The MBR is the first 512 bytes of LBA 0: 440 bytes of boot code, the
// 4-byte Windows disk signature (the id in ReAgent.xml and the BCD on MBR
// disks), 2 reserved bytes, four 16-byte partition entries and the boot
// signature 0x55 0xAA. Entries hold a status byte (0x80 active, 0x00 not),
// a type byte, CHS addresses and 32-bit LBA start and size, so an MBR
// addresses at most 2^32 sectors (2 TiB with 512-byte sectors).
//
// On disks with larger logical sectors (4Kn) every LBA counts 4096-byte
// sectors and each record is still the first 512 bytes of its sector; the
// rest of the sector is not part of the record. [Table.Writes] therefore
// returns 512-byte writes at sector starts and leaves the rest of each
// sector alone.
//
// # Extended partitions and the EBR chain
//
// A primary entry of type 0x05, 0x0F or 0x85 is an extended partition. Its
// first sector holds an EBR, laid out like the MBR. In each EBR:
//
//   - a data entry describes a logical partition; its start is relative to
//     the EBR holding it;
//   - a link entry (an extended type) points at the next EBR; its start is
//     relative to the start of the extended partition.
//
// [Read] follows the chain of the first extended partition (by slot), as
// Windows and libfdisk support only one. Logical partitions are numbered
// as Linux numbers them: 5, 6, ... for every data entry in chain order. An
// EBR usually holds one data entry; when it holds more, all are kept and
// numbered (Linux and Windows read them all, libfdisk and so sfdisk keep
// only the first) and [Table.Verify] reports ebr-multiple-data.
//
// # Strict reading, separate diagnosis
//
// Read fails only when there is nothing to salvage: LBA 0 is short or has
// no boot signature ([ErrShortRecord], [ErrNoBootSignature], inside a
// [*RecordError]), or an EBR cannot be read at all. A damaged chain (a
// loop, a link outside the extended partition or the disk, an EBR without a
// signature, more than [MaxChain] EBRs) is salvaged: Read keeps what comes
// before the damage and records a [*ChainError] in [Table.Broken].
// [Table.Verify] turns that and every other finding (overlaps, partitions
// beyond the disk, several active or extended partitions, invalid status
// bytes, a protective MBR of the wrong size, a disk MBR cannot address,
// CHS fields that follow none of the conventions tools and Windows use)
// into a list of [diag.Problem] values, each with a stable code (the
// Problem constants here), a [diag.Severity], the partition concerned (its
// Where) and a remedy. Windows' own CHS habits (end addresses clamped
// to a whole cylinder, logical partitions addressed relative to their EBR,
// 1023/254/63 past cylinder 1023) and a protective entry of 0xFFFFFFFF
// sectors on any disk are not problems.
//
// # Editing and writing
//
// [Table.SetPrimary], [Table.AddPrimary], [Table.DeletePrimary] and
// [Table.SetActive] edit primary entries in memory, with CHS fields
// computed by [CHSFromLBA] (255 heads, 63 sectors per track, saturating at
// 1023/254/63); [Table.FreeExtents] lists where a new primary entry could
// go. Extended and logical partitions are read, verified and written back,
// but not edited. [Table.Writes] returns the EBRs in chain order and the
// MBR last; for a table returned by Read and not edited the writes
// reproduce every byte of LBA 0 and of each EBR.
//
// # Security
//
// Disk images are untrusted input. Every length and link read from disk is
// bounded before it is used: records are fixed 512-byte reads, the EBR
// chain is capped at [MaxChain] records and guarded by a visited set,
// offsets are computed in 64-bit arithmetic, and Verify caps how many
// problems of one kind it lists. Nothing read from disk sizes an
// allocation. A table that Verify finds fault with should not be written
// back to a disk without a human looking at it.
//
// References: the UEFI specification (protective MBR, §5.2.3) and the
// Linux kernel's block/partitions/msdos.c (EBR chain semantics).
package mbr
