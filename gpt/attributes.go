package gpt

import (
	"strconv"
	"strings"
)

// Attributes is the 64-bit attribute field of a partition entry. Bits 0-2
// are defined by UEFI, bits 48-63 belong to the partition type; the named
// bits 60-63 are Microsoft's for basic data and recovery partitions.
type Attributes uint64

// Named attribute bits.
const (
	AttrPlatformRequired   Attributes = 1 << 0  // required by the platform; do not delete
	AttrNoBlockIO          Attributes = 1 << 1  // firmware must not offer EFI_BLOCK_IO for it
	AttrLegacyBIOSBootable Attributes = 1 << 2  // bootable by legacy BIOS
	AttrReadOnly           Attributes = 1 << 60 // Microsoft: read-only volume
	AttrShadowCopy         Attributes = 1 << 61 // Microsoft: shadow copy of another partition
	AttrHidden             Attributes = 1 << 62 // Microsoft: hidden volume
	AttrNoDriveLetter      Attributes = 1 << 63 // Microsoft: do not assign a drive letter
)

// AttrWinRE is the attribute value Windows expects on a WinRE partition
// (platform-required and no-drive-letter; diskpart's 0x8000000000000001).
const AttrWinRE = AttrPlatformRequired | AttrNoDriveLetter

var attrNames = []struct {
	bit  Attributes
	name string
}{
	{AttrPlatformRequired, "platform-required"},
	{AttrNoBlockIO, "no-block-io"},
	{AttrLegacyBIOSBootable, "legacy-bios-bootable"},
	{AttrReadOnly, "read-only"},
	{AttrShadowCopy, "shadow-copy"},
	{AttrHidden, "hidden"},
	{AttrNoDriveLetter, "no-drive-letter"},
}

// Has reports whether every bit of mask is set in a.
func (a Attributes) Has(mask Attributes) bool { return a&mask == mask }

// String renders the value in hex followed by the names of the set bits,
// e.g. "0x8000000000000001 (platform-required, no-drive-letter)". Unnamed
// bits appear as "bit N"; zero renders as "0x0000000000000000".
func (a Attributes) String() string {
	var b strings.Builder
	b.WriteString("0x")
	h := strconv.FormatUint(uint64(a), 16)
	b.WriteString(strings.Repeat("0", 16-len(h)))
	b.WriteString(h)
	if a == 0 {
		return b.String()
	}
	b.WriteString(" (")
	first := true
	sep := func() {
		if !first {
			b.WriteString(", ")
		}
		first = false
	}
	named := Attributes(0)
	for _, n := range attrNames {
		named |= n.bit
	}
	for i := 0; i < 64; i++ {
		bit := Attributes(1) << i
		if a&bit == 0 {
			continue
		}
		sep()
		if named&bit != 0 {
			for _, n := range attrNames {
				if n.bit == bit {
					b.WriteString(n.name)
				}
			}
		} else {
			b.WriteString("bit " + strconv.Itoa(i))
		}
	}
	b.WriteString(")")
	return b.String()
}
