package dashboard

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
)

// serveSignIn answers GET /: the sign-in form, with a fresh sign-in
// cookie that its CSRF token is bound to.
func (d *Dashboard) serveSignIn(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Sign in", View: "signin"}
	if err := d.prepare(r.Context()); err != nil {
		d.failed(w, r, p, err)
		return
	}
	if s, ok, _ := d.sessionOf(r); ok {
		p.Project = s.project
	}
	d.signInForm(w, r, http.StatusOK, p)
}

// signInForm renders the sign-in page with status and a new CSRF token.
func (d *Dashboard) signInForm(w http.ResponseWriter, r *http.Request, status int, p *page) {
	v := newSignInValue()
	d.setCookie(w, r, signinCookie, v, 0)
	p.CSRF = d.sessions.csrfToken(purposeSignIn, []byte(v))
	p.View, p.Title = "signin", "Sign in"
	d.render(w, r, status, p)
}

// signIn answers POST / (contract §9): a read key gets a session cookie and
// 303 to overview; a missing or unknown key the form again with 401, a
// write key with 403. The key is never echoed, logged or put in a URL.
func (d *Dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	p := &page{}
	ctx := r.Context()
	if err := d.prepare(ctx); err != nil {
		d.failed(w, r, p, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		p.Message = "The form could not be read; try again."
		d.signInForm(w, r, http.StatusBadRequest, p)
		return
	}
	var bound []byte
	if c, err := r.Cookie(signinCookie); err == nil {
		bound = []byte(c.Value)
	}
	if !d.csrfOK(r, purposeSignIn, bound) {
		p.Message = "This form has expired or came from another site: sign in again from this page."
		d.signInForm(w, r, http.StatusForbidden, p)
		return
	}
	token, who, err := d.sessions.create(ctx, r.PostForm.Get("key"))
	switch {
	case err == nil:
	case event.ErrorCode(err) == event.CodeUnauthorized:
		p.Message = "Unknown key: sign in with a read key of your project."
		if strings.TrimSpace(r.PostForm.Get("key")) == "" {
			p.Message = "Enter a read key."
		}
		d.signInForm(w, r, http.StatusUnauthorized, p)
		return
	case event.ErrorCode(err) == event.CodeForbidden:
		p.Message = "This key cannot read: it is a write key. Sign in with a read key of the project."
		d.signInForm(w, r, http.StatusForbidden, p)
		return
	default:
		d.failed(w, r, p, err)
		return
	}
	d.setCookie(w, r, sessionCookie, token, int(d.cfg.SessionTTL.Seconds()))
	d.setCookie(w, r, signinCookie, "", -1)
	d.log.Info("signed in", "project", who.Project, "request_id", requestID(r))
	seeOther(w, basePath(r)+"overview")
}

// signOut answers POST logout: the session ends (its row is deleted, so a
// copy of the cookie no longer works either) and the browser goes back to
// the sign-in page.
func (d *Dashboard) signOut(w http.ResponseWriter, r *http.Request) {
	p := &page{}
	if err := d.prepare(r.Context()); err != nil {
		d.failed(w, r, p, err)
		return
	}
	_ = r.ParseForm()
	s, ok, err := d.sessionOf(r)
	if err != nil {
		d.failed(w, r, p, err)
		return
	}
	if ok {
		if !d.csrfOK(r, purposeSession, s.tokenHash[:]) {
			p.Message = "This sign-out form has expired or came from another site; you are still signed in."
			p.Project = s.project
			d.signInForm(w, r, http.StatusForbidden, p)
			return
		}
		if err := d.sessions.end(r.Context(), s.tokenHash); err != nil {
			d.failed(w, r, p, err)
			return
		}
		d.log.Info("signed out", "project", s.project, "request_id", requestID(r))
	}
	d.setCookie(w, r, sessionCookie, "", -1)
	seeOther(w, signInPath(r))
}

// csrfOK checks a POST's CSRF token. A browser sends Origin or
// Sec-Fetch-Site with every form it posts, and no other site can read the
// token of our form: a request from a browser needs the token, and one
// another site made (Sec-Fetch-Site: cross-site) is refused even with one.
// A client that is no browser (curl, a script) sends neither header and
// cannot be made to post by another site, so it needs no token: a form
// post as the contract describes it works from a script too.
func (d *Dashboard) csrfOK(r *http.Request, purpose string, bound []byte) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "cross-site" {
		return false
	}
	if site == "" && r.Header.Get("Origin") == "" {
		return true
	}
	return d.sessions.checkCSRF(purpose, bound, r.PostForm.Get("csrf"))
}

// sessionOf returns the request's live session, if any.
func (d *Dashboard) sessionOf(r *http.Request) (session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false, nil
	}
	return d.sessions.lookup(r.Context(), c.Value)
}

// setCookie sets (maxAge > 0: for that long; 0: for the browser's
// session) or removes (maxAge < 0) a cookie of the dashboard: HttpOnly,
// SameSite=Strict, Secure behind HTTPS, and scoped to the function's path
// when known (the browser's default, the page's directory, otherwise).
func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	c := &http.Cookie{
		Name: name, Value: value, MaxAge: maxAge, Path: basePath(r),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	}
	http.SetCookie(w, c)
}

// isHTTPS reports whether the browser reached us over HTTPS: directly, or
// through a proxy that says so in X-Forwarded-Proto.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

var safePrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+/?$`)

// basePath is the path the browser sees the function's root at, ending in
// "/", when a proxy says where it mounted us (X-Forwarded-Prefix, set by
// the local gateway and the compose gateway: /function/dashboard); ""
// otherwise, and links stay relative to the page (OpenFaaS keeps the
// /function/dashboard/ prefix in the browser's URL; Knative serves at /).
func basePath(r *http.Request) string {
	p := r.Header.Get("X-Forwarded-Prefix")
	if !safePrefix.MatchString(p) {
		return ""
	}
	return strings.TrimSuffix(p, "/") + "/"
}

// signInPath is where the sign-in page is, for a redirect.
func signInPath(r *http.Request) string {
	if b := basePath(r); b != "" {
		return b
	}
	return "./"
}

func requestID(r *http.Request) string { return serve.RequestID(r.Context()) }

// seeOther answers 303 to loc as given: a relative loc is resolved by the
// browser against the URL it sees, which behind a gateway is not the path
// this function sees (http.Redirect would resolve it against the latter).
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}
