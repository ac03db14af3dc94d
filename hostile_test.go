package winrepart_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
)

// Offsets of gpt-win11-standard (512-byte sectors), from testdata/README.md.
const (
	stdSize    = 3899654144
	stdLastLBA = stdSize/512 - 1
	stdOS      = 239616 * 512  // C: start, bytes
	stdRE      = 6531072 * 512 // WinRE start, bytes
)

func patchAt(t *testing.T, img string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, img string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// fixGPTCRCs recomputes the entry-array and header CRCs of the GPT header
// at lba, so a mutation of its fields or entries reaches the deeper checks.
func fixGPTCRCs(t *testing.T, img string, lba int64) {
	t.Helper()
	h := readAt(t, img, lba*512, 512)
	entLBA := int64(binary.LittleEndian.Uint64(h[72:]))
	n, size := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
	if total := int64(n) * int64(size); total > 0 && total <= 1<<20 {
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(readAt(t, img, entLBA*512, int(total))))
	}
	hs := binary.LittleEndian.Uint32(h[12:])
	if hs < 92 || hs > 512 {
		hs = 92
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hs]))
	patchAt(t, img, lba*512, h)
}

// both applies a GPT mutation to the primary and the backup copy.
func both(t *testing.T, img string, f func(hdrLBA, entLBA int64)) {
	f(1, 2)
	f(stdLastLBA, stdLastLBA-32)
	fixGPTCRCs(t, img, 1)
	fixGPTCRCs(t, img, stdLastLBA)
}

// ntfsGeometry returns a volume's MFT offset (bytes from the volume start)
// and cluster size, read from its boot sector.
func ntfsGeometry(t *testing.T, img string, vol int64) (mft, cluster int64) {
	t.Helper()
	b := readAt(t, img, vol, 512)
	bs, err := ntfs.ParseBootSector(b)
	if err != nil {
		t.Fatal(err)
	}
	return int64(bs.MFTLCN) * bs.ClusterSize(), bs.ClusterSize()
}

// fileData returns where the data of a non-resident file on the volume at
// vol lives (bytes from the disk start) and its size.
func fileData(t *testing.T, img string, vol, volSize int64, path string) (int64, int64) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := ntfs.Open(io.NewSectionReader(f, vol, volSize), volSize)
	if err != nil {
		t.Fatal(err)
	}
	file, err := v.Lookup(path)
	if err != nil {
		t.Fatal(err)
	}
	if file.Resident || len(file.Runs) == 0 {
		t.Fatalf("%s is resident; the mutator needs its clusters", path)
	}
	return vol + file.Runs[0].LCN*v.ClusterSize(), file.Size
}

type hostile struct {
	name    string
	fixture string // a fixture name, or "sample:<file>" for ../shared/samples
	sector  int    // OpenOptions.SectorSize (0: detect)
	mutate  func(t *testing.T, img string)
	// What must happen: Inspect fails with an error matching inspectErr;
	// or the plan is refused (with reason, when set); or Apply works.
	inspectErr func(error) bool
	refused    planner.Code
	applies    bool
}

func isTableErr(err error) bool {
	var te *recovery.TableError
	return errors.As(err, &te)
}

func isGeometryErr(err error) bool { return errors.Is(err, recovery.ErrBadGeometry) }

// TestHostileImages runs a catalogue of malformed and hostile disk images
// through Inspect, the planner and Apply: each must end in a typed error or
// a refusal with a reason (never a panic, never an unbounded allocation),
// and the image must be unchanged unless a plan was applied and verified.
func TestHostileImages(t *testing.T) {
	testutil.NeedTool(t, "sgdisk")
	const std = "gpt-win11-standard"
	cases := []hostile{
		{name: "empty-file", fixture: std, mutate: func(t *testing.T, img string) { os.Truncate(img, 0) }, inspectErr: isGeometryErr},
		{name: "511-bytes", fixture: std, mutate: func(t *testing.T, img string) { os.Truncate(img, 511) }, inspectErr: isGeometryErr},
		{name: "no-table-at-all", fixture: std, mutate: func(t *testing.T, img string) {
			patchAt(t, img, 0, make([]byte, 34*512))
			patchAt(t, img, (stdLastLBA-32)*512, make([]byte, 33*512))
		}, inspectErr: func(err error) bool { return errors.Is(err, recovery.ErrNoPartitionTable) }},
		{name: "primary-header-crc", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, 512+16, []byte{1, 2, 3, 4}) }, refused: planner.CodeInvalidTable},
		{name: "both-headers-crc", fixture: std, mutate: func(t *testing.T, img string) {
			patchAt(t, img, 512+16, []byte{1, 2, 3, 4})
			patchAt(t, img, stdLastLBA*512+16, []byte{1, 2, 3, 4})
		}, inspectErr: isTableErr},
		{name: "entries-0xffffffff-valid-crc", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+80, []byte{0xff, 0xff, 0xff, 0xff}) })
		}, inspectErr: isTableErr},
		{name: "entry-size-7", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+84, []byte{7, 0, 0, 0}) })
		}, inspectErr: isTableErr},
		{name: "header-size-huge", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+12, []byte{0, 0, 1, 0}) })
		}, inspectErr: isTableErr},
		{name: "partition-past-disk", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(_, e int64) {
				patchAt(t, img, e*512+3*128+40, binary.LittleEndian.AppendUint64(nil, stdLastLBA+1000))
			})
		}, refused: planner.CodeInvalidTable},
		{name: "overlapping-partitions", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(_, e int64) { patchAt(t, img, e*512+2*128+40, binary.LittleEndian.AppendUint64(nil, 6531072+100)) })
		}, refused: planner.CodeInvalidTable},
		{name: "start-after-end", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(_, e int64) { patchAt(t, img, e*512+3*128+40, binary.LittleEndian.AppendUint64(nil, 6531000)) })
		}, refused: planner.CodeInvalidTable},
		{name: "truncated-mid-winre", fixture: std, mutate: func(t *testing.T, img string) { os.Truncate(img, stdRE+64<<20) }, inspectErr: isTableErr},
		{name: "4kn-read-as-512", fixture: "gpt-4kn-standard", sector: 512, inspectErr: isTableErr},
		{name: "512-read-as-4096", fixture: std, sector: 4096, inspectErr: isTableErr},
		{name: "ebr-loop", fixture: "mbr-extended-logical", mutate: func(t *testing.T, img string) {
			// The first EBR's link entry points back at itself.
			rec := readAt(t, img, 0, 512)
			for i := 0; i < 4; i++ {
				e := rec[446+16*i:]
				if e[4] == 0x05 || e[4] == 0x0f {
					ext := int64(binary.LittleEndian.Uint32(e[8:]))
					patchAt(t, img, ext*512+446+16+8, []byte{0, 0, 0, 0})
					patchAt(t, img, ext*512+446+16+4, []byte{0x05})
				}
			}
		}, refused: planner.Code("")},
		{name: "os-boot-sector-garbage", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, stdOS, bytes.Repeat([]byte{0xA5}, 512)) }, refused: planner.CodeUnknownLayout},
		{name: "os-bytes-per-sector-0", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, stdOS+11, []byte{0, 0}) }, refused: planner.CodeUnknownLayout},
		{name: "os-cluster-2^31", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, stdOS+13, []byte{0xE1}) }, refused: planner.CodeUnknownLayout},
		{name: "os-mft-beyond-volume", fixture: std, mutate: func(t *testing.T, img string) {
			patchAt(t, img, stdOS+0x30, binary.LittleEndian.AppendUint64(nil, 1<<40))
		}, refused: planner.CodeUnknownLayout},
		{name: "os-mft-record-size-huge", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, stdOS+0x40, []byte{0x7f}) }, refused: planner.CodeUnknownLayout},
		{name: "os-mft-record0-fixup", fixture: std, mutate: func(t *testing.T, img string) {
			mft, _ := ntfsGeometry(t, img, stdOS)
			patchAt(t, img, stdOS+mft+510, []byte{0xde, 0xad})
		}, refused: planner.CodeUnknownLayout},
		{name: "os-root-dir-record-garbage", fixture: std, mutate: func(t *testing.T, img string) {
			mft, _ := ntfsGeometry(t, img, stdOS)
			patchAt(t, img, stdOS+mft+5*1024+24, bytes.Repeat([]byte{0xff}, 900))
		}, refused: planner.CodeUnknownLayout},
		{name: "os-volume-record-garbage", fixture: std, mutate: func(t *testing.T, img string) {
			mft, _ := ntfsGeometry(t, img, stdOS)
			patchAt(t, img, stdOS+mft+3*1024+56, bytes.Repeat([]byte{0xff}, 400))
		}, refused: planner.Code("")},
		{name: "winre-mft-record0-garbage", fixture: std, mutate: func(t *testing.T, img string) {
			mft, _ := ntfsGeometry(t, img, stdRE)
			patchAt(t, img, stdRE+mft, bytes.Repeat([]byte{0x5a}, 1024))
		}, refused: planner.Code("")},
		{name: "winre-bitmap-record-garbage", fixture: std, mutate: func(t *testing.T, img string) {
			mft, _ := ntfsGeometry(t, img, stdRE)
			patchAt(t, img, stdRE+mft+6*1024+56, bytes.Repeat([]byte{0x11}, 300))
		}, refused: planner.Code("")},
		{name: "os-dirty", fixture: std, mutate: func(t *testing.T, img string) { setDirty(t, img, stdOS) }, refused: planner.CodeDirty},
		{name: "reagent-not-xml", fixture: std, mutate: func(t *testing.T, img string) {
			off, n := fileData(t, img, stdOS, 6531072*512-stdOS, `\Windows\System32\Recovery\ReAgent.xml`)
			patchAt(t, img, off, bytes.Repeat([]byte("MZ\x00\x01"), int(n/4)))
		}, refused: planner.Code("")},
		{name: "reagent-offset-nowhere", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, 12345*512, false) }, refused: planner.Code("")},
		{name: "reagent-offset-is-c", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, stdOS, false) }, refused: planner.Code("")},
		{name: "reagent-other-disk", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, stdRE, true) }, refused: planner.Code("")},
		{name: "winre-wim-not-a-wim", fixture: std, mutate: func(t *testing.T, img string) {
			off, _ := fileData(t, img, stdRE, 529<<20, `\Recovery\WindowsRE\Winre.wim`)
			patchAt(t, img, off, []byte("this is not a WIM file at all"))
		}, refused: planner.Code("")},
		{name: "hibernated-fixture", fixture: "gpt-hibernated", refused: planner.CodeHibernated},
		{name: "bitlocker-fixture", fixture: "gpt-bitlocker-os", refused: planner.CodeBitLockerOS},
		{name: "sample-bitlocker-volume", fixture: "sample:bitlocker-windows.img.xz", inspectErr: isTableErr},
		{name: "sample-bare-ntfs-volume", fixture: "sample:ntfs-windows.img.xz", inspectErr: isTableErr},
		{name: "sample-gpt-no-windows", fixture: "sample:gpt-parted-blkid.img.xz", refused: planner.CodeUnknownLayout},
		{name: "sample-mbr-xp", fixture: "sample:mbr-ntfs-xp-dftt.zip", refused: planner.Code("")},
		{name: "sample-mbr-extended", fixture: "sample:mbr-extended-dftt.zip", refused: planner.Code("")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			img := hostileImage(t, tc.fixture)
			if tc.mutate != nil {
				tc.mutate(t, img)
			}
			fi, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			sum := testutil.RangeDigest(t, img, 0, fi.Size())
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			dev, err := winrepart.Open(img, winrepart.OpenOptions{Writable: true, SectorSize: tc.sector})
			var l *recovery.Layout
			if err == nil {
				defer dev.Close()
				l, err = recovery.Inspect(context.Background(), dev, recovery.Options{})
			}
			runtime.ReadMemStats(&ms1)
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Inspect allocated %d MiB", alloc>>20)
			}
			if tc.inspectErr != nil {
				if err == nil || !tc.inspectErr(err) {
					t.Fatalf("Inspect: %v; want a typed error", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				p := planner.New(l, planner.Options{})
				switch {
				case tc.applies:
					if p.Refused {
						t.Fatalf("plan refused:\n%s", p)
					}
					if _, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); err != nil {
						t.Fatalf("Apply: %v", err)
					}
					return
				case !p.Refused:
					t.Fatalf("plan not refused:\n%s\nlayout:\n%s", p, l)
				case tc.refused != "":
					found := false
					for _, r := range p.Reasons {
						found = found || r.Code == tc.refused
					}
					if !found {
						t.Errorf("refused without %s:\n%s", tc.refused, p)
					}
				}
				if _, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")}); !errors.Is(err, winrepart.ErrRefused) {
					t.Errorf("Apply of a refused plan: %v", err)
				}
			}
			if got := testutil.RangeDigest(t, img, 0, fi.Size()); got != sum {
				t.Error("the image changed")
			}
		})
	}
	t.Logf("%d hostile images", len(cases))
}

// hostileImage returns a writable copy of a fixture or of a real sample.
func hostileImage(t *testing.T, name string) string {
	t.Helper()
	file, ok := strings.CutPrefix(name, "sample:")
	if !ok {
		return testutil.Fixture(t, name)
	}
	src := testutil.SamplePath(t, file)
	var data []byte
	switch {
	case strings.HasSuffix(file, ".xz"):
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := xz.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	case strings.HasSuffix(file, ".zip"):
		zr, err := zip.OpenReader(src)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, ".dd") && !strings.Contains(f.Name, "/") || strings.HasSuffix(f.Name, "disk.dd") || strings.HasSuffix(f.Name, "test-2.dd") {
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				data, err = io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if data == nil {
			t.Fatalf("no disk image in %s", file)
		}
	}
	img := filepath.Join(t.TempDir(), "sample.img")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

// setDirty sets the NTFS dirty flag of the volume at vol: the first writes
// of a resize plan are exactly that (in $Volume and its $MFTMirr copy).
func setDirty(t *testing.T, img string, vol int64) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(6531072*512 - stdOS)
	v, err := ntfs.Open(io.NewSectionReader(f, vol, size), size)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := v.PlanShrink(size-1<<20, ntfs.DefaultResizeOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The dirty flag writes come first in a resize plan; apply only those.
	for _, w := range ws {
		if strings.Contains(w.What, "dirty") {
			if _, err := f.WriteAt(w.New, vol+w.Offset); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// patchReAgent rewrites C:'s ReAgent.xml to point at offset (and at
// another disk when otherDisk).
func patchReAgent(t *testing.T, img string, offset int64, otherDisk bool) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(6531072*512 - stdOS)
	v, err := ntfs.Open(io.NewSectionReader(f, stdOS, size), size)
	if err != nil {
		t.Fatal(err)
	}
	const path = `\Windows\System32\Recovery\ReAgent.xml`
	raw, err := v.ReadFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := winre.ParseReAgent(raw)
	if err != nil {
		t.Fatal(err)
	}
	guid := ra.WinreLocation.GUID
	if otherDisk {
		guid[15] ^= 0xff
	}
	neu, err := winre.PatchLocationCompact(raw, uint64(offset), guid, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := v.PlanPatchFile(path, neu)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if _, err := f.WriteAt(w.New, stdOS+w.Offset); err != nil {
			t.Fatal(err)
		}
	}
}
