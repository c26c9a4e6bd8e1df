// Command cgomain stands for a function that links C (as DuckDB does): the
// build script must still make a static binary of it.
package main

/*
#include <stdio.h>
static int answer(void) { return 42; }
*/
import "C"

import (
	"fmt"
	"net"
)

func main() {
	_, err := net.LookupPort("tcp", "http") // netgo: no glibc NSS at run time
	fmt.Println(int(C.answer()), err == nil)
}
