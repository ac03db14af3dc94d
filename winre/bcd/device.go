package bcd

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
)

// DeviceType is the type of a boot device descriptor (its first uint32).
type DeviceType uint32

// Device types. Names follow the boot library's enumeration as the ReactOS
// boot environment headers give it.
const (
	DeviceBlock           DeviceType = 0 // a local block device: disk, ramdisk, file, VHD
	DeviceLegacyPartition DeviceType = 2 // a partition by number (pre-Windows 7)
	DeviceSerial          DeviceType = 3
	DeviceUDP             DeviceType = 4
	DeviceBoot            DeviceType = 5 // the device the boot manager was loaded from ("boot")
	DevicePartition       DeviceType = 6 // a partition by offset (MBR) or GUID (GPT)
	DeviceLocate          DeviceType = 8 // "locate": found by searching for a file
)

// String returns bcdedit's word for the type, or its number.
func (t DeviceType) String() string {
	switch t {
	case DeviceBlock:
		return "block"
	case DeviceLegacyPartition:
		return "legacy-partition"
	case DeviceSerial:
		return "serial"
	case DeviceUDP:
		return "udp"
	case DeviceBoot:
		return "boot"
	case DevicePartition:
		return "partition"
	case DeviceLocate:
		return "locate"
	}
	return fmt.Sprintf("device-type-%d", uint32(t))
}

// LocalType is the kind of a block device (DeviceBlock).
type LocalType uint32

// Block device kinds.
const (
	LocalHardDisk LocalType = 0
	LocalFloppy   LocalType = 1
	LocalCDROM    LocalType = 2
	LocalRamdisk  LocalType = 3
	LocalFile     LocalType = 5
	LocalVHD      LocalType = 6
)

// PartitionStyle is the partitioning of the disk a partition device names.
type PartitionStyle uint32

// Partition styles, in the boot library's numbering (not the Win32
// PARTITION_STYLE one, where MBR is 0).
const (
	StyleGPT PartitionStyle = 0
	StyleMBR PartitionStyle = 1
	StyleRaw PartitionStyle = 2
)

// String returns "gpt", "mbr", "raw" or the number.
func (s PartitionStyle) String() string {
	switch s {
	case StyleGPT:
		return "gpt"
	case StyleMBR:
		return "mbr"
	case StyleRaw:
		return "raw"
	}
	return fmt.Sprintf("style-%d", uint32(s))
}

// Device descriptor layout (offsets from the descriptor's start). The
// element data of a device element is a 16-byte GUID (the object holding
// further options, e.g. ramdisk options) followed by one descriptor.
const (
	elemDescriptor   = 16   // the descriptor's offset in element data
	descHeaderSize   = 16   // type, flags, size, reserved
	descPartID       = 0x10 // MBR: uint64 byte offset; GPT: partition GUID
	descPartLocal    = 0x20 // the disk: local type (0, hard disk)
	descPartStyle    = 0x24 // PartitionStyle
	descPartDisk     = 0x28 // MBR: uint32 signature; GPT: disk GUID
	descPartMinSize  = 0x38
	descLocalType    = 0x10 // LocalType of a block device
	descRamdiskPath  = 0x28 // file path descriptor of a ramdisk
	pathHeaderSize   = 12   // version, length, type
	pathTypeDevice   = 5    // path = device descriptor + UTF-16 string
	maxDeviceNesting = 4
)

// Device is a decoded device descriptor.
type Device struct {
	// Options is the GUID before the descriptor in a device element (the
	// object holding the device's further options, such as a ramdisk's
	// SDI); zero in nested descriptors and when unset.
	Options uuid.UUID
	// Type is the descriptor's type.
	Type DeviceType
	// Flags is the descriptor's flags field.
	Flags uint32
	// Local is the block device kind when Type is DeviceBlock.
	Local LocalType
	// Partition is set when Type is DevicePartition.
	Partition *Partition
	// Ramdisk is set for a ramdisk (DeviceBlock, LocalRamdisk) whose image
	// is a file on another device.
	Ramdisk *Ramdisk
	// Pos is the descriptor's offset in the element data.
	Pos int
}

// Partition is a partition device: on MBR disks the partition's start in
// bytes and the disk signature, on GPT disks the partition's and the disk's
// GUIDs.
type Partition struct {
	Style PartitionStyle
	// Offset is the partition's start in bytes from the start of the disk
	// (MBR).
	Offset uint64
	// PartitionGUID is the partition's unique GUID (GPT).
	PartitionGUID uuid.UUID
	// DiskSignature is the MBR disk signature (MBR).
	DiskSignature uint32
	// DiskGUID is the GPT disk GUID (GPT).
	DiskGUID uuid.UUID
	// OffsetPos is the position of the 8-byte Offset field in the element
	// data (for patching).
	OffsetPos int
}

// Ramdisk is a ramdisk whose image is the file Path on device Parent.
type Ramdisk struct {
	Parent *Device
	Path   string
}

// String renders the device for people, in the spirit of bcdedit:
// "partition(mbr disk 0x1f2e3d08, offset 1048576)",
// "ramdisk=[partition(...)]\path,{options}".
func (d *Device) String() string {
	var s string
	switch {
	case d.Partition != nil:
		p := d.Partition
		if p.Style == StyleMBR {
			s = fmt.Sprintf("partition(mbr disk 0x%08x, offset %d)", p.DiskSignature, p.Offset)
		} else {
			s = fmt.Sprintf("partition(%s disk {%s}, partition {%s})", p.Style, p.DiskGUID, p.PartitionGUID)
		}
	case d.Ramdisk != nil:
		s = fmt.Sprintf("ramdisk=[%s]%s", d.Ramdisk.Parent, d.Ramdisk.Path)
	case d.Type == DeviceBlock:
		s = fmt.Sprintf("block(local type %d)", d.Local)
	default:
		s = d.Type.String()
	}
	if d.Options != (uuid.UUID{}) {
		s += ",{" + d.Options.String() + "}"
	}
	return s
}

// Partitions returns every partition device in d: d itself, or the device
// its ramdisk image lives on.
func (d *Device) Partitions() []*Partition {
	var out []*Partition
	for x := d; x != nil; {
		if x.Partition != nil {
			out = append(out, x.Partition)
		}
		if x.Ramdisk == nil {
			break
		}
		x = x.Ramdisk.Parent
	}
	return out
}

// ParseDevice decodes the data of a device element (format 1): the
// options GUID and the descriptor after it, with nested descriptors of
// ramdisks.
func ParseDevice(data []byte) (*Device, error) {
	if len(data) < elemDescriptor+descHeaderSize {
		return nil, fmt.Errorf("%w: device element of %d bytes", ErrElement, len(data))
	}
	d, err := parseDescriptor(data, elemDescriptor, len(data), 0)
	if err != nil {
		return nil, err
	}
	d.Options = gpt.DecodeGUID(data[0:16])
	return d, nil
}

// parseDescriptor decodes the descriptor at pos, which must end by end.
func parseDescriptor(b []byte, pos, end, depth int) (*Device, error) {
	if depth > maxDeviceNesting {
		return nil, fmt.Errorf("%w: device descriptors nested deeper than %d", ErrElement, maxDeviceNesting)
	}
	if pos < 0 || end > len(b) || pos+descHeaderSize > end {
		return nil, fmt.Errorf("%w: device descriptor at %d runs past %d", ErrElement, pos, end)
	}
	le := binary.LittleEndian
	d := &Device{Type: DeviceType(le.Uint32(b[pos:])), Flags: le.Uint32(b[pos+4:]), Pos: pos}
	size := int(le.Uint32(b[pos+8:]))
	if size < descHeaderSize || size > end-pos {
		return nil, fmt.Errorf("%w: device descriptor at %d says %d bytes, %d available", ErrElement, pos, size, end-pos)
	}
	x := b[pos : pos+size]
	switch d.Type {
	case DevicePartition:
		if size < descPartMinSize {
			return nil, fmt.Errorf("%w: partition device of %d bytes", ErrElement, size)
		}
		p := &Partition{Style: PartitionStyle(le.Uint32(x[descPartStyle:])), OffsetPos: pos + descPartID}
		switch p.Style {
		case StyleMBR:
			p.Offset = le.Uint64(x[descPartID:])
			p.DiskSignature = le.Uint32(x[descPartDisk:])
		case StyleGPT:
			p.PartitionGUID = gpt.DecodeGUID(x[descPartID:])
			p.DiskGUID = gpt.DecodeGUID(x[descPartDisk:])
		}
		d.Partition = p
	case DeviceBlock:
		if size < descLocalType+4 {
			return nil, fmt.Errorf("%w: block device of %d bytes", ErrElement, size)
		}
		d.Local = LocalType(le.Uint32(x[descLocalType:]))
		if d.Local != LocalRamdisk || size < descRamdiskPath+pathHeaderSize {
			break
		}
		fp := x[descRamdiskPath:]
		n := int(le.Uint32(fp[4:]))
		if n < pathHeaderSize || n > len(fp) {
			return nil, fmt.Errorf("%w: ramdisk file path of %d bytes, %d available", ErrElement, n, len(fp))
		}
		if le.Uint32(fp[8:]) != pathTypeDevice {
			break // a path type this package does not decode
		}
		start := pos + descRamdiskPath + pathHeaderSize
		parent, err := parseDescriptor(b, start, pos+descRamdiskPath+n, depth+1)
		if err != nil {
			return nil, err
		}
		psize := int(le.Uint32(b[start+8:]))
		str := b[start+psize : pos+descRamdiskPath+n]
		path := utf16String(str)
		if i := strings.IndexByte(path, 0); i >= 0 {
			path = path[:i]
		}
		d.Ramdisk = &Ramdisk{Parent: parent, Path: path}
	}
	return d, nil
}
