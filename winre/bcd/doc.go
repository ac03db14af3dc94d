// Package bcd reads the Windows Boot Configuration Data store, a registry
// hive (the "regf" format) at \Boot\BCD on the active partition of a BIOS
// (MBR) disk or at \EFI\Microsoft\Boot\BCD on the EFI system partition,
// and computes the same-length, in-place patch that follows the WinRE
// partition when it moves on an MBR disk. It is a pure codec: it takes an
// [io.ReaderAt] and a size and returns a typed model or a list of writes;
// reading the file out of a filesystem and writing the patch back are left
// to the caller.
//
// # Registry hives
//
// [ReadHive] checks the 4096-byte base block — signature "regf", the
// primary and secondary sequence numbers at offsets 4 and 8, the checksum
// at 0x1FC (the XOR of the first 127 little-endian uint32s, with
// 0xFFFFFFFF written as 0xFFFFFFFE and 0 as 1), version 1.2-1.6, file
// type 0 (primary), format 1 — and walks the chain of hive bins ("hbin",
// their own offset at 4, size at 8, 4096-byte multiples) that follows it.
// Cells start with a signed 32-bit size, negative when allocated; their
// offsets count from the first hive bin. Keys are "nk" cells (name Latin-1
// when flag 0x20 is set, else UTF-16LE); subkey lists are "lf"/"lh"
// (offset and hash), "li" (offsets) or an "ri" of those; values are "vk"
// cells whose data lies inline in the data-offset field when the size's
// top bit is set (at most 4 bytes), in one cell, or — above 16344 bytes in
// hives of version 1.4 and later — in a "db" record listing segments of up
// to 16344 bytes.
//
// A hive whose sequence numbers differ was not completely written: Windows
// replays BCD.LOG1/BCD.LOG2 over it when it next loads it, which would mix
// or undo a patch of the primary file. ReadHive refuses it with a
// [*DirtyError] ([ErrDirty]).
//
// # BCD stores
//
// [Read] returns a [Store]: each key Objects\{GUID} is an [Object] whose
// Description\Type is its type and whose Elements\<type in 8 hex digits>
// keys hold an Element value each. Bits 24-27 of an element type give its
// format: device elements (format 1, REG_BINARY) decode with
// [Element.Device], GUID lists (format 4, REG_MULTI_SZ) with
// [Element.GUIDs], strings with [Element.String].
//
// A device element is a 16-byte GUID (the object holding further options,
// such as a ramdisk's options) followed by a device descriptor: type,
// flags, size and a reserved field (uint32 each), then the type's data.
// A partition device (type 6) holds a 16-byte partition identifier — on MBR
// disks the partition's start in bytes (uint64), on GPT disks the
// partition's unique GUID — then the disk: local type 0, partition style
// (0 GPT, 1 MBR), and the disk's MBR signature (uint32) or GPT GUID. A
// ramdisk (block device type 0, local type 3) has 20 bytes of image base,
// size and offset, then a file path: version 1, length, path type 5, a
// nested device descriptor naming where the image file lies, and the
// file's path in NUL-terminated UTF-16LE. [Store.WinRE] follows WinRE's
// chain: an OS loader's recoverysequence (0x14000008) names the WinRE
// loader, whose device (0x11000001) and osdevice (0x21000001) are
// ramdisks of winre.wim; their options GUID names the ramdisk-options
// object, whose ramdisksdidevice (0x31000003) and ramdisksdipath
// (0x32000004) locate boot.sdi.
//
// # Patching
//
// [Store.PlanMBRMove] returns the writes that change the WinRE partition's
// byte offset in every partition device of the chain, checking each names
// the disk signature and old offset it is given. The data keeps its
// length, so no cell moves, no list changes and the base block (sequence
// numbers and checksum) stays as it is: the only bytes written are the
// offset fields, where [Value.Runs] says the value's data lies in the file.
//
// # Sources
//
// The hive layout follows Maxim Suhanov's "Windows registry file format
// specification" and libyal's "Windows NT Registry File (REGF) format"
// (github.com/msuhanov/regf, github.com/libyal/libregf). Device
// descriptors follow the boot library structures as ReactOS documents them
// (boot/environ/include/bl.h: BL_DEVICE_DESCRIPTOR, BL_LOCAL_DEVICE,
// BL_PARTITION_TYPE with GPT 0 and MBR 1, BL_FILE_PATH_DESCRIPTOR) and
// Misty Projects' BCDEdit notes ("Devices - Partition - Data": an MBR
// partition device with type 6 at 0x10, the offset in bytes at 0x20, 1 at
// 0x34 and the disk signature at 0x38 of the element). The GPT form puts
// the partition's unique GUID where the MBR form has its offset and the
// disk GUID where it has the signature, with partition style 0: ReactOS's
// BL_PARTITION_TYPE (GptPartition 0, MbrPartition 1) and BL_HARDDISK_DEVICE
// (the style, then a ULONG MBR signature or a GUID GPT signature), and
// Microsoft's BcdDeviceQualifiedPartitionData documentation (a GPT
// partition is named by the disk's GUID and the partition's GUID, an MBR
// one by the disk signature and the partition's byte offset). No
// Windows-made store in the shared samples has a partition device (their
// devices are "boot" and ramdisks on it), so the GPT form is checked
// against a vector written by hand from those sources (TestParseDeviceGPT).
// The ramdisk layout
// (file path version 1, path type 5, nested descriptor then UTF-16 path)
// was read from the Windows-made stores in the project's shared samples,
// and every structure is checked in the tests against those stores and
// hivexml (Debian libhivex-bin).
//
// # Security
//
// BCD stores come from disk images that may be hostile. The hive is
// bounded ([MaxHiveSize]) before it is read into memory; every cell
// offset is checked to lie, with its whole size, inside one hive bin;
// lists are bounded and cannot nest past one index root; value data is
// bounded ([MaxValueSize]); a budget proportional to the hive's size stops
// lists and big-data records that point at each other repeatedly; device
// descriptors nest at most four deep and every length is checked against
// its container. The reader and the patcher are fuzzed (FuzzRead,
// FuzzPlanMBRMove).
package bcd
