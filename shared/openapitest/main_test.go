package openapitest_test

import (
	"testing"

	"github.com/eventfn/eventfn/shared/testenv"
)

// TestMain clears eventfn's variables: the tests see the defaults whatever
// the caller's shell exports.
func TestMain(m *testing.M) { testenv.Main(m) }
