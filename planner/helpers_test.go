package planner

import (
	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery"
)

// tpart describes one partition of a synthetic layout; sizes in MiB
// unless the Bytes fields are set.
type tpart struct {
	start, size int64 // MiB
	role        recovery.Role
	used        int64 // MiB in use, all at the start of the volume (NTFS only)
	usedTail    int64 // MiB: the volume's last used cluster sits this far from its end (0: right after used)
	noFS        bool
	fs          func(*recovery.Filesystem)
	logical     bool
	extended    bool
	attrs       gpt.Attributes
}

type tlayout struct {
	scheme     recovery.Scheme
	ss         int
	diskMiB    int64
	tableMiB   int64 // the disk size the GPT was made for (0: diskMiB); smaller = the disk grew
	parts      []tpart
	winre      int // partition number of the active WinRE; 0 none
	wimMiB     int64
	noReAgent  bool
	disabled   bool
	problems   []recovery.Problem
	winreOnOS  bool
	startBytes map[int]int64
}

var fixedDisk = uuid.MustParse("6a1b2c3d-0000-4000-8000-00000000d15c")

func partGUID(n int) uuid.UUID {
	u := uuid.MustParse("11111111-2222-4333-8444-000000000000")
	u[15] = byte(n)
	return u
}

func typeFor(r recovery.Role) (gpt.Type, mbr.Type) {
	switch r {
	case recovery.RoleESP:
		return gpt.TypeESP, mbr.TypeEFISystem
	case recovery.RoleMSR:
		return gpt.TypeMSR, 0
	case recovery.RoleWinRE, recovery.RoleRecovery:
		return gpt.TypeWinRE, mbr.TypeWinRE
	case recovery.RoleOEM:
		return gpt.TypeWinRE, mbr.TypeCompaqDiag
	}
	return gpt.TypeBasicData, mbr.TypeNTFS
}

func (tl tlayout) build() *recovery.Layout {
	ss := int64(tl.ss)
	mib := int64(1 << 20)
	l := &recovery.Layout{Scheme: tl.scheme, SectorSize: tl.ss, SizeBytes: tl.diskMiB * mib, DiskGUID: fixedDisk, DiskSignature: 0x1234abcd}
	if tl.scheme == recovery.SchemeMBR {
		l.DiskGUID = uuid.Nil
	}
	var t *gpt.Table
	if tl.scheme == recovery.SchemeGPT {
		tm := tl.tableMiB
		if tm == 0 {
			tm = tl.diskMiB
		}
		sectors := uint64(tm * mib / ss)
		arr := uint64(16384 / ss)
		t = &gpt.Table{SectorSize: tl.ss, DiskSize: l.SizeBytes,
			Header: gpt.Header{Signature: gpt.Signature, Revision: gpt.Revision10, HeaderSize: 92, MyLBA: 1, AlternateLBA: sectors - 1,
				FirstUsableLBA: 2 + arr, LastUsableLBA: sectors - 2 - arr, DiskGUID: fixedDisk, PartitionEntryLBA: 2,
				NumberOfPartitionEntries: 128, SizeOfPartitionEntry: 128, HeaderCRC32: 0x11223344, PartitionEntryArrayCRC32: 0x55667788},
			Entries: make([]gpt.Entry, 128), PrimaryEntryLBA: 2, BackupEntryLBA: sectors - 1 - arr, BackupHeaderLBA: sectors - 1}
		l.GPT = t
	} else {
		l.MBR = &mbr.Table{SectorSize: tl.ss, DiskSize: l.SizeBytes, Extended: -1}
		l.MBR.Record.DiskSignature = l.DiskSignature
		l.MBR.Record.Signature = 0xAA55
	}
	nextLogical := 5
	for i, tp := range tl.parts {
		n := i + 1
		if tl.scheme == recovery.SchemeMBR && tp.logical {
			n = nextLogical
			nextLogical++
		}
		start := tp.start * mib
		if b, ok := tl.startBytes[n]; ok {
			start = b
		}
		size := tp.size * mib
		gt, mt := typeFor(tp.role)
		q := recovery.Partition{Number: n, StartLBA: uint64(start / ss), EndLBA: uint64((start+size)/ss) - 1, SizeBytes: size, Role: tp.role,
			Logical: tp.logical, Extended: tp.extended}
		if tl.scheme == recovery.SchemeGPT {
			q.GPTType, q.UniqueGUID, q.Attributes = gt, partGUID(n), tp.attrs
			if tp.role == recovery.RoleWinRE && tp.attrs == 0 {
				q.Attributes = gpt.AttrWinRE
			}
			t.Entries[n-1] = gpt.Entry{Type: q.GPTType, UniqueGUID: q.UniqueGUID, FirstLBA: q.StartLBA, LastLBA: q.EndLBA, Attributes: q.Attributes}
		} else {
			q.MBRType = mt
			if tp.extended {
				q.MBRType = mbr.TypeExtendedLBA
			}
			if tp.role == recovery.RoleSystem {
				q.Bootable = true
			}
			if tp.logical {
				ebr := q.StartLBA - uint64(mib/ss)
				l.MBR.Logical = append(l.MBR.Logical, mbr.Logical{Number: n, EBRLBA: ebr, Entry: mbr.Entry{Type: mt, StartLBA: uint32(q.StartLBA - ebr), Sectors: uint32(q.EndLBA - q.StartLBA + 1)},
					StartLBA: q.StartLBA, Sectors: q.EndLBA - q.StartLBA + 1})
			} else {
				l.MBR.Record.Entries[n-1] = mbr.Entry{Type: q.MBRType, StartLBA: uint32(q.StartLBA), Sectors: uint32(q.EndLBA - q.StartLBA + 1)}
			}
		}
		if !tp.noFS && tp.role != recovery.RoleMSR && !tp.extended {
			total := size - ss
			used := tp.used * mib
			extent := used + tp.usedTail*mib
			if tp.usedTail < 0 { // used to the very end
				extent = total
			}
			extent = min(max(extent, 4096), total)
			f := &recovery.Filesystem{Kind: recovery.FSNTFS, LogFileClean: true, ClusterSize: 4096, TotalBytes: total,
				UsedBytes: used, FreeBytes: total - used, ShrinkableBytes: total - extent, LastUsedCluster: extent/4096 - 1}
			if tp.fs != nil {
				tp.fs(f)
			}
			q.FS = f
		}
		l.Partitions = append(l.Partitions, q)
		if tp.role == recovery.RoleOS {
			l.OS = n
		}
	}
	w := &recovery.WinRE{Partition: tl.winre, Enabled: !tl.disabled, WIMBytes: tl.wimMiB * mib,
		ReAgentPath: `\Windows\System32\Recovery\ReAgent.xml`, WIMPath: `\Recovery\WindowsRE\Winre.wim`}
	if tl.noReAgent {
		w.ReAgentPath = ""
	}
	if q := l.Partition(tl.winre); q != nil && q.FS != nil {
		w.FreeBytes = q.FS.FreeBytes
	}
	if tl.winreOnOS {
		w.Partition = l.OS
	}
	l.WinRE = w
	l.Problems = tl.problems
	return l
}
