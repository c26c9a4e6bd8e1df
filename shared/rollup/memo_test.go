package rollup

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// A decoded batch's texts share one string (event.DecodeRecords): a Memo
// that kept one of them would keep the whole batch alive for as long as the
// entry lives.
func TestMemoKeepsItsOwnCopyOfTexts(t *testing.T) {
	batch := strings.Repeat("x", 1<<20) + "shop" + "ann" + "view" + "h1"
	at := len(batch) - len("shopannviewh1")
	project, subject := batch[at:at+4], batch[at+4:at+7]
	name, hash := batch[at+7:at+11], batch[at+11:]
	inBatch := func(s string) bool {
		p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(batch)))
		return p >= b && p < b+uintptr(len(batch))
	}
	require.True(t, inBatch(subject)) // the test's own premise

	m := NewMemo()
	m.Learn(&Learned{
		names: map[nameKey]uint32{{project, NameType, name}: 3},
		props: map[propKey]int64{{project, hash}: 5},
		users: map[userKey]memoUser{{project, subject}: {uid: 7}},
		facts: map[string][]activityKey{"UTC": {{project, 7, 3, 20000}}},
	})
	var kept []string
	for k := range m.names.cur {
		kept = append(kept, k.project, k.name)
	}
	for k := range m.props.cur {
		kept = append(kept, k.project, k.hash)
	}
	for k := range m.users.cur {
		kept = append(kept, k.project, k.subject)
	}
	for k := range m.facts["UTC"].cur {
		kept = append(kept, k.project)
	}
	require.Len(t, kept, 7)
	for _, s := range kept {
		assert.False(t, inBatch(s), "the memo keeps %q inside the batch's text", s)
	}
	// And it still answers by value.
	users := map[userKey]*userState{{"shop", "ann"}: {}}
	m.recall(map[nameKey]uint32{}, nil, nil, users)
	assert.Equal(t, uint32(7), users[userKey{"shop", "ann"}].uid)
}
