// Package planner decides how to give the Windows Recovery Environment
// (WinRE) partition the free space that KB5034441 and later WinRE
// servicing need, and records the decision as a [Plan] value.
//
// # Planning
//
// [New] takes a [recovery.Layout] (what Inspect found on the disk) and
// [Options], and returns a Plan. It is pure: no I/O, no clock, the same
// plan for the same input. The one exception is asked for: when C: must
// shrink past its last used cluster, the plan asks Options.Relocator
// (winrepart.NewRelocator reads the disk) whether the data in the cut-off
// tail can be moved into free space before the new end, and what that
// moves; the shrink-filesystem step then carries the exact bytes and files
// ([Step.MovedBytes], [Step.MovedFiles]). Without a Relocator, or with
// Options.NoRelocate, such a shrink is refused (os-tail-in-use), and a
// relocation that cannot be done is refused naming the files that cannot
// move and the largest shrink reachable. Strategies are tried least
// invasive first:
//
//   - noop: WinRE already has the free space the [Policy] asks for;
//   - grow-in-place: free space follows WinRE (on a GPT disk that grew, the
//     backup GPT first moves to the end of the disk);
//   - move-left: free space precedes WinRE;
//   - shrink-os: WinRE follows C: (the KB5028997 layout): C:'s tail shrinks
//     by what is needed, rounded to the alignment, WinRE moves left and
//     grows; partitions after WinRE stay byte for byte;
//   - relocate: WinRE lies before C: (old layouts): a new WinRE is carved
//     from C:'s tail and the old one copied into it. On GPT the new
//     partition takes over the old entry and so its unique GUID (which the
//     BCD refers to); the old extent is left as free space, since a unique
//     GUID must stay unique.
//
// On MBR disks the same logic applies within MBR's limits (four primary
// entries, 2^32 sectors, logical partitions grown only inside their
// extended partition). The BCD stores WinRE's start offset on MBR disks,
// so a plan that moves WinRE there is refused unless Options.BCDPatching
// says the executor patches the BCD; the Windows-side script is suggested.
//
// # Refusals
//
// A refused plan lists every [Reason] found, each with a stable [Code], a
// message with numbers and a suggestion: BitLocker, hibernation, dirty or
// unclean volumes, C:'s tail in use and not movable (how much, the files
// that cannot move, and the largest possible shrink), no room, an invalid table (with the repair to run), an unknown
// layout, a device shorter than its table, WinRE on C: or disabled.
//
// # Output
//
// [Plan.String] is the human dry run; [Plan.MarshalJSON] is a stable JSON
// form. [Plan.PowerShellScript] and [Plan.DiskpartScript] render the same
// decision for the running Windows, and [Plan.IntuneScripts] the detection
// and remediation scripts of an Intune Remediations package. A refused
// plan gets a script only when the running Windows can get past every
// reason ([Code.WindowsSide], [Plan.Scriptable]): BitLocker (suspended for
// one reboot before any change), hibernation, dirty volumes, C:'s tail in
// use, WinRE on C: or disabled, an MBR move; otherwise the script says why
// and exits 1. Messages and suggestions speak of operations ("run the
// Windows-side script"), never of a particular tool's commands or flags.
//
// # Saved plans
//
// The JSON form is complete: [ReadJSON] reads it back into a Plan equal to
// the one saved, write-table step tables included, or fails with a
// [*SavedPlanError] (unwrapping to [ErrSavedPlan]) naming the missing or
// malformed field. [Plan.Check] compares the plan's preconditions with
// the layout found at apply time, so a later process can check a saved
// plan against the disk before applying it.
//
// # Security
//
// Layouts come from untrusted disk images. The planner never trusts them
// to be consistent: it refuses layouts with table errors, bounds every
// placement by the usable range and the neighbouring partitions, uses
// 64-bit byte arithmetic throughout, and never allocates in proportion to
// a value read from disk. The scripts embed only numbers and GUIDs from
// the layout, never its strings (labels, names), so a crafted image cannot
// inject commands into them. ReadJSON reads at most [MaxSavedPlanBytes]
// and bounds every table it decodes as the gpt and mbr readers do; a
// saved plan is trusted to be the one its maker wrote (its preconditions
// detect a changed disk, not an edited plan).
package planner
