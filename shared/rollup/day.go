package rollup

import (
	"fmt"
	"time"
)

// Day is a calendar date as a day number: days since 1970-01-01. Rollups
// store days this way, in UTC for columns and in their zone for the
// calendar tables.
type Day int32

// NoDay is the "no previous day" sentinel of rollup_type_prevs.
const NoDay Day = -1 << 31

// DateDay returns the day number of a calendar date; out-of-range months
// and days normalise as in time.Date.
func DateDay(y int, m time.Month, d int) Day {
	return Day(floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400))
}

// DayOf returns the calendar date of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return DateDay(y, m, d)
}

// ParseDay reads a date written YYYY-MM-DD, strictly.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return 0, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return DateDay(t.Date()), nil
}

// Date returns d's year, month and day.
func (d Day) Date() (int, time.Month, int) {
	return time.Unix(int64(d)*86400, 0).UTC().Date()
}

// String writes d as YYYY-MM-DD.
func (d Day) String() string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
}

// Start returns the instant d begins in loc: the first instant whose
// date in loc is d or later. When clocks jump over midnight (America/
// Santiago springs forward at 00:00) d begins at the jump; when they jump
// over the whole of d (Pacific/Kiritimati, 1994-12-31) d is empty and
// begins where the next day does.
func (d Day) Start(loc *time.Location) time.Time {
	y, m, dd := d.Date()
	t := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	// For a midnight that does not exist time.Date answers an instant
	// before the jump, on an earlier date; the day begins at the jump,
	// which is where that instant's zone period ends.
	for DayOf(t, loc) < d {
		_, end := t.ZoneBounds()
		if !end.After(t) {
			break
		}
		t = end
	}
	return t
}

// Grain is a calendar bucket size.
type Grain byte

// Grains of the stats functions.
const (
	GrainDay   Grain = 'd'
	GrainWeek  Grain = 'w'
	GrainMonth Grain = 'm'
)

// Bucket returns the first day of the bucket holding d: d itself, the
// Monday of its week, or the first of its month.
func (g Grain) Bucket(d Day) Day {
	switch g {
	case GrainWeek:
		// 1970-01-01 was a Thursday: 3 days after a Monday.
		return d - Day(floorMod(int64(d)+3, 7))
	case GrainMonth:
		y, m, _ := d.Date()
		return DateDay(y, m, 1)
	default:
		return d
	}
}

// Next returns the first day of the bucket after the one starting at b.
func (g Grain) Next(b Day) Day {
	switch g {
	case GrainWeek:
		return b + 7
	case GrainMonth:
		y, m, _ := b.Date()
		return DateDay(y, m+1, 1)
	default:
		return b + 1
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
