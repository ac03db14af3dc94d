package mbr

import "fmt"

// Type is a partition type byte ("system ID").
type Type byte

// Well-known partition types.
const (
	TypeEmpty           Type = 0x00
	TypeFAT12           Type = 0x01
	TypeFAT16Small      Type = 0x04
	TypeExtendedCHS     Type = 0x05
	TypeFAT16           Type = 0x06
	TypeNTFS            Type = 0x07 // NTFS, exFAT, HPFS; also System Reserved
	TypeFAT32CHS        Type = 0x0B
	TypeFAT32LBA        Type = 0x0C
	TypeFAT16LBA        Type = 0x0E
	TypeExtendedLBA     Type = 0x0F
	TypeCompaqDiag      Type = 0x12 // OEM tools (Compaq, Lenovo, HP)
	TypeHiddenNTFS      Type = 0x17
	TypeWinRE           Type = 0x27 // Windows RE, hidden NTFS
	TypeLDM             Type = 0x42 // Windows dynamic disk (LDM)
	TypeLinuxSwap       Type = 0x82
	TypeLinux           Type = 0x83
	TypeIntelRapidStart Type = 0x84
	TypeLinuxExtended   Type = 0x85
	TypeLinuxLVM        Type = 0x8E
	TypeDellUtility     Type = 0xDE
	TypeGPTProtective   Type = 0xEE
	TypeEFISystem       Type = 0xEF
	TypeLinuxRAID       Type = 0xFD
)

var typeNames = map[Type]string{
	TypeEmpty:           "Empty",
	TypeFAT12:           "FAT12",
	TypeFAT16Small:      "FAT16 <32M",
	TypeExtendedCHS:     "Extended",
	TypeFAT16:           "FAT16",
	TypeNTFS:            "HPFS/NTFS/exFAT",
	TypeFAT32CHS:        "W95 FAT32",
	TypeFAT32LBA:        "W95 FAT32 (LBA)",
	TypeFAT16LBA:        "W95 FAT16 (LBA)",
	TypeExtendedLBA:     "W95 Extended (LBA)",
	TypeCompaqDiag:      "Compaq diagnostics / OEM tools",
	TypeHiddenNTFS:      "Hidden HPFS/NTFS",
	TypeWinRE:           "Windows RE (hidden NTFS)",
	TypeLDM:             "Windows LDM (dynamic disk)",
	TypeLinuxSwap:       "Linux swap",
	TypeLinux:           "Linux",
	TypeIntelRapidStart: "Intel Rapid Start",
	TypeLinuxExtended:   "Linux extended",
	TypeLinuxLVM:        "Linux LVM",
	TypeDellUtility:     "Dell utility",
	TypeGPTProtective:   "GPT protective",
	TypeEFISystem:       "EFI System",
	TypeLinuxRAID:       "Linux RAID autodetect",
}

// Name returns the type's well-known name, or "" when it has none.
func (t Type) Name() string { return typeNames[t] }

// String renders the type as "0x27 (Windows RE (hidden NTFS))", or just the
// hex byte when the type has no known name.
func (t Type) String() string {
	if n := typeNames[t]; n != "" {
		return fmt.Sprintf("0x%02x (%s)", byte(t), n)
	}
	return fmt.Sprintf("0x%02x", byte(t))
}

// IsExtended reports whether t marks an extended partition (0x05, 0x0F,
// 0x85), the container of an EBR chain.
func (t Type) IsExtended() bool {
	return t == TypeExtendedCHS || t == TypeExtendedLBA || t == TypeLinuxExtended
}
