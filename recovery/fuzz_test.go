package recovery_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// FuzzInspect patches fuzzer bytes into a small valid Windows disk image at
// one of a few metadata "hot spots" and runs Inspect on the result: it must
// not panic, must return within a bounded time, must not allocate without
// bound, and must either fail with a typed error or return a Layout.
//
// Encoding of an input (see hotPatch.decode):
//
//	byte 0     bits 0-4: the region (modulo the number of regions)
//	           bit 5:    the base image (gpt-win11-standard or mbr-extended-logical)
//	           bit 6:    repair checksums after patching (GPT CRCs, NTFS
//	                     update sequence arrays) so the bytes reach the
//	                     deeper parsers
//	bytes 1-2  little-endian offset into the region (modulo its length)
//	bytes 3-   the bytes written there (clipped at the region's end)
//
// The region "truncate" instead cuts the disk short: the offset scales the
// size down (offset/65536 of it).
func FuzzInspect(f *testing.F) {
	bases := []*fuzzBase{
		newFuzzBase(f, "gpt-win11-standard"),
		newFuzzBase(f, "mbr-extended-logical"),
	}
	// Seeds: every region of both bases, touched with a few shapes of data.
	for bi, b := range bases {
		for ri := range b.regions {
			sel := byte(ri) | byte(bi)<<5
			f.Add([]byte{sel, 0, 0})
			f.Add([]byte{sel, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			f.Add([]byte{sel | 0x40, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0})
			f.Add([]byte{sel | 0x40, 0x18, 0, 0xff, 0xff, 0xff, 0x7f})
		}
	}
	f.Add([]byte{0x40, 0x50, 0x02, 0xff, 0xff, 0xff, 0xff})       // primary GPT: entry count 0xFFFFFFFF, CRCs fixed
	f.Add([]byte{0x40, 0x54, 0x02, 0x00, 0x00, 0x00, 0x00})       // entry size 0
	f.Add([]byte{0x40, 0x0c, 0x02, 0x00, 0x00, 0x01, 0x00})       // header size 64 KiB
	f.Add([]byte{0x40, 0x28, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff}) // my LBA
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		base := bases[int(in[0]>>5&1)%len(bases)]
		dev := base.decode(in)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		type result struct {
			l   *recovery.Layout
			err error
		}
		done := make(chan result, 1)
		go func() {
			l, err := recovery.Inspect(context.Background(), dev, recovery.Options{})
			done <- result{l, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("Inspect took more than 30 s on %x", in)
		}
		runtime.ReadMemStats(&ms1)
		if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 64<<20 {
			t.Fatalf("Inspect allocated %d MiB", alloc>>20)
		}
		if r.err != nil {
			var te *recovery.TableError
			if !errors.As(r.err, &te) && !errors.Is(r.err, recovery.ErrBadGeometry) && !errors.Is(r.err, recovery.ErrNoPartitionTable) {
				t.Fatalf("Inspect: untyped error %T: %v", r.err, r.err)
			}
			if r.l != nil {
				t.Fatal("Inspect returned both a Layout and an error")
			}
			return
		}
		if r.l == nil {
			t.Fatal("Inspect returned neither a Layout nor an error")
		}
		_ = r.l.String() // the text view must survive whatever was read
		if _, err := r.l.MarshalJSON(); err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
	})
}

// regionKind says how a region's checksums are repaired.
type regionKind int

const (
	kindPlain     regionKind = iota
	kindGPT                  // a GPT header sector followed by (or preceded by) its entries
	kindRecords              // NTFS multi-sector protected blocks of blockSize bytes
	kindTruncate             // not bytes: cut the disk short
	kindGPTBackup            // the backup entries followed by the backup header
)

// region is one hot spot of a base image, in bytes from the disk start.
type region struct {
	name      string
	off, n    int64
	kind      regionKind
	blockSize int64 // kindRecords
}

// fuzzBase is a fixture opened read-only, with its hot spots.
type fuzzBase struct {
	f       *os.File
	size    int64
	sector  int
	regions []region
}

func newFuzzBase(tb testing.TB, name string) *fuzzBase {
	img := testutil.Fixture(tb, name)
	fh, err := os.Open(img)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fh.Close() })
	fi, err := fh.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	b := &fuzzBase{f: fh, size: fi.Size(), sector: 512}
	l, err := recovery.Inspect(context.Background(), b.decode(nil), recovery.Options{})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if l.OS == 0 || l.WinRE == nil || l.WinRE.Partition == 0 {
		tb.Fatalf("%s: no C: or WinRE partition:\n%s", name, l)
	}
	ss := int64(l.SectorSize)
	if l.Scheme == recovery.SchemeGPT {
		b.regions = append(b.regions,
			region{name: "primary GPT", off: ss, n: 33 * ss, kind: kindGPT},
			region{name: "backup GPT", off: b.size - 33*ss, n: 33 * ss, kind: kindGPTBackup},
			region{name: "protective MBR", off: 0, n: ss})
	} else {
		b.regions = append(b.regions, region{name: "MBR", off: 0, n: ss})
		// Every EBR of the chain, followed from the MBR.
		mbr := make([]byte, 512)
		if _, err := fh.ReadAt(mbr, 0); err != nil {
			tb.Fatal(err)
		}
		var ext int64
		for i := 0; i < 4; i++ {
			if e := mbr[446+16*i:]; e[4] == 0x05 || e[4] == 0x0f {
				ext = int64(binary.LittleEndian.Uint32(e[8:]))
			}
		}
		for ebr, n := ext, 0; ebr != 0 && n < 8; n++ {
			b.regions = append(b.regions, region{name: fmt.Sprintf("EBR %d", n+1), off: ebr * ss, n: ss})
			sec := make([]byte, 512)
			if _, err := fh.ReadAt(sec, ebr*ss); err != nil {
				tb.Fatal(err)
			}
			next := int64(binary.LittleEndian.Uint32(sec[446+16+8:]))
			if next == 0 {
				break
			}
			ebr = ext + next
		}
	}
	for i := range l.Partitions {
		p := &l.Partitions[i]
		switch p.Number {
		case l.OS:
			b.addVolume(tb, l, p, "C:", `\`, `\Windows`, `\Windows\System32`, `\Windows\System32\Recovery`, `\Windows\System32\Recovery\ReAgent.xml`)
		case l.WinRE.Partition:
			b.addVolume(tb, l, p, "WinRE", `\Recovery\WindowsRE`, `\Recovery\WindowsRE\Winre.wim`)
		}
	}
	b.regions = append(b.regions, region{name: "truncate", kind: kindTruncate})
	if len(b.regions) > 32 {
		tb.Fatalf("%s: %d regions; the selector has 5 bits", name, len(b.regions))
	}
	return b
}

// addVolume adds the hot spots of the NTFS volume in p: its boot sectors,
// its first MFT records, and the MFT record, first index block or first
// data bytes of each path.
func (b *fuzzBase) addVolume(tb testing.TB, l *recovery.Layout, p *recovery.Partition, label string, paths ...string) {
	ss := int64(l.SectorSize)
	start := p.StartBytes(l.SectorSize)
	v, err := ntfs.Open(io.NewSectionReader(b.f, start, p.SizeBytes), p.SizeBytes)
	if err != nil {
		tb.Fatalf("%s: %v", label, err)
	}
	rs := v.Boot.MFTRecordSize()
	add := func(what string, off, n int64, k regionKind, bs int64) {
		b.regions = append(b.regions, region{name: label + " " + what, off: start + off, n: n, kind: k, blockSize: bs})
	}
	add("boot sector", 0, ss, kindPlain, 0)
	add("backup boot sector", p.SizeBytes-ss, ss, kindPlain, 0)
	ext, err := v.RecordExtents(0)
	if err != nil {
		tb.Fatal(err)
	}
	add("MFT records 0-15", ext[0].VolumeOffset, 16*rs, kindRecords, rs)
	for _, path := range paths {
		f, err := v.Lookup(path)
		if err != nil {
			tb.Fatalf("%s %s: %v", label, path, err)
		}
		if f.Record >= 16 {
			ext, err := v.RecordExtents(f.Record)
			if err != nil {
				tb.Fatal(err)
			}
			add("record of "+path, ext[0].VolumeOffset, rs, kindRecords, rs)
		}
		switch {
		case f.IsDir:
			r, err := v.ReadRecord(f.Record)
			if err != nil {
				tb.Fatal(err)
			}
			if a := r.Find(ntfs.AttrIndexAllocation, "$I30"); a != nil && len(a.Runs) > 0 {
				ib := v.Boot.IndexBlockSize()
				add("index of "+path, a.Runs[0].LCN*v.ClusterSize(), ib, kindRecords, ib)
			}
		case !f.Resident && len(f.Runs) > 0:
			add("data of "+path, f.Runs[0].LCN*v.ClusterSize(), min(f.Size, 4096), kindPlain, 0)
		}
	}
}

// decode turns a fuzz input into a device: the base image with one patch.
func (b *fuzzBase) decode(in []byte) *patchedDisk {
	d := &patchedDisk{base: b.f, size: b.size, sector: b.sector}
	if len(in) == 0 || len(b.regions) == 0 {
		return d
	}
	r := b.regions[int(in[0]&0x1f)%len(b.regions)]
	fix := in[0]&0x40 != 0
	var rel int64
	if len(in) >= 3 {
		rel = int64(binary.LittleEndian.Uint16(in[1:3]))
	}
	var data []byte
	if len(in) > 3 {
		data = in[3:]
	}
	if r.kind == kindTruncate {
		d.size = b.size * rel / 65536
		return d
	}
	rel %= r.n
	data = data[:min(int64(len(data)), r.n-rel)]
	buf := make([]byte, r.n)
	if _, err := b.f.ReadAt(buf, r.off); err != nil {
		return d
	}
	switch {
	case fix && r.kind == kindRecords:
		// Patch the records as NTFS sees them (fixups undone), then
		// protect them again with their own update sequence numbers.
		for o := int64(0); o+r.blockSize <= r.n; o += r.blockSize {
			blk := buf[o : o+r.blockSize]
			usn := ntfs.UpdateSequenceNumber(blk)
			if ntfs.ApplyFixups(blk) != nil {
				continue
			}
			lo, hi := max(rel, o), min(rel+int64(len(data)), o+r.blockSize)
			if lo < hi {
				copy(blk[lo-o:], data[lo-rel:hi-rel])
			}
			_ = ntfs.ProtectFixups(blk, usn)
		}
	default:
		copy(buf[rel:], data)
		if fix && r.kind == kindGPT {
			fixGPT(buf[:512], buf[512:])
		}
		if fix && r.kind == kindGPTBackup {
			fixGPT(buf[len(buf)-512:], buf[:len(buf)-512])
		}
	}
	d.patchOff, d.patch = r.off, buf
	return d
}

// fixGPT recomputes a GPT header's entry-array and header CRCs, taking the
// entries from ents when the header's count and size describe no more.
func fixGPT(hdr, ents []byte) {
	n, sz := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	if total := uint64(n) * uint64(sz); total <= uint64(len(ents)) {
		binary.LittleEndian.PutUint32(hdr[88:], crc32.ChecksumIEEE(ents[:total]))
	}
	hs := binary.LittleEndian.Uint32(hdr[12:])
	if hs < 92 || hs > 512 {
		return
	}
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr[:hs]))
}

// patchedDisk is a read-only disk: a base file of which size bytes are
// visible, with patch laid over it at patchOff.
type patchedDisk struct {
	base     io.ReaderAt
	size     int64
	sector   int
	patchOff int64
	patch    []byte
}

func (d *patchedDisk) Size() int64     { return d.size }
func (d *patchedDisk) SectorSize() int { return d.sector }

func (d *patchedDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := d.size - off; int64(n) > rest {
		n = int(rest)
	}
	got, err := d.base.ReadAt(p[:n], off)
	if err != nil && !(errors.Is(err, io.EOF) && got == n) {
		return got, err
	}
	lo, hi := max(off, d.patchOff), min(off+int64(n), d.patchOff+int64(len(d.patch)))
	if lo < hi {
		copy(p[lo-off:hi-off], d.patch[lo-d.patchOff:hi-d.patchOff])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestFuzzInspectRegions checks FuzzInspect's encoding: every hot spot
// lies on the disk, and patching nothing (with checksum repair) leaves the
// Layout as it was, so the repair itself breaks nothing.
func TestFuzzInspectRegions(t *testing.T) {
	for _, name := range []string{"gpt-win11-standard", "mbr-extended-logical"} {
		b := newFuzzBase(t, name)
		want, err := recovery.Inspect(context.Background(), b.decode(nil), recovery.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range b.regions {
			if r.kind == kindTruncate {
				continue
			}
			if r.off < 0 || r.n <= 0 || r.off+r.n > b.size {
				t.Errorf("%s: region %q [%d, +%d) is off the disk", name, r.name, r.off, r.n)
				continue
			}
			got, err := recovery.Inspect(context.Background(), b.decode([]byte{byte(i) | 0x40, 0, 0}), recovery.Options{})
			if err != nil {
				t.Errorf("%s %q: %v", name, r.name, err)
				continue
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("%s %q: an empty patch changed the layout (-want +got):\n%s", name, r.name, diff)
			}
		}
		t.Logf("%s: %d regions", name, len(b.regions))
		for i, r := range b.regions {
			t.Logf("  %2d %-50s off %d len %d", i, r.name, r.off, r.n)
		}
	}
}
