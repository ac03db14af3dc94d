// Package blockdev declares, once for the whole module, what a disk is to
// the code that reads and changes it: a family of small interfaces over a
// byte-addressed disk with a logical sector size, and the optional powers
// (flushing, re-reading the partition table) that callers discover by type
// assertion, as go-diskfs does for flushing.
//
// # The family
//
//   - [Reader]: what is read, by [github.com/winrepart/winrepart/recovery.Inspect].
//   - [ReadWriter]: what is read and written, by the journaled write engine.
//   - [Device]: a [ReadWriter] that also knows its physical sector size; the
//     executor ([github.com/winrepart/winrepart.Apply]) takes one.
//   - [Closer]: a [Device] opened from a path, which must be closed.
//   - [Syncer], [ConcurrentSyncer], [PartitionRereader], [Pather]: optional
//     powers.
//
// Each interface embeds the smaller one, so a value of a larger one passes
// wherever a smaller one is asked for. The package holds no
// implementations: image files, Linux block devices and the go-diskfs
// adapter live in package [github.com/winrepart/winrepart], which names
// these interfaces by type aliases ([github.com/winrepart/winrepart.Device]
// is [Device]).
//
// # Units
//
// Offsets and sizes are bytes, as int64. Sector sizes are bytes, as int: the
// logical one is the unit of LBAs in partition tables (512 or 4096).
//
// # Security
//
// Nothing here reads a disk except [DetectSectorSize], which reads 8 bytes
// at two fixed offsets within the size it is given.
package blockdev
