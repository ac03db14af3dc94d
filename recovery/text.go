package recovery

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/winrepart/winrepart/diag"
)

// String renders the layout as a human-readable report: the
// disk, a table of partitions with roles and filesystem facts, the WinRE
// verdict and every problem with its remedy.
func (l *Layout) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scheme:       %s\n", strings.ToUpper(string(l.Scheme)))
	phys := ""
	if l.PhysicalSectorSize > 0 && l.PhysicalSectorSize != l.SectorSize {
		phys = fmt.Sprintf(" (physical %d)", l.PhysicalSectorSize)
	}
	fmt.Fprintf(&b, "Sector size:  %d bytes%s\n", l.SectorSize, phys)
	fmt.Fprintf(&b, "Disk size:    %s (%d bytes, %d sectors)\n", diag.FormatBytes(l.SizeBytes), l.SizeBytes, l.SizeBytes/int64(max(l.SectorSize, 1)))
	switch l.Scheme {
	case SchemeGPT:
		fmt.Fprintf(&b, "Disk GUID:    %s\n", l.DiskGUID)
	case SchemeMBR:
		fmt.Fprintf(&b, "Disk signature: 0x%08x (%d)\n", l.DiskSignature, l.DiskSignature)
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tStart LBA\tEnd LBA\tSize\tType\tRole\tName\tFilesystem")
	for i := range l.Partitions {
		p := &l.Partitions[i]
		typ := p.TypeName(l.Scheme)
		if typ == "" {
			typ = p.TypeString(l.Scheme)
		} else if l.Scheme == SchemeMBR {
			typ = fmt.Sprintf("%s %s", p.TypeString(l.Scheme), typ)
		}
		name := p.Name
		if l.Scheme == SchemeMBR {
			var flags []string
			if p.Bootable {
				flags = append(flags, "active")
			}
			if p.Logical {
				flags = append(flags, "logical")
			}
			name = strings.Join(flags, ",")
		}
		role := string(p.Role)
		if role == "" {
			role = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Number, p.StartLBA, p.EndLBA,
			diag.FormatBytes(p.SizeBytes), typ, role, name, p.FS.summary())
	}
	tw.Flush()
	if l.Scheme == SchemeGPT {
		for i := range l.Partitions {
			p := &l.Partitions[i]
			fmt.Fprintf(&b, "  %d: unique GUID %s, attributes %s\n", p.Number, p.UniqueGUID, p.Attributes)
		}
	}
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if p.RoleReason != "" {
			fmt.Fprintf(&b, "  %d is %s: %s\n", p.Number, p.Role, p.RoleReason)
		}
	}

	if w := l.WinRE; w != nil {
		b.WriteString("\n")
		if l.noWindows() {
			// Nothing to measure: zeros would read as a verdict.
			b.WriteString("WinRE:        none: no Windows installation found on this disk\n")
		} else {
			b.WriteString(w.String())
			b.WriteString("\n")
		}
	}
	if l.BCD != nil {
		b.WriteString(l.BCD.String())
	}

	b.WriteString("\n")
	if len(l.Problems) == 0 {
		b.WriteString("Problems: none\n")
	} else {
		fmt.Fprintf(&b, "Problems: %d\n", len(l.Problems))
		for _, p := range l.Problems {
			fmt.Fprintf(&b, "  [%s] %s: %s\n", p.Severity, p.Code, p.Message)
			if p.Remedy != "" {
				fmt.Fprintf(&b, "      remedy: %s\n", p.Remedy)
			}
		}
	}
	return b.String()
}

// String renders the WinRE verdict in one or two lines.
func (w *WinRE) String() string {
	var b strings.Builder
	state := "disabled"
	if w.Enabled {
		state = "enabled"
	}
	where := "not in a partition of its own"
	if w.Partition > 0 {
		where = fmt.Sprintf("partition %d", w.Partition)
	}
	fmt.Fprintf(&b, "WinRE:        %s, %s", state, where)
	if w.WIMPath != "" {
		fmt.Fprintf(&b, ", %s (%s)", w.WIMPath, diag.FormatBytes(w.WIMBytes))
	} else {
		b.WriteString(", winre.wim not found")
	}
	b.WriteString("\n")
	if reason := w.unmeasured(); reason != "" {
		fmt.Fprintf(&b, "KB5034441:    no verdict: %s", reason)
		return b.String()
	}
	verdict := "MEETS"
	if !w.MeetsKB5034441 {
		verdict = "does NOT meet"
	}
	fmt.Fprintf(&b, "KB5034441:    free %s, required %s: %s the requirement", diag.FormatBytes(w.FreeBytes), diag.FormatBytes(w.RequiredFreeBytes), verdict)
	return b.String()
}

// noWindows reports a disk on which Inspect found neither a Windows
// volume nor any WinRE: there is no WinRE verdict to give.
func (l *Layout) noWindows() bool {
	return l.OS == 0 && l.WinRE != nil && l.WinRE.HostPartition == 0
}

// unmeasured says why w holds no KB5034441 figures, or "" when it does.
// Inspect sets RequiredFreeBytes only once it has measured the volume
// holding winre.wim.
func (w *WinRE) unmeasured() string {
	switch {
	case w.HostPartition == 0:
		return "no WinRE image (winre.wim) was found"
	case w.RequiredFreeBytes == 0:
		return fmt.Sprintf("the volume holding WinRE (partition %d) could not be measured (BitLocker-encrypted or unreadable)", w.HostPartition)
	}
	return ""
}

func (f *Filesystem) summary() string {
	if f == nil {
		return ""
	}
	var parts []string
	parts = append(parts, string(f.Kind))
	if f.Label != "" {
		parts = append(parts, fmt.Sprintf("%q", f.Label))
	}
	if f.Kind == FSNTFS || f.Kind == FSFAT {
		if f.UsedBytes >= 0 && f.TotalBytes > 0 {
			parts = append(parts, fmt.Sprintf("used %s of %s", diag.FormatBytes(f.UsedBytes), diag.FormatBytes(f.TotalBytes)))
		}
		if f.ShrinkableBytes > 0 {
			parts = append(parts, fmt.Sprintf("shrinkable %s", diag.FormatBytes(f.ShrinkableBytes)))
		}
	}
	for _, flag := range []struct {
		on   bool
		name string
	}{{f.BitLocker, "BITLOCKER"}, {f.Hibernated, "HIBERNATED"}, {f.Dirty, "DIRTY"}} {
		if flag.on {
			parts = append(parts, flag.name)
		}
	}
	if f.Kind == FSNTFS && !f.LogFileClean && !f.BitLocker {
		parts = append(parts, "LOG-NOT-CLEAN")
	}
	if f.Err != "" {
		parts = append(parts, "("+f.Err+")")
	}
	return strings.Join(parts, ", ")
}
