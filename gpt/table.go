package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/winrepart/winrepart/mbr"
)

// MaxEntryArrayBytes bounds the partition entry array [Read] accepts
// (4 MiB, as libfdisk does): 32768 entries of 128 bytes. Nothing larger is
// allocated whatever a header claims.
const MaxEntryArrayBytes = 4 << 20

// DefaultEntries is the number of entries [New] creates (UEFI's minimum
// array size of 16 KiB with 128-byte entries).
const DefaultEntries = 128

// Source names a copy of the table.
type Source int

// The two copies of a GPT.
const (
	Primary Source = iota + 1 // the header at LBA 1 and its array
	Backup                    // the header at the end of the disk and its array
)

// String returns "primary" or "backup".
func (s Source) String() string {
	switch s {
	case Primary:
		return "primary"
	case Backup:
		return "backup"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Copy is one copy of the table as [Read] found it.
type Copy struct {
	LBA        uint64 // where the header was looked for (logical sectors)
	Header     Header // the header as decoded; partial or zero when Err says so
	EntryArray []byte // the raw entry array, read-only (identical arrays share one slice); nil when not read
	SectorTail []byte // the bytes of the header's sector past HeaderSize; nil when all zero (as they should be)
	Err        error  // nil when this copy passed every check
}

// Valid reports whether the copy passed every check of [Read].
func (c *Copy) Valid() bool { return c != nil && c.Err == nil }

func (c *Copy) clone() *Copy {
	if c == nil {
		return nil
	}
	d := *c
	d.Header = c.Header.clone()
	d.EntryArray = cloneBytes(c.EntryArray)
	d.SectorTail = cloneBytes(c.SectorTail)
	return &d
}

var zeroSector [512]byte

// nonZero returns a copy of b, or nil when b is all zero.
func nonZero(b []byte) []byte {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), len(zeroSector))
		if !bytes.Equal(rest[:n], zeroSector[:n]) {
			return bytes.Clone(b)
		}
		rest = rest[n:]
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (h Header) clone() Header {
	h.Extra = cloneBytes(h.Extra)
	return h
}

// Table is a GUID partition table: the copy in use, decoded, plus both
// copies and the protective MBR as read. Edits change Header, Entries and
// the layout fields; [Table.Writes] turns them into bytes for both copies.
type Table struct {
	SectorSize int   // logical sector size in bytes (512 or 4096, or another power of two)
	DiskSize   int64 // disk size in bytes

	Header  Header  // the header of the copy in use
	Entries []Entry // the whole entry array in use: NumberOfPartitionEntries items, unused ones too
	Source  Source  // which copy Header and Entries came from

	// EntryExtra holds the bytes past the first 128 of every entry when
	// SizeOfPartitionEntry is larger than 128, so that they are written
	// back unchanged: those of Entries[i] are EntryExtra[i*k:(i+1)*k],
	// with k = SizeOfPartitionEntry-128 (Writes refuses any other length).
	// It is nil for 128-byte entries.
	EntryExtra []byte

	// Where Writes puts each copy (logical sectors). The primary header is
	// always at LBA 1. Writes derives each header's MyLBA, AlternateLBA and
	// PartitionEntryLBA from these fields.
	PrimaryEntryLBA uint64
	BackupEntryLBA  uint64
	BackupHeaderLBA uint64

	Primary, Backup *Copy       // each copy as read; nil for a table made by New
	ProtectiveMBR   *mbr.Record // LBA 0 as read (nil when it has no 0x55AA signature)
}

// Partition is a used entry with its position in the array.
type Partition struct {
	Number int // 1-based index in the entry array, as the kernel numbers them (sda1)
	Entry
}

// checkGeometry validates the sector size and returns the disk size in
// sectors.
func checkGeometry(diskSize int64, sectorSize int) (uint64, error) {
	if sectorSize < 512 || sectorSize > 65536 || sectorSize&(sectorSize-1) != 0 {
		return 0, fmt.Errorf("%w: %d", ErrSectorSize, sectorSize)
	}
	if diskSize < 0 || diskSize/int64(sectorSize) < 6 {
		return 0, fmt.Errorf("%w: %d bytes", ErrDiskTooSmall, diskSize)
	}
	return uint64(diskSize / int64(sectorSize)), nil
}

// Read reads a GPT from r, a disk of diskSize bytes with the given logical
// sector size. It reads the protective MBR, the primary header at LBA 1 and
// the backup header (at the primary's AlternateLBA when the primary is
// valid, else at the last LBA), checks both, and uses the primary when it is
// valid, else the backup; Table.Source says which, and Table.Primary.Err
// why the primary was rejected. When neither copy is valid Read returns a
// [*ReadError] holding both reasons.
//
// Read is strict about the copy it uses (signature, header size and CRC,
// MyLBA, entry size, array bounds and CRC, usable range) and lenient about
// everything else: overlapping partitions, mismatched copies or a backup
// not at the end of the disk are reported by [Table.Verify].
//
// On a disk laid out as UEFI recommends (each array beside its header)
// Read issues two ReadAt calls: one for LBA 0, the primary header and its
// array, one for the backup array and header. Other layouts, or a failed
// read-ahead, fall back to one ReadAt per structure with the same results.
func Read(r io.ReaderAt, diskSize int64, sectorSize int) (*Table, error) {
	sectors, err := checkGeometry(diskSize, sectorSize)
	if err != nil {
		return nil, err
	}
	// The table, both copies and the MBR in one allocation.
	blk := new(struct {
		t    Table
		p, b Copy
		m    mbr.Record
	})
	t := &blk.t
	t.SectorSize, t.DiskSize = sectorSize, diskSize

	// Read ahead LBA 0, the primary header and an array of the default size
	// after it, into a scratch buffer: the primary array is then copied out
	// exactly (into an entryBlock when it has the default size), which
	// costs less than keeping the whole buffer: every byte allocated brings
	// the next collection closer.
	ss := uint64(sectorSize)
	head := window{}
	var hp *[]byte
	if n := 2 + ceilDiv(DefaultEntries*MinEntrySize, ss); readAhead && n <= sectors {
		hp = scratchBuf(int(n * ss))
		if _, err := r.ReadAt(*hp, 0); err == nil {
			head = window{b: *hp, lba: 0, ss: ss}
		}
	}
	if mb := head.sectors(0, 1); mb != nil {
		if blk.m.UnmarshalBinary(mb) == nil {
			t.ProtectiveMBR = &blk.m
		}
	} else {
		var mb [mbr.Size]byte
		if _, err := r.ReadAt(mb[:], 0); err == nil && blk.m.UnmarshalBinary(mb[:]) == nil {
			t.ProtectiveMBR = &blk.m
		}
	}
	t.Primary = &blk.p
	var eb *entryBlock
	pcrc := readCopy(r, t.Primary, Primary, 1, sectors, ss, head, nil, 0, &eb)
	if hp != nil {
		scratch.Put(hp)
	}

	backupLBA := sectors - 1
	guess := ceilDiv(DefaultEntries*MinEntrySize, ss)
	if t.Primary.Valid() {
		if alt := t.Primary.Header.AlternateLBA; alt > 1 && alt < sectors {
			backupLBA = alt
		}
		guess = t.Primary.Header.arraySectors(sectorSize) // at most MaxEntryArrayBytes
	}
	// Read ahead the backup header and the array UEFI puts just before it,
	// into a scratch buffer: the array is usually identical to the primary.
	tail := window{}
	var bp *[]byte
	if readAhead && guess < backupLBA {
		bp = scratchBuf(int((guess + 1) * ss))
		if _, err := r.ReadAt(*bp, int64((backupLBA-guess)*ss)); err == nil {
			tail = window{b: *bp, lba: backupLBA - guess, ss: ss}
		}
	}
	t.Backup = &blk.b
	readCopy(r, t.Backup, Backup, backupLBA, sectors, ss, tail, t.Primary.EntryArray, pcrc, nil)
	if bp != nil {
		scratch.Put(bp)
	}

	switch {
	case t.Primary.Valid():
		var es []Entry
		if eb != nil {
			es = eb.es[:] // the entries of the array in eb.raw
		}
		t.adopt(Primary, t.Primary, es)
	case t.Backup.Valid():
		t.adopt(Backup, t.Backup, nil)
	default:
		return nil, &ReadError{Primary: t.Primary.Err, Backup: t.Backup.Err}
	}
	return t, nil
}

// entryBlock holds an entry array of the default size (128 entries of 128
// bytes) and room for the entries decoded from it: one allocation costs
// less than two of 16 KiB. Read keeps the primary array in raw and, when it
// uses the primary, decodes Table.Entries into es (so that either keeps the
// other alive).
type entryBlock struct {
	raw [DefaultEntries * MinEntrySize]byte
	es  [DefaultEntries]Entry
}

// readAhead enables the two read-ahead ReadAt calls of Read; tests turn it
// off to check that both paths give the same Table.
var readAhead = true

// window is a run of sectors read ahead, starting at lba.
type window struct {
	b   []byte // scratch: slices of it must be copied to be kept
	lba uint64
	ss  uint64
}

// sectors returns the bytes of n sectors from lba when the window holds
// them (and holds lba itself, even for n == 0), else nil.
func (w window) sectors(lba, n uint64) []byte {
	if w.b == nil || lba < w.lba {
		return nil
	}
	have := uint64(len(w.b)) / w.ss
	i := lba - w.lba
	if i >= have || n > have-i {
		return nil
	}
	return w.b[i*w.ss : (i+n)*w.ss : (i+n)*w.ss]
}

// adopt makes copy c (from src) the one in use and derives where Writes
// puts both copies. The entries are decoded into es when it is all zero
// and has room for them, else into a new slice.
func (t *Table) adopt(src Source, c *Copy, es []Entry) {
	t.Source = src
	t.Header = c.Header.clone()
	t.Entries, t.EntryExtra = decodeEntries(c.EntryArray, int(t.Header.SizeOfPartitionEntry), es)
	n := t.Header.arraySectors(t.SectorSize)
	if src == Primary {
		t.PrimaryEntryLBA = t.Header.PartitionEntryLBA
		// Where Read looked for the backup: AlternateLBA when it lies on
		// the disk, else the last LBA.
		t.BackupHeaderLBA = t.Header.AlternateLBA
		if t.Backup != nil {
			t.BackupHeaderLBA = t.Backup.LBA
		}
		t.BackupEntryLBA = 0
		if t.Backup.Valid() && t.Backup.LBA == t.BackupHeaderLBA {
			t.BackupEntryLBA = t.Backup.Header.PartitionEntryLBA
		} else if t.BackupHeaderLBA >= n {
			t.BackupEntryLBA = t.BackupHeaderLBA - n
		}
		return
	}
	t.BackupHeaderLBA = t.Header.MyLBA
	t.BackupEntryLBA = t.Header.PartitionEntryLBA
	t.PrimaryEntryLBA = 2
	if t.Primary.Valid() {
		t.PrimaryEntryLBA = t.Primary.Header.PartitionEntryLBA
	}
}

// decodeEntries decodes an array of entries of size bytes into es, which
// must be all zero, when it has exactly room for them, else into a new
// slice. It returns the entries and their bytes past 128 in one slice (nil
// for 128-byte entries).
func decodeEntries(b []byte, size int, es []Entry) ([]Entry, []byte) {
	if len(es) != len(b)/size {
		es = make([]Entry, len(b)/size)
	}
	var extra []byte
	if k := size - MinEntrySize; k > 0 {
		extra = make([]byte, len(es)*k)
		for i := range es {
			copy(extra[i*k:(i+1)*k], b[i*size+MinEntrySize:(i+1)*size])
		}
	}
	for i := 0; i < len(es); i++ {
		// Skip runs of all-zero entries (they decode to the zero Entry)
		// zeroRun entries at a time when the entries are 128 bytes.
		if size == MinEntrySize && i%zeroRun == 0 && i+zeroRun <= len(es) &&
			bytes.Equal(b[i*size:(i+zeroRun)*size], zeroEntries[:]) {
			i += zeroRun - 1
			continue
		}
		eb := b[i*size : i*size+MinEntrySize]
		if zeroEntry(eb) {
			continue
		}
		es[i].decode(eb)
	}
	return es, extra
}

// zeroRun is how many 128-byte entries decodeEntries compares with zero at
// once: unused entries usually fill the end of the array.
const zeroRun = 16

var zeroEntries [zeroRun * MinEntrySize]byte

// zeroEntry reports whether the 128 bytes of b are all zero. OR-ing words
// inline is several times faster than a memequal call per entry.
func zeroEntry(b []byte) bool {
	b = b[:MinEntrySize]
	le := binary.LittleEndian
	var x uint64
	for i := 0; i < MinEntrySize; i += 32 {
		x |= le.Uint64(b[i:]) | le.Uint64(b[i+8:]) | le.Uint64(b[i+16:]) | le.Uint64(b[i+24:])
	}
	return x == 0
}

// readCopy reads and checks the header at lba and its entry array into c,
// taking sectors from w when it holds them, and returns the CRC computed
// over the array (0 when none was read).
//
// When same is not nil and the array read is byte-identical to it, the copy
// shares same instead of holding a second slice, and sameCRC (the CRC of
// same) stands for the array's CRC.
//
// When eb is not nil (same is then nil) and the array has the default size
// with 128-byte entries, it is kept in the raw half of a new entryBlock,
// put in *eb.
func readCopy(r io.ReaderAt, c *Copy, src Source, lba, sectors, ss uint64, w window, same []byte, sameCRC uint32, eb **entryBlock) uint32 {
	c.LBA = lba
	fail := func(field string, value uint64, detail string, err error) uint32 {
		c.Err = &HeaderError{Copy: src, LBA: lba, Field: field, Value: value, Detail: detail, Err: err}
		return 0
	}
	buf := w.sectors(lba, 1)
	if buf == nil {
		bp := scratchBuf(int(ss))
		defer scratch.Put(bp)
		buf = *bp
		if _, err := r.ReadAt(buf, int64(lba*ss)); err != nil {
			c.Err = fmt.Errorf("gpt: reading %s header at LBA %d: %w", src, lba, err)
			return 0
		}
	}
	h := &c.Header
	if err := h.UnmarshalBinary(buf); err != nil {
		switch {
		case errors.Is(err, ErrNoSignature):
			return fail("Signature", binary.BigEndian.Uint64(buf[offSignature:]), `want "EFI PART"`, ErrNoSignature)
		case errors.Is(err, ErrHeaderSize):
			return fail("HeaderSize", uint64(h.HeaderSize), fmt.Sprintf("want 92..%d", ss), ErrHeaderSize)
		case errors.Is(err, ErrHeaderCRC):
			c.SectorTail = nonZero(buf[h.HeaderSize:])
			want := headerCRC(buf[:h.HeaderSize])
			return fail("HeaderCRC32", uint64(h.HeaderCRC32), fmt.Sprintf("computed %#08x", want), ErrHeaderCRC)
		}
		c.Err = err
		return 0
	}
	c.SectorTail = nonZero(buf[h.HeaderSize:])
	if h.MyLBA != lba {
		return fail("MyLBA", h.MyLBA, fmt.Sprintf("read at LBA %d", lba), ErrMyLBA)
	}
	if h.SizeOfPartitionEntry < MinEntrySize || h.SizeOfPartitionEntry%8 != 0 {
		return fail("SizeOfPartitionEntry", uint64(h.SizeOfPartitionEntry), "want 128 or a larger multiple of 8", ErrEntrySize)
	}
	if h.arrayBytes() > MaxEntryArrayBytes {
		return fail("NumberOfPartitionEntries", uint64(h.NumberOfPartitionEntries),
			fmt.Sprintf("%d entries of %d bytes exceed %d bytes", h.NumberOfPartitionEntries, h.SizeOfPartitionEntry, MaxEntryArrayBytes),
			ErrEntryArrayTooBig)
	}
	if h.FirstUsableLBA > h.LastUsableLBA || h.LastUsableLBA >= sectors {
		return fail("LastUsableLBA", h.LastUsableLBA,
			fmt.Sprintf("FirstUsableLBA %d, disk has %d sectors", h.FirstUsableLBA, sectors), ErrUsableRange)
	}
	if h.FirstUsableLBA <= lba && lba <= h.LastUsableLBA {
		return fail("FirstUsableLBA", h.FirstUsableLBA,
			fmt.Sprintf("usable range %d-%d contains the header", h.FirstUsableLBA, h.LastUsableLBA), ErrUsableRange)
	}
	n := h.arraySectors(int(ss))
	pe := h.PartitionEntryLBA
	if pe == 0 || pe >= sectors || n > sectors-pe || (n > 0 && pe <= lba && lba < pe+n) {
		return fail("PartitionEntryLBA", pe,
			fmt.Sprintf("%d sectors of entries, disk has %d sectors, header at %d", n, sectors, lba), ErrEntryArrayPlace)
	}
	if n > 0 && pe <= h.LastUsableLBA && pe+n-1 >= h.FirstUsableLBA {
		return fail("PartitionEntryLBA", pe,
			fmt.Sprintf("array LBA %d-%d, usable range %d-%d", pe, pe+n-1, h.FirstUsableLBA, h.LastUsableLBA), ErrEntryArrayOverlap)
	}
	size := int(h.arrayBytes()) // bounded by MaxEntryArrayBytes above
	var arr []byte
	if eb != nil && size == len(entryBlock{}.raw) && h.SizeOfPartitionEntry == MinEntrySize {
		*eb = new(entryBlock)
		arr = (*eb).raw[:]
	}
	var err error
	switch b := w.sectors(pe, n); {
	case b != nil && arr != nil:
		copy(arr, b)
	case b != nil:
		arr = share(b[:size], same)
	case arr != nil:
		_, err = r.ReadAt(arr, int64(pe*ss))
	default:
		arr, err = readArray(r, int64(pe*ss), size, same)
	}
	if err != nil {
		c.Err = fmt.Errorf("gpt: reading %s entry array at LBA %d: %w", src, pe, err)
		return 0
	}
	c.EntryArray = arr
	var got uint32
	if len(arr) > 0 && len(same) == len(arr) && &arr[0] == &same[0] {
		got = sameCRC // the same bytes as the array sameCRC was computed over
	} else {
		got = crc32.ChecksumIEEE(arr)
	}
	if got != h.PartitionEntryArrayCRC32 {
		fail("PartitionEntryArrayCRC32", uint64(h.PartitionEntryArrayCRC32), fmt.Sprintf("computed %#08x", got), ErrEntryArrayCRC)
	}
	return got
}

// scratch holds buffers for reading headers, and backup arrays that
// usually turn out identical to the primary one.
var scratch sync.Pool

// scratchBuf returns a pooled buffer of n bytes; give it back with
// scratch.Put.
func scratchBuf(n int) *[]byte {
	bp, _ := scratch.Get().(*[]byte)
	if bp == nil || cap(*bp) < n {
		b := make([]byte, n)
		return &b
	}
	*bp = (*bp)[:n]
	return bp
}

// share returns same when b holds the same bytes, else a copy of b (with
// no spare capacity; make+copy is compiled without zeroing).
func share(b, same []byte) []byte {
	if same != nil && bytes.Equal(b, same) {
		return same
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// readArray reads n bytes at off. When same has n bytes and the bytes read
// equal it, same is returned and nothing is allocated.
func readArray(r io.ReaderAt, off int64, n int, same []byte) ([]byte, error) {
	if same == nil || len(same) != n {
		b := make([]byte, n)
		_, err := r.ReadAt(b, off)
		return b, err
	}
	bp := scratchBuf(n)
	defer scratch.Put(bp)
	if _, err := r.ReadAt(*bp, off); err != nil {
		return nil, err
	}
	return share(*bp, same), nil
}

// Partitions returns the used entries in array order.
func (t *Table) Partitions() []Partition {
	// Test Type rather than call IsUsed: its value receiver would copy
	// every 128-byte entry.
	n := 0
	for i := range t.Entries {
		if t.Entries[i].Type != TypeUnused {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	ps := make([]Partition, 0, n)
	for i := range t.Entries {
		if t.Entries[i].Type != TypeUnused {
			ps = append(ps, Partition{Number: i + 1, Entry: t.Entries[i]})
		}
	}
	return ps
}

// Partition returns the entry with the given 1-based number, and whether
// it is used.
func (t *Table) Partition(number int) (Entry, bool) {
	if number < 1 || number > len(t.Entries) {
		return Entry{}, false
	}
	e := t.Entries[number-1]
	return e, e.IsUsed()
}

// Clone returns a deep copy of t.
func (t *Table) Clone() *Table {
	u := *t
	u.Header = t.Header.clone()
	u.Entries = make([]Entry, len(t.Entries))
	copy(u.Entries, t.Entries)
	u.EntryExtra = cloneBytes(t.EntryExtra)
	u.Primary = t.Primary.clone()
	u.Backup = t.Backup.clone()
	if t.ProtectiveMBR != nil {
		m := *t.ProtectiveMBR
		u.ProtectiveMBR = &m
	}
	return &u
}

// sectors returns the disk size in logical sectors.
func (t *Table) sectors() uint64 { return uint64(t.DiskSize / int64(t.SectorSize)) }

// Write is one write [Table.Writes] asks for.
type Write struct {
	Offset int64  // byte offset on the disk
	Data   []byte // bytes to write there
	What   string // what the bytes are, for logs and dry runs
}

// entryArray encodes t.Entries with t.EntryExtra, whose length
// checkLayout has checked.
func (t *Table) entryArray() []byte {
	b := make([]byte, 0, t.Header.arrayBytes())
	k := int(t.Header.SizeOfPartitionEntry) - MinEntrySize
	for i := range t.Entries {
		b, _ = t.Entries[i].AppendBinary(b)
		b = append(b, t.EntryExtra[i*k:(i+1)*k]...)
	}
	return b
}

// checkLayout verifies that t can be written as it stands.
func (t *Table) checkLayout() error {
	sectors, err := checkGeometry(t.DiskSize, t.SectorSize)
	if err != nil {
		return err
	}
	h := &t.Header
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrLayout}, args...)...)
	}
	if h.HeaderSize < MinHeaderSize || int(h.HeaderSize) > t.SectorSize || int(h.HeaderSize) != h.size() {
		return bad("HeaderSize %d with %d bytes of Extra, sector size %d", h.HeaderSize, len(h.Extra), t.SectorSize)
	}
	if h.SizeOfPartitionEntry < MinEntrySize || h.SizeOfPartitionEntry%8 != 0 {
		return bad("SizeOfPartitionEntry %d", h.SizeOfPartitionEntry)
	}
	if h.arrayBytes() > MaxEntryArrayBytes {
		return bad("entry array of %d bytes", h.arrayBytes())
	}
	if uint64(len(t.Entries)) != uint64(h.NumberOfPartitionEntries) {
		return bad("%d entries but NumberOfPartitionEntries %d", len(t.Entries), h.NumberOfPartitionEntries)
	}
	if k := int(h.SizeOfPartitionEntry) - MinEntrySize; len(t.EntryExtra) != len(t.Entries)*k {
		return bad("%d bytes of EntryExtra for %d entries of %d bytes", len(t.EntryExtra), len(t.Entries), h.SizeOfPartitionEntry)
	}
	n := h.arraySectors(t.SectorSize)
	switch {
	case t.BackupHeaderLBA <= 1 || t.BackupHeaderLBA >= sectors:
		return bad("backup header LBA %d, disk has %d sectors", t.BackupHeaderLBA, sectors)
	case h.FirstUsableLBA > h.LastUsableLBA:
		return bad("usable range %d-%d", h.FirstUsableLBA, h.LastUsableLBA)
	case t.PrimaryEntryLBA < 2 || t.PrimaryEntryLBA > h.FirstUsableLBA || h.FirstUsableLBA-t.PrimaryEntryLBA < n:
		return bad("primary array at LBA %d (%d sectors), first usable LBA %d", t.PrimaryEntryLBA, n, h.FirstUsableLBA)
	case t.BackupEntryLBA <= h.LastUsableLBA || t.BackupEntryLBA > t.BackupHeaderLBA || t.BackupHeaderLBA-t.BackupEntryLBA < n:
		return bad("backup array at LBA %d (%d sectors), last usable LBA %d, backup header at %d", t.BackupEntryLBA, n, h.LastUsableLBA, t.BackupHeaderLBA)
	}
	return nil
}

// headers returns the primary and backup headers Writes writes, with both
// CRCs filled in.
func (t *Table) headers(array []byte) (p, b Header, err error) {
	p = t.Header.clone()
	p.PartitionEntryArrayCRC32 = crc32.ChecksumIEEE(array)
	b = p.clone()
	p.MyLBA, p.AlternateLBA, p.PartitionEntryLBA = 1, t.BackupHeaderLBA, t.PrimaryEntryLBA
	b.MyLBA, b.AlternateLBA, b.PartitionEntryLBA = t.BackupHeaderLBA, 1, t.BackupEntryLBA
	if p.HeaderCRC32, err = p.CRC32(); err != nil {
		return
	}
	b.HeaderCRC32, err = b.CRC32()
	return
}

// headerSector encodes h into a whole sector, keeping the tail of the
// sector as read when the copy at that LBA was valid.
func (t *Table) headerSector(h *Header, c *Copy) []byte {
	s := make([]byte, 0, t.SectorSize)
	s, _ = h.AppendBinary(s)
	if c.Valid() && c.LBA == h.MyLBA && len(c.SectorTail) == t.SectorSize-len(s) {
		return append(s, c.SectorTail...)
	}
	return s[:t.SectorSize]
}

// Writes returns the writes that put t on the disk, in the order UEFI
// prescribes: backup entry array, backup header, primary entry array,
// primary header, then the protective MBR (only its first 512 bytes; left
// out when the MBR is hybrid, and made fresh by [NewProtectiveMBR] when
// LBA 0 had none). Both copies are derived from Header, Entries and
// EntryExtra with fresh CRCs, so Writes also repairs a damaged copy. Flush
// between the writes when the medium allows it. Writes of a valid table as
// read reproduce the bytes on the disk exactly.
func (t *Table) Writes() ([]Write, error) {
	if err := t.checkLayout(); err != nil {
		return nil, err
	}
	array := t.entryArray()
	p, b, err := t.headers(array)
	if err != nil {
		return nil, err
	}
	ss := int64(t.SectorSize)
	n := t.Header.arraySectors(t.SectorSize)
	ws := []Write{
		{Offset: int64(t.BackupEntryLBA) * ss, Data: array,
			What: fmt.Sprintf("backup partition entry array (LBA %d-%d)", t.BackupEntryLBA, t.BackupEntryLBA+n-1)},
		{Offset: int64(t.BackupHeaderLBA) * ss, Data: t.headerSector(&b, t.Backup),
			What: fmt.Sprintf("backup GPT header (LBA %d)", t.BackupHeaderLBA)},
		{Offset: int64(t.PrimaryEntryLBA) * ss, Data: bytes.Clone(array),
			What: fmt.Sprintf("primary partition entry array (LBA %d-%d)", t.PrimaryEntryLBA, t.PrimaryEntryLBA+n-1)},
		{Offset: ss, Data: t.headerSector(&p, t.Primary), What: "primary GPT header (LBA 1)"},
	}
	m := t.ProtectiveMBR
	if m == nil {
		m = NewProtectiveMBR(t.DiskSize, t.SectorSize)
	}
	if m.Kind() != mbr.KindHybrid {
		data, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		ws = append(ws, Write{Offset: 0, Data: data, What: "protective MBR (LBA 0)"})
	}
	return ws, nil
}

// NewProtectiveMBR returns a protective MBR for a disk of diskSize bytes:
// one entry of type 0xEE from LBA 1 to the end of the disk, its size capped
// at 0xFFFFFFFF sectors for disks over 2 TiB (of 512-byte sectors).
func NewProtectiveMBR(diskSize int64, sectorSize int) *mbr.Record {
	r := &mbr.Record{Signature: 0xAA55}
	r.Entries[0] = protectiveEntry(diskSize, sectorSize)
	return r
}

func protectiveEntry(diskSize int64, sectorSize int) mbr.Entry {
	size := uint64(diskSize/int64(sectorSize)) - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	return mbr.Entry{
		FirstCHS: mbr.CHS{0x00, 0x02, 0x00},
		Type:     mbr.TypeGPTProtective,
		LastCHS:  mbr.CHS{0xFF, 0xFF, 0xFF},
		StartLBA: 1,
		Sectors:  uint32(size),
	}
}
