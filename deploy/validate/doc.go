// Package validate proves the deployment files with their own platforms'
// parsers and validators, since no OpenFaaS, Knative or Docker engine runs
// where the tests do: stack.yml with OpenFaaS's go-sdk (faas-cli's parser)
// plus a strict decode, knative/ with Knative's own SetDefaults and
// Validate, docker-compose.yml with compose-go, and the compose gateway's
// routes. For every function on every platform it also loads the
// environment the function would get (secrets as placeholders) with that
// function's own config code from the top-level module (serve.Spec.Build,
// stopped before it connects to anything), and checks each variable set is
// one that function reads; and it checks label and annotation keys under
// Knative's and OpenFaaS's prefixes against the keys they define. Each check
// returns every problem it finds, and each is fed a broken copy in its tests
// to show it catches the mistake.
//
// It is a separate, test-only module so that the Kubernetes and Knative
// dependencies stay out of the top-level go.mod. It imports the top-level
// module through a replace directive (../..), so it always checks against
// the functions' current code; after the top-level go.mod gains a
// dependency, run `go mod tidy` here too. It reads the repository's files
// through paths relative to this directory (../..).
package validate
