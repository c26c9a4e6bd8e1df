package dashboard_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/eventfn/eventfn/shared/stats"
)

// pageNumbers are the §9 tables of a page, read back from its HTML by the
// data-* attributes the contract names.
type pageNumbers struct {
	dau       []stats.DAUPoint
	top       []stats.TopEvent
	retention []stats.Cohort
	// views lists the tables present, by data-view.
	views map[string]bool
}

// readNumbers parses page and returns its tables' numbers. Every number
// attribute must be written as the stats JSON writes it: integers in
// decimal, rates as encoding/json formats a float64.
func readNumbers(t testing.TB, page string) pageNumbers {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	out := pageNumbers{views: map[string]bool{}}
	integer := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "%q is not an integer", s)
		require.Equal(t, strconv.FormatInt(n, 10), s, "an integer as JSON writes it")
		return n
	}
	var walk func(n *html.Node, table string)
	walk = func(n *html.Node, table string) {
		if n.Type == html.ElementNode {
			a := attrs(n)
			switch {
			case n.Data == "table" && a["data-view"] != "":
				table = a["data-view"]
				out.views[table] = true
			case n.Data == "tr" && table == "dau" && a["data-start"] != "":
				out.dau = append(out.dau, stats.DAUPoint{Start: a["data-start"], ActiveUsers: integer(a["data-value"])})
			case n.Data == "tr" && table == "top" && a["data-count"] != "":
				out.top = append(out.top, stats.TopEvent{Type: a["data-type"], Count: integer(a["data-count"]), Users: integer(a["data-users"])})
			case n.Data == "tr" && table == "retention" && a["data-start"] != "":
				out.retention = append(out.retention, stats.Cohort{Start: a["data-start"], Size: integer(a["data-size"]), Retained: []int64{}, Rates: []float64{}})
			case n.Data == "td" && table == "retention" && a["data-period"] != "":
				c := &out.retention[len(out.retention)-1]
				require.Equal(t, strconv.Itoa(len(c.Retained)), a["data-period"], "periods in order")
				rate, err := strconv.ParseFloat(a["data-rate"], 64)
				require.NoError(t, err)
				b, _ := json.Marshal(rate)
				require.Equal(t, string(b), a["data-rate"], "a rate as encoding/json writes it")
				c.Retained = append(c.Retained, integer(a["data-retained"]))
				c.Rates = append(c.Rates, rate)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, table)
		}
	}
	walk(doc, "")
	return out
}

func attrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

// elements returns the page's elements that match.
func elements(t testing.TB, page string, match func(n *html.Node) bool) []*html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// text is the text inside n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// byID returns the text of the element with id, and whether there is one.
func byID(t testing.TB, page, id string) (string, bool) {
	t.Helper()
	els := elements(t, page, func(n *html.Node) bool { return attrs(n)["id"] == id })
	if len(els) == 0 {
		return "", false
	}
	return text(els[0]), true
}
