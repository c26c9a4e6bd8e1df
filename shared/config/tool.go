package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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

// Confirmed reads the operator's answer to a tool's question from stdin: a
// line of y or yes (any case) goes on; anything else, or no answer at all
// (stdin closed, not a terminal), does not.
func Confirmed(stdin io.Reader) bool {
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
