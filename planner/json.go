package planner

import (
	"encoding/json"
	"fmt"

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
	Table         recovery.Scheme `json:"table,omitempty"`
	Detail        string          `json:"detail"`
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
	Refused       bool                 `json:"refused"`
	Reasons       []reasonJSON         `json:"reasons"`
	Strategy      Strategy             `json:"strategy"`
	Summary       string               `json:"summary"`
	Notes         []string             `json:"notes,omitempty"`
	Steps         []stepJSON           `json:"steps"`
	Before        []recovery.Partition `json:"before"`
	After         []recovery.Partition `json:"after"`
	WinRE         winreTargetJSON      `json:"winre"`
	OSShrinkBytes int64                `json:"osShrinkBytes"`
	Preconditions []preconditionJSON   `json:"preconditions"`
}

// MarshalJSON renders the plan in its stable JSON form: refused, reasons
// (code, message, suggestion), strategy, summary, steps (kind and the
// fields that kind uses), before and after (partitions in the inspect
// format), winre (partition, newSizeBytes, expectedFreeBytes,
// requiredFreeBytes), osShrinkBytes and preconditions. Lists are never
// null. The write-table step names the scheme of its table, not its bytes.
func (p *Plan) MarshalJSON() ([]byte, error) {
	v := planJSON{
		Refused: p.Refused, Reasons: []reasonJSON{}, Strategy: p.Strategy, Summary: p.Summary, Notes: p.Notes,
		Steps: []stepJSON{}, Before: p.Before, After: p.After, OSShrinkBytes: p.OSShrinkBytes,
		WinRE:         winreTargetJSON(p.WinRE),
		Preconditions: []preconditionJSON{},
	}
	if v.Before == nil {
		v.Before = []recovery.Partition{}
	}
	if v.After == nil {
		v.After = []recovery.Partition{}
	}
	for _, r := range p.Reasons {
		v.Reasons = append(v.Reasons, reasonJSON(r))
	}
	for _, c := range p.Preconditions {
		v.Preconditions = append(v.Preconditions, preconditionJSON(c))
	}
	for _, s := range p.Steps {
		j := stepJSON{Kind: s.Kind, Partition: s.Partition, StartLBA: s.StartLBA, EndLBA: s.EndLBA, Offset: s.Offset,
			SizeBytes: s.SizeBytes, From: s.From, HiddenSectors: s.HiddenSectors, Path: s.Path, Detail: s.Detail}
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
		switch {
		case s.GPT != nil:
			j.Table = recovery.SchemeGPT
		case s.MBR != nil:
			j.Table = recovery.SchemeMBR
		}
		v.Steps = append(v.Steps, j)
	}
	return json.Marshal(v)
}
