// Package faultdev provides devices for testing crash safety: an in-memory
// sparse disk of any size ([Mem]) and a wrapper ([Device]) that injects the
// faults a power cut produces.
//
// # Faults
//
// A [Device] counts every WriteAt call (0-based). [Device.StopAfter] makes
// write k and every later write or sync fail with [ErrPowerLost], as if the
// power went out just before write k. [Device.TearAt] lets write k store
// only a sector-aligned prefix of its data before the power goes out.
// [Device.LoseUnflushed] keeps writes in a volatile cache until the next
// Sync, and [Device.Crash] throws that cache away, as a disk with a write
// cache does when it loses power. After Crash the device works again with
// no faults armed, ready for a recovery run.
//
// # Security
//
// The package is for tests only. [Mem] allocates a 4 KiB page for every
// page written, so a test that writes a whole large device uses that much
// memory; reads of unwritten pages return zeros and allocate nothing.
package faultdev
