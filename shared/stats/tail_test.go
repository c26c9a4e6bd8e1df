package stats

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

// TestATailsDaysHoldEachEventOnceTypesTogether groups random events by
// day: each day's batch must hold exactly that day's events, each type's
// together, and its positions the day's events in the tail's order.
func TestATailsDaysHoldEachEventOnceTypesTogether(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	// The last: late events over many days and types, too many pairs
	// for a grid of them.
	for _, c := range []struct{ n, days, types int }{{0, 12, 4}, {1, 12, 4}, {7, 12, 4}, {5000, 12, 4}, {3000, 2000, 2000}} {
		n := c.n
		evs := make([]tailEvent, n)
		for i := range evs {
			typeID := uint32(r.IntN(c.types))
			if typeID%3 == 0 {
				typeID += tempIDs // a type only the tail has
			}
			evs[i] = tailEvent{utcDay: rollup.Day(20000 + r.IntN(c.days)), uid: r.Uint32N(300), sec: r.Uint32N(86400), typeID: typeID}
			if r.IntN(3) == 0 && i > 0 { // runs of one day, as a feed row holds them
				evs[i].utcDay = evs[i-1].utcDay
			}
		}
		days := groupByDay(evs)
		type ev struct{ uid, sec, typeID uint32 }
		seen := 0
		for k, d := range days {
			if k > 0 {
				require.Less(t, days[k-1].all.utcDay, d.all.utcDay, "days ascending")
			}
			require.True(t, slices.IsSorted(d.at), "positions in the tail's order")
			var want, got []ev
			for _, i := range d.at {
				require.Equal(t, d.all.utcDay, evs[i].utcDay)
				want = append(want, ev{evs[i].uid, evs[i].sec, evs[i].typeID})
			}
			done := map[uint32]bool{}
			for j := range d.all.uids {
				got = append(got, ev{d.all.uids[j], d.all.secs[j], d.all.types[j]})
				if j > 0 && d.all.types[j] != d.all.types[j-1] {
					require.False(t, done[d.all.types[j]], "type %d's events together", d.all.types[j])
					done[d.all.types[j-1]] = true
				}
			}
			cmpEv := func(a, b ev) int {
				if a.typeID != b.typeID {
					return int(int64(a.typeID) - int64(b.typeID))
				}
				if a.uid != b.uid {
					return int(a.uid) - int(b.uid)
				}
				return int(a.sec) - int(b.sec)
			}
			slices.SortFunc(want, cmpEv)
			slices.SortFunc(got, cmpEv)
			require.Equal(t, want, got, "day %d's batch holds its events", d.all.utcDay)
			seen += len(d.at)
		}
		require.Equal(t, n, seen, "every event in one day")
	}
}
