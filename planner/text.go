package planner

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/winrepart/winrepart/recovery"
)

func (p *Plan) summary() string {
	var s string
	switch p.Strategy {
	case StrategyNoop:
		s = fmt.Sprintf("WinRE (partition %d) already has %s free, the policy asks for %s: nothing to do",
			p.WinRE.Partition, mib(p.WinRE.ExpectedFreeBytes), mib(p.WinRE.RequiredFreeBytes))
	case StrategyGrowInPlace:
		s = fmt.Sprintf("grow WinRE (partition %d) in place to %s; C: untouched", p.WinRE.Partition, mib(p.WinRE.NewSizeBytes))
	case StrategyMoveLeft:
		s = fmt.Sprintf("move WinRE (partition %d) left into free space and grow it to %s; C: untouched", p.WinRE.Partition, mib(p.WinRE.NewSizeBytes))
	case StrategyShrinkOS:
		s = fmt.Sprintf("shrink C: by %s, move WinRE (partition %d) left and grow it to %s", mib(p.OSShrinkBytes), p.WinRE.Partition, mib(p.WinRE.NewSizeBytes))
	case StrategyRelocate:
		s = fmt.Sprintf("put a new %s WinRE after C: (shrunk by %s), copy partition %d into it and delete the old entry", mib(p.WinRE.NewSizeBytes), mib(p.OSShrinkBytes), p.WinRE.Partition)
	case StrategyCreate:
		s = fmt.Sprintf("create a %s WinRE partition after C: (shrunk by %s) from Windows", mib(p.WinRE.NewSizeBytes), mib(p.OSShrinkBytes))
	default:
		s = "no plan"
	}
	if p.Refused {
		codes := make([]string, len(p.Reasons))
		for i, r := range p.Reasons {
			codes[i] = string(r.Code)
		}
		s = "refused (" + strings.Join(codes, ", ") + "): " + s
	}
	return s
}

// String renders the plan as the human dry run: summary, reasons, the
// partition table before and after, steps with sizes in MiB and LBAs, and
// the preconditions.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %s\n", p.Summary)
	fmt.Fprintf(&b, "Strategy: %s\n", p.Strategy)
	if p.scheme != "" {
		fmt.Fprintf(&b, "Disk: %s, %d bytes (%s), %d-byte sectors, alignment %s\n", p.scheme, p.diskSize, mib(p.diskSize), p.sectorSize, mib(p.alignBytes))
	}
	if p.WinRE.RequiredFreeBytes > 0 {
		fmt.Fprintf(&b, "WinRE: partition %d, new size %s, expected free %s (required %s)\n",
			p.WinRE.Partition, mib(p.WinRE.NewSizeBytes), mib(p.WinRE.ExpectedFreeBytes), mib(p.WinRE.RequiredFreeBytes))
	}
	if p.OSShrinkBytes > 0 {
		fmt.Fprintf(&b, "C: shrinks by %s\n", mib(p.OSShrinkBytes))
	}
	if len(p.Reasons) > 0 {
		b.WriteString("\nRefused:\n")
		for _, r := range p.Reasons {
			fmt.Fprintf(&b, "  - %s: %s\n", r.Code, r.Message)
			if r.Suggestion != "" {
				fmt.Fprintf(&b, "    suggestion: %s\n", r.Suggestion)
			}
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	if len(p.Before) > 0 {
		b.WriteString("\nBefore:\n")
		p.writeTable(&b, p.Before)
	}
	if len(p.After) > 0 {
		b.WriteString("\nAfter:\n")
		p.writeTable(&b, p.After)
	}
	if len(p.Steps) > 0 {
		b.WriteString("\nSteps:\n")
		for i, s := range p.Steps {
			fmt.Fprintf(&b, "  %2d. %-18s %s\n", i+1, s.Kind(), s.Detail())
			if c, ok := s.(CopyData); ok {
				dir := "forward"
				if c.Backward {
					dir = "backward (destination overlaps the source from above)"
				}
				fmt.Fprintf(&b, "      %s from byte %d to byte %d, %s\n", mib(c.SizeBytes), c.From, c.Offset, dir)
			}
		}
	}
	if len(p.Preconditions) > 0 {
		b.WriteString("\nPreconditions (checked again before applying):\n")
		for _, c := range p.Preconditions {
			if c.Partition != 0 {
				fmt.Fprintf(&b, "  - %s of partition %d: %s\n", c.Kind, c.Partition, c.Value)
			} else {
				fmt.Fprintf(&b, "  - %s: %s\n", c.Kind, c.Value)
			}
		}
	}
	return b.String()
}

func (p *Plan) writeTable(b *strings.Builder, ps []recovery.Partition) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  #\tstart LBA\tend LBA\tsize\t role\t type\t free\t\n")
	for i := range ps {
		q := &ps[i]
		free := "-"
		if q.FS != nil && q.FS.FreeBytes >= 0 && q.FS.Kind == recovery.FSNTFS {
			free = mib(q.FS.FreeBytes)
		}
		typ := q.TypeName(p.scheme)
		if typ == "" {
			typ = q.TypeString(p.scheme)
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t %s\t %s\t %s\t\n", q.Number, q.StartLBA, q.EndLBA, mib(q.SizeBytes), q.Role, typ, free)
	}
	tw.Flush()
}
