package rollup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Zones whose clocks jump at or over midnight, fall back to the day
// before (America/Goose_Bay and America/St_Johns at 00:01 until 2010 and
// 2011: a local day begins twice), change by 30 minutes or skip a whole
// day, beside plain ones.
var dayTestZones = []string{
	"America/Santiago", "America/Havana", "America/Asuncion", "Asia/Beirut",
	"America/Goose_Bay", "America/St_Johns",
	"Pacific/Kiritimati", "Pacific/Apia", "Australia/Lord_Howe", "Europe/Kyiv",
	"America/New_York", "Asia/Kathmandu", "UTC",
}

// TestDayStartIsTheFirstInstantOfTheDay holds Start, for every day from
// 1900 to 2040, to the first instant whose local date is that day or
// later, as DayOf, which files each event, reads dates.
func TestDayStartIsTheFirstInstantOfTheDay(t *testing.T) {
	for _, name := range dayTestZones {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		for d := DateDay(1900, 1, 1); d < DateDay(2040, 1, 1); d++ {
			s := d.Start(loc)
			if DayOf(s, loc) < d || DayOf(s.Add(-time.Nanosecond), loc) >= d {
				t.Fatalf("%s: %s starts at %s (%s), the instant before is %s", name, d,
					s.UTC(), s, s.Add(-time.Nanosecond))
			}
		}
	}
}

// TestDayCutsMatchDayOf checks, on every UTC day that holds a change of
// the zone's offset (and the day after), minute by minute and at each cut,
// that the cuts the column path files events by give DayOf's day.
func TestDayCutsMatchDayOf(t *testing.T) {
	for _, name := range dayTestZones {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		c := NewDayCutter(loc)
		check := func(utc Day, sec uint32) {
			at := time.Unix(int64(utc)*86400+int64(sec), 0)
			if got, want := c.Day(utc, sec), DayOf(at, loc); got != want {
				t.Fatalf("%s: at %s the cuts say %s, DayOf %s", name, at.UTC(), got, want)
			}
		}
		end := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
		for at := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); at.Before(end); {
			_, next := at.In(loc).ZoneBounds()
			if next.IsZero() || !next.After(at) || next.After(end) {
				break
			}
			at = next
			first := DayOf(at, time.UTC)
			for utc := first; utc <= first+1; utc++ {
				for sec := uint32(0); sec < 86400; sec += 60 {
					check(utc, sec)
				}
				for _, cut := range DayCuts(utc, loc) {
					check(utc, cut.From)
					if cut.From > 0 {
						check(utc, cut.From-1)
					}
				}
			}
		}
	}
}
