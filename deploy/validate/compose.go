package validate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// CheckCompose loads a compose file with compose-go (the library of the
// docker compose CLI: schema validation, interpolation, consistency checks
// such as depends_on naming a service that does not exist), with an empty
// environment so that the file's own defaults are what is checked. It
// then checks the function services — those built from the Dockerfile with
// build argument FUNCTION: the argument equals the service name, the image
// is named after it, every variable set is read by that function and the
// function's own config code loads and validates them; and that every
// service has a healthcheck (but the scheduler, which nothing waits on, and
// one-shot jobs that others wait to complete) and every bind-mounted file
// exists.
// It returns the project and every problem, joined.
func CheckCompose(r Repo, file string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithName("eventfn"),
		cli.WithWorkingDirectory(r.Root),
		cli.WithEnv(nil),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: compose-go: %w", file, err)
	}
	oneShot := map[string]bool{}
	for _, s := range project.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[dep] = true
			}
		}
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{file}, args...)...))
	}
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		s := project.Services[name]
		// Docker would create a missing bind source as an empty directory.
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					fail("service %s mounts %s, which does not exist", name, v.Source)
				}
			}
		}
		if s.HealthCheck == nil && name != "scheduler" && !oneShot[name] {
			fail("service %s has no healthcheck", name)
		}
		fn, ok := functionService(s)
		if !ok {
			continue
		}
		if fn != name {
			fail("service %s builds function %q (build.args.FUNCTION)", name, fn)
		}
		if err := checkImage(s.Image, name); err != nil {
			fail("service %s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, "Dockerfile")); err != nil {
			fail("service %s: build context has no Dockerfile: %v", name, err)
		}
		env := NewFunctionEnv()
		for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
			if v := s.Environment[k]; v != nil { // nil: passed through from an empty shell
				env.Set(k, *v, "environment")
			}
		}
		_, launchErrs := env.applyLauncher()
		for _, e := range launchErrs {
			fail("service %s: %v", name, e)
		}
		for _, e := range CheckFunctionEnv("service "+name, fn, env) {
			errs = append(errs, fmt.Errorf("%s: %w", file, e))
		}
	}
	return project, errors.Join(errs...)
}

// ComposeFunctions returns the names of the project's function services.
func ComposeFunctions(p *types.Project) []string {
	var names []string
	for name, s := range p.Services {
		if _, ok := functionService(s); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// functionService returns the function a service builds, if it does.
func functionService(s types.ServiceConfig) (string, bool) {
	if s.Build == nil {
		return "", false
	}
	fn, ok := s.Build.Args["FUNCTION"]
	if !ok || fn == nil {
		return "", false
	}
	return *fn, true
}

var gatewayRoute = regexp.MustCompile(`location ~ \^/function/\(([a-z0-9|-]+)\)\(/\.\*\)\?\$`)

// GatewayFunctions returns the functions the compose gateway's nginx
// configuration routes /function/<name>/ to.
func GatewayFunctions(conf string) ([]string, error) {
	data, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	m := gatewayRoute.FindAllSubmatch(data, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("%s: want one /function/(a|b|...) route, found %d", conf, len(m))
	}
	names := regexp.MustCompile(`\|`).Split(string(m[0][1]), -1)
	slices.Sort(names)
	return names, nil
}
