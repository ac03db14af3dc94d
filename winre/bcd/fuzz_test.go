package bcd_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/winre/bcd"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// seeds are the fuzzers' seed hives: the committed WinRE store, the empty
// hive, and the Windows-made samples when they are available.
func seeds(f *testing.F) [][]byte {
	out := [][]byte{bcdtest.EmptyHive()}
	if b, err := os.ReadFile(filepath.Join("testdata", "winre-mbr.hive")); err == nil {
		out = append(out, b)
	} else {
		f.Fatal(err)
	}
	for _, s := range samples {
		if _, err := os.Stat(filepath.Join(filepath.Dir(testutil.ModuleRoot(f)), "shared", "samples", s)); err == nil {
			out = append(out, testutil.SampleBytes(f, s, ""))
		}
	}
	return out
}

// walk decodes everything a store offers; it must not panic.
func walk(s *bcd.Store) {
	for _, o := range s.Objects {
		for _, e := range o.Elements {
			switch e.Type.Format() {
			case 1:
				if d, err := e.Device(); err == nil {
					_ = d.String()
					_ = d.Partitions()
				}
			case 4:
				_, _ = e.GUIDs()
			default:
				_, _ = e.String()
			}
		}
	}
	_, _ = s.WinRE()
}

func FuzzRead(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := bcd.Read(bytes.NewReader(b), int64(len(b))); err == nil {
			walk(s)
		}
		// Again with the checksum made right, so that mutations of the
		// base block's fields reach the code behind the checksum.
		if len(b) >= 512 {
			c := bytes.Clone(b)
			fixChecksum(c)
			if s, err := bcd.Read(bytes.NewReader(c), int64(len(c))); err == nil {
				walk(s)
			}
		}
	})
}

// FuzzPlanMBRMove patches fuzzed hives: every write must replace the bytes
// it says it replaces, stay out of the base block, and leave a hive that
// still reads, with only the written bytes changed.
func FuzzPlanMBRMove(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b, uint32(0x1f2e3d08), uint64(3173<<20), uint64(2972<<20))
	}
	f.Fuzz(func(t *testing.T, b []byte, sig uint32, old, neu uint64) {
		s, err := bcd.Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		ws, err := s.PlanMBRMove(sig, old, neu)
		if err != nil {
			return
		}
		p := bytes.Clone(b)
		changed := make([]bool, len(b))
		for _, w := range ws {
			if w.Offset < 4096 || w.Offset+int64(len(w.New)) > int64(len(b)) || len(w.Old) != len(w.New) {
				t.Fatalf("write %+v outside the hive bins", w)
			}
			if !bytes.Equal(b[w.Offset:w.Offset+int64(len(w.Old))], w.Old) {
				t.Fatalf("write at %d: old bytes do not match", w.Offset)
			}
			copy(p[w.Offset:], w.New)
			for i := range w.New {
				changed[w.Offset+int64(i)] = true
			}
		}
		for i := range b {
			if b[i] != p[i] && !changed[i] {
				t.Fatalf("byte %d changed", i)
			}
		}
		ps, err := bcd.Read(bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatalf("patched hive no longer reads: %v", err)
		}
		if old != neu && len(ws) > 0 {
			if _, err := ps.PlanMBRMove(sig, old, neu); err != nil {
				t.Fatalf("re-planning on the patched hive: %v", err)
			}
		}
	})
}

// FuzzParseDevice decodes device element data directly: no panic, and
// every partition offset field it reports lies inside the data.
func FuzzParseDevice(f *testing.F) {
	f.Add(bcdtest.PartitionElement(0x1f2e3d08, 1<<20))
	f.Add(bcdtest.RamdiskElement(bcdtest.WinREOptions, 0x1f2e3d08, 3173<<20, `\Recovery\WindowsRE\Winre.wim`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := bcd.ParseDevice(b)
		if err != nil {
			return
		}
		_ = d.String()
		for _, p := range d.Partitions() {
			if p.OffsetPos < 0 || p.OffsetPos+8 > len(b) {
				t.Fatalf("offset field at %d of %d bytes", p.OffsetPos, len(b))
			}
		}
	})
}
