package engine

// Phase is what a scan is doing.
type Phase uint32

// The phases of a scan, in order. A scan ends in PhaseDone or PhaseInterrupted.
const (
	PhaseStarting Phase = iota
	PhaseRouting
	PhaseScanning
	PhaseRetrying
	PhaseCoolingDown
	PhaseReplaying
	PhaseDone
	PhaseInterrupted
	PhaseFailed
)

// String returns the phase as progress lines and --status-json show it: "routing",
// "scanning", "retrying", "cooling down", "done", "interrupted", ...
func (p Phase) String() string {
	switch p {
	case PhaseStarting:
		return "starting"
	case PhaseRouting:
		return "routing"
	case PhaseScanning:
		return "scanning"
	case PhaseRetrying:
		return "retrying"
	case PhaseCoolingDown:
		return "cooling down"
	case PhaseReplaying:
		return "replaying"
	case PhaseDone:
		return "done"
	case PhaseInterrupted:
		return "interrupted"
	case PhaseFailed:
		return "failed"
	}
	return "unknown"
}

// MarshalText makes a Phase read as its name in JSON.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
