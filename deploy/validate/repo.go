package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
