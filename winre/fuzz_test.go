package winre

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func reagentSeeds(f *testing.F) [][]byte {
	s, err := os.ReadFile(sampleFile)
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{
		s, toLF(s), withBOM(s), toUTF16(s, true), toUTF16(s, false),
		replace(s, `offset="3926917120"`, `offset="1048576"`),
		replace(s, `<WinreLocation path="\Recovery\WindowsRE" id="0"`, "<WinreLocation\r\n path = '\\Recovery\\WindowsRE'\tid='0'  "),
		replace(s, `<InstallState`, `<X a="&amp;"><Y/></X><InstallState`),
		[]byte(`<WindowsRE><WinreLocation path="" id="0" offset="0" guid=""/></WindowsRE>`),
		[]byte(`<WindowsRE/>`),
	}
}

func FuzzParseReAgent(f *testing.F) {
	for _, s := range reagentSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReAgent(b)
		if err != nil {
			if r != nil {
				t.Fatal("result with error")
			}
			for _, s := range []error{ErrTooLarge, ErrEncoding, ErrMalformed, ErrNotReAgent, ErrMissing, ErrDuplicate, ErrBadValue} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		_ = r.Verify()
		_, _ = r.Build()
		// Parsing is deterministic.
		r2, err := ParseReAgent(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, r2); d != "" {
			t.Fatal(d)
		}
	})
}

func FuzzPatchLocation(f *testing.F) {
	for i, s := range reagentSeeds(f) {
		f.Add(s, uint64(1048576)<<uint(i%12), []byte(sampleGUID[:]), uint32(i*977))
	}
	f.Fuzz(func(t *testing.T, b []byte, offset uint64, g []byte, id uint32) {
		var guid uuid.UUID
		copy(guid[:], g)
		before, err := ParseReAgent(b)
		if err != nil {
			return
		}
		keep := bytes.Clone(b)
		out, err := PatchLocation(b, offset, guid, id)
		if !bytes.Equal(keep, b) {
			t.Fatal("input modified")
		}
		if err != nil {
			if out != nil {
				t.Fatal("output with error")
			}
			if errors.Is(err, ErrPatchDoesNotFit) || errors.Is(err, ErrMissing) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrDuplicate) {
				return
			}
			t.Fatalf("unexpected error %v", err)
		}
		checkOnlyTag(t, b, out, "WinreLocation")
		after, err := ParseReAgent(out)
		if err != nil {
			t.Fatalf("patched file does not parse: %v\n%q", err, out)
		}
		want := before.WinreLocation
		want.Offset, want.GUID, want.ID = offset, guid, id
		if d := cmp.Diff(want, after.WinreLocation); d != "" {
			t.Fatalf("WinreLocation (-want +got):\n%s", d)
		}
		sameExcept(t, before, after, "WinreLocation")
	})
}

func FuzzWIMHeader(f *testing.F) {
	tiny, err := os.ReadFile(tinyWIM)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny)
	f.Add(wimHeaderBytes())
	f.Add(append(append([]byte{}, wimPipableMagic...), make([]byte, 300)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseWIMHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if h != nil {
				t.Fatal("header with error")
			}
			if !errors.Is(err, ErrNotWIM) && !errors.Is(err, ErrPipableWIM) && !errors.Is(err, ErrWIMHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		_ = h.Compression().String()
		_ = h.Flags.String()
		if h.XMLData.SizeInWIM != 0 && h.XMLData.Offset+h.XMLData.SizeInWIM > uint64(len(b)) {
			t.Fatalf("accepted XML resource beyond the end: %+v", h.XMLData)
		}
		info, err := h.ReadXML(bytes.NewReader(b))
		if err != nil {
			if info != nil {
				t.Fatal("info with error")
			}
			return
		}
		for _, img := range info.Images {
			_ = img.Version.String() + img.Arch.String()
		}
	})
}

// FuzzPatchLocationExact checks the variable-length patch: on any file
// ParseReAgent accepts it succeeds or reports a missing attribute, the
// result parses with the new location and every other field unchanged,
// and the bytes before and after the tag are those of the input.
func FuzzPatchLocationExact(f *testing.F) {
	for i, s := range append(reagentSeeds(f), windowsReAgent(1048576, "5bc3b6ba-0000-4000-8000-000000000001")) {
		f.Add(s, uint64(1048576)<<uint(i%22), []byte(sampleGUID[:]), uint32(i*977), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, b []byte, offset uint64, g []byte, id uint32, clearImage bool) {
		var guid uuid.UUID
		copy(guid[:], g)
		before, err := ParseReAgent(b)
		if err != nil {
			return
		}
		keep := bytes.Clone(b)
		name, patch := "WinreLocation", func(b []byte) ([]byte, error) { return PatchLocationExact(b, offset, guid, id) }
		if clearImage {
			name, patch = "ImageLocation", ClearImageLocationExact
		}
		out, err := patch(b)
		if !bytes.Equal(keep, b) {
			t.Fatal("input modified")
		}
		if err != nil {
			if out != nil {
				t.Fatal("output with error")
			}
			if errors.Is(err, ErrMissing) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrDuplicate) {
				return
			}
			t.Fatalf("unexpected error %v", err)
		}
		lo, hi := tagSpan(t, b, name)
		if !bytes.Equal(out[:lo], b[:lo]) || !bytes.Equal(out[len(out)-(len(b)-hi):], b[hi:]) {
			t.Fatalf("bytes outside <%s> changed:\n%q\n%q", name, b, out)
		}
		after, err := ParseReAgent(out)
		if err != nil {
			t.Fatalf("patched file does not parse: %v\n%q", err, out)
		}
		if clearImage {
			if !after.ImageLocation.Unused() {
				t.Fatalf("ImageLocation not cleared: %+v", after.ImageLocation)
			}
			sameExcept(t, before, after, "ImageLocation")
			return
		}
		want := before.WinreLocation
		want.Offset, want.GUID, want.ID = offset, guid, id
		if d := cmp.Diff(want, after.WinreLocation); d != "" {
			t.Fatalf("WinreLocation (-want +got):\n%s", d)
		}
		sameExcept(t, before, after, "WinreLocation")
	})
}
