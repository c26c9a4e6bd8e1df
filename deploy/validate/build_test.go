package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cgoMain is a main module that links C, built to prove the script's cgo path.
const cgoMain = "deploy/validate/testdata/cgomain"

// makeBuildTarget is the build target proposed for the Makefile; the test
// below proves it passes CheckMakefile.
const makeBuildTarget = `
## build: one static binary per function in bin/, built as the image builds it (scripts/build-function)
build:
	@for f in $(patsubst functions/%/,%,$(dir $(wildcard functions/*/main.go))); do \
	  scripts/build-function $$f bin/$$f || exit 1; done
`

func TestDockerfileBuildsThroughScript(t *testing.T) {
	t.Parallel()
	r := repo(t)
	data, err := os.ReadFile(r.Path("Dockerfile"))
	require.NoError(t, err)
	require.NoError(t, CheckDockerfile(data))

	cases := []struct{ name, old, new, wantErr string }{
		{"go build in the image", `scripts/build-function "$FUNCTION" /out/function`, `CGO_ENABLED=0 go build -o /out/function ./functions/$FUNCTION`, "runs the go build itself"},
		{"runs as root", "USER 65532:65532", "USER root", `runs as user "root"`},
		{"copies another binary", "COPY --from=build /out/function /usr/local/bin/function", "COPY --from=build /out/fn /usr/local/bin/function", "builds /out/function but the final stage does not COPY"},
		{"no build argument", "ARG FUNCTION\nRUN", "RUN", "uses $FUNCTION before ARG FUNCTION"},
		{"another port", "EXPOSE 8080", "EXPOSE 80", "does not EXPOSE 8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broken, err := os.ReadFile(brokenCopy(t, r.Path("Dockerfile"), tc.old, tc.new))
			require.NoError(t, err)
			assert.ErrorContains(t, CheckDockerfile(broken), tc.wantErr)
		})
	}
}

func TestMakefileBuildsThroughScript(t *testing.T) {
	t.Parallel()
	r := repo(t)
	data, err := os.ReadFile(r.Path("Makefile"))
	require.NoError(t, err)
	assert.NoError(t, CheckMakefile(data))
	assert.NoError(t, CheckMakefile(append(data, makeBuildTarget...)), "the proposed build target")

	drifted := append(data, "\nbuild:\n\t$(GO) build -o bin/ingest ./functions/ingest\n"...)
	assert.ErrorContains(t, CheckMakefile(drifted), "runs go build itself")
	// make run builds its local gateway (no image holds it) with go build;
	// a function smuggled in beside it is still caught.
	assert.Contains(t, string(data), "\t$(GO) build -o .run/gateway ./cmd/gateway\n")
	smuggled := append(data, "\nrun2:\n\t$(GO) build -o .run/x ./cmd/gateway ./functions/ingest\n"...)
	assert.ErrorContains(t, CheckMakefile(smuggled), "Makefile line")
	viaCmd := append(data, "\nrun3:\n\tgo install ./cmd/gateway\n"...)
	assert.ErrorContains(t, CheckMakefile(viaCmd), "runs go build itself")
	noScript := append(data, "\nbuild:\n\t@echo nothing\n"...)
	assert.ErrorContains(t, CheckMakefile(noScript), "target build does not run scripts/build-function")
}

// TestBuildScriptMakesStaticBinaries runs scripts/build-function for every
// function that has a main package, for the image's launcher, and for a
// main that links C (as DuckDB does), and checks each binary is static,
// stripped and path-free: what runs on distroless/static.
func TestBuildScriptMakesStaticBinaries(t *testing.T) {
	t.Parallel()
	r := repo(t)
	names, err := r.Functions()
	require.NoError(t, err)
	out := t.TempDir()
	built := 0
	for _, name := range append(names, "deploy/launch", cgoMain) {
		if !strings.Contains(name, "/") && !hasGoFiles(t, r.Path("functions/"+name)) {
			t.Logf("functions/%s has no Go files yet: not built", name)
			continue
		}
		bin := filepath.Join(out, filepath.Base(name))
		cmd := exec.Command(r.Path(BuildScript), name, bin)
		cmd.Dir = t.TempDir() // the script must not depend on where it is run from
		outb, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, outb)
		assert.NoError(t, CheckStaticBinary(bin, r.Root), name)
		built++
	}
	assert.GreaterOrEqual(t, built, 3, "at least one function, the launcher and the cgo main")
	out2, err := exec.Command(filepath.Join(out, "cgomain")).CombinedOutput()
	require.NoError(t, err, "%s", out2)
	assert.Equal(t, "42 true\n", string(out2), "the static cgo binary runs")

	cmd := exec.Command(r.Path(BuildScript), "no-such-function", filepath.Join(out, "x"))
	outb, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(outb), "unknown function no-such-function: want one of: "+strings.Join(names, " "))
	_, statErr := os.Stat(filepath.Join(out, "x"))
	assert.True(t, os.IsNotExist(statErr))
}

func hasGoFiles(t testing.TB, dir string) bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	return len(m) > 0
}
