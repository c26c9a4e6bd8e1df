// Package validate proves the deployment files with their own platforms'
// parsers and validators, since no OpenFaaS, Knative or Docker engine runs
// where the tests do: stack.yml with OpenFaaS's go-sdk (faas-cli's parser)
// plus a strict decode, knative/ with Knative's own SetDefaults and
// Validate, docker-compose.yml with compose-go, and the compose gateway's
// routes. Each check returns every problem it finds, and each is fed a
// broken copy in its tests to show it catches the mistake.
//
// It is a separate, test-only module so that the Kubernetes and Knative
// dependencies stay out of the top-level go.mod. It does not import the
// top-level module: it reads the repository's files through paths relative
// to this directory (../..).
package validate
