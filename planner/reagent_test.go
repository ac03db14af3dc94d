package planner

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
)

// reagentText is a ReAgent.xml pointing at offset on the synthetic disk,
// with line ends eol and children indented by indent.
func reagentText(offset int64, eol, indent string) []byte {
	lines := []string{
		`<?xml version='1.0' encoding='utf-8'?>`, ``, `<WindowsRE version="2.0">`,
		fmt.Sprintf(indent+`<WinreLocation path="\Recovery\WindowsRE" id="0" offset="%d" guid="{%s}"/>`, offset, fixedDisk),
		indent + `<ImageLocation path="" id="0" offset="0" guid="{00000000-0000-0000-0000-000000000000}"/>`,
		indent + `<InstallState state="1"/>`, indent + `<WinREStaged state="0"/>`, `</WindowsRE>`,
	}
	return append([]byte("\xEF\xBB\xBF"), strings.Join(lines, eol)...)
}

// TestReAgentRoom plans the relocation of a WinRE at 1 MiB (a 7-digit
// offset) to after C: (11 digits) with ReAgent.xml facts of every kind: the
// plan is refused exactly when the executor's patch would fail.
func TestReAgentRoom(t *testing.T) {
	base := planCases()
	var tl tlayout
	for _, c := range base {
		if c.name == "relocate-old-layout" {
			tl = c.tl
		}
	}
	const path = `\Windows\System32\Recovery\ReAgent.xml`
	// Windows' layout (CRLF, two-space indentation) and an older one
	// without indentation, whose line ends the fixed-length patch can
	// give up (">\r\n<").
	crlf, lf, flat := reagentText(MiB, "\r\n", "  "), reagentText(MiB, "\n", "  "), reagentText(MiB, "\r\n", "")
	tests := []struct {
		name    string
		file    *recovery.ReAgentFile
		refused bool
		grows   bool // the patched text is longer than the file
	}{
		{name: "no-facts"},
		{name: "resident-room", file: &recovery.ReAgentFile{Content: lf, Room: ntfs.FileRoom{Size: int64(len(lf)), MaxSize: int64(len(lf)) + 8, Resident: true}}, grows: true},
		{name: "cluster-slack", file: &recovery.ReAgentFile{Content: crlf, Room: ntfs.FileRoom{Size: int64(len(crlf)), MaxSize: 4096}}, grows: true},
		{name: "full-record-flat-compacted", file: &recovery.ReAgentFile{Content: flat, Room: ntfs.FileRoom{Size: int64(len(flat)), MaxSize: int64(len(flat)), Resident: true}}},
		{name: "full-record-windows", file: &recovery.ReAgentFile{Content: crlf, Room: ntfs.FileRoom{Size: int64(len(crlf)), MaxSize: int64(len(crlf)) + 3, Resident: true}}, refused: true},
		{name: "full-record-lf", file: &recovery.ReAgentFile{Content: lf, Room: ntfs.FileRoom{Size: int64(len(lf)), MaxSize: int64(len(lf)) + 2, Resident: true}}, refused: true},
		{name: "fixed-length-lf", file: &recovery.ReAgentFile{Content: lf, Room: ntfs.FileRoom{Size: int64(len(lf)), MaxSize: 4096, Fixed: "$DATA in 2 extents"}}, refused: true},
		{name: "unrewritable", file: &recovery.ReAgentFile{Content: crlf, RoomErr: "ntfs: unsupported attribute encoding: $DATA flags 0x1"}, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tl.build()
			if tc.file != nil {
				tc.file.Path = path
				tc.file.Room.Path = path
			}
			l.WinRE.ReAgent = tc.file
			p := New(l, Options{})
			if p.Strategy != StrategyRelocate {
				t.Fatalf("strategy %s, reasons %v", p.Strategy, p.Reasons)
			}
			codes := []Code{}
			for _, r := range p.Reasons {
				codes = append(codes, r.Code)
			}
			if got := slices.Contains(codes, CodeReAgentPatch); got != tc.refused || p.Refused != tc.refused {
				t.Fatalf("refused %v with %v, want refused %v", p.Refused, p.Reasons, tc.refused)
			}
			if tc.file == nil {
				return
			}
			var step *PatchReAgent
			for _, s := range p.Steps {
				if r, ok := s.(PatchReAgent); ok {
					step = &r
				}
			}
			// The executor's check agrees with the plan.
			off := int64(0)
			if step != nil {
				off = step.Offset
			} else {
				off = p.newWinRE.StartBytes(l.SectorSize)
			}
			out, err := tc.file.Patch(uint64(off))
			if (err != nil) != tc.refused {
				t.Fatalf("Patch(%d): %v", off, err)
			}
			if err != nil {
				if !errors.Is(err, recovery.ErrReAgentPatch) {
					t.Errorf("Patch error %v does not wrap ErrReAgentPatch", err)
				}
				return
			}
			ra, err := winre.ParseReAgent(out)
			if err != nil || ra.WinreLocation.Offset != uint64(off) {
				t.Fatalf("patched text: %v, offset %d, want %d", err, ra.WinreLocation.Offset, off)
			}
			if grew := len(out) > len(tc.file.Content); grew != tc.grows {
				t.Errorf("patched text of %d bytes from %d", len(out), len(tc.file.Content))
			}
		})
	}
}
