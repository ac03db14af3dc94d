package recovery_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
)

// fixtureExpect is what Inspect must find on a fixture.
type fixtureExpect struct {
	scheme     recovery.Scheme
	sectorSize int
	roles      map[int]recovery.Role // partition number -> role
	os         int
	winre      int  // WinRE.Partition
	host       int  // WinRE.HostPartition
	enabled    bool // WinRE.Enabled
	meets      bool
	problems   []string // codes that must be present
	hibernated int      // partition whose FS must say hibernated
	bitlocker  int      // partition whose FS must say BitLocker
}

var fixtureExpects = map[string]fixtureExpect{
	"gpt-win11-standard": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true,
		roles:    map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
		problems: []string{"winre-too-small"},
	},
	"gpt-win11-compliant": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true, meets: true,
		roles: map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
	},
	"gpt-win10-winre-first": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 4, winre: 1, host: 1, enabled: true,
		roles:    map[int]recovery.Role{1: recovery.RoleWinRE, 2: recovery.RoleESP, 3: recovery.RoleMSR, 4: recovery.RoleOS},
		problems: []string{"winre-too-small"},
	},
	"gpt-two-recovery": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 4, winre: 5, host: 5, enabled: true,
		roles: map[int]recovery.Role{1: recovery.RoleRecovery, 2: recovery.RoleESP, 3: recovery.RoleMSR, 4: recovery.RoleOS, 5: recovery.RoleWinRE},
	},
	"gpt-oem-after-winre": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true,
		roles: map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE, 5: recovery.RoleOEM, 6: recovery.RoleOEM},
	},
	"gpt-grown": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true,
		roles: map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
	},
	"gpt-4kn-standard": {
		scheme: recovery.SchemeGPT, sectorSize: 4096, os: 3, winre: 4, host: 4, enabled: true,
		roles: map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
	},
	"mbr-sysreserved": {
		scheme: recovery.SchemeMBR, sectorSize: 512, os: 2, winre: 3, host: 3, enabled: true,
		roles: map[int]recovery.Role{1: recovery.RoleSystem, 2: recovery.RoleOS, 3: recovery.RoleWinRE},
	},
	"gpt-hibernated": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true, hibernated: 3,
		roles: map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
	},
	"gpt-bitlocker-os": {
		// C: is encrypted, so nothing can read ReAgent.xml: the only
		// recovery partition holding winre.wim is taken as WinRE, and the
		// only encrypted data volume as C:.
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, winre: 4, host: 4, enabled: true, bitlocker: 3,
		roles:    map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS, 4: recovery.RoleWinRE},
		problems: []string{"os-bitlocker"},
	},
	"gpt-winre-disabled": {
		scheme: recovery.SchemeGPT, sectorSize: 512, os: 3, host: 3,
		roles:    map[int]recovery.Role{1: recovery.RoleESP, 2: recovery.RoleMSR, 3: recovery.RoleOS},
		problems: []string{"winre-disabled"},
	},
}

func inspectFixture(t *testing.T, name string) (string, *recovery.Layout) {
	t.Helper()
	img := testutil.Fixture(t, name)
	dev := testutil.OpenDisk(t, img, 0)
	l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return img, l
}

func TestInspectFixtures(t *testing.T) {
	for _, name := range fixtureNames(t) {
		want, ok := fixtureExpects[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, l := inspectFixture(t, name)
			if l.Scheme != want.scheme || l.SectorSize != want.sectorSize {
				t.Errorf("scheme %s/%d, want %s/%d", l.Scheme, l.SectorSize, want.scheme, want.sectorSize)
			}
			for n, role := range want.roles {
				p := l.Partition(n)
				if p == nil {
					t.Errorf("no partition %d", n)
					continue
				}
				if p.Role != role {
					t.Errorf("partition %d: role %s (%s), want %s", n, p.Role, p.RoleReason, role)
				}
			}
			if l.OS != want.os {
				t.Errorf("OS partition %d, want %d", l.OS, want.os)
			}
			w := l.WinRE
			if w == nil {
				t.Fatal("no WinRE verdict")
			}
			if w.Partition != want.winre || w.HostPartition != want.host || w.Enabled != want.enabled || w.MeetsKB5034441 != want.meets {
				t.Errorf("WinRE %+v, want partition %d host %d enabled %v meets %v", *w, want.winre, want.host, want.enabled, want.meets)
			}
			if w.HostPartition != 0 && w.WIMBytes == 0 {
				t.Errorf("WinRE WIM size not measured: %+v", *w)
			}
			var codes []string
			for _, p := range l.Problems {
				codes = append(codes, string(p.Code))
			}
			for _, c := range want.problems {
				if !slices.Contains(codes, c) {
					t.Errorf("problem %q not reported; got %v", c, codes)
				}
			}
			if n := want.hibernated; n != 0 && (l.Partition(n).FS == nil || !l.Partition(n).FS.Hibernated) {
				t.Errorf("partition %d not reported hibernated", n)
			}
			if n := want.bitlocker; n != 0 && (l.Partition(n).FS == nil || !l.Partition(n).FS.BitLocker) {
				t.Errorf("partition %d not reported BitLocker", n)
			}
			if t.Failed() {
				t.Logf("layout:\n%s", l)
			}
		})
	}
}

var (
	reClusterSize = regexp.MustCompile(`(?m)^\s*Cluster Size: (\d+)`)
	reVolClusters = regexp.MustCompile(`(?m)^\s*Volume Size in Clusters: (\d+)`)
	reVolName     = regexp.MustCompile(`(?m)^\s*Volume Name: (.*)$`)
	reVolVersion  = regexp.MustCompile(`(?m)^\s*Volume Version: (\S+)`)
	reVolFlags    = regexp.MustCompile(`(?m)^\s*Volume Flags: 0x([0-9a-fA-F]+)`)
	reInUse       = regexp.MustCompile(`(?m)^Space in use\s*: (\d+) MB`)
)

func match(t *testing.T, re *regexp.Regexp, out string) string {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%v not found in:\n%s", re, out)
	}
	return m[1]
}

// TestInspectNTFSFactsMatchNtfs3g compares the filesystem facts Inspect
// reports for every NTFS partition of every fixture with ntfsinfo and
// ntfsresize --info on the same bytes.
func TestInspectNTFSFactsMatchNtfs3g(t *testing.T) {
	testutil.NeedTool(t, "ntfsinfo", "ntfsresize")
	checked := 0
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			img, l := inspectFixture(t, name)
			for _, p := range l.Partitions {
				if p.FS == nil || p.FS.Kind != recovery.FSNTFS {
					continue
				}
				part := testutil.ExtractPartition(t, img, p.StartBytes(l.SectorSize), p.SizeBytes)
				info := testutil.Run(t, "ntfsinfo", "-m", "-f", part)
				cs, _ := strconv.ParseInt(match(t, reClusterSize, info), 10, 64)
				vc, _ := strconv.ParseInt(match(t, reVolClusters, info), 10, 64)
				if p.FS.ClusterSize != cs {
					t.Errorf("partition %d: cluster size %d, ntfsinfo %d", p.Number, p.FS.ClusterSize, cs)
				}
				if got := p.FS.TotalBytes / p.FS.ClusterSize; got != vc {
					t.Errorf("partition %d: %d clusters, ntfsinfo %d", p.Number, got, vc)
				}
				if label := match(t, reVolName, info); label != p.FS.Label {
					t.Errorf("partition %d: label %q, ntfsinfo %q", p.Number, p.FS.Label, label)
				}
				if v := match(t, reVolVersion, info); v != p.FS.Version {
					t.Errorf("partition %d: version %q, ntfsinfo %q", p.Number, p.FS.Version, v)
				}
				flags, _ := strconv.ParseUint(match(t, reVolFlags, info), 16, 16)
				if dirty := flags&1 != 0; dirty != p.FS.Dirty {
					t.Errorf("partition %d: dirty %v, ntfsinfo flags %#x", p.Number, p.FS.Dirty, flags)
				}
				if p.FS.UsedBytes >= 0 {
					out, _ := testutil.RunErr("ntfsresize", "--info", "--force", "--no-progress-bar", part)
					mb, _ := strconv.ParseInt(match(t, reInUse, out), 10, 64)
					// ntfsresize rounds the bytes in use up to whole MB (10^6).
					if ours := (p.FS.UsedBytes + 999999) / 1000000; ours != mb {
						t.Errorf("partition %d: %d bytes in use (%d MB), ntfsresize says %d MB", p.Number, p.FS.UsedBytes, ours, mb)
					}
				}
				checked++
			}
		})
	}
	t.Logf("compared %d NTFS volumes with ntfsinfo and ntfsresize", checked)
}
