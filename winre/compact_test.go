package winre

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestPatchLocationCompact(t *testing.T) {
	src, err := os.ReadFile("testdata/ReAgent-gpt.xml")
	if err != nil {
		t.Fatal(err)
	}
	// Windows 10 before 1909 put WinRE at 1 MiB: a 7-digit offset.
	// Written by Windows, the tag has no spare whitespace.
	small := bytes.Replace(src, []byte(`offset="3926917120"`), []byte(`offset="1048576"`), 1)
	if bytes.Equal(small, src) {
		t.Fatal("testdata changed: no offset to replace")
	}
	ra0, err := ParseReAgent(small)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []uint64{1048576, 3191865344, 1099511627776, 18446744073709551615} {
		if _, err := PatchLocation(small, off, ra0.WinreLocation.GUID, 0); off > 99999999 {
			var fe *FitError
			if !errors.As(err, &fe) {
				t.Fatalf("offset %d: PatchLocation = %v, want a FitError (the case this function is for)", off, err)
			}
		}
		out, err := PatchLocationCompact(small, off, ra0.WinreLocation.GUID, 0)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if len(out) != len(small) {
			t.Fatalf("offset %d: length %d, want %d", off, len(out), len(small))
		}
		ra, err := ParseReAgent(out)
		if err != nil {
			t.Fatalf("offset %d: result does not parse: %v\n%s", off, err, out)
		}
		if ra.WinreLocation.Offset != off || ra.WinreLocation.GUID != ra0.WinreLocation.GUID || ra.WinreLocation.Path != ra0.WinreLocation.Path {
			t.Errorf("offset %d: WinreLocation %+v", off, ra.WinreLocation)
		}
		// Everything else is as it was, apart from line ends.
		if norm(ra) != norm(ra0) {
			t.Errorf("offset %d: other elements changed", off)
		}
		if strings.Count(string(out), "\n") != strings.Count(string(small), "\n") {
			t.Errorf("offset %d: line count changed", off)
		}
	}
	// Without CRLF line ends there is nothing to take the room from.
	lf := bytes.ReplaceAll(small, []byte("\r\n"), []byte("\n"))
	if _, err := PatchLocationCompact(lf, 3191865344, ra0.WinreLocation.GUID, 0); !errors.Is(err, ErrPatchDoesNotFit) {
		t.Errorf("LF-only file: %v, want ErrPatchDoesNotFit", err)
	}
}

// norm renders the parsed elements other than WinreLocation.
func norm(r *ReAgent) string {
	var b strings.Builder
	for _, e := range r.Elements {
		if e.Name == elemWinreLocation {
			continue
		}
		b.WriteString(e.Name)
		for _, a := range e.Attrs {
			b.WriteString(" " + a.Name + "=" + a.Value)
		}
		b.WriteString(";")
	}
	return b.String()
}
