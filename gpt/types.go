package gpt

import (
	"strings"

	"github.com/google/uuid"
)

// Type is a partition type GUID, in RFC 4122 byte order (as printed).
type Type uuid.UUID

// TypeUnused is the all-zero type GUID of an unused entry.
var TypeUnused Type

// Well-known partition type GUIDs. Names follow the UEFI specification,
// Microsoft's documentation and the Discoverable Partitions Specification.
var (
	TypeMBRPartitionScheme = mustType("024dee41-33e7-11d3-9d69-0008c781f39f")
	TypeESP                = mustType("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	TypeBIOSBoot           = mustType("21686148-6449-6e6f-744e-656564454649")

	TypeMSR            = mustType("e3c9e316-0b5c-4db8-817d-f92df00215ae")
	TypeBasicData      = mustType("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
	TypeWinRE          = mustType("de94bba4-06d1-4d40-a16a-bfd50179d6ac")
	TypeLDMMetadata    = mustType("5808c8aa-7e8f-42e0-85d2-e1e90434cfb3")
	TypeLDMData        = mustType("af9b60a0-1431-4f62-bc68-3311714a69ad")
	TypeStorageSpaces  = mustType("e75caf8f-f680-4cee-afa3-b001e56efc2d")
	TypeStorageReplica = mustType("558d43c5-a1ac-43c0-aac8-d1472b2923d1")
	TypeIBMGPFS        = mustType("37affc90-ef7d-4e96-91c3-2d7ae055b174")

	TypeLinuxFS       = mustType("0fc63daf-8483-4772-8e79-3d69d8477de4")
	TypeLinuxSwap     = mustType("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f")
	TypeLinuxLVM      = mustType("e6d6d379-f507-44c2-a23c-238f2a3df928")
	TypeLinuxRAID     = mustType("a19d880f-05fc-4d3b-a006-743f0f84911e")
	TypeLinuxHome     = mustType("933ac7e1-2eb4-4f13-b844-0e14e2aef915")
	TypeLinuxSrv      = mustType("3b8f8425-20e0-4f3b-907f-1a25a76f98e8")
	TypeLinuxLUKS     = mustType("ca7d7ccb-63ed-4c53-861c-1742536059cc")
	TypeLinuxReserved = mustType("8da63339-0007-60c0-c436-083ac8230908")
	TypeLinuxRootX86  = mustType("44479540-f297-41b2-9af7-d131d5f0458a")
	TypeLinuxRootX64  = mustType("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	TypeLinuxRootARM  = mustType("69dad710-2ce4-4e3c-b16c-21a1d49abed3")
	TypeLinuxRootA64  = mustType("b921b045-1df0-41c3-af44-4c6f280d3fae")
	TypeLinuxXBOOTLDR = mustType("bc13c2ff-59e6-4262-a352-b275fd6f7172")

	TypeFreeBSDBoot = mustType("83bd6b9d-7f41-11dc-be0b-001560b84f0f")
	TypeFreeBSDData = mustType("516e7cb4-6ecf-11d6-8ff8-00022d09712b")
	TypeFreeBSDSwap = mustType("516e7cb5-6ecf-11d6-8ff8-00022d09712b")
	TypeFreeBSDUFS  = mustType("516e7cb6-6ecf-11d6-8ff8-00022d09712b")
	TypeFreeBSDZFS  = mustType("516e7cba-6ecf-11d6-8ff8-00022d09712b")
	TypeOpenBSDData = mustType("824cc7a0-36a8-11e3-890a-952519ad3f61")
	TypeNetBSDFFS   = mustType("49f48d5a-b10e-11dc-b99b-0019d1879648")

	TypeAppleHFS      = mustType("48465300-0000-11aa-aa11-00306543ecac")
	TypeAppleAPFS     = mustType("7c3457ef-0000-11aa-aa11-00306543ecac")
	TypeAppleBoot     = mustType("426f6f74-0000-11aa-aa11-00306543ecac")
	TypeAppleRAID     = mustType("52414944-0000-11aa-aa11-00306543ecac")
	TypeAppleCoreStor = mustType("53746f72-6167-11aa-aa11-00306543ecac")

	TypeChromeOSKernel = mustType("fe3a2a5d-4f32-41a7-b725-accc3285a309")
	TypeChromeOSRoot   = mustType("3cb8e202-3b7e-47dd-8a3c-7ff2a13cfcec")
	TypeChromeOSFuture = mustType("2e0a753d-9e48-43b0-8337-b15192cb1b5e")

	TypeSolarisUsr    = mustType("6a898cc3-1dd2-11b2-99a6-080020736631") // also macOS ZFS
	TypeVMwareVMFS    = mustType("aa31e02a-400f-11db-9590-000c2911d1b8")
	TypeHPUXData      = mustType("75894c1e-3aeb-11d3-b7c1-7b03a0000000")
	TypeSonyBoot      = mustType("f4019732-066e-4e12-8273-346c5641494f")
	TypeLenovoBoot    = mustType("bfbfafe7-a34f-448a-9a5b-6213eb736c22")
	TypeCephOSD       = mustType("4fbd7e29-9d25-41b8-afd0-062c0ceff05d")
	TypeAndroidSystem = mustType("38f428e6-d326-425d-9140-6e0ea133647c")
)

var typeNames = map[Type]string{
	TypeUnused:             "Unused entry",
	TypeMBRPartitionScheme: "MBR partition scheme",
	TypeESP:                "EFI System",
	TypeBIOSBoot:           "BIOS boot partition",
	TypeMSR:                "Microsoft reserved",
	TypeBasicData:          "Microsoft basic data",
	TypeWinRE:              "Windows Recovery Environment",
	TypeLDMMetadata:        "Windows LDM metadata",
	TypeLDMData:            "Windows LDM data",
	TypeStorageSpaces:      "Windows Storage Spaces",
	TypeStorageReplica:     "Windows Storage Replica",
	TypeIBMGPFS:            "IBM GPFS",
	TypeLinuxFS:            "Linux filesystem",
	TypeLinuxSwap:          "Linux swap",
	TypeLinuxLVM:           "Linux LVM",
	TypeLinuxRAID:          "Linux RAID",
	TypeLinuxHome:          "Linux /home",
	TypeLinuxSrv:           "Linux /srv",
	TypeLinuxLUKS:          "Linux LUKS",
	TypeLinuxReserved:      "Linux reserved",
	TypeLinuxRootX86:       "Linux root (x86)",
	TypeLinuxRootX64:       "Linux root (x86-64)",
	TypeLinuxRootARM:       "Linux root (ARM)",
	TypeLinuxRootA64:       "Linux root (ARM64)",
	TypeLinuxXBOOTLDR:      "Linux extended boot (XBOOTLDR)",
	TypeFreeBSDBoot:        "FreeBSD boot",
	TypeFreeBSDData:        "FreeBSD disklabel",
	TypeFreeBSDSwap:        "FreeBSD swap",
	TypeFreeBSDUFS:         "FreeBSD UFS",
	TypeFreeBSDZFS:         "FreeBSD ZFS",
	TypeOpenBSDData:        "OpenBSD disklabel",
	TypeNetBSDFFS:          "NetBSD FFS",
	TypeAppleHFS:           "Apple HFS/HFS+",
	TypeAppleAPFS:          "Apple APFS",
	TypeAppleBoot:          "Apple boot",
	TypeAppleRAID:          "Apple RAID",
	TypeAppleCoreStor:      "Apple Core Storage",
	TypeChromeOSKernel:     "ChromeOS kernel",
	TypeChromeOSRoot:       "ChromeOS root",
	TypeChromeOSFuture:     "ChromeOS reserved",
	TypeSolarisUsr:         "Solaris /usr or Apple ZFS",
	TypeVMwareVMFS:         "VMware VMFS",
	TypeHPUXData:           "HP-UX data",
	TypeSonyBoot:           "Sony boot",
	TypeLenovoBoot:         "Lenovo boot",
	TypeCephOSD:            "Ceph OSD",
	TypeAndroidSystem:      "Android system",
}

func mustType(s string) Type { return Type(uuid.MustParse(s)) }

// ParseType parses a type GUID in any form uuid.Parse accepts (upper or lower
// case, with or without braces or a "urn:uuid:" prefix).
func ParseType(s string) (Type, error) {
	u, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"))
	return Type(u), err
}

// String returns the GUID in lower-case canonical form, e.g.
// "de94bba4-06d1-4d40-a16a-bfd50179d6ac".
func (t Type) String() string { return uuid.UUID(t).String() }

// Name returns a human-readable name for a well-known type, such as
// "Windows Recovery Environment", or "" when the type is not known.
func (t Type) Name() string { return typeNames[t] }

// IsUnused reports whether t is the all-zero GUID of an unused entry.
func (t Type) IsUnused() bool { return t == TypeUnused }
