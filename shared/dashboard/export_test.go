package dashboard

import (
	"context"
	"io"
	"net/http/httptest"
	"net/url"

	"github.com/eventfn/eventfn/shared/serve"
)

// PageCost returns the page's own work for view overview of project at
// query raw, once its answers are in: building the charts and tables
// from the answers and rendering the HTML into w. The answers are asked
// once, here.
func PageCost(ctx context.Context, fn *serve.Function, project, raw string) (func(w io.Writer) error, error) {
	d := fn.Pages.(*Dashboard)
	vals, _ := url.ParseQuery(raw)
	qs, err := parseView(viewOverview, raw, vals, d.cfg.MaxRangeDays)
	if err != nil {
		return nil, err
	}
	a, err := d.ask(ctx, project, qs)
	if err != nil {
		return nil, err
	}
	r := httptest.NewRequest("GET", "/overview?"+raw, nil)
	s := session{project: project}
	return func(w io.Writer) error {
		p := d.newPage(r, s, viewOverview, vals)
		build(p, a, qs)
		return d.pages.ExecuteTemplate(w, "page", p)
	}, nil
}
