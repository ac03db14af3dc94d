package recovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
)

// The JSON forms below are the stable form of an inspection (what a tool
// prints for "inspect as JSON") and of the planner's before/after lists.
// Field names never change; new fields may be added.

type partitionJSON struct {
	Number     int             `json:"number"`
	StartLBA   uint64          `json:"startLBA"`
	EndLBA     uint64          `json:"endLBA"`
	SizeBytes  int64           `json:"sizeBytes"`
	TypeGUID   string          `json:"typeGUID,omitempty"`
	TypeID     string          `json:"typeID,omitempty"`
	TypeName   string          `json:"typeName"`
	UniqueGUID string          `json:"uniqueGUID,omitempty"`
	Attributes string          `json:"attributes,omitempty"`
	Name       string          `json:"name,omitempty"`
	Bootable   bool            `json:"bootable,omitempty"`
	Logical    bool            `json:"logical,omitempty"`
	Extended   bool            `json:"extended,omitempty"`
	Role       Role            `json:"role,omitempty"`
	RoleReason string          `json:"roleReason,omitempty"`
	FS         *filesystemJSON `json:"filesystem,omitempty"`
}

type filesystemJSON struct {
	Kind            FSKind `json:"kind"`
	Label           string `json:"label,omitempty"`
	Version         string `json:"version,omitempty"`
	BitLocker       bool   `json:"bitlocker"`
	Hibernated      bool   `json:"hibernated"`
	Dirty           bool   `json:"dirty"`
	LogFileClean    bool   `json:"logFileClean"`
	ClusterSize     int64  `json:"clusterSize"`
	TotalBytes      int64  `json:"totalBytes"`
	UsedBytes       int64  `json:"usedBytes"`
	FreeBytes       int64  `json:"freeBytes"`
	ShrinkableBytes int64  `json:"shrinkableBytes"`
	Error           string `json:"error,omitempty"`
	// LastUsedCluster is -1 when unknown; absent (older output) reads as
	// unknown.
	LastUsedCluster *int64 `json:"lastUsedCluster"`
}

// isMBR tells the two kinds of partition apart without knowing the scheme:
// a used GPT entry never has a zero type GUID, an MBR entry never has a
// GPT type.
func (p *Partition) isMBR() bool { return uuid.UUID(p.GPTType) == uuid.Nil }

// MarshalJSON renders the partition in the stable inspect format: typeGUID
// on GPT disks, typeID ("0x27") on MBR disks.
func (p Partition) MarshalJSON() ([]byte, error) {
	v := partitionJSON{
		Number:     p.Number,
		StartLBA:   p.StartLBA,
		EndLBA:     p.EndLBA,
		SizeBytes:  p.SizeBytes,
		Bootable:   p.Bootable,
		Logical:    p.Logical,
		Extended:   p.Extended,
		Role:       p.Role,
		RoleReason: p.RoleReason,
	}
	if p.isMBR() {
		v.TypeID = fmt.Sprintf("0x%02x", byte(p.MBRType))
		v.TypeName = p.MBRType.Name()
	} else {
		v.TypeGUID = p.GPTType.String()
		v.TypeName = p.GPTType.Name()
		v.UniqueGUID = p.UniqueGUID.String()
		v.Attributes = fmt.Sprintf("0x%016x", uint64(p.Attributes))
		v.Name = p.Name
	}
	if f := p.FS; f != nil {
		v.FS = &filesystemJSON{
			Kind: f.Kind, Label: f.Label, Version: f.Version,
			BitLocker: f.BitLocker, Hibernated: f.Hibernated, Dirty: f.Dirty,
			LogFileClean: f.LogFileClean, ClusterSize: f.ClusterSize,
			TotalBytes: f.TotalBytes, UsedBytes: f.UsedBytes, FreeBytes: f.FreeBytes,
			ShrinkableBytes: f.ShrinkableBytes, Error: f.Err, LastUsedCluster: &f.LastUsedCluster,
		}
	}
	return json.Marshal(v)
}

// JSONError reports a partition whose JSON form [Partition.UnmarshalJSON]
// cannot read: the field (as "typeGUID", or "" for the object) and why.
type JSONError struct {
	Field string
	Err   error
}

func (e *JSONError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("recovery: partition JSON: %v", e.Err)
	}
	return fmt.Sprintf("recovery: partition JSON field %s: %v", e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *JSONError) Unwrap() error { return e.Err }

// UnmarshalJSON reads the form MarshalJSON writes, strictly: an unknown
// field, a type given both or neither way, or a malformed GUID or number
// is a *JSONError. What MarshalJSON derives (typeName) is not read back.
func (p *Partition) UnmarshalJSON(b []byte) error {
	var v partitionJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return &JSONError{Err: err}
	}
	q := Partition{Number: v.Number, StartLBA: v.StartLBA, EndLBA: v.EndLBA, SizeBytes: v.SizeBytes, Name: v.Name,
		Bootable: v.Bootable, Logical: v.Logical, Extended: v.Extended, Role: v.Role, RoleReason: v.RoleReason}
	switch {
	case v.TypeGUID != "" && v.TypeID != "":
		return &JSONError{Field: "typeID", Err: fmt.Errorf("given with typeGUID %s", v.TypeGUID)}
	case v.TypeGUID != "":
		t, err := gpt.ParseType(v.TypeGUID)
		if err != nil {
			return &JSONError{Field: "typeGUID", Err: err}
		}
		q.GPTType = t
		if q.UniqueGUID, err = uuid.Parse(v.UniqueGUID); err != nil {
			return &JSONError{Field: "uniqueGUID", Err: err}
		}
		n, err := ParseHex(v.Attributes, 64)
		if err != nil {
			return &JSONError{Field: "attributes", Err: err}
		}
		q.Attributes = gpt.Attributes(n)
	case v.TypeID != "":
		n, err := ParseHex(v.TypeID, 8)
		if err != nil {
			return &JSONError{Field: "typeID", Err: err}
		}
		q.MBRType = mbr.Type(n)
	default:
		return &JSONError{Err: fmt.Errorf("neither typeGUID nor typeID")}
	}
	if f := v.FS; f != nil {
		q.FS = &Filesystem{Kind: f.Kind, Label: f.Label, Version: f.Version, BitLocker: f.BitLocker, Hibernated: f.Hibernated,
			Dirty: f.Dirty, LogFileClean: f.LogFileClean, ClusterSize: f.ClusterSize, TotalBytes: f.TotalBytes, UsedBytes: f.UsedBytes,
			FreeBytes: f.FreeBytes, ShrinkableBytes: f.ShrinkableBytes, Err: f.Error, LastUsedCluster: -1}
		if f.LastUsedCluster != nil {
			q.FS.LastUsedCluster = *f.LastUsedCluster
		}
	}
	*p = q
	return nil
}

// ParseHex reads "0x"-prefixed hex of at most bits bits: the form the
// JSON of this package, and the planner's, give MBR type ids, GPT
// attributes and disk signatures.
func ParseHex(s string, bits int) (uint64, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return 0, fmt.Errorf("%q is not 0x-prefixed hex", s)
	}
	return strconv.ParseUint(h, 16, bits)
}

type winreJSON struct {
	Partition         int    `json:"partition"`
	Host              Role   `json:"host,omitempty"`
	HostPartition     int    `json:"hostPartition,omitempty"`
	Enabled           bool   `json:"enabled"`
	ReAgentPath       string `json:"reagentPath,omitempty"`
	WIMPath           string `json:"wimPath"`
	WIMBytes          int64  `json:"wimBytes"`
	FreeBytes         int64  `json:"freeBytes"`
	RequiredFreeBytes int64  `json:"requiredFreeBytes"`
	MeetsKB5034441    bool   `json:"meetsKB5034441"`
	// Verdict is "meets" or "short" when WinRE was measured, otherwise
	// why there is no verdict: "no-windows" (no Windows installation and
	// no WinRE on the disk), "no-winre" (no winre.wim found) or
	// "unmeasured" (its volume could not be read).
	Verdict string `json:"verdict"`
}

type bcdDeviceJSON struct {
	Object    string `json:"object"`
	Element   string `json:"element"`
	Device    string `json:"device"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

type bcdChainJSON struct {
	OSLoader string          `json:"osLoader"`
	Loader   string          `json:"loader"`
	Options  string          `json:"options,omitempty"`
	WIMPath  string          `json:"wimPath,omitempty"`
	SDIPath  string          `json:"sdiPath,omitempty"`
	Devices  []bcdDeviceJSON `json:"devices"`
}

type bcdJSON struct {
	Partition int            `json:"partition"`
	Path      string         `json:"path"`
	Error     string         `json:"error,omitempty"`
	Dirty     bool           `json:"dirty,omitempty"`
	Resolves  bool           `json:"resolves"`
	WinRE     []bcdChainJSON `json:"winre"`
}

type problemJSON struct {
	Code     diag.Code     `json:"code"`
	Severity diag.Severity `json:"severity,omitempty"` // "error", "warning" or "info"
	Message  string        `json:"message"`
	Remedy   string        `json:"remedy,omitempty"`
}

type layoutJSON struct {
	Scheme        Scheme        `json:"scheme"`
	SectorSize    int           `json:"sectorSize"`
	SizeBytes     int64         `json:"sizeBytes"`
	DiskGUID      string        `json:"diskGUID,omitempty"`
	DiskSignature string        `json:"diskSignature,omitempty"`
	OS            int           `json:"osPartition,omitempty"`
	Partitions    []Partition   `json:"partitions"`
	WinRE         *winreJSON    `json:"winre,omitempty"`
	BCD           *bcdJSON      `json:"bcd,omitempty"`
	Problems      []problemJSON `json:"problems"`
}

// MarshalJSON renders the layout in the stable JSON format described
// above.
func (l *Layout) MarshalJSON() ([]byte, error) {
	v := layoutJSON{
		Scheme:     l.Scheme,
		SectorSize: l.SectorSize,
		SizeBytes:  l.SizeBytes,
		OS:         l.OS,
		Partitions: l.Partitions,
		Problems:   []problemJSON{},
	}
	if v.Partitions == nil {
		v.Partitions = []Partition{}
	}
	switch l.Scheme {
	case SchemeGPT:
		v.DiskGUID = l.DiskGUID.String()
	case SchemeMBR:
		v.DiskSignature = fmt.Sprintf("0x%08x", l.DiskSignature)
	}
	if w := l.WinRE; w != nil {
		v.WinRE = &winreJSON{
			Partition: w.Partition, Host: w.Host, HostPartition: w.HostPartition, Enabled: w.Enabled, ReAgentPath: w.ReAgentPath,
			WIMPath: w.WIMPath, WIMBytes: w.WIMBytes, FreeBytes: w.FreeBytes,
			RequiredFreeBytes: w.RequiredFreeBytes, MeetsKB5034441: w.MeetsKB5034441,
			Verdict: l.verdict(),
		}
	}
	if b := l.BCD; b != nil {
		v.BCD = &bcdJSON{Partition: b.Partition, Path: b.Path, Error: b.Err, Dirty: b.Dirty, Resolves: b.Resolves, WinRE: []bcdChainJSON{}}
		for _, c := range b.WinRE {
			cj := bcdChainJSON{OSLoader: c.OSLoader, Loader: c.Loader, Options: c.Options, WIMPath: c.WIMPath, SDIPath: c.SDIPath, Devices: []bcdDeviceJSON{}}
			for _, d := range c.Devices {
				cj.Devices = append(cj.Devices, bcdDeviceJSON(d))
			}
			v.BCD.WinRE = append(v.BCD.WinRE, cj)
		}
	}
	for _, p := range l.Problems {
		v.Problems = append(v.Problems, problemJSON{Code: p.Code, Severity: p.Severity, Message: p.Message, Remedy: p.Remedy})
	}
	return json.Marshal(v)
}

// verdict is the JSON form of the WinRE verdict (see winreJSON.Verdict).
func (l *Layout) verdict() string {
	w := l.WinRE
	switch {
	case l.noWindows():
		return "no-windows"
	case w.HostPartition == 0:
		return "no-winre"
	case w.unmeasured() != "":
		return "unmeasured"
	case w.MeetsKB5034441:
		return "meets"
	}
	return "short"
}
