// Package winrepart fixes the Windows recovery partition problem behind
// update KB5034441 (error 0x80070643) offline, from Linux, on disk images
// and block devices.
//
// Windows 10 and 11 service their recovery environment (WinRE) every month.
// The servicing needs free space in the WinRE partition (250 MB per
// KB5034441; at least the new winre.wim plus 52 MiB per ReAgentc), which
// millions of machines do not have. Microsoft's manual fix (KB5028997) only
// covers one layout and must run inside Windows. This module reads the disk
// from outside, explains it, plans the least invasive change that gives WinRE
// room, and applies it behind a journal.
//
// # Packages
//
//   - [github.com/winrepart/winrepart/diag]: the diagnosis and write model
//     every package shares (Problem, Severity, Write, FormatBytes).
//   - [github.com/winrepart/winrepart/gpt] and [github.com/winrepart/winrepart/mbr]:
//     pure partition-table codecs, byte-exact, strictly validated, with
//     gdisk-style diagnosis.
//   - [github.com/winrepart/winrepart/recovery]: the model of a Windows disk
//     (roles, filesystem facts, the active WinRE and its verdict), and
//     [github.com/winrepart/winrepart/recovery/ntfs], a pure-Go NTFS reader.
//   - [github.com/winrepart/winrepart/winre]: ReAgent.xml, WIM headers and the
//     servicing requirements as data.
//   - [github.com/winrepart/winrepart/planner]: a pure function from a layout
//     to a printable, serialisable plan or a refusal with reasons.
//   - [github.com/winrepart/winrepart/blockdev]: the device interfaces,
//     declared once for recovery (which reads), the journal (which writes)
//     and this package; [Device], [DeviceCloser], [Syncer],
//     [ConcurrentSyncer] and [PartitionRereader] are aliases of them.
//
// The flow reads top to bottom: the codecs read the bytes, recovery turns
// them into a Layout, the planner turns that into a Plan, and this package
// carries the plan out. It holds two things:
//
//   - The executor: [Apply] turns a plan's steps into journaled writes and
//     copies (ops.go), runs them through the crash-safe journal
//     (internal/journal) and verifies the result ([planner.Plan.Verify]);
//     [Recover] finishes or undoes an interrupted apply from its journal;
//     [PendingJournal] tells whether one is waiting.
//   - The devices Apply writes to: image files ([OpenImage]), Linux block
//     devices ([OpenBlockDevice]) and go-diskfs storage ([FromStorage]),
//     behind the small [Device] interface, with the locks and mount checks
//     that keep two writers apart.
//
// # Security
//
// Disk images are untrusted input. Every parser in this module bounds the
// lengths it reads from disk before allocating, returns typed errors rather
// than panicking, and is fuzzed. Devices open read-only unless asked
// otherwise, and block devices open exclusively and refuse to be written
// while any of their partitions is mounted.
package winrepart
