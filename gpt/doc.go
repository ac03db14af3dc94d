// Package gpt reads, checks, edits and writes GUID partition tables
// ([UEFI 2.10 §5.3]) on disks with 512-byte or 4096-byte logical sectors.
//
// The package is a pure codec: it reads through an [io.ReaderAt] and never
// writes; [Table.Writes] returns the (offset, bytes) pairs a caller writes,
// in the order UEFI prescribes.
//
// # Types
//
// [Header] and [Entry] mirror the on-disk structures field for field, with
// the UEFI names; GUIDs are [github.com/google/uuid.UUID] values in RFC 4122
// order (the mixed-endian disk form is handled internally). Bytes past the
// 92 header bytes and past the 128 entry bytes are kept, in [Header.Extra] and
// [Table.EntryExtra] (an Entry is its 128 bytes and holds no pointers), so
// a table read and written back unchanged is byte-identical.
// [Table.Entries] holds the entry array up to its last entry that is not
// all zero, or longer: every entry past its end, up to
// NumberOfPartitionEntries, is all zero, and [Table.Writes] writes it so.
// [Read] returns the shortest such slice (three to five entries on a
// Windows disk, of the 128 UEFI reserves); [New] returns all of them; the
// edits accept any entry number of the array and extend Entries as needed.
// [Type] and
// [Attributes] print themselves. LBAs always count logical sectors; fields
// and functions that count bytes say so (SizeBytes, StartBytes).
//
// # Reading
//
// [Read] checks the primary copy (LBA 1) and the backup, uses the primary
// when it is valid and otherwise the backup, and records both copies with
// their errors in the [Table]. When both are broken it returns a
// [*ReadError] with both reasons. Each failed check is a [*HeaderError]
// naming the copy, the LBA, the field and its value, which unwraps to a
// sentinel such as [ErrHeaderCRC].
//
// On a disk laid out as UEFI recommends, Read makes two ReadAt calls (LBA 0
// through the primary array, then the backup array and header) into pooled
// scratch buffers, checks each array there, and keeps of it only the used
// part, up to its last entry that is not all zero ([Copy.EntryArray]; one
// slice for both copies when they hold the same bytes). It computes each
// CRC once and allocates three times: the [Table] with both copies and the
// MBR, the used part of the array, and the decoded [Table.Entries] (about
// 2 KiB in all for a Windows disk, whatever the size of the array).
//
// # Diagnosis
//
// [Table.Verify] reports, without failing, what gdisk's verify reports:
// invalid or disagreeing copies, a backup not at the end of the disk,
// partitions outside the disk or the usable range, overlaps, duplicate
// GUIDs, and protective or hybrid MBR problems, each as a [diag.Problem]
// with a stable code (the Problem constants here) and a remedy.
//
// # Editing
//
// [New] makes an empty table; [Table.Add], [Table.Set], [Table.Remove],
// [Table.Resize] and [Table.Move] edit entries and refuse overlaps and
// partitions outside the usable range; [Table.FreeExtents] lists aligned
// free space; [Table.ResizeDisk] follows a grown or shrunk disk;
// [Table.UseCopy] chooses which copy to rebuild from.
//
// # Security
//
// Disk images are untrusted input. Every length read from disk is bounded
// before anything is allocated: the entry array may not exceed
// [MaxEntryArrayBytes] (4 MiB, as libfdisk), the header may not exceed one
// sector, and all offsets are computed in 64-bit arithmetic with overflow
// checks. (A header claiming 0xFFFFFFFF entries crashes sgdisk 1.0.9; here
// it is an [ErrEntryArrayTooBig].) Read is fuzzed (FuzzRead, and
// FuzzReadAhead, which checks that its read-ahead changes nothing).
//
// [UEFI 2.10 §5.3]: https://uefi.org/specs/UEFI/2.10/05_GUID_Partition_Table_Format.html
package gpt
