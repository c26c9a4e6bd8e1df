package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// launcherEnv is read by the image's entrypoint (deploy/launch), not by a
// function: it names variables to set from secret files.
const launcherEnv = "ENV_FROM_FILES"

// Repo is the repository the deployment files belong to.
type Repo struct {
	// Root is the repository's top directory.
	Root string
}

// Path returns the path of rel (slash-separated) inside the repository.
func (r Repo) Path(rel string) string { return filepath.Join(r.Root, filepath.FromSlash(rel)) }

// Functions lists the function names: the directories under functions/,
// sorted. Each is a deployable unit in all three platforms.
func (r Repo) Functions() ([]string, error) {
	entries, err := os.ReadDir(r.Path("functions"))
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, errors.New("list functions: functions/ has no directories")
	}
	slices.Sort(names)
	return names, nil
}

var (
	envconfigTag = regexp.MustCompile(`envconfig:"([A-Z][A-Z0-9_]*)"`)
	readmeEnvRow = regexp.MustCompile("(?m)^\\|\\s*`([A-Z][A-Z0-9_]*)`\\s*\\|")
)

// EnvNames returns every environment variable name a deployment file may
// set: the envconfig tags of the Go code outside tests, the variables of
// the README's configuration table and the launcher's. A
// name outside this set is a typo that a function would silently ignore.
func (r Repo) EnvNames() (map[string]bool, error) {
	names := map[string]bool{launcherEnv: true}
	for _, dir := range []string{"shared", "functions", "cmd"} {
		err := filepath.WalkDir(r.Path(dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envconfigTag.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan %s for envconfig tags: %w", dir, err)
		}
	}
	readme, err := os.ReadFile(r.Path("README.md"))
	if err != nil {
		return nil, fmt.Errorf("read README: %w", err)
	}
	for _, m := range readmeEnvRow.FindAllSubmatch(readme, -1) {
		names[string(m[1])] = true
	}
	return names, nil
}

// SameFunctions reports how got (the functions a deployment file defines)
// differs from want (functions/): one error naming what is missing and
// what is extra, or nil.
func SameFunctions(what string, want, got []string) error {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	var diff []string
	if len(missing) > 0 {
		diff = append(diff, fmt.Sprintf("missing %v", missing))
	}
	if len(extra) > 0 {
		diff = append(diff, fmt.Sprintf("not in functions/ %v", extra))
	}
	if len(diff) == 0 {
		return nil
	}
	return fmt.Errorf("%s: functions differ from functions/: %s", what, strings.Join(diff, ", "))
}

// unknownEnv returns an error per name of env that is not in known.
func unknownEnv(where string, env []string, known map[string]bool) []error {
	var errs []error
	for _, name := range env {
		if !known[name] {
			errs = append(errs, fmt.Errorf("%s: environment variable %s is read by no function (typo?)", where, name))
		}
	}
	return errs
}
