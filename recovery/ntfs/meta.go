package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// $VOLUME_INFORMATION value layout.
const (
	offVIMajor       = 0x08
	offVIMinor       = 0x09
	offVIFlags       = 0x0A
	volumeInfoSize   = 0x0C
	VolumeFlagDirty  = 0x0001 // $Volume flag: chkdsk must run at next mount
	maxVolumeNameLen = 256    // bytes of $VOLUME_NAME accepted (128 UTF-16 units)
)

// volumeInfo returns the $VOLUME_INFORMATION value of $Volume.
func (v *Volume) volumeInfo() ([]byte, error) {
	rec, err := v.ReadRecord(RecordVolume)
	if err != nil {
		return nil, err
	}
	a := rec.Find(AttrVolumeInformation, "")
	if a == nil || a.NonResident || len(a.Value) < volumeInfoSize {
		return nil, &RecordError{Record: RecordVolume, Err: errf(ErrNoAttribute, "$VOLUME_INFORMATION missing or short")}
	}
	return a.Value, nil
}

// Version returns the NTFS version from $Volume's $VOLUME_INFORMATION
// (3.1 for every Windows since XP).
func (v *Volume) Version() (major, minor uint8, err error) {
	vi, err := v.volumeInfo()
	if err != nil {
		return 0, 0, err
	}
	return vi[offVIMajor], vi[offVIMinor], nil
}

// VolumeFlags returns the flags word of $VOLUME_INFORMATION (bit 0x0001
// is the dirty flag).
func (v *Volume) VolumeFlags() (uint16, error) {
	vi, err := v.volumeInfo()
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(vi[offVIFlags:]), nil
}

// Dirty reports whether $Volume carries the dirty flag (chkdsk scheduled,
// or the volume was not cleanly unmounted).
func (v *Volume) Dirty() (bool, error) {
	f, err := v.VolumeFlags()
	return f&VolumeFlagDirty != 0, err
}

// Label returns the volume label ($Volume's $VOLUME_NAME), "" when unset.
func (v *Volume) Label() (string, error) {
	rec, err := v.ReadRecord(RecordVolume)
	if err != nil {
		return "", err
	}
	a := rec.Find(AttrVolumeName, "")
	if a == nil {
		return "", nil
	}
	if a.NonResident || len(a.Value)%2 != 0 || len(a.Value) > maxVolumeNameLen {
		return "", &RecordError{Record: RecordVolume, Offset: a.Offset, Err: errf(ErrBadAttribute, "$VOLUME_NAME of %d bytes", len(a.Value))}
	}
	return decodeUTF16(a.Value), nil
}

// OpenFile returns a reader over the unnamed $DATA stream of f, reading
// clusters on demand (a 700 MB winre.wim is not loaded). Compressed and
// encrypted streams give ErrUnsupported.
func (v *Volume) OpenFile(f *File) (*io.SectionReader, error) {
	return v.OpenStream(f, "")
}

// OpenStream is OpenFile for a named data stream (alternate data stream)
// of f; name "" is the unnamed stream.
func (v *Volume) OpenStream(f *File, name string) (*io.SectionReader, error) {
	rec, err := v.ReadRecord(f.Record)
	if err != nil {
		return nil, err
	}
	st, err := v.openStream(rec, AttrData, name)
	if name == "" && isNoAttribute(err) {
		return io.NewSectionReader(&stream{v: v, isRes: true}, 0, 0), nil // no data: empty, as File.Size says
	}
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(st, 0, st.size), nil
}

// ReadFile returns the contents of the file at path, refusing (with
// ErrTooLarge) files larger than max bytes before reading them.
func (v *Volume) ReadFile(path string, max int64) ([]byte, error) {
	f, err := v.Lookup(path)
	if err != nil {
		return nil, err
	}
	if f.IsDir {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrNotFound, "is a directory")}
	}
	if f.Size > max {
		return nil, &PathError{Path: path, Component: f.Name, Err: errf(ErrTooLarge, "%d bytes, limit %d", f.Size, max)}
	}
	r, err := v.OpenFile(f)
	if err != nil {
		return nil, err
	}
	b := make([]byte, r.Size())
	if err := readFull(r, b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// Hibernated reports whether \hiberfil.sys exists and starts with one of
// the hibernation signatures "hibr", "HIBR", "wake" or "WAKE" (Windows
// hibernation or Fast Startup image that still holds the volume's state).
// A missing or zeroed file means the volume is not hibernated.
func (v *Volume) Hibernated() (bool, error) {
	f, err := v.Lookup(`\hiberfil.sys`)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if f.IsDir || f.Size < 4 {
		return false, nil
	}
	r, err := v.OpenFile(f)
	if err != nil {
		return false, err
	}
	var sig [4]byte
	if err := readFull(r, sig[:], 0); err != nil {
		return false, err
	}
	for _, s := range [...]string{"hibr", "HIBR", "wake", "WAKE"} {
		if bytes.Equal(sig[:], []byte(s)) {
			return true, nil
		}
	}
	return false, nil
}
