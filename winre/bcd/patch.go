package bcd

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/winrepart/winrepart/diag"
)

// PlanMBRMove returns the writes that change the partition offset from
// oldOffset to newOffset (bytes from the start of the disk) in every
// partition device of the store's WinRE chains — the WinRE loaders'
// device and osdevice, and their ramdisk-options objects' SDI device —
// and nothing else. Each such partition device must name the MBR disk
// with signature sig at oldOffset (or already at newOffset, which needs no
// write); any other partition, a GPT partition, or a chain without a
// single partition device fails with [ErrPatch] and no writes. The writes
// never touch the base block or any cell's layout: only the 8 bytes of
// each offset field, where the value data lies in the file. Each write's
// Offset counts bytes from the start of the hive file, and Old holds the
// bytes there now, as long as New.
func (s *Store) PlanMBRMove(sig uint32, oldOffset, newOffset uint64) ([]diag.Write, error) {
	chains, err := s.WinRE()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPatch, err)
	}
	type key struct {
		obj  [16]byte
		elem ElementType
	}
	done := map[key]bool{}
	var ws []diag.Write
	found := 0
	for _, c := range chains {
		for _, cd := range c.Devices() {
			k := key{cd.Object, cd.Element}
			if done[k] {
				continue
			}
			done[k] = true
			e := s.Object(cd.Object).Element(cd.Element)
			for _, p := range cd.Device.Partitions() {
				what := fmt.Sprintf("BCD object {%s} element %s (%s)", cd.Object, cd.Element, elementName(cd.Element))
				if p.Style != StyleMBR {
					return nil, fmt.Errorf("%w: %s names a %s partition, not one on an MBR disk", ErrPatch, what, p.Style)
				}
				if p.DiskSignature != sig {
					return nil, fmt.Errorf("%w: %s names disk signature 0x%08x, this disk is 0x%08x", ErrPatch, what, p.DiskSignature, sig)
				}
				found++
				switch p.Offset {
				case newOffset:
					continue
				case oldOffset:
				default:
					return nil, fmt.Errorf("%w: %s names the partition at byte %d, not WinRE's at %d", ErrPatch, what, p.Offset, oldOffset)
				}
				var old, neu [8]byte
				binary.LittleEndian.PutUint64(old[:], oldOffset)
				binary.LittleEndian.PutUint64(neu[:], newOffset)
				pw, err := placeWrite(e.Value, p.OffsetPos, old[:], neu[:], what+": partition offset")
				if err != nil {
					return nil, err
				}
				ws = append(ws, pw...)
			}
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("%w: no WinRE device element names a partition", ErrPatch)
	}
	return ws, nil
}

// placeWrite maps a change of the value data at pos to file writes, one
// per run it touches, checking that the data holds old there.
func placeWrite(v *Value, pos int, old, neu []byte, what string) ([]diag.Write, error) {
	if pos < 0 || pos+len(old) > len(v.Data) || !bytes.Equal(v.Data[pos:pos+len(old)], old) {
		return nil, fmt.Errorf("%w: %s: the data at %d is not the expected bytes", ErrPatch, what, pos)
	}
	var ws []diag.Write
	at := 0 // data position of the current run
	for _, r := range v.Runs {
		lo, hi := max(pos, at), min(pos+len(old), at+r.Length)
		if lo < hi {
			ws = append(ws, diag.Write{Offset: r.Offset + int64(lo-at), Old: bytes.Clone(old[lo-pos : hi-pos]),
				New: bytes.Clone(neu[lo-pos : hi-pos]), What: what})
		}
		at += r.Length
	}
	return ws, nil
}

// elementName is bcdedit's name of the element types in a WinRE chain.
func elementName(t ElementType) string {
	switch t {
	case ElemApplicationDevice:
		return "device"
	case ElemOSDevice:
		return "osdevice"
	case ElemRamdiskSDIDevice:
		return "ramdisksdidevice"
	case ElemRamdiskSDIPath:
		return "ramdisksdipath"
	case ElemRecoverySequence:
		return "recoverysequence"
	case ElemApplicationPath:
		return "path"
	}
	return t.String()
}
