package planner

import "github.com/winrepart/winrepart/recovery"

// geometry is where partitions may live on the disk, in bytes.
type geometry struct {
	usableStart int64 // first usable byte
	usableEnd   int64 // end (exclusive) of the usable range today
	grownEnd    int64 // the same once the backup GPT sits at the disk's end
	tableEnd    int64 // end (exclusive) of the last byte the table itself uses
	backupMoves bool  // the backup GPT is not at the end of the disk
}

// mbrMaxSectors is the most sectors an MBR entry can address.
const mbrMaxSectors = 1 << 32

func geometryOf(l *recovery.Layout, ss int64) geometry {
	disk := l.SizeBytes / ss * ss
	switch l.Scheme {
	case recovery.SchemeMBR:
		end := min(disk, mbrMaxSectors*ss)
		return geometry{usableStart: ss, usableEnd: end, grownEnd: end, tableEnd: ss}
	default:
		return gptGeometry(l, ss, disk)
	}
}
