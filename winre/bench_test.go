package winre

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkParseReAgent(b *testing.B) {
	s := sample(b)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReAgent(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchLocation(b *testing.B) {
	s := sample(b)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PatchLocation(s, 1048576, sampleGUID, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWIMHeader(b *testing.B) {
	w, err := os.ReadFile(tinyWIM)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(w)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseWIMHeader(r, int64(len(w))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadXML(b *testing.B) {
	w, err := os.ReadFile(tinyWIM)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(w)
	h, err := ParseWIMHeader(r, int64(len(w)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ReadXML(r); err != nil {
			b.Fatal(err)
		}
	}
}
