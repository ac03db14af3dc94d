package mbr

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

func TestCHSFromLBA(t *testing.T) {
	for _, tc := range []struct {
		lba  uint64
		want string
	}{
		{0, "0/0/1"},
		{62, "0/0/63"},
		{63, "0/1/1"},
		{2048, "0/32/33"},
		{16065, "1/0/1"},
		{1023*16065 + 16064, "1023/254/63"},
		{1024 * 16065, "1023/254/63"},
		{1 << 40, "1023/254/63"},
	} {
		if got := CHSFromLBA(tc.lba).String(); got != tc.want {
			t.Errorf("CHSFromLBA(%d) = %s, want %s", tc.lba, got, tc.want)
		}
	}
	if c := CHSFromLBA(1 << 32); c != (CHS{0xfe, 0xff, 0xff}) {
		t.Errorf("saturated CHS bytes % x, want fe ff ff", c[:])
	}
}

// TestEditGrowWinRE does what the planner will: shrink C:, move and grow
// the WinRE partition, then checks the result with sfdisk.
func TestEditGrowWinRE(t *testing.T) {
	const script = `label: dos
label-id: 0x12345678
start=2048, size=102400, type=7, bootable
start=104448, size=204800, type=7
start=309248, size=20480, type=27
`
	path := sfdiskImage(t, 256<<20, 512, script)
	tbl, _ := readImage(t, path, 512)

	if err := tbl.SetPrimary(3, 268288, 61440, TypeWinRE); !errors.Is(err, ErrOverlap) {
		t.Fatalf("growing WinRE into C: gave %v, want ErrOverlap", err)
	}
	if err := tbl.SetPrimary(2, 104448, 163840, TypeNTFS); err != nil {
		t.Fatal(err)
	}
	if err := tbl.SetPrimary(3, 268288, 61440, TypeWinRE); err != nil {
		t.Fatal(err)
	}
	n, err := tbl.AddPrimary(329728, 4096, TypeFAT32LBA)
	if err != nil || n != 4 {
		t.Fatalf("AddPrimary = %d, %v; want 4", n, err)
	}
	if _, err := tbl.AddPrimary(400000, 10, TypeNTFS); !errors.Is(err, ErrNoFreeSlot) {
		t.Errorf("fifth partition: %v, want ErrNoFreeSlot", err)
	}
	if err := tbl.DeletePrimary(4); err != nil {
		t.Fatal(err)
	}
	if err := tbl.SetActive(2); err != nil {
		t.Fatal(err)
	}
	if ps := tbl.Verify(); len(ps) != 0 {
		t.Fatalf("Verify after edits:\n%s", dumpProblems(ps))
	}
	ws, err := tbl.Writes()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if _, err := f.WriteAt(w.New, w.Offset); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	st, _ := sfdiskJSON(t, path)
	want := []partView{
		{1, 2048, 102400, "7", false},
		{2, 104448, 163840, "7", true},
		{3, 268288, 61440, "27", false},
	}
	if diff := cmp.Diff(want, fromSfdisk(t, st.PartitionTable.Partitions)); diff != "" {
		t.Errorf("sfdisk sees (-want +got):\n%s", diff)
	}
	if out := testutil.Run(t, "sfdisk", "--verify", path); !strings.Contains(out, "No errors detected") {
		t.Errorf("sfdisk --verify:\n%s", out)
	}
}

func TestEditRefusals(t *testing.T) {
	tbl, err := readTiny(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"number-0", tbl.SetPrimary(0, 1, 1, TypeNTFS), ErrNumber},
		{"number-5", tbl.SetPrimary(5, 1, 1, TypeNTFS), ErrNumber},
		{"extended", tbl.SetPrimary(3, 17, 40, TypeExtendedLBA), ErrExtended},
		{"to-extended", tbl.SetPrimary(1, 1, 8, TypeExtendedLBA), ErrExtended},
		{"empty-slot", tbl.SetPrimary(4, 57, 2, TypeNTFS), ErrNumber},
		{"zero-start", tbl.SetPrimary(1, 0, 8, TypeNTFS), ErrRange},
		{"beyond-disk", tbl.SetPrimary(2, 9, 100, TypeNTFS), ErrRange},
		{"over-32-bits", tbl.SetPrimary(2, 1<<32, 1, TypeNTFS), ErrRange},
		{"into-extended", tbl.SetPrimary(2, 9, 10, TypeWinRE), ErrOverlap},
		{"delete-extended", tbl.DeletePrimary(3), ErrHasLogicals},
		{"activate-empty", tbl.SetActive(4), ErrNumber},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := tbl.AddPrimary(58, 2, TypeExtendedCHS); !errors.Is(err, ErrExtended) {
		t.Errorf("adding an extended partition: %v, want ErrExtended", err)
	}
	if ps := tbl.Verify(); len(ps) != 0 {
		t.Errorf("refused edits changed the table:\n%s", dumpProblems(ps))
	}
}

func readTiny(t *testing.T) (*Table, error) {
	img := tinyImage(t)
	return Read(bytesReader(img), int64(len(img)), 512)
}

func TestFreeExtents(t *testing.T) {
	tbl, err := readTiny(t)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Extent{{57, 7}}, tbl.FreeExtents(1)); diff != "" {
		t.Errorf("FreeExtents(1) (-want +got):\n%s", diff)
	}
	if err := tbl.DeletePrimary(2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Extent{{9, 8}, {57, 7}}, tbl.FreeExtents(0)); diff != "" {
		t.Errorf("FreeExtents(0) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Extent{{12, 4}, {60, 4}}, tbl.FreeExtents(4)); diff != "" {
		t.Errorf("FreeExtents(4) (-want +got):\n%s", diff)
	}
	if got := tbl.FreeExtents(1 << 20); got != nil {
		t.Errorf("FreeExtents(huge) = %v, want none", got)
	}
}
