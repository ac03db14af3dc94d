package blockdev

import (
	"bytes"
	"errors"
	"testing"
)

// failingReader fails every read.
type failingReader struct{}

func (failingReader) ReadAt(p []byte, off int64) (int, error) {
	return 0, errors.New("read error")
}

func TestDetectSectorSize(t *testing.T) {
	at := func(size int, offs ...int) []byte {
		b := make([]byte, size)
		for _, off := range offs {
			copy(b[off:], efiPartSignature)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		size int64 // -1: len(b)
		want int
	}{
		{"empty", nil, -1, 512},
		{"short", make([]byte, 100), -1, 512},
		{"512n", at(8192, 512), -1, 512},
		{"4Kn", at(8192, 4096), -1, 4096},
		{"both", at(8192, 512, 4096), -1, 512},
		{"size cut before the signature", at(8192, 4096), 4100, 512},
		{"signature ends at size", at(4104, 4096), -1, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size < 0 {
				size = int64(len(tc.b))
			}
			if got := DetectSectorSize(bytes.NewReader(tc.b), size); got != tc.want {
				t.Errorf("DetectSectorSize = %d, want %d", got, tc.want)
			}
		})
	}
	if got := DetectSectorSize(failingReader{}, 1<<20); got != 512 {
		t.Errorf("DetectSectorSize(failing reader) = %d, want 512", got)
	}
}
