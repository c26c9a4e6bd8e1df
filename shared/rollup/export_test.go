package rollup

// ReadNarrowly makes m read by (user, type) the days of every user whose
// history it has seen once, so that tests hold that path to the rebuild
// too, not only the users long enough for it.
func ReadNarrowly(m *Materializer) { m.memo.narrowFactor = 1 }
