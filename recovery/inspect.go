package recovery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/winrepart/winrepart/diag"
	"github.com/winrepart/winrepart/gpt"
	"github.com/winrepart/winrepart/mbr"
	"github.com/winrepart/winrepart/recovery/ntfs"
	"github.com/winrepart/winrepart/winre"
)

// Options tunes Inspect.
type Options struct {
	// TableOnly stops after the partition table: no filesystems, roles or
	// WinRE verdict.
	TableOnly bool
	// Policy is the WinRE sizing policy the verdict is measured against;
	// the zero value means winre.DefaultPolicy().
	Policy *winre.Policy
	// FullUsageLimit is the largest $Bitmap, in bytes, read in full to count
	// used and free clusters (default 8 MiB: volumes up to 256 GiB with 4 KiB
	// clusters). Larger volumes report UsedBytes and FreeBytes as -1 unless
	// they hold winre.wim, and scan only the last FullUsageLimit bytes of
	// their bitmap for ShrinkableBytes and LastUsedCluster: when that tail is
	// free, both are conservative bounds (at least that much can shrink).
	// This keeps inspecting a multi-terabyte disk to a bounded read.
	FullUsageLimit int64
}

// Paths Windows uses for WinRE.
const (
	pathSystem32      = `\Windows\System32`
	pathReAgent       = `\Windows\System32\Recovery\ReAgent.xml`
	pathWIMOnOS       = `\Windows\System32\Recovery\winre.wim`
	pathWinREFolder   = `\Recovery\WindowsRE`
	maxReAgentBytes   = 1 << 20
	oemRecoveryBytes  = 2 << 30 // a recovery-typed partition larger than this is an OEM image
	defaultUsageLimit = 8 << 20
)

// Inspect reads a Windows disk: its partition table, the filesystem of
// every partition, which partition plays which role, where WinRE is and
// whether it has the room KB5034441 needs. It reads metadata only, never
// writes, and reports what it finds wrong as Problems; it fails only when
// no partition table can be read.
func Inspect(ctx context.Context, dev Device, opts Options) (*Layout, error) {
	l, err := ReadTable(dev, dev.Size(), dev.SectorSize())
	if err != nil {
		return nil, err
	}
	if p, ok := dev.(interface{ PhysicalSectorSize() int }); ok {
		l.PhysicalSectorSize = p.PhysicalSectorSize()
	}
	if opts.TableOnly {
		return l, nil
	}
	policy := winre.DefaultPolicy()
	if opts.Policy != nil {
		policy = *opts.Policy
	}
	if opts.FullUsageLimit == 0 {
		opts.FullUsageLimit = defaultUsageLimit
	}
	in := &inspector{l: l, dev: dev, opts: opts, vols: map[int]*ntfs.Volume{}}
	for i := range l.Partitions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.examine(&l.Partitions[i])
	}
	in.assignRoles()
	in.findWinRE(policy)
	in.findBCD()
	sortProblems(l.Problems)
	return l, nil
}

type inspector struct {
	l    *Layout
	dev  Device
	opts Options
	vols map[int]*ntfs.Volume // open NTFS volumes by partition number
	// reagent is the parsed ReAgent.xml of the OS partition, if any.
	reagent     *winre.ReAgent
	reagentPart int
}

func (in *inspector) problem(code diag.Code, sev diag.Severity, remedy, format string, args ...any) {
	in.l.problem(code, sev, remedy, format, args...)
}

func (in *inspector) section(p *Partition) *io.SectionReader {
	ss := in.l.SectorSize
	return io.NewSectionReader(in.dev, p.StartBytes(ss), p.SizeBytes)
}

// examine looks at the filesystem in p.
func (in *inspector) examine(p *Partition) {
	if p.Extended {
		return
	}
	if in.l.Scheme == SchemeGPT && p.GPTType == gpt.TypeMSR {
		return
	}
	if p.EndBytes(in.l.SectorSize) > in.l.SizeBytes {
		p.FS = &Filesystem{Kind: FSUnknown, UsedBytes: -1, FreeBytes: -1, LastUsedCluster: -1, Err: "partition extends past the end of the disk"}
		return
	}
	sec := in.section(p)
	head := make([]byte, ntfs.BootSectorSize)
	if _, err := sec.ReadAt(head, 0); err != nil {
		p.FS = &Filesystem{Kind: FSUnknown, UsedBytes: -1, FreeBytes: -1, LastUsedCluster: -1, Err: err.Error()}
		return
	}
	switch {
	case bytes.Equal(head[3:11], []byte("-FVE-FS-")):
		p.FS = &Filesystem{Kind: FSBitLocker, BitLocker: true, UsedBytes: -1, FreeBytes: -1, LastUsedCluster: -1, TotalBytes: p.SizeBytes}
	case bytes.Equal(head[3:11], []byte("NTFS    ")):
		p.FS = in.examineNTFS(p, sec)
	default:
		p.FS = examineFAT(head, p.SizeBytes)
	}
}

func (in *inspector) examineNTFS(p *Partition, sec *io.SectionReader) *Filesystem {
	fs := &Filesystem{Kind: FSNTFS, UsedBytes: -1, FreeBytes: -1, LastUsedCluster: -1}
	v, err := ntfs.Open(sec, p.SizeBytes)
	if err != nil {
		if errors.Is(err, ntfs.ErrBitLocker) || errors.Is(err, ntfs.ErrBitLockerToGo) {
			fs.Kind, fs.BitLocker = FSBitLocker, true
			return fs
		}
		fs.Err = err.Error()
		var ge *ntfs.GeometryError
		if errors.As(err, &ge) && ge.Field == "TotalSectors" {
			in.problem(ProblemVolumeExceedsPartition, diag.Error, remedyInterrupted+"; otherwise give the partition back the end its volume needs",
				"partition %d: its NTFS volume is larger than the partition (%d sectors, the partition holds %d): the table was changed without the volume, and the volume's end is cut off",
				p.Number, ge.Value, ge.Limit)
			return fs
		}
		in.problem(ProblemNTFSUnreadable, diag.Warning, "run chkdsk /f on the volume in Windows",
			"partition %d: NTFS volume could not be opened: %v", p.Number, err)
		return fs
	}
	in.vols[p.Number] = v
	fs.ClusterSize = v.ClusterSize()
	fs.TotalBytes = v.Boot.VolumeSize()
	defer in.checkVolumeEnd(p, fs)
	var errs []string
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, what+": "+err.Error())
		}
	}
	if maj, min, err := v.Version(); err == nil {
		fs.Version = fmt.Sprintf("%d.%d", maj, min)
	} else {
		note("version", err)
	}
	label, err := v.Label()
	note("label", err)
	fs.Label = label
	fs.Dirty, err = v.Dirty()
	note("dirty flag", err)
	fs.LogFileClean, err = v.LogFileClean()
	note("$LogFile", err)
	fs.Hibernated, err = v.Hibernated()
	note("hiberfil.sys", err)

	bitmapBytes := (v.TotalClusters() + 7) / 8
	if bitmapBytes <= in.opts.FullUsageLimit {
		in.fillUsage(fs, v)
	} else {
		// Scan only the last FullUsageLimit bytes of $Bitmap. When that
		// tail is all free, assume the cluster just below it is used: the
		// figures are then safe bounds (shrinkable at least this much),
		// and the bytes read do not grow with the volume.
		floor := v.TotalClusters() - in.opts.FullUsageLimit*8
		last, _, err := v.LastUsedClusterFrom(floor)
		note("bitmap tail", err)
		if err == nil {
			fs.LastUsedCluster = last
		}
	}
	if fs.LastUsedCluster >= 0 || fs.UsedBytes == 0 {
		// As ntfsresize figures it: every cluster up to the last used one,
		// one more, and the backup boot sector (see ntfs.Volume.ShrinkLimit).
		fs.ShrinkableBytes = max(0, p.SizeBytes-(fs.LastUsedCluster+2)*fs.ClusterSize)
	}
	fs.Err = strings.Join(errs, "; ")
	return fs
}

// remedyInterrupted starts the remedy of the problems an interrupted
// change of the disk leaves behind.
const remedyInterrupted = "if a change of this disk was interrupted, recover with the journal it left before anything else"

// slackLimit is how far an NTFS volume may end before its partition
// without comment. Windows and mkntfs leave one sector (the backup boot
// sector); alignment can leave a little more.
const slackLimit = 1 << 20

// checkVolumeEnd reports an NTFS volume that ends well before its
// partition (see [ProblemVolumeSmallerThanPartition]).
func (in *inspector) checkVolumeEnd(p *Partition, fs *Filesystem) {
	slack := p.SizeBytes - fs.TotalBytes
	if slack <= slackLimit {
		if fs.Dirty {
			in.problem(ProblemVolumeDirty, diag.Warning, remedyInterrupted+"; otherwise boot Windows once so that chkdsk checks the volume",
				"partition %d: its NTFS volume is marked dirty: Windows checks it at its next boot (resizing tools set the flag on purpose; an interrupted change leaves it too)", p.Number)
		}
		return
	}
	if fs.Dirty {
		in.problem(ProblemVolumeSmallerThanPartition, diag.Error, remedyInterrupted+"; otherwise let Windows check the volume (chkdsk) and extend it to fill its partition",
			"partition %d: its NTFS volume ends %s before the partition and is marked dirty: a resize of it was interrupted, or done without its partition",
			p.Number, diag.FormatBytes(slack))
		return
	}
	in.problem(ProblemVolumeSmallerThanPartition, diag.Warning, "extend the volume to fill its partition (Windows: Disk Management, Extend Volume)",
		"partition %d: its NTFS volume ends %s before the partition; that space is unused", p.Number, diag.FormatBytes(slack))
}

// fillUsage reads the whole bitmap of v into fs's used/free figures.
func (in *inspector) fillUsage(fs *Filesystem, v *ntfs.Volume) {
	u, err := v.Usage()
	if err != nil {
		if fs.Err != "" {
			fs.Err += "; "
		}
		fs.Err += "bitmap: " + err.Error()
		return
	}
	fs.UsedBytes = u.UsedClusters * u.ClusterSize
	fs.FreeBytes = u.FreeClusters * u.ClusterSize
	fs.LastUsedCluster = u.LastUsedCluster
}

// examineFAT recognises FAT12/16/32 boot sectors (the ESP, OEM tool
// partitions); it reports the kind and label only.
func examineFAT(b []byte, size int64) *Filesystem {
	fs := &Filesystem{Kind: FSUnknown, UsedBytes: -1, FreeBytes: -1, LastUsedCluster: -1, TotalBytes: size}
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return fs
	}
	switch {
	case bytes.HasPrefix(b[0x52:], []byte("FAT32")):
		fs.Kind = FSFAT
		fs.Label = strings.TrimRight(string(b[0x47:0x52]), " \x00")
	case bytes.HasPrefix(b[0x36:], []byte("FAT1")):
		fs.Kind = FSFAT
		fs.Label = strings.TrimRight(string(b[0x2B:0x36]), " \x00")
	}
	if fs.Label == "NO NAME" {
		fs.Label = ""
	}
	return fs
}

// holds reports whether the NTFS volume of partition n has path.
func (in *inspector) holds(n int, path string) (*ntfs.File, bool) {
	v := in.vols[n]
	if v == nil {
		return nil, false
	}
	f, err := v.Lookup(path)
	return f, err == nil
}

func isRecoveryType(l *Layout, p *Partition) bool {
	if l.Scheme == SchemeGPT {
		return p.GPTType == gpt.TypeWinRE
	}
	return p.MBRType == mbr.TypeWinRE
}

var oemNames = []string{"image", "dellsupport", "dell", "sr_image", "sr_aed", "hp_tools", "hp_recovery", "lenovo", "oem", "winretools", "restore", "support", "factory"}

func looksOEM(p *Partition) bool {
	name := strings.ToLower(p.Name)
	if p.FS != nil && name == "" {
		name = strings.ToLower(p.FS.Label)
	}
	for _, n := range oemNames {
		if strings.Contains(name, n) {
			return true
		}
	}
	return false
}

// assignRoles gives every partition a role except the WinRE ones, which
// findWinRE decides once ReAgent.xml has been read.
func (in *inspector) assignRoles() {
	l := in.l
	for i := range l.Partitions {
		p := &l.Partitions[i]
		switch {
		case p.Extended:
			p.Role, p.RoleReason = RoleUnknown, "extended partition: a container of logical partitions"
		case l.Scheme == SchemeGPT && p.GPTType == gpt.TypeESP, l.Scheme == SchemeMBR && p.MBRType == mbr.TypeEFISystem:
			p.Role, p.RoleReason = RoleESP, "EFI system partition type"
		case l.Scheme == SchemeGPT && p.GPTType == gpt.TypeMSR:
			p.Role, p.RoleReason = RoleMSR, "Microsoft reserved partition type"
		case isRecoveryType(l, p):
			p.Role, p.RoleReason = RoleRecovery, "recovery partition type" // refined by findWinRE
		case l.Scheme == SchemeMBR && (p.MBRType == mbr.TypeCompaqDiag || p.MBRType == mbr.TypeIntelRapidStart || p.MBRType == mbr.TypeDellUtility):
			p.Role, p.RoleReason = RoleOEM, fmt.Sprintf("OEM partition type %s", p.MBRType)
		default:
			in.roleOfVolume(p)
		}
	}
	// The OS: the volume holding \Windows\System32; with several, the one
	// holding ReAgent.xml wins, then the first.
	var osCandidates []int
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if _, ok := in.holds(p.Number, pathSystem32); ok && !isRecoveryType(l, p) {
			osCandidates = append(osCandidates, p.Number)
		}
	}
	chosen := 0
	for _, n := range osCandidates {
		if _, ok := in.holds(n, pathReAgent); ok {
			chosen = n
			break
		}
	}
	if chosen == 0 && len(osCandidates) > 0 {
		chosen = osCandidates[0]
	}
	if len(osCandidates) > 1 {
		in.problem(ProblemSeveralWindows, diag.Warning, "check which installation boots; the planner works on the one named here",
			"%d partitions hold \\Windows\\System32 (%v); partition %d is taken as C:", len(osCandidates), osCandidates, chosen)
	}
	if chosen > 0 {
		p := l.Partition(chosen)
		p.Role, p.RoleReason = RoleOS, `NTFS volume holding \Windows\System32`
		l.OS = chosen
		return
	}
	// No readable Windows: a single BitLocker-encrypted data volume is
	// almost certainly C:, and saying so lets the planner refuse for the
	// right reason (BitLocker) instead of an unknown layout.
	var locked []int
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if p.FS != nil && p.FS.BitLocker && !isRecoveryType(l, p) && p.Role == RoleData {
			locked = append(locked, p.Number)
		}
	}
	if len(locked) == 1 {
		p := l.Partition(locked[0])
		p.Role, p.RoleReason = RoleOS, "the only BitLocker-encrypted data volume, and no readable Windows volume: presumably C: (its content cannot be read offline)"
		l.OS = p.Number
		in.problem(ProblemOSBitLocker, diag.Warning, "suspend BitLocker and fix WinRE from Windows (the Windows-side script), or decrypt C: first",
			"C: (partition %d) is BitLocker-encrypted: ReAgent.xml cannot be read and C: cannot be shrunk offline", p.Number)
	}
}

func (in *inspector) roleOfVolume(p *Partition) {
	l := in.l
	switch {
	case p.FS != nil && p.FS.BitLocker:
		p.Role, p.RoleReason = RoleData, "BitLocker-encrypted volume (contents unknown)"
	case l.Scheme == SchemeMBR && p.Bootable && p.FS != nil && p.FS.Kind == FSNTFS && !in.hasWindows(p):
		p.Role, p.RoleReason = RoleSystem, "active NTFS partition without Windows: System Reserved (boot files)"
	case looksOEM(p):
		p.Role, p.RoleReason = RoleOEM, fmt.Sprintf("vendor name %q", firstNonEmpty(p.Name, labelOf(p)))
	case p.FS != nil && (p.FS.Kind == FSNTFS || p.FS.Kind == FSFAT):
		p.Role, p.RoleReason = RoleData, fmt.Sprintf("%s volume", p.FS.Kind)
	case l.Scheme == SchemeGPT && p.GPTType == gpt.TypeBasicData:
		p.Role, p.RoleReason = RoleData, "basic data partition type"
	default:
		p.Role, p.RoleReason = RoleUnknown, "no known type or filesystem"
	}
}

func (in *inspector) hasWindows(p *Partition) bool {
	_, ok := in.holds(p.Number, pathSystem32)
	return ok
}

func labelOf(p *Partition) string {
	if p.FS == nil {
		return ""
	}
	return p.FS.Label
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// sortProblems orders problems errors first, keeping the order of
// discovery within a severity.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(b.Severity, a.Severity) })
}
