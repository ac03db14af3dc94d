package planner

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/recovery"
)

// The JSON form of a plan is stable: field names never change; new fields
// may be added.

type reasonJSON struct {
	Code       Code   `json:"code"`
	Message    string `json:"message"`
	Suggestion string `json:"suggestion,omitempty"`
}

type stepJSON struct {
	Kind          StepKind        `json:"kind"`
	Partition     int             `json:"partition,omitempty"`
	StartLBA      uint64          `json:"startLBA,omitempty"`
	EndLBA        uint64          `json:"endLBA,omitempty"`
	Offset        int64           `json:"offset,omitempty"`
	SizeBytes     int64           `json:"sizeBytes,omitempty"`
	From          int64           `json:"from,omitempty"`
	Direction     string          `json:"direction,omitempty"`
	TypeGUID      string          `json:"typeGUID,omitempty"`
	TypeID        string          `json:"typeID,omitempty"`
	Attributes    string          `json:"attributes,omitempty"`
	UniqueGUID    string          `json:"uniqueGUID,omitempty"`
	HiddenSectors uint64          `json:"hiddenSectors,omitempty"`
	Path          string          `json:"path,omitempty"`
	MovedBytes    int64           `json:"movedBytes,omitempty"`
	MovedFiles    int             `json:"movedFiles,omitempty"`
	Table         recovery.Scheme `json:"table,omitempty"`
	Detail        string          `json:"detail"`
	// GPT and MBR carry the write-table step's table, so that a saved plan
	// can be applied (see ReadJSON).
	GPT *gptJSON `json:"gpt,omitempty"`
	MBR *mbrJSON `json:"mbr,omitempty"`
}

type winreTargetJSON struct {
	Partition         int   `json:"partition"`
	NewSizeBytes      int64 `json:"newSizeBytes"`
	ExpectedFreeBytes int64 `json:"expectedFreeBytes"`
	RequiredFreeBytes int64 `json:"requiredFreeBytes"`
}

type preconditionJSON struct {
	Kind      PreconditionKind `json:"kind"`
	Partition int              `json:"partition,omitempty"`
	Value     string           `json:"value"`
}

type planJSON struct {
	Format        int                `json:"format"`
	Refused       bool               `json:"refused"`
	Reasons       []reasonJSON       `json:"reasons"`
	Strategy      Strategy           `json:"strategy"`
	Summary       string             `json:"summary"`
	Notes         []string           `json:"notes,omitempty"`
	Steps         []stepJSON         `json:"steps"`
	Before        []partitionJSON    `json:"before"`
	After         []partitionJSON    `json:"after"`
	WinRE         winreTargetJSON    `json:"winre"`
	OSShrinkBytes int64              `json:"osShrinkBytes"`
	Preconditions []preconditionJSON `json:"preconditions"`
	// What the Windows-side scripts and Check need, for ReadJSON.
	Disk   *diskJSON  `json:"disk,omitempty"`
	Roles  *rolesJSON `json:"roles,omitempty"`
	Pinned []int      `json:"pinnedPartitions"`
}

// formatVersion is the version of the saved-plan form; ReadJSON refuses
// others.
const formatVersion = 1

// diskJSON is the disk the plan was made for.
type diskJSON struct {
	Scheme        recovery.Scheme `json:"scheme"`
	SectorSize    int             `json:"sectorSize"`
	SizeBytes     int64           `json:"sizeBytes"`
	AlignBytes    int64           `json:"alignBytes"`
	DiskGUID      string          `json:"diskGUID,omitempty"`
	DiskSignature string          `json:"diskSignature,omitempty"`
	OSPartition   int             `json:"osPartition,omitempty"`
	ReAgentPath   string          `json:"reagentPath,omitempty"`
}

// rolesJSON holds C: and WinRE before and after the plan (set for refused
// plans too: the Windows-side scripts carry them out).
type rolesJSON struct {
	OSBefore    *partitionJSON `json:"osBefore,omitempty"`
	OSAfter     *partitionJSON `json:"osAfter,omitempty"`
	WinREBefore *partitionJSON `json:"winreBefore,omitempty"`
	WinREAfter  *partitionJSON `json:"winreAfter,omitempty"`
}

// MarshalJSON renders the plan in its stable JSON form: format (1),
// refused, reasons (code, message, suggestion), strategy, summary, steps
// (kind and the fields that kind uses), before and after (partitions in
// recovery's inspect format, which carries the filesystem's
// lastUsedCluster), winre
// (partition, newSizeBytes, expectedFreeBytes, requiredFreeBytes),
// osShrinkBytes, preconditions, and what a saved plan needs to be read
// back by [ReadJSON]: disk (scheme, sizes, alignment, identity, C:'s
// number, the ReAgent.xml path), roles (C: and WinRE before and after),
// pinnedPartitions, and on the write-table step its table ("table" names
// the scheme; "gpt" or "mbr" holds the header and entries or the records,
// base64). Lists are never null.
func (p *Plan) MarshalJSON() ([]byte, error) {
	v := planJSON{
		Format:  formatVersion,
		Refused: p.Refused, Reasons: []reasonJSON{}, Strategy: p.Strategy, Summary: p.Summary, Notes: p.Notes,
		Steps: []stepJSON{}, Before: partitionsJSON(p.Before), After: partitionsJSON(p.After), OSShrinkBytes: p.OSShrinkBytes,
		WinRE:         winreTargetJSON(p.WinRE),
		Preconditions: []preconditionJSON{},
		Pinned:        []int{},
	}
	v.Pinned = append(v.Pinned, p.touched...)
	if p.scheme != "" {
		v.Disk = &diskJSON{Scheme: p.scheme, SectorSize: p.sectorSize, SizeBytes: p.diskSize, AlignBytes: p.alignBytes,
			OSPartition: p.osNumber, ReAgentPath: p.reagent}
		if p.scheme == recovery.SchemeGPT || p.diskGUID != uuid.Nil {
			v.Disk.DiskGUID = p.diskGUID.String()
		}
		if p.scheme == recovery.SchemeMBR || p.diskSig != 0 {
			v.Disk.DiskSignature = fmt.Sprintf("0x%08x", p.diskSig)
		}
	}
	if p.osBefore != nil || p.osAfter != nil || p.oldWinRE != nil || p.newWinRE != nil {
		v.Roles = &rolesJSON{OSBefore: partitionPtrJSON(p.osBefore), OSAfter: partitionPtrJSON(p.osAfter),
			WinREBefore: partitionPtrJSON(p.oldWinRE), WinREAfter: partitionPtrJSON(p.newWinRE)}
	}
	for _, r := range p.Reasons {
		v.Reasons = append(v.Reasons, reasonJSON(r))
	}
	for _, c := range p.Preconditions {
		v.Preconditions = append(v.Preconditions, preconditionJSON(c))
	}
	for _, st := range p.Steps {
		s := flatten(st)
		j := stepJSON{Kind: s.Kind, Partition: s.Partition, StartLBA: s.StartLBA, EndLBA: s.EndLBA, Offset: s.Offset,
			SizeBytes: s.SizeBytes, From: s.From, HiddenSectors: s.HiddenSectors, Path: s.Path, Detail: s.Detail,
			MovedBytes: s.MovedBytes, MovedFiles: s.MovedFiles}
		if s.Kind == StepCopyData {
			j.Direction = "forward"
			if s.Backward {
				j.Direction = "backward"
			}
		}
		if s.GPTType != winreZeroType {
			j.TypeGUID = s.GPTType.String()
		}
		if s.MBRType != 0 {
			j.TypeID = fmt.Sprintf("0x%02x", byte(s.MBRType))
		}
		if s.Attributes != 0 {
			j.Attributes = fmt.Sprintf("0x%016x", uint64(s.Attributes))
		}
		if s.UniqueGUID != [16]byte{} {
			j.UniqueGUID = s.UniqueGUID.String()
		}
		var err error
		switch {
		case s.GPT != nil:
			j.Table = recovery.SchemeGPT
			j.GPT, err = encodeGPT(s.GPT)
		case s.MBR != nil:
			j.Table = recovery.SchemeMBR
			j.MBR, err = encodeMBR(s.MBR)
		}
		if err != nil {
			return nil, err
		}
		v.Steps = append(v.Steps, j)
	}
	return json.Marshal(v)
}
