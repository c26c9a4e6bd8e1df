package config

import (
	"fmt"
	"io"
)

// LoadTool starts an operator tool (scripts/dlq, scripts/rollups) run with
// args: with no command or a request for help it prints usage, otherwise
// it loads cfg as Load does. When it returns false the tool exits with
// code (2 usage, 1 bad settings), the reason already on stderr, prefixed
// with the tool's name.
func LoadTool(name, usage string, args []string, cfg any, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2, false
	}
	if err := Load(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1, false
	}
	return 0, true
}
