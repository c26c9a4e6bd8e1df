package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUpkeepDueFollowsAutovacuumsRules(t *testing.T) {
	// PostgreSQL's defaults.
	off := upkeepSettings{vacuumThreshold: 50, vacuumScale: 0.2, insertThreshold: 1000, insertScale: 0.2,
		analyzeThreshold: 50, analyzeScale: 0.1}
	on := off
	on.autovacuum = true
	noInserts := off
	noInserts.insertThreshold = -1
	for _, c := range []struct {
		name            string
		s               upkeepSettings
		t               tableStats
		vacuum, analyze bool
	}{
		{"off, quiet table", off, tableStats{tuples: 1000, dead: 10, modified: 10, inserted: 10, analyzed: true}, false, false},
		{"off, dead rows past 50+20%", off, tableStats{tuples: 1000, dead: 251, analyzed: true}, true, false},
		{"off, dead rows under 50+20%", off, tableStats{tuples: 1000, dead: 250, analyzed: true}, false, false},
		{"off, inserts past 1000+20%", off, tableStats{tuples: 1000, inserted: 1201, modified: 1201, analyzed: true}, true, true},
		{"off, inserts with insert vacuums disabled", noInserts, tableStats{tuples: 1000, inserted: 1201, analyzed: true}, false, false},
		{"off, changes past 50+10%", off, tableStats{tuples: 1000, modified: 151, analyzed: true}, false, true},
		{"off, a new table", off, tableStats{modified: 51}, false, true},
		{"on, a new table gets its first statistics", on, tableStats{modified: 51}, false, true},
		{"on, an analysed table is autovacuum's", on, tableStats{tuples: 1000, dead: 900, modified: 900, inserted: 900, analyzed: true}, false, false},
		{"on, but off for this table", on, tableStats{tuples: 1000, dead: 900, modified: 900, analyzed: true, autovacuumOff: true}, true, true},
	} {
		vacuum, analyze := c.s.due(c.t)
		assert.Equal(t, c.vacuum, vacuum, c.name+": vacuum")
		assert.Equal(t, c.analyze, analyze, c.name+": analyze")
	}
}
