package winrepart_test

import (
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
		// An array that cannot be read (placed past the disk) keeps its CRC.
		if f, err := os.Open(img); err == nil {
			b := make([]byte, total)
			if _, err := f.ReadAt(b, entLBA*512); err == nil {
				binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(b))
			}
			f.Close()
		}
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
	_, v := openVol(t, img, vol, volSize)
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
	problem    string // a problem code the Layout must report (when set)
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
			off, n := fileData(t, img, stdOS, stdRE-stdOS, `\Windows\System32\Recovery\ReAgent.xml`)
			patchAt(t, img, off, bytes.Repeat([]byte("MZ\x00\x01"), int(n/4)))
		}, refused: planner.CodeUnknownLayout},
		{name: "reagent-offset-nowhere", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, 12345*512, false) }, refused: planner.CodeUnknownLayout},
		{name: "reagent-offset-is-c", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, stdOS, false) }, refused: planner.Code("")},
		{name: "reagent-other-disk", fixture: std, mutate: func(t *testing.T, img string) { patchReAgent(t, img, stdRE, true) }, refused: planner.CodeUnknownLayout},
		{name: "winre-wim-not-a-wim", fixture: std, mutate: func(t *testing.T, img string) {
			off, _ := fileData(t, img, stdRE, 529<<20, `\Recovery\WindowsRE\Winre.wim`)
			patchAt(t, img, off, []byte("this is not a WIM file at all"))
		}, refused: planner.CodeUnknownLayout},
		{name: "hibernated-fixture", fixture: "gpt-hibernated", refused: planner.CodeHibernated},
		{name: "bitlocker-fixture", fixture: "gpt-bitlocker-os", refused: planner.CodeBitLockerOS},
		{name: "sample-bitlocker-volume", fixture: "sample:bitlocker-windows.img.xz", inspectErr: isTableErr},
		{name: "sample-bare-ntfs-volume", fixture: "sample:ntfs-windows.img.xz", inspectErr: isTableErr},
		{name: "sample-gpt-no-windows", fixture: "sample:gpt-parted-blkid.img.xz", refused: planner.CodeUnknownLayout},
		{name: "sample-mbr-xp", fixture: "sample:mbr-ntfs-xp-dftt.zip:10-ntfs-disk.dd", refused: planner.Code("")},
		{name: "sample-mbr-extended", fixture: "sample:mbr-extended-dftt.zip:ext-part-test-2.dd", refused: planner.Code("")},
		{name: "entry-size-0", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+84, []byte{0, 0, 0, 0}) })
		}, inspectErr: isTableErr},
		{name: "entry-size-16MiB", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+84, []byte{0, 0, 0, 1}) })
		}, inspectErr: isTableErr},
		{name: "entry-array-past-disk", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) { patchAt(t, img, h*512+72, binary.LittleEndian.AppendUint64(nil, stdLastLBA+10)) })
		}, inspectErr: isTableErr},
		{name: "first-usable-after-last-usable", fixture: std, mutate: func(t *testing.T, img string) {
			both(t, img, func(h, _ int64) {
				patchAt(t, img, h*512+40, binary.LittleEndian.AppendUint64(nil, stdLastLBA-33))
				patchAt(t, img, h*512+48, binary.LittleEndian.AppendUint64(nil, 34))
			})
		}, inspectErr: isTableErr},
		{name: "ebr-points-outside", fixture: "mbr-extended-logical", mutate: func(t *testing.T, img string) {
			rec := readAt(t, img, 0, 512)
			for i := 0; i < 4; i++ {
				if e := rec[446+16*i:]; e[4] == 0x05 || e[4] == 0x0f {
					ext := int64(binary.LittleEndian.Uint32(e[8:]))
					patchAt(t, img, ext*512+446+16+8, []byte{0, 0, 0, 0x7f})
				}
			}
		}, problem: "chain-outside-extended", refused: planner.CodeInvalidTable},
		{name: "os-mft-runlist-huge", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, "", 0, func(r *ntfs.Record) {
				// One run of 2^39-1 clusters (2 PiB) at LCN 1.
				setRuns(t, r, r.Find(ntfs.AttrData, ""), []byte{0x15, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01})
			})
		}, problem: "ntfs-unreadable", refused: planner.CodeUnknownLayout},
		{name: "os-mft-runlist-negative-lcn", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, "", 0, func(r *ntfs.Record) {
				// Two runs whose LCN deltas (-128 twice) lead before the volume.
				setRuns(t, r, r.Find(ntfs.AttrData, ""), []byte{0x11, 0x10, 0x80, 0x11, 0x10, 0x80})
			})
		}, problem: "ntfs-unreadable", refused: planner.CodeUnknownLayout},
		{name: "os-mft-datasize-maxint64", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, "", 0, func(r *ntfs.Record) {
				a := r.Find(ntfs.AttrData, "")
				for _, o := range []int{0x28, 0x30, 0x38} {
					binary.LittleEndian.PutUint64(r.Raw[a.Offset+o:], 1<<63-1)
				}
			})
		}, refused: planner.Code("")},
		{name: "primary-entry-count-0", fixture: std, mutate: func(t *testing.T, img string) {
			patchAt(t, img, 512+80, []byte{0, 0, 0, 0})
			fixGPTCRCs(t, img, 1)
		}, refused: planner.CodeInvalidTable},
		{name: "os-bitmap-run-outside", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, "", 6, func(r *ntfs.Record) {
				a := r.Find(ntfs.AttrData, "")
				// One run of the same length at LCN 2^36, far past the volume.
				setRuns(t, r, a, []byte{0x51, byte(a.Runs[0].Length), 0, 0, 0, 0, 0x10})
			})
		}, refused: planner.Code("")},
		{name: "os-attribute-length-0", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, `\Windows`, 0, func(r *ntfs.Record) {
				binary.LittleEndian.PutUint32(r.Raw[r.Attributes[0].Offset+4:], 0)
			})
		}, problem: "no-windows", refused: planner.CodeUnknownLayout},
		{name: "os-root-index-loop", fixture: std, mutate: func(t *testing.T, img string) {
			loopRootIndex(t, img, stdOS, stdRE-stdOS, "Users")
		}, refused: planner.Code("")},
		{name: "reagent-truncated", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, `\Windows\System32\Recovery\ReAgent.xml`, 0, func(r *ntfs.Record) {
				a := r.Find(ntfs.AttrData, "")
				binary.LittleEndian.PutUint64(r.Raw[a.Offset+0x30:], uint64(a.DataSize/2))
				binary.LittleEndian.PutUint64(r.Raw[a.Offset+0x38:], uint64(a.DataSize/2))
			})
		}, problem: "reagent-invalid", refused: planner.Code("")},
		{name: "reagent-empty", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, `\Windows\System32\Recovery\ReAgent.xml`, 0, func(r *ntfs.Record) {
				a := r.Find(ntfs.AttrData, "")
				binary.LittleEndian.PutUint64(r.Raw[a.Offset+0x30:], 0)
				binary.LittleEndian.PutUint64(r.Raw[a.Offset+0x38:], 0)
			})
		}, problem: "reagent-invalid", refused: planner.Code("")},
		{name: "reagent-1TiB", fixture: std, mutate: func(t *testing.T, img string) {
			editRecord(t, img, stdOS, stdRE-stdOS, `\Windows\System32\Recovery\ReAgent.xml`, 0, func(r *ntfs.Record) {
				a := r.Find(ntfs.AttrData, "")
				for _, o := range []int{0x28, 0x30, 0x38} {
					binary.LittleEndian.PutUint64(r.Raw[a.Offset+o:], 1<<40)
				}
			})
		}, problem: "reagent-unreadable", refused: planner.Code("")},
		{name: "winre-bitlocker-signature", fixture: std, mutate: func(t *testing.T, img string) { patchAt(t, img, stdRE+3, []byte("-FVE-FS-")) }, refused: planner.CodeBitLockerWinRE},
		{name: "two-windows-volumes", fixture: std, mutate: func(t *testing.T, img string) {
			// WinRE becomes a basic data volume holding \Windows\System32
			// (its \Recovery\WindowsRE renamed), beside C:.
			const winreSize = 529 << 20
			renameInDir(t, img, stdRE, winreSize, `\Recovery`, "WindowsRE", "System32")
			renameInDir(t, img, stdRE, winreSize, `\`, "Recovery", "Windows")
			basic := []byte{0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7}
			both(t, img, func(_, e int64) { patchAt(t, img, e*512+3*128, basic) })
		}, problem: "several-windows", refused: planner.Code("")},
		{name: "garbage-in-unpartitioned-gap", fixture: std, mutate: func(t *testing.T, img string) {
			patchAt(t, img, 40*512, bytes.Repeat([]byte("garbage!"), 1000))
		}, applies: true},
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
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			if alloc > 64<<20 {
				t.Errorf("Inspect allocated %d MiB", alloc>>20)
			}
			t.Logf("Inspect allocated %d KiB", alloc>>10)
			if tc.inspectErr != nil {
				if err == nil || !tc.inspectErr(err) {
					t.Fatalf("Inspect: %v; want a typed error", err)
				}
				t.Logf("inspect error %T: %v", errors.Unwrap(err), err)
			} else {
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				if tc.problem != "" && !hasProblem(l, tc.problem) {
					t.Errorf("no problem %q in the layout:\n%s", tc.problem, l)
				}
				p := planner.New(l, planner.Options{})
				switch {
				case tc.applies:
					if p.Refused {
						t.Fatalf("plan refused:\n%s", p)
					}
					res, err := winrepart.Apply(context.Background(), dev, p, winrepart.ApplyOptions{JournalPath: filepath.Join(t.TempDir(), "j")})
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					if w := res.After.WinRE; w == nil || !w.MeetsKB5034441 {
						t.Errorf("after Apply WinRE does not meet KB5034441:\n%s", res.After)
					}
					t.Logf("applied: %d ops, %d bytes written, %d copied", res.Ops, res.BytesWritten, res.BytesCopied)
					return
				case !p.Refused:
					t.Fatalf("plan not refused:\n%s\nlayout:\n%s", p, l)
				}
				var codes []string
				for _, r := range p.Reasons {
					codes = append(codes, string(r.Code))
				}
				t.Logf("refused: %s", strings.Join(codes, ", "))
				if os.Getenv("HOSTILE_DEBUG") != "" { // print the plan and layout of every refusal
					t.Logf("%s\n%s", p, l)
				}
				switch {
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

// hostileImage returns a writable copy of a fixture or of a real sample
// ("sample:file" or "sample:file.zip:member").
func hostileImage(t *testing.T, name string) string {
	t.Helper()
	spec, ok := strings.CutPrefix(name, "sample:")
	if !ok {
		return testutil.Fixture(t, name)
	}
	file, member, _ := strings.Cut(spec, ":")
	return testutil.SampleFile(t, file, member)
}

// setDirty sets the NTFS dirty flag of the volume at vol: the first writes
// of a resize plan are exactly that (in $Volume and its $MFTMirr copy).
func setDirty(t *testing.T, img string, vol int64) {
	t.Helper()
	size := int64(stdRE - stdOS)
	f, v := openVol(t, img, vol, size)
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
	f, v := openVol(t, img, stdOS, stdRE-stdOS)
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

// openVol opens the NTFS volume at vol (bytes from the disk start, size
// bytes long) of img for reading, and the image file for writing.
func openVol(t *testing.T, img string, vol, size int64) (*os.File, *ntfs.Volume) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	v, err := ntfs.Open(io.NewSectionReader(f, vol, size), size)
	if err != nil {
		t.Fatal(err)
	}
	return f, v
}

// editRecord changes the MFT record of path (or number rec when path is
// "") on the volume at vol as NTFS sees it (fixups undone) and writes it
// back protected with a new update sequence number.
func editRecord(t *testing.T, img string, vol, size int64, path string, rec uint64, fn func(r *ntfs.Record)) {
	t.Helper()
	f, v := openVol(t, img, vol, size)
	if path != "" {
		file, err := v.Lookup(path)
		if err != nil {
			t.Fatal(err)
		}
		rec = file.Record
	}
	r, err := v.ReadRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	usn := ntfs.UpdateSequenceNumber(r.Raw) // the stored number survives ApplyFixups
	fn(r)
	if err := ntfs.ProtectFixups(r.Raw, usn+1); err != nil {
		t.Fatal(err)
	}
	ext, err := v.RecordExtents(rec)
	if err != nil {
		t.Fatal(err)
	}
	var done int64
	for _, e := range ext {
		if _, err := f.WriteAt(r.Raw[done:done+e.Length], vol+e.VolumeOffset); err != nil {
			t.Fatal(err)
		}
		done += e.Length
	}
}

// editIndexBlock changes the first INDX block of directory dir on the
// volume at vol (fixups undone) and writes it back protected again.
// It reports false when the directory has no index allocation.
func editIndexBlock(t *testing.T, img string, vol, size int64, dir string, fn func(b []byte)) bool {
	t.Helper()
	f, v := openVol(t, img, vol, size)
	file, err := v.Lookup(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.ReadRecord(file.Record)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Find(ntfs.AttrIndexAllocation, "$I30")
	if a == nil || len(a.Runs) == 0 {
		return false
	}
	off := vol + a.Runs[0].LCN*v.ClusterSize()
	b := readAt(t, img, off, int(v.Boot.IndexBlockSize()))
	usn := ntfs.UpdateSequenceNumber(b)
	if err := ntfs.ApplyFixups(b); err != nil {
		t.Fatal(err)
	}
	fn(b)
	if err := ntfs.ProtectFixups(b, usn+1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return true
}

// renameIndexEntries renames the $I30 index entries called old in b (an
// index block or an MFT record holding an index root) to nu, which must be
// no longer; the entries keep their lengths. It returns how many it renamed.
func renameIndexEntries(b []byte, old, nu string) int {
	utf := func(s string) []byte {
		var o []byte
		for _, c := range s {
			o = binary.LittleEndian.AppendUint16(o, uint16(c))
		}
		return o
	}
	pat := utf(old)
	n := 0
	for i := 0; ; {
		k := bytes.Index(b[i:], pat)
		if k < 0 {
			return n
		}
		k += i
		i = k + 1
		// In an index entry the file name key starts 16 bytes in, its name
		// length byte sits at key offset 64 (then the namespace byte and
		// the name), and the key length field is at entry offset 10.
		j := k - 2
		entry := j - 64 - 16
		if entry < 0 || int(b[j]) != len(old) || int(binary.LittleEndian.Uint16(b[entry+10:])) != 66+2*len(old) {
			continue
		}
		copy(b[k:k+len(pat)], make([]byte, len(pat)))
		b[j] = byte(len(nu))
		copy(b[k:], utf(nu))
		binary.LittleEndian.PutUint16(b[entry+10:], uint16(66+2*len(nu)))
		n++
	}
}

// renameInDir renames entry old of directory dir to nu, in the directory's
// index root and first index block.
func renameInDir(t *testing.T, img string, vol, size int64, dir, old, nu string) {
	t.Helper()
	n := 0
	editRecord(t, img, vol, size, dir, 0, func(r *ntfs.Record) { n += renameIndexEntries(r.Raw, old, nu) })
	editIndexBlock(t, img, vol, size, dir, func(b []byte) { n += renameIndexEntries(b, old, nu) })
	if n == 0 {
		t.Fatalf("no entry %q in %s", old, dir)
	}
}

// setRuns replaces the mapping pairs of attribute a of r with raw pairs
// (terminator added), failing when they do not fit the attribute.
func setRuns(t *testing.T, r *ntfs.Record, a *ntfs.Attribute, pairs []byte) {
	t.Helper()
	room := a.Length - a.RunsOffset
	if len(pairs)+1 > room {
		t.Fatalf("%d bytes of mapping pairs do not fit %d", len(pairs)+1, room)
	}
	start := a.Offset + a.RunsOffset
	copy(r.Raw[start:start+room], make([]byte, room))
	copy(r.Raw[start:], pairs)
}

// loopRootIndex gives the entry named name in the first INDX block of the
// root directory a child pointer to that same block (VCN 0): a B-tree
// lookup that descends there never ends unless it notices.
func loopRootIndex(t *testing.T, img string, vol, size int64, name string) {
	t.Helper()
	ok := editIndexBlock(t, img, vol, size, `\`, func(b []byte) {
		const hdr = 0x18
		le := binary.LittleEndian
		first, inUse, alloc := int(le.Uint32(b[hdr:])), int(le.Uint32(b[hdr+4:])), int(le.Uint32(b[hdr+8:]))
		if inUse+8 > alloc {
			t.Fatal("no room in the index block")
		}
		for p := hdr + first; p < hdr+inUse; {
			ln, kl, fl := int(le.Uint16(b[p+8:])), int(le.Uint16(b[p+10:])), le.Uint16(b[p+12:])
			if fl&2 != 0 {
				break
			}
			nl := int(b[p+16+64])
			got := make([]uint16, nl)
			for i := range got {
				got[i] = le.Uint16(b[p+16+66+2*i:])
			}
			if kl > 0 && string(utf16Decode(got)) == name {
				end := hdr + inUse
				copy(b[p+ln+8:end+8], b[p+ln:end])
				le.PutUint64(b[p+ln:], 0)
				le.PutUint16(b[p+8:], uint16(ln+8))
				le.PutUint16(b[p+12:], fl|1)
				le.PutUint32(b[hdr+4:], uint32(inUse+8))
				return
			}
			p += ln
		}
		t.Fatalf("no entry %q in the root index block", name)
	})
	if !ok {
		t.Fatal("the root directory has no index block")
	}
}

func utf16Decode(u []uint16) []rune {
	r := make([]rune, len(u))
	for i, c := range u {
		r[i] = rune(c)
	}
	return r
}

func hasProblem(l *recovery.Layout, code string) bool {
	for _, p := range l.Problems {
		if string(p.Code) == code {
			return true
		}
	}
	return false
}
