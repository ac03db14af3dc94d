package winre

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyCheck(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name    string
		s       Status
		want    Verdict
		reasons []string // substrings, one per reason
	}{
		{name: "win10-529MiB", s: Status{PartitionBytes: 529 * MiB, FreeBytes: 95 * MiB, WIMBytes: 420 * MiB},
			want:    Verdict{MeetsReAgentc: true, RequiredFreeBytes: 250 * MiB, ShortByBytes: 155 * MiB},
			reasons: []string{"KB5034441 needs 250.0 MiB", "policy asks 250.0 MiB"}},
		{name: "reagentc-fails", s: Status{PartitionBytes: 500 * MiB, FreeBytes: 20 * MiB, WIMBytes: 470 * MiB},
			want:    Verdict{}, // filled in below
			reasons: []string{"KB5034441", "ReAgentc needs", "policy"}},
		{name: "plenty", s: Status{PartitionBytes: 1500 * MiB, FreeBytes: 1000 * MiB, WIMBytes: 400 * MiB},
			want: Verdict{MeetsKB5034441: true, MeetsReAgentc: true, MeetsPolicy: true, RequiredFreeBytes: 250 * MiB}},
		{name: "1GiB-wim-growth-wins", s: Status{PartitionBytes: 1500 * MiB, FreeBytes: 300 * MiB, WIMBytes: 1024 * MiB},
			want:    Verdict{MeetsKB5034441: true, MeetsReAgentc: true, RequiredFreeBytes: 308 * MiB, ShortByBytes: 8 * MiB},
			reasons: []string{"policy asks 308.0 MiB"}},
		{name: "small-wim-min-free-wins", s: Status{PartitionBytes: 600 * MiB, FreeBytes: 260 * MiB, WIMBytes: 100 * MiB},
			want: Verdict{MeetsKB5034441: true, MeetsReAgentc: true, MeetsPolicy: true, RequiredFreeBytes: 250 * MiB}},
		{name: "exactly-250", s: Status{PartitionBytes: 600 * MiB, FreeBytes: 250 * MiB, WIMBytes: 0},
			want: Verdict{MeetsKB5034441: true, MeetsReAgentc: true, MeetsPolicy: true, RequiredFreeBytes: 250 * MiB}},
		{name: "oem-image", s: Status{PartitionBytes: 19 * GiB, FreeBytes: 1 * GiB, WIMBytes: 0},
			want:    Verdict{MeetsKB5034441: true, MeetsReAgentc: true, MeetsPolicy: true, RequiredFreeBytes: 250 * MiB},
			reasons: []string{"OEM image volume"}},
		{name: "inconsistent", s: Status{PartitionBytes: 100 * MiB, FreeBytes: 300 * MiB, WIMBytes: 0},
			want:    Verdict{RequiredFreeBytes: 250 * MiB},
			reasons: []string{"inconsistent status"}},
	}
	// The second case: 470 MiB grown 25% needs 117.5 + 52 MiB more than
	// today's WIM, below the 250 MiB minimum.
	tests[1].want.RequiredFreeBytes = 250 * MiB
	tests[1].want.ShortByBytes = 230 * MiB
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Check(tc.s)
			reasons := got.Reasons
			got.Reasons = nil
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Check (-want +got):\n%s", d)
			}
			if len(reasons) != len(tc.reasons) {
				t.Fatalf("reasons %q, want %d", reasons, len(tc.reasons))
			}
			for i, r := range tc.reasons {
				if !strings.Contains(reasons[i], r) {
					t.Errorf("reason %d = %q, want it to mention %q", i, reasons[i], r)
				}
			}
		})
	}
}

func TestTargetPartitionBytes(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name    string
		s       Status
		cluster int64
		want    int64
	}{
		{name: "worked-example", s: Status{PartitionBytes: 529 * MiB, FreeBytes: 95 * MiB, WIMBytes: 420 * MiB}, cluster: 4096, want: 685 * MiB},
		{name: "already-big-enough", s: Status{PartitionBytes: 1500 * MiB, FreeBytes: 1000 * MiB, WIMBytes: 400 * MiB}, cluster: 4096, want: 1500 * MiB},
		{name: "empty-partition", s: Status{PartitionBytes: 100 * MiB, FreeBytes: 90 * MiB}, cluster: 4096, want: 261 * MiB},
		{name: "unknown-cluster", s: Status{PartitionBytes: 529 * MiB, FreeBytes: 95 * MiB, WIMBytes: 420 * MiB}, cluster: 0, want: 685 * MiB},
		{name: "win11-wim", s: Status{PartitionBytes: 750 * MiB, FreeBytes: 60 * MiB, WIMBytes: 680 * MiB}, cluster: 4096, want: 941 * MiB},
		{name: "1GiB-wim", s: Status{PartitionBytes: 1100 * MiB, FreeBytes: 50 * MiB, WIMBytes: 1024 * MiB}, cluster: 4096, want: 1359 * MiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.TargetPartitionBytes(tc.s, tc.cluster)
			if got != tc.want {
				t.Errorf("TargetPartitionBytes = %d (%.2f MiB), want %d (%.2f MiB)", got, float64(got)/float64(MiB), tc.want, float64(tc.want)/float64(MiB))
			}
			if got%p.AlignBytes != 0 {
				t.Errorf("%d not aligned", got)
			}
			// After growing, the content keeps the free space the policy asks.
			after := Status{PartitionBytes: got, FreeBytes: tc.s.FreeBytes + (got - tc.s.PartitionBytes), WIMBytes: tc.s.WIMBytes}
			if v := p.Check(after); !v.MeetsPolicy {
				t.Errorf("after growing to %d: %v", got, v.Reasons)
			}
		})
	}
}

func TestReAgentcFloor(t *testing.T) {
	if got := ReAgentcFloor(500 * MiB); got != 552*MiB {
		t.Errorf("ReAgentcFloor(500 MiB) = %d", got)
	}
	if MinFreeKB5034441 != 262144000 {
		t.Errorf("MinFreeKB5034441 = %d", int64(MinFreeKB5034441))
	}
}
