package bcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ElementType is a BCD element's type: the name of its key under
// Elements, in hexadecimal. Bits 28-31 are its class (1 library,
// 2 application, 3 device, 4 template) and bits 24-27 its format
// (1 device, 2 string, 3 GUID, 4 GUID list, 5 integer, 6 boolean,
// 7 integer list).
type ElementType uint32

// Element types this package decodes.
const (
	ElemApplicationDevice ElementType = 0x11000001 // "device"
	ElemApplicationPath   ElementType = 0x12000002 // "path"
	ElemDescription       ElementType = 0x12000004 // "description"
	ElemRecoverySequence  ElementType = 0x14000008 // "recoverysequence"
	ElemRecoveryEnabled   ElementType = 0x16000009 // "recoveryenabled"
	ElemOSDevice          ElementType = 0x21000001 // "osdevice"
	ElemRamdiskSDIDevice  ElementType = 0x31000003 // "ramdisksdidevice"
	ElemRamdiskSDIPath    ElementType = 0x32000004 // "ramdisksdipath"
	ElemDefaultObject     ElementType = 0x23000003 // "default", on the boot manager
)

// Format returns the element's data format (bits 24-27).
func (t ElementType) Format() int { return int(t>>24) & 0xF }

// String returns the type as its key name: eight lower-case hex digits.
func (t ElementType) String() string { return fmt.Sprintf("%08x", uint32(t)) }

// ObjectType is a BCD object's type (Description\Type).
type ObjectType uint32

// Object types.
const (
	ObjectBootManager ObjectType = 0x10100002
	ObjectOSLoader    ObjectType = 0x10200003 // Windows boot loader (winload), also WinRE's
	ObjectDevice      ObjectType = 0x30000000 // device options, e.g. ramdisk options
)

// Store is a BCD store: the objects of a registry hive's Objects key.
type Store struct {
	// Hive is the hive the store was read from.
	Hive *Hive
	// Objects in the order of the hive's subkey list.
	Objects []*Object
}

// Object is one BCD object (a key under Objects named by its GUID).
type Object struct {
	// ID is the object's GUID.
	ID uuid.UUID
	// Type is Description\Type.
	Type ObjectType
	// Elements in the order of the hive's subkey list.
	Elements []*Element
}

// Element is one BCD element: the Element value of a key under
// Objects\{GUID}\Elements.
type Element struct {
	// Type is the element type (the key's name).
	Type ElementType
	// Value is the registry value holding the element's data.
	Value *Value
}

// Read reads a BCD store from r, which holds size bytes: the hive (see
// [ReadHive]) and every object and element, so that a store that reads
// without error has no broken cell on the way to any element.
func Read(r io.ReaderAt, size int64) (*Store, error) {
	h, err := ReadHive(r, size)
	if err != nil {
		return nil, err
	}
	root, err := h.Root()
	if err != nil {
		return nil, err
	}
	objs, err := root.Subkey("Objects")
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotBCD
	} else if err != nil {
		return nil, err
	}
	keys, err := objs.Subkeys()
	if err != nil {
		return nil, err
	}
	s := &Store{Hive: h}
	for _, k := range keys {
		o, err := readObject(k)
		if err != nil {
			return nil, err
		}
		s.Objects = append(s.Objects, o)
	}
	return s, nil
}

// readObject reads one object key.
func readObject(k *Key) (*Object, error) {
	id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(k.Name, "{"), "}"))
	if err != nil || !strings.HasPrefix(k.Name, "{") {
		return nil, corrupt(k.Offset, "object key", "name %q is not a {GUID}", k.Name)
	}
	o := &Object{ID: id}
	desc, err := k.Subkey("Description")
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", k.Name, err)
	}
	tv, err := desc.Value("Type")
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", k.Name, err)
	}
	if tv.Type != RegDWORD || len(tv.Data) != 4 {
		return nil, corrupt(tv.Offset, "object type", "Description\\Type of %s is type %d, %d bytes", k.Name, tv.Type, len(tv.Data))
	}
	o.Type = ObjectType(binary.LittleEndian.Uint32(tv.Data))
	els, err := k.Subkey("Elements")
	if errors.Is(err, ErrNotFound) {
		return o, nil
	} else if err != nil {
		return nil, err
	}
	eks, err := els.Subkeys()
	if err != nil {
		return nil, err
	}
	for _, ek := range eks {
		t, err := strconv.ParseUint(ek.Name, 16, 32)
		if err != nil || len(ek.Name) != 8 {
			return nil, corrupt(ek.Offset, "element key", "name %q of object %s is not 8 hex digits", ek.Name, k.Name)
		}
		v, err := ek.Value("Element")
		if err != nil {
			return nil, fmt.Errorf("object %s element %s: %w", k.Name, ek.Name, err)
		}
		o.Elements = append(o.Elements, &Element{Type: ElementType(t), Value: v})
	}
	return o, nil
}

// Object returns the object with the given id, or nil.
func (s *Store) Object(id uuid.UUID) *Object {
	for _, o := range s.Objects {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// Element returns the object's element of type t, or nil.
func (o *Object) Element(t ElementType) *Element {
	for _, e := range o.Elements {
		if e.Type == t {
			return e
		}
	}
	return nil
}

// Device decodes a device element (format 1).
func (e *Element) Device() (*Device, error) {
	if e.Type.Format() != 1 || e.Value.Type != RegBinary {
		return nil, fmt.Errorf("%w: element %s is not a device (value type %d)", ErrElement, e.Type, e.Value.Type)
	}
	d, err := ParseDevice(e.Value.Data)
	if err != nil {
		return nil, fmt.Errorf("element %s: %w", e.Type, err)
	}
	return d, nil
}

// String decodes a string element (REG_SZ; formats 2 and 3).
func (e *Element) String() (string, error) {
	if e.Value.Type != RegSZ {
		return "", fmt.Errorf("%w: element %s is value type %d, not a string", ErrElement, e.Type, e.Value.Type)
	}
	s := utf16String(e.Value.Data)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s, nil
}

// GUIDs decodes a GUID list element (REG_MULTI_SZ of "{GUID}" strings;
// format 4), or a single GUID element (format 3).
func (e *Element) GUIDs() ([]uuid.UUID, error) {
	if e.Value.Type != RegMultiSZ && e.Value.Type != RegSZ {
		return nil, fmt.Errorf("%w: element %s is value type %d, not a GUID list", ErrElement, e.Type, e.Value.Type)
	}
	var out []uuid.UUID
	for _, s := range strings.Split(utf16String(e.Value.Data), "\x00") {
		if s == "" {
			continue
		}
		id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"))
		if err != nil || !strings.HasPrefix(s, "{") {
			return nil, fmt.Errorf("%w: element %s holds %q, not a {GUID}", ErrElement, e.Type, s)
		}
		out = append(out, id)
	}
	return out, nil
}

// WinREChain is WinRE's boot chain in a store: the OS loader whose
// recoverysequence names the WinRE loader, that loader's device and
// osdevice (a ramdisk of winre.wim on the WinRE partition), and the
// ramdisk-options object's SDI device and path.
type WinREChain struct {
	// OSLoader is the object whose recoverysequence names Loader.
	OSLoader uuid.UUID
	// Loader is the WinRE boot loader object.
	Loader uuid.UUID
	// Device and OSDevice are the loader's device (0x11000001) and
	// osdevice (0x21000001); nil when absent.
	Device, OSDevice *Device
	// Options is the ramdisk-options object Device names (zero when none).
	Options uuid.UUID
	// SDIDevice and SDIPath are the options object's ramdisksdidevice
	// (0x31000003) and ramdisksdipath (0x32000004); nil/"" when absent.
	SDIDevice *Device
	SDIPath   string
}

// Devices returns the chain's device elements that are set, with the
// object and element type each comes from.
func (c *WinREChain) Devices() []ChainDevice {
	var out []ChainDevice
	add := func(obj uuid.UUID, t ElementType, d *Device) {
		if d != nil {
			out = append(out, ChainDevice{obj, t, d})
		}
	}
	add(c.Loader, ElemApplicationDevice, c.Device)
	add(c.Loader, ElemOSDevice, c.OSDevice)
	add(c.Options, ElemRamdiskSDIDevice, c.SDIDevice)
	return out
}

// ChainDevice is one device element of a WinRE chain.
type ChainDevice struct {
	Object  uuid.UUID
	Element ElementType
	Device  *Device
}

// WinRE returns the WinRE chains of the store: one per WinRE loader named
// by an OS loader's recoverysequence, in store order. It fails with
// [ErrNotFound] when no loader has a recoverysequence, and with the
// decoding error of any element on the way.
func (s *Store) WinRE() ([]WinREChain, error) {
	var chains []WinREChain
	seen := map[uuid.UUID]bool{}
	for _, o := range s.Objects {
		e := o.Element(ElemRecoverySequence)
		if e == nil {
			continue
		}
		ids, err := e.GUIDs()
		if err != nil {
			return nil, fmt.Errorf("object {%s}: %w", o.ID, err)
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, err := s.chain(o.ID, id)
			if err != nil {
				return nil, err
			}
			chains = append(chains, c)
		}
	}
	if len(chains) == 0 {
		return nil, fmt.Errorf("%w: no object has a recoverysequence", ErrNotFound)
	}
	return chains, nil
}

// chain follows one WinRE loader.
func (s *Store) chain(osLoader, id uuid.UUID) (WinREChain, error) {
	c := WinREChain{OSLoader: osLoader, Loader: id}
	l := s.Object(id)
	if l == nil {
		return c, fmt.Errorf("%w: recoverysequence of {%s} names {%s}, which is not in the store", ErrNotFound, osLoader, id)
	}
	var err error
	dev := func(o *Object, t ElementType) (*Device, error) {
		e := o.Element(t)
		if e == nil {
			return nil, nil
		}
		d, err := e.Device()
		if err != nil {
			return nil, fmt.Errorf("object {%s}: %w", o.ID, err)
		}
		return d, nil
	}
	if c.Device, err = dev(l, ElemApplicationDevice); err != nil {
		return c, err
	}
	if c.OSDevice, err = dev(l, ElemOSDevice); err != nil {
		return c, err
	}
	for _, d := range []*Device{c.Device, c.OSDevice} {
		if d != nil && d.Ramdisk != nil && d.Options != (uuid.UUID{}) {
			c.Options = d.Options
			break
		}
	}
	if c.Options == (uuid.UUID{}) {
		return c, nil
	}
	o := s.Object(c.Options)
	if o == nil {
		return c, nil
	}
	if c.SDIDevice, err = dev(o, ElemRamdiskSDIDevice); err != nil {
		return c, err
	}
	if e := o.Element(ElemRamdiskSDIPath); e != nil {
		if c.SDIPath, err = e.String(); err != nil {
			return c, fmt.Errorf("object {%s}: %w", o.ID, err)
		}
	}
	return c, nil
}
