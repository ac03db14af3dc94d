package mbr

// Geometry used to compute CHS addresses for new entries: the 255 heads and
// 63 sectors per track that BIOSes have reported for LBA-translated disks
// since the 1990s, and that Windows, libfdisk and gdisk use.
const (
	chsHeads   = 255
	chsSectors = 63
	chsMaxCyl  = 1023
)

// CHSFromLBA returns the CHS address of lba for a geometry of 255 heads and
// 63 sectors per track. Addresses beyond cylinder 1023 saturate to
// 1023/254/63 (bytes FE FF FF), as Windows and libfdisk write them.
func CHSFromLBA(lba uint64) CHS {
	return chsFor(lba, chsHeads, chsSectors)
}

// chsFor computes the CHS address of lba with the given geometry,
// saturating at the last addressable sector.
func chsFor(lba uint64, heads, sectors uint64) CHS {
	cyl := lba / (heads * sectors)
	if cyl > chsMaxCyl {
		return encodeCHS(chsMaxCyl, heads-1, sectors)
	}
	head := lba / sectors % heads
	sec := lba%sectors + 1
	return encodeCHS(cyl, head, sec)
}

func encodeCHS(cyl, head, sec uint64) CHS {
	return CHS{byte(head), byte(sec&0x3f) | byte(cyl>>8&0x3)<<6, byte(cyl)}
}
