//go:build linux

package winrepart

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/winrepart/winrepart/internal/testutil"
)

func TestBlockDeviceGeometry(t *testing.T) {
	testutil.NeedTool(t, "blockdev")
	for _, sector := range []int{512, 4096} {
		t.Run(strconv.Itoa(sector), func(t *testing.T) {
			img := makeImage(t, 16<<20, nil)
			dev := attachLoop(t, img, sector)
			out := strings.Fields(testutil.Run(t, "blockdev", "--getsize64", "--getss", "--getpbsz", dev))
			if len(out) != 3 {
				t.Fatalf("blockdev output %q", out)
			}
			var want geometry
			want.Size, _ = strconv.ParseInt(out[0], 10, 64)
			want.SectorSize, _ = strconv.Atoi(out[1])
			want.PhysicalSectorSize, _ = strconv.Atoi(out[2])
			if want.SectorSize != sector {
				t.Fatalf("blockdev --getss = %d, want %d", want.SectorSize, sector)
			}
			d, err := Open(dev, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, ok := d.(*BlockDevice); !ok {
				t.Fatalf("Open(%s) = %T, want *BlockDevice", dev, d)
			}
			if diff := cmp.Diff(want, geometryOf(d)); diff != "" {
				t.Errorf("geometry (-blockdev +got):\n%s", diff)
			}
			if _, err := d.WriteAt(make([]byte, sector), 0); !errors.Is(err, ErrReadOnly) {
				t.Errorf("WriteAt on read-only block device = %v, want ErrReadOnly", err)
			}
			buf := make([]byte, sector)
			if _, err := d.ReadAt(buf, d.Size()-int64(sector)+1); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("ReadAt past end = %v, want ErrOutOfRange", err)
			}
		})
	}
}

func TestBlockDeviceWrite(t *testing.T) {
	img := makeImage(t, 8<<20, nil)
	dev := attachLoop(t, img, 0)
	d, err := OpenBlockDevice(dev, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 4096)
	copy(msg, "written through the loop device")
	if _, err := d.WriteAt(msg, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	// A loop device without partition scanning refuses BLKRRPART with
	// EINVAL; what matters is that the ioctl ran and its error came back.
	if err := d.RereadPartitions(); err != nil && !errors.Is(err, syscall.EINVAL) {
		t.Errorf("RereadPartitions = %v", err)
	}
	// The exclusive open refuses a second writer.
	if d2, err := OpenBlockDevice(dev, OpenOptions{Writable: true}); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("second writable open = %v, %v; want EBUSY", d2, err)
		if d2 != nil {
			d2.Close()
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[1<<20:1<<20+31]) != "written through the loop device" {
		t.Error("write through the block device is not in the image")
	}
}

func TestBlockDeviceMountedRefusal(t *testing.T) {
	testutil.NeedTool(t, "mount", "umount")
	// Partition nodes (loopNpM) need udev or devtmpfs partition scanning,
	// which containers often lack; a file system on the whole loop device
	// exercises the same mountinfo match. FAT first, as on an ESP; ext2 when
	// the kernel has no vfat driver.
	img := makeImage(t, 64<<20, nil)
	dev := attachLoop(t, img, 0)
	part := dev
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	var failures []string
	mounted := false
	for _, fs := range []struct{ mkfs, typ string }{{"mkfs.fat", "vfat"}, {"mkfs.ext2", "ext2"}} {
		if out, err := testutil.RunErr(fs.mkfs, part); err != nil {
			failures = append(failures, fs.mkfs+": "+err.Error()+" "+out)
			continue
		}
		out, err := testutil.RunErr("mount", "-t", fs.typ, part, mnt)
		if err == nil {
			mounted = true
			break
		}
		failures = append(failures, "mount -t "+fs.typ+": "+err.Error()+" "+out)
	}
	if !mounted {
		if testutil.ToolsRequired() {
			t.Fatalf("cannot mount a loop device: %s", failures)
		}
		t.Skipf("cannot mount a loop device here: %s", failures)
	}
	t.Cleanup(func() {
		if out, err := testutil.RunErr("umount", mnt); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	d, err := OpenBlockDevice(dev, OpenOptions{Writable: true})
	if err == nil {
		d.Close()
		t.Fatal("writable open of a disk with a mounted partition succeeded")
	}
	var me *MountedError
	if !errors.As(err, &me) || !errors.Is(err, ErrMounted) {
		t.Fatalf("err = %v; want a MountedError", err)
	}
	if me.MountPoint != mnt || me.Device != part {
		t.Errorf("MountedError = %+v, want device %s on %s", me, part, mnt)
	}
	// Read-only opens stay allowed.
	ro, err := Open(dev, OpenOptions{})
	if err != nil {
		t.Fatalf("read-only open of a mounted disk: %v", err)
	}
	ro.Close()
}

func TestFindMounted(t *testing.T) {
	info := "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n" +
		"40 22 7:1 / /mnt/with\\040space rw - vfat /dev/loop0p1 rw\n"
	devs := map[string]string{"7:0": "/dev/loop0", "7:1": "/dev/loop0p1"}
	err := findMounted(strings.NewReader(info), devs)
	var me *MountedError
	if !errors.As(err, &me) {
		t.Fatalf("findMounted = %v", err)
	}
	if diff := cmp.Diff(&MountedError{Device: "/dev/loop0p1", MountPoint: "/mnt/with space"}, me); diff != "" {
		t.Error(diff)
	}
	if err := findMounted(strings.NewReader(info), map[string]string{"7:5": "x"}); err != nil {
		t.Errorf("findMounted(not mounted) = %v", err)
	}
}

// TestImageRefusedWhileLoopMounted: an image whose loop device has a
// mounted filesystem is refused for writing, and nothing is written; once
// unmounted, the writable open claims the loop device, so it cannot be
// mounted while the image changes.
func TestImageRefusedWhileLoopMounted(t *testing.T) {
	testutil.NeedTool(t, "mount", "umount", "mkfs.ext2", "losetup")
	img := makeImage(t, 64<<20, nil)
	dev := attachLoop(t, img, 0)
	if out, err := testutil.RunErr("mkfs.ext2", "-q", dev); err != nil {
		t.Fatalf("mkfs.ext2: %v %s", err, out)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := testutil.RunErr("mount", "-t", "ext2", dev, mnt); err != nil {
		if testutil.ToolsRequired() {
			t.Fatalf("cannot mount a loop device: %v %s", err, out)
		}
		t.Skipf("cannot mount a loop device here: %v %s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			testutil.RunErr("umount", mnt)
		}
	})
	before := testutil.RangeDigest(t, img, 0, 64<<20)
	d, err := OpenImage(img, OpenOptions{Writable: true})
	var me *MountedError
	if err == nil || !errors.As(err, &me) || me.MountPoint != mnt {
		if d != nil {
			d.Close()
		}
		t.Fatalf("writable open of an image mounted through %s: %v, want a MountedError naming %s", dev, err, mnt)
	}
	if testutil.RangeDigest(t, img, 0, 64<<20) != before {
		t.Error("the refused open changed the image")
	}
	if out, err := testutil.RunErr("umount", mnt); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	mounted = false
	d, err = OpenImage(img, OpenOptions{Writable: true})
	if err != nil {
		t.Fatalf("writable open after umount: %v", err)
	}
	defer d.Close()
	if out, err := testutil.RunErr("mount", "-t", "ext2", dev, mnt); err == nil {
		testutil.RunErr("umount", mnt)
		t.Fatalf("mounted the loop device while the image was open for writing: %s", out)
	}
}
