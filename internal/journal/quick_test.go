package journal

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/winrepart/winrepart/internal/faultdev"
)

func TestQuickRoundTrip(t *testing.T) {
	m := faultdev.NewMem(64<<20, 512)
	m.WriteAt([]byte("hello source"), 8<<20)
	path := filepath.Join(t.TempDir(), "j")
	ops := []Op{
		Write{Offset: 512, Data: []byte("new header"), What: "hdr"},
		Barrier{What: "flush"},
		Copy{Src: 8 << 20, Dst: 7 << 20, Length: 4 << 20, What: "move"},
	}
	j, err := Create(path, m, ops, CreateOptions{Summary: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), m, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 12)
	m.ReadAt(b, 7<<20)
	if string(b) != "hello source" {
		t.Fatalf("got %q", b)
	}
	res, err := Recover(context.Background(), m, path, Auto, RunOptions{})
	if err != nil || res.Action != AlreadyComplete {
		t.Fatal(res, err)
	}
}
