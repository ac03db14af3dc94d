package recovery_test

// Quirks of real disks that are not problems, or not Windows disks at all:
// each test starts from an image made by a reference tool or from a real
// sample, and checks what Inspect says against an independent reader.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
)

// sparseFile makes an empty file of size bytes in a temporary directory.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// readTable runs ReadTable on an image file.
func readTable(t *testing.T, path string) (*recovery.Layout, error) {
	t.Helper()
	dev := testutil.OpenDisk(t, path, 512)
	return recovery.ReadTable(dev, dev.Size(), dev.SectorSize())
}

// inspectFile runs Inspect on an image file.
func inspectFile(t *testing.T, path string, opts recovery.Options) (*recovery.Layout, error) {
	t.Helper()
	dev := testutil.OpenDisk(t, path, 512)
	return recovery.Inspect(context.Background(), dev, opts)
}

// blkid returns what `blkid -p -o export` says of an image, as a map.
func blkid(t *testing.T, path string) map[string]string {
	t.Helper()
	testutil.NeedTool(t, "blkid")
	// blkid exits 2 when it finds nothing: that is an answer too.
	out, _ := testutil.RunErr("blkid", "-p", "-o", "export", path)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestBareFilesystem gives Inspect whole-disk filesystems with no
// partition table (superfloppies), made by mkfs.fat and mformat or written
// by Windows: each must be named for what it is, by the structure of its
// boot sector whatever its OEM id, and never read as an MBR.
func TestBareFilesystem(t *testing.T) {
	cases := []struct {
		name  string
		image func(t *testing.T) string
		what  string
		blkid string // TYPE blkid reports; "" where blkid gives no single answer
	}{
		{"mkfs.fat-fat16-oem-mkdosfs", func(t *testing.T) string {
			testutil.NeedTool(t, "mkfs.fat")
			path := filepath.Join(t.TempDir(), "fat16.img")
			testutil.Run(t, "mkfs.fat", "-F", "16", "-C", path, "32768")
			// Older dosfstools wrote this OEM id; Windows and blkid do not care.
			patchFile(t, path, 3, []byte("mkdosfs "))
			return path
		}, "FAT16 filesystem", "vfat"},
		{"mkfs.fat-fat32", func(t *testing.T) string {
			testutil.NeedTool(t, "mkfs.fat")
			path := filepath.Join(t.TempDir(), "fat32.img")
			testutil.Run(t, "mkfs.fat", "-F", "32", "-C", path, "65536")
			return path
		}, "FAT32 filesystem", "vfat"},
		{"mformat-fat12", func(t *testing.T) string {
			// mformat writes OEM id "MTOOxxxx" and a partition entry
			// over the volume itself at offset 446.
			testutil.NeedTool(t, "mformat")
			path := sparseFile(t, 8<<20)
			testutil.Run(t, "mformat", "-i", path, "::")
			return path
		}, "FAT12 filesystem", "vfat"},
		{"windows-ntfs", func(t *testing.T) string {
			return testutil.SampleFile(t, "ntfs-windows.img.xz", "")
		}, "NTFS filesystem", "ntfs"},
		{"windows-xp-ntfs-partition", func(t *testing.T) string {
			return testutil.SampleFile(t, "mbr-ntfs-xp-dftt.zip", "10-ntfs-part1.dd")
		}, "NTFS filesystem", ""}, // made to hold several signatures: blkid calls it ambivalent
		{"windows-bitlocker", func(t *testing.T) string {
			return testutil.SampleFile(t, "bitlocker-windows.img.xz", "")
		}, "BitLocker-encrypted volume", "BitLocker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.image(t)
			if b := blkid(t, path); tc.blkid != "" && (b["TYPE"] != tc.blkid || b["PTTYPE"] != "") {
				t.Fatalf("blkid says TYPE=%q PTTYPE=%q, want TYPE=%q and no partition table", b["TYPE"], b["PTTYPE"], tc.blkid)
			}
			for _, opts := range []recovery.Options{{TableOnly: true}, {}} {
				l, err := inspectFile(t, path, opts)
				var ue *recovery.UnsupportedDiskError
				var te *recovery.TableError
				if !errors.As(err, &ue) || !errors.As(err, &te) || !errors.Is(err, recovery.ErrBareFilesystem) || !errors.Is(err, recovery.ErrNoPartitionTable) {
					t.Fatalf("Inspect(%+v) = %v, %v; want an UnsupportedDiskError for a bare filesystem", opts, l, err)
				}
				if ue.What != tc.what || !strings.Contains(err.Error(), "a bare "+tc.what+", not a partitioned disk") {
					t.Errorf("error %q names %q, want %q", err, ue.What, tc.what)
				}
			}
		})
	}
}

// TestBareExFAT checks the exFAT boot sector rules on a main boot sector
// laid out as Microsoft's exFAT specification (§3.1) describes: no exFAT
// formatter is among the reference tools, so it is built here, and each
// field the check depends on is then broken in turn.
func TestBareExFAT(t *testing.T) {
	boot := func() []byte {
		b := make([]byte, 512)
		copy(b, []byte{0xEB, 0x76, 0x90})
		copy(b[3:], "EXFAT   ")
		le := binary.LittleEndian
		le.PutUint64(b[72:], 65536) // VolumeLength
		le.PutUint32(b[80:], 128)   // FatOffset
		le.PutUint32(b[84:], 128)   // FatLength
		le.PutUint32(b[88:], 256)   // ClusterHeapOffset
		le.PutUint32(b[92:], 8160)  // ClusterCount
		le.PutUint32(b[96:], 4)     // FirstClusterOfRootDirectory
		b[108], b[109], b[110] = 9, 3, 1
		b[510], b[511] = 0x55, 0xAA
		return b
	}
	write := func(t *testing.T, b []byte) string {
		path := sparseFile(t, 32<<20)
		patchFile(t, path, 0, b)
		return path
	}
	_, err := readTable(t, write(t, boot()))
	var ue *recovery.UnsupportedDiskError
	if !errors.As(err, &ue) || ue.What != "exFAT filesystem" {
		t.Fatalf("exFAT boot sector: %v", err)
	}
	for name, breakIt := range map[string]func(b []byte){
		"bpb-not-zero":    func(b []byte) { b[11] = 2 },
		"sector-shift-13": func(b []byte) { b[108] = 13 },
		"fats-3":          func(b []byte) { b[110] = 3 },
		"no-signature":    func(b []byte) { b[510] = 0 },
	} {
		b := boot()
		breakIt(b)
		if _, err := readTable(t, write(t, b)); errors.Is(err, recovery.ErrBareFilesystem) {
			t.Errorf("%s: still taken for exFAT: %v", name, err)
		}
	}
}

// TestForeignSchemes makes partition tables of other platforms with parted
// and checks that Inspect names each one (parted and, where it knows the
// scheme, blkid agree) instead of saying that there is no partition table.
func TestForeignSchemes(t *testing.T) {
	testutil.NeedTool(t, "parted")
	for _, tc := range []struct {
		label string // parted's name
		typed bool   // parted's mkpart wants a partition type (primary) first
		blkid string // blkid's PTTYPE, "" where it does not report one
		what  string
	}{
		{"sun", false, "sun", "Sun disklabel"},
		{"dvh", true, "sgi", "SGI disk volume header"},
		{"mac", false, "mac", "Apple partition map"},
		{"bsd", false, "", "BSD disklabel"},
		{"atari", true, "atari", "Atari AHDI partition table"},
		{"amiga", false, "", "Amiga Rigid Disk Block"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			path := sparseFile(t, 16<<20)
			args := []string{"-s", path, "mklabel", tc.label, "mkpart"}
			if tc.typed {
				args = append(args, "primary")
			}
			testutil.Run(t, "parted", append(args, "ext2", "4MiB", "8MiB")...)
			out := testutil.Run(t, "parted", "-s", "-m", path, "print")
			if lines := strings.Split(out, "\n"); len(lines) < 2 || !strings.Contains(lines[1], ":"+tc.label+":") {
				t.Fatalf("parted print does not show a %s label:\n%s", tc.label, out)
			}
			if got := blkid(t, path)["PTTYPE"]; got != tc.blkid {
				t.Fatalf("blkid PTTYPE=%q, want %q", got, tc.blkid)
			}
			_, err := readTable(t, path)
			var ue *recovery.UnsupportedDiskError
			if !errors.As(err, &ue) || !errors.Is(err, recovery.ErrForeignScheme) || !errors.Is(err, recovery.ErrNoPartitionTable) {
				t.Fatalf("ReadTable: %v; want an UnsupportedDiskError for a foreign scheme", err)
			}
			if ue.What != tc.what || !strings.Contains(err.Error(), "a partition scheme this tool does not handle") {
				t.Errorf("error %q names %q, want %q", err, ue.What, tc.what)
			}
		})
	}
}

// TestNoPartitionTableMessage checks the message for a disk with nothing
// recognisable at all.
func TestNoPartitionTableMessage(t *testing.T) {
	_, err := readTable(t, sparseFile(t, 1<<20))
	var te *recovery.TableError
	if !errors.As(err, &te) || !errors.Is(err, recovery.ErrNoPartitionTable) {
		t.Fatalf("blank disk: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "none partition table") || !strings.Contains(msg, "blank") {
		t.Errorf("blank disk message: %q", msg)
	}
}

// TestOneSectorMBR reads a disk image of one sector, LBA 0 of the Windows
// XP sample: the MBR is there and sfdisk reads it, so Inspect must too,
// reporting the partitions as beyond the disk.
func TestOneSectorMBR(t *testing.T) {
	testutil.NeedTool(t, "sfdisk")
	disk := testutil.SampleBytes(t, "mbr-ntfs-xp-dftt.zip", "10-ntfs-disk.dd")
	path := filepath.Join(t.TempDir(), "lba0.img")
	if err := os.WriteFile(path, disk[:512], 0o644); err != nil {
		t.Fatal(err)
	}
	var sf sfdiskJSON
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "--json", path)), &sf); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []recovery.Options{{TableOnly: true}, {}} {
		l, err := inspectFile(t, path, opts)
		if err != nil {
			t.Fatalf("Inspect(%+v): %v", opts, err)
		}
		if l.Scheme != recovery.SchemeMBR || len(l.Partitions) != len(sf.PartitionTable.Partitions) {
			t.Fatalf("scheme %s with %d partitions; sfdisk sees %d", l.Scheme, len(l.Partitions), len(sf.PartitionTable.Partitions))
		}
		for i, p := range sf.PartitionTable.Partitions {
			if got := l.Partitions[i]; got.StartLBA != p.Start || got.EndLBA-got.StartLBA+1 != p.Size {
				t.Errorf("partition %d: LBA %d-%d, sfdisk says start %d size %d", got.Number, got.StartLBA, got.EndLBA, p.Start, p.Size)
			}
		}
		n := 0
		for _, p := range l.Problems {
			if p.Code == "outside-disk" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d outside-disk problems, want 2: %+v", n, l.Problems)
		}
	}
}

// TestNoWindowsVerdict inspects real disks without Windows: no WinRE
// figures may be shown as a verdict.
func TestNoWindowsVerdict(t *testing.T) {
	for _, tc := range []struct{ file, member string }{
		{"mbr-ntfs-xp-dftt.zip", "10-ntfs-disk.dd"},
		{"mbr-extended-dftt.zip", "ext-part-test-2.dd"},
		{"gpt-parted-blkid.img.xz", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			l, err := inspectFile(t, testutil.SampleFile(t, tc.file, tc.member), recovery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			text := l.String()
			if !strings.Contains(text, "no Windows installation found") || strings.Contains(text, "KB5034441:") {
				t.Errorf("inspect text:\n%s", text)
			}
			// Without Windows, asking to install WinRE is noise.
			for _, p := range l.Problems {
				if p.Code == recovery.ProblemNoWinRE {
					t.Errorf("a disk without Windows gets %s: %s", p.Code, p.Message)
				}
			}
			raw, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				WinRE struct {
					Verdict string `json:"verdict"`
				} `json:"winre"`
			}
			if err := json.Unmarshal(raw, &v); err != nil || v.WinRE.Verdict != "no-windows" {
				t.Errorf("JSON verdict %q (%v), want no-windows", v.WinRE.Verdict, err)
			}
		})
	}
}

// TestProtectiveSizeAllOnesInspect patches a fixture's protective MBR the
// way Windows writes it (0xFFFFFFFF sectors on a small disk): sgdisk -v
// finds no problem, and Inspect must not report one either.
func TestProtectiveSizeAllOnesInspect(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	path := testutil.Fixture(t, "gpt-win11-standard")
	patchFile(t, path, 446+12, []byte{0xFF, 0xFF, 0xFF, 0xFF})
	if out := testutil.Run(t, "sgdisk", "-v", path); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v:\n%s", out)
	}
	l, err := readTable(t, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Problems {
		if p.FromTable() {
			t.Errorf("table problem: %s: %s", p.Code, p.Message)
		}
	}
}

// TestWinREVerdictText checks what the inspect text and JSON say when
// there is a Windows but no WinRE figures to judge: no zeros dressed up
// as a verdict.
func TestWinREVerdictText(t *testing.T) {
	for _, tc := range []struct {
		name    string
		l       recovery.Layout
		text    string
		verdict string
	}{
		{"no-windows", recovery.Layout{WinRE: &recovery.WinRE{}}, "no Windows installation found", "no-windows"},
		{"no-winre", recovery.Layout{OS: 3, WinRE: &recovery.WinRE{}}, "KB5034441:    no verdict: no WinRE image (winre.wim) was found", "no-winre"},
		{"unmeasured", recovery.Layout{OS: 3, WinRE: &recovery.WinRE{Partition: 4, HostPartition: 4, Host: recovery.RoleWinRE, Enabled: true}},
			"KB5034441:    no verdict: the volume holding WinRE (partition 4) could not be measured", "unmeasured"},
		{"short", recovery.Layout{OS: 3, WinRE: &recovery.WinRE{Partition: 4, HostPartition: 4, FreeBytes: 1 << 20, RequiredFreeBytes: 250 << 20}},
			"free 1.0 MiB, required 250.0 MiB: does NOT meet the requirement", "short"},
		{"meets", recovery.Layout{OS: 3, WinRE: &recovery.WinRE{Partition: 4, HostPartition: 4, Enabled: true, FreeBytes: 300 << 20, RequiredFreeBytes: 250 << 20, MeetsKB5034441: true}},
			"MEETS the requirement", "meets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.l.Scheme, tc.l.SectorSize = recovery.SchemeGPT, 512
			if text := tc.l.String(); !strings.Contains(text, tc.text) || strings.Contains(text, "free 0 B, required 0 B") {
				t.Errorf("text lacks %q:\n%s", tc.text, text)
			}
			raw, err := json.Marshal(&tc.l)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"verdict":"` + tc.verdict + `"`; !strings.Contains(string(raw), want) {
				t.Errorf("JSON lacks %s: %s", want, raw)
			}
		})
	}
}
