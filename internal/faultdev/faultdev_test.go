package faultdev

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMemSparse(t *testing.T) {
	m := NewMem(1<<40, 512) // 1 TiB, nothing allocated
	if m.Pages() != 0 {
		t.Fatal("pages allocated up front")
	}
	data := bytes.Repeat([]byte("ab"), 5000)
	if _, err := m.WriteAt(data, 1<<39-3); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data)+10)
	if _, err := m.ReadAt(got, 1<<39-8); err != nil {
		t.Fatal(err)
	}
	want := append(append(make([]byte, 5), data...), make([]byte, 5)...)
	if !bytes.Equal(got, want) {
		t.Error("read back differs")
	}
	if m.Pages() != 4 {
		t.Errorf("%d pages, want 4", m.Pages())
	}
	if _, err := m.WriteAt([]byte{1}, 1<<40); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("write past end: %v", err)
	}
	c := m.Clone()
	if d := c.FirstDiff(m); d != -1 {
		t.Errorf("clone differs at %d", d)
	}
	c.WriteAt([]byte{0}, 100) // a zero into a new page: still equal
	if d := c.FirstDiff(m); d != -1 {
		t.Errorf("zero page differs at %d", d)
	}
	c.WriteAt([]byte{7}, 1<<39+17)
	if d := c.FirstDiff(m); d != 1<<39+17 {
		t.Errorf("FirstDiff = %d, want %d", d, int64(1<<39+17))
	}
}

func TestStopAfter(t *testing.T) {
	m := NewMem(1<<20, 512)
	d := New(m)
	d.StopAfter(2)
	for i := range 4 {
		_, err := d.WriteAt([]byte{byte(i + 1)}, int64(i))
		if (i >= 2) != errors.Is(err, ErrPowerLost) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if err := d.Sync(); !errors.Is(err, ErrPowerLost) {
		t.Errorf("sync after power loss: %v", err)
	}
	b := make([]byte, 4)
	m.ReadAt(b, 0)
	if d := cmp.Diff([]byte{1, 2, 0, 0}, b); d != "" {
		t.Error(d)
	}
	if d.Writes() != 4 || !d.Crashed() {
		t.Errorf("writes %d crashed %v", d.Writes(), d.Crashed())
	}
	want := []Span{{0, 1}, {1, 1}, {2, 1}, {3, 1}}
	if diff := cmp.Diff(want, d.Log()); diff != "" {
		t.Error(diff)
	}
	d.Crash()
	if _, err := d.WriteAt([]byte{9}, 3); err != nil || d.Writes() != 1 {
		t.Errorf("after Crash: %v, %d writes", err, d.Writes())
	}
}

func TestTearAt(t *testing.T) {
	m := NewMem(1<<20, 512)
	d := New(m)
	d.TearAt(0, 1300) // rounds down to 1024
	n, err := d.WriteAt(bytes.Repeat([]byte{0xee}, 2048), 4096)
	if n != 1024 || !errors.Is(err, ErrPowerLost) {
		t.Fatalf("torn write: %d, %v", n, err)
	}
	b := make([]byte, 2048)
	m.ReadAt(b, 4096)
	if !bytes.Equal(b[:1024], bytes.Repeat([]byte{0xee}, 1024)) || !bytes.Equal(b[1024:], make([]byte, 1024)) {
		t.Error("torn write stored the wrong prefix")
	}
}

func TestLoseUnflushed(t *testing.T) {
	m := NewMem(1<<20, 512)
	d := New(m)
	d.LoseUnflushed()
	d.WriteAt([]byte("durable"), 5000)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	d.WriteAt([]byte("VOLATILE"), 5003)
	got := make([]byte, 11)
	d.ReadAt(got, 5000)
	if string(got) != "durVOLATILE" {
		t.Errorf("read through the cache: %q", got)
	}
	m.ReadAt(got[:7], 5000)
	if string(got[:7]) != "durable" {
		t.Errorf("inner device already has %q", got[:7])
	}
	d.Crash()
	d.ReadAt(got, 5000)
	if string(got) != "durable\x00\x00\x00\x00" {
		t.Errorf("after crash: %q", got)
	}
}
