package mbr

import "strconv"

// Kind classifies what a boot record at LBA 0 says about the disk.
type Kind int

// Kinds of MBR.
const (
	KindEmpty      Kind = iota // valid signature, no partition entries
	KindMBR                    // a classic MBR partition table, no 0xEE entry
	KindProtective             // one 0xEE entry and nothing else: a GPT disk
	KindHybrid                 // a 0xEE entry beside other entries: a hybrid MBR over a GPT
)

var kindNames = [...]string{"empty", "mbr", "protective", "hybrid"}

// String returns "empty", "mbr", "protective" or "hybrid".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Kind classifies r by its entries alone. It does not depend on the sector
// size or the disk size, so it works the same on 4Kn disks and on disks over
// 2 TiB; whether a protective entry has the right start and size is a
// question for gpt's Verify, which knows the disk.
func (r *Record) Kind() Kind {
	ee, other := 0, 0
	for _, e := range r.Entries {
		switch {
		case e.Type == TypeGPTProtective:
			ee++
		case !e.IsEmpty():
			other++
		}
	}
	switch {
	case ee > 0 && other > 0:
		return KindHybrid
	case ee > 0:
		return KindProtective
	case other > 0:
		return KindMBR
	}
	return KindEmpty
}
