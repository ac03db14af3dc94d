package planner

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/recovery"
)

// UpdateGolden lets the external tests (fixtures_test.go, which needs the
// root package and so cannot live in package planner) share the -update
// flag.
var UpdateGolden = update

// SavedRoundTrip saves p as JSON, reads it back with ReadJSON and returns
// how the two plans differ ("" when they are equal). Tables are compared
// field by field and by the bytes their Writes produce; the copies a GPT
// was read from (Primary, Backup) only through those bytes.
func SavedRoundTrip(p *Plan) (string, error) {
	js, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	q, err := ReadJSON(bytes.NewReader(js))
	if err != nil {
		return "", err
	}
	diff := cmp.Diff(p, q, cmp.AllowUnexported(Plan{}), cmpopts.IgnoreFields(gpt.Table{}, "Primary", "Backup"), cmpopts.EquateEmpty())
	for i := range p.Steps {
		a, aok := p.Steps[i].(WriteTable)
		b, bok := q.Steps[i].(WriteTable)
		if !aok || !bok {
			continue
		}
		switch {
		case a.GPT != nil:
			wa, errA := a.GPT.Writes()
			wb, errB := b.GPT.Writes()
			diff += cmp.Diff(wa, wb) + cmp.Diff(fmt.Sprint(errA), fmt.Sprint(errB))
		case a.MBR != nil:
			wa, errA := a.MBR.Writes()
			wb, errB := b.MBR.Writes()
			diff += cmp.Diff(wa, wb) + cmp.Diff(fmt.Sprint(errA), fmt.Sprint(errB))
		}
	}
	again, err := json.Marshal(q)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(js, again) {
		diff += "\nthe JSON of the plan read back differs from the JSON saved"
	}
	if p.String() != q.String() || p.PowerShellScript() != q.PowerShellScript() || p.DiskpartScript() != q.DiskpartScript() {
		diff += "\nthe plan read back renders differently"
	}
	return diff, nil
}

// PartitionJSON renders q as the plan's before and after lists do.
func PartitionJSON(q *recovery.Partition) ([]byte, error) { return json.Marshal(partitionPtrJSON(q)) }
