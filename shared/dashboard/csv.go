package dashboard

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/stats"
)

// serveCSV answers dau.csv, top.csv or retention.csv: the numbers of the
// view with the same query, as the stats function's JSON holds them
// (retention long: a row per cohort and period). A refused parameter is a
// 400 with its message as text.
func (d *Dashboard) serveCSV(w http.ResponseWriter, r *http.Request, v view, s session, qs *queries, perr error) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if perr != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintln(w, event.ErrorMessage(perr))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.QueryTimeout)
	defer cancel()
	a, err := d.ask(ctx, s.project, qs)
	if err != nil {
		d.log.Error("dashboard query failed", "request_id", requestID(r), "error", err)
		http.Error(w, "the numbers could not be read; retry later", http.StatusServiceUnavailable)
		return
	}
	var q *stats.Query
	var rows [][]string
	switch v {
	case viewDAU:
		q = qs.dau
		rows = append(rows, []string{"start", "active_users"})
		for _, p := range a.dau.Series {
			rows = append(rows, []string{p.Start, strconv.FormatInt(p.ActiveUsers, 10)})
		}
	case viewTop:
		q = qs.top
		rows = append(rows, []string{"type", "count", "users"})
		for _, e := range a.top.Events {
			rows = append(rows, []string{inertCell(e.Type), strconv.FormatInt(e.Count, 10), strconv.FormatInt(e.Users, 10)})
		}
	default:
		q = qs.retention
		rows = append(rows, []string{"start", "size", "period", "retained", "rate"})
		for _, c := range a.retention.Cohorts {
			for k, n := range c.Retained {
				rows = append(rows, []string{c.Start, strconv.FormatInt(c.Size, 10), strconv.Itoa(k),
					strconv.FormatInt(n, 10), jsonNumber(c.Rates[k])})
			}
		}
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="eventfn-%s-%s-%s-%s.csv"`, s.project, v, q.From, q.To))
	cw := csv.NewWriter(w)
	_ = cw.WriteAll(rows)
}

// inertCell keeps a spreadsheet from running text that senders chose (an
// event type such as "=HYPERLINK(...)") as a formula when the CSV is
// opened: text that starts like one gets a leading apostrophe, as OWASP
// advises. Numbers and dates, which the dashboard writes itself, are
// left as they are.
func inertCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
