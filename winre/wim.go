package winre

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// WIM header layout (wimlib's wim_header_disk; Microsoft's WIMHEADER_V1_PACKED).
const (
	wimHeaderSize = 208

	wimOffMagic        = 0   // [8]byte "MSWIM\0\0\0"
	wimOffHeaderSize   = 8   // uint32
	wimOffVersion      = 12  // uint32
	wimOffFlags        = 16  // uint32
	wimOffChunkSize    = 20  // uint32
	wimOffGUID         = 24  // [16]byte
	wimOffPartNumber   = 40  // uint16, 1-based
	wimOffTotalParts   = 42  // uint16
	wimOffImageCount   = 44  // uint32
	wimOffOffsetTable  = 48  // resource header
	wimOffXMLData      = 72  // resource header
	wimOffBootMetadata = 96  // resource header
	wimOffBootIndex    = 120 // uint32, 1-based, 0 = none
	wimOffIntegrity    = 124 // resource header

	// A resource header is 24 bytes: a 56-bit size in the WIM and 8 flag
	// bits, then the offset and the uncompressed size as uint64.
	resOffSizeFlags    = 0
	resOffOffset       = 8
	resOffOriginalSize = 16
	resSizeMask        = 1<<56 - 1
)

var (
	wimMagic        = []byte("MSWIM\x00\x00\x00")
	wimPipableMagic = []byte("WLPWM\x00\x00\x00")
)

// MaxWIMXMLSize bounds the XML resource ReadXML reads. The XML of a
// winre.wim is a few KiB; install images with many editions stay well
// below this.
const MaxWIMXMLSize = 16 << 20

// WIMFlags are the header flags of a WIM file.
type WIMFlags uint32

// Header flags, as named by wimlib and Microsoft's wimgapi.
const (
	WIMFlagReserved         WIMFlags = 0x00000001
	WIMFlagCompression      WIMFlags = 0x00000002 // resources may be compressed
	WIMFlagReadOnly         WIMFlags = 0x00000004
	WIMFlagSpanned          WIMFlags = 0x00000008 // one part of a split WIM
	WIMFlagResourceOnly     WIMFlags = 0x00000010
	WIMFlagMetadataOnly     WIMFlags = 0x00000020
	WIMFlagWriteInProgress  WIMFlags = 0x00000040
	WIMFlagReparsePointFix  WIMFlags = 0x00000080
	WIMFlagCompressReserved WIMFlags = 0x00010000
	WIMFlagCompressXPRESS   WIMFlags = 0x00020000
	WIMFlagCompressLZX      WIMFlags = 0x00040000
	WIMFlagCompressLZMS     WIMFlags = 0x00080000
	WIMFlagCompressXPRESS2  WIMFlags = 0x00200000
)

var wimFlagNames = []struct {
	f    WIMFlags
	name string
}{
	{WIMFlagReserved, "RESERVED"}, {WIMFlagCompression, "COMPRESSION"}, {WIMFlagReadOnly, "READONLY"},
	{WIMFlagSpanned, "SPANNED"}, {WIMFlagResourceOnly, "RESOURCE_ONLY"}, {WIMFlagMetadataOnly, "METADATA_ONLY"},
	{WIMFlagWriteInProgress, "WRITE_IN_PROGRESS"}, {WIMFlagReparsePointFix, "RP_FIX"},
	{WIMFlagCompressReserved, "COMPRESS_RESERVED"}, {WIMFlagCompressXPRESS, "COMPRESS_XPRESS"},
	{WIMFlagCompressLZX, "COMPRESS_LZX"}, {WIMFlagCompressLZMS, "COMPRESS_LZMS"},
	{WIMFlagCompressXPRESS2, "COMPRESS_XPRESS_2"},
}

// String lists the set flags, e.g. "COMPRESSION|RP_FIX|COMPRESS_LZX";
// unknown bits are shown in hex.
func (f WIMFlags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, n := range wimFlagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return strings.Join(parts, "|")
}

// Compression is the compression kind of a WIM's resources.
type Compression int

// Compression kinds.
const (
	CompressionNone Compression = iota
	CompressionXPRESS
	CompressionLZX
	CompressionLZMS
	// CompressionUnknown is reported when the header sets the compression
	// flag with no known kind, or several kinds.
	CompressionUnknown
)

// String returns the name wimlib-imagex prints: "None", "XPRESS", "LZX",
// "LZMS".
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "None"
	case CompressionXPRESS:
		return "XPRESS"
	case CompressionLZX:
		return "LZX"
	case CompressionLZMS:
		return "LZMS"
	}
	return "Unknown"
}

// ResourceFlags are the flags of a WIM resource header.
type ResourceFlags uint8

// Resource flags.
const (
	ResourceFree       ResourceFlags = 0x01
	ResourceMetadata   ResourceFlags = 0x02
	ResourceCompressed ResourceFlags = 0x04
	ResourceSpanned    ResourceFlags = 0x08
	ResourceSolid      ResourceFlags = 0x10 // "packed streams"
)

var resourceFlagNames = []string{"FREE", "METADATA", "COMPRESSED", "SPANNED", "SOLID"}

// String lists the set flags, e.g. "METADATA|COMPRESSED"; unknown bits are
// shown in hex.
func (f ResourceFlags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for i, n := range resourceFlagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := f &^ 0x1F; rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// Resource locates one resource (blob) of a WIM file.
type Resource struct {
	// SizeInWIM is the stored (possibly compressed) size in bytes, 56 bits.
	SizeInWIM uint64
	// Flags are the resource flags.
	Flags ResourceFlags
	// Offset is where the resource starts, in bytes from the start of the
	// file.
	Offset uint64
	// OriginalSize is the uncompressed size in bytes.
	OriginalSize uint64
}

// WIMHeader is the 208-byte header of a Windows Imaging (WIM) file such as
// winre.wim.
type WIMHeader struct {
	// HeaderSize is the header's size field, 208.
	HeaderSize uint32
	// Version is the format version: 0x10D00 for classic WIMs, 0xE00 for
	// solid (ESD-style) ones.
	Version uint32
	// Flags are the header flags.
	Flags WIMFlags
	// ChunkSize is the compression chunk size in bytes (32768 by default).
	ChunkSize uint32
	// GUID identifies the WIM (shared by all parts of a split WIM). Its
	// 16 bytes are kept in file order: String() without dashes equals the
	// hex wimlib-imagex prints.
	GUID uuid.UUID
	// PartNumber is this part's 1-based number; TotalParts the number of
	// parts (1 unless split).
	PartNumber, TotalParts uint16
	// ImageCount is the number of images.
	ImageCount uint32
	// OffsetTable locates the blob (lookup) table.
	OffsetTable Resource
	// XMLData locates the UTF-16LE XML description, read by ReadXML.
	XMLData Resource
	// BootMetadata locates the metadata of the bootable image.
	BootMetadata Resource
	// BootIndex is the 1-based index of the bootable image, 0 for none.
	BootIndex uint32
	// Integrity locates the integrity table (zero when absent).
	Integrity Resource
}

// Compression returns the compression kind the flags announce.
func (h *WIMHeader) Compression() Compression {
	if h.Flags&WIMFlagCompression == 0 {
		return CompressionNone
	}
	switch h.Flags & (WIMFlagCompressXPRESS | WIMFlagCompressLZX | WIMFlagCompressLZMS | WIMFlagCompressXPRESS2) {
	case WIMFlagCompressXPRESS, WIMFlagCompressXPRESS2:
		return CompressionXPRESS
	case WIMFlagCompressLZX:
		return CompressionLZX
	case WIMFlagCompressLZMS:
		return CompressionLZMS
	}
	return CompressionUnknown
}

// ParseWIMHeader reads the header of the WIM file r of the given size in
// bytes. It fails with ErrNotWIM when the magic is missing or the file is
// shorter than a header, ErrPipableWIM for pipable WIMs (magic "WLPWM"),
// and a *WIMError wrapping ErrWIMHeader when the header size is not 208,
// the part numbers or boot index are impossible, or a resource lies beyond
// the end of the file.
func ParseWIMHeader(r io.ReaderAt, size int64) (*WIMHeader, error) {
	if size < wimHeaderSize {
		return nil, ErrNotWIM
	}
	var b [wimHeaderSize]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, err
	}
	switch {
	case bytes.Equal(b[:8], wimPipableMagic):
		return nil, ErrPipableWIM
	case !bytes.Equal(b[:8], wimMagic):
		return nil, ErrNotWIM
	}
	le := binary.LittleEndian
	h := &WIMHeader{
		HeaderSize:   le.Uint32(b[wimOffHeaderSize:]),
		Version:      le.Uint32(b[wimOffVersion:]),
		Flags:        WIMFlags(le.Uint32(b[wimOffFlags:])),
		ChunkSize:    le.Uint32(b[wimOffChunkSize:]),
		PartNumber:   le.Uint16(b[wimOffPartNumber:]),
		TotalParts:   le.Uint16(b[wimOffTotalParts:]),
		ImageCount:   le.Uint32(b[wimOffImageCount:]),
		OffsetTable:  resourceAt(b[wimOffOffsetTable:]),
		XMLData:      resourceAt(b[wimOffXMLData:]),
		BootMetadata: resourceAt(b[wimOffBootMetadata:]),
		BootIndex:    le.Uint32(b[wimOffBootIndex:]),
		Integrity:    resourceAt(b[wimOffIntegrity:]),
	}
	copy(h.GUID[:], b[wimOffGUID:wimOffGUID+16])
	bad := func(field string, v uint64) error { return &WIMError{Field: field, Value: v, Err: ErrWIMHeader} }
	if h.HeaderSize != wimHeaderSize {
		return nil, bad("HeaderSize", uint64(h.HeaderSize))
	}
	if h.TotalParts == 0 {
		return nil, bad("TotalParts", 0)
	}
	if h.PartNumber == 0 || h.PartNumber > h.TotalParts {
		return nil, bad("PartNumber", uint64(h.PartNumber))
	}
	if h.BootIndex > h.ImageCount {
		return nil, bad("BootIndex", uint64(h.BootIndex))
	}
	for _, res := range []struct {
		name string
		r    Resource
	}{{"OffsetTable", h.OffsetTable}, {"XMLData", h.XMLData}, {"BootMetadata", h.BootMetadata}, {"Integrity", h.Integrity}} {
		if res.r.SizeInWIM == 0 {
			continue
		}
		if res.r.Offset > uint64(size) || res.r.SizeInWIM > uint64(size)-res.r.Offset {
			return nil, bad(res.name, res.r.Offset)
		}
	}
	return h, nil
}

func resourceAt(b []byte) Resource {
	le := binary.LittleEndian
	sf := le.Uint64(b[resOffSizeFlags:])
	return Resource{
		SizeInWIM:    sf & resSizeMask,
		Flags:        ResourceFlags(sf >> 56),
		Offset:       le.Uint64(b[resOffOffset:]),
		OriginalSize: le.Uint64(b[resOffOriginalSize:]),
	}
}

// WIMInfo is the XML description of a WIM file.
type WIMInfo struct {
	// TotalBytes is the WIM's TOTALBYTES element: the size of the file up
	// to the XML data, in bytes.
	TotalBytes uint64
	// Images lists the images in document order.
	Images []WIMImage
}

// WIMImage describes one image of a WIM file.
type WIMImage struct {
	// Index is the image's 1-based INDEX attribute.
	Index int
	// Name and Description are the image's NAME and DESCRIPTION.
	Name, Description string
	// DirCount and FileCount are the numbers of directories and files.
	DirCount, FileCount uint64
	// TotalBytes is the total size of the image's files, in bytes.
	TotalBytes uint64
	// Arch is WINDOWS/ARCH (9 for x64).
	Arch Arch
	// ArchPresent reports whether WINDOWS/ARCH was there (0 is x86).
	ArchPresent bool
	// Version is WINDOWS/VERSION.
	Version WindowsVersion
	// EditionID, InstallationType and ProductName are the WINDOWS
	// elements of the same names ("WindowsPE" for WinRE).
	EditionID, InstallationType, ProductName string
}

// WindowsVersion is the WINDOWS/VERSION element of a WIM image.
type WindowsVersion struct {
	// Major and Minor are the version (10.0 for Windows 10 and 11).
	Major, Minor uint32
	// Build is the build number (19045, 22621, 26100, ...).
	Build uint32
	// SPBuild is the update revision (the "2506" of 22621.2506).
	SPBuild uint32
	// SPLevel is the service pack level (0 since Windows 8).
	SPLevel uint32
}

// String returns "major.minor.build.spbuild", e.g. "10.0.22621.2506".
func (v WindowsVersion) String() string {
	return strconv.FormatUint(uint64(v.Major), 10) + "." + strconv.FormatUint(uint64(v.Minor), 10) + "." +
		strconv.FormatUint(uint64(v.Build), 10) + "." + strconv.FormatUint(uint64(v.SPBuild), 10)
}

// Arch is a Windows processor architecture code (PROCESSOR_ARCHITECTURE_*).
type Arch uint32

// Architectures found in WIM images.
const (
	ArchX86   Arch = 0
	ArchARM   Arch = 5
	ArchIA64  Arch = 6
	ArchAMD64 Arch = 9
	ArchARM64 Arch = 12
)

// String returns the architecture's name as wimlib-imagex prints it
// ("x86_64" for 9); unknown codes print as numbers.
func (a Arch) String() string {
	switch a {
	case ArchX86:
		return "x86"
	case ArchARM:
		return "ARM"
	case ArchIA64:
		return "IA-64"
	case ArchAMD64:
		return "x86_64"
	case ArchARM64:
		return "ARM64"
	}
	return "Arch(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// XML shapes of the WIM description (upper-case element names).
type xmlWIM struct {
	TotalBytes string     `xml:"TOTALBYTES"`
	Images     []xmlImage `xml:"IMAGE"`
}

type xmlImage struct {
	Index       string `xml:"INDEX,attr"`
	Name        string `xml:"NAME"`
	Description string `xml:"DESCRIPTION"`
	DirCount    string `xml:"DIRCOUNT"`
	FileCount   string `xml:"FILECOUNT"`
	TotalBytes  string `xml:"TOTALBYTES"`
	Windows     *struct {
		Arch             *string `xml:"ARCH"`
		EditionID        string  `xml:"EDITIONID"`
		InstallationType string  `xml:"INSTALLATIONTYPE"`
		ProductName      string  `xml:"PRODUCTNAME"`
		Version          struct {
			Major   string `xml:"MAJOR"`
			Minor   string `xml:"MINOR"`
			Build   string `xml:"BUILD"`
			SPBuild string `xml:"SPBUILD"`
			SPLevel string `xml:"SPLEVEL"`
		} `xml:"VERSION"`
	} `xml:"WINDOWS"`
}

// ReadXML reads and parses the WIM's XML description from r (the same file
// the header came from). The resource must be uncompressed (WIM writers
// never compress it) and at most MaxWIMXMLSize bytes; its text is UTF-16LE,
// normally with a BOM. Numbers that do not parse fail with an *AttrError
// naming the element; missing optional elements are left zero.
func (h *WIMHeader) ReadXML(r io.ReaderAt) (*WIMInfo, error) {
	res := h.XMLData
	if res.SizeInWIM == 0 {
		return nil, &WIMError{Field: "XMLData", Value: 0, Err: ErrMissing}
	}
	if res.Flags&ResourceCompressed != 0 {
		return nil, &WIMError{Field: "XMLData.Flags", Value: uint64(res.Flags), Err: ErrWIMHeader}
	}
	if res.SizeInWIM > MaxWIMXMLSize {
		return nil, &WIMError{Field: "XMLData.SizeInWIM", Value: res.SizeInWIM, Err: ErrTooLarge}
	}
	if res.Offset > 1<<62 {
		return nil, &WIMError{Field: "XMLData.Offset", Value: res.Offset, Err: ErrWIMHeader}
	}
	b := make([]byte, res.SizeInWIM)
	if _, err := r.ReadAt(b, int64(res.Offset)); err != nil {
		return nil, err
	}
	return parseWIMXML(b)
}

// parseWIMXML decodes the XML resource bytes.
func parseWIMXML(b []byte) (*WIMInfo, error) {
	if !bytes.HasPrefix(b, bomUTF16LE) && !(len(b) >= 2 && b[0] == '<' && b[1] == 0) {
		return nil, &AttrError{Element: "WIM", Err: ErrEncoding}
	}
	t, err := decodeText(b)
	if err != nil {
		return nil, err
	}
	dec := xml.NewDecoder(bytes.NewReader(t.utf8))
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) { return in, nil }
	var x struct {
		XMLName xml.Name
		xmlWIM
	}
	if err := dec.Decode(&x); err != nil {
		return nil, &SyntaxError{Offset: dec.InputOffset(), Err: err}
	}
	if x.XMLName.Local != "WIM" {
		return nil, &AttrError{Element: x.XMLName.Local, Err: ErrMalformed}
	}
	info := &WIMInfo{}
	var perr error
	num := func(elem, s string, bits int) uint64 {
		s = strings.TrimSpace(s)
		if s == "" || perr != nil {
			return 0
		}
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			perr = &AttrError{Element: elem, Value: s, Err: ErrBadValue}
		}
		return n
	}
	info.TotalBytes = num("TOTALBYTES", x.TotalBytes, 64)
	for _, xi := range x.Images {
		img := WIMImage{
			Index:       int(num("IMAGE INDEX", xi.Index, 31)),
			Name:        xi.Name,
			Description: xi.Description,
			DirCount:    num("IMAGE/DIRCOUNT", xi.DirCount, 64),
			FileCount:   num("IMAGE/FILECOUNT", xi.FileCount, 64),
			TotalBytes:  num("IMAGE/TOTALBYTES", xi.TotalBytes, 64),
		}
		if w := xi.Windows; w != nil {
			if w.Arch != nil {
				img.Arch, img.ArchPresent = Arch(num("WINDOWS/ARCH", *w.Arch, 32)), true
			}
			img.EditionID, img.InstallationType, img.ProductName = w.EditionID, w.InstallationType, w.ProductName
			v := w.Version
			img.Version = WindowsVersion{
				Major:   uint32(num("VERSION/MAJOR", v.Major, 32)),
				Minor:   uint32(num("VERSION/MINOR", v.Minor, 32)),
				Build:   uint32(num("VERSION/BUILD", v.Build, 32)),
				SPBuild: uint32(num("VERSION/SPBUILD", v.SPBuild, 32)),
				SPLevel: uint32(num("VERSION/SPLEVEL", v.SPLevel, 32)),
			}
		}
		info.Images = append(info.Images, img)
	}
	if perr != nil {
		return nil, perr
	}
	return info, nil
}

// Image returns the image with the given 1-based INDEX, or false.
func (w *WIMInfo) Image(index int) (WIMImage, bool) {
	for _, img := range w.Images {
		if img.Index == index {
			return img, true
		}
	}
	return WIMImage{}, false
}
