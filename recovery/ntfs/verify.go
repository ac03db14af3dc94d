package ntfs

import (
	"bytes"
	"fmt"
)

// Severity grades a Problem.
type Severity int

// Severities, from informational to blocking offline changes.
const (
	SeverityInfo    Severity = iota // worth knowing, nothing to do
	SeverityWarning                 // repairable, or a sign of trouble
	SeverityError                   // the volume must not be modified offline
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Problem is one finding of Verify, with what to do about it.
type Problem struct {
	Code     string // stable identifier, e.g. "dirty", "backup-boot-mismatch"
	Severity Severity
	Message  string // what was found
	Remedy   string // what to do about it
}

// String renders the problem on one line.
func (p Problem) String() string {
	return fmt.Sprintf("%s %s: %s (%s)", p.Severity, p.Code, p.Message, p.Remedy)
}

// Verify diagnoses a volume that opened: it reports, without failing,
// what would make offline changes unsafe or what is inconsistent. It
// checks the backup boot sector (the partition's last sector), $MFTMirr
// against the first records of $MFT, the dirty flag, the $LogFile restart
// area and hibernation. Errors met while checking become problems too.
func (v *Volume) Verify() []Problem {
	var ps []Problem
	add := func(code string, sev Severity, remedy, format string, args ...any) {
		ps = append(ps, Problem{Code: code, Severity: sev, Message: fmt.Sprintf(format, args...), Remedy: remedy})
	}
	bps := int64(v.Boot.BytesPerSector)
	if v.Boot.VolumeSize()+bps > v.size {
		add("no-backup-boot-sector", SeverityWarning, "grow the partition by one sector or shrink the volume",
			"the volume (%d bytes) leaves no sector for the backup boot sector in a %d-byte partition", v.Boot.VolumeSize(), v.size)
	} else {
		buf := make([]byte, BootSectorSize)
		if err := readFull(v.r, buf, v.size-bps); err != nil {
			add("backup-boot-unreadable", SeverityWarning, "check the device", "reading the partition's last sector: %v", err)
		} else if bb, err := ParseBootSector(buf); err != nil {
			add("backup-boot-invalid", SeverityWarning, "rewrite the backup boot sector from the primary (ntfsfix does)",
				"the partition's last sector holds no valid NTFS boot sector: %v", err)
		} else if *bb != v.Boot {
			add("backup-boot-mismatch", SeverityWarning, "rewrite the backup boot sector from the primary",
				"the backup boot sector differs from the primary (total sectors %d vs %d)", bb.TotalSectors, v.Boot.TotalSectors)
		}
	}
	v.verifyMirror(add)
	if d, err := v.Dirty(); err != nil {
		add("volume-info-unreadable", SeverityError, "run chkdsk /f in Windows", "%v", err)
	} else if d {
		add("dirty", SeverityError, "run chkdsk /f in Windows, then shut down fully", "the volume is marked dirty")
	}
	if c, err := v.LogFileClean(); err != nil {
		add("logfile-unreadable", SeverityError, "mount and cleanly unmount the volume in Windows", "%v", err)
	} else if !c {
		add("logfile-unclean", SeverityError, "boot Windows and shut down fully (no Fast Startup) to replay the log",
			"$LogFile has uncommitted transactions")
	}
	if h, err := v.Hibernated(); err != nil {
		add("hiberfile-unreadable", SeverityWarning, "check \\hiberfil.sys in Windows", "%v", err)
	} else if h {
		add("hibernated", SeverityError, "resume Windows and shut down with Fast Startup disabled (powercfg /h off)",
			"\\hiberfil.sys holds a hibernation image")
	}
	return ps
}

// verifyMirror compares $MFTMirr with the first records of $MFT.
func (v *Volume) verifyMirror(add func(code string, sev Severity, remedy, format string, args ...any)) {
	rec, err := v.ReadRecord(RecordMFTMirr)
	if err != nil {
		add("mftmirr-unreadable", SeverityWarning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		add("mftmirr-unreadable", SeverityWarning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	n := min(st.size, 4*v.recordSize)
	mirr := make([]byte, n)
	mft := make([]byte, n)
	if err := readFull(st, mirr, 0); err != nil {
		add("mftmirr-unreadable", SeverityWarning, "run chkdsk /f in Windows", "%v", err)
		return
	}
	if err := readFull(v.mft, mft, 0); err != nil {
		add("mft-unreadable", SeverityError, "run chkdsk /f in Windows", "%v", err)
		return
	}
	if st.runs != nil && st.runs[0].LCN != int64(v.Boot.MFTMirrLCN) {
		add("mftmirr-lcn-mismatch", SeverityWarning, "run chkdsk /f in Windows",
			"boot sector says $MFTMirr is at cluster %d, its record says %d", v.Boot.MFTMirrLCN, st.runs[0].LCN)
	}
	for i := int64(0); i < n; i += v.recordSize {
		if !bytes.Equal(mirr[i:i+v.recordSize], mft[i:i+v.recordSize]) {
			add("mftmirr-mismatch", SeverityWarning, "run chkdsk /f in Windows (or ntfsfix)",
				"$MFTMirr record %d differs from $MFT", i/v.recordSize)
		}
	}
}
