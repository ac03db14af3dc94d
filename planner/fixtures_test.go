package planner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

// TestFixturePlans plans every fixture as Inspect reads it and compares the
// dry run, and the PowerShell script, with golden files made from the same
// fixtures (go test ./planner -update rewrites them).
func TestFixturePlans(t *testing.T) {
	want := map[string]planner.Strategy{
		"gpt-win11-standard":    planner.StrategyShrinkOS,
		"gpt-win11-compliant":   planner.StrategyNoop,
		"gpt-win10-winre-first": planner.StrategyRelocate,
		"gpt-two-recovery":      planner.StrategyShrinkOS,
		"gpt-oem-after-winre":   planner.StrategyShrinkOS,
		"gpt-grown":             planner.StrategyGrowInPlace,
		"gpt-4kn-standard":      planner.StrategyShrinkOS,
	}
	refused := map[string]planner.Code{
		"mbr-sysreserved":    planner.CodeBCDMove,
		"gpt-hibernated":     planner.CodeHibernated,
		"gpt-bitlocker-os":   planner.CodeBitLockerOS,
		"gpt-winre-disabled": planner.CodeWinREDisabled,
	}
	for _, name := range testutil.FixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			img := testutil.Fixture(t, name)
			dev := testutil.OpenDisk(t, img, 0)
			l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := planner.New(l, planner.Options{})
			if s, ok := want[name]; ok && (p.Refused || p.Strategy != s) {
				t.Errorf("strategy %s (refused %v), want %s\n%s", p.Strategy, p.Refused, s, p)
			}
			if code, ok := refused[name]; ok {
				found := false
				for _, r := range p.Reasons {
					found = found || r.Code == code
				}
				if !p.Refused || !found {
					t.Errorf("want a refusal with %s, got\n%s", code, p)
				}
			}
			// Planning the layout the plan leads to must be a no-op.
			if err := p.Check(l); err != nil && !p.Refused {
				t.Errorf("Check on the layout it was planned from: %v", err)
			}
			// The plan's partitions are recovery's inspect format, which
			// carries lastUsedCluster, and read back to the same.
			for i := range l.Partitions {
				q := &l.Partitions[i]
				a, err := planner.PartitionJSON(q)
				if err != nil {
					t.Fatal(err)
				}
				b, err := json.Marshal(q)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("partition %d: the plan's JSON differs from inspect's:\n%s\n%s", q.Number, a, b)
				}
				if q.FS != nil && !bytes.Contains(a, []byte(`"lastUsedCluster":`)) {
					t.Errorf("partition %d: no lastUsedCluster in %s", q.Number, a)
				}
				var back recovery.Partition
				if err := json.Unmarshal(b, &back); err != nil {
					t.Fatalf("partition %d: %v", q.Number, err)
				}
				if c, err := json.Marshal(&back); err != nil || !bytes.Equal(b, c) {
					t.Errorf("partition %d: read back as %s (%v), want %s", q.Number, c, err, b)
				}
			}
			// A saved plan reads back equal, tables included.
			if diff, err := planner.SavedRoundTrip(p); err != nil || diff != "" {
				t.Errorf("saved plan round trip: %v\n%s", err, diff)
			}
			golden := filepath.Join("testdata", "fixtures", name+".golden")
			got := p.String() + "\n----- PowerShell -----\n" + p.PowerShellScript()
			if *planner.UpdateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantText, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./planner -update)", err)
			}
			if got != string(wantText) {
				t.Errorf("plan differs from %s (go test ./planner -update rewrites it):\n%s", golden, got)
			}
		})
	}
}
