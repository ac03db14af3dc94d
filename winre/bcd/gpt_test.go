package bcd_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/winre/bcd"
	"github.com/winrepart/winrepart/winre/bcd/bcdtest"
)

// gptElement is a partition device element of a GPT disk, written out by
// hand from the documented layout (see testdata/README.md): 16 bytes of
// options GUID (none), then the descriptor: type 6 at 0x10, size 0x48 at
// 0x18, the partition's unique GUID at 0x20, local type 0 (hard disk) at
// 0x30, partition style 0 (GPT) at 0x34 and the disk GUID at 0x38, GUIDs
// in Windows' byte order (Data1-3 little-endian).
const gptElement = "00000000000000000000000000000000" +
	"06000000" + "00000000" + "48000000" + "00000000" +
	"d4c3b2a1" + "0401" + "5f4e" + "8a9b0c1d2e3f4a5b" + // {a1b2c3d4-0104-4e5f-8a9b-0c1d2e3f4a5b}
	"00000000" + "00000000" +
	"bab6c35b" + "521e" + "7c4b" + "9a2f000000000001" + // {5bc3b6ba-1e52-4b7c-9a2f-000000000001}
	"00000000000000000000000000000000"

// TestParseDeviceGPT decodes the hand-written GPT partition device.
func TestParseDeviceGPT(t *testing.T) {
	data, err := hex.DecodeString(gptElement)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 16+0x48 {
		t.Fatalf("vector of %d bytes", len(data))
	}
	d, err := bcd.ParseDevice(data)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Partition
	if d.Type != bcd.DevicePartition || p == nil || p.Style != bcd.StyleGPT ||
		p.PartitionGUID != uuid.MustParse("a1b2c3d4-0104-4e5f-8a9b-0c1d2e3f4a5b") ||
		p.DiskGUID != uuid.MustParse("5bc3b6ba-1e52-4b7c-9a2f-000000000001") || p.Offset != 0 || p.DiskSignature != 0 {
		t.Fatalf("device %+v, partition %+v", d, p)
	}
	if got, want := d.String(), "partition(gpt disk {5bc3b6ba-1e52-4b7c-9a2f-000000000001}, partition {a1b2c3d4-0104-4e5f-8a9b-0c1d2e3f4a5b})"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// The test helper encodes the same bytes.
	if enc := bcdtest.GPTPartitionElement(p.DiskGUID, p.PartitionGUID); !bytes.Equal(enc, data) {
		t.Errorf("bcdtest.GPTPartitionElement:\n%x\nwant\n%x", enc, data)
	}
}

// TestWinREChainGPT: a UEFI store built with hivexsh follows WinRE's
// chain to GPT partition devices (the loader's ramdisk parents and the
// options' SDI device).
func TestWinREChainGPT(t *testing.T) {
	disk := uuid.MustParse("5bc3b6ba-1e52-4b7c-9a2f-000000000001")
	s := bcdtest.Store{DiskGUID: disk,
		ESP:   uuid.MustParse("a1b2c3d4-0101-4e5f-8a9b-0c1d2e3f4a5b"),
		OS:    uuid.MustParse("a1b2c3d4-0103-4e5f-8a9b-0c1d2e3f4a5b"),
		WinRE: uuid.MustParse("a1b2c3d4-0104-4e5f-8a9b-0c1d2e3f4a5b")}
	hive := bcdtest.Build(t, s)
	st, err := bcd.Read(bytes.NewReader(hive), int64(len(hive)))
	if err != nil {
		t.Fatal(err)
	}
	chains, err := st.WinRE()
	if err != nil || len(chains) != 1 {
		t.Fatalf("WinRE: %v, %v", chains, err)
	}
	devs := chains[0].Devices()
	if len(devs) != 3 {
		t.Fatalf("%d devices", len(devs))
	}
	for _, cd := range devs {
		ps := cd.Device.Partitions()
		if len(ps) != 1 || ps[0].Style != bcd.StyleGPT || ps[0].DiskGUID != disk || ps[0].PartitionGUID != s.WinRE {
			t.Errorf("%s: %v", cd.Element, cd.Device)
		}
	}
	if d := chains[0].Device; d == nil || d.Ramdisk == nil || !strings.EqualFold(d.Ramdisk.Path, `\Recovery\WindowsRE\Winre.wim`) {
		t.Errorf("loader device %v", d)
	}
	// No MBR patch applies to a GPT store.
	if _, err := st.PlanMBRMove(0, 1<<20, 2<<20); err == nil {
		t.Error("PlanMBRMove accepted a GPT store")
	}
}
