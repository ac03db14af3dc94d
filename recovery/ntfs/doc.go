// Package ntfs reads an NTFS volume of one partition and plans changes to
// it, in pure Go, from an [io.ReaderAt] and the partition size: what a tool
// that shrinks, grows or patches a Windows volume offline must know first,
// and the exact bytes the change writes. It never writes: every change is a
// list of [diag.Write]s (offset, old bytes, new bytes) and, for a shrink that
// moves data, of [DataCopy]s, which the caller carries out (the winrepart
// executor journals them).
//
// # What it changes
//
//   - [Volume.PlanShrink] and [Volume.PlanGrow] resize the volume to a new
//     partition size, as ntfsresize does; [Volume.PlanShrinkRelocating]
//     first moves the in-use clusters of the cut-off tail into free space
//     (the copies come first and leave their sources intact; the metadata
//     writes that switch to them come after).
//   - [Volume.PlanHiddenSectors] records a moved partition's new start.
//   - [Volume.PlanPatchFile] and [Volume.PlanRewriteFile] replace a small
//     file's content in place, at its length or at a new one.
//
// # What it reads
//
//   - The boot sector ([ParseBootSector]): every field, with the compact
//     encodings decoded by [BootSector.ClusterSize], [BootSector.MFTRecordSize]
//     and [BootSector.IndexBlockSize]. BitLocker volumes are recognised and
//     refused ([ErrBitLocker], [ErrBitLockerToGo]).
//   - MFT records ([ParseRecord], [Volume.ReadRecord]) with their update
//     sequence fixups applied ([ApplyFixups]); the inverse, [ProtectFixups],
//     re-protects a patched record before it is written back.
//   - Attributes, resident or not, their runlists ([DecodeRunlist],
//     [EncodeRunlist]) and attribute lists ([ParseAttributeList]), so that
//     fragmented files and a fragmented $MFT are followed.
//   - Directories: [Volume.Lookup] walks the $I30 B+ tree ($INDEX_ROOT and
//     $INDEX_ALLOCATION blocks) comparing names through the volume's
//     $UpCase table, case-insensitively as Windows does.
//   - File data: [Volume.ReadFile] (bounded) and [Volume.OpenFile], a lazy
//     reader for large files such as winre.wim.
//   - Volume state: [Volume.Version], [Volume.Label], [Volume.Dirty],
//     [Volume.LogFileClean], [Volume.Hibernated].
//   - Cluster accounting from $Bitmap: [Volume.Usage], [Volume.RangeFree],
//     [Volume.LastUsedCluster] (reads backwards from the end, so it costs the
//     size of the free tail, not of the volume) and [Volume.ShrinkLimit].
//
// # Offsets for later writes
//
// Parsed structures keep where they came from: [Record.Raw] holds the
// fixed-up record and every [Attribute] and [Run] carries its offset in it
// ([Attribute.Offset], [Attribute.RunsOffset], [Run.PairOffset]);
// [Volume.RecordExtents] maps a record onto the volume. A resizer can thus
// edit a record in memory, call [ProtectFixups] and write it back as a list
// of [diag.Write] changes (offset from the volume's first byte, old bytes,
// new bytes), which [ApplyWrites] and [UndoWrites] apply and revert.
//
// # Diagnosis
//
// [Volume.Verify] reports, without failing, what makes offline changes
// unsafe or is inconsistent (backup boot sector, $MFTMirr, dirty flag,
// $LogFile, hibernation) as [diag.Problem] values with the codes declared
// here ([ProblemDirty], [ProblemHibernated], ...).
//
// # Sizes
//
// Sector sizes 256 to 4096 bytes, clusters 512 bytes to 2 MiB, MFT records
// and index blocks 512 bytes to 64 KiB. The volume is expected to be one
// sector shorter than its partition: the backup boot sector lives in the
// partition's last sector.
//
// # Errors
//
// Errors unwrap to sentinels ([ErrNotNTFS], [ErrBadRecord], [ErrBadFixup],
// [ErrBadAttribute], [ErrBadRunlist], [ErrBadIndex], [ErrNotFound], ...) and
// are structured: [*FieldError] (boot sector field), [*GeometryError]
// (volume does not fit the partition), [*RecordError] (MFT record number
// and offset), [*IndexError] (directory, index block VCN and offset),
// [*PathError] (the path component that failed).
//
// # Security
//
// Disk images are untrusted input. Every length and count read from disk
// is bounded before it is used or allocated: record and index block sizes,
// attribute and value lengths, names, runlist pairs (at most 32768 per
// attribute extent, cluster numbers below 2^42), attribute lists (4 MiB),
// extents per attribute (65536), $UpCase (128 KiB), B+ tree depth (32
// levels) and blocks visited per lookup (a block seen twice is a loop),
// path depth (256 components). Malformed structures give errors, never
// panics; the fuzz targets FuzzBootSector, FuzzMFTRecord and FuzzRunlist
// check this, and the planners have their own (FuzzPlanResize,
// FuzzPlanShrinkRelocating, FuzzRewriteFile). Nothing is written: the
// package only reads through the [io.ReaderAt] it is given. Compressed and encrypted attributes are not
// decoded ([ErrUnsupported]).
//
// # References
//
// The on-disk structures follow the [Linux-NTFS documentation] and
// ntfs-3g's [layout.h]; the $LogFile clean check and the shrink limit follow
// what ntfs-3g's ntfsfix and ntfsresize do (see [Volume.LogFileClean] and
// [Volume.ShrinkLimit]).
//
// [Linux-NTFS documentation]: https://flatcap.github.io/linux-ntfs/ntfs/
// [layout.h]: https://github.com/tuxera/ntfs-3g/blob/edge/include/ntfs-3g/layout.h
package ntfs
