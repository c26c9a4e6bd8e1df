// Command keys makes new API keys; scripts/keys runs it. See package
// keyadmin.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/keyadmin"
)

func main() {
	os.Exit(keyadmin.Main(os.Args[1:], os.Stdout, os.Stderr))
}
