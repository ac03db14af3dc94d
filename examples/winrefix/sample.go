package main

import (
	"bytes"
	_ "embed"
	"io"
)

// sampleName names the embedded sample image: a GPT Windows 11 disk made by
// testdata/generate.sh with the reference tools (ESP, MSR, C:, and a 529 MiB
// WinRE partition too small for KB5034441).
const sampleName = "gpt-win11-standard"

//go:embed gpt-win11-standard.img.sgz
var sampleData []byte

func sampleImage() (io.Reader, error) { return bytes.NewReader(sampleData), nil }
