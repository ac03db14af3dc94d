package planner

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/recovery"
)

// randomLayout makes a Windows disk with random sizes, gaps, OEM
// partitions after WinRE, used tails and sector sizes.
func randomLayout(r *rand.Rand) tlayout {
	tl := tlayout{scheme: gptS, ss: 512, wimMiB: 300 + r.Int63n(550)}
	if r.Intn(3) == 0 {
		tl.scheme = mbrS
	}
	if r.Intn(3) == 0 {
		tl.ss = 4096
	}
	at := int64(1)
	addp := func(p tpart) {
		p.start = at
		tl.parts = append(tl.parts, p)
		at += p.size
	}
	winre := func() tpart {
		size := 300 + r.Int63n(800)
		return tpart{size: size, role: recovery.RoleWinRE, used: size - 10 - r.Int63n(min(size-20, 400))}
	}
	before := r.Intn(5) == 0
	if before {
		addp(winre())
		tl.winre = 1
	}
	if tl.scheme == gptS {
		addp(tpart{size: 100 + r.Int63n(200), role: recovery.RoleESP, used: 30})
		addp(tpart{size: 16, role: recovery.RoleMSR})
	} else {
		addp(tpart{size: 100 + r.Int63n(400), role: recovery.RoleSystem, used: 50})
	}
	osSize := 2000 + r.Int63n(60000)
	addp(tpart{size: osSize, role: recovery.RoleOS, used: osSize / 3, usedTail: r.Int63n(osSize / 2)})
	if r.Intn(2) == 0 {
		at += r.Int63n(1000)
	}
	if !before {
		addp(winre())
		tl.winre = len(tl.parts)
		if r.Intn(2) == 0 {
			at += r.Int63n(1000)
		}
	}
	if r.Intn(3) == 0 {
		addp(tpart{size: 500 + r.Int63n(2000), role: recovery.RoleOEM, used: 400})
	}
	tl.diskMiB = at + 1 + r.Int63n(3)*r.Int63n(1000)
	if tl.scheme == gptS && r.Intn(4) == 0 {
		tl.tableMiB = tl.diskMiB
		tl.diskMiB += r.Int63n(2000)
	}
	return tl
}

func TestPlanProperties(t *testing.T) {
	const n = 3000
	r := rand.New(rand.NewSource(1))
	counts := map[Strategy]int{}
	refused := map[Code]int{}
	for i := 0; i < n; i++ {
		tl := randomLayout(r)
		l := tl.build()
		p := New(l, Options{})
		counts[p.Strategy]++
		for _, x := range p.Reasons {
			refused[x.Code]++
		}
		if p.Refused || p.Strategy == StrategyNoop {
			continue
		}
		if err := checkPlan(l, p); err != "" {
			t.Fatalf("layout %d: %s\n%s", i, err, p)
		}
		// Planning the result again must find nothing to do.
		l2 := afterLayout(l, p)
		p2 := New(l2, Options{})
		if p2.Strategy != StrategyNoop || p2.Refused {
			t.Fatalf("layout %d: replanning the result gives %s\n%s\n---\n%s", i, p2.Summary, p, p2)
		}
		if err := p.Check(l); err != nil {
			t.Fatalf("layout %d: Check on the same layout: %v", i, err)
		}
		if err := p.Check(l2); err == nil {
			t.Fatalf("layout %d: Check on the changed layout passed", i)
		}
	}
	t.Logf("%d random layouts: strategies %v; refusal reasons %v", n, counts, refused)
	for _, s := range []Strategy{StrategyGrowInPlace, StrategyMoveLeft, StrategyShrinkOS, StrategyRelocate, StrategyNoop} {
		if counts[s] == 0 {
			t.Errorf("no random layout produced strategy %s", s)
		}
	}
}

// checkPlan returns what is wrong with an accepted plan, or "".
func checkPlan(l *recovery.Layout, p *Plan) string {
	ss := int64(l.SectorSize)
	a := p.alignBytes
	geo := geometryOf(l, ss)
	after := slices.Clone(p.After)
	slices.SortFunc(after, func(x, y recovery.Partition) int { return int(x.StartLBA) - int(y.StartLBA) })
	for i := range after {
		q := &after[i]
		if q.Extended {
			continue
		}
		if q.StartBytes(l.SectorSize) < geo.usableStart || q.EndBytes(l.SectorSize) > geo.grownEnd {
			return "partition outside the usable range"
		}
		if i > 0 && !after[i-1].Extended && after[i-1].EndLBA >= q.StartLBA && !after[i-1].Logical {
			return "partitions overlap"
		}
	}
	for i := range l.Partitions {
		b := &l.Partitions[i]
		q := findNumber(p.After, b.Number)
		if b.Number == l.OS || b.Number == l.WinRE.Partition {
			continue
		}
		if q == nil || cmp.Diff(*b, *q) != "" {
			return "a partition other than C: and WinRE changed"
		}
	}
	re := findNumber(p.After, l.WinRE.Partition)
	old := l.Partition(l.WinRE.Partition)
	if re == nil {
		return "WinRE missing after"
	}
	if re.StartLBA != old.StartLBA && re.StartBytes(l.SectorSize)%a != 0 {
		return "moved WinRE start not aligned"
	}
	if re.EndBytes(l.SectorSize)%a != 0 {
		return "WinRE end not aligned"
	}
	if l.Scheme == recovery.SchemeGPT {
		if re.UniqueGUID != old.UniqueGUID || re.GPTType != gpt.TypeWinRE || !re.Attributes.Has(gpt.AttrWinRE) {
			return "WinRE identity not kept"
		}
	}
	if p.WinRE.ExpectedFreeBytes < p.WinRE.RequiredFreeBytes {
		return "expected free below the policy"
	}
	os, osOld := findNumber(p.After, l.OS), l.Partition(l.OS)
	if os.EndLBA != osOld.EndLBA {
		if os.EndBytes(l.SectorSize)%a != 0 {
			return "C: end not aligned"
		}
		f := osOld.FS
		if os.SizeBytes-ss < (f.LastUsedCluster+1)*f.ClusterSize {
			return "C: shrunk below its last used cluster"
		}
	}
	for _, st := range p.Steps {
		if s, ok := st.(WriteTable); ok && s.GPT != nil {
			for _, tp := range s.GPT.Partitions() {
				q := findNumber(p.After, tp.Number)
				if q == nil || q.StartLBA != tp.FirstLBA || q.EndLBA != tp.LastLBA {
					return "the new GPT disagrees with After"
				}
			}
		}
	}
	return ""
}

func findNumber(ps []recovery.Partition, n int) *recovery.Partition {
	for i := range ps {
		if ps[i].Number == n {
			return &ps[i]
		}
	}
	return nil
}

// afterLayout is l as the plan leaves it, with filesystem facts updated.
func afterLayout(l *recovery.Layout, p *Plan) *recovery.Layout {
	l2 := *l
	l2.Partitions = clonePartitions(p.After)
	w := *l.WinRE
	w.FreeBytes = p.WinRE.ExpectedFreeBytes
	l2.WinRE = &w
	for _, st := range p.Steps {
		if s, ok := st.(WriteTable); ok {
			if s.GPT != nil {
				l2.GPT = s.GPT
			}
			if s.MBR != nil {
				l2.MBR = s.MBR
			}
		}
	}
	return &l2
}
