package stats_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/openapitest"
)

// TestBadParametersAnswer400NamingTheParameter checks each rule of the
// query parameters: the answer is 400 with an error starting with the
// parameter's name.
func TestBadParametersAnswer400NamingTheParameter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ok := "from=2026-10-01&to=2026-10-31"
	for _, tc := range []struct {
		name, fn, query, param string
	}{
		{"from missing", "stats-dau", "to=2026-10-31", "from"},
		{"to missing", "stats-top", "from=2026-10-01", "to"},
		{"from not a date", "stats-dau", "from=2026-02-30&to=2026-03-01", "from"},
		{"from not padded", "stats-dau", "from=2026-1-01&to=2026-03-01", "from"},
		{"to a timestamp", "stats-retention", "from=2026-10-01&to=2026-10-31T00:00:00Z", "to"},
		{"to before from", "stats-dau", "from=2026-10-02&to=2026-10-01", "to"},
		{"over 400 days", "stats-top", "from=2025-01-01&to=2026-02-06", "to"},
		{"unknown zone", "stats-dau", ok + "&tz=Mars/Olympus", "tz"},
		{"Local is no zone", "stats-dau", ok + "&tz=Local", "tz"},
		{"empty zone", "stats-dau", ok + "&tz=", "tz"},
		{"interval year", "stats-dau", ok + "&interval=year", "interval"},
		{"retention by month", "stats-retention", ok + "&interval=month", "interval"},
		{"limit 0", "stats-top", ok + "&limit=0", "limit"},
		{"limit 1001", "stats-top", ok + "&limit=1001", "limit"},
		{"limit not a number", "stats-top", ok + "&limit=ten", "limit"},
		{"periods 0", "stats-retention", ok + "&periods=0", "periods"},
		{"periods 53", "stats-retention", ok + "&periods=53", "periods"},
		{"limit on dau", "stats-dau", ok + "&limit=5", "limit"},
		{"periods on top", "stats-top", ok + "&periods=5", "periods"},
		{"misspelt", "stats-dau", ok + "&intreval=day", "intreval"},
		{"from twice", "stats-dau", ok + "&from=2026-10-02", "from"},
		{"two sources", "stats-top", ok + "&source=a&source=b", "source"},
		{"empty source", "stats-top", ok + "&source=", "source"},
		{"empty type", "stats-dau", ok + "&type=", "type"},
		{"empty start_type", "stats-retention", ok + "&start_type=", "start_type"},
		// A filter is never silently ignored: retention's types are start_type and return_type.
		{"type on retention", "stats-retention", ok + "&type=click", "type"},
		{"type on retention beside start_type", "stats-retention", ok + "&start_type=signup&type=click", "type"},
		{"property without key", "stats-dau", ok + "&prop.=pro", "prop."},
		{"bad escape", "stats-dau", ok + "&type=%zz", "query string"},
		// PostgreSQL's text holds neither: a lookup would be an error.
		{"NUL in type", "stats-top", ok + "&type=%00", "type"},
		{"not UTF-8 type", "stats-dau", ok + "&type=%ff%fe", "type"},
		{"NUL in source", "stats-top", ok + "&source=a%00", "source"},
		{"NUL in start_type", "stats-retention", ok + "&start_type=%00", "start_type"},
		{"not UTF-8 return_type", "stats-retention", ok + "&return_type=%ff", "return_type"},
		{"zone as a path", "stats-dau", ok + "&tz=.%2FUTC", "tz"},
		{"zone with a space", "stats-dau", ok + "&tz=Etc/GMT%205x", "tz"},
	} {
		a := get(t, f.urls[tc.fn]+"/?"+tc.query, readKey)
		if !assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", tc.name, a.body) {
			continue
		}
		var body struct{ Error string }
		require.NoError(t, json.Unmarshal(a.body, &body))
		assert.True(t, strings.HasPrefix(body.Error, tc.param+":"), "%s: %q should start with %q", tc.name, body.Error, tc.param+":")
		if strings.HasPrefix(tc.name, "type on retention") {
			assert.Contains(t, body.Error, "start_type", "the refusal names the parameters to use")
			assert.Contains(t, body.Error, "return_type")
		}
	}

	// The limits themselves are accepted.
	for _, q := range []string{
		"stats-top/?from=2025-01-01&to=2026-02-05&limit=1000",
		"stats-top/?from=2026-10-01&to=2026-10-01&limit=1",
		"stats-retention/?from=2026-10-01&to=2026-10-31&periods=52&interval=day",
		"stats-retention/?from=2026-10-01&to=2026-10-31&periods=1",
		"stats-dau/?from=2026-10-01&to=2026-10-31&tz=America/Argentina/Buenos_Aires&prop.x=",
		"stats-dau/?from=2026-10-01&to=2026-10-31&tz=Etc/GMT+5", // + read as a space, taken back
	} {
		fn, query, _ := strings.Cut(q, "/?")
		a := get(t, f.urls[fn]+"/?"+query, readKey)
		assert.Equal(t, http.StatusOK, a.status, "%s: %s", q, a.body)
	}
}

// TestAuthAndMethods checks keys and roles (contract §3) and that only GET
// is served.
func TestAuthAndMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	q := "/?from=2026-10-01&to=2026-10-31"
	for _, fn := range functionNames {
		assert.Equal(t, http.StatusUnauthorized, get(t, f.urls[fn]+q, "").status, fn)
		assert.Equal(t, http.StatusUnauthorized, get(t, f.urls[fn]+q, "rk_unknown").status, fn)
		assert.Equal(t, http.StatusForbidden, get(t, f.urls[fn]+q, writeKey).status, fn)
		// Auth comes before parameters: nothing is told to an unknown key.
		assert.Equal(t, http.StatusUnauthorized, get(t, f.urls[fn]+"/?from=x", "").status, fn)
		resp, err := openapitest.ClientFor(t, f.urls[fn]).Post(f.urls[fn]+q, "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, fn)
		for _, path := range []string{"/openapi.json", "/readyz", "/healthz"} {
			resp, err := openapitest.ClientFor(t, f.urls[fn]).Get(f.urls[fn] + path)
			require.NoError(t, err)
			var doc map[string]any
			assert.NoError(t, json.NewDecoder(resp.Body).Decode(&doc), "%s%s", fn, path)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s%s", fn, path)
			if path == "/openapi.json" {
				assert.Equal(t, "3.1.0", doc["openapi"], fn)
			}
		}
	}
}
