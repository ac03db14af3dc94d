package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Type is the FAT variant of a volume, decided by its count of clusters as
// the FAT specification says (never by the BS_FilSysType string).
type Type int

// FAT variants.
const (
	FAT12 Type = 12
	FAT16 Type = 16
	FAT32 Type = 32
)

// String returns "FAT12", "FAT16" or "FAT32".
func (t Type) String() string { return fmt.Sprintf("FAT%d", int(t)) }

// Limits of the FAT specification and of this reader.
const (
	bootSectorSize = 512
	dirEntrySize   = 32
	// MaxDirEntries is the most entries a FAT directory may hold (the
	// specification's 65536, i.e. 2 MiB of entries); a directory chain
	// longer than that is an error.
	MaxDirEntries = 65536
	// maxClusters bounds FAT32's 28-bit cluster numbers.
	maxClusters = 0x0FFFFFF5
	fat12Max    = 4085  // a volume with fewer clusters is FAT12
	fat16Max    = 65525 // ... with fewer (and at least fat12Max) FAT16
)

// BPB is the BIOS parameter block of a FAT volume, with the field names of
// Microsoft's FAT specification (BPB_BytsPerSec is BytesPerSector, ...).
// FAT32-only fields are zero on FAT12/16 volumes.
type BPB struct {
	OEMName           string
	BytesPerSector    uint16
	SectorsPerCluster uint8
	ReservedSectors   uint16
	NumFATs           uint8
	RootEntries       uint16
	TotalSectors16    uint16
	Media             uint8
	FATSize16         uint16
	HiddenSectors     uint32
	TotalSectors32    uint32
	// FAT32 only.
	FATSize32   uint32
	ExtFlags    uint16
	FSVersion   uint16
	RootCluster uint32
	// VolumeID and VolumeLabel come from the extended boot signature
	// (0x29) when it is present.
	VolumeID    uint32
	VolumeLabel string
}

// Volume is an opened FAT volume. It reads metadata on demand: opening
// reads the boot sector only, and nothing is cached except the last FAT
// sector read. A Volume is not safe for concurrent use.
type Volume struct {
	BPB BPB
	// Type is the FAT variant.
	Type Type

	r    io.ReaderAt
	size int64

	clusterSize  int64
	clusters     uint32 // count of data clusters; valid numbers are 2..clusters+1
	fatStart     int64  // byte offset of the active FAT
	rootStart    int64  // FAT12/16: byte offset of the fixed root directory
	rootEntries  int    // FAT12/16: entries in it
	dataStart    int64  // byte offset of cluster 2
	totalSectors uint32

	fatBuf    []byte
	fatBufOff int64
}

// Open reads and validates the boot sector of the FAT volume in r, which
// holds size bytes (the partition's size: the volume must fit in it).
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	if size < bootSectorSize {
		return nil, &GeometryError{Field: "volume size", Value: uint64(max(size, 0)), Detail: "smaller than a boot sector", Err: ErrNotFAT}
	}
	b := make([]byte, bootSectorSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("fat: reading the boot sector: %w", err)
	}
	if !(b[0] == 0xEB && b[2] == 0x90 || b[0] == 0xE9) {
		return nil, &GeometryError{Field: "BS_jmpBoot", Value: uint64(b[0]), Detail: "not a jump instruction (EB xx 90 or E9 xx xx)", Err: ErrNotFAT}
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, &GeometryError{Field: "signature", Value: uint64(binary.LittleEndian.Uint16(b[510:])), Detail: "no 0xAA55 at offset 510", Err: ErrNotFAT}
	}
	le := binary.LittleEndian
	p := BPB{
		OEMName:           strings.TrimRight(string(b[3:11]), " \x00"),
		BytesPerSector:    le.Uint16(b[11:]),
		SectorsPerCluster: b[13],
		ReservedSectors:   le.Uint16(b[14:]),
		NumFATs:           b[16],
		RootEntries:       le.Uint16(b[17:]),
		TotalSectors16:    le.Uint16(b[19:]),
		Media:             b[21],
		FATSize16:         le.Uint16(b[22:]),
		HiddenSectors:     le.Uint32(b[28:]),
		TotalSectors32:    le.Uint32(b[32:]),
	}
	ext := 36 // offset of the extended boot record (BS_DrvNum)
	if p.FATSize16 == 0 {
		p.FATSize32 = le.Uint32(b[36:])
		p.ExtFlags = le.Uint16(b[40:])
		p.FSVersion = le.Uint16(b[42:])
		p.RootCluster = le.Uint32(b[44:])
		ext = 64
	}
	if b[ext+2] == 0x29 {
		p.VolumeID = le.Uint32(b[ext+3:])
		p.VolumeLabel = strings.TrimRight(string(b[ext+7:ext+18]), " \x00")
	}
	v := &Volume{BPB: p, r: r, size: size}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return v, nil
}

func geom(field string, value uint64, format string, args ...any) error {
	return &GeometryError{Field: field, Value: value, Detail: fmt.Sprintf(format, args...)}
}

// validate checks the BPB and derives the volume's layout.
func (v *Volume) validate() error {
	p := &v.BPB
	bps := int64(p.BytesPerSector)
	switch bps {
	case 512, 1024, 2048, 4096:
	default:
		return geom("BPB_BytsPerSec", uint64(bps), "not 512, 1024, 2048 or 4096")
	}
	spc := p.SectorsPerCluster
	if spc == 0 || spc&(spc-1) != 0 {
		return geom("BPB_SecPerClus", uint64(spc), "not a power of two from 1 to 128")
	}
	v.clusterSize = bps * int64(spc)
	if p.ReservedSectors == 0 {
		return geom("BPB_RsvdSecCnt", 0, "must be at least 1")
	}
	if p.NumFATs == 0 {
		return geom("BPB_NumFATs", 0, "must be at least 1")
	}
	if p.Media != 0xF0 && p.Media < 0xF8 {
		return geom("BPB_Media", uint64(p.Media), "not 0xF0 or 0xF8-0xFF")
	}
	total := uint32(p.TotalSectors16)
	switch {
	case p.TotalSectors16 != 0 && p.TotalSectors32 != 0 && uint32(p.TotalSectors16) != p.TotalSectors32:
		return geom("BPB_TotSec32", uint64(p.TotalSectors32), "differs from BPB_TotSec16 (%d)", p.TotalSectors16)
	case total == 0:
		total = p.TotalSectors32
	}
	if total == 0 {
		return geom("BPB_TotSec32", 0, "no sector count")
	}
	if int64(total)*bps > v.size {
		return geom("BPB_TotSec32", uint64(total), "the volume (%d bytes) is larger than its container (%d bytes)", int64(total)*bps, v.size)
	}
	v.totalSectors = total
	fatSize := uint32(p.FATSize16)
	if fatSize == 0 {
		fatSize = p.FATSize32
	}
	if fatSize == 0 {
		return geom("BPB_FATSz32", 0, "no FAT size")
	}
	rootSectors := (uint32(p.RootEntries)*dirEntrySize + uint32(bps) - 1) / uint32(bps)
	meta := uint64(p.ReservedSectors) + uint64(p.NumFATs)*uint64(fatSize) + uint64(rootSectors)
	if meta >= uint64(total) {
		return geom("BPB_FATSz32", uint64(fatSize), "reserved sectors, FATs and root directory (%d sectors) leave no data area in %d sectors", meta, total)
	}
	count := (uint64(total) - meta) / uint64(spc)
	if count == 0 {
		return geom("BPB_TotSec32", uint64(total), "no whole cluster in the data area")
	}
	if count > maxClusters {
		return geom("BPB_TotSec32", uint64(total), "%d clusters, more than FAT32 can number", count)
	}
	v.clusters = uint32(count)
	switch {
	case count < fat12Max:
		v.Type = FAT12
	case count < fat16Max:
		v.Type = FAT16
	default:
		v.Type = FAT32
	}
	// The BPB's shape must agree with the variant the cluster count
	// makes: FAT32 has no fixed root directory and a 32-bit FAT size.
	if (v.Type == FAT32) != (p.FATSize16 == 0) {
		return geom("BPB_FATSz16", uint64(p.FATSize16), "%d clusters make the volume %s, but the BPB is shaped for %s", count, v.Type, map[bool]string{true: "FAT32", false: "FAT12/16"}[p.FATSize16 == 0])
	}
	// The FAT must have an entry for every cluster.
	need := (count + 2) * 4
	switch v.Type {
	case FAT12:
		need = ((count+2)*3 + 1) / 2
	case FAT16:
		need = (count + 2) * 2
	}
	if uint64(fatSize)*uint64(bps) < need {
		return geom("BPB_FATSz32", uint64(fatSize), "a FAT of %d bytes cannot hold %d clusters' entries (%d bytes)", uint64(fatSize)*uint64(bps), count, need)
	}
	active := uint64(0)
	if v.Type == FAT32 {
		if p.RootEntries != 0 {
			return geom("BPB_RootEntCnt", uint64(p.RootEntries), "must be 0 on FAT32")
		}
		if p.FSVersion != 0 {
			return geom("BPB_FSVer", uint64(p.FSVersion), "unknown FAT32 version")
		}
		if p.ExtFlags&0x80 != 0 {
			active = uint64(p.ExtFlags & 0x0F)
			if active >= uint64(p.NumFATs) {
				return geom("BPB_ExtFlags", uint64(p.ExtFlags), "active FAT %d of %d", active, p.NumFATs)
			}
		}
		if p.RootCluster < 2 || p.RootCluster > v.clusters+1 {
			return &GeometryError{Field: "BPB_RootClus", Value: uint64(p.RootCluster), Detail: fmt.Sprintf("not a cluster of the data area (2-%d)", v.clusters+1)}
		}
	} else {
		if p.RootEntries == 0 {
			return geom("BPB_RootEntCnt", 0, "a FAT12/16 volume needs a root directory")
		}
		v.rootEntries = int(p.RootEntries)
	}
	v.fatStart = (int64(p.ReservedSectors) + int64(active)*int64(fatSize)) * bps
	v.rootStart = (int64(p.ReservedSectors) + int64(p.NumFATs)*int64(fatSize)) * bps
	v.dataStart = v.rootStart + int64(rootSectors)*bps
	return nil
}

// ClusterSize returns the size of a cluster in bytes.
func (v *Volume) ClusterSize() int64 { return v.clusterSize }

// Clusters returns the count of data clusters (numbered 2 to Clusters()+1).
func (v *Volume) Clusters() uint32 { return v.clusters }

// Size returns the volume's size in bytes (total sectors times sector
// size); it may be smaller than its partition.
func (v *Volume) Size() int64 { return int64(v.totalSectors) * int64(v.BPB.BytesPerSector) }

// entry returns the FAT entry of cluster c (2 <= c <= clusters+1), masked
// to the variant's width.
func (v *Volume) entry(c uint32) (uint32, error) {
	var off int64
	switch v.Type {
	case FAT12:
		off = int64(c) + int64(c)/2
	case FAT16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	bps := int64(v.BPB.BytesPerSector)
	sec := off / bps * bps
	// A FAT12 entry may straddle two sectors: keep two in the buffer.
	if v.fatBuf == nil || sec != v.fatBufOff {
		if v.fatBuf == nil {
			v.fatBuf = make([]byte, 2*bps)
		}
		clear(v.fatBuf)
		v.fatBufOff = -1
		n, err := v.r.ReadAt(v.fatBuf, v.fatStart+sec)
		if err != nil && int64(n) < off-sec+4 {
			return 0, fmt.Errorf("fat: reading the FAT at byte %d: %w", v.fatStart+sec, err)
		}
		v.fatBufOff = sec
	}
	b := v.fatBuf[off-sec:]
	switch v.Type {
	case FAT12:
		x := uint32(binary.LittleEndian.Uint16(b))
		if c&1 == 1 {
			return x >> 4, nil
		}
		return x & 0x0FFF, nil
	case FAT16:
		return uint32(binary.LittleEndian.Uint16(b)), nil
	}
	return binary.LittleEndian.Uint32(b) & 0x0FFFFFFF, nil
}

// eoc and bad return whether a FAT entry marks the end of a chain or a bad
// cluster.
func (v *Volume) eoc(x uint32) bool {
	switch v.Type {
	case FAT12:
		return x >= 0xFF8
	case FAT16:
		return x >= 0xFFF8
	}
	return x >= 0x0FFFFFF8
}

func (v *Volume) bad(x uint32) bool {
	switch v.Type {
	case FAT12:
		return x == 0xFF7
	case FAT16:
		return x == 0xFFF7
	}
	return x == 0x0FFFFFF7
}

// chain returns the clusters of the chain starting at start. It fails
// when the chain holds more than maxLen clusters, or (exact) fewer than
// maxLen; when a cluster is out of range, free, bad or seen twice.
func (v *Volume) chain(start uint32, maxLen int, exact bool) ([]uint32, error) {
	fail := func(c uint32, i int, err error) ([]uint32, error) {
		return nil, &ChainError{Start: start, Cluster: c, Index: i, Err: err}
	}
	seen := make(map[uint32]bool)
	var out []uint32
	c := start
	for i := 0; ; i++ {
		if c < 2 || c > v.clusters+1 {
			return fail(c, i, ErrClusterRange)
		}
		if seen[c] {
			return fail(c, i, ErrChainLoop)
		}
		if len(out) == maxLen {
			return fail(c, i, ErrChainLength)
		}
		seen[c] = true
		out = append(out, c)
		next, err := v.entry(c)
		if err != nil {
			return nil, err
		}
		switch {
		case v.eoc(next):
			if exact && len(out) != maxLen {
				return fail(c, i, ErrChainLength)
			}
			return out, nil
		case next == 0 || v.bad(next):
			return fail(next, i+1, ErrBadCluster)
		}
		c = next
	}
}

// read returns the bytes of the clusters, concatenated and cut to n.
func (v *Volume) read(clusters []uint32, n int64) ([]byte, error) {
	buf := make([]byte, n)
	for i, c := range clusters {
		lo := int64(i) * v.clusterSize
		if lo >= n {
			break
		}
		hi := min(lo+v.clusterSize, n)
		off := v.dataStart + int64(c-2)*v.clusterSize
		if _, err := v.r.ReadAt(buf[lo:hi], off); err != nil {
			return nil, fmt.Errorf("fat: reading cluster %d at byte %d: %w", c, off, err)
		}
	}
	return buf, nil
}

// File is a directory entry.
type File struct {
	// Name is the long (VFAT) name when the entry has a valid one, else
	// the short name as Windows shows it (lower-cased where the entry's
	// case flags say so).
	Name string
	// ShortName is the 8.3 name as stored ("BOOTX64.EFI").
	ShortName string
	// Attr is the attribute byte (0x10 directory, 0x02 hidden, ...).
	Attr uint8
	// Cluster is the first cluster (0 for an empty file).
	Cluster uint32
	// Size is the file's size in bytes (0 for directories).
	Size uint32
}

// Attribute bits of a directory entry.
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrVolumeID  = 0x08
	AttrDirectory = 0x10
	AttrArchive   = 0x20
	attrLongName  = 0x0F
)

// IsDir reports whether f is a directory.
func (f *File) IsDir() bool { return f.Attr&AttrDirectory != 0 }

// root returns the raw entries of the root directory.
func (v *Volume) rootDir() ([]byte, error) {
	if v.Type == FAT32 {
		return v.dirData(v.BPB.RootCluster)
	}
	buf := make([]byte, v.rootEntries*dirEntrySize)
	if _, err := v.r.ReadAt(buf, v.rootStart); err != nil {
		return nil, fmt.Errorf("fat: reading the root directory at byte %d: %w", v.rootStart, err)
	}
	return buf, nil
}

// dirData returns the raw entries of the directory starting at cluster c.
func (v *Volume) dirData(c uint32) ([]byte, error) {
	maxLen := int((MaxDirEntries*dirEntrySize + v.clusterSize - 1) / v.clusterSize)
	cl, err := v.chain(c, maxLen, false)
	if err != nil {
		return nil, err
	}
	return v.read(cl, int64(len(cl))*v.clusterSize)
}

// parseDir decodes raw directory entries, skipping deleted entries, the
// volume label, "." and "..".
func (v *Volume) parseDir(raw []byte) []File {
	var out []File
	var lfn []uint16 // long name being assembled, in order
	var lfnSum byte
	lfnNext := 0 // ordinal expected next (counting down), 0 when none
	for i := 0; i+dirEntrySize <= len(raw); i += dirEntrySize {
		e := raw[i : i+dirEntrySize]
		if e[0] == 0x00 {
			break
		}
		if e[0] == 0xE5 {
			lfnNext = 0
			continue
		}
		attr := e[11]
		if attr&0x3F == attrLongName {
			ord := int(e[0] & 0x3F)
			switch {
			case e[0]&0x40 != 0 && ord >= 1 && ord <= 20:
				lfn = make([]uint16, 13*ord)
				lfnSum = e[13]
				lfnNext = ord
			case lfnNext == 0 || ord != lfnNext || e[13] != lfnSum:
				lfnNext = 0
				continue
			}
			base := (ord - 1) * 13
			for j, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				lfn[base+j] = binary.LittleEndian.Uint16(e[o:])
			}
			lfnNext = ord - 1
			if lfnNext == 0 {
				lfnNext = -1 // complete: the short entry must follow
			}
			continue
		}
		complete := lfnNext == -1
		lfnNext = 0
		if attr&AttrVolumeID != 0 {
			continue
		}
		short := shortName(e)
		if short == "." || short == ".." {
			continue
		}
		f := File{ShortName: short, Attr: attr, Size: binary.LittleEndian.Uint32(e[28:]),
			Cluster: uint32(binary.LittleEndian.Uint16(e[26:]))}
		if v.Type == FAT32 {
			f.Cluster |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		f.Name = displayShort(e)
		if complete && checksum(e[:11]) == lfnSum {
			n := len(lfn)
			for j, u := range lfn {
				if u == 0 {
					n = j
					break
				}
			}
			if n > 0 && n <= 255 {
				f.Name = string(utf16.Decode(lfn[:n]))
			}
		}
		out = append(out, f)
	}
	return out
}

// shortName returns the stored 8.3 name: "NAME.EXT" without padding.
func shortName(e []byte) string {
	name := []byte(strings.TrimRight(string(e[0:8]), " "))
	if len(name) > 0 && name[0] == 0x05 {
		name[0] = 0xE5
	}
	ext := strings.TrimRight(string(e[8:11]), " ")
	if ext == "" {
		return latin1(name)
	}
	return latin1(name) + "." + latin1([]byte(ext))
}

// displayShort applies the case flags Windows NT stores in byte 12 (0x08:
// base in lower case, 0x10: extension in lower case).
func displayShort(e []byte) string {
	name := []byte(strings.TrimRight(string(e[0:8]), " "))
	if len(name) > 0 && name[0] == 0x05 {
		name[0] = 0xE5
	}
	ext := []byte(strings.TrimRight(string(e[8:11]), " "))
	if e[12]&0x08 != 0 {
		name = []byte(strings.ToLower(string(name)))
	}
	if e[12]&0x10 != 0 {
		ext = []byte(strings.ToLower(string(ext)))
	}
	if len(ext) == 0 {
		return latin1(name)
	}
	return latin1(name) + "." + latin1(ext)
}

// latin1 decodes OEM bytes as Latin-1: exact for ASCII, which is all a
// BCD path needs; other bytes still compare consistently.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// checksum is the short-name checksum long-name entries carry.
func checksum(name []byte) byte {
	var s byte
	for _, c := range name {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// ReadDir returns the entries of the directory at path ("\" or "" for the
// root; "\" and "/" both separate components), without "." and "..".
func (v *Volume) ReadDir(path string) ([]File, error) {
	raw, err := v.dirOf(path)
	if err != nil {
		return nil, err
	}
	return v.parseDir(raw), nil
}

// dirOf returns the raw entries of the directory at path.
func (v *Volume) dirOf(path string) ([]byte, error) {
	parts := split(path)
	raw, err := v.rootDir()
	if err != nil {
		return nil, &PathError{Path: path, Component: `\`, Err: err}
	}
	for _, name := range parts {
		f, err := v.find(raw, name)
		if err != nil {
			return nil, &PathError{Path: path, Component: name, Err: err}
		}
		if !f.IsDir() {
			return nil, &PathError{Path: path, Component: name, Err: ErrNotDir}
		}
		if raw, err = v.dirData(f.Cluster); err != nil {
			return nil, &PathError{Path: path, Component: name, Err: err}
		}
	}
	return raw, nil
}

// find returns the entry called name in the raw directory, comparing long
// and short names case-insensitively.
func (v *Volume) find(raw []byte, name string) (*File, error) {
	for _, f := range v.parseDir(raw) {
		if strings.EqualFold(f.Name, name) || strings.EqualFold(f.ShortName, name) {
			return &f, nil
		}
	}
	return nil, ErrNotFound
}

func split(path string) []string {
	var parts []string
	for _, p := range strings.FieldsFunc(path, func(r rune) bool { return r == '\\' || r == '/' }) {
		if p != "." {
			parts = append(parts, p)
		}
	}
	return parts
}

// Lookup returns the directory entry at path (case-insensitive, long or
// short names). The root directory itself has no entry: Lookup of the
// root returns a File with only AttrDirectory set.
func (v *Volume) Lookup(path string) (*File, error) {
	parts := split(path)
	if len(parts) == 0 {
		return &File{Name: `\`, Attr: AttrDirectory}, nil
	}
	dir := strings.Join(parts[:len(parts)-1], `\`)
	raw, err := v.dirOf(dir)
	if err != nil {
		var pe *PathError
		if e, ok := err.(*PathError); ok {
			pe = e
			pe.Path = path
			return nil, pe
		}
		return nil, err
	}
	name := parts[len(parts)-1]
	f, err := v.find(raw, name)
	if err != nil {
		return nil, &PathError{Path: path, Component: name, Err: err}
	}
	return f, nil
}

// Read returns the contents of file f, refusing files larger than limit
// bytes before reading anything. The chain must hold exactly the clusters
// the file's size needs.
func (v *Volume) Read(f *File, limit int64) ([]byte, error) {
	if f.IsDir() {
		return nil, ErrIsDir
	}
	if int64(f.Size) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, f.Size, limit)
	}
	if f.Size == 0 {
		if f.Cluster != 0 && (f.Cluster < 2 || f.Cluster > v.clusters+1) {
			return nil, &ChainError{Start: f.Cluster, Cluster: f.Cluster, Err: ErrClusterRange}
		}
		return []byte{}, nil
	}
	n := int((int64(f.Size) + v.clusterSize - 1) / v.clusterSize)
	cl, err := v.chain(f.Cluster, n, true)
	if err != nil {
		return nil, err
	}
	return v.read(cl, int64(f.Size))
}

// ReadFile looks path up and returns its contents, at most limit bytes
// (a larger file is an [ErrTooLarge] error).
func (v *Volume) ReadFile(path string, limit int64) ([]byte, error) {
	f, err := v.Lookup(path)
	if err != nil {
		return nil, err
	}
	b, err := v.Read(f, limit)
	if err != nil {
		return nil, &PathError{Path: path, Component: f.Name, Err: err}
	}
	return b, nil
}
