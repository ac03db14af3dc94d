package recovery

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
)

// Scheme is the partitioning scheme of a disk.
type Scheme string

// Partitioning schemes.
const (
	SchemeGPT  Scheme = "gpt"
	SchemeMBR  Scheme = "mbr"
	SchemeNone Scheme = "none"
)

// Role is what a partition is for, in Windows' terms.
type Role string

// Partition roles. RoleSystem is the BIOS-era "System Reserved" partition
// (the active partition holding the boot manager on MBR disks).
const (
	RoleESP      Role = "esp"      // EFI system partition
	RoleMSR      Role = "msr"      // Microsoft reserved partition
	RoleSystem   Role = "system"   // MBR System Reserved (active, boot files)
	RoleOS       Role = "os"       // the Windows volume (C:), holds \Windows\System32
	RoleWinRE    Role = "winre"    // the active WinRE partition ReAgent.xml points at
	RoleRecovery Role = "recovery" // another recovery-typed partition, not the active WinRE
	RoleOEM      Role = "oem"      // vendor tools or factory image partition
	RoleData     Role = "data"     // any other volume with user data
	RoleUnknown  Role = "unknown"  // nothing tells what it is
)

// Partition is one partition as a person fixing WinRE sees it: where it
// is, what the partition table says of it, what role it plays and what its
// filesystem looks like.
type Partition struct {
	// Number is the partition number as the Linux kernel gives it: 1-based
	// index in the GPT entry array, 1-4 for MBR primary slots and 5 upwards
	// for MBR logical partitions in chain order.
	Number int
	// StartLBA and EndLBA are the first and last logical sectors, inclusive.
	StartLBA, EndLBA uint64
	// SizeBytes is (EndLBA-StartLBA+1) times the sector size.
	SizeBytes int64

	// GPTType is the GPT partition type (GPT disks only).
	GPTType gpt.Type
	// MBRType is the MBR partition type byte (MBR disks only).
	MBRType mbr.Type
	// UniqueGUID is the GPT unique partition GUID (zero on MBR disks).
	UniqueGUID uuid.UUID
	// Attributes are the GPT attribute bits (zero on MBR disks).
	Attributes gpt.Attributes
	// Name is the GPT partition name (empty on MBR disks).
	Name string
	// Bootable is the MBR active flag.
	Bootable bool
	// Logical is true for an MBR logical partition inside an extended one.
	Logical bool
	// Extended is true for an MBR extended partition (a container).
	Extended bool

	// Role is the part the partition plays, and RoleReason why it was given.
	Role       Role
	RoleReason string
	// FS describes the filesystem found in the partition; nil when the
	// partition was not examined (e.g. an MSR or an extended container).
	FS *Filesystem
}

// StartBytes returns the partition's byte offset on the disk.
func (p *Partition) StartBytes(sectorSize int) int64 { return int64(p.StartLBA) * int64(sectorSize) }

// EndBytes returns the byte offset just past the partition.
func (p *Partition) EndBytes(sectorSize int) int64 {
	return (int64(p.EndLBA) + 1) * int64(sectorSize)
}

// TypeString returns the partition type as the inspect output shows it:
// the GPT type GUID or the MBR type byte as "0x27".
func (p *Partition) TypeString(s Scheme) string {
	if s == SchemeMBR {
		return fmt.Sprintf("0x%02x", byte(p.MBRType))
	}
	return p.GPTType.String()
}

// TypeName returns the well-known name of the partition type, or "".
func (p *Partition) TypeName(s Scheme) string {
	if s == SchemeMBR {
		return p.MBRType.Name()
	}
	return p.GPTType.Name()
}

// FSKind names the filesystem found in a partition.
type FSKind string

// Filesystem kinds.
const (
	FSNTFS      FSKind = "ntfs"
	FSFAT       FSKind = "fat"
	FSBitLocker FSKind = "bitlocker"
	FSUnknown   FSKind = "unknown"
)

// Filesystem holds the facts about a partition's filesystem that decide
// whether it can be changed offline and by how much. Byte counts are -1
// when they could not be measured.
type Filesystem struct {
	Kind  FSKind
	Label string
	// Version is the NTFS version, e.g. "3.1".
	Version string
	// BitLocker is set for BitLocker and BitLocker To Go volumes.
	BitLocker bool
	// Hibernated is set when \hiberfil.sys holds a hibernation image (Fast
	// Startup included): the volume must not be changed offline.
	Hibernated bool
	// Dirty is the NTFS dirty flag in $Volume.
	Dirty bool
	// LogFileClean reports whether $LogFile says the volume was cleanly
	// unmounted.
	LogFileClean bool
	// ClusterSize in bytes.
	ClusterSize int64
	// TotalBytes is the size of the filesystem (for NTFS one sector less
	// than the partition).
	TotalBytes int64
	// UsedBytes and FreeBytes are measured from the allocation bitmap.
	UsedBytes, FreeBytes int64
	// ShrinkableBytes is how much the volume could shrink without moving
	// any data: the free space past its last used cluster.
	ShrinkableBytes int64
	// LastUsedCluster is the highest cluster in use (-1 if none or unknown);
	// on volumes too large to scan whole (see Options.FullUsageLimit) it may
	// be an upper bound.
	LastUsedCluster int64
	// Err says why the filesystem could not be fully inspected ("" if it
	// could).
	Err string
}

// WinRE describes the Windows Recovery Environment as Windows would find
// it, and whether it can take the KB5034441 servicing.
type WinRE struct {
	// Partition is the number of the WinRE partition holding the active
	// WinRE image, or 0 when it is not in a partition of its own (disabled,
	// on C: itself or in System Reserved, or not found).
	Partition int
	// Host is the role of the partition holding winre.wim: RoleWinRE when
	// WinRE has a partition of its own, RoleOS when it sits on C: (WinRE
	// disabled, or installed inside C:), RoleSystem inside System Reserved,
	// "" when no winre.wim was found.
	Host Role
	// HostPartition is the number of the partition holding winre.wim (0 if
	// none), whatever its role.
	HostPartition int
	// Enabled reflects ReAgent.xml's InstallState.
	Enabled bool
	// ReAgentPath is the path of the ReAgent.xml that was read ("" if none).
	ReAgentPath string
	// ReAgent is the ReAgent.xml that was read, with what rewriting it
	// needs (nil if none was read): the planner checks on it that a
	// patch-reagent step can be carried out.
	ReAgent *ReAgentFile
	// WIMPath is the path of winre.wim inside the partition holding it.
	WIMPath string
	// WIMBytes is the size of winre.wim (0 if not found).
	WIMBytes int64
	// FreeBytes is the free space of the filesystem holding winre.wim.
	FreeBytes int64
	// RequiredFreeBytes is the free space the servicing needs.
	RequiredFreeBytes int64
	// MeetsKB5034441 is true when FreeBytes >= RequiredFreeBytes.
	MeetsKB5034441 bool
}

// Source names the package whose diagnosis found a [Problem].
type Source string

// Sources of problems.
const (
	SourceGPT      Source = "gpt"      // gpt's Table.Verify: the GPT and its protective or hybrid MBR
	SourceMBR      Source = "mbr"      // mbr's Table.Verify: the MBR partition table
	SourceWinRE    Source = "winre"    // winre's ReAgent.Verify: ReAgent.xml read on its own
	SourceRecovery Source = "recovery" // ReadTable and Inspect: the disk as Windows sees it
)

// Problem is something found wrong or worth knowing, with a remedy, and
// the package whose diagnosis found it. Codes are stable kebab-case
// strings: this package's own are declared in codes.go; problems from gpt,
// mbr and winre keep their packages' codes.
type Problem struct {
	diag.Problem
	// Source is where the problem came from: SourceGPT and SourceMBR for
	// problems of the partition table itself, SourceWinRE for ReAgent.xml
	// on its own, SourceRecovery for what ReadTable and Inspect found
	// about the disk as a whole, its filesystems and WinRE.
	Source Source
}

// FromTable reports whether p is a problem of the partition table itself
// (found by the gpt or mbr package).
func (p Problem) FromTable() bool { return p.Source == SourceGPT || p.Source == SourceMBR }

// Layout is the model of one Windows disk.
type Layout struct {
	Scheme     Scheme
	SectorSize int
	// PhysicalSectorSize is the device's physical sector size, when known.
	PhysicalSectorSize int
	SizeBytes          int64
	// DiskGUID is the GPT disk GUID (zero on MBR disks).
	DiskGUID uuid.UUID
	// DiskSignature is the MBR disk signature (on GPT disks, whatever the
	// protective MBR holds, usually 0).
	DiskSignature uint32

	// GPT is the partition table as read (GPT disks only).
	GPT *gpt.Table
	// MBR is the partition table as read (MBR disks only; on GPT disks see
	// GPT's protective MBR).
	MBR *mbr.Table

	// Partitions in the order of their numbers.
	Partitions []Partition

	// OS is the number of the Windows partition (0 if none was found).
	OS int
	// WinRE is the WinRE verdict; nil when Inspect was asked for the table
	// only.
	WinRE *WinRE

	// BCD is the boot configuration store and WinRE's boot chain in it
	// (\Boot\BCD on an MBR disk's active partition, \EFI\Microsoft\Boot\BCD
	// on a GPT disk's EFI system partition); nil when Inspect did not look
	// for it (table only), found no partition to look on, or found an ESP
	// without a store (it may belong to another disk's Windows).
	BCD *BCD

	// Problems found, most serious first.
	Problems []Problem
}

// Partition returns the partition with the given number, or nil.
func (l *Layout) Partition(number int) *Partition {
	for i := range l.Partitions {
		if l.Partitions[i].Number == number {
			return &l.Partitions[i]
		}
	}
	return nil
}
