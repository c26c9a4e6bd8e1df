package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfn/eventfn/shared/auth"
)

// Cookies of the dashboard. Both are HttpOnly and SameSite=Strict, and
// Secure when the browser reached us over HTTPS.
const (
	// sessionCookie holds a signed-in browser's random session token.
	sessionCookie = "eventfn_session"
	// signinCookie holds the random value the sign-in form's CSRF token is
	// bound to (a double-submit token signed with the shared secret).
	signinCookie = "eventfn_signin"
)

// CSRF token purposes: a token made for one form is refused by another.
const (
	purposeSignIn  = "sign-in"
	purposeSession = "session"
)

// sessions keeps sign-ins in PostgreSQL (table eventfn_meta.dashboard_sessions), so
// every replica knows them, a cold start keeps them and signing out ends
// them. The browser holds only a random token; the row holds its SHA-256
// and the SHA-256 of the read key, and every request is authorized again
// by that key through shared/auth, so a key removed from API_KEYS ends its
// sessions at once.
type sessions struct {
	pool *pgxpool.Pool
	keys *auth.Keys
	ttl  time.Duration
	// secret signs CSRF tokens; shared by every replica through the
	// database (table eventfn_meta.dashboard_secret), loaded by load.
	secret []byte
}

// session is a signed-in browser.
type session struct {
	tokenHash [32]byte
	project   string
}

// load reads the shared secret, making it when this is the first replica
// ever to start.
func (s *sessions) load(ctx context.Context) error {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO eventfn_meta.dashboard_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING`, fresh); err != nil {
		return fmt.Errorf("dashboard secret: %w", err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM eventfn_meta.dashboard_secret`).Scan(&s.secret); err != nil {
		return fmt.Errorf("dashboard secret: %w", err)
	}
	return nil
}

// create signs key in. It authorizes the key for the read role exactly as
// the stats functions do (their errors: CodeUnauthorized, CodeForbidden)
// and returns the token for the session cookie.
func (s *sessions) create(ctx context.Context, key string) (string, auth.Principal, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+key)
	p, err := s.keys.Authorize(h, auth.RoleRead)
	if err != nil {
		return "", p, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", p, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	th := sha256.Sum256([]byte(token))
	// The sum of the key as Authorize compared it (BearerToken trims).
	kh := sha256.Sum256([]byte(strings.TrimSpace(key)))
	// Expired rows go as new ones come, so the table holds live sessions.
	if _, err := s.pool.Exec(ctx, `DELETE FROM eventfn_meta.dashboard_sessions WHERE expires_at < now()`); err != nil {
		return "", p, fmt.Errorf("sessions: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO eventfn_meta.dashboard_sessions (token_hash, project, key_hash, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, th[:], p.Project, kh[:], s.ttl.Seconds())
	if err != nil {
		return "", p, fmt.Errorf("sessions: %w", err)
	}
	return token, p, nil
}

// lookup returns the session of token, if it is live and its key still
// authorizes a read of the same project.
func (s *sessions) lookup(ctx context.Context, token string) (session, bool, error) {
	if token == "" || len(token) > 64 {
		return session{}, false, nil
	}
	th := sha256.Sum256([]byte(token))
	var project string
	var kh []byte
	err := s.pool.QueryRow(ctx, `SELECT project, key_hash FROM eventfn_meta.dashboard_sessions
		WHERE token_hash = $1 AND expires_at > now()`, th[:]).Scan(&project, &kh)
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, false, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("sessions: %w", err)
	}
	var sum [32]byte
	copy(sum[:], kh)
	p, err := s.keys.AuthorizeSum(sum, auth.RoleRead)
	if err != nil || p.Project != project {
		// The key is gone or now means something else: so is the session.
		return session{}, false, s.end(ctx, th)
	}
	return session{tokenHash: th, project: project}, true, nil
}

// end deletes a session.
func (s *sessions) end(ctx context.Context, th [32]byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM eventfn_meta.dashboard_sessions WHERE token_hash = $1`, th[:]); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}

// csrfToken returns the token of a form made for purpose and bound to
// bound (the sign-in cookie's value, or a session's token hash).
func (s *sessions) csrfToken(purpose string, bound []byte) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(bound)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether got is the token of purpose and bound.
func (s *sessions) checkCSRF(purpose string, bound []byte, got string) bool {
	return len(s.secret) > 0 && len(bound) > 0 && hmac.Equal([]byte(got), []byte(s.csrfToken(purpose, bound)))
}

// newSignInValue returns a fresh value for the sign-in cookie.
func newSignInValue() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
