package planner

import "github.com/winrepart/winrepart/recovery"

// Sizes used by the defaults.
const (
	// MiB is 2^20 bytes.
	MiB int64 = 1 << 20

	// DefaultMinFreeBytes is the free space Microsoft asks for in the
	// WinRE partition before KB5034441 and later WinRE servicing (250 MB,
	// taken as 250 MiB).
	DefaultMinFreeBytes = 250 * MiB
	// DefaultGrowthPercent is how much larger than today's winre.wim the
	// next one is assumed to be.
	DefaultGrowthPercent = 25
	// DefaultFloorBytes is the margin ReAgentc keeps beyond the size of a
	// new winre.wim (52 MiB, from its logs and Microsoft's documentation).
	DefaultFloorBytes = 52 * MiB
	// DefaultAlignBytes is the alignment of every boundary a plan chooses.
	DefaultAlignBytes = 1 * MiB
)

// Policy is the sizing policy: how much free space the WinRE filesystem
// must have once the plan is applied.
//
// RequiredFreeBytes(wim) = max(MinFreeBytes, ceil(wim*GrowthPercent/100) +
// FloorBytes). The second term is the room for the next winre.wim, which
// replaces today's and is assumed GrowthPercent larger, plus the margin
// ReAgentc insists on. With the defaults:
//
//	winre.wim 500 MiB (Windows 10):  max(250, 125+52) = 250 MiB free
//	winre.wim 822 MiB (Windows 11):  max(250, 205.5+52) = 257.5 MiB free
//	winre.wim 1 GiB:                 max(250, 256+52) = 308 MiB free
type Policy struct {
	// MinFreeBytes is the least free space accepted (default 250 MiB).
	MinFreeBytes int64
	// GrowthPercent is the assumed growth of the next winre.wim over
	// today's, in percent (default 25).
	GrowthPercent int64
	// FloorBytes is ReAgentc's margin beyond the new image (default 52 MiB).
	FloorBytes int64
}

// DefaultPolicy returns the policy described on [Policy].
func DefaultPolicy() Policy {
	return Policy{MinFreeBytes: DefaultMinFreeBytes, GrowthPercent: DefaultGrowthPercent, FloorBytes: DefaultFloorBytes}
}

// RequiredFreeBytes returns the free space the WinRE filesystem needs for
// a winre.wim of wimBytes bytes (see [Policy]). Zero fields of p take
// their defaults; a negative wimBytes counts as zero.
func (p Policy) RequiredFreeBytes(wimBytes int64) int64 {
	p = p.withDefaults()
	if wimBytes < 0 {
		wimBytes = 0
	}
	growth := (wimBytes*p.GrowthPercent + 99) / 100
	return max(p.MinFreeBytes, growth+p.FloorBytes)
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.MinFreeBytes <= 0 {
		p.MinFreeBytes = d.MinFreeBytes
	}
	if p.GrowthPercent <= 0 {
		p.GrowthPercent = d.GrowthPercent
	}
	if p.FloorBytes <= 0 {
		p.FloorBytes = d.FloorBytes
	}
	return p
}

// Options tune a plan. The zero value asks for the defaults.
type Options struct {
	// MinFreeBytes, when positive, overrides Policy.MinFreeBytes (the
	// --min-free flag). Default 250 MiB.
	MinFreeBytes int64
	// TargetWinREBytes is an explicit size for the WinRE partition (the
	// --size flag); 0 lets the policy decide. A target larger than what the
	// policy needs is honoured; a smaller one is raised to the policy's
	// size, since the plan never leaves WinRE short of free space.
	TargetWinREBytes int64
	// AlignBytes is the alignment of every partition boundary the plan
	// chooses. Default 1 MiB, or the physical sector size when larger; it
	// is raised to a multiple of the logical sector size.
	AlignBytes int64
	// AllowDirty lets the plan change volumes whose NTFS dirty flag is set
	// (their $LogFile must still be clean).
	AllowDirty bool
	// BCDPatching says the executor can patch the BCD store. Without it, a
	// plan that moves the WinRE partition of an MBR disk is refused: the
	// BCD stores the partition's start offset there.
	BCDPatching bool
	// Policy is the sizing policy; zero fields take their defaults.
	Policy Policy
}

// resolved returns o with every default filled in for layout l.
func (o Options) resolved(l *recovery.Layout) Options {
	o.Policy = o.Policy.withDefaults()
	if o.MinFreeBytes > 0 {
		o.Policy.MinFreeBytes = o.MinFreeBytes
	}
	o.MinFreeBytes = o.Policy.MinFreeBytes
	ss := int64(l.SectorSize)
	if ss <= 0 {
		ss = 512
	}
	if o.AlignBytes <= 0 {
		o.AlignBytes = max(DefaultAlignBytes, int64(l.PhysicalSectorSize))
	}
	if r := o.AlignBytes % ss; r != 0 {
		o.AlignBytes += ss - r
	}
	if o.TargetWinREBytes < 0 {
		o.TargetWinREBytes = 0
	}
	return o
}
