package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winrepart/winrepart/recovery"
	"github.com/winrepart/winrepart/recovery/ntfs"
)

// fakeRelocator answers with fixed figures or a fixed error, and records
// what it was asked.
type fakeRelocator struct {
	r     Relocation
	err   error
	asked []int64
	part  int
}

func (f *fakeRelocator) Relocation(os *recovery.Partition, newPartitionBytes int64) (Relocation, error) {
	f.asked = append(f.asked, newPartitionBytes)
	f.part = os.Number
	return f.r, f.err
}

// tailInUse is win11 with C: used to its very end.
func tailInUse() *recovery.Layout {
	tl := win11()
	tl.parts[2].usedTail = -1
	return tl.build()
}

func TestRelocatingShrink(t *testing.T) {
	l := tailInUse()
	fr := &fakeRelocator{r: Relocation{MovedBytes: 171966464, MovedFiles: 1234}}
	p := New(l, Options{Relocator: fr})
	if p.Refused || p.Strategy != StrategyShrinkOS {
		t.Fatalf("refused=%v strategy=%s\n%s", p.Refused, p.Strategy, p)
	}
	os := l.Partition(l.OS)
	if len(fr.asked) != 1 || fr.part != os.Number || fr.asked[0] != os.SizeBytes-p.OSShrinkBytes {
		t.Fatalf("relocator asked %v about partition %d, want [%d] about %d", fr.asked, fr.part, os.SizeBytes-p.OSShrinkBytes, os.Number)
	}
	var shrink *ShrinkFilesystem
	for _, st := range p.Steps {
		if sf, ok := st.(ShrinkFilesystem); ok {
			shrink = &sf
		}
	}
	if shrink == nil || shrink.MovedBytes != 171966464 || shrink.MovedFiles != 1234 {
		t.Fatalf("shrink step = %+v", shrink)
	}
	s := p.String()
	for _, want := range []string{"first moving 171966464 bytes (164 MiB) of 1234 files out of the cut-off tail", "C:'s tail is in use: 171966464 bytes (164 MiB) of 1234 files move"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan text lacks %q:\n%s", want, s)
		}
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"movedBytes":171966464,"movedFiles":1234`)) {
		t.Errorf("plan JSON lacks the moved figures:\n%s", js)
	}
	back, err := ReadJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range back.Steps {
		if sf, ok := st.(ShrinkFilesystem); ok && (sf.MovedBytes != shrink.MovedBytes || sf.MovedFiles != shrink.MovedFiles) {
			t.Errorf("saved plan lost the figures: %+v", sf)
		}
	}
	golden(t, filepath.Join("testdata", "os-tail-relocated.golden"), s)

	// --no-relocate: the old refusal, and the relocator is not asked.
	fr.asked = nil
	p = New(l, Options{Relocator: fr, NoRelocate: true})
	if !p.Refused || len(p.Reasons) != 1 || p.Reasons[0].Code != CodeOSTailInUse || !strings.Contains(p.Reasons[0].Message, "moving data was turned off") {
		t.Fatalf("NoRelocate: %v", p.Reasons)
	}
	if len(fr.asked) != 0 {
		t.Errorf("NoRelocate asked the relocator %v", fr.asked)
	}

	// The tail is free: the relocator is never asked.
	p = New(win11().build(), Options{Relocator: fr})
	if p.Refused || len(fr.asked) != 0 {
		t.Errorf("free tail: refused=%v asked=%v", p.Refused, fr.asked)
	}
}

func TestRelocationRefused(t *testing.T) {
	l := tailInUse()
	os := l.Partition(l.OS)
	unmovable := &ntfs.RelocateError{NewBytes: 1, MinBytes: os.SizeBytes - 12*MiB, Err: ntfs.ErrUnmovable,
		Files: []ntfs.UnmovableFile{{Record: 2, Path: "/$LogFile", Attr: ntfs.AttrData, Reason: "a system file", Err: ntfs.ErrUnsupported}}}
	noSpace := &ntfs.RelocateError{NewBytes: 1, MinBytes: os.SizeBytes - 3*MiB, NeedClusters: 50000, FreeClusters: 100, Err: ntfs.ErrNoSpace}
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"unmovable", unmovable, []string{"cannot move record 2 (/$LogFile) $DATA: a system file", "the largest shrink possible moving data is 12 MiB"}},
		{"no-space", noSpace, []string{"196 MiB is in use past the new end and only 0.39 MiB is free before it", "the largest shrink possible moving data is 3 MiB"}},
		{"wrapped", errors.Join(errors.New("context"), unmovable), []string{"/$LogFile"}},
		{"other", errors.New("ntfs: MFT record 77: bad fixup"), []string{"moving it cannot be planned: ntfs: MFT record 77: bad fixup"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(l, Options{Relocator: &fakeRelocator{err: c.err}})
			if !p.Refused || len(p.Reasons) != 1 || p.Reasons[0].Code != CodeOSTailInUse {
				t.Fatalf("reasons %v", p.Reasons)
			}
			for _, w := range c.want {
				if !strings.Contains(p.Reasons[0].Message, w) {
					t.Errorf("message %q lacks %q", p.Reasons[0].Message, w)
				}
			}
			if len(p.Steps) != 0 {
				t.Errorf("refused plan has steps")
			}
		})
	}
	// Negative figures are an error of the relocator, not a plan.
	p := New(l, Options{Relocator: &fakeRelocator{r: Relocation{MovedBytes: -1}}})
	if !p.Refused {
		t.Errorf("negative figures accepted")
	}
}

func TestSavedPlanMovedFigures(t *testing.T) {
	p := New(tailInUse(), Options{Relocator: &fakeRelocator{r: Relocation{MovedBytes: 4096, MovedFiles: 1}}})
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`"movedBytes":-4096`, `"movedFiles":-1`} {
		mut := strings.Replace(string(js), strings.SplitN(bad, ":", 2)[0]+":"+map[bool]string{true: "4096", false: "1"}[strings.Contains(bad, "Bytes")], bad, 1)
		if mut == string(js) {
			t.Fatalf("mutation %s did not apply", bad)
		}
		if _, err := ReadJSON(strings.NewReader(mut)); !errors.Is(err, ErrSavedPlan) {
			t.Errorf("%s: err = %v, want ErrSavedPlan", bad, err)
		}
	}
	// Figures on another kind of step.
	mut := strings.Replace(string(js), `"kind":"shrink-partition",`, `"kind":"shrink-partition","movedBytes":4096,`, 1)
	if mut == string(js) {
		t.Fatal("mutation did not apply")
	}
	if _, err := ReadJSON(strings.NewReader(mut)); !errors.Is(err, ErrSavedPlan) {
		t.Errorf("moved figures on shrink-partition: err = %v, want ErrSavedPlan", err)
	}
}
