package planner

import (
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/winre"
)

// Sizes used by the defaults.
const (
	// MiB is 2^20 bytes.
	MiB int64 = 1 << 20

	// DefaultMinFreeBytes is the free space Microsoft asks for in the
	// WinRE partition before KB5034441 and later WinRE servicing (250 MB,
	// taken as 250 MiB).
	DefaultMinFreeBytes = winre.MinFreeKB5034441
	// DefaultAlignBytes is the alignment of every boundary a plan chooses.
	DefaultAlignBytes = 1 * MiB
)

// Policy is the sizing policy: how much free space the WinRE filesystem
// must have once the plan is applied. It is winre's policy, so that
// inspection, planning and the sizing arithmetic agree; see
// [winre.Policy.RequiredFreeBytes] for the formula and worked numbers.
type Policy = winre.Policy

// DefaultPolicy returns winre's default policy: 250 MiB free, room for a
// winre.wim 25% larger than today's plus ReAgentc's 52 MiB margin.
func DefaultPolicy() Policy { return winre.DefaultPolicy() }

// policyWithDefaults fills the zero fields of p from DefaultPolicy.
func policyWithDefaults(p Policy) Policy {
	d := DefaultPolicy()
	if p.MinFreeBytes <= 0 {
		p.MinFreeBytes = d.MinFreeBytes
	}
	if p.WIMGrowthPercent <= 0 {
		p.WIMGrowthPercent = d.WIMGrowthPercent
	}
	if p.AlignBytes <= 0 {
		p.AlignBytes = d.AlignBytes
	}
	if p.MaxWinREBytes <= 0 {
		p.MaxWinREBytes = d.MaxWinREBytes
	}
	return p
}

// Options tune a plan. The zero value asks for the defaults.
type Options struct {
	// MinFreeBytes, when positive, overrides Policy.MinFreeBytes. Default
	// 250 MiB.
	MinFreeBytes int64
	// TargetWinREBytes is an explicit size for the WinRE partition; 0 lets
	// the policy decide. A target larger than what the policy needs is
	// honoured; a smaller one is raised to the policy's size, since the
	// plan never leaves WinRE short of free space.
	TargetWinREBytes int64
	// AlignBytes is the alignment of every partition boundary the plan
	// chooses. Default 1 MiB, or the physical sector size when larger; it
	// is raised to a multiple of the logical sector size.
	AlignBytes int64
	// AllowDirty lets the plan change volumes whose NTFS dirty flag is set
	// (their $LogFile must still be clean). A refusal for a dirty volume
	// suggests it as "allow changes to dirty volumes".
	AllowDirty bool
	// BCDPatching says the executor can patch the BCD store. Without it, a
	// plan that moves the WinRE partition of an MBR disk is refused: the
	// BCD stores the partition's start offset there.
	BCDPatching bool
	// Policy is the sizing policy; zero fields take their defaults.
	Policy Policy
	// Relocator, when set, lets a plan shrink C: past its last used
	// cluster: it is asked whether the data in the cut-off tail can be
	// moved, and what that moves (see [Relocator]). Without one, such a
	// shrink is refused (os-tail-in-use).
	Relocator Relocator
	// NoRelocate refuses a shrink of C: past its last used cluster even
	// when a Relocator could move the data (os-tail-in-use), for callers
	// who want no data moved.
	NoRelocate bool
}

// resolved returns o with every default filled in for layout l.
func (o Options) resolved(l *recovery.Layout) Options {
	o.Policy = policyWithDefaults(o.Policy)
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
