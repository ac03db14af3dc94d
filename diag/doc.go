// Package diag is the one model of diagnosis and of planned writes that
// the codecs of this module share: a [Problem] found on a disk (with its
// [Severity], a stable [Code], where it was found, what is wrong and what
// to do), a [Write] a codec asks for instead of writing, and
// [FormatBytes], the one way sizes are printed for people.
//
// The package is a leaf: it imports only the standard library, so every
// codec (gpt, mbr, recovery/ntfs, winre), the Windows model (recovery),
// the planner and the executor can speak it without import cycles. Each
// package keeps its own code constants (gpt.ProblemOverlap,
// winre.ProblemStaged, ...), typed [Code], so a caller can branch on them
// whichever package produced the problem.
//
// # Diagnosis as data
//
// Reading fails only on what cannot be read; what is salvageable or merely
// odd comes back as a list of problems, as gdisk's verify reports it. A
// Verify method never fails and returns nil when it finds nothing.
//
// # Writes as data
//
// A codec never writes: it returns the writes a change needs, in the
// order they must reach the disk, and the executor journals them (see
// internal/journal) so that a crash at any write can be undone or
// finished.
package diag
