package winre

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// MaxReAgentSize bounds the ReAgent.xml files ParseReAgent accepts. Real
// files are about 1.2 KiB; anything near this limit is not one.
const MaxReAgentSize = 1 << 20

// Element and attribute names of ReAgent.xml, as Windows writes them.
const (
	elemRoot                   = "WindowsRE"
	elemWinreBCD               = "WinreBCD"
	elemWinreLocation          = "WinreLocation"
	elemImageLocation          = "ImageLocation"
	elemPBRImageLocation       = "PBRImageLocation"
	elemPBRCustomImageLocation = "PBRCustomImageLocation"
	elemDownlevelWinreLocation = "DownlevelWinreLocation"
	elemInstallState           = "InstallState"
	elemOsInstallAvailable     = "OsInstallAvailable"
	elemCustomImageAvailable   = "CustomImageAvailable"
	elemIsAutoRepairOn         = "IsAutoRepairOn"
	elemWinREStaged            = "WinREStaged"
	elemOperationParam         = "OperationParam"
	elemOperationPermanent     = "OperationPermanent"
	elemOsBuildVersion         = "OsBuildVersion"
	elemOemTool                = "OemTool"
	elemIsServer               = "IsServer"
	elemIsWimBoot              = "IsWimBoot"
	elemNarratorScheduled      = "NarratorScheduled"
	elemScheduledOperation     = "ScheduledOperation"

	attrVersion = "version"
	attrID      = "id"
	attrPath    = "path"
	attrOffset  = "offset"
	attrGUID    = "guid"
	attrIndex   = "index"
	attrState   = "state"
)

// ReAgent is a parsed ReAgent.xml (C:\Windows\System32\Recovery\ReAgent.xml),
// the file in which reagentc records where WinRE lives. Every element Windows
// is known to write has a typed field; all child elements of <WindowsRE>,
// known or not, are also listed in Elements in document order.
type ReAgent struct {
	// Encoding is how the file was encoded; patches keep it.
	Encoding Encoding
	// Version is the version attribute of <WindowsRE>, e.g. "2.0".
	Version string

	// WinreBCD is the id of the WinRE boot loader entry in the BCD store
	// (<WinreBCD id="{...}"/>); the nil UUID when absent.
	WinreBCD uuid.UUID

	// WinreLocation is where the enabled WinRE image lives: the folder
	// (normally \Recovery\WindowsRE), the start of its partition in bytes
	// and the disk's identity.
	WinreLocation Location
	// ImageLocation is a staged or custom WinRE image location. A stale,
	// non-empty one makes reagentc rebuilds fail; Microsoft's resize script
	// clears it.
	ImageLocation Location
	// PBRImageLocation is the push-button-reset image location.
	PBRImageLocation Location
	// PBRCustomImageLocation is the custom push-button-reset image location.
	PBRCustomImageLocation Location
	// DownlevelWinreLocation is the previous WinRE location kept during an
	// upgrade.
	DownlevelWinreLocation Location

	// InstallState is 1 when WinRE is enabled, 0 when disabled.
	InstallState State
	// OsInstallAvailable is 1 when an OS install image is registered.
	OsInstallAvailable State
	// CustomImageAvailable is 1 when a custom recovery image is registered.
	CustomImageAvailable State
	// IsAutoRepairOn is 1 when automatic repair is enabled.
	IsAutoRepairOn State
	// WinREStaged is 1 while a WinRE image is staged but not yet installed.
	WinREStaged State
	// OperationPermanent records whether a scheduled operation is permanent.
	OperationPermanent State
	// OemTool is 1 when an OEM tool is registered in the boot menu.
	OemTool State
	// IsServer is 1 on Windows Server.
	IsServer State
	// IsWimBoot is 1 on WIMBoot installations.
	IsWimBoot State
	// NarratorScheduled is 1 when Narrator is scheduled to start in WinRE.
	NarratorScheduled State
	// ScheduledOperation is the pending reagentc operation code.
	ScheduledOperation State

	// OperationParam is the path attribute of <OperationParam>.
	OperationParam string
	// OsBuildVersion is the path attribute of <OsBuildVersion>, e.g.
	// "22621.1.amd64fre.ni_release.220506-1250".
	OsBuildVersion string

	// Elements lists every child element of <WindowsRE> in document order,
	// with its attributes as written (entities decoded), including
	// elements this package does not know.
	Elements []Element
}

// Location is one of the *Location elements of ReAgent.xml.
type Location struct {
	// Present reports whether the element was in the file.
	Present bool
	// Path is the folder of the image inside its volume, e.g.
	// \Recovery\WindowsRE; empty for an unused location.
	Path string
	// ID is the id attribute: 0 on GPT disks, the MBR disk signature
	// (written in decimal) on MBR disks.
	ID uint32
	// Offset is the start of the partition holding Path, in bytes from the
	// start of the disk (written in decimal).
	Offset uint64
	// GUID is the GPT disk GUID (not the partition's); the nil UUID on MBR
	// disks and for unused locations.
	GUID uuid.UUID
	// Index is the image index attribute of the PBR locations; 0 elsewhere.
	Index uint32
}

// Unused reports whether l names no location: empty path, offset 0, nil
// GUID, id 0.
func (l Location) Unused() bool {
	return l.Path == "" && l.Offset == 0 && l.GUID == uuid.Nil && l.ID == 0
}

// State is the state attribute of one of the flag elements of ReAgent.xml.
type State struct {
	// Present reports whether the element was in the file.
	Present bool
	// Value is the state attribute's value.
	Value uint32
}

// Element is one child element of <WindowsRE> as written in the file.
type Element struct {
	// Name is the element's local name, e.g. "WinreLocation".
	Name string
	// Attrs are its attributes in file order, values with entities decoded.
	Attrs []Attr
}

// Attr is one attribute of an Element.
type Attr struct {
	// Name is the attribute's local name.
	Name string
	// Value is its value with entities decoded.
	Value string
}

// Attr returns the value of the named attribute and whether it is present.
func (e Element) Attr(name string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Enabled reports whether WinRE is enabled: <InstallState state="1"/>.
func (r *ReAgent) Enabled() bool {
	return r.InstallState.Present && r.InstallState.Value == 1
}

// Build returns the Windows build number from OsBuildVersion (22621 for
// "22621.1.amd64fre.ni_release.220506-1250") and whether there was one.
func (r *ReAgent) Build() (int, bool) {
	s, _, _ := strings.Cut(r.OsBuildVersion, ".")
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// span locates an element's start tag in the decoded UTF-8 text.
type span struct {
	name       string
	start, end int
}

// doc is a ReAgent.xml decoded far enough to be patched.
type doc struct {
	t     *text
	elems []Element
	spans []span
}

// ParseReAgent parses the bytes of a ReAgent.xml file: UTF-8 with or without
// a BOM, or UTF-16LE with or without a BOM. It fails with ErrTooLarge beyond
// MaxReAgentSize, ErrEncoding, a *SyntaxError for malformed XML,
// ErrNotReAgent when the root is not <WindowsRE>, and an *AttrError for a
// known element that appears twice or an attribute value that cannot be
// decoded. Unknown elements and attributes are kept in Elements. Semantic
// problems (WinRE enabled without a location, a stale ImageLocation) are
// reported by Verify, not here.
func ParseReAgent(b []byte) (*ReAgent, error) {
	d, err := parseDoc(b)
	if err != nil {
		return nil, err
	}
	return d.reagent()
}

// reagent types the elements of a parsed document.
func (d *doc) reagent() (*ReAgent, error) {
	r := &ReAgent{Encoding: d.t.enc, Elements: d.elems[1:]}
	r.Version, _ = d.elems[0].Attr(attrVersion)
	seen := make(map[string]bool)
	for _, e := range r.Elements {
		var err error
		switch e.Name {
		case elemWinreBCD:
			r.WinreBCD, err = guidAttr(e, attrID)
		case elemWinreLocation:
			r.WinreLocation, err = locationOf(e)
		case elemImageLocation:
			r.ImageLocation, err = locationOf(e)
		case elemPBRImageLocation:
			r.PBRImageLocation, err = locationOf(e)
		case elemPBRCustomImageLocation:
			r.PBRCustomImageLocation, err = locationOf(e)
		case elemDownlevelWinreLocation:
			r.DownlevelWinreLocation, err = locationOf(e)
		case elemOperationParam:
			r.OperationParam, _ = e.Attr(attrPath)
		case elemOsBuildVersion:
			r.OsBuildVersion, _ = e.Attr(attrPath)
		default:
			p := r.stateField(e.Name)
			if p == nil {
				continue // unknown element: kept in Elements only
			}
			*p, err = stateOf(e)
		}
		if err != nil {
			return nil, err
		}
		if seen[e.Name] {
			return nil, &AttrError{Element: e.Name, Err: ErrDuplicate}
		}
		seen[e.Name] = true
	}
	return r, nil
}

func (r *ReAgent) stateField(name string) *State {
	switch name {
	case elemInstallState:
		return &r.InstallState
	case elemOsInstallAvailable:
		return &r.OsInstallAvailable
	case elemCustomImageAvailable:
		return &r.CustomImageAvailable
	case elemIsAutoRepairOn:
		return &r.IsAutoRepairOn
	case elemWinREStaged:
		return &r.WinREStaged
	case elemOperationPermanent:
		return &r.OperationPermanent
	case elemOemTool:
		return &r.OemTool
	case elemIsServer:
		return &r.IsServer
	case elemIsWimBoot:
		return &r.IsWimBoot
	case elemNarratorScheduled:
		return &r.NarratorScheduled
	case elemScheduledOperation:
		return &r.ScheduledOperation
	}
	return nil
}

// parseDoc decodes b and records the root and its children with the
// positions of their start tags. elems[0] is the root.
func parseDoc(b []byte) (*doc, error) {
	if len(b) > MaxReAgentSize {
		return nil, &AttrError{Element: elemRoot, Value: strconv.Itoa(len(b)) + " bytes", Err: ErrTooLarge}
	}
	t, err := decodeText(b)
	if err != nil {
		return nil, err
	}
	d := &doc{t: t}
	dec := xml.NewDecoder(bytes.NewReader(t.utf8))
	var charset string
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		charset = label
		// The text has already been decoded to UTF-8; a declaration
		// naming UTF-16 describes the file, not this reader.
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "utf-16", "utf16", "utf-16le", "unicode":
			return in, nil
		}
		return nil, ErrEncoding
	}
	depth := 0
	rootDone := false
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrEncoding) {
				return nil, &AttrError{Element: "?xml", Attribute: "encoding", Value: charset, Err: ErrEncoding}
			}
			return nil, &SyntaxError{Offset: dec.InputOffset(), Err: err}
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if rootDone {
				return nil, &SyntaxError{Offset: int64(start), Err: errors.New("content after the root element")}
			}
			if depth == 0 && tok.Name.Local != elemRoot {
				return nil, &AttrError{Element: tok.Name.Local, Err: ErrNotReAgent}
			}
			if depth <= 1 {
				e := Element{Name: tok.Name.Local}
				for _, a := range tok.Attr {
					e.Attrs = append(e.Attrs, Attr{Name: a.Name.Local, Value: a.Value})
				}
				d.elems = append(d.elems, e)
				d.spans = append(d.spans, span{name: e.Name, start: start, end: int(dec.InputOffset())})
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				rootDone = true
			}
		case xml.CharData:
			if (depth == 0) && len(bytes.TrimSpace(tok)) != 0 {
				return nil, &SyntaxError{Offset: int64(start), Err: errors.New("text outside the root element")}
			}
		}
	}
	if !rootDone {
		return nil, &SyntaxError{Offset: dec.InputOffset(), Err: errors.New("no complete root element")}
	}
	return d, nil
}

func locationOf(e Element) (Location, error) {
	l := Location{Present: true}
	l.Path, _ = e.Attr(attrPath)
	var err error
	if l.ID, err = idAttr(e, attrID); err != nil {
		return l, err
	}
	if l.Offset, err = uintAttr(e, attrOffset, 64); err != nil {
		return l, err
	}
	if l.GUID, err = guidAttr(e, attrGUID); err != nil {
		return l, err
	}
	idx, err := uintAttr(e, attrIndex, 32)
	l.Index = uint32(idx)
	return l, err
}

func stateOf(e Element) (State, error) {
	v, ok := e.Attr(attrState)
	if !ok {
		return State{}, &AttrError{Element: e.Name, Attribute: attrState, Err: ErrMissing}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return State{}, &AttrError{Element: e.Name, Attribute: attrState, Value: v, Err: ErrBadValue}
	}
	return State{Present: true, Value: uint32(n)}, nil
}

// uintAttr decodes an optional unsigned decimal attribute; absent or empty
// means 0.
func uintAttr(e Element, name string, bits int) (uint64, error) {
	v, ok := e.Attr(name)
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, &AttrError{Element: e.Name, Attribute: name, Value: v, Err: ErrBadValue}
	}
	return n, nil
}

// idAttr decodes the id attribute: an MBR disk signature in decimal.
// Windows writes it unsigned; a negative 32-bit value is accepted too and
// read as the same 32 bits (tolerance for tools that print it signed).
func idAttr(e Element, name string) (uint32, error) {
	v, ok := e.Attr(name)
	if !ok || v == "" {
		return 0, nil
	}
	if strings.HasPrefix(v, "-") {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return 0, &AttrError{Element: e.Name, Attribute: name, Value: v, Err: ErrBadValue}
		}
		return uint32(int32(n)), nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, &AttrError{Element: e.Name, Attribute: name, Value: v, Err: ErrBadValue}
	}
	return uint32(n), nil
}

// guidAttr decodes an optional GUID attribute written "{xxxxxxxx-...}" (or
// without braces); absent or empty means the nil UUID.
func guidAttr(e Element, name string) (uuid.UUID, error) {
	v, ok := e.Attr(name)
	if !ok || v == "" {
		return uuid.Nil, nil
	}
	s := v
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 {
		return uuid.Nil, &AttrError{Element: e.Name, Attribute: name, Value: v, Err: ErrBadValue}
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, &AttrError{Element: e.Name, Attribute: name, Value: v, Err: ErrBadValue}
	}
	return u, nil
}
