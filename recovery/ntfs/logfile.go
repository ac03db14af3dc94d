package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// $LogFile restart page and restart area layouts.
const (
	offRPSystemPageSize = 0x10
	offRPLogPageSize    = 0x14
	offRPRestartOffset  = 0x18
	rpHeaderSize        = 0x1E
	offRACurrentLSN     = 0x00
	offRAClientInUse    = 0x0C
	offRAFlags          = 0x0E
	raMinSize           = 0x10
	logNoClient         = 0xFFFF
	raFlagVolumeClean   = 0x0002
	maxLogPageSize      = 64 << 10
)

// restartArea is the part of a $LogFile restart area the clean check uses.
type restartArea struct {
	CurrentLSN  uint64
	ClientInUse uint16
	Flags       uint16
	PageOffset  int64 // where the restart page sits in $LogFile
	FromChkdsk  bool  // page magic "CHKD"
	clean       bool
}

// LogFileClean reports whether $LogFile says the volume was cleanly
// unmounted, deciding as ntfs-3g does (ntfs_check_logfile, then
// ntfs_is_logfile_clean):
//
//   - a $LogFile whose first page is all 0xFF bytes is empty (mkntfs and
//     ntfsresize leave it so): clean;
//   - otherwise the two restart pages (at 0 and at the system page size)
//     are read, fixups applied, and the valid one with the higher current
//     LSN is used; the log is clean when its restart area has no client in
//     use (client_in_use_list = 0xFFFF) or carries the "volume is clean"
//     flag (0x0002).
//
// A $LogFile with no valid restart page and not empty gives ErrBadLogFile.
func (v *Volume) LogFileClean() (bool, error) {
	rec, err := v.ReadRecord(RecordLogFile)
	if err != nil {
		return false, err
	}
	st, err := v.openStream(rec, AttrData, "")
	if err != nil {
		return false, err
	}
	ra, err := readRestart(st)
	if err != nil {
		return false, err
	}
	if ra == nil {
		return true, nil
	}
	return ra.clean, nil
}

func readRestart(st *stream) (*restartArea, error) {
	const probe = 4096
	if st.size < 2*probe {
		return nil, &RecordError{Record: RecordLogFile, Err: errf(ErrBadLogFile, "$LogFile of %d bytes", st.size)}
	}
	first := make([]byte, probe)
	if err := readFull(st, first, 0); err != nil {
		return nil, err
	}
	if bytes.Count(first, []byte{0xff}) == len(first) {
		return nil, nil // empty log
	}
	var best *restartArea
	var errs []error
	offs := []int64{0}
	if psz, ok := pageSize(first); ok {
		offs = append(offs, psz)
	} else {
		offs = append(offs, probe)
	}
	for _, off := range offs {
		ra, err := restartAt(st, off)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if best == nil || ra.CurrentLSN > best.CurrentLSN {
			best = ra
		}
	}
	if best == nil {
		return nil, &RecordError{Record: RecordLogFile, Err: errf(ErrBadLogFile, "no valid restart page: %v", errors.Join(errs...))}
	}
	return best, nil
}

// pageSize returns a plausible system page size from a restart page header.
func pageSize(b []byte) (int64, bool) {
	if m := string(b[:4]); m != "RSTR" && m != "CHKD" {
		return 0, false
	}
	n := int64(binary.LittleEndian.Uint32(b[offRPSystemPageSize:]))
	if n < minRecordSize || n > maxLogPageSize || n&(n-1) != 0 {
		return 0, false
	}
	return n, true
}

func restartAt(st *stream, off int64) (*restartArea, error) {
	hdr := make([]byte, minRecordSize)
	if err := readFull(st, hdr, off); err != nil {
		return nil, err
	}
	psz, ok := pageSize(hdr)
	if !ok || off+psz > st.size {
		return nil, errf(ErrBadLogFile, "no restart page at %d", off)
	}
	page := make([]byte, psz)
	if err := readFull(st, page, off); err != nil {
		return nil, err
	}
	return parseRestartPage(page, off)
}

// parseRestartPage checks one restart page (fixups applied here) and
// decodes its restart area.
func parseRestartPage(page []byte, off int64) (*restartArea, error) {
	le := binary.LittleEndian
	if err := ApplyFixups(page); err != nil {
		return nil, err
	}
	lps := le.Uint32(page[offRPLogPageSize:])
	if lps < minRecordSize || lps > maxLogPageSize || lps&(lps-1) != 0 {
		return nil, errf(ErrBadLogFile, "log page size %d", lps)
	}
	ro := int(le.Uint16(page[offRPRestartOffset:]))
	if ro < rpHeaderSize || ro%8 != 0 || ro+raMinSize > len(page) {
		return nil, errf(ErrBadLogFile, "restart area offset %#x", ro)
	}
	ra := &restartArea{
		CurrentLSN:  le.Uint64(page[ro+offRACurrentLSN:]),
		ClientInUse: le.Uint16(page[ro+offRAClientInUse:]),
		Flags:       le.Uint16(page[ro+offRAFlags:]),
		PageOffset:  off,
		FromChkdsk:  string(page[:4]) == "CHKD",
	}
	ra.clean = ra.ClientInUse == logNoClient || ra.Flags&raFlagVolumeClean != 0
	return ra, nil
}
