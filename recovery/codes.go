package recovery

import "github.com/winrepart/winrepart/diag"

// The codes of the problems ReadTable and Inspect report about Windows and
// the table kind (Problem.Source [SourceRecovery]). Problems of the
// partition table itself (SourceGPT, SourceMBR) carry the gpt and mbr
// packages' Verify codes instead, and those of ReAgent.xml read on its own
// (SourceWinRE) the winre package's. Codes are stable: tools may branch on
// them.
const (
	// The disk has an MBR table and also a valid GPT (Windows uses the MBR).
	ProblemStaleGPT diag.Code = "stale-gpt"
	// The disk has a GPT but no protective MBR at LBA 0.
	ProblemMissingProtectiveMBR diag.Code = "missing-protective-mbr"
	// An NTFS partition could not be opened (see the message for why).
	ProblemNTFSUnreadable diag.Code = "ntfs-unreadable"
	// More than one partition holds \Windows\System32; one is taken as C:.
	ProblemSeveralWindows diag.Code = "several-windows"
	// No NTFS volume holding \Windows\System32 was found.
	ProblemNoWindows diag.Code = "no-windows"
	// C: is BitLocker-encrypted: ReAgent.xml cannot be read and C: cannot
	// be shrunk offline.
	ProblemOSBitLocker diag.Code = "os-bitlocker"
	// C: has no \Windows\System32\Recovery\ReAgent.xml.
	ProblemNoReAgentXML diag.Code = "no-reagent-xml"
	// ReAgent.xml exists but could not be read.
	ProblemReAgentUnreadable diag.Code = "reagent-unreadable"
	// ReAgent.xml could not be parsed.
	ProblemReAgentInvalid diag.Code = "reagent-invalid"
	// ReAgent.xml's WinreLocation names another disk.
	ProblemReAgentOtherDisk diag.Code = "reagent-other-disk"
	// ReAgent.xml's WinreLocation offset matches no partition start.
	ProblemReAgentLocationNotFound diag.Code = "reagent-location-not-found"
	// No winre.wim was found on any partition.
	ProblemNoWinRE diag.Code = "no-winre"
	// Several partitions hold winre.wim and nothing says which is active.
	ProblemSeveralWinRECandidates diag.Code = "several-winre-candidates"
	// WinRE lives inside another partition (System Reserved, C:), not in
	// a recovery partition of its own.
	ProblemWinRESharesPartition diag.Code = "winre-shares-partition"
	// The WinRE partition has neither the WinRE GPT type nor MBR type 0x27.
	ProblemWinREWrongType diag.Code = "winre-wrong-type"
	// The volume holding WinRE is BitLocker-encrypted (the planner refuses).
	ProblemWinREBitLocker diag.Code = "winre-bitlocker"
	// ReAgent.xml's WinRE image path is not on the WinRE volume.
	ProblemWinREWIMMissing diag.Code = "winre-wim-missing"
	// WinRE has less free space than KB5034441 servicing needs.
	ProblemWinRETooSmall diag.Code = "winre-too-small"
	// winre.wim could not be read.
	ProblemWinREWIMUnreadable diag.Code = "winre-wim-unreadable"
	// winre.wim is not a valid WIM.
	ProblemWinREWIMInvalid diag.Code = "winre-wim-invalid"
	// The partition ReAgent.xml names as WinRE holds no readable NTFS
	// volume: overwritten (an interrupted move of WinRE leaves this),
	// corrupt, or of another kind.
	ProblemWinREUnreadable diag.Code = "winre-unreadable"
	// An NTFS volume's boot sector says it is larger than its partition:
	// the table was changed without the volume (an interrupted shrink
	// leaves this), and the volume's end is cut off.
	ProblemVolumeExceedsPartition diag.Code = "volume-exceeds-partition"
	// An NTFS volume ends well before its partition does: a resize of the
	// volume whose partition was not changed with it (an interrupted
	// change leaves this; an error when the volume is also marked dirty,
	// as resizing tools mark it), or a volume never extended to fill it.
	ProblemVolumeSmallerThanPartition diag.Code = "volume-smaller-than-partition"
	// An NTFS volume is marked dirty: Windows checks it (chkdsk) at its
	// next boot. Resizing tools set the flag on purpose; an interrupted
	// change of the disk leaves it too, and the planner refuses to
	// change a dirty volume unless told to.
	ProblemVolumeDirty diag.Code = "volume-dirty"
	// The BCD store (\Boot\BCD on the active partition of an MBR disk,
	// \EFI\Microsoft\Boot\BCD on a GPT disk's ESP) could not be found,
	// read or followed: missing, corrupt, dirty (Windows would replay its
	// BCD.LOG files), or without WinRE entries.
	ProblemBCDUnreadable diag.Code = "bcd-unreadable"
	// The BCD's WinRE entries (the WinRE loader's device and osdevice,
	// the ramdisk options' SDI device) name another partition than the
	// active WinRE partition: WinRE will not boot.
	ProblemBCDWinREMismatch diag.Code = "bcd-winre-mismatch"
)
