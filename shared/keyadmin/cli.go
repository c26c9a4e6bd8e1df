// Package keyadmin is the command behind scripts/keys: it makes new API
// keys and prints the entry to add to API_KEYS_FILE, which the running
// functions take within a second (contract §3).
package keyadmin

import (
	"fmt"
	"io"

	"github.com/eventfn/eventfn/shared/auth"
)

const usage = `usage: scripts/keys new PROJECT read|write
  Prints a new random key on the first line and, on the second, the
  KEY=PROJECT:ROLE entry to add to API_KEYS_FILE (one entry a line; the
  functions take a changed file within a second, no restart) or to
  API_KEYS (comma-separated; read at start). Revoke a key by removing its
  entry from the file.
`

// Main runs the tool with args (without the program name) and returns the
// exit code: 0 done, 1 failed, 2 bad usage. stdout gets the key and the
// entry only, so `scripts/keys new shop write | tail -n 1 >> keys` works.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 || args[0] != "new" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	e, err := auth.NewKey(args[1], auth.Role(args[2]))
	if err != nil {
		fmt.Fprintf(stderr, "keys: %v\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(stdout, "%s\n%s\n", e.Key, e)
	fmt.Fprintf(stderr, "keys: a new %s key for project %s. Clients send it as Authorization: Bearer KEY.\n"+
		"keys: add the second line to API_KEYS_FILE (taken within a second) or to API_KEYS (comma-separated, read at start).\n",
		e.Role, e.Project)
	return 0
}
