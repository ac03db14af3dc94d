package recovery

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/recovery/fat"
	"github.com/winrepart/winrepart/winre/bcd"
)

// PathBCD is where BIOS Windows keeps its BCD store: on the active
// partition (System Reserved, or C: when there is none).
const PathBCD = `\Boot\BCD`

// PathBCDEFI is where UEFI Windows keeps its BCD store: on the EFI system
// partition, a FAT volume.
const PathBCDEFI = `\EFI\Microsoft\Boot\BCD`

// BCD is the boot configuration store Inspect read and WinRE's boot chain
// in it.
type BCD struct {
	// Partition is the number of the partition holding the store, Path
	// its path there.
	Partition int
	Path      string
	// Err says why the store could not be read or WinRE's chain not
	// followed ("" when it could). Dirty is set when the hive's sequence
	// numbers differ.
	Err   string
	Dirty bool
	// WinRE lists WinRE's boot chains (one per WinRE loader an OS
	// loader's recoverysequence names; normally one).
	WinRE []BCDChain
	// Resolves is true when WinRE has a chain and every partition device
	// in it names the active WinRE partition: on MBR disks by this disk's
	// signature and the partition's start in bytes, on GPT disks by this
	// disk's GUID and the partition's unique GUID.
	Resolves bool
}

// BCDChain is one WinRE boot chain: OS loader -> WinRE loader (device and
// osdevice, a ramdisk of winre.wim) -> ramdisk options (SDI device and
// path).
type BCDChain struct {
	// OSLoader, Loader and Options are object GUIDs in braces.
	OSLoader, Loader, Options string
	// WIMPath is the ramdisk image path of the loader's device; SDIPath
	// the options' ramdisksdipath.
	WIMPath, SDIPath string
	// Devices are the chain's device elements.
	Devices []BCDDevice
}

// BCDDevice is one device element of a WinRE chain.
type BCDDevice struct {
	// Object is the GUID in braces of the object holding the element.
	Object string
	// Element is bcdedit's name of the element: device, osdevice or
	// ramdisksdidevice.
	Element string
	// Device is the decoded device, as text.
	Device string
	// Partition is the partition of this disk the device names (0 when it
	// names none, or one on another disk): on MBR disks the partition
	// starting at Offset, on GPT disks the one with the unique GUID the
	// device names.
	Partition int
	// Offset is the partition start in bytes the device names on an MBR
	// disk (-1 when it names no MBR partition).
	Offset int64
}

// PatchableForMove says whether the executor can patch the BCD when the
// active WinRE partition moves: an MBR disk whose store was read, is clean
// and whose WinRE chain resolves to the active WinRE partition. When not,
// the error says why.
func (l *Layout) PatchableForMove() error {
	switch {
	case l.Scheme != SchemeMBR:
		return fmt.Errorf("not an MBR disk: the BCD names WinRE by partition GUID, which a move keeps")
	case l.BCD == nil:
		return fmt.Errorf("no BCD store was found (%s on the active partition)", PathBCD)
	case l.BCD.Err != "":
		return fmt.Errorf("the BCD store (partition %d, %s) cannot be used: %s", l.BCD.Partition, l.BCD.Path, l.BCD.Err)
	case l.WinRE == nil || l.WinRE.Partition == 0:
		return fmt.Errorf("WinRE has no partition of its own")
	case !l.BCD.Resolves:
		return fmt.Errorf("the BCD's WinRE entries do not all name the WinRE partition %d", l.WinRE.Partition)
	}
	return nil
}

// findBCD reads the BCD store and follows WinRE's chain: \Boot\BCD on
// the active NTFS partition of an MBR disk, \EFI\Microsoft\Boot\BCD on
// the EFI system partition of a GPT disk.
func (in *inspector) findBCD() {
	switch in.l.Scheme {
	case SchemeMBR:
		in.findBCDOnMBR()
	case SchemeGPT:
		in.findBCDOnESP()
	}
}

// remedyBCD is the remedy of the BCD problems.
const remedyBCD = "boot Windows and run reagentc /disable, then reagentc /enable (it rewrites the BCD's WinRE entries); or bcdboot C:\\Windows if the store is missing"

// findBCDOnMBR reads \Boot\BCD of the active NTFS partition (or C:).
func (in *inspector) findBCDOnMBR() {
	l := in.l
	n := l.OS
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if p.Bootable && p.FS != nil && p.FS.Kind == FSNTFS {
			n = p.Number
			break
		}
	}
	v := in.vols[n]
	if n == 0 || v == nil {
		return
	}
	b := &BCD{Partition: n, Path: PathBCD}
	l.BCD = b
	raw, err := v.ReadFile(PathBCD, bcd.MaxHiveSize)
	if err != nil {
		in.bcdFailed(b, err)
		return
	}
	in.followBCD(b, raw)
}

// findBCDOnESP reads \EFI\Microsoft\Boot\BCD of the EFI system
// partition; with several, the first holding the file. An ESP without the
// file is not a problem: the ESP may belong to another system, and the
// store may live on another disk's ESP. One whose FAT volume cannot be
// read, or whose store cannot, is (bcd-unreadable).
func (in *inspector) findBCDOnESP() {
	l := in.l
	var broken *BCD
	var brokenErr error
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if p.GPTType != gpt.TypeESP || p.EndBytes(l.SectorSize) > l.SizeBytes {
			continue
		}
		b := &BCD{Partition: p.Number, Path: PathBCDEFI}
		v, err := fat.Open(in.section(p), p.SizeBytes)
		if err == nil {
			var raw []byte
			raw, err = v.ReadFile(PathBCDEFI, bcd.MaxHiveSize)
			if err == nil {
				l.BCD = b
				in.followBCD(b, raw)
				return
			}
			if errors.Is(err, fat.ErrNotFound) {
				continue
			}
		}
		if broken == nil {
			broken, brokenErr = b, err
		}
	}
	if broken != nil {
		l.BCD = broken
		in.bcdFailed(broken, brokenErr)
	}
}

// bcdFailed records why the store b could not be used and reports it.
func (in *inspector) bcdFailed(b *BCD, err error) {
	b.Err = err.Error()
	b.Dirty = isDirty(err)
	in.problem(ProblemBCDUnreadable, diag.Warning, remedyBCD, "BCD store %s on partition %d: %s", b.Path, b.Partition, b.Err)
}

// followBCD parses the hive raw into b and follows WinRE's chain.
func (in *inspector) followBCD(b *BCD, raw []byte) {
	l := in.l
	st, err := bcd.Read(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		in.bcdFailed(b, err)
		return
	}
	chains, err := st.WinRE()
	if err != nil {
		in.bcdFailed(b, err)
		return
	}
	re := 0
	if l.WinRE != nil {
		re = l.WinRE.Partition
	}
	b.Resolves = true
	parts := 0
	for _, c := range chains {
		bc := BCDChain{OSLoader: braces(c.OSLoader.String()), Loader: braces(c.Loader.String()), SDIPath: c.SDIPath}
		if c.Options != [16]byte{} {
			bc.Options = braces(c.Options.String())
		}
		if c.Device != nil && c.Device.Ramdisk != nil {
			bc.WIMPath = c.Device.Ramdisk.Path
		}
		for _, cd := range c.Devices() {
			d := BCDDevice{Object: braces(cd.Object.String()), Element: elementName(cd.Element), Device: cd.Device.String(), Offset: -1}
			for _, p := range cd.Device.Partitions() {
				parts++
				switch {
				case p.Style == bcd.StyleMBR:
					d.Offset = int64(p.Offset)
					if l.Scheme == SchemeMBR && p.DiskSignature == l.DiskSignature {
						d.Partition = in.partitionAt(int64(p.Offset))
					}
				case p.Style == bcd.StyleGPT && l.Scheme == SchemeGPT && p.DiskGUID == l.DiskGUID:
					d.Partition = in.partitionWithGUID(p.PartitionGUID)
				}
				if d.Partition == 0 || d.Partition != re {
					b.Resolves = false
				}
			}
			bc.Devices = append(bc.Devices, d)
		}
		b.WinRE = append(b.WinRE, bc)
	}
	if parts == 0 {
		b.Resolves = false
	}
	if re != 0 && !b.Resolves {
		in.problem(ProblemBCDWinREMismatch, diag.Warning, remedyBCD,
			"the BCD's WinRE entries do not all name the active WinRE partition %d (%s)", re, describeDevices(b))
	}
}

// partitionWithGUID returns the number of the GPT partition whose unique
// GUID is u, or 0.
func (in *inspector) partitionWithGUID(u uuid.UUID) int {
	if u == (uuid.UUID{}) {
		return 0
	}
	for i := range in.l.Partitions {
		if p := &in.l.Partitions[i]; p.UniqueGUID == u {
			return p.Number
		}
	}
	return 0
}

// partitionAt returns the number of the partition starting at byte off, or 0.
func (in *inspector) partitionAt(off int64) int {
	for i := range in.l.Partitions {
		p := &in.l.Partitions[i]
		if !p.Extended && p.StartBytes(in.l.SectorSize) == off {
			return p.Number
		}
	}
	return 0
}

func describeDevices(b *BCD) string {
	var s string
	for _, c := range b.WinRE {
		for _, d := range c.Devices {
			if s != "" {
				s += "; "
			}
			where := "no partition of this disk"
			if d.Partition != 0 {
				where = fmt.Sprintf("partition %d", d.Partition)
			}
			s += fmt.Sprintf("%s %s: %s", d.Object, d.Element, where)
		}
	}
	return s
}

func braces(s string) string { return "{" + s + "}" }

func elementName(t bcd.ElementType) string {
	switch t {
	case bcd.ElemApplicationDevice:
		return "device"
	case bcd.ElemOSDevice:
		return "osdevice"
	case bcd.ElemRamdiskSDIDevice:
		return "ramdisksdidevice"
	}
	return t.String()
}

func isDirty(err error) bool {
	var d *bcd.DirtyError
	return errors.As(err, &d)
}

// String renders the store and WinRE's boot chain, one line per element.
func (b *BCD) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "BCD:          partition %d, %s", b.Partition, b.Path)
	switch {
	case b.Err != "":
		fmt.Fprintf(&s, ": %s\n", b.Err)
		return s.String()
	case b.Resolves:
		s.WriteString(": WinRE's entries name the WinRE partition\n")
	default:
		s.WriteString(": WinRE's entries do NOT all name the WinRE partition\n")
	}
	for _, c := range b.WinRE {
		fmt.Fprintf(&s, "  %s recoverysequence -> WinRE loader %s\n", c.OSLoader, c.Loader)
		for _, d := range c.Devices {
			if d.Element == "ramdisksdidevice" {
				fmt.Fprintf(&s, "  ramdisk options %s:\n", d.Object)
			}
			where := "no partition of this disk"
			if d.Partition != 0 {
				where = fmt.Sprintf("partition %d", d.Partition)
			}
			fmt.Fprintf(&s, "    %-17s %s -> %s\n", d.Element, d.Device, where)
		}
		if c.SDIPath != "" {
			fmt.Fprintf(&s, "    %-17s %s\n", "ramdisksdipath", c.SDIPath)
		}
	}
	return s.String()
}
