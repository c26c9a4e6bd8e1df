package rollup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGenerationsForgetTheOlderHalf(t *testing.T) {
	g := generations[int, int]{limit: 2}
	for i := range 5 {
		g.put(i, i*10)
	}
	// 0..3 filled two generations; 4 started a third, dropping 0 and 1.
	for i, want := range []bool{false, false, true, true, true} {
		v, ok := g.get(i)
		assert.Equal(t, want, ok, "key %d", i)
		if ok {
			assert.Equal(t, i*10, v)
		}
	}
	g.put(3, 31) // an update does not start a generation
	v, _ := g.get(3)
	assert.Equal(t, 31, v)
}

func TestMemoMarksRepeatsQuiet(t *testing.T) {
	utc := zone{"UTC", time.UTC}
	kyiv, err := LoadZone("Europe/Kyiv")
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	day := DayOf(first, time.UTC)
	m := NewMemo()
	m.Learn(&Learned{
		users: map[userKey]memoUser{{"shop", "ann"}: {uid: 7, first: first}},
		facts: map[string][]activityKey{"UTC": {{"shop", 7, 3, day}}},
	})
	names := map[nameKey]uint32{{"shop", NameType, "view"}: 3, {"shop", NameType, "buy"}: 4}
	ev := func(typ string, at time.Time) Event {
		return Event{Project: "shop", Type: typ, Subject: "ann", Time: at}
	}
	mark := func(zones []zone, evs ...Event) ([]bool, bool) {
		users := map[userKey]*userState{}
		for _, e := range evs {
			k := userKey{e.Project, e.Subject}
			if u := users[k]; u == nil {
				users[k] = &userState{first: e.Time}
			} else if e.Time.Before(u.first) {
				u.first = e.Time
			}
		}
		m.recall(names, nil, nil, users)
		quiet := m.markQuiet(zones, evs, names, users)
		return quiet, users[userKey{"shop", "ann"}].quiet
	}

	for _, tc := range []struct {
		name      string
		zones     []zone
		evs       []Event
		quiet     []bool
		userQuiet bool
	}{
		{"a stored activity again", []zone{utc}, []Event{ev("view", first.Add(time.Hour))}, []bool{true}, true},
		{"another type the same day", []zone{utc}, []Event{ev("view", first.Add(time.Hour)), ev("buy", first.Add(time.Hour))}, []bool{true, false}, false},
		{"another day", []zone{utc}, []Event{ev("view", first.Add(24*time.Hour))}, []bool{false}, false},
		{"before the known first event", []zone{utc}, []Event{ev("view", first.Add(-time.Hour))}, []bool{true}, false},
		{"a zone the memo never saw", []zone{{"Europe/Kyiv", kyiv}, utc}, []Event{ev("view", first.Add(time.Hour))}, []bool{false}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quiet, userQuiet := mark(tc.zones, tc.evs...)
			assert.Equal(t, tc.quiet, quiet)
			assert.Equal(t, tc.userQuiet, userQuiet)
		})
	}

	var none *Memo
	users := map[userKey]*userState{{"shop", "ann"}: {first: first}}
	assert.Equal(t, []bool{false}, none.markQuiet([]zone{utc}, []Event{ev("view", first)}, names, users), "no memo, nothing quiet")
}
