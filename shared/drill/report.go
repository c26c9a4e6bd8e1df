package drill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a drill run found.
type Report struct {
	// Variant names the set-up ("one NATS server", "three-node NATS cluster").
	Variant string
	// Phases are the table's rows: the warm-up, one per fault, the load
	// after the faults.
	Phases []PhaseReport
	// Total sums the phases.
	Total PhaseReport
	// Notes are lines printed under the table: the drain, the stats
	// comparison, the replica.
	Notes []string
	// Failures are the reasons the drill failed; none means it passed.
	Failures []string
	// Wall is the run's whole time, set-up and teardown included.
	Wall time.Duration
}

// PhaseReport is one row of the table: the events first sent while the
// phase lasted, and what became of them.
type PhaseReport struct {
	// Fault is the fault injected at the phase's start, or "(warm-up)",
	// "(after the faults)", "total".
	Fault string
	// Detail says what exactly was done.
	Detail string
	// At is the injection's time since the load started.
	At time.Duration
	// Sent, Acked, Stored, Lost and Doubled count events: sent in this
	// phase, answered 2xx, stored at least once, answered 2xx and not
	// stored, stored more than once.
	Sent, Acked, Stored, Lost, Doubled int
	// MaxLag is the highest consumer lag (pending + acks pending) sampled.
	MaxLag int64
	// Recovery is the time from injection until the system was whole again
	// (see awaitRecovery); Recovered is false when it never was.
	Recovery  time.Duration
	Recovered bool
	// Retries counts the client's repeated requests by reason.
	Retries [retryReasons]int64
	// StatsAnswers and StatsRefused count the stats watch's queries
	// answered 200 and refused (5xx, or no connection) while it lasted.
	StatsAnswers, StatsRefused int
}

// OK reports whether the drill passed.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// Write prints the report: a Markdown table and its notes.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "\n### %s\n\n", r.Variant)
	rows := [][]string{{"fault", "at", "sent", "acked", "stored", "lost", "doubled", "max lag", "recovered in", "stats answered", "client retries"}}
	for _, p := range append(r.Phases, r.Total) {
		rows = append(rows, p.cells())
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			if i >= 2 && i <= 9 {
				fmt.Fprintf(&b, " %*s |", widths[i], c)
			} else {
				fmt.Fprintf(&b, " %-*s |", widths[i], c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, n := range widths {
		sep[i] = strings.Repeat("-", n)
		if i >= 2 && i <= 9 {
			sep[i] = sep[i][1:] + ":"
		}
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	fmt.Fprintln(w)
	for _, p := range r.Phases {
		if p.Detail != "" {
			fmt.Fprintf(w, "- %s: %s\n", p.Fault, p.Detail)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	fmt.Fprintf(w, "- wall time %s\n", r.Wall.Round(time.Second))
	if r.OK() {
		fmt.Fprintf(w, "\nPASS: %d events answered 2xx, every one stored exactly once; the stats equal the client's own count.\n", r.Total.Acked)
		return
	}
	fmt.Fprintln(w, "\nFAIL:")
	for _, f := range r.Failures {
		fmt.Fprintf(w, "- %s\n", f)
	}
}

func (p PhaseReport) cells() []string {
	at, rec := "", ""
	if p.Fault != "total" {
		at = "+" + p.At.Round(100*time.Millisecond).String()
	}
	if p.Recovery > 0 {
		rec = p.Recovery.Round(100 * time.Millisecond).String()
		if !p.Recovered {
			rec = "not in " + rec
		}
	}
	var retries []string
	for i, n := range p.Retries {
		if n > 0 {
			retries = append(retries, fmt.Sprintf("%s×%d", retryNames[i], n))
		}
	}
	stats := fmt.Sprint(p.StatsAnswers)
	if p.StatsRefused > 0 {
		stats = fmt.Sprintf("%d (%d refused)", p.StatsAnswers, p.StatsRefused)
	}
	return []string{p.Fault, at, fmt.Sprint(p.Sent), fmt.Sprint(p.Acked), fmt.Sprint(p.Stored), fmt.Sprint(p.Lost),
		fmt.Sprint(p.Doubled), fmt.Sprint(p.MaxLag), rec, stats, strings.Join(retries, " ")}
}

func (p *PhaseReport) add(o PhaseReport) {
	p.Sent += o.Sent
	p.Acked += o.Acked
	p.Stored += o.Stored
	p.Lost += o.Lost
	p.Doubled += o.Doubled
	p.MaxLag = max(p.MaxLag, o.MaxLag)
	p.StatsAnswers += o.StatsAnswers
	p.StatsRefused += o.StatsRefused
	for i := range p.Retries {
		p.Retries[i] += o.Retries[i]
	}
}
