package winre

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// tagSpan returns the byte range of the named element's start tag in the
// original file b.
func tagSpan(t testing.TB, b []byte, name string) (int, int) {
	t.Helper()
	d, err := parseDoc(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range d.spans[1:] {
		if sp.name == name {
			return d.t.orig(sp.start), d.t.orig(sp.end)
		}
	}
	t.Fatalf("no <%s>", name)
	return 0, 0
}

// checkOnlyTag fails unless in and out have the same length and differ
// only inside the start tag of element name.
func checkOnlyTag(t testing.TB, in, out []byte, name string) {
	t.Helper()
	if len(in) != len(out) {
		t.Fatalf("length changed: %d -> %d", len(in), len(out))
	}
	lo, hi := tagSpan(t, in, name)
	for i := range in {
		if in[i] != out[i] && (i < lo || i >= hi) {
			t.Fatalf("byte %d changed outside <%s> [%d,%d): %q -> %q", i, name, lo, hi, in[i], out[i])
		}
	}
}

// otherFields is every ReAgent field except the patched element.
func sameExcept(t testing.TB, a, b *ReAgent, name string) {
	t.Helper()
	opts := cmp.Options{
		cmpopts.IgnoreFields(ReAgent{}, name),
		cmp.FilterPath(func(p cmp.Path) bool {
			return p.Last().String() == ".Attrs"
		}, cmp.Ignore()),
	}
	if d := cmp.Diff(a, b, opts); d != "" {
		t.Errorf("patch changed other fields (-before +after):\n%s", d)
	}
}

func TestPatchLocation(t *testing.T) {
	s := sample(t)
	const winre = `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"/>`
	newGUID := uuid.MustParse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	roomy := replace(s, winre, "<WinreLocation path=\"\\Recovery\\WindowsRE\"\r\n    id = \"0\"\r\n    offset = \"3926917120\"\r\n    guid = \"{5bc3b6ba-0000-4000-8000-000000000001}\" />")
	win10 := replace(s, `offset="3926917120"`, `offset="1048576"`)
	tests := []struct {
		name   string
		in     []byte
		offset uint64
		guid   uuid.UUID
		id     uint32
		tag    string // expected start tag after the patch (UTF-8 input only)
		short  int    // >0: expect a *FitError short by this much
	}{
		{name: "same-length", in: s, offset: 4026531840, guid: sampleGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="4026531840" guid="{5bc3b6ba-0000-4000-8000-000000000001}"/>`},
		{name: "no-change", in: s, offset: 3926917120, guid: sampleGUID, tag: winre},
		{name: "shorter", in: s, offset: 1048576, guid: sampleGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{5bc3b6ba-0000-4000-8000-000000000001}"   />`},
		{name: "new-disk-guid", in: s, offset: 3926917120, guid: newGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}"/>`},
		{name: "longer-no-room", in: s, offset: 1099511627776, guid: sampleGUID, short: 3},
		{name: "7-to-13-digits-no-room", in: win10, offset: 1099511627776, guid: sampleGUID, short: 6},
		{name: "7-to-10-digits-no-room", in: win10, offset: 3926917120, guid: sampleGUID, short: 3},
		{name: "7-to-13-digits-roomy", in: replace(roomy, `offset = "3926917120"`, `offset = "1048576"`), offset: 1099511627776, guid: sampleGUID,
			tag: "<WinreLocation path=\"\\Recovery\\WindowsRE\"\r\n    id =\"0\"\r\n    offset=\"1099511627776\"\r\n    guid=\"{5bc3b6ba-0000-4000-8000-000000000001}\"/>"},
		{name: "gpt-to-mbr-pays-with-offset", in: s, offset: 1048576, guid: uuid.Nil, id: 0x1234,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="4660" offset="1048576" guid="{00000000-0000-0000-0000-000000000000}"/>`},
		{name: "gpt-to-mbr-no-room", in: s, offset: 3926917120, guid: uuid.Nil, id: 2712847316, short: 9},
		{name: "upper-case-kept", in: replace(s, "5bc3b6ba", "5BC3B6BA"), offset: 3926917120, guid: newGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}"/>`},
		{name: "single-quotes-open-close", in: replace(s, winre, `<WinreLocation path='\Recovery\WindowsRE' id='0' offset='3926917120' guid='{5bc3b6ba-0000-4000-8000-000000000001}'></WinreLocation>`),
			offset: 52428800, guid: sampleGUID,
			tag: `<WinreLocation path='\Recovery\WindowsRE' id='0' offset='52428800' guid='{5bc3b6ba-0000-4000-8000-000000000001}'  >`},
		{name: "utf8-bom", in: withBOM(s), offset: 1048576, guid: sampleGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{5bc3b6ba-0000-4000-8000-000000000001}"   />`},
		{name: "utf16-bom", in: toUTF16(s, true), offset: 1048576, guid: sampleGUID,
			tag: `<WinreLocation path="\Recovery\WindowsRE" id="0" offset="1048576" guid="{5bc3b6ba-0000-4000-8000-000000000001}"   />`},
		{name: "utf16-non-ascii-path", in: toUTF16(replace(s, `\Recovery\WindowsRE"`, `\Récupération\WindowsRE"`), false), offset: 987654321098, guid: sampleGUID, short: 2},
		{name: "utf16-non-ascii-path-fits", in: toUTF16(replace(s, `\Recovery\WindowsRE"`, `\Récupération😀\WindowsRE"`), false), offset: 1048576, guid: sampleGUID,
			tag: `<WinreLocation path="\Récupération😀\WindowsRE" id="0" offset="1048576" guid="{5bc3b6ba-0000-4000-8000-000000000001}"   />`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := ParseReAgent(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			keep := bytes.Clone(tc.in)
			out, err := PatchLocation(tc.in, tc.offset, tc.guid, tc.id)
			if !bytes.Equal(keep, tc.in) {
				t.Fatal("PatchLocation modified its input")
			}
			if tc.short > 0 {
				var fe *FitError
				if !errors.As(err, &fe) || !errors.Is(err, ErrPatchDoesNotFit) {
					t.Fatalf("error = %v, want *FitError", err)
				}
				if fe.Short() != tc.short || fe.Element != "WinreLocation" {
					t.Errorf("FitError %+v short by %d, want %d", fe, fe.Short(), tc.short)
				}
				if !strings.Contains(err.Error(), "short by") {
					t.Errorf("error text %q does not say by how much", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOnlyTag(t, tc.in, out, "WinreLocation")
			after, err := ParseReAgent(out)
			if err != nil {
				t.Fatalf("patched file does not parse: %v", err)
			}
			want := before.WinreLocation
			want.Offset, want.GUID, want.ID = tc.offset, tc.guid, tc.id
			if d := cmp.Diff(want, after.WinreLocation); d != "" {
				t.Errorf("WinreLocation after patch (-want +got):\n%s", d)
			}
			sameExcept(t, before, after, "WinreLocation")
			text := out
			if before.Encoding.utf16() {
				text = fromUTF16(t, out)
			}
			if !bytes.Contains(text, []byte(tc.tag)) {
				lo, hi := tagSpan(t, text, "WinreLocation")
				t.Errorf("patched tag\n got %q\nwant %q", text[lo:hi], tc.tag)
			}
		})
	}
}

func TestPatchLocationErrors(t *testing.T) {
	s := sample(t)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{name: "no-element", in: replace(s, "<WinreLocation ", "<WinreLocationX "), want: ErrMissing},
		{name: "no-offset", in: replace(s, ` offset="3926917120"`, ``), want: ErrMissing},
		{name: "no-guid", in: replace(s, ` guid="{5bc3b6ba-0000-4000-8000-000000000001}"`, ``), want: ErrMissing},
		{name: "malformed", in: s[:200], want: ErrMalformed},
		{name: "bad-value-elsewhere", in: replace(s, `<InstallState state="1"/>`, `<InstallState state="x"/>`), want: ErrBadValue},
		{name: "prefixed-duplicate", in: replace(s, `<WinreLocation `, `<WinreLocation xmlns:a="u" a:offset="1" `), want: ErrDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := PatchLocation(tc.in, 1048576, sampleGUID, 0)
			if !errors.Is(err, tc.want) || out != nil {
				t.Fatalf("PatchLocation = %d bytes, %v; want %v", len(out), err, tc.want)
			}
		})
	}
}

func TestClearImageLocation(t *testing.T) {
	s := sample(t)
	stale := replace(s, `<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>`,
		`<ImageLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"/>`)
	r, err := ParseReAgent(stale)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Verify(); len(p) != 1 || p[0].Code != ProblemStaleImageLocation {
		t.Fatalf("Verify() = %v, want one %s", p, ProblemStaleImageLocation)
	}
	for _, in := range [][]byte{stale, toUTF16(stale, true)} {
		before, err := ParseReAgent(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ClearImageLocation(in)
		if err != nil {
			t.Fatal(err)
		}
		checkOnlyTag(t, in, out, "ImageLocation")
		after, err := ParseReAgent(out)
		if err != nil {
			t.Fatal(err)
		}
		if !after.ImageLocation.Unused() || len(after.Verify()) != 0 {
			t.Errorf("after clearing: %+v, problems %v", after.ImageLocation, after.Verify())
		}
		sameExcept(t, before, after, "ImageLocation")
		text := out
		if after.Encoding.utf16() {
			text = fromUTF16(t, out)
		}
		const want = `<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"` + "                            />" // 19 path + 9 offset characters freed
		if !bytes.Contains(text, []byte(want)) {
			lo, hi := tagSpan(t, text, "ImageLocation")
			t.Errorf("cleared tag\n got %q\nwant %q", text[lo:hi], want)
		}
	}
	// Already clear: unchanged bytes.
	out, err := ClearImageLocation(s)
	if err != nil || !bytes.Equal(out, s) {
		t.Errorf("clearing a clear ImageLocation changed the file (err %v)", err)
	}
	if _, err := ClearImageLocation(replace(s, "<ImageLocation ", "<ImageLocationX ")); !errors.Is(err, ErrMissing) {
		t.Errorf("missing ImageLocation: error %v, want ErrMissing", err)
	}
}
