// Package auth maps bearer API keys to a project and a role (contract §3).
// A key acts on its own project only; errors never say whether another
// project exists.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
)

// Role is what a key may do.
type Role string

// Roles of the contract.
const (
	RoleWrite Role = "write"
	RoleRead  Role = "read"
)

// DefaultProject is the project every request maps to when auth is disabled.
const DefaultProject = "default"

// projectName keeps project names safe as a NATS subject token, a Redis key
// part and a path segment of the archive layout.
var projectName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidProject reports whether name can be a project name.
func ValidProject(name string) bool { return projectName.MatchString(name) }

// Principal is who a request acts as.
type Principal struct {
	Project string
	Role    Role
}

// Keys authenticates requests. The zero value rejects everything.
//
// The keys of API_KEYS_FILE can change while the function runs (a
// Kubernetes or OpenFaaS secret updated in place): Watch re-reads the file,
// and Authorize always uses the last valid set.
type Keys struct {
	set      atomic.Pointer[keySet]
	disabled bool
	// env is API_KEYS, part of every set; file is API_KEYS_FILE.
	env, file string

	mu sync.Mutex // serialises Reload
	// sum is the hash of the file content the current set holds.
	sum [32]byte
}

// keySet maps the SHA-256 of each key to what it may do.
type keySet map[[32]byte]Principal

// New builds Keys from the Auth config: API_KEYS and API_KEYS_FILE together.
// It fails, naming the variable, on a malformed entry.
func New(cfg config.Auth) (*Keys, error) {
	k := &Keys{disabled: cfg.AuthDisabled, env: cfg.APIKeys, file: cfg.APIKeysFile}
	content, err := k.readFile()
	if err != nil {
		return nil, err
	}
	set, err := k.build(content)
	if err != nil {
		return nil, err
	}
	k.set.Store(&set)
	k.sum = sha256.Sum256(content)
	return k, nil
}

// Disabled reports whether AUTH_DISABLED is on.
func (k *Keys) Disabled() bool { return k.disabled }

// Len is the number of keys configured.
func (k *Keys) Len() int { return len(k.current()) }

func (k *Keys) current() keySet {
	if s := k.set.Load(); s != nil {
		return *s
	}
	return nil
}

// readFile returns API_KEYS_FILE's content, nothing when none is set.
func (k *Keys) readFile() ([]byte, error) {
	if k.file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(k.file)
	if err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
	}
	return b, nil
}

// build makes the set of API_KEYS and the file content given.
func (k *Keys) build(fileContent []byte) (keySet, error) {
	set := keySet{}
	if err := set.add("API_KEYS", k.env); err != nil {
		return nil, err
	}
	if err := set.add("API_KEYS_FILE", string(fileContent)); err != nil {
		return nil, err
	}
	return set, nil
}

func (s keySet) add(source, entries string) error {
	parsed, err := ParseEntries(source, entries)
	if err != nil {
		return err
	}
	for _, e := range parsed {
		h, p := sha256.Sum256([]byte(e.Key)), Principal{Project: e.Project, Role: e.Role}
		// One key with two meanings would silently take the last one.
		if old, ok := s[h]; ok && old != p {
			return fmt.Errorf("%s: a key is listed twice with different projects or roles (%s:%s and %s:%s)", source, old.Project, old.Role, p.Project, p.Role)
		}
		s[h] = p
	}
	return nil
}

// Entry is one KEY=PROJECT:ROLE entry.
type Entry struct {
	Key     string
	Project string
	Role    Role
}

// ParseEntries reads comma- or newline-separated KEY=PROJECT:ROLE entries;
// blank lines and lines starting with # are skipped. Errors name source
// and never show a key.
func ParseEntries(source, entries string) ([]Entry, error) {
	var out []Entry
	for _, e := range strings.FieldsFunc(entries, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		key, rest, ok := strings.Cut(e, "=")
		project, role, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || key == "" {
			return nil, fmt.Errorf("%s: entry %q is not KEY=PROJECT:ROLE", source, redact(e))
		}
		if !ValidProject(project) {
			return nil, fmt.Errorf("%s: project %s must match %s", source, shown(project), projectName)
		}
		r := Role(role)
		if r != RoleWrite && r != RoleRead {
			return nil, fmt.Errorf("%s: role %s is not write or read", source, shown(role))
		}
		out = append(out, Entry{Key: key, Project: project, Role: r})
	}
	return out, nil
}

// redact keeps a key out of error messages and logs: of an entry, only
// a PROJECT:ROLE part that cannot be holding a key is shown.
func redact(entry string) string {
	if _, rest, ok := strings.Cut(entry, "="); ok && strings.Contains(rest, ":") && shown(rest) != "***" {
		return "***=" + rest
	}
	return "***"
}

// shown quotes s for an error message, or gives *** when s could hold a
// key: entries with a wrong separator ("k1=p:read;k2=p:read") or in the
// wrong order ("p:read=k1") put keys where a project or role belongs.
func shown(s string) string {
	if len(s) > 64 || strings.ContainsAny(s, "=;| \t") {
		return "***"
	}
	return strconv.Quote(s)
}

// Authorize checks the request's bearer key for the role. It returns an
// *event.Error with CodeUnauthorized (missing or unknown key) or
// CodeForbidden (wrong role).
func (k *Keys) Authorize(h http.Header, need Role) (Principal, error) {
	if k.disabled {
		return Principal{Project: DefaultProject, Role: need}, nil
	}
	token, ok := BearerToken(h)
	if !ok {
		return Principal{}, event.Errorf(event.CodeUnauthorized, "missing API key: send Authorization: Bearer KEY")
	}
	return k.AuthorizeSum(sha256.Sum256([]byte(token)), need)
}

// AuthorizeSum is Authorize for a key known by its SHA-256 sum, with the
// same errors: a dashboard session keeps the sum of the key it was made
// with, never the key, and is authorized again on every request.
func (k *Keys) AuthorizeSum(sum [32]byte, need Role) (Principal, error) {
	if k.disabled {
		return Principal{Project: DefaultProject, Role: need}, nil
	}
	p, found := k.current()[sum]
	if !found {
		return Principal{}, event.Errorf(event.CodeUnauthorized, "unknown API key")
	}
	if p.Role != need {
		return Principal{}, event.Errorf(event.CodeForbidden, "this key has role %q; this function needs a %q key", p.Role, need)
	}
	return p, nil
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// CheckAdmin enforces ADMIN_KEY on an internal function: when adminKey is
// empty the platform alone protects it and every request passes.
func CheckAdmin(h http.Header, adminKey string) error {
	if adminKey == "" {
		return nil
	}
	token, ok := BearerToken(h)
	if !ok {
		return event.Errorf(event.CodeUnauthorized, "missing admin key: send Authorization: Bearer ADMIN_KEY")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(adminKey)) != 1 {
		return event.Errorf(event.CodeUnauthorized, "unknown admin key")
	}
	return nil
}
