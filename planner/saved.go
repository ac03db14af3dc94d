package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery"
)

// MaxSavedPlanBytes bounds what ReadJSON reads: a saved plan of a disk
// with the largest entry array GPT allows (4 MiB, in base64) and room to
// spare.
const MaxSavedPlanBytes = 16 << 20

// ErrSavedPlan reports a saved plan that cannot be read back: not the
// JSON form of [Plan.MarshalJSON], another format version, or missing or
// malformed fields that applying needs.
var ErrSavedPlan = errors.New("planner: not a complete saved plan")

// SavedPlanError says which field of a saved plan is missing or
// malformed. It unwraps to ErrSavedPlan and, when there is one, to the
// error of the decoder that failed.
type SavedPlanError struct {
	Field string // JSON path of the field, e.g. "steps[7].gpt.header"
	Err   error  // what is wrong with it
}

func (e *SavedPlanError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrSavedPlan, e.Field, e.Err)
}

// Unwrap returns ErrSavedPlan and the underlying error.
func (e *SavedPlanError) Unwrap() []error { return []error{ErrSavedPlan, e.Err} }

func savedErr(field string, format string, args ...any) error {
	return &SavedPlanError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ReadJSON reads a plan saved in the form [Plan.MarshalJSON] writes (the
// output of plan --json) and returns a Plan equal to the one saved: its
// steps with their tables, its preconditions, and what the Windows-side
// scripts need. It reads at most [MaxSavedPlanBytes]. A plan it cannot
// restore completely is an error unwrapping to [ErrSavedPlan], never a
// partial plan. Check the plan against the disk ([Plan.Check]) before
// applying it, as Apply does.
//
// The preconditions guard against a disk that changed since the plan was
// made, not against a plan edited since: a saved plan carries the bytes
// of the table it writes, so read plans only from where you would run
// the tool that made them.
func ReadJSON(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSavedPlanBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSavedPlanBytes {
		return nil, &SavedPlanError{Field: "(document)", Err: fmt.Errorf("longer than %d bytes", MaxSavedPlanBytes)}
	}
	p := new(Plan)
	if err := p.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return p, nil
}

// UnmarshalJSON restores a plan from its JSON form; see [ReadJSON]. On
// error p is left unchanged.
func (p *Plan) UnmarshalJSON(data []byte) error {
	var v planJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil {
		return &SavedPlanError{Field: "(document)", Err: err}
	}
	if v.Format != formatVersion {
		return savedErr("format", "version %d, this planner reads %d", v.Format, formatVersion)
	}
	var q Plan
	var err error
	q.Refused, q.Strategy, q.Summary, q.OSShrinkBytes = v.Refused, v.Strategy, v.Summary, v.OSShrinkBytes
	q.WinRE = WinRETarget(v.WinRE)
	if len(v.Notes) > 0 {
		q.Notes = v.Notes
	}
	for _, r := range v.Reasons {
		q.Reasons = append(q.Reasons, Reason(r))
	}
	if q.Refused != (len(q.Reasons) > 0) {
		return savedErr("reasons", "refused is %t with %d reasons", q.Refused, len(q.Reasons))
	}
	for _, c := range v.Preconditions {
		q.Preconditions = append(q.Preconditions, Precondition(c))
	}
	if q.Before, err = partitionsFromJSON("before", v.Before); err != nil {
		return err
	}
	if q.After, err = partitionsFromJSON("after", v.After); err != nil {
		return err
	}
	if len(v.Pinned) > 0 {
		q.touched = v.Pinned
	}
	if err := q.restoreDisk(v.Disk); err != nil {
		return err
	}
	if r := v.Roles; r != nil {
		for _, x := range []struct {
			name string
			j    *partitionJSON
			dst  **recovery.Partition
		}{{"osBefore", r.OSBefore, &q.osBefore}, {"osAfter", r.OSAfter, &q.osAfter}, {"winreBefore", r.WinREBefore, &q.oldWinRE}, {"winreAfter", r.WinREAfter, &q.newWinRE}} {
			if x.j == nil {
				continue
			}
			part, err := x.j.partition("roles." + x.name)
			if err != nil {
				return err
			}
			*x.dst = &part
		}
	}
	for i, s := range v.Steps {
		st, err := s.step(fmt.Sprintf("steps[%d]", i), q.scheme)
		if err != nil {
			return err
		}
		q.Steps = append(q.Steps, st)
	}
	if !q.Refused && len(q.Steps) > 0 {
		if q.scheme == "" {
			return savedErr("disk", "missing: a plan with steps needs the disk it was made for")
		}
		if len(q.Preconditions) == 0 {
			return savedErr("preconditions", "missing: a plan with steps must pin the disk")
		}
		if !q.hasTable() {
			return savedErr("steps", "no write-table step carries a table")
		}
	}
	*p = q
	return nil
}

func (p *Plan) hasTable() bool {
	for _, s := range p.Steps {
		if w, ok := s.(WriteTable); ok && (w.GPT != nil || w.MBR != nil) {
			return true
		}
	}
	return false
}

func (p *Plan) restoreDisk(d *diskJSON) error {
	if d == nil {
		return nil
	}
	if d.DiskGUID != "" || d.Scheme == recovery.SchemeGPT {
		u, err := uuid.Parse(d.DiskGUID)
		if err != nil {
			return &SavedPlanError{Field: "disk.diskGUID", Err: err}
		}
		p.diskGUID = u
	}
	if d.DiskSignature != "" || d.Scheme == recovery.SchemeMBR {
		n, err := recovery.ParseHex(d.DiskSignature, 32)
		if err != nil {
			return &SavedPlanError{Field: "disk.diskSignature", Err: err}
		}
		p.diskSig = uint32(n)
	}
	if d.SectorSize < 0 || d.SizeBytes < 0 || d.AlignBytes < 0 {
		return savedErr("disk", "negative size")
	}
	p.scheme, p.sectorSize, p.diskSize, p.alignBytes = d.Scheme, d.SectorSize, d.SizeBytes, d.AlignBytes
	p.osNumber, p.reagent = d.OSPartition, d.ReAgentPath
	return nil
}

func (j *stepJSON) step(field string, scheme recovery.Scheme) (Step, error) {
	f, err := j.flat(field, scheme)
	if err != nil {
		return nil, err
	}
	s, err := f.typed()
	if err != nil {
		return nil, &SavedPlanError{Field: field, Err: err}
	}
	return s, nil
}

func (j *stepJSON) flat(field string, scheme recovery.Scheme) (flatStep, error) {
	s := flatStep{Kind: j.Kind, Partition: j.Partition, StartLBA: j.StartLBA, EndLBA: j.EndLBA, Offset: j.Offset, SizeBytes: j.SizeBytes,
		From: j.From, HiddenSectors: j.HiddenSectors, Path: j.Path, Detail: j.Detail,
		MovedBytes: j.MovedBytes, MovedFiles: j.MovedFiles}
	if j.MovedBytes < 0 || j.MovedFiles < 0 {
		return s, savedErr(field+".movedBytes", "%d bytes of %d files", j.MovedBytes, j.MovedFiles)
	}
	switch j.Direction {
	case "", "forward":
	case "backward":
		s.Backward = true
	default:
		return s, savedErr(field+".direction", "%q", j.Direction)
	}
	if j.TypeGUID != "" {
		t, err := gpt.ParseType(j.TypeGUID)
		if err != nil {
			return s, &SavedPlanError{Field: field + ".typeGUID", Err: err}
		}
		s.GPTType = t
	}
	if j.TypeID != "" {
		n, err := recovery.ParseHex(j.TypeID, 8)
		if err != nil {
			return s, &SavedPlanError{Field: field + ".typeID", Err: err}
		}
		s.MBRType = mbr.Type(n)
	}
	if j.Attributes != "" {
		n, err := recovery.ParseHex(j.Attributes, 64)
		if err != nil {
			return s, &SavedPlanError{Field: field + ".attributes", Err: err}
		}
		s.Attributes = gpt.Attributes(n)
	}
	if j.UniqueGUID != "" {
		u, err := uuid.Parse(j.UniqueGUID)
		if err != nil {
			return s, &SavedPlanError{Field: field + ".uniqueGUID", Err: err}
		}
		s.UniqueGUID = u
	}
	var err error
	switch {
	case j.GPT != nil && j.MBR != nil:
		return s, savedErr(field, "both a GPT and an MBR table")
	case j.GPT != nil:
		s.GPT, err = j.GPT.table(field + ".gpt")
	case j.MBR != nil:
		s.MBR, err = j.MBR.table(field + ".mbr")
	}
	if err != nil {
		return s, err
	}
	if s.Kind == StepWriteTable {
		want := j.Table
		got := recovery.SchemeGPT
		if s.MBR != nil {
			got = recovery.SchemeMBR
		}
		if s.GPT == nil && s.MBR == nil || want != got || scheme != "" && scheme != got {
			return s, savedErr(field, "write-table step for %q without its table (plan made before tables were saved?)", want)
		}
	}
	return s, nil
}

// partitionJSON is a partition in recovery's JSON form (the inspect
// format, with the filesystem's lastUsedCluster, which the plan's
// preconditions depend on). A saved plan's partitions are kept raw when
// read, so that an error names the element it is in.
type partitionJSON struct {
	p   *recovery.Partition
	raw json.RawMessage
}

func (j partitionJSON) MarshalJSON() ([]byte, error) { return json.Marshal(j.p) }

func (j *partitionJSON) UnmarshalJSON(b []byte) error {
	j.raw = append(j.raw[:0], b...)
	return nil
}

func partitionsJSON(ps []recovery.Partition) []partitionJSON {
	out := make([]partitionJSON, len(ps))
	for i := range ps {
		out[i] = partitionJSON{p: &ps[i]}
	}
	return out
}

func partitionPtrJSON(p *recovery.Partition) *partitionJSON {
	if p == nil {
		return nil
	}
	return &partitionJSON{p: p}
}

func partitionsFromJSON(field string, js []partitionJSON) ([]recovery.Partition, error) {
	if len(js) == 0 {
		return nil, nil
	}
	out := make([]recovery.Partition, len(js))
	for i := range js {
		q, err := js[i].partition(fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out[i] = q
	}
	return out, nil
}

func (j *partitionJSON) partition(field string) (recovery.Partition, error) {
	var q recovery.Partition
	if err := json.Unmarshal(j.raw, &q); err != nil {
		var je *recovery.JSONError
		if errors.As(err, &je) && je.Field != "" {
			return q, &SavedPlanError{Field: field + "." + je.Field, Err: je.Err}
		}
		return q, &SavedPlanError{Field: field, Err: err}
	}
	return q, nil
}

// gptJSON is a GPT as the write-table step carries it: what
// [gpt.Table.Writes] and the hybrid-MBR handling of the executor read.
type gptJSON struct {
	SectorSize      int    `json:"sectorSize"`
	DiskSize        int64  `json:"diskSize"`
	Source          string `json:"source"`
	Header          []byte `json:"header"`  // Header.MarshalBinary
	Entries         []byte `json:"entries"` // Entries, each followed by its EntryExtra bytes
	PrimaryEntryLBA uint64 `json:"primaryEntryLBA"`
	BackupEntryLBA  uint64 `json:"backupEntryLBA"`
	BackupHeaderLBA uint64 `json:"backupHeaderLBA"`
	// The tails of the header sectors as read, when Writes keeps them.
	PrimaryTail   *tailJSON `json:"primaryTail,omitempty"`
	BackupTail    *tailJSON `json:"backupTail,omitempty"`
	ProtectiveMBR []byte    `json:"protectiveMBR,omitempty"`
}

type tailJSON struct {
	LBA  uint64 `json:"lba"`
	Data []byte `json:"data"`
}

func encodeGPT(t *gpt.Table) (*gptJSON, error) {
	h, err := t.Header.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("planner: encoding the GPT header: %w", err)
	}
	j := &gptJSON{SectorSize: t.SectorSize, DiskSize: t.DiskSize, Source: t.Source.String(), Header: h,
		PrimaryEntryLBA: t.PrimaryEntryLBA, BackupEntryLBA: t.BackupEntryLBA, BackupHeaderLBA: t.BackupHeaderLBA}
	k := int(t.Header.SizeOfPartitionEntry) - gpt.MinEntrySize
	if k < 0 || len(t.EntryExtra) != k*len(t.Entries) {
		return nil, fmt.Errorf("planner: encoding the GPT: %d bytes of EntryExtra for %d entries of %d bytes", len(t.EntryExtra), len(t.Entries), t.Header.SizeOfPartitionEntry)
	}
	j.Entries = make([]byte, 0, len(t.Entries)*(gpt.MinEntrySize+k))
	for i := range t.Entries {
		j.Entries, _ = t.Entries[i].AppendBinary(j.Entries)
		j.Entries = append(j.Entries, t.EntryExtra[i*k:(i+1)*k]...)
	}
	tail := func(c *gpt.Copy) *tailJSON {
		if !c.Valid() || c.SectorTail == nil {
			return nil
		}
		return &tailJSON{LBA: c.LBA, Data: c.SectorTail}
	}
	j.PrimaryTail, j.BackupTail = tail(t.Primary), tail(t.Backup)
	if m := t.ProtectiveMBR; m != nil {
		if j.ProtectiveMBR, err = m.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func (j *gptJSON) table(field string) (*gpt.Table, error) {
	t := &gpt.Table{SectorSize: j.SectorSize, DiskSize: j.DiskSize, PrimaryEntryLBA: j.PrimaryEntryLBA,
		BackupEntryLBA: j.BackupEntryLBA, BackupHeaderLBA: j.BackupHeaderLBA}
	if j.SectorSize < 512 || j.SectorSize > 65536 || j.SectorSize&(j.SectorSize-1) != 0 || j.DiskSize < 0 {
		return nil, savedErr(field, "sector size %d, disk size %d", j.SectorSize, j.DiskSize)
	}
	found := false
	for _, src := range []gpt.Source{gpt.Primary, gpt.Backup, 0} { // 0: a table made by gpt.New
		if j.Source == src.String() {
			t.Source, found = src, true
		}
	}
	if !found {
		return nil, savedErr(field+".source", "%q", j.Source)
	}
	if len(j.Header) > j.SectorSize {
		return nil, savedErr(field+".header", "%d bytes", len(j.Header))
	}
	// The header of an edited table carries the CRC it was read with
	// (Writes computes new ones): a CRC mismatch is expected here.
	if err := t.Header.UnmarshalBinary(j.Header); err != nil && !errors.Is(err, gpt.ErrHeaderCRC) {
		return nil, &SavedPlanError{Field: field + ".header", Err: err}
	}
	if int(t.Header.HeaderSize) != len(j.Header) {
		return nil, savedErr(field+".header", "HeaderSize %d in %d bytes", t.Header.HeaderSize, len(j.Header))
	}
	size := int(t.Header.SizeOfPartitionEntry)
	if size < gpt.MinEntrySize || size%8 != 0 || len(j.Entries)%size != 0 ||
		uint64(len(j.Entries)/size) > uint64(t.Header.NumberOfPartitionEntries) || len(j.Entries) > gpt.MaxEntryArrayBytes {
		return nil, savedErr(field+".entries", "%d bytes for entries of %d bytes, at most %d of them", len(j.Entries), size, t.Header.NumberOfPartitionEntries)
	}
	n, k := len(j.Entries)/size, size-gpt.MinEntrySize
	if n > 0 {
		t.Entries = make([]gpt.Entry, n)
	}
	if k > 0 && n > 0 {
		t.EntryExtra = make([]byte, 0, n*k)
	}
	for i := range n {
		b := j.Entries[i*size : (i+1)*size]
		if err := t.Entries[i].UnmarshalBinary(b); err != nil {
			return nil, &SavedPlanError{Field: field + ".entries", Err: err}
		}
		t.EntryExtra = append(t.EntryExtra, b[gpt.MinEntrySize:]...)
	}
	tail := func(name string, tj *tailJSON) (*gpt.Copy, error) {
		if tj == nil {
			return nil, nil
		}
		if len(tj.Data) == 0 || len(tj.Data) >= j.SectorSize {
			return nil, savedErr(field+"."+name, "%d bytes", len(tj.Data))
		}
		return &gpt.Copy{LBA: tj.LBA, Header: t.Header, SectorTail: tj.Data}, nil
	}
	var err error
	if t.Primary, err = tail("primaryTail", j.PrimaryTail); err != nil {
		return nil, err
	}
	if t.Backup, err = tail("backupTail", j.BackupTail); err != nil {
		return nil, err
	}
	if j.ProtectiveMBR != nil {
		t.ProtectiveMBR = new(mbr.Record)
		if err := decodeRecord(t.ProtectiveMBR, j.ProtectiveMBR); err != nil {
			return nil, &SavedPlanError{Field: field + ".protectiveMBR", Err: err}
		}
	}
	return t, nil
}

// decodeRecord decodes exactly one 512-byte record; one without the boot
// signature is kept as it is (Writes writes it back as stored).
func decodeRecord(r *mbr.Record, b []byte) error {
	if len(b) != mbr.Size {
		return fmt.Errorf("%d bytes, want %d", len(b), mbr.Size)
	}
	if err := r.UnmarshalBinary(b); err != nil && !errors.Is(err, mbr.ErrNoBootSignature) {
		return err
	}
	return nil
}

// mbrJSON is an MBR table as the write-table step carries it: the records
// [mbr.Table.Writes] writes, and where each logical partition's entry
// goes.
type mbrJSON struct {
	SectorSize int           `json:"sectorSize"`
	DiskSize   int64         `json:"diskSize"`
	Record     []byte        `json:"record"` // LBA 0
	EBRs       []ebrJSON     `json:"ebrs"`
	Logical    []logicalJSON `json:"logical"`
}

type ebrJSON struct {
	LBA    uint64 `json:"lba"`
	Record []byte `json:"record"`
}

type logicalJSON struct {
	Number int    `json:"number"`
	EBRLBA uint64 `json:"ebrLBA"`
	Slot   int    `json:"slot"`
	Entry  []byte `json:"entry"` // the 16 bytes of the entry as stored
}

func encodeMBR(t *mbr.Table) (*mbrJSON, error) {
	rec, err := t.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	j := &mbrJSON{SectorSize: t.SectorSize, DiskSize: t.DiskSize, Record: rec, EBRs: []ebrJSON{}, Logical: []logicalJSON{}}
	for _, e := range t.EBRs {
		b, err := e.Record.MarshalBinary()
		if err != nil {
			return nil, err
		}
		j.EBRs = append(j.EBRs, ebrJSON{LBA: e.LBA, Record: b})
	}
	for _, l := range t.Logical {
		var r mbr.Record
		r.Entries[0] = l.Entry
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, err
		}
		j.Logical = append(j.Logical, logicalJSON{Number: l.Number, EBRLBA: l.EBRLBA, Slot: l.Slot, Entry: b[entryOffset : entryOffset+entrySize]})
	}
	return j, nil
}

// Where the first partition entry sits in an MBR record, and its size.
const (
	entryOffset = 446
	entrySize   = 16
)

func (j *mbrJSON) table(field string) (*mbr.Table, error) {
	if j.SectorSize < 512 || j.SectorSize > 65536 || j.SectorSize&(j.SectorSize-1) != 0 || j.DiskSize < 0 {
		return nil, savedErr(field, "sector size %d, disk size %d", j.SectorSize, j.DiskSize)
	}
	if len(j.EBRs) > mbr.MaxChain || len(j.Logical) > 4*mbr.MaxChain {
		return nil, savedErr(field+".ebrs", "%d EBRs, %d logical partitions", len(j.EBRs), len(j.Logical))
	}
	t := &mbr.Table{SectorSize: j.SectorSize, DiskSize: j.DiskSize, Extended: -1}
	if err := decodeRecord(&t.Record, j.Record); err != nil {
		return nil, &SavedPlanError{Field: field + ".record", Err: err}
	}
	for i, e := range t.Record.Entries {
		if e.Type.IsExtended() && e.Sectors != 0 {
			t.Extended = i
			break
		}
	}
	byLBA := map[uint64]mbr.Record{}
	for i, e := range j.EBRs {
		var r mbr.Record
		if err := decodeRecord(&r, e.Record); err != nil {
			return nil, &SavedPlanError{Field: fmt.Sprintf("%s.ebrs[%d]", field, i), Err: err}
		}
		t.EBRs = append(t.EBRs, mbr.EBR{LBA: e.LBA, Record: r})
		byLBA[e.LBA] = r
	}
	for i, l := range j.Logical {
		f := fmt.Sprintf("%s.logical[%d]", field, i)
		if len(l.Entry) != entrySize {
			return nil, savedErr(f+".entry", "%d bytes, want %d", len(l.Entry), entrySize)
		}
		ebr, ok := byLBA[l.EBRLBA]
		if !ok || l.Slot < 0 || l.Slot > 3 {
			return nil, savedErr(f, "names EBR LBA %d slot %d", l.EBRLBA, l.Slot)
		}
		b := make([]byte, mbr.Size)
		copy(b[entryOffset:], l.Entry)
		b[510], b[511] = 0x55, 0xAA
		var r mbr.Record
		if err := r.UnmarshalBinary(b); err != nil {
			return nil, &SavedPlanError{Field: f + ".entry", Err: err}
		}
		e := r.Entries[0]
		t.Logical = append(t.Logical, mbr.Logical{Number: l.Number, EBRLBA: l.EBRLBA, Slot: l.Slot, Entry: e,
			StartLBA: l.EBRLBA + uint64(e.StartLBA), Sectors: uint64(e.Sectors), EBR: ebr})
	}
	return t, nil
}
