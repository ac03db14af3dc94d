package winre

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

const sampleFile = "testdata/ReAgent-gpt.xml"

func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Mutators that derive variants from the sample.
func toLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

func withBOM(b []byte) []byte { return append(append([]byte{}, bomUTF8...), b...) }

func toUTF16(b []byte, bom bool) []byte {
	var out []byte
	if bom {
		out = append(out, bomUTF16LE...)
	}
	for _, u := range utf16.Encode([]rune(string(b))) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

func fromUTF16(t testing.TB, b []byte) []byte {
	t.Helper()
	tx, err := decodeText(b)
	if err != nil {
		t.Fatal(err)
	}
	return tx.utf8
}

func replace(b []byte, old, new string) []byte {
	if !bytes.Contains(b, []byte(old)) {
		panic("mutator: " + old + " not in sample")
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

var (
	sampleGUID = uuid.MustParse("5bc3b6ba-0000-4000-8000-000000000001")
	sampleBCD  = uuid.MustParse("5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3")
)

func TestParseReAgentSample(t *testing.T) {
	r, err := ParseReAgent(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	on := func(v uint32) State { return State{Present: true, Value: v} }
	unused := Location{Present: true}
	want := &ReAgent{
		Encoding:      UTF8,
		Version:       "2.0",
		WinreBCD:      sampleBCD,
		WinreLocation: Location{Present: true, Path: `\Recovery\WindowsRE`, Offset: 3926917120, GUID: sampleGUID},
		ImageLocation: unused, PBRImageLocation: unused, PBRCustomImageLocation: unused, DownlevelWinreLocation: unused,
		InstallState: on(1), OsInstallAvailable: on(0), CustomImageAvailable: on(0), IsAutoRepairOn: on(1),
		WinREStaged: on(0), OperationPermanent: on(0), OemTool: on(0), IsServer: on(0), IsWimBoot: on(0),
		NarratorScheduled: on(0), ScheduledOperation: on(5),
		OsBuildVersion: "22621.1.amd64fre.ni_release.220506-1250",
	}
	r.Elements = nil
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("ParseReAgent mismatch (-want +got):\n%s", d)
	}
	if !r.Enabled() {
		t.Error("Enabled() = false")
	}
	if b, ok := r.Build(); !ok || b != 22621 {
		t.Errorf("Build() = %d, %v", b, ok)
	}
	if p := r.Verify(); len(p) != 0 {
		t.Errorf("Verify() = %v, want none", p)
	}
}

func TestParseReAgentVariants(t *testing.T) {
	s := sample(t)
	tests := []struct {
		name    string
		in      []byte
		enc     Encoding
		offset  uint64
		id      uint32
		guid    uuid.UUID
		path    string
		unknown int // count of unknown elements in Elements
	}{
		{name: "crlf", in: s, enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "lf", in: toLF(s), enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "utf8-bom", in: withBOM(s), enc: UTF8BOM, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "utf16-bom", in: toUTF16(replace(s, "utf-8", "utf-16"), true), enc: UTF16LEBOM, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "utf16-nobom", in: toUTF16(s, false), enc: UTF16LE, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "mbr", in: replace(s, `id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"`,
			`id="2712847316" offset="105906176" guid="{00000000-0000-0000-0000-000000000000}"`),
			enc: UTF8, offset: 105906176, id: 2712847316, path: `\Recovery\WindowsRE`},
		{name: "mbr-negative-id", in: replace(s, `id="0" offset="3926917120"`, `id="-1" offset="3926917120"`),
			enc: UTF8, offset: 3926917120, id: 0xFFFFFFFF, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "odd-order-single-quotes", in: replace(s, `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"/>`,
			"<WinreLocation\r\n  guid='{5BC3B6BA-0000-4000-8000-000000000001}'  offset = '3926917120' path='\\Recovery\\WindowsRE' id='0' />"),
			enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
		{name: "unknown-elements", in: replace(s, "<InstallState", "<FutureThing a=\"1\"><Nested/></FutureThing>\r\n<!-- note -->\r\n<InstallState"),
			enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`, unknown: 1},
		{name: "entity-in-path", in: replace(s, `path="\Recovery\WindowsRE"`, `path="\R&amp;D"`),
			enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\R&D`},
		{name: "no-braces", in: replace(s, `guid="{5bc3b6ba-0000-4000-8000-000000000001}"`, `guid="5bc3b6ba-0000-4000-8000-000000000001"`),
			enc: UTF8, offset: 3926917120, guid: sampleGUID, path: `\Recovery\WindowsRE`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReAgent(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want := Location{Present: true, Path: tc.path, ID: tc.id, Offset: tc.offset, GUID: tc.guid}
			if d := cmp.Diff(want, r.WinreLocation); d != "" {
				t.Errorf("WinreLocation (-want +got):\n%s", d)
			}
			if r.Encoding != tc.enc {
				t.Errorf("Encoding = %v, want %v", r.Encoding, tc.enc)
			}
			unknown := 0
			for _, e := range r.Elements {
				if e.Name == "FutureThing" {
					unknown++
					if v, _ := e.Attr("a"); v != "1" {
						t.Errorf("unknown element attribute a = %q", v)
					}
				}
			}
			if unknown != tc.unknown {
				t.Errorf("unknown elements = %d, want %d", unknown, tc.unknown)
			}
			if len(r.Elements) != 19+tc.unknown {
				t.Errorf("len(Elements) = %d", len(r.Elements))
			}
		})
	}
}

func TestParseReAgentErrors(t *testing.T) {
	s := sample(t)
	tests := []struct {
		name string
		in   []byte
		want error
		elem string // for *AttrError: Element
		attr string // for *AttrError: Attribute
	}{
		{name: "empty", in: nil, want: ErrMalformed},
		{name: "truncated", in: s[:len(s)/2], want: ErrMalformed},
		{name: "mismatched-end", in: replace(s, "</WindowsRE>", "</WindowsRe>"), want: ErrMalformed},
		{name: "unquoted", in: replace(s, `state="5"`, `state=5`), want: ErrMalformed},
		{name: "two-roots", in: append(bytes.Clone(s), "<WindowsRE/>"...), want: ErrMalformed},
		{name: "text-after-root", in: append(bytes.Clone(s), "junk"...), want: ErrMalformed},
		{name: "wrong-root", in: replace(replace(s, "<WindowsRE ", "<WindowsPE "), "</WindowsRE>", "</WindowsPE>"), want: ErrNotReAgent, elem: "WindowsPE"},
		{name: "bad-offset", in: replace(s, `offset="3926917120"`, `offset="0x1000"`), want: ErrBadValue, elem: "WinreLocation", attr: "offset"},
		{name: "offset-overflow", in: replace(s, `offset="3926917120"`, `offset="18446744073709551616"`), want: ErrBadValue, elem: "WinreLocation", attr: "offset"},
		{name: "negative-offset", in: replace(s, `offset="3926917120"`, `offset="-1"`), want: ErrBadValue, elem: "WinreLocation", attr: "offset"},
		{name: "id-overflow", in: replace(s, `id="0" offset="3926917120"`, `id="4294967296" offset="3926917120"`), want: ErrBadValue, elem: "WinreLocation", attr: "id"},
		{name: "bad-guid", in: replace(s, `guid="{5bc3b6ba-0000-4000-8000-000000000001}"`, `guid="{5bc3b6ba}"`), want: ErrBadValue, elem: "WinreLocation", attr: "guid"},
		{name: "bad-bcd", in: replace(s, `{5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}`, `{zz0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3}`), want: ErrBadValue, elem: "WinreBCD", attr: "id"},
		{name: "state-missing", in: replace(s, `<InstallState state="1"/>`, `<InstallState/>`), want: ErrMissing, elem: "InstallState", attr: "state"},
		{name: "state-bad", in: replace(s, `<InstallState state="1"/>`, `<InstallState state="yes"/>`), want: ErrBadValue, elem: "InstallState", attr: "state"},
		{name: "duplicate-location", in: replace(s, "<InstallState", `<WinreLocation path="" id="0" offset="0" guid=""/><InstallState`), want: ErrDuplicate, elem: "WinreLocation"},
		{name: "utf16-odd", in: append(toUTF16(s, true), 0), want: ErrEncoding},
		{name: "utf16-be", in: append([]byte{0xFE, 0xFF}, 0, '<'), want: ErrEncoding},
		{name: "bad-utf8", in: replace(s, "2.0", "2\xff0"), want: ErrEncoding},
		{name: "unknown-charset", in: replace(s, "utf-8", "latin-9"), want: ErrEncoding},
		{name: "too-large", in: append(bytes.Clone(s), bytes.Repeat([]byte(" "), MaxReAgentSize)...), want: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReAgent(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseReAgent error = %v (result %v), want %v", err, r, tc.want)
			}
			if r != nil {
				t.Errorf("result %v with error", r)
			}
			if tc.elem != "" {
				var ae *AttrError
				if !errors.As(err, &ae) {
					t.Fatalf("error %T is not *AttrError", err)
				}
				if ae.Element != tc.elem || ae.Attribute != tc.attr {
					t.Errorf("AttrError names <%s> %s, want <%s> %s", ae.Element, ae.Attribute, tc.elem, tc.attr)
				}
			}
			if errors.Is(tc.want, ErrMalformed) {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("error %T is not *SyntaxError", err)
				}
			}
			if !strings.HasPrefix(err.Error(), "winre: ") {
				t.Errorf("error text %q lacks the package prefix", err)
			}
		})
	}
}
