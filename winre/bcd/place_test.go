package bcd

import (
	"bytes"
	"errors"
	"testing"

	"github.com/winrepart/winrepart/diag"
)

// TestPlaceWriteAcrossSegments maps a change that straddles two big-data
// segments to one write per segment.
func TestPlaceWriteAcrossSegments(t *testing.T) {
	v := &Value{Data: []byte("0123456789"), Runs: []Run{{1000, 6}, {5000, 4}}}
	ws, err := placeWrite(v, 4, []byte("4567"), []byte("abcd"), "x")
	if err != nil {
		t.Fatal(err)
	}
	want := []diag.Write{{Offset: 1004, Old: []byte("45"), New: []byte("ab"), What: "x"}, {Offset: 5000, Old: []byte("67"), New: []byte("cd"), What: "x"}}
	if len(ws) != 2 || ws[0].Offset != want[0].Offset || !bytes.Equal(ws[0].New, want[0].New) || !bytes.Equal(ws[0].Old, want[0].Old) ||
		ws[1].Offset != want[1].Offset || !bytes.Equal(ws[1].New, want[1].New) || !bytes.Equal(ws[1].Old, want[1].Old) {
		t.Errorf("writes %+v, want %+v", ws, want)
	}
	if _, err := placeWrite(v, 4, []byte("xxxx"), []byte("abcd"), "x"); !errors.Is(err, ErrPatch) {
		t.Errorf("mismatched old bytes: %v", err)
	}
	if _, err := placeWrite(v, 8, []byte("89xx"), []byte("abcd"), "x"); !errors.Is(err, ErrPatch) {
		t.Errorf("past the data: %v", err)
	}
}
