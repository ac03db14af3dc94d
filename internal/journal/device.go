package journal

import "github.com/winrepart/winrepart/blockdev"

// Device is what the engine writes to: a disk image or block device that
// reads and writes bytes at offsets and knows its size in bytes and its
// logical sector size ([blockdev.ReadWriter]). When it is also a
// [blockdev.Syncer], the engine calls Sync at every barrier and before
// every progress record, so that the journal never claims more than the
// disk holds; when it is a [blockdev.ConcurrentSyncer] that keeps its
// promise, copies overlap each flush with the next part of the copy (see
// [Journal.Run]). A [blockdev.Pather] names the file the journal must not
// be kept on.
type Device = blockdev.ReadWriter
