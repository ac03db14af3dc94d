package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/winrepart/winrepart/diag"
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
	LBA    uint64 // where the header was looked for (logical sectors)
	Header Header // the header as decoded; partial or zero when Err says so

	// EntryArray holds the raw entry array as read, trimmed as
	// [Table.Entries] is: up to the end of its last entry that is not all
	// zero (in all SizeOfPartitionEntry bytes). The rest of the array, up
	// to NumberOfPartitionEntries*SizeOfPartitionEntry bytes, is zero. It
	// is read-only; two copies whose arrays hold the same bytes share one
	// slice. It is empty when every entry is zero, and nil when the array
	// was not read (Err says why).
	EntryArray []byte

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

// zeros is compared with runs of bytes expected to be zero.
var zeros [2048]byte

// nonZero returns a copy of b, or nil when b is all zero.
func nonZero(b []byte) []byte {
	if usedBytes(b, 1) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// usedBytes returns the length of b up to the end of its last entry of
// size bytes that is not all zero (0 when b is all zero). The length of b
// is a multiple of size.
func usedBytes(b []byte, size int) int {
	end := len(b)
	// Unused entries usually fill the end of the array: compare them with
	// zero a chunk at a time, then 8 bytes, then one.
	for end >= len(zeros) && bytes.Equal(b[end-len(zeros):end], zeros[:]) {
		end -= len(zeros)
	}
	for end >= 8 && binary.LittleEndian.Uint64(b[end-8:end]) == 0 {
		end -= 8
	}
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return (end + size - 1) / size * size
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

	Header Header // the header of the copy in use

	// Entries holds the entry array in use, unused entries too, up to at
	// least its last entry that is not all zero: entry number n (1-based)
	// is Entries[n-1], and every entry past len(Entries), up to
	// NumberOfPartitionEntries, is all zero (in all SizeOfPartitionEntry
	// bytes, EntryExtra's included). Read returns the shortest such slice
	// (a few entries on a Windows disk, nil when all are zero); New
	// returns all NumberOfPartitionEntries. Both forms are valid, as is
	// any length in between: len(Entries) <= NumberOfPartitionEntries.
	// The edits extend Entries when they fill an entry past its end;
	// Writes writes the missing entries as zeros.
	Entries []Entry

	Source Source // which copy Header and Entries came from

	// EntryExtra holds the bytes past the first 128 of every entry of
	// Entries when SizeOfPartitionEntry is larger than 128, so that they
	// are written back unchanged: those of Entries[i] are
	// EntryExtra[i*k:(i+1)*k], with k = SizeOfPartitionEntry-128 (Writes
	// refuses any other length than k*len(Entries)). It is nil for
	// 128-byte entries.
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
// The Table keeps of each array only its entries up to the last one that
// is not all zero (see [Table.Entries] and [Copy.EntryArray]).
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
	// after it, into a scratch buffer: only the used part of the array is
	// copied out.
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
	pcrc := readCopy(r, t.Primary, Primary, 1, sectors, ss, head, nil, 0)
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
	readCopy(r, t.Backup, Backup, backupLBA, sectors, ss, tail, t.Primary, pcrc)
	if bp != nil {
		scratch.Put(bp)
	}

	switch {
	case t.Primary.Valid():
		t.adopt(Primary, t.Primary)
	case t.Backup.Valid():
		t.adopt(Backup, t.Backup)
	default:
		return nil, &ReadError{Primary: t.Primary.Err, Backup: t.Backup.Err}
	}
	return t, nil
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

// adopt makes copy c (from src) the one in use, decoding its entries, and
// derives where Writes puts both copies.
func (t *Table) adopt(src Source, c *Copy) {
	t.Source = src
	t.Header = c.Header.clone()
	t.Entries, t.EntryExtra = decodeEntries(c.EntryArray, int(t.Header.SizeOfPartitionEntry))
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

// decodeEntries decodes the entries of size bytes in b into a new slice,
// and returns them with their bytes past 128 in another (nil for 128-byte
// entries). Both are nil when b is empty.
func decodeEntries(b []byte, size int) ([]Entry, []byte) {
	n := len(b) / size
	if n == 0 {
		return nil, nil
	}
	es := make([]Entry, n)
	var extra []byte
	if k := size - MinEntrySize; k > 0 {
		extra = make([]byte, n*k)
		for i := range n {
			copy(extra[i*k:(i+1)*k], b[i*size+MinEntrySize:(i+1)*size])
		}
	}
	for i := range es {
		// All-zero entries decode to the zero Entry.
		if eb := b[i*size : i*size+MinEntrySize]; !zeroEntry(eb) {
			es[i].decode(eb)
		}
	}
	return es, extra
}

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
// The array is read into scratch (or used in w), checked there, and only
// its used part kept (see [Copy.EntryArray]). When same is not nil and its
// array holds the same bytes, c shares same's slice, and sameCRC (the CRC
// computed over same's array) stands for the array's CRC.
func readCopy(r io.ReaderAt, c *Copy, src Source, lba, sectors, ss uint64, w window, same *Copy, sameCRC uint32) uint32 {
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
	arr := w.sectors(pe, n)
	if arr == nil {
		ap := scratchBuf(size)
		defer scratch.Put(ap)
		arr = *ap
		if _, err := r.ReadAt(arr, int64(pe*ss)); err != nil {
			c.Err = fmt.Errorf("gpt: reading %s entry array at LBA %d: %w", src, pe, err)
			return 0
		}
	}
	arr = arr[:size]
	used := usedBytes(arr, int(h.SizeOfPartitionEntry))
	var got uint32
	if same != nil && same.EntryArray != nil && same.Header.SizeOfPartitionEntry == h.SizeOfPartitionEntry &&
		same.Header.arrayBytes() == h.arrayBytes() && bytes.Equal(arr[:used], same.EntryArray) {
		// The same bytes as the array sameCRC was computed over (the rest
		// of both is zero).
		c.EntryArray, got = same.EntryArray, sameCRC
	} else {
		c.EntryArray = make([]byte, used) // no spare capacity; make+copy is compiled without zeroing
		copy(c.EntryArray, arr)
		got = crc32.ChecksumIEEE(arr)
	}
	if got != h.PartitionEntryArrayCRC32 {
		fail("PartitionEntryArrayCRC32", uint64(h.PartitionEntryArrayCRC32), fmt.Sprintf("computed %#08x", got), ErrEntryArrayCRC)
	}
	return got
}

// scratch holds buffers for reading headers and entry arrays, which Read
// checks in place and keeps only the used part of.
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
// it is used. An entry past len(Entries) is the zero Entry, unused, as is
// a number outside the array.
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
	u.Entries = slices.Clone(t.Entries)
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

// EntryArrayBytes returns the entry array [Table.Writes] writes for the
// table as it stands: Entries with their EntryExtra, then zero entries up
// to NumberOfPartitionEntries. Its CRC32 is the header's
// PartitionEntryArrayCRC32 once written. It fails with ErrLayout when the
// entries do not fit the header.
func (t *Table) EntryArrayBytes() ([]byte, error) {
	if err := t.checkEntries(); err != nil {
		return nil, err
	}
	return t.entryArray(), nil
}

// entryArray encodes t.Entries with t.EntryExtra, then zero entries up to
// NumberOfPartitionEntries; checkEntries has checked the lengths.
func (t *Table) entryArray() []byte {
	size := t.Header.arrayBytes()
	b := make([]byte, 0, size) // zeroed up to its capacity
	k := int(t.Header.SizeOfPartitionEntry) - MinEntrySize
	for i := range t.Entries {
		b, _ = t.Entries[i].AppendBinary(b)
		b = append(b, t.EntryExtra[i*k:(i+1)*k]...)
	}
	return b[:size]
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
	if err := t.checkEntries(); err != nil {
		return err
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

// checkEntries verifies that Entries and EntryExtra fit the header.
func (t *Table) checkEntries() error {
	h := &t.Header
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrLayout}, args...)...)
	}
	if h.SizeOfPartitionEntry < MinEntrySize || h.SizeOfPartitionEntry%8 != 0 {
		return bad("SizeOfPartitionEntry %d", h.SizeOfPartitionEntry)
	}
	if h.arrayBytes() > MaxEntryArrayBytes {
		return bad("entry array of %d bytes", h.arrayBytes())
	}
	if uint64(len(t.Entries)) > uint64(h.NumberOfPartitionEntries) {
		return bad("%d entries, more than NumberOfPartitionEntries %d", len(t.Entries), h.NumberOfPartitionEntries)
	}
	if k := int(h.SizeOfPartitionEntry) - MinEntrySize; len(t.EntryExtra) != len(t.Entries)*k {
		return bad("%d bytes of EntryExtra for %d entries of %d bytes", len(t.EntryExtra), len(t.Entries), h.SizeOfPartitionEntry)
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
// read reproduce the bytes on the disk exactly. The writes carry no Old
// bytes: they are computed from t, not read from the disk.
func (t *Table) Writes() ([]diag.Write, error) {
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
	ws := []diag.Write{
		{Offset: int64(t.BackupEntryLBA) * ss, New: array,
			What: fmt.Sprintf("backup partition entry array (LBA %d-%d)", t.BackupEntryLBA, t.BackupEntryLBA+n-1)},
		{Offset: int64(t.BackupHeaderLBA) * ss, New: t.headerSector(&b, t.Backup),
			What: fmt.Sprintf("backup GPT header (LBA %d)", t.BackupHeaderLBA)},
		{Offset: int64(t.PrimaryEntryLBA) * ss, New: bytes.Clone(array),
			What: fmt.Sprintf("primary partition entry array (LBA %d-%d)", t.PrimaryEntryLBA, t.PrimaryEntryLBA+n-1)},
		{Offset: ss, New: t.headerSector(&p, t.Primary), What: "primary GPT header (LBA 1)"},
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
		ws = append(ws, diag.Write{Offset: 0, New: data, What: "protective MBR (LBA 0)"})
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
