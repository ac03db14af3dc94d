package planner

// Code is the stable kebab-case identifier of a refusal reason. Codes
// never change meaning; new ones may be added.
type Code string

// Refusal codes.
const (
	CodeBitLockerOS     Code = "bitlocker-os"     // C: is BitLocker-encrypted and the plan must change it
	CodeBitLockerWinRE  Code = "bitlocker-winre"  // the WinRE volume is BitLocker-encrypted
	CodeHibernated      Code = "hibernated"       // a volume holds a hibernation (Fast Startup) image
	CodeDirty           Code = "dirty"            // a volume to change has the NTFS dirty flag
	CodeLogNotClean     Code = "log-not-clean"    // a volume to change has an unclean $LogFile
	CodeOSTailInUse     Code = "os-tail-in-use"   // C:'s tail holds data where WinRE must grow
	CodeNoRoom          Code = "no-room"          // no placement of WinRE fits on the disk
	CodeInvalidTable    Code = "invalid-table"    // the partition table has errors
	CodeUnknownLayout   Code = "unknown-layout"   // the OS or the active WinRE cannot be told
	CodeDeviceTooSmall  Code = "device-too-small" // the device is shorter than its table says
	CodeWinREInsideOS   Code = "winre-inside-os"  // WinRE lives on C: (or System Reserved), no partition to grow
	CodeWinREDisabled   Code = "winre-disabled"   // WinRE is disabled: winre.wim sits on C:
	CodeBCDMove         Code = "bcd-move"         // an MBR move would invalidate the BCD
	CodeUnsupportedDisk Code = "unsupported-disk" // no partition table this planner handles
)

// Reason says why a plan was refused and what to do about it.
type Reason struct {
	// Code is the stable identifier.
	Code Code
	// Message says what was found, with numbers.
	Message string
	// Suggestion says what to do instead ("" when nothing can be said).
	Suggestion string
}

// String renders the reason on one line.
func (r Reason) String() string {
	s := string(r.Code) + ": " + r.Message
	if r.Suggestion != "" {
		s += " (" + r.Suggestion + ")"
	}
	return s
}
