// Package dashboard is the dashboard function (contract §9): HTML pages,
// rendered here, of a project's DAU, top events and retention, for a person
// signed in with a read key. It works offline: no script at all, one small
// stylesheet it serves itself, charts drawn as SVG by this package.
//
// Pages (relative to the function): "" signs in (GET the form, POST the
// key), "logout" (POST) signs out, "overview", "dau", "top" and
// "retention" show the numbers, and "dau.csv", "top.csv" and
// "retention.csv" download them. Each view takes its stats function's
// query parameters (overview those of stats-dau), parsed by the stats
// package's own parser (stats.ParseDAU, ParseTop, ParseRetention) and
// answered by its engine (stats.Reader): the same rules, refusals and
// numbers as the JSON API. The URL holds the whole query.
//
// Sessions are server-side, in PostgreSQL (eventfn_meta.dashboard_sessions): the
// cookie holds a random token, the row its SHA-256 and the SHA-256 of the
// read key, which auth.Keys.AuthorizeSum checks on every request, so
// removing a key ends its sessions and signing out ends a session even for
// a copy of its cookie. Every replica shares them, and a cold start keeps
// them. DASHBOARD_SESSION_TTL bounds a session.
//
// CSRF: every POST form carries a token signed (HMAC-SHA256) with a
// secret the first replica made and stored in the database
// (eventfn_meta.dashboard_secret): bound to the session for sign-out, and for sign-in
// (no session yet) to a random value in a cookie of its own (a signed
// double-submit). Browsers send Origin or Sec-Fetch-Site with every form
// they post; a request with either needs the token, and one marked
// cross-site is refused. A client that sends neither is no browser,
// cannot be driven by another site, and needs none.
package dashboard
