package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/kelseyhightower/envconfig"

	"github.com/eventfn/eventfn/shared/archive"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/consume"
	"github.com/eventfn/eventfn/shared/dashboard"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
)

// functionSpec is the code a function's binary runs: functions/<name>/main.go
// is serve.Main(<Pkg>.<Var>).
type functionSpec struct {
	Pkg  string // import path of the package that declares the spec
	Var  string // the spec variable
	Spec serve.Spec
}

// functionSpecs are the functions' own specs, by function name. A function
// of functions/ missing here is reported by every check (and by
// TestFunctionSpecsMatchMains), so the table cannot silently fall behind.
var functionSpecs = map[string]functionSpec{
	"ingest":          {"github.com/eventfn/eventfn/shared/ingest", "Spec", ingest.Spec},
	"consume-batch":   {"github.com/eventfn/eventfn/shared/consume", "Spec", consume.Spec},
	"stats-dau":       {"github.com/eventfn/eventfn/shared/stats", "DAUSpec", stats.DAUSpec},
	"stats-top":       {"github.com/eventfn/eventfn/shared/stats", "TopSpec", stats.TopSpec},
	"stats-retention": {"github.com/eventfn/eventfn/shared/stats", "RetentionSpec", stats.RetentionSpec},
	"archive":         {"github.com/eventfn/eventfn/shared/archive", "Spec", archive.Spec},
	"dashboard":       {"github.com/eventfn/eventfn/shared/dashboard", "Spec", dashboard.Spec},
}

// libraryEnv lists variables read by a library rather than by a function's
// config struct, keyed by the config variable that brings the library in:
// archive's S3 storage takes its credentials from the AWS default chain
// (these variables, else the pod's IAM role / IRSA).
var libraryEnv = map[string][]string{
	"ARCHIVE_URL": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
}

// placeholders stand for secrets, which no deployment file holds: each is a
// value of the shape the real secret has, so that the function's config
// code can check everything else.
var placeholders = map[string]string{
	"DATABASE_URL":          "postgres://eventfn:placeholder@postgres.invalid:5432/eventfn?sslmode=require",
	"API_KEYS":              "wk_placeholder=placeholder:write,rk_placeholder=placeholder:read",
	"ADMIN_KEY":             "placeholder-admin-key",
	"AWS_ACCESS_KEY_ID":     "PLACEHOLDERKEYID",
	"AWS_SECRET_ACCESS_KEY": "placeholder-secret-access-key",
	"AWS_SESSION_TOKEN":     "placeholder-session-token",
}

// Placeholder returns the value a secret named name stands for in the checks.
func Placeholder(name string) string {
	if v, ok := placeholders[name]; ok {
		return v
	}
	return "placeholder"
}

// FunctionEnv is the environment a platform gives one function: the value of
// each variable and where it was set (for messages).
type FunctionEnv struct {
	Values map[string]string
	Origin map[string]string
}

// NewFunctionEnv returns an empty environment.
func NewFunctionEnv() *FunctionEnv {
	return &FunctionEnv{Values: map[string]string{}, Origin: map[string]string{}}
}

// Set sets name to value, replacing an earlier value (as the platforms do:
// a function's own variables win over shared files).
func (e *FunctionEnv) Set(name, value, origin string) {
	e.Values[name] = value
	e.Origin[name] = origin
}

// applyLauncher does what the image's entrypoint (deploy/launch) does with
// ENV_FROM_FILES: each NAME=PATH sets NAME from a secret file, here a
// placeholder. It returns the entries' paths, for the caller to check the
// files are mounted, and an error per malformed entry.
func (e *FunctionEnv) applyLauncher() ([]string, []error) {
	spec, ok := e.Values[launcherEnv]
	if !ok || strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var (
		paths []string
		errs  []error
	)
	for _, entry := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || !envVarName.MatchString(name) || path == "" || name == launcherEnv {
			errs = append(errs, fmt.Errorf("%s entry %q is not NAME=PATH", launcherEnv, entry))
			continue
		}
		e.Set(name, Placeholder(name), "secret file "+path+" ("+launcherEnv+")")
		paths = append(paths, path)
	}
	return paths, errs
}

var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// configType returns the config struct a function's spec loads.
func configType(s serve.Spec) (reflect.Type, error) {
	t := reflect.TypeOf(s.Config())
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("spec %s: Config() returns %v, not a pointer to a config struct", s.Name(), t)
	}
	return t.Elem(), nil
}

// configKeys returns the variables envconfig reads for config type c, as
// envconfig itself computes them.
func configKeys(c reflect.Type) ([]string, error) {
	var buf bytes.Buffer
	if err := envconfig.Usagef("", reflect.New(c).Interface(), &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		return nil, err
	}
	return strings.Fields(buf.String()), nil
}

func lookupSpec(fn string) (serve.Spec, error) {
	s, ok := functionSpecs[fn]
	if !ok {
		return nil, fmt.Errorf("function %s: deploy/validate does not know its config code (add it to functionSpecs)", fn)
	}
	return s.Spec, nil
}

// ReadEnv returns the variables function fn reads: those of its config
// struct, those of the libraries the config brings in (libraryEnv), and the
// launcher's ENV_FROM_FILES.
func ReadEnv(fn string) (map[string]bool, error) {
	s, err := lookupSpec(fn)
	if err != nil {
		return nil, err
	}
	c, err := configType(s)
	if err != nil {
		return nil, err
	}
	keys, err := configKeys(c)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", fn, err)
	}
	read := map[string]bool{launcherEnv: true}
	for _, k := range keys {
		read[k] = true
		for _, lib := range libraryEnv[k] {
			read[lib] = true
		}
	}
	return read, nil
}

// envMu serialises LoadConfig: envconfig reads the process environment.
var envMu sync.Mutex

// errConfigLoaded stops serve.Spec.Build once the config has loaded and
// validated, before anything connects to a service.
var errConfigLoaded = errors.New("config loaded")

// LoadConfig loads and validates function fn's config from env with the
// function's own code: serve.Spec.Build runs config.Load (envconfig, then
// the config's Validate) and then asks for its dependencies, where this
// stops it, before it builds the function or dials anything.
//
// Only the variables fn reads are set (from env) or unset (absent from env)
// in the process environment, for the duration of the call and under a
// lock; nothing else of the environment is touched.
func LoadConfig(fn string, env map[string]string) error {
	s, err := lookupSpec(fn)
	if err != nil {
		return err
	}
	read, err := ReadEnv(fn)
	if err != nil {
		return err
	}
	delete(read, launcherEnv)

	envMu.Lock()
	defer envMu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(read)) {
		old, had := os.LookupEnv(k)
		if v, ok := env[k]; ok {
			os.Setenv(k, v)
		} else {
			os.Unsetenv(k)
		}
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // should Build ever dial before asking for its dependencies, it fails at once
	_, _, err = s.Build(ctx, func(config.Server) (serve.Deps, error) { return serve.Deps{}, errConfigLoaded })
	if errors.Is(err, errConfigLoaded) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("function %s: Build did not ask for its dependencies; cannot check its config alone", fn)
	}
	return err
}

// CheckFunctionEnv checks the environment env that a platform gives function
// fn (where names the deployment object): every variable is one fn reads,
// and fn's own config code loads and validates it.
func CheckFunctionEnv(where, fn string, env *FunctionEnv) []error {
	read, err := ReadEnv(fn)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(env.Values)) {
		if !read[name] {
			errs = append(errs, fmt.Errorf("%s: environment variable %s (from %s) is not read by %s", where, name, env.Origin[name], fn))
		}
	}
	if err := LoadConfig(fn, env.Values); err != nil {
		errs = append(errs, fmt.Errorf("%s: %s would not start with this environment: %w", where, fn, err))
	}
	return errs
}
