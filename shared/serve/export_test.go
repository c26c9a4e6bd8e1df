package serve

import "time"

// SetBodyTimeout sets bodyTimeout for a test and returns the undo.
func SetBodyTimeout(d time.Duration) func() {
	old := bodyTimeout
	bodyTimeout = d
	return func() { bodyTimeout = old }
}
