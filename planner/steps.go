package planner

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
)

// Step is one action of a plan: a value of one of the step types of this
// file, a closed set. Offsets and sizes are in bytes from the start of the
// disk; LBAs count logical sectors. An executor switches on the type:
//
//	switch s := step.(type) {
//	case planner.TableEdit: // committed by the WriteTable step
//	case planner.ShrinkFilesystem: ...
//	}
type Step interface {
	// Kind is the step's stable kebab-case name (its JSON "kind").
	Kind() StepKind
	// Detail is one human sentence about the step.
	Detail() string
	isStep()
}

// TableEdit is a step that edits the partition table in memory:
// ShrinkPartition, MovePartition, GrowPartition, CreatePartition,
// DeletePartition, SetType, SetAttributes and MoveBackupGPT. The plan's
// single WriteTable step commits them all; the table it carries is their
// result, so an executor has nothing to do for them.
type TableEdit interface {
	Step
	tableEdit()
}

// About is the human sentence a step carries; every step type embeds it.
type About struct{ Text string }

// Detail returns the sentence.
func (a About) Detail() string { return a.Text }

// ShrinkFilesystem shrinks the NTFS volume of Partition, which starts at
// byte Offset, to SizeBytes (its new partition less one sector, for the
// backup boot sector), moving data out of the cut-off tail first.
type ShrinkFilesystem struct {
	Partition         int
	Offset, SizeBytes int64
	// MovedBytes and MovedFiles are what is moved out of the cut-off tail
	// before the volume shrinks: the bytes copied and the number of files
	// (MFT records) they belong to, exactly as the executor plans them
	// (see [Relocator]). Zero when the tail is free.
	MovedBytes int64
	MovedFiles int
	// Prepared is the Relocator's [Relocation.Prepared]: an executor may
	// reuse it instead of planning the relocation again. A plan read
	// back from JSON has none.
	Prepared any `json:"-"`
	About
}

// GrowFilesystem grows the NTFS volume of Partition, which starts at byte
// Offset, to SizeBytes.
type GrowFilesystem struct {
	Partition         int
	Offset, SizeBytes int64
	About
}

// CopyData copies the SizeBytes of Partition from byte From to byte
// Offset. Backward says the copy runs from the last byte down, because the
// destination overlaps the source from above.
type CopyData struct {
	Partition               int
	From, Offset, SizeBytes int64
	Backward                bool
	About
}

// FixHiddenSectors writes HiddenSectors (the partition's new start LBA)
// into the NTFS boot sector of Partition, now at byte Offset, and into its
// backup.
type FixHiddenSectors struct {
	Partition     int
	Offset        int64
	HiddenSectors uint64
	About
}

// WriteTable writes the new partition table: GPT or MBR, whichever the
// disk has (the other is nil). Call the table's Writes method for the
// bytes to write.
type WriteTable struct {
	GPT *gpt.Table
	MBR *mbr.Table
	About
}

// PatchReAgent rewrites the WinreLocation offset in the file Path (on the
// OS partition, Partition) from From to Offset.
type PatchReAgent struct {
	Partition    int
	Path         string
	From, Offset int64
	About
}

// PatchBCD rewrites the partition offset of WinRE's device elements in the
// BCD store of an MBR disk, from From to Offset (Partition is WinRE's).
type PatchBCD struct {
	Partition    int
	From, Offset int64
	About
}

// ShrinkPartition ends Partition at EndLBA: it starts at byte Offset and
// becomes SizeBytes long.
type ShrinkPartition struct {
	Partition         int
	StartLBA, EndLBA  uint64
	Offset, SizeBytes int64
	About
}

// MovePartition moves Partition's entry from byte From to byte Offset
// (StartLBA-EndLBA, SizeBytes long); the data moves with a CopyData step.
type MovePartition struct {
	Partition               int
	StartLBA, EndLBA        uint64
	From, Offset, SizeBytes int64
	About
}

// GrowPartition makes Partition span StartLBA-EndLBA: it starts at byte
// Offset and becomes SizeBytes long.
type GrowPartition struct {
	Partition         int
	StartLBA, EndLBA  uint64
	Offset, SizeBytes int64
	About
}

// CreatePartition creates entry Partition at StartLBA-EndLBA (byte Offset,
// SizeBytes long) with the GPT type, attributes and unique GUID, or the MBR
// type, given.
type CreatePartition struct {
	Partition         int
	StartLBA, EndLBA  uint64
	Offset, SizeBytes int64
	GPTType           gpt.Type
	MBRType           mbr.Type
	Attributes        gpt.Attributes
	UniqueGUID        uuid.UUID
	About
}

// DeletePartition deletes entry Partition, which spans StartLBA-EndLBA
// (byte Offset, SizeBytes long); the space is left free.
type DeletePartition struct {
	Partition         int
	StartLBA, EndLBA  uint64
	Offset, SizeBytes int64
	About
}

// SetType sets Partition's GPT type, or its MBR type byte.
type SetType struct {
	Partition int
	GPTType   gpt.Type
	MBRType   mbr.Type
	About
}

// SetAttributes sets Partition's GPT attributes.
type SetAttributes struct {
	Partition  int
	Attributes gpt.Attributes
	About
}

// MoveBackupGPT moves the backup GPT to the end of a disk that grew; Offset
// is the disk's new size.
type MoveBackupGPT struct {
	Offset int64
	About
}

// Kinds.
func (ShrinkFilesystem) Kind() StepKind { return StepShrinkFilesystem }
func (GrowFilesystem) Kind() StepKind   { return StepGrowFilesystem }
func (CopyData) Kind() StepKind         { return StepCopyData }
func (FixHiddenSectors) Kind() StepKind { return StepFixHiddenSectors }
func (WriteTable) Kind() StepKind       { return StepWriteTable }
func (PatchReAgent) Kind() StepKind     { return StepPatchReAgent }
func (PatchBCD) Kind() StepKind         { return StepPatchBCD }
func (ShrinkPartition) Kind() StepKind  { return StepShrinkPartition }
func (MovePartition) Kind() StepKind    { return StepMovePartition }
func (GrowPartition) Kind() StepKind    { return StepGrowPartition }
func (CreatePartition) Kind() StepKind  { return StepCreatePartition }
func (DeletePartition) Kind() StepKind  { return StepDeletePartition }
func (SetType) Kind() StepKind          { return StepSetType }
func (SetAttributes) Kind() StepKind    { return StepSetAttributes }
func (MoveBackupGPT) Kind() StepKind    { return StepMoveBackupGPT }

func (ShrinkFilesystem) isStep() {}
func (GrowFilesystem) isStep()   {}
func (CopyData) isStep()         {}
func (FixHiddenSectors) isStep() {}
func (WriteTable) isStep()       {}
func (PatchReAgent) isStep()     {}
func (PatchBCD) isStep()         {}
func (ShrinkPartition) isStep()  {}
func (MovePartition) isStep()    {}
func (GrowPartition) isStep()    {}
func (CreatePartition) isStep()  {}
func (DeletePartition) isStep()  {}
func (SetType) isStep()          {}
func (SetAttributes) isStep()    {}
func (MoveBackupGPT) isStep()    {}

func (ShrinkPartition) tableEdit() {}
func (MovePartition) tableEdit()   {}
func (GrowPartition) tableEdit()   {}
func (CreatePartition) tableEdit() {}
func (DeletePartition) tableEdit() {}
func (SetType) tableEdit()         {}
func (SetAttributes) tableEdit()   {}
func (MoveBackupGPT) tableEdit()   {}

// flatStep is every field any step has: the shape of a step in JSON.
type flatStep struct {
	Kind                    StepKind
	Partition               int
	StartLBA, EndLBA        uint64
	Offset, SizeBytes, From int64
	Backward                bool
	GPTType                 gpt.Type
	MBRType                 mbr.Type
	Attributes              gpt.Attributes
	UniqueGUID              uuid.UUID
	HiddenSectors           uint64
	Path                    string
	MovedBytes              int64
	MovedFiles              int
	GPT                     *gpt.Table
	MBR                     *mbr.Table
	Detail                  string
}

// flatten spreads s over a flatStep.
func flatten(s Step) flatStep {
	f := flatStep{Kind: s.Kind(), Detail: s.Detail()}
	switch s := s.(type) {
	case ShrinkFilesystem:
		f.Partition, f.Offset, f.SizeBytes = s.Partition, s.Offset, s.SizeBytes
		f.MovedBytes, f.MovedFiles = s.MovedBytes, s.MovedFiles
	case GrowFilesystem:
		f.Partition, f.Offset, f.SizeBytes = s.Partition, s.Offset, s.SizeBytes
	case CopyData:
		f.Partition, f.From, f.Offset, f.SizeBytes, f.Backward = s.Partition, s.From, s.Offset, s.SizeBytes, s.Backward
	case FixHiddenSectors:
		f.Partition, f.Offset, f.HiddenSectors = s.Partition, s.Offset, s.HiddenSectors
	case WriteTable:
		f.GPT, f.MBR = s.GPT, s.MBR
	case PatchReAgent:
		f.Partition, f.Path, f.From, f.Offset = s.Partition, s.Path, s.From, s.Offset
	case PatchBCD:
		f.Partition, f.From, f.Offset = s.Partition, s.From, s.Offset
	case ShrinkPartition:
		f.Partition, f.StartLBA, f.EndLBA, f.Offset, f.SizeBytes = s.Partition, s.StartLBA, s.EndLBA, s.Offset, s.SizeBytes
	case MovePartition:
		f.Partition, f.StartLBA, f.EndLBA, f.From, f.Offset, f.SizeBytes = s.Partition, s.StartLBA, s.EndLBA, s.From, s.Offset, s.SizeBytes
	case GrowPartition:
		f.Partition, f.StartLBA, f.EndLBA, f.Offset, f.SizeBytes = s.Partition, s.StartLBA, s.EndLBA, s.Offset, s.SizeBytes
	case CreatePartition:
		f.Partition, f.StartLBA, f.EndLBA, f.Offset, f.SizeBytes = s.Partition, s.StartLBA, s.EndLBA, s.Offset, s.SizeBytes
		f.GPTType, f.MBRType, f.Attributes, f.UniqueGUID = s.GPTType, s.MBRType, s.Attributes, s.UniqueGUID
	case DeletePartition:
		f.Partition, f.StartLBA, f.EndLBA, f.Offset, f.SizeBytes = s.Partition, s.StartLBA, s.EndLBA, s.Offset, s.SizeBytes
	case SetType:
		f.Partition, f.GPTType, f.MBRType = s.Partition, s.GPTType, s.MBRType
	case SetAttributes:
		f.Partition, f.Attributes = s.Partition, s.Attributes
	case MoveBackupGPT:
		f.Offset = s.Offset
	}
	return f
}

// typed builds the step f describes; fields its kind does not have must
// be zero.
func (f flatStep) typed() (Step, error) {
	a := About{Text: f.Detail}
	var s Step
	switch f.Kind {
	case StepShrinkFilesystem:
		s = ShrinkFilesystem{Partition: f.Partition, Offset: f.Offset, SizeBytes: f.SizeBytes,
			MovedBytes: f.MovedBytes, MovedFiles: f.MovedFiles, About: a}
	case StepGrowFilesystem:
		s = GrowFilesystem{Partition: f.Partition, Offset: f.Offset, SizeBytes: f.SizeBytes, About: a}
	case StepCopyData:
		s = CopyData{Partition: f.Partition, From: f.From, Offset: f.Offset, SizeBytes: f.SizeBytes, Backward: f.Backward, About: a}
	case StepFixHiddenSectors:
		s = FixHiddenSectors{Partition: f.Partition, Offset: f.Offset, HiddenSectors: f.HiddenSectors, About: a}
	case StepWriteTable:
		s = WriteTable{GPT: f.GPT, MBR: f.MBR, About: a}
	case StepPatchReAgent:
		s = PatchReAgent{Partition: f.Partition, Path: f.Path, From: f.From, Offset: f.Offset, About: a}
	case StepPatchBCD:
		s = PatchBCD{Partition: f.Partition, From: f.From, Offset: f.Offset, About: a}
	case StepShrinkPartition:
		s = ShrinkPartition{Partition: f.Partition, StartLBA: f.StartLBA, EndLBA: f.EndLBA, Offset: f.Offset, SizeBytes: f.SizeBytes, About: a}
	case StepMovePartition:
		s = MovePartition{Partition: f.Partition, StartLBA: f.StartLBA, EndLBA: f.EndLBA, From: f.From, Offset: f.Offset, SizeBytes: f.SizeBytes, About: a}
	case StepGrowPartition:
		s = GrowPartition{Partition: f.Partition, StartLBA: f.StartLBA, EndLBA: f.EndLBA, Offset: f.Offset, SizeBytes: f.SizeBytes, About: a}
	case StepCreatePartition:
		s = CreatePartition{Partition: f.Partition, StartLBA: f.StartLBA, EndLBA: f.EndLBA, Offset: f.Offset, SizeBytes: f.SizeBytes,
			GPTType: f.GPTType, MBRType: f.MBRType, Attributes: f.Attributes, UniqueGUID: f.UniqueGUID, About: a}
	case StepDeletePartition:
		s = DeletePartition{Partition: f.Partition, StartLBA: f.StartLBA, EndLBA: f.EndLBA, Offset: f.Offset, SizeBytes: f.SizeBytes, About: a}
	case StepSetType:
		s = SetType{Partition: f.Partition, GPTType: f.GPTType, MBRType: f.MBRType, About: a}
	case StepSetAttributes:
		s = SetAttributes{Partition: f.Partition, Attributes: f.Attributes, About: a}
	case StepMoveBackupGPT:
		s = MoveBackupGPT{Offset: f.Offset, About: a}
	default:
		return nil, fmt.Errorf("unknown step kind %q", f.Kind)
	}
	if g := flatten(s); g != f {
		return nil, fmt.Errorf("a %s step has fields it does not take", f.Kind)
	}
	return s, nil
}
