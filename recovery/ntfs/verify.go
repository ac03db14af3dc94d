package ntfs

import (
	"bytes"
	"fmt"

	"github.com/winrepart/winrepart/diag"
)

// Problem codes of [Volume.Verify], stable kebab-case strings.
const (
	ProblemNoBackupBoot         diag.Code = "no-backup-boot-sector"  // the partition has no sector left for the backup boot sector
	ProblemBackupBootUnreadable diag.Code = "backup-boot-unreadable" // the partition's last sector could not be read
	ProblemBackupBootInvalid    diag.Code = "backup-boot-invalid"    // the last sector holds no valid boot sector
	ProblemBackupBootMismatch   diag.Code = "backup-boot-mismatch"   // the backup boot sector differs from the primary
	ProblemVolumeInfoUnreadable diag.Code = "volume-info-unreadable" // $Volume could not be read for the dirty flag
	ProblemDirty                diag.Code = "dirty"                  // the volume is marked dirty
	ProblemLogFileUnreadable    diag.Code = "logfile-unreadable"     // $LogFile could not be read
	ProblemLogFileUnclean       diag.Code = "logfile-unclean"        // $LogFile holds uncommitted transactions
	ProblemHiberfileUnreadable  diag.Code = "hiberfile-unreadable"   // \hiberfil.sys could not be read
	ProblemHibernated           diag.Code = "hibernated"             // \hiberfil.sys holds a hibernation image
	ProblemMFTMirrUnreadable    diag.Code = "mftmirr-unreadable"     // $MFTMirr could not be read
	ProblemMFTUnreadable        diag.Code = "mft-unreadable"         // the first $MFT records could not be read
	ProblemMFTMirrLCNMismatch   diag.Code = "mftmirr-lcn-mismatch"   // the boot sector and $MFTMirr's record disagree on where it is
	ProblemMFTMirrMismatch      diag.Code = "mftmirr-mismatch"       // a $MFTMirr record differs from $MFT
)

// Verify diagnoses a volume that opened: it reports, without failing,
// what would make offline changes unsafe or what is inconsistent. It
// checks the backup boot sector (the partition's last sector), $MFTMirr
// against the first records of $MFT, the dirty flag, the $LogFile restart
// area and hibernation. Errors met while checking become problems too.
func (v *Volume) Verify() []diag.Problem {
	var ps []diag.Problem
	add := func(code diag.Code, sev diag.Severity, remedy, format string, args ...any) {
		ps = append(ps, diag.Problem{Code: code, Severity: sev, Message: fmt.Sprintf(format, args...), Remedy: remedy})
	}
	bps := int64(v.Boot.BytesPerSector)
	if v.Boot.VolumeSize()+bps > v.size {
		add(ProblemNoBackupBoot, diag.Warning, "grow the partition by one sector or shrink the volume",
			"the volume (%d bytes) leaves no sector for the backup boot sector in a %d-byte partition", v.Boot.VolumeSize(), v.size)
	} else {
		buf := make([]byte, BootSectorSize)
		if err := readFull(v.r, buf, v.size-bps); err != nil {
			add(ProblemBackupBootUnreadable, diag.Warning, "check the device", "reading the partition's last sector: %v", err)
		} else if bb, err := ParseBootSector(buf); err != nil {
			add(ProblemBackupBootInvalid, diag.Warning, "rewrite the backup boot sector from the primary (ntfsfix does)",
				"the partition's last sector holds no valid NTFS boot sector: %v", err)
		} else if *bb != v.Boot {
			add(ProblemBackupBootMismatch, diag.Warning, "rewrite the backup boot sector from the primary",
				"the backup boot sector differs from the primary (total sectors %d vs %d)", bb.TotalSectors, v.Boot.TotalSectors)
		}
	}
	v.verifyMirror(add)
	if d, err := v.Dirty(); err != nil {
		add(ProblemVolumeInfoUnreadable, diag.Error, "run chkdsk /f in Windows", "%v", err)
	} else if d {
		add(ProblemDirty, diag.Error, "run chkdsk /f in Windows, then shut down fully", "the volume is marked dirty")
	}
	if c, err := v.LogFileClean(); err != nil {
		add(ProblemLogFileUnreadable, diag.Error, "mount and cleanly unmount the volume in Windows", "%v", err)
	} else if !c {
		add(ProblemLogFileUnclean, diag.Error, "boot Windows and shut down fully (no Fast Startup) to replay the log",
			"$LogFile has uncommitted transactions")
	}
	if h, err := v.Hibernated(); err != nil {
		add(ProblemHiberfileUnreadable, diag.Warning, "check \\hiberfil.sys in Windows", "%v", err)
	} else if h {
		add(ProblemHibernated, diag.Error, "resume Windows and shut down with Fast Startup disabled (powercfg /h off)",
			"\\hiberfil.sys holds a hibernation image")
	}
	return ps
}

// verifyMirror compares $MFTMirr with the first records of $MFT.
func (v *Volume) verifyMirror(add func(code diag.Code, sev diag.Severity, remedy, format string, args ...any)) {
	rec, err := v.ReadRecord(RecordMFTMirr)
	if err != nil {
		add(ProblemMFTMirrUnreadable, diag.Warning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		add(ProblemMFTMirrUnreadable, diag.Warning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	n := min(st.size, 4*v.recordSize)
	mirr := make([]byte, n)
	mft := make([]byte, n)
	if err := readFull(st, mirr, 0); err != nil {
		add(ProblemMFTMirrUnreadable, diag.Warning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	if err := readFull(v.mft, mft, 0); err != nil {
		add(ProblemMFTUnreadable, diag.Error, "run chkdsk /f in Windows", "%v", err)
		return
	}
	if st.runs != nil && st.runs[0].LCN != int64(v.Boot.MFTMirrLCN) {
		add(ProblemMFTMirrLCNMismatch, diag.Warning, "run chkdsk /f in Windows",
			"boot sector says $MFTMirr is at cluster %d, its record says %d", v.Boot.MFTMirrLCN, st.runs[0].LCN)
	}
	for i := int64(0); i < n; i += v.recordSize {
		if !bytes.Equal(mirr[i:i+v.recordSize], mft[i:i+v.recordSize]) {
			add(ProblemMFTMirrMismatch, diag.Warning, "run chkdsk /f in Windows (or ntfsfix)",
				"$MFTMirr record %d differs from $MFT", i/v.recordSize)
		}
	}
}
