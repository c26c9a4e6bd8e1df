package rollup

import "time"

// Phase is one part of a materialization step. Drain reports the time
// each took (StepDone), and consume-batch exports them
// (eventfn_rollup_phase_seconds_total): when the rollups fall behind,
// they tell an operator whether PostgreSQL's writes, its reads or the
// process's own work take the time.
type Phase int

// The phases, in the order a step goes through them.
const (
	// PhaseClaim reads and decodes the chunk's feed rows.
	PhaseClaim Phase = iota
	// PhasePrepare parses properties and gathers names and users.
	PhasePrepare
	// PhaseWait waits for this process's other step to apply its chunk.
	PhaseWait
	// PhaseLock takes the rollups' writer lock and counts the change.
	PhaseLock
	// PhaseNames gives types, sources and property values their ids.
	PhaseNames
	// PhaseUsers gives users their ids and reads their first events.
	PhaseUsers
	// PhaseColumns writes the columns.
	PhaseColumns
	// PhaseFirstSeen moves users' first events back and logs them.
	PhaseFirstSeen
	// PhaseStoredDays reads the users' stored active days.
	PhaseStoredDays
	// PhaseCalendar works out the calendar rollups' changes.
	PhaseCalendar
	// PhaseUserDays writes the new active days (rollup_user_days).
	PhaseUserDays
	// PhaseCounters writes the calendar counters.
	PhaseCounters
	// PhaseCommit advances the feed and commits.
	PhaseCommit

	numPhases
)

var phaseNames = [numPhases]string{
	"claim", "prepare", "wait", "lock", "names", "users", "columns",
	"first_seen", "stored_days", "calendar", "user_days", "counters", "commit",
}

// String returns the phase's name, as the metric's label holds it.
func (p Phase) String() string { return phaseNames[p] }

// Phases returns every phase, in step order.
func Phases() []Phase {
	out := make([]Phase, numPhases)
	for i := range out {
		out[i] = Phase(i)
	}
	return out
}

// StepTimes are the time a step spent in each phase (by Phase).
type StepTimes [numPhases]time.Duration

// StepDone is what Drain reports of each step.
type StepDone struct {
	// Events is how many events the step moved into the rollups.
	Events int
	// Took is the step's whole time, Times its parts.
	Took  time.Duration
	Times StepTimes
}

// clock charges the time between its laps to phases. A nil clock does
// nothing: Apply outside a Materializer is not timed.
type clock struct {
	times *StepTimes
	last  time.Time
}

func newClock(times *StepTimes) *clock {
	return &clock{times: times, last: time.Now()}
}

// lap charges the time since the last lap (or the clock's start) to p.
func (c *clock) lap(p Phase) {
	if c == nil {
		return
	}
	now := time.Now()
	c.times[p] += now.Sub(c.last)
	c.last = now
}
