package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// keyBytes is the randomness of a new key: 256 bits.
const keyBytes = 32

// NewKey returns an entry with a new random key for project and role: wk_
// or rk_ (for the role, so a key in a log or a ticket says what it can
// do) and 43 URL-safe base64 characters, which hold none of the entry
// separators. It fails on a project or role that ParseEntries would refuse.
func NewKey(project string, role Role) (Entry, error) {
	if !ValidProject(project) {
		return Entry{}, fmt.Errorf("project %s must match %s", shown(project), projectName)
	}
	prefix := map[Role]string{RoleWrite: "wk_", RoleRead: "rk_"}[role]
	if prefix == "" {
		return Entry{}, fmt.Errorf("role %s is not write or read", shown(string(role)))
	}
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return Entry{}, fmt.Errorf("random key: %w", err)
	}
	return Entry{Key: prefix + base64.RawURLEncoding.EncodeToString(b), Project: project, Role: role}, nil
}

// String is the entry as API_KEYS and API_KEYS_FILE hold it: KEY=PROJECT:ROLE.
func (e Entry) String() string { return e.Key + "=" + e.Project + ":" + string(e.Role) }
