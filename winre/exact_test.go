package winre

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// windowsReAgent returns ReAgent.xml laid out as Windows 10 and 11 write
// it: a UTF-8 byte order mark, CRLF line ends, an empty line after the XML
// declaration, two-space indentation and no line end after the root's
// end tag. The element list is that of a Windows 11 file.
func windowsReAgent(offset uint64, guid string) []byte {
	const z = "{00000000-0000-0000-0000-000000000000}"
	lines := []string{
		`<?xml version='1.0' encoding='utf-8'?>`,
		``,
		`<WindowsRE version="2.0">`,
		`  <WinreBCD id="{ec9e2cda-63d3-11ee-bd2c-af2423a570b6}"/>`,
		fmt.Sprintf(`  <WinreLocation path="\Recovery\WindowsRE" id="0" offset="%d" guid="{%s}"/>`, offset, guid),
		`  <ImageLocation path="" id="0" offset="0" guid="` + z + `"/>`,
		`  <PBRImageLocation path="" id="0" offset="0" guid="` + z + `" index="0"/>`,
		`  <PBRCustomImageLocation path="" id="0" offset="0" guid="` + z + `" index="0"/>`,
		`  <InstallState state="1"/>`,
		`  <OsInstallAvailable state="0"/>`,
		`  <CustomImageAvailable state="0"/>`,
		`  <IsAutoRepairOn state="1"/>`,
		`  <WinREStaged state="0"/>`,
		`  <OperationParam path=""/>`,
		`  <OperationPermanent state="0"/>`,
		`  <OsBuildVersion path=""/>`,
		`  <OemTool state="0"/>`,
		`  <IsServer state="0"/>`,
		`  <DownlevelWinreLocation path="" id="0" offset="0" guid="` + z + `"/>`,
		`  <IsWimBoot state="0"/>`,
		`  <NarratorScheduled state="0"/>`,
		`  <ScheduledOperation state="4"/>`,
		`</WindowsRE>`,
	}
	return append(bytes.Clone(bomUTF8), strings.Join(lines, "\r\n")...)
}

func TestPatchLocationExact(t *testing.T) {
	const g = "5bc3b6ba-0000-4000-8000-000000000001"
	offsets := []uint64{1048576, 52428800, 3191865344, 53687091200, 1099511627776, 2199023255552}
	for _, from := range offsets {
		for _, to := range offsets {
			in := windowsReAgent(from, g)
			// The only change a move makes: the offset's digits.
			want := windowsReAgent(to, g)
			t.Run(fmt.Sprintf("%d-to-%d", from, to), func(t *testing.T) {
				keep := bytes.Clone(in)
				out, err := PatchLocationExact(in, to, sampleGUID, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(keep, in) {
					t.Fatal("input modified")
				}
				if !bytes.Equal(out, want) {
					t.Fatalf("got\n%q\nwant\n%q", out, want)
				}
				if len(out)-len(in) != len(fmt.Sprint(to))-len(fmt.Sprint(from)) {
					t.Errorf("length %d -> %d", len(in), len(out))
				}
			})
		}
	}
	s := sample(t)
	newGUID := uuid.MustParse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	tests := []struct {
		name   string
		in     []byte
		offset uint64
		guid   uuid.UUID
		id     uint32
		want   []byte
	}{
		{name: "no-change", in: s, offset: 3926917120, guid: sampleGUID, want: s},
		{name: "upper-case-guid-kept", in: replace(s, "5bc3b6ba", "5BC3B6BA"), offset: 1048576, guid: newGUID,
			want: replace(s, `offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"`, `offset="1048576" guid="{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}"`)},
		{name: "mbr-id", in: s, offset: 1048576, guid: uuid.Nil, id: 2712847316,
			want: replace(s, `id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"`, `id="2712847316" offset="1048576" guid="{00000000-0000-0000-0000-000000000000}"`)},
		{name: "spacing-kept", in: replace(s, `offset="3926917120"`, "offset = '3926917120'"), offset: 1099511627776, guid: sampleGUID,
			want: replace(s, `offset="3926917120"`, "offset = '1099511627776'")},
		{name: "utf16", in: toUTF16(s, true), offset: 1099511627776, guid: sampleGUID,
			want: toUTF16(replace(s, `offset="3926917120"`, `offset="1099511627776"`), true)},
		{name: "utf16-no-bom-non-ascii", in: toUTF16(replace(s, `\Recovery\WindowsRE"`, `\Récupération😀\WindowsRE"`), false), offset: 1048576, guid: sampleGUID,
			want: toUTF16(replace(replace(s, `\Recovery\WindowsRE"`, `\Récupération😀\WindowsRE"`), `offset="3926917120"`, `offset="1048576"`), false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := PatchLocationExact(tc.in, tc.offset, tc.guid, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tc.want) {
				t.Fatalf("got\n%q\nwant\n%q", out, tc.want)
			}
			before, _ := ParseReAgent(tc.in)
			after, err := ParseReAgent(out)
			if err != nil {
				t.Fatal(err)
			}
			want := before.WinreLocation
			want.Offset, want.GUID, want.ID = tc.offset, tc.guid, tc.id
			if d := cmp.Diff(want, after.WinreLocation); d != "" {
				t.Errorf("WinreLocation (-want +got):\n%s", d)
			}
			sameExcept(t, before, after, "WinreLocation")
		})
	}
	for _, in := range [][]byte{replace(s, ` offset="3926917120"`, ``), replace(s, "<WinreLocation ", "<WinreLocationX ")} {
		if out, err := PatchLocationExact(in, 1, sampleGUID, 0); !errors.Is(err, ErrMissing) || out != nil {
			t.Errorf("missing attribute: %d bytes, %v", len(out), err)
		}
	}
}

func TestClearImageLocationExact(t *testing.T) {
	s := windowsReAgent(1048576, "5bc3b6ba-0000-4000-8000-000000000001")
	const clear = `<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>`
	stale := replace(s, clear, `<ImageLocation path="\Recovery\WindowsRE" id="0" offset="3926917120" guid="{5bc3b6ba-0000-4000-8000-000000000001}"/>`)
	out, err := ClearImageLocationExact(stale)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, s) {
		t.Errorf("got\n%q\nwant\n%q", out, s)
	}
	if out, err := ClearImageLocationExact(s); err != nil || !bytes.Equal(out, s) {
		t.Errorf("clearing a clear ImageLocation: %v", err)
	}
}
