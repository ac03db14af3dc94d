package planner

import (
	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery"
)

// Strategy names how a plan gives WinRE its room, least invasive first.
type Strategy string

// Strategies.
const (
	// StrategyNone: no strategy could be chosen (the layout is not
	// understood, or nothing fits).
	StrategyNone Strategy = "none"
	// StrategyNoop: WinRE already has the free space the policy asks for.
	StrategyNoop Strategy = "noop"
	// StrategyGrowInPlace: free space follows WinRE; grow it where it is.
	StrategyGrowInPlace Strategy = "grow-in-place"
	// StrategyMoveLeft: free space precedes WinRE; move it left and grow it.
	StrategyMoveLeft Strategy = "move-left"
	// StrategyShrinkOS: WinRE follows C: (with at most free space between);
	// shrink C:'s tail, move WinRE left and grow it.
	StrategyShrinkOS Strategy = "shrink-os"
	// StrategyRelocate: WinRE is not after C: (an old layout); put a new
	// WinRE partition after C:, carved from C:'s tail, copy the old one into
	// it and delete the old entry.
	StrategyRelocate Strategy = "relocate"
	// StrategyCreate: there is no WinRE partition (winre.wim lives on C:).
	// Creating a filesystem is out of scope offline; this strategy exists
	// for the Windows-side scripts and is always refused offline.
	StrategyCreate Strategy = "create"
)

// StepKind is the stable kebab-case kind of a Step.
//
// Table edits (shrink-partition, move-partition, grow-partition,
// create-partition, delete-partition, set-type, set-attributes,
// move-backup-gpt) describe changes that the single write-table step
// commits; the table they produce is the one that step carries. The other
// kinds touch bytes on the disk and run in the order listed.
type StepKind string

// Step kinds.
const (
	StepShrinkFilesystem StepKind = "shrink-filesystem"
	StepShrinkPartition  StepKind = "shrink-partition"
	StepMovePartition    StepKind = "move-partition"
	StepCopyData         StepKind = "copy-data"
	StepGrowPartition    StepKind = "grow-partition"
	StepGrowFilesystem   StepKind = "grow-filesystem"
	StepCreatePartition  StepKind = "create-partition"
	StepDeletePartition  StepKind = "delete-partition"
	StepSetType          StepKind = "set-type"
	StepSetAttributes    StepKind = "set-attributes"
	StepMoveBackupGPT    StepKind = "move-backup-gpt"
	StepWriteTable       StepKind = "write-table"
	StepPatchReAgent     StepKind = "patch-reagent"
	StepFixHiddenSectors StepKind = "fix-hidden-sectors"
	StepPatchBCD         StepKind = "patch-bcd"
)

// Step is one action of a plan. Which fields are meaningful depends on
// Kind; the others are zero. Offsets and sizes are in bytes from the start
// of the disk; LBAs count logical sectors.
type Step struct {
	Kind StepKind
	// Partition is the partition number the step acts on (0 for disk-wide
	// steps such as write-table and move-backup-gpt).
	Partition int
	// StartLBA and EndLBA are the partition's extent after the step
	// (inclusive), for partition edits.
	StartLBA, EndLBA uint64
	// Offset is the byte offset the step acts at: the partition's new start
	// for partition edits, the destination of copy-data, the WinRE offset
	// written into ReAgent.xml for patch-reagent.
	Offset int64
	// SizeBytes is the new size for partition and filesystem resizes and
	// creations, the byte count for copy-data.
	SizeBytes int64
	// From is the source offset of copy-data, and the previous value for
	// move-partition (old start) and patch-reagent (old offset).
	From int64
	// Backward is set on copy-data when the copy must run from the last
	// byte to the first because the destination overlaps the source from
	// above; otherwise copy from the first byte up.
	Backward bool
	// GPTType, MBRType, Attributes and UniqueGUID are what create-partition,
	// set-type and set-attributes put in the entry.
	GPTType    gpt.Type
	MBRType    mbr.Type
	Attributes gpt.Attributes
	UniqueGUID uuid.UUID
	// HiddenSectors is the value fix-hidden-sectors writes into the NTFS
	// boot sector (and its backup): the partition's new start LBA.
	HiddenSectors uint64
	// Path is the file patch-reagent edits, on the OS partition.
	Path string
	// MovedBytes and MovedFiles are, on shrink-filesystem, what is moved
	// out of the cut-off tail before the volume shrinks: the bytes copied
	// and the number of files (MFT records) they belong to, exactly as the
	// executor plans them (see [Relocator]). Zero when the tail is free.
	MovedBytes int64
	MovedFiles int
	// GPT and MBR hold the complete new table for write-table (one of them);
	// call their Writes method for the bytes to write.
	GPT *gpt.Table
	MBR *mbr.Table
	// Detail is one human sentence about the step.
	Detail string
}

// PreconditionKind names what a Precondition pins.
type PreconditionKind string

// Precondition kinds.
const (
	PreDiskSize         PreconditionKind = "disk-size"          // bytes, decimal
	PreSectorSize       PreconditionKind = "sector-size"        // bytes, decimal
	PreGPTPrimaryHeader PreconditionKind = "gpt-primary-header" // header CRC32 and entry-array CRC32
	PreGPTBackupHeader  PreconditionKind = "gpt-backup-header"  // backup header LBA, its CRC32s
	PreMBR              PreconditionKind = "mbr"                // CRC32 of LBA 0's 512-byte record and of each EBR
	PrePartitionExtent  PreconditionKind = "partition-extent"   // start-end LBA
	PrePartitionType    PreconditionKind = "partition-type"     // type GUID or byte
	PrePartitionGUID    PreconditionKind = "partition-guid"     // unique GUID
	PreFilesystem       PreconditionKind = "filesystem"         // kind, total bytes, cluster size, last used cluster
	PreFilesystemState  PreconditionKind = "filesystem-state"   // bitlocker/hibernated/dirty/log flags
	PreReAgentOffset    PreconditionKind = "reagent-offset"     // ReAgent.xml path and WinRE offset
)

// Precondition is one fact that must still hold when the plan is applied.
// Value is rendered by the planner; compare with [Plan.Check] rather than
// by hand.
type Precondition struct {
	Kind PreconditionKind
	// Partition is the partition number the fact is about (0 for the disk).
	Partition int
	// Value is the expected value.
	Value string
}

// WinRETarget is what the plan makes of the WinRE partition.
type WinRETarget struct {
	// Partition is the WinRE partition number after the plan (0 when there
	// is none).
	Partition int
	// NewSizeBytes is its size after the plan.
	NewSizeBytes int64
	// ExpectedFreeBytes is the free space its filesystem should show after
	// the plan.
	ExpectedFreeBytes int64
	// RequiredFreeBytes is what the policy asks for.
	RequiredFreeBytes int64
}

// Plan is the decision for one disk: either a refusal with its reasons or
// the steps that give WinRE its room. A Plan is a value: it is never
// modified after [New] returns it, and callers must not modify it or the
// tables and partitions it points to.
type Plan struct {
	// Refused is true when the plan must not be applied offline. Steps is
	// then empty; Strategy, WinRE and OSShrinkBytes still say what would be
	// needed, which is what the Windows-side scripts carry out.
	Refused bool
	// Reasons lists every reason for the refusal (empty when not refused).
	Reasons []Reason
	// Strategy is the chosen strategy.
	Strategy Strategy
	// Summary is a one-line description.
	Summary string
	// Notes are things worth knowing that do not refuse the plan.
	Notes []string
	// Steps in execution order.
	Steps []Step
	// Preconditions must hold at apply time.
	Preconditions []Precondition
	// Before is the partition list as inspected; After is what it becomes
	// (equal to Before for a noop plan; nil when refused).
	Before, After []recovery.Partition
	// WinRE is the WinRE partition after the plan.
	WinRE WinRETarget
	// OSShrinkBytes is how much C: shrinks (0 when it is not touched).
	OSShrinkBytes int64

	// Facts kept for rendering.
	scheme     recovery.Scheme
	sectorSize int
	diskSize   int64
	alignBytes int64
	diskGUID   uuid.UUID
	diskSig    uint32
	osNumber   int
	oldWinRE   *recovery.Partition // the WinRE partition before, nil if none
	newWinRE   *recovery.Partition // the WinRE partition after (also set when refused)
	osAfter    *recovery.Partition // C: after (also set when refused)
	osBefore   *recovery.Partition
	reagent    string
	touched    []int // partitions whose facts the preconditions pin
}
