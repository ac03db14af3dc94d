// Package winre describes what Windows means by the Windows Recovery
// Environment (WinRE), as pure data and codecs: the ReAgent.xml file that
// records where WinRE lives, the header and XML description of winre.wim,
// and the free-space requirements of the January 2024 security update
// KB5034441 (error 0x80070643) and of ReAgentc. It does no I/O beyond
// [io.ReaderAt]; reading files out of NTFS volumes and writing them back is
// left to the caller.
//
// # ReAgent.xml
//
// C:\Windows\System32\Recovery\ReAgent.xml ([PathReAgentXML]) is small XML
// written by reagentc. Its <WinreLocation> element names the WinRE folder
// (\Recovery\WindowsRE), the start of the partition holding it in bytes
// (decimal), and the disk: the GPT disk GUID in guid (lower case, in
// braces) with id 0, or on MBR disks the disk signature in decimal in id
// with an all-zero guid. <InstallState state="1"/> means enabled. A
// non-empty <ImageLocation> left behind by a staged image breaks WinRE
// rebuilds. [ParseReAgent] reads the file into a [ReAgent] (UTF-8 with or
// without BOM, UTF-16LE with or without BOM, CRLF or LF, any attribute
// order and quote style, unknown elements kept) and fails with typed
// errors; [ReAgent.Verify] reports semantic problems separately, as
// [diag.Problem] values with the element concerned as their Where and the
// codes declared here ([ProblemStaged], [ProblemDisabled], ...), none of
// them an error: recovery.Inspect reports them beside what it checks
// against the disk.
//
// # Patching
//
// Moving the recovery partition changes its start offset, so ReAgent.xml
// must be rewritten. [PatchLocationExact] and [ClearImageLocationExact]
// replace attribute values and nothing else: the file grows or shrinks by
// the difference, and Windows' formatting (byte order mark, CRLF line
// ends, indentation) stays byte for byte. They are what to write when the
// file can be rewritten at a new length. When it cannot, [PatchLocation]
// and [ClearImageLocation] keep the length by adding spaces before "/>" or
// by giving up whitespace that is spare inside the same tag, and
// [PatchLocationCompact] takes the room from CRLF line ends. None pads
// numbers with leading zeros: how reagentc parses them is undocumented,
// and scripts in the field compare the offset as a string with partition
// offsets. When the new text cannot fit (a Windows-written file has no
// spare whitespace, so an offset that gains digits does not fit) the
// fixed-length patches fail with a [*FitError] that says by how many
// characters.
//
// # WIM files
//
// [ParseWIMHeader] reads the 208-byte header of a WIM file (magic
// "MSWIM\0\0\0"; pipable "WLPWM" files are recognised and refused) and
// [WIMHeader.ReadXML] its uncompressed UTF-16LE XML description: image
// count, names, sizes, architecture and Windows version of each image. The
// layout follows wimlib's documentation of the format and is checked in the
// tests against wimlib-imagex.
//
// # Requirements
//
// [MinFreeKB5034441] (250 MiB), [ReAgentcFloor] (WIM + 52 MiB) and
// [Policy] turn the published requirements into numbers: [Policy.Check]
// says whether a partition meets them and by how much it misses, and
// [Policy.TargetPartitionBytes] sizes a partition so that it does, with
// room for a larger WIM in future. Sources: [KB5034441], [KB5028997] and
// the ReAgentc logs summarised in the project's domain notes.
//
// # Security
//
// ReAgent.xml and WIM files come from disk images that may be hostile.
// Inputs are bounded before they are held in memory ([MaxReAgentSize],
// [MaxWIMXMLSize]); every resource offset and size read from a WIM header is
// checked against the file size; numbers are parsed with overflow checks;
// XML is read with encoding/xml, which does not expand external entities.
// Patches never write outside the tag they change; only the Exact ones
// change the file's length. Parsers are fuzzed (FuzzParseReAgent, FuzzPatchLocation,
// FuzzWIMHeader).
//
// [KB5034441]: https://support.microsoft.com/help/5034441
// [KB5028997]: https://support.microsoft.com/help/5028997
package winre
