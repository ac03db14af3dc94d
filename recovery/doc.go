// Package recovery is the model of a Windows disk: what a tool must know
// before it changes the recovery partition, read offline from the disk's
// bytes.
//
// # Reading
//
// [ReadTable] reads the partition table only (GPT with backup fallback, MBR
// with its EBR chain, protective and hybrid MBRs, superfloppies and foreign
// schemes recognised and refused with an [*UnsupportedDiskError]).
// [Inspect] does that and then reads every filesystem it can: NTFS through
// [github.com/winrepart/winrepart/recovery/ntfs] (version, label, BitLocker,
// hibernation, the dirty flag, $LogFile, used and free space, how far it
// shrinks without moving data), FAT boot sectors, ReAgent.xml on C: (parsed
// by [github.com/winrepart/winrepart/winre]), winre.wim's header, and on MBR
// disks the BCD store ([github.com/winrepart/winrepart/winre/bcd]).
//
// # The Layout
//
// The result is a [Layout]: the partitions with their roles (ESP, MSR,
// System Reserved, C:, WinRE, OEM recovery, data; [Role]) and why each was
// given its role, the filesystem facts of each ([Filesystem]), the active
// WinRE and its verdict against KB5034441 ([WinRE]), the BCD chain ([BCD]),
// and every [Problem] found, most serious first: a [diag.Problem] (a stable
// code, a severity, a message and a remedy) with its [Source], the package
// that found it. The partition table's problems come from the gpt and mbr
// packages' Verify, ReAgent.xml's from winre's, and keep their codes; this
// package's own are declared in codes.go. Remedies speak of operations, never
// of a particular tool, so that a vendor's interface can show them.
// A Layout renders as a human report ([Layout.String]) and as stable JSON
// ([Layout.MarshalJSON]); the planner consumes it as it is.
//
// # Interrupted changes
//
// A disk that a change left half-done is never reported as fine: a WinRE
// partition without a readable volume, a volume larger than its partition
// or ending well before it while marked dirty, and a ReAgent.xml pointing
// at no partition are errors whose remedy is to recover with the journal of
// the interrupted change; a dirty volume alone is a warning.
//
// # Writing
//
// The package writes nothing. [ReAgentFile.Patch] and
// [Layout.PatchableForMove] answer, for the planner and the executor alike,
// whether ReAgent.xml and the BCD can follow a move of WinRE, so that a plan
// never promises what applying it would refuse.
package recovery
