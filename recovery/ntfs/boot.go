package ntfs

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// BootSectorSize is the number of bytes ParseBootSector needs: the NTFS
// boot sector fields and the 0x55AA signature all sit in the first 512
// bytes of the volume, whatever the sector size.
const BootSectorSize = 512

// On-disk layout of the NTFS boot sector (byte offsets).
const (
	offJump                  = 0x00
	offOEMID                 = 0x03
	offBytesPerSector        = 0x0B
	offSectorsPerCluster     = 0x0D
	offReservedSectors       = 0x0E
	offFATs                  = 0x10
	offRootEntries           = 0x11
	offSectors16             = 0x13
	offMediaDescriptor       = 0x15
	offSectorsPerFAT         = 0x16
	offSectorsPerTrack       = 0x18
	offHeads                 = 0x1A
	offHiddenSectors         = 0x1C
	offLargeSectors          = 0x20
	offPhysicalDrive         = 0x24
	offCurrentHead           = 0x25
	offExtBootSignature      = 0x26
	offTotalSectors          = 0x28
	offMFTLCN                = 0x30
	offMFTMirrLCN            = 0x38
	offClustersPerMFTRecord  = 0x40
	offClustersPerIndexBlock = 0x44
	offVolumeSerial          = 0x48
	offChecksum              = 0x50
	offBootCode              = 0x54
	lenBootCode              = 0x1FE - 0x54
	offBootSignature         = 0x1FE
	bootSignature            = 0xAA55

	// BitLocker To Go keeps its identifier GUID here (after the FAT fields).
	offToGoGUID = 424
)

// Limits this package accepts (and the NTFS implementations it mirrors).
const (
	minSectorSize  = 256
	maxSectorSize  = 4096
	maxClusterSize = 2 << 20 // 2 MiB, the largest cluster Windows and mkntfs make
	minRecordSize  = 512     // one update-sequence stride
	maxRecordSize  = 64 << 10
)

var (
	oemNTFS      = [8]byte{'N', 'T', 'F', 'S', ' ', ' ', ' ', ' '}
	oemBitLocker = [8]byte{'-', 'F', 'V', 'E', '-', 'F', 'S', '-'}
	oemToGo      = [8]byte{'M', 'S', 'W', 'I', 'N', '4', '.', '1'}
	// BitLocker identifier GUID 4967d63b-2e29-4ad8-8399-f6a339e3d001 in
	// its on-disk (mixed-endian) byte order.
	bitLockerGUID = [16]byte{0x3b, 0xd6, 0x67, 0x49, 0x29, 0x2e, 0xd8, 0x4a, 0x83, 0x99, 0xf6, 0xa3, 0x39, 0xe3, 0xd0, 0x01}
)

// BootSector is every field of the NTFS boot sector (the BIOS parameter
// block and its NTFS extension), as stored. Sizes that NTFS encodes
// compactly (SectorsPerCluster, ClustersPerMFTRecord, ClustersPerIndexBlock)
// are kept raw; ClusterSize, MFTRecordSize and IndexBlockSize decode them.
type BootSector struct {
	Jump                  [3]byte // x86 jump to the boot code
	OEMID                 [8]byte // "NTFS    "
	BytesPerSector        uint16  // logical sector size: 256..4096, power of two
	SectorsPerCluster     uint8   // raw: 1..128, or 0xF4..0xFF meaning 2^(256-v)
	ReservedSectors       uint16  // must be 0
	FATs                  uint8   // must be 0
	RootEntries           uint16  // must be 0
	Sectors16             uint16  // must be 0
	MediaDescriptor       uint8   // 0xF8 for fixed disks
	SectorsPerFAT         uint16  // must be 0
	SectorsPerTrack       uint16  // CHS geometry, informational
	Heads                 uint16  // CHS geometry, informational
	HiddenSectors         uint32  // partition start LBA (0 when unknown)
	LargeSectors          uint32  // must be 0
	PhysicalDrive         uint8   // BIOS drive number, usually 0x80
	CurrentHead           uint8   // unused by NTFS (Windows keeps flags here)
	ExtBootSignature      uint8   // 0x80
	Reserved27            uint8   // byte 0x27
	TotalSectors          uint64  // sectors in the volume (the partition minus its last sector)
	MFTLCN                uint64  // first cluster of $MFT
	MFTMirrLCN            uint64  // first cluster of $MFTMirr
	ClustersPerMFTRecord  int8    // raw: >0 clusters, <0 means 2^-v bytes
	ClustersPerIndexBlock int8    // raw: >0 clusters, <0 means 2^-v bytes
	VolumeSerial          uint64  // volume serial number
	Checksum              uint32  // unused, 0
	BootCode              [lenBootCode]byte
	Signature             uint16 // 0xAA55
}

// ParseBootSector decodes and validates the first 512 bytes of a volume.
//
// It returns ErrBitLocker or ErrBitLockerToGo for encrypted volumes,
// ErrNotNTFS (inside a *FieldError) when the OEM id is not "NTFS    ", and a
// *FieldError wrapping ErrBadBootSector for any field with an impossible
// value, checked as ntfs-3g's ntfs_boot_sector_is_ntfs does (sector size,
// cluster size up to 2 MiB, FAT fields zero, MFT record and index block
// sizes 512 B..64 KiB, 0xAA55 signature).
func ParseBootSector(b []byte) (*BootSector, error) {
	if len(b) < BootSectorSize {
		return nil, errf(ErrShortBuffer, "boot sector needs %d bytes, have %d", BootSectorSize, len(b))
	}
	le := binary.LittleEndian
	var s BootSector
	copy(s.Jump[:], b[offJump:])
	copy(s.OEMID[:], b[offOEMID:])
	switch {
	case s.OEMID == oemBitLocker:
		return nil, ErrBitLocker
	case s.OEMID == oemToGo && bytes.Equal(b[offToGoGUID:offToGoGUID+16], bitLockerGUID[:]):
		return nil, ErrBitLockerToGo
	case s.OEMID != oemNTFS:
		return nil, &FieldError{Field: "OEMID", Offset: offOEMID, Value: le.Uint64(b[offOEMID:]), Err: ErrNotNTFS}
	}
	s.BytesPerSector = le.Uint16(b[offBytesPerSector:])
	s.SectorsPerCluster = b[offSectorsPerCluster]
	s.ReservedSectors = le.Uint16(b[offReservedSectors:])
	s.FATs = b[offFATs]
	s.RootEntries = le.Uint16(b[offRootEntries:])
	s.Sectors16 = le.Uint16(b[offSectors16:])
	s.MediaDescriptor = b[offMediaDescriptor]
	s.SectorsPerFAT = le.Uint16(b[offSectorsPerFAT:])
	s.SectorsPerTrack = le.Uint16(b[offSectorsPerTrack:])
	s.Heads = le.Uint16(b[offHeads:])
	s.HiddenSectors = le.Uint32(b[offHiddenSectors:])
	s.LargeSectors = le.Uint32(b[offLargeSectors:])
	s.PhysicalDrive = b[offPhysicalDrive]
	s.CurrentHead = b[offCurrentHead]
	s.ExtBootSignature = b[offExtBootSignature]
	s.Reserved27 = b[offExtBootSignature+1]
	s.TotalSectors = le.Uint64(b[offTotalSectors:])
	s.MFTLCN = le.Uint64(b[offMFTLCN:])
	s.MFTMirrLCN = le.Uint64(b[offMFTMirrLCN:])
	s.ClustersPerMFTRecord = int8(b[offClustersPerMFTRecord])
	s.ClustersPerIndexBlock = int8(b[offClustersPerIndexBlock])
	s.VolumeSerial = le.Uint64(b[offVolumeSerial:])
	s.Checksum = le.Uint32(b[offChecksum:])
	copy(s.BootCode[:], b[offBootCode:])
	s.Signature = le.Uint16(b[offBootSignature:])
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *BootSector) validate() error {
	bad := func(field string, off int, v uint64) error {
		return &FieldError{Field: field, Offset: off, Value: v, Err: ErrBadBootSector}
	}
	bps := s.BytesPerSector
	if bps < minSectorSize || bps > maxSectorSize || bits.OnesCount16(bps) != 1 {
		return bad("BytesPerSector", offBytesPerSector, uint64(bps))
	}
	spc := s.SectorsPerCluster
	if spc == 0 || (spc <= 0x80 && bits.OnesCount8(spc) != 1) || (spc > 0x80 && spc < 0xF4) {
		return bad("SectorsPerCluster", offSectorsPerCluster, uint64(spc))
	}
	if s.ClusterSize() > maxClusterSize {
		return bad("SectorsPerCluster", offSectorsPerCluster, uint64(spc))
	}
	switch {
	case s.ReservedSectors != 0:
		return bad("ReservedSectors", offReservedSectors, uint64(s.ReservedSectors))
	case s.FATs != 0:
		return bad("FATs", offFATs, uint64(s.FATs))
	case s.RootEntries != 0:
		return bad("RootEntries", offRootEntries, uint64(s.RootEntries))
	case s.Sectors16 != 0:
		return bad("Sectors16", offSectors16, uint64(s.Sectors16))
	case s.SectorsPerFAT != 0:
		return bad("SectorsPerFAT", offSectorsPerFAT, uint64(s.SectorsPerFAT))
	case s.LargeSectors != 0:
		return bad("LargeSectors", offLargeSectors, uint64(s.LargeSectors))
	case s.TotalSectors == 0 || s.TotalSectors > 1<<56:
		return bad("TotalSectors", offTotalSectors, s.TotalSectors)
	}
	if n := s.MFTRecordSize(); n < minRecordSize || n > maxRecordSize {
		return bad("ClustersPerMFTRecord", offClustersPerMFTRecord, uint64(uint8(s.ClustersPerMFTRecord)))
	}
	if n := s.IndexBlockSize(); n < minRecordSize || n > maxRecordSize {
		return bad("ClustersPerIndexBlock", offClustersPerIndexBlock, uint64(uint8(s.ClustersPerIndexBlock)))
	}
	if s.Signature != bootSignature {
		return bad("Signature", offBootSignature, uint64(s.Signature))
	}
	return nil
}

// sectorsPerCluster decodes the raw SectorsPerCluster byte.
func (s *BootSector) sectorsPerCluster() int64 {
	v := s.SectorsPerCluster
	if v > 0x80 {
		sh := 256 - int(v)
		if sh > 31 {
			sh = 31
		}
		return 1 << sh
	}
	return int64(v)
}

// ClusterSize returns the cluster size in bytes: BytesPerSector times the
// decoded SectorsPerCluster (values 0xF4..0xFF mean 2^(256-v) sectors).
func (s *BootSector) ClusterSize() int64 {
	return int64(s.BytesPerSector) * s.sectorsPerCluster()
}

func (s *BootSector) decodeClusters(v int8) int64 {
	if v < 0 {
		if v < -31 {
			return 1 << 31 // absurd; rejected by validate
		}
		return 1 << uint(-int(v))
	}
	return int64(v) * s.ClusterSize()
}

// MFTRecordSize returns the size in bytes of one MFT record: a positive
// ClustersPerMFTRecord counts clusters, a negative one v means 2^-v bytes.
func (s *BootSector) MFTRecordSize() int64 { return s.decodeClusters(s.ClustersPerMFTRecord) }

// IndexBlockSize returns the size in bytes of one directory index block,
// decoded like MFTRecordSize.
func (s *BootSector) IndexBlockSize() int64 { return s.decodeClusters(s.ClustersPerIndexBlock) }

// TotalClusters returns the number of clusters in the volume: TotalSectors
// divided by the sectors per cluster (a partial last cluster is unused).
func (s *BootSector) TotalClusters() int64 {
	return int64(s.TotalSectors / uint64(s.sectorsPerCluster()))
}

// VolumeSize returns the size of the volume in bytes (TotalSectors times
// BytesPerSector), not counting the backup boot sector after it.
func (s *BootSector) VolumeSize() int64 {
	return int64(s.TotalSectors) * int64(s.BytesPerSector)
}

// MarshalBinary encodes the boot sector into 512 bytes.
func (s *BootSector) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, BootSectorSize))
}

// AppendBinary appends the 512-byte encoding of the boot sector to b.
func (s *BootSector) AppendBinary(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	var o [BootSectorSize]byte
	copy(o[offJump:], s.Jump[:])
	copy(o[offOEMID:], s.OEMID[:])
	le.PutUint16(o[offBytesPerSector:], s.BytesPerSector)
	o[offSectorsPerCluster] = s.SectorsPerCluster
	le.PutUint16(o[offReservedSectors:], s.ReservedSectors)
	o[offFATs] = s.FATs
	le.PutUint16(o[offRootEntries:], s.RootEntries)
	le.PutUint16(o[offSectors16:], s.Sectors16)
	o[offMediaDescriptor] = s.MediaDescriptor
	le.PutUint16(o[offSectorsPerFAT:], s.SectorsPerFAT)
	le.PutUint16(o[offSectorsPerTrack:], s.SectorsPerTrack)
	le.PutUint16(o[offHeads:], s.Heads)
	le.PutUint32(o[offHiddenSectors:], s.HiddenSectors)
	le.PutUint32(o[offLargeSectors:], s.LargeSectors)
	o[offPhysicalDrive] = s.PhysicalDrive
	o[offCurrentHead] = s.CurrentHead
	o[offExtBootSignature] = s.ExtBootSignature
	o[offExtBootSignature+1] = s.Reserved27
	le.PutUint64(o[offTotalSectors:], s.TotalSectors)
	le.PutUint64(o[offMFTLCN:], s.MFTLCN)
	le.PutUint64(o[offMFTMirrLCN:], s.MFTMirrLCN)
	o[offClustersPerMFTRecord] = byte(s.ClustersPerMFTRecord)
	o[offClustersPerIndexBlock] = byte(s.ClustersPerIndexBlock)
	le.PutUint64(o[offVolumeSerial:], s.VolumeSerial)
	le.PutUint32(o[offChecksum:], s.Checksum)
	copy(o[offBootCode:], s.BootCode[:])
	le.PutUint16(o[offBootSignature:], s.Signature)
	return append(b, o[:]...), nil
}
