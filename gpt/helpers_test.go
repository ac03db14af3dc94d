package gpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/internal/testutil"
)

// Fixed GUIDs for reproducible images.
const (
	diskGUID = "d15c0000-1111-4222-8333-444455556666"
	guidESP  = "e5e50000-0000-4000-8000-000000000001"
	guidMSR  = "e5e50000-0000-4000-8000-000000000002"
	guidOS   = "e5e50000-0000-4000-8000-000000000003"
	guidRE   = "e5e50000-0000-4000-8000-000000000004"
)

// windowsLayout is the sgdisk arguments of Microsoft's recommended layout,
// scaled down: ESP, MSR, Windows, then WinRE with 0x8000000000000001.
var windowsLayout = []string{
	"-o", "-U", diskGUID,
	"-n", "1:0:+20M", "-t", "1:ef00", "-u", "1:" + guidESP, "-c", "1:EFI system partition",
	"-n", "2:0:+16M", "-t", "2:0c01", "-u", "2:" + guidMSR, "-c", "2:Microsoft reserved partition",
	"-n", "3:0:+16M", "-t", "3:0700", "-u", "3:" + guidOS, "-c", "3:Basic data partition",
	"-n", "4:0:0", "-t", "4:de94bba4-06d1-4d40-a16a-bfd50179d6ac", "-u", "4:" + guidRE,
	"-c", "4:Windows RE tools", "-A", "4:set:0", "-A", "4:set:63",
}

// sgdiskImage makes a sparse image of size bytes in a temp dir and runs
// sgdisk with args on it.
func sgdiskImage(t *testing.T, size int64, args ...string) string {
	t.Helper()
	testutil.NeedTool(t, "sgdisk")
	path := filepath.Join(t.TempDir(), "disk.img")
	makeSparse(t, path, size)
	out := testutil.Run(t, "sgdisk", append(args, path)...)
	if strings.Contains(out, "rror") || strings.Contains(out, "Could not") {
		t.Fatalf("sgdisk %v: %s", args, out)
	}
	return path
}

func makeSparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// loop4Kn attaches path as a loop device with 4096-byte logical sectors and
// returns the device; it is detached when the test ends.
func loop4Kn(t *testing.T, path string) string {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "losetup")
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "--sector-size", "4096", path))
	t.Cleanup(func() {
		if out, err := testutil.RunErr("losetup", "-d", dev); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// readImage reads the table of an image file.
func readImage(t *testing.T, path string, sectorSize int) *Table {
	t.Helper()
	f, size := testutil.OpenSized(t, path)
	tab, err := Read(f, size, sectorSize)
	if err != nil {
		t.Fatalf("Read(%s): %v", filepath.Base(path), err)
	}
	return tab
}

// applyWrites performs ws on the file at path.
func applyWrites(t *testing.T, path string, ws []diag.Write) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range ws {
		if _, err := f.WriteAt(w.New, w.Offset); err != nil {
			t.Fatalf("%s: %v", w.What, err)
		}
	}
}

func applyWritesMem(img []byte, ws []diag.Write) {
	for _, w := range ws {
		copy(img[w.Offset:], w.New)
	}
}

// checkWritesMatch reports the first byte where ws differ from the disk,
// naming the LBA and the offset within it.
func checkWritesMatch(t *testing.T, disk io.ReaderAt, ws []diag.Write, sectorSize int) {
	t.Helper()
	for _, w := range ws {
		got := make([]byte, len(w.New))
		if _, err := disk.ReadAt(got, w.Offset); err != nil {
			t.Fatalf("%s: %v", w.What, err)
		}
		if i := firstDiff(got, w.New); i >= 0 {
			off := w.Offset + int64(i)
			t.Errorf("%s: differs from disk at LBA %d offset %d: disk %#02x, write %#02x",
				w.What, off/int64(sectorSize), off%int64(sectorSize), got[i], w.New[i])
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// fileAt opens path for reading; it is closed when the test ends.
func fileAt(t *testing.T, path string) io.ReaderAt {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sgdiskVerify runs sgdisk -v on path and fails unless it finds no problems.
func sgdiskVerify(t *testing.T, path string) {
	t.Helper()
	testutil.NeedTool(t, "sgdisk")
	out := testutil.Run(t, "sgdisk", "-v", path)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", filepath.Base(path), out)
	}
}

// sfdiskTable is the part of sfdisk --json output the tests compare.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string       `json:"label"`
		ID         string       `json:"id"`
		FirstLBA   uint64       `json:"firstlba"`
		LastLBA    uint64       `json:"lastlba"`
		SectorSize int          `json:"sectorsize"`
		Partitions []sfdiskPart `json:"partitions"`
	} `json:"partitiontable"`
}

type sfdiskPart struct {
	Node  string `json:"node"`
	Start uint64 `json:"start"`
	Size  uint64 `json:"size"`
	Type  string `json:"type"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	Attrs string `json:"attrs"`
}

func sfdiskJSON(t *testing.T, path string) sfdiskTable {
	t.Helper()
	testutil.NeedTool(t, "sfdisk")
	out, err := testutil.RunErr("sfdisk", "--json", path)
	if err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	var st sfdiskTable
	if i := strings.IndexByte(out, '{'); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	return st
}

// sfdiskAttrs renders attributes the way libfdisk does.
func sfdiskAttrs(a Attributes) string {
	var parts []string
	for _, n := range []struct {
		bit  Attributes
		name string
	}{{AttrPlatformRequired, "RequiredPartition"}, {AttrNoBlockIO, "NoBlockIOProtocol"}, {AttrLegacyBIOSBootable, "LegacyBIOSBootable"}} {
		if a&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	var bits []string
	for i := 48; i < 64; i++ {
		if a&(1<<i) != 0 {
			bits = append(bits, fmt.Sprint(i))
		}
	}
	if len(bits) > 0 {
		parts = append(parts, "GUID:"+strings.Join(bits, ","))
	}
	return strings.Join(parts, " ")
}

// compareSfdisk compares a parsed table with sfdisk's view of the image.
func compareSfdisk(t *testing.T, tab *Table, path string) {
	t.Helper()
	st := sfdiskJSON(t, path).PartitionTable
	if st.Label != "gpt" || !strings.EqualFold(st.ID, tab.Header.DiskGUID.String()) ||
		st.FirstLBA != tab.Header.FirstUsableLBA || st.LastLBA != tab.Header.LastUsableLBA || st.SectorSize != tab.SectorSize {
		t.Errorf("sfdisk header %+v, ours %+v", st, tab.Header)
	}
	ps := tab.Partitions()
	if len(ps) != len(st.Partitions) {
		t.Fatalf("sfdisk sees %d partitions, we see %d", len(st.Partitions), len(ps))
	}
	for i, p := range ps {
		s := st.Partitions[i]
		want := sfdiskPart{Node: s.Node, Start: p.FirstLBA, Size: p.Sectors(),
			Type: strings.ToUpper(p.Type.String()), UUID: strings.ToUpper(p.UniqueGUID.String()),
			Name: p.Label(), Attrs: sfdiskAttrs(p.Attributes)}
		if !strings.HasSuffix(s.Node, fmt.Sprint(p.Number)) {
			t.Errorf("sfdisk node %s for our partition %d", s.Node, p.Number)
		}
		if s != want {
			t.Errorf("partition %d: sfdisk %+v, ours %+v", p.Number, s, want)
		}
	}
}

// Mutation helpers for corrupt variants.

func le32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func le64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// fixHeaderCRC recomputes the CRC of the header at byte offset off.
func fixHeaderCRC(b []byte, off int) {
	size := int(binary.LittleEndian.Uint32(b[off+offHeaderSize:]))
	h := bytes.Clone(b[off : off+size])
	le32(h, offHeaderCRC32, 0)
	le32(b, off+offHeaderCRC32, crc32.ChecksumIEEE(h))
}

// fixArrayCRC recomputes the entry array CRC of the header at byte offset
// off (sector size ss) and then its header CRC.
func fixArrayCRC(b []byte, off, ss int) {
	pe := int(binary.LittleEndian.Uint64(b[off+offPartitionEntry:]))
	n := int(binary.LittleEndian.Uint32(b[off+offNumberOfEntries:]) * binary.LittleEndian.Uint32(b[off+offSizeOfEntry:]))
	le32(b, off+offEntryArrayCRC32, crc32.ChecksumIEEE(b[pe*ss:pe*ss+n]))
	fixHeaderCRC(b, off)
}
