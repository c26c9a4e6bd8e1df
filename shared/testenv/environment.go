package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// modulePath is the module whose sources declare eventfn's settings.
const modulePath = "github.com/eventfn/eventfn"

// envName is what an envconfig tag holding a variable's name looks like.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

var variables = sync.OnceValues(readVariables)

// Variables returns every environment variable eventfn's code reads through
// envconfig: the name in each `envconfig:"NAME"` struct tag of the module's
// Go sources (the functions' configs, the gateway's, the operator tools').
// It is read from the sources rather than kept as a list, so a setting added
// to any config is cleared by ClearEnv without anyone remembering to.
// EVENTFN_TEST_* variables, which name the services tests use, are not
// among them.
func Variables() ([]string, error) { return variables() }

// ClearEnv unsets every eventfn variable (Variables) in this process, so
// that tests see the defaults whatever the caller's shell exports (an
// operator who exported NATS_SUBJECT for scripts/dlq, say). Tests that
// need a setting set it themselves with t.Setenv. Call it from TestMain,
// before m.Run, or use Main.
func ClearEnv() error {
	names, err := Variables()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Unsetenv(n); err != nil {
			return fmt.Errorf("testenv: unset %s: %w", n, err)
		}
	}
	return nil
}

// Main is a package's TestMain: it clears eventfn's variables (ClearEnv),
// then runs the tests. Every test package of the module uses it (or calls
// ClearEnv from a TestMain of its own); TestEveryTestPackageClearsTheEnvironment
// holds them to it.
func Main(m *testing.M) {
	if err := ClearEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ModuleRoot returns the directory of eventfn's go.mod, found from the
// working directory upwards (go test runs a package's tests in its
// directory, nested modules such as deploy/validate included).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := moduleOf(filepath.Join(dir, "go.mod")); err == nil && mod == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testenv: no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// moduleOf returns the module path a go.mod declares.
func moduleOf(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			rest = strings.TrimSpace(rest)
			if unquoted, err := strconv.Unquote(rest); err == nil {
				return unquoted, nil
			}
			return rest, nil
		}
	}
	return "", errors.New("no module line")
}

// ModuleDirs calls fn for every directory of the module's own packages:
// not nested modules (deploy/validate), testdata, or hidden directories.
func ModuleDirs(root string, fn func(dir string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path != root {
			name := d.Name()
			if strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		return fn(path)
	})
}

func readVariables() ([]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	err = ModuleDirs(root, func(dir string) error {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return err
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("testenv: %w", err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				field, ok := n.(*ast.Field)
				if !ok || field.Tag == nil {
					return true
				}
				tag, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					return true
				}
				if name := reflect.StructTag(tag).Get("envconfig"); envName.MatchString(name) {
					seen[name] = true
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("testenv: no envconfig tags found under %s", root)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}
