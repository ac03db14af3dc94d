// Package journal is winrepart's crash-safe write engine. It applies an
// ordered list of ops to a disk ([Write] for metadata, [Copy] for moving
// data within the disk, [Barrier] for flushes) behind a journal file, so
// that a power cut at any write leaves a disk that [Recover] brings back to
// exactly the old or exactly the new state.
//
// # Use
//
//	j, err := journal.Create(path, dev, ops, journal.CreateOptions{Summary: plan.String()})
//	err = j.Run(ctx, dev, journal.RunOptions{Progress: show})
//	// after a crash or a cancelled run:
//	res, err := journal.Recover(ctx, dev, path, journal.Auto, journal.RunOptions{})
//
// # Journal file
//
// The file starts with a 32-byte preamble (magic "WRPJRNL\x00", format
// version 2, lengths and CRC-32C checksums), then a JSON header (summary,
// caller metadata, device size and sector size, copy chunk size, a
// fingerprint over the old bytes of every Write region, the ops with the
// SHA-256 of their old and new bytes), then the old and new bytes of every
// Write and, for every Copy whose source and destination overlap, a sum of
// each chunk's source. After that comes an append-only log of 32-byte
// records (op index, kind: started / checkpoint / complete / roll back
// begun / rolled back, copy chunk progress), each with a sequence number
// and a CRC-32C and each stored twice, so that a torn last record is
// recognised and ignored, one damaged copy is repaired from the other, and
// a damaged record followed by valid ones is refused as corruption.
// Version 1 journals (without sums or doubled records) are refused with
// [ErrVersion]. Recovery checks the disk against the log before trusting
// it; see proof.go. [Create]
// writes and syncs the file and its directory before the first device
// write; every record is synced before the device write it allows, and a
// checkpoint is recorded only after the device itself was synced.
//
// [Create] writes the file under a temporary name and links it into place
// once it is synced, so a crash during Create leaves no journal at the
// path (at most a ".partial" file beside it); no device write happens
// before Create returns.
//
// The journal must not live on the device it changes: [Create] refuses
// the image file itself and, for Linux block devices, any filesystem on
// the device or its partitions (see [Create]).
//
// # Crash safety
//
// Writes are redone or undone from the stored bytes. Copies proceed in
// chunks no larger than the distance they move data, in the direction
// that never reads a byte an earlier chunk wrote, with a device sync and
// a checkpoint at least every time the copy has moved that distance (or
// half of it, on a [blockdev.ConcurrentSyncer] device, where each sync and
// checkpoint run while the next half is copied); [Journal.Run] proves why
// redoing the chunks after the last recorded checkpoint is safe. The tests inject power cuts at every device write (stop, torn
// write, loss of unflushed writes) with package faultdev and check the
// recovered disk byte for byte.
//
// # Security
//
// A journal file is untrusted input as much as a disk image is: [Open]
// bounds every length (header, data, op count, extents, write sizes)
// before allocating, checks CRCs and SHA-256 sums, and rejects ops that
// fall outside the recorded device. [Journal.State] refuses a journal
// whose regions on the device hold neither their old nor their new bytes,
// so a journal for another disk is not applied.
package journal
