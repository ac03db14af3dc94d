package mbr

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/winrepart/winrepart/diag"
)

// windowsCHSDisk is a BIOS Windows layout made by sfdisk on a disk of
// 409600 sectors, 25.5 cylinders of 255x63: System Reserved, C:, and an
// extended partition to the end of the disk holding a data volume and a
// 0x27 WinRE. sfdisk writes every CHS field as the exact 255/63 address.
const windowsCHSDisk = `label: dos
label-id: 0x1f2e3d4c
start=2048, size=204800, type=7, bootable
start=206848, size=102400, type=7
start=309248, type=5
start=311296, size=40960, type=7
start=354304, type=27
`

// cylinderEnd is the CHS address of the last sector of cylinder c.
func cylinderEnd(c uint64) CHS { return encodeCHS(c, chsHeads-1, chsSectors) }

// rewriteCHS applies edit to every used entry of the image at path (the
// MBR's, then each logical partition's) and writes the records back.
func rewriteCHS(t *testing.T, path string, edit func(e *Entry, start uint64, logical bool)) {
	t.Helper()
	tbl, f := readImage(t, path, 512)
	f.Close()
	for i := range tbl.Record.Entries {
		if e := &tbl.Record.Entries[i]; used(*e) {
			edit(e, uint64(e.StartLBA), false)
		}
	}
	for i := range tbl.Logical {
		l := &tbl.Logical[i]
		edit(&l.Entry, l.EBRLBA+uint64(l.Entry.StartLBA), true)
	}
	ws, err := tbl.Writes()
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, x := range ws {
		if _, err := w.WriteAt(x.New, x.Offset); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCHSWindowsConventions writes the CHS fields of an sfdisk-made table
// the ways Windows writes them and checks that Verify takes each for what
// it is, a convention and not a problem, while an address that follows no
// convention is still reported (at info level). sfdisk reads the same
// partitions from every variant: the LBA fields are untouched.
func TestCHSWindowsConventions(t *testing.T) {
	perCyl := uint64(chsHeads * chsSectors)
	variants := []struct {
		name string
		edit func(e *Entry, start uint64, logical bool)
		want []diag.Code
	}{
		{"sfdisk-exact", func(*Entry, uint64, bool) {}, nil},
		{"end-clamped-to-whole-cylinder", func(e *Entry, start uint64, _ bool) {
			// The end rounded down to the last whole cylinder inside the
			// partition: for the partitions running to the end of the
			// disk, its last whole cylinder (24 of 25.5).
			e.LastCHS = cylinderEnd((start+uint64(e.Sectors))/perCyl - 1)
		}, nil},
		{"logical-relative-to-ebr", func(e *Entry, _ uint64, logical bool) {
			if logical {
				e.FirstCHS = CHSFromLBA(uint64(e.StartLBA))
				e.LastCHS = CHSFromLBA(uint64(e.StartLBA) + uint64(e.Sectors) - 1)
			}
		}, nil},
		{"both", func(e *Entry, start uint64, logical bool) {
			if logical {
				e.FirstCHS = CHSFromLBA(uint64(e.StartLBA))
				e.LastCHS = CHSFromLBA(uint64(e.StartLBA) + uint64(e.Sectors) - 1)
				return
			}
			e.LastCHS = cylinderEnd((start+uint64(e.Sectors))/perCyl - 1)
		}, nil},
		{"no-convention", func(e *Entry, start uint64, _ bool) {
			if start == 206848 {
				e.LastCHS = cylinderEnd(3) // neither its cylinder nor the one before
			}
		}, []diag.Code{ProblemCHSMismatch}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			path := sfdiskImage(t, 409600*512, 512, windowsCHSDisk)
			before, _ := sfdiskJSON(t, path)
			rewriteCHS(t, path, v.edit)
			after, _ := sfdiskJSON(t, path)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("sfdisk reads other partitions after the CHS edit (-before +after):\n%s", diff)
			}
			tbl, f := readImage(t, path, 512)
			defer f.Close()
			ps := tbl.Verify()
			if diff := cmp.Diff(v.want, codes(ps)); diff != "" {
				t.Errorf("Verify codes (-want +got):\n%s\n%s", diff, dumpProblems(ps))
			}
			for _, p := range ps {
				if p.Severity != diag.Info {
					t.Errorf("%s is not info-level", p)
				}
			}
		})
	}
}
