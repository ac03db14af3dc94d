package bcd_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/winrepart/winrepart/internal/testutil"
	"github.com/winrepart/winrepart/winre/bcd"
)

// The oracle is hivexml (Debian libhivex-bin): it prints every key and
// value of a hive as XML, with the file offsets ("byte runs") of each
// key's nk cell and each value's vk and data cells.

type xRun struct {
	Offset int64 `xml:"file_offset,attr"`
	Len    int   `xml:"len,attr"`
}

type xValue struct {
	Type     string   `xml:"type,attr"`
	Key      string   `xml:"key,attr"`
	Value    string   `xml:"value,attr"`
	Encoding string   `xml:"encoding,attr"`
	Strings  []string `xml:"string"`
	Runs     []xRun   `xml:"byte_runs>byte_run"`
}

type xNode struct {
	Name   string   `xml:"name,attr"`
	Runs   []xRun   `xml:"byte_runs>byte_run"`
	Nodes  []xNode  `xml:"node"`
	Values []xValue `xml:"value"`
}

// hivexml runs hivexml on hive and returns its root node.
func hivexml(t *testing.T, hive []byte) xNode {
	t.Helper()
	testutil.NeedTool(t, "hivexml")
	p := filepath.Join(t.TempDir(), "hive")
	if err := os.WriteFile(p, hive, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("hivexml", p).Output()
	if err != nil {
		t.Fatalf("hivexml: %v", err)
	}
	var doc struct {
		Root xNode `xml:"node"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("hivexml output: %v", err)
	}
	return doc.Root
}

func (n xNode) child(name string) *xNode {
	for i := range n.Nodes {
		if strings.EqualFold(n.Nodes[i].Name, name) {
			return &n.Nodes[i]
		}
	}
	return nil
}

// dataOf returns the value's data as hivexml decodes it.
func (v xValue) dataOf(t *testing.T) []byte {
	t.Helper()
	switch v.Type {
	case "binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Value), ""))
		if err != nil {
			t.Fatalf("base64 of %s: %v", v.Key, err)
		}
		return b
	case "int32":
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.AppendUint32(nil, uint32(n))
	case "string":
		return utf16z(v.Value)
	case "string-list":
		var b []byte
		for _, s := range v.Strings {
			b = append(b, utf16z(s)...)
		}
		return b
	}
	t.Fatalf("hivexml value type %q not handled", v.Type)
	return nil
}

func utf16z(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// compareWithHivexml checks every object and element of s against
// hivexml's view of the same hive: names, object types, element data, and
// where the nk, vk and data cells lie in the file.
func compareWithHivexml(t *testing.T, hive []byte, s *bcd.Store) {
	t.Helper()
	root := hivexml(t, hive)
	objs := root.child("Objects")
	if objs == nil {
		t.Fatal("hivexml: no Objects key")
	}
	if len(objs.Nodes) != len(s.Objects) {
		t.Fatalf("hivexml: %d objects, Read: %d", len(objs.Nodes), len(s.Objects))
	}
	elements := 0
	for i, xo := range objs.Nodes {
		o := s.Objects[i]
		if want := "{" + o.ID.String() + "}"; !strings.EqualFold(xo.Name, want) {
			t.Errorf("object %d: hivexml %s, Read %s", i, xo.Name, want)
			continue
		}
		xt := xo.child("Description").Values[0]
		if xt.Value != strconv.FormatUint(uint64(o.Type), 10) {
			t.Errorf("object %s: type %s, Read %d", xo.Name, xt.Value, o.Type)
		}
		xe := xo.child("Elements")
		if xe == nil {
			if len(o.Elements) != 0 {
				t.Errorf("object %s: hivexml has no Elements", xo.Name)
			}
			continue
		}
		if len(xe.Nodes) != len(o.Elements) {
			t.Errorf("object %s: hivexml %d elements, Read %d", xo.Name, len(xe.Nodes), len(o.Elements))
			continue
		}
		for j, xn := range xe.Nodes {
			e := o.Elements[j]
			elements++
			if xn.Name != e.Type.String() {
				t.Errorf("object %s element %d: hivexml %s, Read %s", xo.Name, j, xn.Name, e.Type)
				continue
			}
			xv := xn.Values[0]
			if got, want := e.Value.Data, xv.dataOf(t); !bytes.Equal(got, want) {
				t.Errorf("%s\\%s: Read % x, hivexml % x", xo.Name, xn.Name, got, want)
			}
			// byte runs: the vk cell, then (unless inline) the data cell,
			// whose payload starts 4 bytes in.
			if e.Value.Offset != xv.Runs[0].Offset+4 {
				t.Errorf("%s\\%s: vk at %d, hivexml cell at %d", xo.Name, xn.Name, e.Value.Offset, xv.Runs[0].Offset)
			}
			if len(xv.Runs) > 1 && (len(e.Value.Runs) != 1 || e.Value.Runs[0].Offset != xv.Runs[1].Offset+4) {
				t.Errorf("%s\\%s: data runs %v, hivexml data cell at %d", xo.Name, xn.Name, e.Value.Runs, xv.Runs[1].Offset)
			}
		}
	}
	if elements == 0 {
		t.Fatal("no elements compared")
	}
}
