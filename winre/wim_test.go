package winre

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

// makeWIM captures a small tree into a new WIM in a temp dir and returns
// its path. Extra arguments go to wimlib-imagex capture.
func makeWIM(t testing.TB, compress string, extra ...string) string {
	t.Helper()
	testutil.NeedTool(t, "wimlib-imagex")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "Windows", "System32"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"a.txt": 6, "Windows/System32/b.bin": 70000} {
		data := bytes.Repeat([]byte(name), size/len(name)+1)[:size]
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wim := filepath.Join(dir, "winre.wim")
	args := append([]string{"capture", src, wim, "Microsoft Windows Recovery Environment (x64)", "--compress=" + compress}, extra...)
	testutil.Run(t, "wimlib-imagex", args...)
	return wim
}

// kv parses "Key = Value" or "Key: Value" lines of wimlib-imagex info.
func kv(out, sep string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, sep)
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func openWIM(t testing.TB, path string) (*WIMHeader, *WIMInfo) {
	t.Helper()
	f, size := testutil.OpenSized(t, path)
	h, err := ParseWIMHeader(f, size)
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.ReadXML(f)
	if err != nil {
		t.Fatal(err)
	}
	return h, info
}

func hexU(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// checkHeaderOracle compares h field by field with wimlib-imagex info --header.
func checkHeaderOracle(t *testing.T, h *WIMHeader, path string) {
	t.Helper()
	m := kv(testutil.Run(t, "wimlib-imagex", "info", path, "--header"), " = ")
	res := func(prefix string, r Resource) map[string]string {
		return map[string]string{
			prefix + " Size":   strconv.FormatUint(r.SizeInWIM, 10),
			prefix + " Flags":  hexU(uint64(r.Flags)),
			prefix + " Offset": strconv.FormatUint(r.Offset, 10),
		}
	}
	got := map[string]string{
		"Header Size": strconv.Itoa(int(h.HeaderSize)),
		"Version":     hexU(uint64(h.Version)),
		"Flags":       hexU(uint64(h.Flags)),
		"Chunk Size":  strconv.Itoa(int(h.ChunkSize)),
		"GUID":        hex.EncodeToString(h.GUID[:]),
		"Part Number": strconv.Itoa(int(h.PartNumber)),
		"Total Parts": strconv.Itoa(int(h.TotalParts)),
		"Image Count": strconv.Itoa(int(h.ImageCount)),
		"Boot Index":  strconv.Itoa(int(h.BootIndex)),
	}
	for _, r := range []map[string]string{res("Blob Table", h.OffsetTable), res("XML Data", h.XMLData),
		res("Boot Metadata", h.BootMetadata), res("Integrity", h.Integrity)} {
		for k, v := range r {
			got[k] = v
		}
	}
	got["Blob Table Original_size"] = strconv.FormatUint(h.OffsetTable.OriginalSize, 10)
	got["XML Data Original Size"] = strconv.FormatUint(h.XMLData.OriginalSize, 10)
	got["Boot Metadata Original Size"] = strconv.FormatUint(h.BootMetadata.OriginalSize, 10)
	got["Integrity Original_size"] = strconv.FormatUint(h.Integrity.OriginalSize, 10)
	want := map[string]string{}
	for k := range got {
		v, ok := m[k]
		if !ok {
			t.Fatalf("wimlib-imagex --header has no %q:\n%v", k, m)
		}
		want[k] = v
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("header vs wimlib-imagex (-wimlib +ours):\n%s", d)
	}
}

// checkInfoOracle compares the XML with wimlib-imagex info.
func checkInfoOracle(t *testing.T, h *WIMHeader, info *WIMInfo, path string) {
	t.Helper()
	out := testutil.Run(t, "wimlib-imagex", "info", path)
	head, imgs, _ := strings.Cut(out, "Available Images:")
	m := kv(head, ":")
	if m["Compression"] != h.Compression().String() {
		t.Errorf("Compression = %v, wimlib says %q", h.Compression(), m["Compression"])
	}
	if m["Size"] != strconv.FormatUint(info.TotalBytes, 10)+" bytes" {
		t.Errorf("TotalBytes = %d, wimlib says Size %q", info.TotalBytes, m["Size"])
	}
	blocks := strings.Split(imgs, "\n\n")
	var n int
	for _, blk := range blocks {
		im := kv(blk, ":")
		if im["Index"] == "" {
			continue
		}
		n++
		idx, _ := strconv.Atoi(im["Index"])
		img, ok := info.Image(idx)
		if !ok {
			t.Fatalf("no image %d", idx)
		}
		got := map[string]string{
			"Name": img.Name, "Description": img.Description,
			"Total Bytes":     strconv.FormatUint(img.TotalBytes, 10),
			"Directory Count": strconv.FormatUint(img.DirCount, 10),
			"File Count":      strconv.FormatUint(img.FileCount, 10),
		}
		if img.ArchPresent {
			got["Architecture"] = img.Arch.String()
			got["Build"] = strconv.Itoa(int(img.Version.Build))
			got["Major Version"] = strconv.Itoa(int(img.Version.Major))
		}
		want := map[string]string{}
		for k := range got {
			want[k] = im[k]
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("image %d vs wimlib-imagex (-wimlib +ours):\n%s", idx, d)
		}
	}
	if n != len(info.Images) || n != int(h.ImageCount) {
		t.Errorf("images: wimlib %d, XML %d, header %d", n, len(info.Images), h.ImageCount)
	}
}

func TestParseWIMHeaderWimlib(t *testing.T) {
	tests := []struct {
		name     string
		compress string
		extra    []string
		want     Compression
		chunk    uint32
	}{
		{name: "none", compress: "none", want: CompressionNone},
		{name: "xpress", compress: "xpress", want: CompressionXPRESS, chunk: 32768},
		{name: "lzx-boot-check", compress: "lzx", extra: []string{"--boot", "--check"}, want: CompressionLZX, chunk: 32768},
		{name: "lzms", compress: "lzms", want: CompressionLZMS, chunk: 131072},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := makeWIM(t, tc.compress, tc.extra...)
			h, info := openWIM(t, path)
			if h.Compression() != tc.want {
				t.Errorf("Compression() = %v, want %v (flags %v)", h.Compression(), tc.want, h.Flags)
			}
			if tc.chunk != 0 && h.ChunkSize != tc.chunk {
				t.Errorf("ChunkSize = %d, want %d", h.ChunkSize, tc.chunk)
			}
			checkHeaderOracle(t, h, path)
			checkInfoOracle(t, h, info, path)
			if strings.Contains(tc.name, "boot") && (h.BootIndex != 1 || h.Integrity.SizeInWIM == 0) {
				t.Errorf("BootIndex = %d, integrity %+v", h.BootIndex, h.Integrity)
			}
		})
	}
}

func TestWIMTwoImagesAndBuild(t *testing.T) {
	path := makeWIM(t, "lzx")
	src := filepath.Join(filepath.Dir(path), "src")
	testutil.Run(t, "wimlib-imagex", "append", src, path, "Second", "the second image")
	testutil.Run(t, "wimlib-imagex", "info", path, "2", "--boot",
		"--image-property", "WINDOWS/VERSION/MAJOR=10",
		"--image-property", "WINDOWS/VERSION/MINOR=0",
		"--image-property", "WINDOWS/VERSION/BUILD=22621",
		"--image-property", "WINDOWS/VERSION/SPBUILD=2506",
		"--image-property", "WINDOWS/ARCH=9",
		"--image-property", "WINDOWS/EDITIONID=WindowsPE")
	h, info := openWIM(t, path)
	checkHeaderOracle(t, h, path)
	checkInfoOracle(t, h, info, path)
	if h.ImageCount != 2 || h.BootIndex != 2 {
		t.Errorf("ImageCount %d BootIndex %d, want 2 and 2", h.ImageCount, h.BootIndex)
	}
	img, _ := info.Image(2)
	want := WIMImage{Index: 2, Name: "Second", Description: "the second image", DirCount: img.DirCount, FileCount: 3 - 1,
		TotalBytes: 70006, Arch: ArchAMD64, ArchPresent: true, Version: WindowsVersion{Major: 10, Build: 22621, SPBuild: 2506},
		EditionID: "WindowsPE"}
	if d := cmp.Diff(want, img); d != "" {
		t.Errorf("image 2 (-want +got):\n%s", d)
	}
	if img.Version.String() != "10.0.22621.2506" {
		t.Errorf("Version.String() = %q", img.Version)
	}
}

// wimHeaderBytes builds a minimal valid header for mutation tests.
func wimHeaderBytes() []byte {
	b := make([]byte, wimHeaderSize+64)
	copy(b, wimMagic)
	le := binary.LittleEndian
	le.PutUint32(b[wimOffHeaderSize:], wimHeaderSize)
	le.PutUint32(b[wimOffVersion:], 0x10d00)
	le.PutUint16(b[wimOffPartNumber:], 1)
	le.PutUint16(b[wimOffTotalParts:], 1)
	le.PutUint32(b[wimOffImageCount:], 1)
	xml := toUTF16([]byte("<WIM><TOTALBYTES>208</TOTALBYTES><IMAGE INDEX=\"1\"><NAME>x</NAME></IMAGE></WIM>"), true)
	le.PutUint64(b[wimOffXMLData+resOffSizeFlags:], uint64(len(xml))|uint64(ResourceMetadata)<<56)
	le.PutUint64(b[wimOffXMLData+resOffOffset:], wimHeaderSize)
	le.PutUint64(b[wimOffXMLData+resOffOriginalSize:], uint64(len(xml)))
	return append(b[:wimHeaderSize], xml...)
}

func TestParseWIMHeaderErrors(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		mut   func(b []byte) []byte
		want  error
		field string
	}{
		{name: "short", mut: func(b []byte) []byte { return b[:100] }, want: ErrNotWIM},
		{name: "magic", mut: func(b []byte) []byte { b[0] = 'X'; return b }, want: ErrNotWIM},
		{name: "pipable", mut: func(b []byte) []byte { copy(b, wimPipableMagic); return b }, want: ErrPipableWIM},
		{name: "header-size", mut: func(b []byte) []byte { le.PutUint32(b[wimOffHeaderSize:], 200); return b }, want: ErrWIMHeader, field: "HeaderSize"},
		{name: "no-parts", mut: func(b []byte) []byte { le.PutUint16(b[wimOffTotalParts:], 0); return b }, want: ErrWIMHeader, field: "TotalParts"},
		{name: "part-beyond", mut: func(b []byte) []byte { le.PutUint16(b[wimOffPartNumber:], 2); return b }, want: ErrWIMHeader, field: "PartNumber"},
		{name: "boot-index", mut: func(b []byte) []byte { le.PutUint32(b[wimOffBootIndex:], 2); return b }, want: ErrWIMHeader, field: "BootIndex"},
		{name: "xml-beyond-end", mut: func(b []byte) []byte { return b[:len(b)-2] }, want: ErrWIMHeader, field: "XMLData"},
		{name: "xml-offset-huge", mut: func(b []byte) []byte { le.PutUint64(b[wimOffXMLData+resOffOffset:], 1<<63); return b }, want: ErrWIMHeader, field: "XMLData"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mut(wimHeaderBytes())
			h, err := ParseWIMHeader(bytes.NewReader(b), int64(len(b)))
			if !errors.Is(err, tc.want) || h != nil {
				t.Fatalf("ParseWIMHeader = %v, %v; want %v", h, err, tc.want)
			}
			var we *WIMError
			if tc.field != "" && (!errors.As(err, &we) || we.Field != tc.field) {
				t.Errorf("error %v does not name field %s", err, tc.field)
			}
		})
	}
}

func TestReadXMLErrors(t *testing.T) {
	le := binary.LittleEndian
	xmlAt := func(doc []byte) []byte {
		b := wimHeaderBytes()[:wimHeaderSize]
		le.PutUint64(b[wimOffXMLData+resOffSizeFlags:], uint64(len(doc)))
		return append(b, doc...)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{name: "compressed", b: func() []byte {
			b := wimHeaderBytes()
			b[wimOffXMLData+7] |= byte(ResourceCompressed)
			return b
		}(), want: ErrWIMHeader},
		{name: "too-large", b: func() []byte {
			b := wimHeaderBytes()
			le.PutUint64(b[wimOffXMLData+resOffSizeFlags:], MaxWIMXMLSize+2)
			return append(b, make([]byte, MaxWIMXMLSize)...)
		}(), want: ErrTooLarge},
		{name: "utf8", b: xmlAt([]byte("<WIM></WIM>")), want: ErrEncoding},
		{name: "malformed", b: xmlAt(toUTF16([]byte("<WIM><IMAGE></WIM>"), true)), want: ErrMalformed},
		{name: "wrong-root", b: xmlAt(toUTF16([]byte("<WIMX></WIMX>"), true)), want: ErrMalformed},
		{name: "bad-number", b: xmlAt(toUTF16([]byte("<WIM><TOTALBYTES>12x</TOTALBYTES></WIM>"), true)), want: ErrBadValue},
		{name: "bad-build", b: xmlAt(toUTF16([]byte("<WIM><IMAGE INDEX='1'><WINDOWS><VERSION><BUILD>-1</BUILD></VERSION></WINDOWS></IMAGE></WIM>"), true)), want: ErrBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseWIMHeader(bytes.NewReader(tc.b), int64(len(tc.b)))
			if err != nil {
				t.Fatal(err)
			}
			info, err := h.ReadXML(bytes.NewReader(tc.b))
			if !errors.Is(err, tc.want) || info != nil {
				t.Fatalf("ReadXML = %v, %v; want %v", info, err, tc.want)
			}
		})
	}
}

const tinyWIM = "testdata/winre-tiny-lzx.wim"

// TestWIMFixture reads the committed fixture without any tool; the
// expected values are what wimlib-imagex info --header printed for it.
func TestWIMFixture(t *testing.T) {
	b, err := os.ReadFile(tinyWIM)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseWIMHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := &WIMHeader{
		HeaderSize: 208, Version: 0x10d00, Flags: WIMFlagCompression | WIMFlagReparsePointFix | WIMFlagCompressLZX,
		ChunkSize: 32768, PartNumber: 1, TotalParts: 1, ImageCount: 1, BootIndex: 1,
		OffsetTable:  Resource{SizeInWIM: 100, Flags: ResourceMetadata, Offset: 393, OriginalSize: 100},
		XMLData:      Resource{SizeInWIM: 1226, Flags: ResourceMetadata, Offset: 493, OriginalSize: 1226},
		BootMetadata: Resource{SizeInWIM: 170, Flags: ResourceMetadata | ResourceCompressed, Offset: 223, OriginalSize: 384},
	}
	g, _ := hex.DecodeString("e49bfae2f87f50b1313d4b55047948f3")
	copy(want.GUID[:], g)
	if d := cmp.Diff(want, h); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if got := h.BootMetadata.Flags.String(); got != "METADATA|COMPRESSED" {
		t.Errorf("BootMetadata.Flags = %s", got)
	}
	if got := (ResourceFlags(0x81)).String(); got != "FREE|0x80" {
		t.Errorf("ResourceFlags(0x81) = %s", got)
	}
	if got := (WIMFlagSpanned | 0x100).String(); got != "SPANNED|0x100" {
		t.Errorf("WIMFlags = %s", got)
	}
	if h.Compression() != CompressionLZX || h.Flags.String() != "COMPRESSION|RP_FIX|COMPRESS_LZX" {
		t.Errorf("Compression %v, flags %v", h.Compression(), h.Flags)
	}
	info, err := h.ReadXML(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := &WIMInfo{TotalBytes: 493, Images: []WIMImage{{
		Index: 1, Name: "Microsoft Windows Recovery Environment (x64)", Description: "fixture",
		DirCount: 2, FileCount: 1, TotalBytes: 15, Arch: ArchAMD64, ArchPresent: true,
		Version: WindowsVersion{Major: 10, Build: 22621, SPBuild: 1}, EditionID: "WindowsPE",
	}}}
	if d := cmp.Diff(wantInfo, info); d != "" {
		t.Errorf("XML (-want +got):\n%s", d)
	}
}
