// Package bcdtest builds BCD stores for tests: a minimal empty registry
// hive written here (base block, one hive bin, a root key and its security
// cell), to which Debian's hivexsh, an independent registry writer, adds
// the BCD objects and elements. Element data is encoded from the
// documented formats (see the bcd package documentation), in the layout
// Windows uses for WinRE on an MBR disk or, with [Store.DiskGUID] set, on a
// GPT disk.
package bcdtest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/internal/testutil"
)

// Well-known and fixed object GUIDs of the stores built here.
var (
	// BootManager is Windows' well-known {bootmgr}.
	BootManager = uuid.MustParse("9dea862c-5cdd-4e70-acc1-f32b344d4795")
	// OSLoader is the Windows boot loader ("{default}").
	OSLoader = uuid.MustParse("2c5a4a3e-6f2b-11ee-9b6a-000c29a1b2c3")
	// WinRELoader is the WinRE boot loader; ReAgent.xml's WinreBCD id in
	// the project's fixtures.
	WinRELoader = uuid.MustParse("5d0ce3a2-6f2b-11ee-9b6a-000c29a1b2c3")
	// WinREOptions is WinRE's ramdisk-options object.
	WinREOptions = uuid.MustParse("5d0ce3a3-6f2b-11ee-9b6a-000c29a1b2c3")
)

// EmptyHive returns a registry hive with only a root key: a 4096-byte
// base block (sequence numbers 1 and 1, version 1.5, checksum at 0x1FC)
// and one 4096-byte hive bin holding the root "nk" cell, its "sk" cell and
// free space.
func EmptyHive() []byte {
	le := binary.LittleEndian
	b := make([]byte, 8192)
	copy(b, "regf")
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], 1)
	le.PutUint32(b[0x14:], 1) // major
	le.PutUint32(b[0x18:], 5) // minor
	le.PutUint32(b[0x1C:], 0) // primary file
	le.PutUint32(b[0x20:], 1) // direct memory load
	le.PutUint32(b[0x24:], 0x20)
	le.PutUint32(b[0x28:], 4096)
	le.PutUint32(b[0x2C:], 1) // clustering factor
	var x uint32
	for i := 0; i < 0x1FC; i += 4 {
		x ^= le.Uint32(b[i:])
	}
	le.PutUint32(b[0x1FC:], x)

	bin := b[4096:]
	copy(bin, "hbin")
	le.PutUint32(bin[8:], 4096)
	// Root key at 0x20: an nk cell of 0x58 bytes (76-byte record + "ROOT").
	nk := bin[0x20:]
	le.PutUint32(nk, negSize(0x58))
	copy(nk[4:], "nk")
	le.PutUint16(nk[6:], 0x2C) // hive entry, no delete, compressed name
	le.PutUint32(nk[4+16:], 0) // parent
	le.PutUint32(nk[4+28:], 0xFFFFFFFF)
	le.PutUint32(nk[4+32:], 0xFFFFFFFF)
	le.PutUint32(nk[4+40:], 0xFFFFFFFF)
	le.PutUint32(nk[4+44:], 0x78) // security cell
	le.PutUint32(nk[4+48:], 0xFFFFFFFF)
	le.PutUint16(nk[4+72:], 4)
	copy(nk[4+76:], "ROOT")
	// Security at 0x78: an sk cell listing only itself, with a
	// self-relative descriptor that has no owner, group or ACLs.
	sk := bin[0x78:]
	le.PutUint32(sk, negSize(0x30))
	copy(sk[4:], "sk")
	le.PutUint32(sk[8:], 0x78)
	le.PutUint32(sk[12:], 0x78)
	le.PutUint32(sk[16:], 1)
	le.PutUint32(sk[20:], 20)
	sk[24] = 1                      // revision
	le.PutUint16(sk[26:], 0x8000)   // SE_SELF_RELATIVE
	le.PutUint32(bin[0xA8:], 0xF58) // the rest of the bin is one free cell
	return b
}

// negSize is an allocated cell's size field: the size, negated.
func negSize(n int32) uint32 { return uint32(-n) }

// guidBytes encodes a GUID in Windows' byte order.
func guidBytes(u uuid.UUID) []byte {
	return []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6],
		u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]}
}

// mbrPartition is a 72-byte partition device descriptor naming the
// partition at offset bytes on the MBR disk with signature sig.
func mbrPartition(sig uint32, offset uint64) []byte {
	le := binary.LittleEndian
	d := make([]byte, 0x48)
	le.PutUint32(d[0:], 6)    // partition device
	le.PutUint32(d[8:], 0x48) // size
	le.PutUint64(d[0x10:], offset)
	le.PutUint32(d[0x20:], 0) // local hard disk
	le.PutUint32(d[0x24:], 1) // MBR
	le.PutUint32(d[0x28:], sig)
	return d
}

// gptPartition is a 72-byte partition device descriptor naming the GPT
// partition with unique GUID part on the disk with GUID disk: the
// partition GUID where an MBR device has its offset (0x10), partition style
// 0 (GPT) at 0x24 and the disk GUID at 0x28, both GUIDs in Windows' byte
// order (see the package documentation of winre/bcd, Sources).
func gptPartition(disk, part uuid.UUID) []byte {
	le := binary.LittleEndian
	d := make([]byte, 0x48)
	le.PutUint32(d[0:], 6)    // partition device
	le.PutUint32(d[8:], 0x48) // size
	copy(d[0x10:], guidBytes(part))
	le.PutUint32(d[0x20:], 0) // local hard disk
	le.PutUint32(d[0x24:], 0) // GPT
	copy(d[0x28:], guidBytes(disk))
	return d
}

// GPTPartitionElement is the data of a device element naming the GPT
// partition part on the disk with GUID disk.
func GPTPartitionElement(disk, part uuid.UUID) []byte {
	return append(make([]byte, 16), gptPartition(disk, part)...)
}

// GPTRamdiskElement is the data of a device element naming the ramdisk
// image path on GPT partition part of disk, with the ramdisk options
// object options.
func GPTRamdiskElement(options, disk, part uuid.UUID, path string) []byte {
	return ramdisk(options, gptPartition(disk, part), path)
}

// PartitionElement is the data of a device element naming the MBR
// partition at offset bytes on the disk with signature sig.
func PartitionElement(sig uint32, offset uint64) []byte {
	return append(make([]byte, 16), mbrPartition(sig, offset)...)
}

// RamdiskElement is the data of a device element naming the ramdisk
// image path on the MBR partition at offset bytes of disk sig, with the
// ramdisk options object options.
func RamdiskElement(options uuid.UUID, sig uint32, offset uint64, path string) []byte {
	return ramdisk(options, mbrPartition(sig, offset), path)
}

// ramdisk is a ramdisk device element whose image file lies on the
// partition device parent.
func ramdisk(options uuid.UUID, parent []byte, path string) []byte {
	le := binary.LittleEndian
	str := utf16le(path)
	fp := make([]byte, 12, 12+len(parent)+len(str))
	le.PutUint32(fp[0:], 1)
	le.PutUint32(fp[4:], uint32(12+len(parent)+len(str)))
	le.PutUint32(fp[8:], 5) // path: device descriptor + string
	fp = append(append(fp, parent...), str...)
	d := make([]byte, 0x28)
	le.PutUint32(d[0:], 0) // block device
	le.PutUint32(d[4:], 1)
	le.PutUint32(d[8:], uint32(0x28+len(fp)))
	le.PutUint32(d[0x10:], 3) // ramdisk
	return append(append(guidBytes(options), d...), fp...)
}

// utf16le encodes s as NUL-terminated UTF-16LE.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s + "\x00"))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// multiSZ encodes strings as REG_MULTI_SZ.
func multiSZ(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, utf16le(s)...)
	}
	return append(b, 0, 0)
}

func hexBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ",")
}

// Store describes the BCD to build: an MBR disk's (partitions named by
// disk signature and byte offset) unless DiskGUID is set, then a GPT
// disk's (partitions named by disk GUID and unique partition GUID).
type Store struct {
	// DiskSignature is the MBR disk signature.
	DiskSignature uint32
	// OSOffset and WinREOffset are the start in bytes of C: and of the
	// WinRE partition.
	OSOffset, WinREOffset uint64
	// SystemOffset is the start of the active partition holding \Boot\BCD
	// (the boot manager's device).
	SystemOffset uint64

	// DiskGUID is the GPT disk GUID; when set, the store is a UEFI one.
	DiskGUID uuid.UUID
	// ESP, OS and WinRE are the unique GUIDs of the EFI system partition
	// (the boot manager's device), C: and the WinRE partition (GPT).
	ESP, OS, WinRE uuid.UUID
}

// partition, ramdisk: the device elements of s's disk.
func (s Store) partition(mbrOffset uint64, gpt uuid.UUID) []byte {
	if s.DiskGUID != (uuid.UUID{}) {
		return GPTPartitionElement(s.DiskGUID, gpt)
	}
	return PartitionElement(s.DiskSignature, mbrOffset)
}

func (s Store) ramdisk(options uuid.UUID, mbrOffset uint64, gpt uuid.UUID, path string) []byte {
	if s.DiskGUID != (uuid.UUID{}) {
		return GPTRamdiskElement(options, s.DiskGUID, gpt, path)
	}
	return RamdiskElement(options, s.DiskSignature, mbrOffset, path)
}

// Script returns the hivexsh script that turns EmptyHive into s's BCD:
// the boot manager, a Windows boot loader with recoverysequence and
// recoveryenabled, a WinRE loader booting winre.wim from a ramdisk and its
// ramdisk-options object, in the layout reagentc writes.
func (s Store) Script() string {
	var w strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&w, f+"\n", a...) }
	p("add Description")
	p("cd Description")
	p("setval 1\nKeyName\nhex:1:%s", hexBytes(utf16le("BCD00000000")))
	p("cd ..")
	p("add Objects")
	type elem struct {
		t    uint32
		typ  int
		data []byte
	}
	object := func(id uuid.UUID, typ uint32, els ...elem) {
		p("cd \\Objects")
		p("add {%s}", id)
		p("cd {%s}", id)
		p("add Description")
		p("add Elements")
		p("cd Description")
		p("setval 1\nType\ndword:0x%08x", typ)
		p("cd ..\\Elements")
		for _, e := range els {
			p("add %08x", e.t)
			p("cd %08x", e.t)
			p("setval 1\nElement\nhex:%d:%s", e.typ, hexBytes(e.data))
			p("cd ..")
		}
	}
	b := func(v byte) []byte { return []byte{v} }
	id := func(u uuid.UUID) string { return "{" + u.String() + "}" }
	const wim = `\Recovery\WindowsRE\Winre.wim`
	object(BootManager, 0x10100002,
		elem{0x11000001, 3, s.partition(s.SystemOffset, s.ESP)},
		elem{0x12000004, 1, utf16le("Windows Boot Manager")},
		elem{0x23000003, 1, utf16le(id(OSLoader))},
		elem{0x24000001, 7, multiSZ(id(OSLoader))})
	object(OSLoader, 0x10200003,
		elem{0x11000001, 3, s.partition(s.OSOffset, s.OS)},
		elem{0x12000002, 1, utf16le(`\Windows\system32\winload.exe`)},
		elem{0x12000004, 1, utf16le("Windows 10")},
		elem{0x14000008, 7, multiSZ(id(WinRELoader))},
		elem{0x16000009, 3, b(1)},
		elem{0x21000001, 3, s.partition(s.OSOffset, s.OS)},
		elem{0x22000002, 1, utf16le(`\Windows`)})
	object(WinRELoader, 0x10200003,
		elem{0x11000001, 3, s.ramdisk(WinREOptions, s.WinREOffset, s.WinRE, wim)},
		elem{0x12000002, 1, utf16le(`\windows\system32\winload.exe`)},
		elem{0x12000004, 1, utf16le("Windows Recovery Environment")},
		elem{0x21000001, 3, s.ramdisk(WinREOptions, s.WinREOffset, s.WinRE, wim)},
		elem{0x22000002, 1, utf16le(`\windows`)},
		elem{0x26000022, 3, b(1)})
	object(WinREOptions, 0x30000000,
		elem{0x12000004, 1, utf16le("Windows Recovery")},
		elem{0x31000003, 3, s.partition(s.WinREOffset, s.WinRE)},
		elem{0x32000004, 1, utf16le(`\Recovery\WindowsRE\boot.sdi`)})
	p("commit")
	return w.String()
}

// Build builds s's BCD with hivexsh and returns the hive file's bytes.
func Build(t testing.TB, s Store) []byte {
	t.Helper()
	testutil.NeedTool(t, "hivexsh")
	dir := t.TempDir()
	hive := filepath.Join(dir, "BCD")
	if err := os.WriteFile(hive, EmptyHive(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "bcd.hivexsh")
	if err := os.WriteFile(script, []byte(s.Script()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("hivexsh", "-w", "-f", script, hive).CombinedOutput(); err != nil {
		t.Fatalf("hivexsh -w: %v\n%s", err, out)
	}
	b, err := os.ReadFile(hive)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Install replaces \Boot\BCD of the NTFS volume at byte start (size bytes)
// of the disk image img with hive, using ntfscp on a copy of the volume,
// and writes the volume back.
func Install(t testing.TB, img string, start, size int64, hive []byte) {
	t.Helper()
	testutil.NeedTool(t, "ntfscp")
	onVolumeCopy(t, img, start, size, hive, func(vol, src string) {
		if out, err := exec.Command("ntfscp", "-f", vol, src, "/Boot/BCD").CombinedOutput(); err != nil {
			t.Fatalf("ntfscp: %v\n%s", err, out)
		}
	})
}

// InstallESP writes hive as \EFI\Microsoft\Boot\BCD into the FAT volume
// at byte start (size bytes) of the disk image img, creating the
// directories it needs, with mtools (mmd, mcopy) on a copy of the volume,
// and writes the volume back.
func InstallESP(t testing.TB, img string, start, size int64, hive []byte) {
	t.Helper()
	testutil.NeedTool(t, "mmd", "mcopy", "mdir")
	onVolumeCopy(t, img, start, size, hive, func(vol, src string) {
		mtools := func(name string, args ...string) {
			cmd := exec.Command(name, append([]string{"-i", vol}, args...)...)
			cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s %v: %v\n%s", name, args, err, out)
			}
		}
		for _, d := range []string{"::/EFI", "::/EFI/Microsoft", "::/EFI/Microsoft/Boot"} {
			cmd := exec.Command("mdir", "-i", vol, d)
			cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
			if cmd.Run() != nil {
				mtools("mmd", d)
			}
		}
		mtools("mcopy", "-o", src, "::/EFI/Microsoft/Boot/BCD")
	})
}

// onVolumeCopy copies the volume at byte start (size bytes) of img to a
// file, writes hive to another, calls edit with both paths, and writes
// the edited volume back into img.
func onVolumeCopy(t testing.TB, img string, start, size int64, hive []byte, edit func(vol, src string)) {
	t.Helper()
	dir := t.TempDir()
	vol, src := filepath.Join(dir, "vol"), filepath.Join(dir, "BCD")
	if err := os.WriteFile(src, hive, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, start); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vol, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	edit(vol, src)
	if buf, err = os.ReadFile(vol); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(buf, start); err != nil {
		t.Fatal(err)
	}
}
