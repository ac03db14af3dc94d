package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMESnippet keeps the README's Go example true: it must be this
// package's main.go, which the build compiles and vets.
func TestREADMESnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## From Go")
	j := strings.Index(s[i:], "```go\n")
	if i < 0 || j < 0 {
		t.Fatal("README has no Go example under '## From Go'")
	}
	body := s[i+j+len("```go\n"):]
	body = body[:strings.Index(body, "```")]
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if body != string(src) {
		t.Errorf("README's Go example and examples/readme/main.go differ; keep them identical")
	}
}
