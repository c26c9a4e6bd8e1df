package gateway

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/eventfn/eventfn/shared/auth"
)

// Tour returns the ready-to-paste commands printed at start: one event
// sent with the first write key, the three stats (DAU, top events, daily
// retention) read with the first read key, and the dashboard to sign in to
// with it, as configured in API_KEYS (or none with AUTH_DISABLED). Only
// keys made for local development (named *_local_dev, as make run's) are
// printed; others are secrets, which stdout (often a log) must not hold,
// and stand as <write key> and <read key>.
func Tour(baseURL string) string {
	var write, read string
	entries, _ := auth.ParseEntries("API_KEYS", os.Getenv("API_KEYS"))
	for _, e := range entries {
		if e.Role == auth.RoleWrite && write == "" {
			write = e.Key
		}
		if e.Role == auth.RoleRead && read == "" {
			read = e.Key
		}
	}
	authHeader := func(key, role string) string {
		switch {
		case key == "":
			return ""
		case !strings.HasSuffix(key, "_local_dev"):
			key = "<" + role + " key>"
		}
		return fmt.Sprintf(" -H 'Authorization: Bearer %s'", key)
	}
	now := time.Now().UTC()
	var b strings.Builder
	fmt.Fprintf(&b, "eventfn is up at %s/function/<name>\n\nSend an event:\n", baseURL)
	fmt.Fprintf(&b, "  curl -i -X POST %s/function/ingest/%s -H 'Content-Type: application/cloudevents+json' -d '{\"specversion\":\"1.0\",\"id\":\"tour-%d\",\"source\":\"/tour\",\"type\":\"page_view\",\"subject\":\"user-1\",\"data\":{\"path\":\"/\"}}'\n",
		baseURL, authHeader(write, "write"), now.UnixNano())
	from := now.AddDate(0, 0, -6).Format(time.DateOnly)
	to := now.Format(time.DateOnly)
	fmt.Fprintf(&b, "\nRead the stats:\n")
	for _, q := range []struct{ fn, extra string }{{"stats-dau", ""}, {"stats-top", ""}, {"stats-retention", "&interval=day"}} {
		fmt.Fprintf(&b, "  curl '%s/function/%s/?from=%s&to=%s%s'%s\n", baseURL, q.fn, from, to, q.extra, authHeader(read, "read"))
	}
	signIn := "a read key"
	if strings.HasSuffix(read, "_local_dev") {
		signIn = read
	}
	fmt.Fprintf(&b, "\nOr look at them: %s/function/dashboard/ (sign in with %s)\n", baseURL, signIn)
	return b.String()
}
