package winre

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
)

// Units used by the requirements. Microsoft's instructions count in
// diskpart megabytes, which are MiB.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// Requirements Windows states for servicing WinRE.
const (
	// MinFreeKB5034441 is the free space KB5034441 (January 2024, fix for
	// CVE-2024-20666) needs in the WinRE partition, which Microsoft states
	// as "250 MB". KB5028997's manual fix creates that room with diskpart
	// ("shrink desired=250 minimum=250"), whose MB is the MiB, so this
	// package reads it as 250 MiB (262,144,000 bytes): the larger of the
	// two readings, which satisfies the other (250,000,000 bytes) too.
	MinFreeKB5034441 = 250 * MiB

	// ReAgentcMargin is the margin ReAgentc and Setup enforce beyond the
	// size of the winre.wim they install: free space >= wim + 52 MiB
	// (their logs; Microsoft's documentation says "a minimum of 52 MB is
	// required, 250 MB is recommended").
	ReAgentcMargin = 52 * MiB
)

// ReAgentcFloor returns the free space, in bytes, ReAgentc needs to install
// a winre.wim of wimBytes bytes: wimBytes + 52 MiB.
func ReAgentcFloor(wimBytes int64) int64 { return wimBytes + ReAgentcMargin }

// What Windows calls a WinRE partition and where it keeps WinRE's files.
var (
	// GPTType is the partition type GUID of a Windows recovery partition
	// (PARTITION_MSFT_RECOVERY_GUID).
	GPTType = uuid.MustParse("de94bba4-06d1-4d40-a16a-bfd50179d6ac")
)

const (
	// GPTAttributes are the GPT attributes KB5028997 sets on a recovery
	// partition: platform required (bit 0) and no drive letter (bit 63).
	GPTAttributes uint64 = 0x8000000000000001
	// MBRType is the MBR partition type of a WinRE partition (hidden NTFS).
	MBRType byte = 0x27

	// PathWinREDir is the folder of WinRE on its partition, as recorded in
	// ReAgent.xml's WinreLocation path.
	PathWinREDir = `\Recovery\WindowsRE`
	// PathWinREWIM is the WinRE image on its partition (the BCD entry spells
	// it Winre.wim; NTFS names are case-insensitive).
	PathWinREWIM = `\Recovery\WindowsRE\winre.wim`
	// PathWinREBootSDI is the ramdisk boot file next to the WinRE image.
	PathWinREBootSDI = `\Recovery\WindowsRE\boot.sdi`
	// PathDisabledWIM is where the WinRE image sits, on the OS volume,
	// while WinRE is disabled (reagentc /disable moves it there).
	PathDisabledWIM = `\Windows\System32\Recovery\winre.wim`
	// PathReAgentXML is ReAgent.xml on the OS volume.
	PathReAgentXML = `\Windows\System32\Recovery\ReAgent.xml`
)

// Policy is how much room this project gives a WinRE partition. The zero
// value is not useful; start from DefaultPolicy.
type Policy struct {
	// MinFreeBytes is the free space the partition must have: at least
	// MinFreeKB5034441.
	MinFreeBytes int64
	// WIMGrowthPercent is how much larger than today's winre.wim the next
	// one may be, in percent: the room asked for is the ReAgentc floor of
	// a WIM this much larger.
	WIMGrowthPercent int64
	// AlignBytes is the alignment of partition sizes (and starts), 1 MiB
	// as Windows' own partitioning uses.
	AlignBytes int64
	// MaxWinREBytes is the largest partition treated as WinRE; a recovery
	// partition beyond it is an OEM image volume (Dell, HP, Lenovo keep
	// 19-31 GB factory images under the same type GUID).
	MaxWinREBytes int64
}

// DefaultPolicy returns the conservative defaults: 250 MiB free, room for
// a WIM 25% larger than today's, 1 MiB alignment, 2 GiB ceiling.
func DefaultPolicy() Policy {
	return Policy{MinFreeBytes: MinFreeKB5034441, WIMGrowthPercent: 25, AlignBytes: MiB, MaxWinREBytes: 2 * GiB}
}

// Status is what is known about a WinRE partition today, all in bytes.
type Status struct {
	// PartitionBytes is the partition's size.
	PartitionBytes int64
	// FreeBytes is the free space of its file system.
	FreeBytes int64
	// WIMBytes is the size of its winre.wim (0 when there is none).
	WIMBytes int64
}

// Verdict is the result of Policy.Check.
type Verdict struct {
	// MeetsKB5034441 reports whether FreeBytes >= MinFreeKB5034441, the
	// documented requirement of the update.
	MeetsKB5034441 bool
	// MeetsReAgentc reports whether ReAgentc could reinstall today's WIM:
	// free space without the current WIM >= ReAgentcFloor(WIMBytes).
	MeetsReAgentc bool
	// MeetsPolicy reports whether FreeBytes >= RequiredFreeBytes.
	MeetsPolicy bool
	// RequiredFreeBytes is the free space the policy asks for.
	RequiredFreeBytes int64
	// ShortByBytes is RequiredFreeBytes - FreeBytes when positive, else 0.
	ShortByBytes int64
	// Reasons explain each failed check, in words; empty when all pass.
	Reasons []string
}

// grownWIM returns wimBytes enlarged by WIMGrowthPercent, rounded up.
func (p Policy) grownWIM(wimBytes int64) int64 {
	return wimBytes + (wimBytes*p.WIMGrowthPercent+99)/100
}

// RequiredFreeBytes returns the free space, in bytes, the policy asks of a
// partition holding a winre.wim of wimBytes bytes:
//
//	max(MinFreeBytes, ReAgentcFloor(wimBytes grown by WIMGrowthPercent) - wimBytes)
//
// The free space is counted with today's WIM in place. ReAgentc installs a
// WIM into an emptied WindowsRE folder (reagentc /disable moves the old one
// to C: first), so a WIM WIMGrowthPercent larger replaces today's and needs
// its growth plus ReAgentc's 52 MiB margin on top of today's free space.
// The KB5034441 minimum dominates for every WIM below about 790 MiB:
//
//	winre.wim 420 MiB: max(250, 105 + 52)   = 250 MiB free
//	winre.wim 822 MiB: max(250, 205.5 + 52) = 257.5 MiB free
//	winre.wim 1 GiB:   max(250, 256 + 52)   = 308 MiB free
func (p Policy) RequiredFreeBytes(wimBytes int64) int64 {
	wimBytes = max(0, wimBytes)
	return max(p.MinFreeBytes, ReAgentcFloor(p.grownWIM(wimBytes))-wimBytes)
}

// Check compares a partition's status with the requirements.
func (p Policy) Check(s Status) Verdict {
	v := Verdict{RequiredFreeBytes: p.RequiredFreeBytes(s.WIMBytes)}
	v.MeetsKB5034441 = s.FreeBytes >= MinFreeKB5034441
	v.MeetsReAgentc = s.FreeBytes+s.WIMBytes >= ReAgentcFloor(s.WIMBytes)
	v.MeetsPolicy = s.FreeBytes >= v.RequiredFreeBytes
	v.ShortByBytes = max(0, v.RequiredFreeBytes-s.FreeBytes)
	if s.PartitionBytes < 0 || s.FreeBytes < 0 || s.WIMBytes < 0 || s.FreeBytes > s.PartitionBytes || s.WIMBytes > s.PartitionBytes {
		v.MeetsKB5034441, v.MeetsReAgentc, v.MeetsPolicy = false, false, false
		v.Reasons = append(v.Reasons, fmt.Sprintf("inconsistent status: partition %d, free %d, WIM %d bytes", s.PartitionBytes, s.FreeBytes, s.WIMBytes))
		return v
	}
	if !v.MeetsKB5034441 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("KB5034441 needs %s free, the partition has %s (short by %s)",
			diag.FormatBytes(MinFreeKB5034441), diag.FormatBytes(s.FreeBytes), diag.FormatBytes(MinFreeKB5034441-s.FreeBytes)))
	}
	if !v.MeetsReAgentc {
		v.Reasons = append(v.Reasons, fmt.Sprintf("ReAgentc needs WIM + 52 MiB = %s, the partition can offer %s",
			diag.FormatBytes(ReAgentcFloor(s.WIMBytes)), diag.FormatBytes(s.FreeBytes+s.WIMBytes)))
	}
	if !v.MeetsPolicy {
		v.Reasons = append(v.Reasons, fmt.Sprintf("policy asks %s free (room for a %d%% larger WIM + 52 MiB, at least %s), the partition has %s (short by %s)",
			diag.FormatBytes(v.RequiredFreeBytes), p.WIMGrowthPercent, diag.FormatBytes(max(p.MinFreeBytes, MinFreeKB5034441)), diag.FormatBytes(s.FreeBytes), diag.FormatBytes(v.ShortByBytes)))
	}
	if p.MaxWinREBytes > 0 && s.PartitionBytes > p.MaxWinREBytes {
		v.Reasons = append(v.Reasons, fmt.Sprintf("partition of %s is larger than %s: an OEM image volume, not WinRE",
			diag.FormatBytes(s.PartitionBytes), diag.FormatBytes(p.MaxWinREBytes)))
	}
	return v
}

// TargetPartitionBytes returns the smallest partition size, in bytes, that
// gives the current content the free space the policy asks for, and never
// less than the current size. With used = PartitionBytes - FreeBytes (the
// WIM, boot.sdi, NTFS metadata) it is
//
//	used + RequiredFreeBytes(WIMBytes)
//	+ the $Bitmap growth: one bit per added cluster, in whole clusters
//	+ one cluster for the backup boot sector and rounding
//
// rounded up to the cluster size and then to AlignBytes. clusterSize is the
// NTFS cluster size in bytes (4096 when unknown or not positive).
func (p Policy) TargetPartitionBytes(current Status, clusterSize int64) int64 {
	if clusterSize <= 0 {
		clusterSize = 4096
	}
	used := max(0, current.PartitionBytes-current.FreeBytes)
	size := used + p.RequiredFreeBytes(current.WIMBytes)
	if grow := size - current.PartitionBytes; grow > 0 {
		clusters := (grow + clusterSize - 1) / clusterSize
		bitmap := roundUp((clusters+7)/8, clusterSize)
		size += bitmap + clusterSize
	}
	size = roundUp(size, clusterSize)
	if p.AlignBytes > 0 {
		size = roundUp(size, p.AlignBytes)
	}
	return max(size, current.PartitionBytes)
}

func roundUp(v, to int64) int64 { return (v + to - 1) / to * to }
