package winre

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// How the fixed-length patches keep the file length.
//
// When the file cannot be rewritten at a new length (see
// PatchLocationExact), a patch may only rewrite attribute values of one
// start tag and the whitespace inside that same tag:
//
//   - When the new values are shorter, the difference is filled with spaces
//     just before the closing "/>" (XML allows S? before "/>" and ">").
//   - When they are longer, spare whitespace inside the tag is given up:
//     first the run before "/>", then any whitespace around "=", then all
//     but one character of each run between attributes (one is required).
//   - Numbers are never padded with leading zeros: reagentc reads the
//     offset as a plain decimal, and scripts such as Microsoft's and
//     OSDeploy's compare it as a string with partition offsets, which a
//     leading zero would break.
//
// When neither is possible, the patch fails with a *FitError.

// PatchLocation rewrites the offset, guid and id attributes of the
// <WinreLocation> element of the ReAgent.xml in b and returns the new file,
// which has the same length and encoding as b and differs from it only
// inside that element's start tag. offset is the new partition start in
// bytes; diskGUID is the GPT disk GUID (uuid.Nil on MBR disks) and diskID
// the MBR disk signature (0 on GPT disks): pass the current values to keep
// them. GUIDs keep the letter case and braces of the value they replace.
//
// b is not modified. Errors: those of ParseReAgent; an *AttrError wrapping
// ErrMissing when the element or one of the three attributes is absent;
// a *FitError when the new values cannot fit (see the package documentation).
func PatchLocation(b []byte, offset uint64, diskGUID uuid.UUID, diskID uint32) ([]byte, error) {
	return patchElement(b, elemWinreLocation, locationSets(offset, diskGUID, diskID), true)
}

// PatchLocationExact is PatchLocation without the length rule: it
// replaces the three values and nothing else, so the file grows or shrinks
// by the difference in their lengths (in the file's encoding) and every
// other byte, whitespace and line ends included, stays as it was. It is
// the patch to write when the file can be rewritten at a new length (see
// the package documentation); it fails only as ParseReAgent does or with
// an *AttrError wrapping ErrMissing.
func PatchLocationExact(b []byte, offset uint64, diskGUID uuid.UUID, diskID uint32) ([]byte, error) {
	return patchElement(b, elemWinreLocation, locationSets(offset, diskGUID, diskID), false)
}

func locationSets(offset uint64, diskGUID uuid.UUID, diskID uint32) []attrSet {
	return []attrSet{
		{name: attrOffset, value: strconv.FormatUint(offset, 10), required: true},
		{name: attrGUID, guid: &diskGUID, required: true},
		{name: attrID, value: strconv.FormatUint(uint64(diskID), 10), required: true},
	}
}

// ClearImageLocation resets a stale <ImageLocation> to the unused form
// Windows writes (path "", id 0, offset 0, nil guid), with the same length
// rules as PatchLocation: the freed characters become spaces inside the
// tag. Attributes the element lacks are not added. A file without
// <ImageLocation> fails with an *AttrError wrapping ErrMissing.
func ClearImageLocation(b []byte) ([]byte, error) {
	return patchElement(b, elemImageLocation, clearSets(), true)
}

// ClearImageLocationExact is ClearImageLocation without the length rule:
// the values shrink and nothing else changes, so the file becomes shorter
// (see PatchLocationExact).
func ClearImageLocationExact(b []byte) ([]byte, error) {
	return patchElement(b, elemImageLocation, clearSets(), false)
}

func clearSets() []attrSet {
	nilGUID := uuid.Nil
	return []attrSet{
		{name: attrPath, value: ""},
		{name: attrID, value: "0"},
		{name: attrOffset, value: "0"},
		{name: attrGUID, guid: &nilGUID},
	}
}

// attrSet is one attribute assignment of a patch.
type attrSet struct {
	name     string
	value    string
	guid     *uuid.UUID // formatted in the style of the old value
	required bool
}

// patchElement applies sets to the start tag of the only element called
// name among the root's children. With keepLen the tag keeps its length
// (see fit); without, only the values change.
func patchElement(b []byte, name string, sets []attrSet, keepLen bool) ([]byte, error) {
	d, err := parseDoc(b)
	if err != nil {
		return nil, err
	}
	// Type-check the whole file as ParseReAgent would.
	if _, err := d.reagent(); err != nil {
		return nil, err
	}
	var sp *span
	for i := 1; i < len(d.spans); i++ {
		if d.spans[i].name == name {
			sp = &d.spans[i]
			break
		}
	}
	if sp == nil {
		return nil, &AttrError{Element: name, Err: ErrMissing}
	}
	old := d.t.utf8[sp.start:sp.end]
	tag, err := scanTag(old)
	if err != nil {
		return nil, &AttrError{Element: name, Value: string(old), Err: err}
	}
	for _, s := range sets {
		i := tag.attr(s.name)
		if i < 0 {
			if s.required {
				return nil, &AttrError{Element: name, Attribute: s.name, Err: ErrMissing}
			}
			continue
		}
		v := s.value
		if s.guid != nil {
			v = formatGUIDLike(*s.guid, tag.segs[i].text)
		}
		tag.segs[i].text = v
	}
	var neu []byte
	if keepLen {
		neu, err = tag.fit(len(old))
		if err != nil {
			fe := err.(*FitError)
			fe.Element = name
			return nil, fe
		}
	} else {
		neu = tag.bytes()
	}
	if bytes.Equal(neu, old) {
		return bytes.Clone(b), nil
	}
	enc := d.t.encode(neu)
	lo, hi := d.t.orig(sp.start), d.t.orig(sp.end)
	if !keepLen {
		out := make([]byte, 0, len(b)-(hi-lo)+len(enc))
		out = append(out, b[:lo]...)
		out = append(out, enc...)
		return append(out, b[hi:]...), nil
	}
	if len(enc) != hi-lo {
		// Cannot happen: only ASCII characters are added or removed.
		return nil, &FitError{Element: name, Need: len(enc) - (hi - lo)}
	}
	out := bytes.Clone(b)
	copy(out[lo:hi], enc)
	return out, nil
}

// formatGUIDLike formats u in the style of old: braces when old had them
// (or was empty), upper case when old was upper case.
func formatGUIDLike(u uuid.UUID, old string) string {
	s := u.String()
	if strings.ContainsAny(old, "ABCDEF") && !strings.ContainsAny(old, "abcdef") {
		s = strings.ToUpper(s)
	}
	if old == "" || strings.HasPrefix(old, "{") {
		s = "{" + s + "}"
	}
	return s
}

// Segment kinds of a scanned start tag.
const (
	segLit      = iota // fixed text: "<Name", attribute names, "=", quotes, "/>"
	segSpaceIn         // whitespace before an attribute name: keep one
	segSpaceEq         // whitespace around "=": all spare
	segSpaceEnd        // whitespace before "/>" or ">": all spare
	segValue           // an attribute value, between its quotes
)

type seg struct {
	kind int
	text string
	attr string // for segValue: the attribute's name
}

type startTag struct{ segs []seg }

// attr returns the index of the named attribute's value segment, or -1.
func (t *startTag) attr(name string) int {
	for i, s := range t.segs {
		if s.kind == segValue && localName(s.attr) == name {
			return i
		}
	}
	return -1
}

// localName strips a namespace prefix, as encoding/xml reports names.
func localName(s string) string {
	if space, local, ok := strings.Cut(s, ":"); ok && space != "" && local != "" {
		return local
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanTag splits a well-formed start tag (as accepted by encoding/xml) into
// segments. It rejects duplicate attribute names.
func scanTag(b []byte) (*startTag, error) {
	t := &startTag{}
	if len(b) < 2 || b[0] != '<' {
		return nil, ErrMalformed
	}
	i := 1
	for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' {
		i++
	}
	t.segs = append(t.segs, seg{kind: segLit, text: string(b[:i])})
	seen := map[string]bool{}
	for {
		j := i
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j >= len(b) {
			return nil, ErrMalformed
		}
		if b[j] == '/' || b[j] == '>' {
			if j > i {
				t.segs = append(t.segs, seg{kind: segSpaceEnd, text: string(b[i:j])})
			}
			t.segs = append(t.segs, seg{kind: segLit, text: string(b[j:])})
			return t, nil
		}
		if j == i {
			return nil, ErrMalformed // attributes need whitespace before them
		}
		t.segs = append(t.segs, seg{kind: segSpaceIn, text: string(b[i:j])})
		k := j
		for k < len(b) && !isSpace(b[k]) && b[k] != '=' {
			k++
		}
		name := string(b[j:k])
		if seen[localName(name)] {
			return nil, ErrDuplicate
		}
		seen[localName(name)] = true
		t.segs = append(t.segs, seg{kind: segLit, text: name})
		i = k
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k > i {
			t.segs = append(t.segs, seg{kind: segSpaceEq, text: string(b[i:k])})
		}
		if k >= len(b) || b[k] != '=' {
			return nil, ErrMalformed
		}
		k++
		t.segs = append(t.segs, seg{kind: segLit, text: "="})
		i = k
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k > i {
			t.segs = append(t.segs, seg{kind: segSpaceEq, text: string(b[i:k])})
		}
		if k >= len(b) || (b[k] != '"' && b[k] != '\'') {
			return nil, ErrMalformed
		}
		q := b[k]
		end := bytes.IndexByte(b[k+1:], q)
		if end < 0 {
			return nil, ErrMalformed
		}
		t.segs = append(t.segs,
			seg{kind: segLit, text: string(q)},
			seg{kind: segValue, text: string(b[k+1 : k+1+end]), attr: name},
			seg{kind: segLit, text: string(q)})
		i = k + 1 + end + 1
	}
}

// fit rebuilds the tag at exactly want bytes by adding or removing
// whitespace, or returns a *FitError.
func (t *startTag) fit(want int) ([]byte, error) {
	n := 0
	for _, s := range t.segs {
		n += len(s.text)
	}
	need := n - want
	if need < 0 {
		// Pad before the closing "/>" or ">".
		pad := strings.Repeat(" ", -need)
		last := len(t.segs) - 1
		if last > 0 && t.segs[last-1].kind == segSpaceEnd {
			t.segs[last-1].text += pad
		} else {
			t.segs = append(t.segs[:last], seg{kind: segSpaceEnd, text: pad}, t.segs[last])
		}
		need = 0
	}
	spare := 0
	for _, s := range t.segs {
		switch s.kind {
		case segSpaceEnd, segSpaceEq:
			spare += len(s.text)
		case segSpaceIn:
			spare += len(s.text) - 1
		}
	}
	if need > spare {
		return nil, &FitError{Need: need, Spare: spare}
	}
	take := func(kinds ...int) {
		for i := len(t.segs) - 1; i >= 0 && need > 0; i-- {
			s := &t.segs[i]
			for _, k := range kinds {
				if s.kind != k {
					continue
				}
				keep := 0
				if k == segSpaceIn {
					keep = 1
				}
				cut := min(need, len(s.text)-keep)
				s.text = s.text[:len(s.text)-cut]
				need -= cut
			}
		}
	}
	take(segSpaceEnd)
	take(segSpaceEq)
	take(segSpaceIn)
	return t.bytes(), nil
}

// bytes returns the tag as its segments spell it.
func (t *startTag) bytes() []byte {
	var out bytes.Buffer
	for _, s := range t.segs {
		out.WriteString(s.text)
	}
	return out.Bytes()
}
