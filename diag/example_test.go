package diag_test

import (
	"encoding/json"
	"fmt"

	"github.com/winrepart/winrepart/diag"
)

// A codec declares its codes and returns problems; callers print them,
// branch on their codes and severities, and serialise them.
func ExampleProblem() {
	const problemOverlap diag.Code = "partitions-overlap"
	p := diag.Problem{
		Code:     problemOverlap,
		Severity: diag.Error,
		Where:    "partition 3",
		Message:  "partitions 2 (LBA 2048-6143) and 3 (LBA 4096-8191) overlap",
		Remedy:   "shrink or delete one of them after checking which holds data",
	}
	fmt.Println(p)
	fmt.Println(p.Code == problemOverlap, p.Severity >= diag.Warning)
	b, _ := json.Marshal(struct {
		Code     diag.Code     `json:"code"`
		Severity diag.Severity `json:"severity"`
	}{p.Code, p.Severity})
	fmt.Println(string(b))
	// Output:
	// error partitions-overlap (partition 3): partitions 2 (LBA 2048-6143) and 3 (LBA 4096-8191) overlap; remedy: shrink or delete one of them after checking which holds data
	// true true
	// {"code":"partitions-overlap","severity":"error"}
}

func ExampleFormatBytes() {
	fmt.Println(diag.FormatBytes(529<<20), diag.FormatBytes(3<<30), diag.FormatBytes(-52<<20))
	// Output: 529.0 MiB 3.00 GiB -52.0 MiB
}
