// Package fat is a small, read-only, bounded reader of FAT12, FAT16 and
// FAT32 volumes: enough to read a file such as the BCD store at
// \EFI\Microsoft\Boot\BCD out of an EFI system partition. It never writes.
//
// # What it reads
//
// [Open] takes an [io.ReaderAt] and the size of the volume's container (a
// partition) and validates the boot sector strictly: a jump instruction and
// the 0xAA55 signature; bytes per sector 512-4096 and a power of two;
// sectors per cluster a power of two up to 128; at least one reserved
// sector and one FAT; a known media byte; one sector count (or two that
// agree) and a volume that fits its container; a data area holding at
// least one cluster; a FAT large enough for an entry per cluster. The FAT
// variant follows from the count of clusters alone, as the specification
// says (fewer than 4085: FAT12; fewer than 65525: FAT16; else FAT32), and
// the BPB must be shaped for that variant (FAT32: BPB_FATSz16 and
// BPB_RootEntCnt zero, version 0, a root cluster in range, an active FAT
// that exists when mirroring is off).
//
// [Volume.Lookup] walks a path ("\EFI\Microsoft\Boot\BCD"; "/" works too)
// through directories, comparing each component case-insensitively with an
// entry's long (VFAT) name and its 8.3 name. A long name counts only when
// its entries are in sequence and their checksum matches the short entry,
// as the specification requires; otherwise the short name is used, with
// the lower-case flags Windows NT stores in byte 12. [Volume.Read] and
// [Volume.ReadFile] return a file's contents, refusing before reading
// anything a file larger than the caller's limit; [Volume.ReadDir] lists a
// directory.
//
// # Errors
//
// Errors unwrap to sentinels: [ErrNotFAT], [ErrGeometry] (a
// [*GeometryError] names the BPB field), [ErrClusterRange],
// [ErrChainLoop], [ErrChainLength], [ErrBadCluster] (a [*ChainError] says
// where a chain broke), [ErrNotFound], [ErrNotDir], [ErrIsDir],
// [ErrTooLarge]. Lookups wrap their cause in a [*PathError] naming the
// component that failed.
//
// # Security
//
// FAT volumes in disk images are untrusted input. Nothing is allocated from
// a size read on disk before it is bounded: a file's size is checked
// against the caller's limit first, and its chain must then hold exactly
// the clusters that size needs (no more, no fewer); a directory's chain is
// bounded by the specification's 65536 entries; every cluster number is
// checked to lie in the data area, and a cluster seen twice in a chain is a
// loop. The FAT is read one entry at a time through a two-sector buffer,
// never loaded whole. Open, Lookup, ReadDir and Read are fuzzed
// (FuzzVolume).
//
// # Sources
//
// Microsoft's "FAT: General Overview of On-Disk Format" (the FAT
// specification, version 1.03), and dosfstools' mkfs.fat and fsck.fat for
// how real volumes are laid out; the tests compare every listing and file
// with mtools (mdir, mtype) on volumes made by mkfs.fat and mcopy.
package fat
